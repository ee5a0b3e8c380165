"""The ``escalation-review`` command line, a thin layer over the package's functions.

Every error a user can cause is printed as one sentence saying what to fix, with exit code 2
for a bad file or setting and 1 when nothing usable remains; never a traceback
(``--debug`` shows one, for developers).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import EscalationAnalysisError

logger = logging.getLogger(__name__)

# C0 controls but tab and newline, DEL, C1 controls (with CSI and OSC), and the bidirectional
# overrides that can make a terminal show text in another order than it was written.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """``text`` with control characters shown as escapes (ESC as ``\\x1b``), so a value from an
    export or a file name can never move the cursor, retitle the window or hide a line."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def _say(*parts: object, file=None) -> None:
    """``print``, through :func:`terminal_safe`: everything the command line shows goes here."""
    print(terminal_safe(" ".join(str(p) for p in parts)), file=file or sys.stdout)


class _TerminalSafeFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record))


DESCRIPTION = (
    "Crisis escalation reviews for community mental health services: check an incident export and "
    "account for every row, draft the mapping profile of a new export, and make timeliness summaries "
    "and the near-miss, contract-monitoring, supervision and pathway reports (HTML, PDF, CSV)."
)
"""What ``escalation-review --help`` opens with: what the tool does, for the people who use it."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one plain sentence and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"escalation-review: {message}. Run '{self.prog} --help' for usage.\n")


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date like 2025-04-01") from None


def _sheet(text: str) -> str | int:
    """A sheet named on the command line: a position when it is a whole number, else a name."""
    return int(text) if text.strip().isdigit() else text


DISCLOSURE_HELP = ("external and partner reports: 'nhs-rounded' (the default: 1 to 7 as *, other counts rounded "
                   "to 5) or 'exact-secondary' (exact counts, small groups merged, secondary suppression)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="escalation-review", description=DESCRIPTION)
    parser.add_argument("--debug", action="store_true", help="show tracebacks (for developers)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sample = commands.add_parser("sample", help="write a synthetic export with planted effects")
    sample.add_argument("--rows", type=int, default=5000, help="rows in the export (default 5000)")
    sample.add_argument("--seed", type=int, default=2025, help="random seed (default 2025)")
    sample.add_argument("--out", type=Path, required=True, help="folder to write into")
    sample.add_argument("--no-xlsx", action="store_true", help="skip the Excel copy (faster)")
    sample.add_argument("--no-logs", action="store_true", help="skip step, action and training logs")

    validate = commands.add_parser("validate", help="check an export and account for every row")
    validate.add_argument("export", type=Path, help="CSV or XLSX export")
    validate.add_argument("--mapping", type=Path, required=True, help="mapping profile (YAML)")
    validate.add_argument("--json", type=Path, help="also write the data-quality object as JSON")

    profile = commands.add_parser("profile", help="draft a mapping profile for an export nobody has mapped yet")
    profile.add_argument("export", type=Path, help="CSV or XLSX export")
    profile.add_argument("--out", type=Path, required=True, help="where to write the draft (YAML)")
    profile.add_argument("--sheet", type=_sheet,
                         help="a workbook's sheet to read: its name, or its position counting from 0 "
                              "(default: the sheet that holds the data, found by looking)")

    pathway = commands.add_parser("pathway", help="pathway files")
    pathway_commands = pathway.add_subparsers(dest="pathway_command", required=True, parser_class=_Parser)
    init = pathway_commands.add_parser("init", help="write a commented pathway template to fill in")
    init.add_argument("--out", type=Path, required=True, help="where to write it (YAML)")

    _add_analysis_commands(commands)
    return parser


def _add_inputs(parser: argparse.ArgumentParser, *, export_flag: bool) -> None:
    if export_flag:
        parser.add_argument("--data", dest="export", type=Path, required=True, help="CSV or XLSX export")
    else:
        parser.add_argument("export", type=Path, help="CSV or XLSX export")
    parser.add_argument("--mapping", type=Path, required=True, help="mapping profile (YAML)")
    parser.add_argument("--pathway", type=Path, required=True, help="pathway definition (YAML)")
    parser.add_argument("--start", type=_iso_date, required=True, help="first day, e.g. 2025-04-01")
    parser.add_argument("--end", type=_iso_date, required=True, help="last day, e.g. 2026-03-31")
    parser.add_argument("--steps", type=Path, help="optional step log (CSV)")
    parser.add_argument("--actions", type=Path, help="optional learning-actions log (CSV)")
    parser.add_argument("--training", type=Path, help="optional training log (CSV)")


def _add_analysis_commands(commands) -> None:
    """Commands that analyse an export against a pathway."""
    summary = commands.add_parser("summary", help="timeliness summary as summary.json and CSV tables")
    _add_inputs(summary, export_flag=False)
    summary.add_argument("--out", type=Path, required=True, help="summary.json path (tables beside it)")
    summary.add_argument("--audience", choices=["internal", "external", "partners"], default="internal")
    summary.add_argument("--disclosure", default="", help=DISCLOSURE_HELP)

    from .publish.review_runs import KINDS

    report = commands.add_parser("report", help="make one review report (HTML, PDF, summary.json, tables)")
    report.add_argument("kind", choices=list(KINDS), help="which report")
    _add_inputs(report, export_flag=True)
    report.add_argument("--out", type=Path, required=True, help="output folder")
    report.add_argument("--team", default="", help="supervision: the team")
    report.add_argument("--staff", default="", help="supervision: the practitioner's identifier as in the export")
    report.add_argument("--no-pdf", action="store_true", help="skip the PDF")
    report.add_argument("--disclosure", default="", help=DISCLOSURE_HELP)

    demo = commands.add_parser("demo", help="all four reports from the sample data into reports/demo/")
    demo.add_argument("--sample", type=Path, default=Path("data/sample"), help="sample folder (default data/sample)")
    demo.add_argument("--out", type=Path, default=Path("reports/demo"), help="output folder (default reports/demo)")
    demo.add_argument("--no-pdf", action="store_true", help="skip the PDFs")
    demo.add_argument("--disclosure", default="", help=DISCLOSURE_HELP)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``escalation-review``; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(_TerminalSafeFormatter("%(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    try:
        return _run(args)
    except EscalationAnalysisError as exc:
        _say(f"escalation-review: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a path the user gave cannot be read or written
        where = f" '{exc.filename}'" if exc.filename else ""
        _say(f"escalation-review: could not read or write{where} ({exc.strerror or exc}); check the path and its permissions.",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _say("escalation-review: stopped.", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not the user's fault: say so in one line
        if args.debug:
            raise
        _say(
            f"escalation-review: internal error ({type(exc).__name__}: {str(exc)[:200]}); "
            "please report it with --debug output.",
            file=sys.stderr,
        )
        return 3


def _run(args: argparse.Namespace) -> int:
    from .ingest.allocator import use_returning_allocator

    use_returning_allocator()  # before any export is read: the loader's freed memory goes back
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "sample": _sample,
        "validate": _validate,
        "summary": _summary,
        "report": _report,
        "profile": _profile,
        "pathway": _pathway_init,
        "demo": _demo,
    }
    return commands[args.command](args)


def _refuse_overwrite(path: Path) -> None:
    if path.exists():
        raise EscalationAnalysisError(f"'{path}' already exists; choose another --out or remove it first.")


def _profile(args: argparse.Namespace) -> int:
    from .errors import ExportError
    from .ingest.file_checks import require_regular_file
    from .ingest.profiling import draft_profile, render_profile, todo_lines

    _refuse_overwrite(args.out)
    require_regular_file(args.export, "export", ExportError)
    draft = draft_profile(args.export, sheet=args.sheet)
    text = render_profile(draft)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    todos = todo_lines(text)
    _say(f"Wrote a draft mapping profile to {args.out}.")
    where = f"The data is on sheet '{draft.sheet}'; its header" if draft.sheet is not None else "The header"
    titles = f", below {draft.header_row - 1} title line(s)" if draft.header_row > 1 else ""
    _say(f"{where} is on row {draft.header_row}{titles}.")
    if todos:
        _say(f"{len(todos)} line(s) need your answer (marked TODO):")
        for line in todos:
            _say(f"  {line}")
    _say(f"Next: escalation-review validate {args.export} --mapping {args.out}")
    return 0


def _pathway_init(args: argparse.Namespace) -> int:
    from importlib import resources

    _refuse_overwrite(args.out)
    template = resources.files("escalation_analysis").joinpath("resources/pathway_template.yaml").read_text("utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(template, encoding="utf-8")
    _say(f"Wrote a pathway template to {args.out}: replace every TODO with your pathway's own values.")
    return 0


def _summary(args: argparse.Namespace) -> int:
    from .publish.review_runs import write_summary

    inputs = _review_inputs(args, {"disclosure": args.disclosure})
    analysis, data, written = write_summary(inputs, args.out, args.audience)
    overall = data["timeliness"]["overall"]
    _say(f"{analysis.accounting.rows_analysed:,} episodes analysed between {analysis.start:%d/%m/%Y} and "
         f"{analysis.end:%d/%m/%Y}: {overall['within_target_pct']}% escalated within target.")
    _say(f"Wrote {written[0]} and {len(written) - 1} tables in {written[0].parent / 'tables'}.")
    return 0


def _report(args: argparse.Namespace) -> int:
    from .publish.review_runs import run_review

    inputs = _review_inputs(args, {"team": args.team, "staff": args.staff, "disclosure": args.disclosure})
    result = run_review(args.kind, inputs, args.out, pdf=not args.no_pdf)
    _print_result(result)
    return 0


def _review_inputs(args: argparse.Namespace, options: dict[str, str | None]):
    """The files and period named on the command line, and the report's options."""
    from .ingest.inputs import InputFiles
    from .publish.review_runs import ReviewInputs

    files = InputFiles(args.export, args.mapping, args.pathway, args.steps, args.actions, args.training)
    return ReviewInputs(files, args.start, args.end, options)


def _print_result(result) -> None:
    _say(result_line(result))
    if result.pdf_note:  # why there is no PDF (no browser found, or printing failed)
        _say(result.pdf_note)


def result_line(result) -> str:
    """'reports/x: report.html (11 charts), report.pdf, summary.json, tables/ (20 CSV files).'"""
    def counted(n: int, what: str) -> str:
        return f"{n} {what}{'' if n == 1 else 's'}"

    tables = len(list((Path(result.out_dir) / "tables").glob("*.csv")))
    made = [f"{result.html.name} ({counted(result.figures, 'chart')})"]
    made += [result.pdf.name] if result.pdf else []
    made += ["summary.json", f"tables/ ({counted(tables, 'CSV file')})"]
    return f"{result.out_dir}: {', '.join(made)}."


def _demo(args: argparse.Namespace) -> int:
    from .publish.review_runs import run_demo

    if not (args.sample / "incidents.csv").is_file():
        from .synthetic import write_sample

        _say(f"No sample data in {args.sample}/: generating it (5,000 rows).")
        write_sample(args.sample)
    results = run_demo(args.sample, args.out, pdf=not args.no_pdf, disclosure=args.disclosure)
    for result in results:
        _print_result(result)
    _say(f"Open {args.out}/<report>/report.html in a browser.")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from .synthetic import write_sample

    if args.rows < 200:
        _say("escalation-review: --rows must be at least 200.", file=sys.stderr)
        return 2
    sample = write_sample(args.out, args.rows, args.seed, xlsx=not args.no_xlsx, logs=not args.no_logs)
    files = ["incidents.csv"] + ([] if args.no_xlsx or args.rows > 1_048_575 else ["incidents.xlsx"])
    files += ["mapping.yaml", "pathway.yaml", "truth.json"]
    files += [] if args.no_logs else ["steps.csv", "learning_actions.csv", "training.csv"]
    _say(f"Wrote a synthetic export of {len(sample.export):,} rows to {args.out}/: {', '.join(files)}.")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .ingest.export import load_export

    loaded = load_export(args.export, args.mapping)
    accounting = loaded.accounting
    if accounting.fitness:
        _say(accounting.fitness_statement() + "\n")
    _say(accounting.statement())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(accounting.to_dict(), indent=2) + "\n", encoding="utf-8")
    return 1 if accounting.rows_analysed == 0 else 0


def _exit(code: int) -> None:
    """End the process with ``code`` as a finished Python process does, without tearing down
    every module (with pandas, pyarrow and scipy loaded and a million episodes in memory, a
    quarter of a second of CPU that changes nothing), as report kernels end.

    ``atexit`` handlers run (logging's flushes its handlers, temporary folders left behind
    are removed) and output is flushed first. A thread still running means work not yet
    done, and a profiler or tracer (cProfile, coverage) still has its results to write: the
    process then exits as usual.
    """
    import atexit
    import contextlib
    import os
    import threading

    if sys.getprofile() is not None or sys.gettrace() is not None or any(
            t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_functions is None:
        sys.exit(code)
    run_exit_functions()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def run() -> None:
    """The ``escalation-review`` command: :func:`main`, ended as :func:`_exit` ends it."""
    _exit(main())


if __name__ == "__main__":
    run()
