"""The four review reports, their audiences, and running them end to end.

Each kind is a parameterised notebook in ``notebooks/`` with a fixed audience. The audience
is decided here, by the kind, never by a parameter a user can change, and it decides:

* the ``summary.json`` and ``tables/*.csv`` written beside the report (suppressed for
  external and partner audiences, by :func:`~escalation_analysis.reviews.summary.build_summary`);
* the privacy gate run on every output afterwards (:mod:`~escalation_analysis.publish.gate`).

``run_review`` checks the inputs in-process first (so a wrong path or a bad profile is one
clear sentence, before any kernel starts), runs the notebook through
:func:`~escalation_analysis.publish.runner.run_report`, writes the summary, and runs the gate.
``run_demo`` runs the four reports in parallel worker processes, and each worker writes its
report's summary and runs the gate right after the report (:class:`FinishReview`).

The analysis modules are imported where they are used, so the command line starts the
reports without first importing pandas itself.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EscalationAnalysisError
from ..reviews.kinds import KINDS, ReviewKind
from ..reviews.kinds import kind as _kind
from .runner import ReportError, ReportJob, ReportResult, ReportsFailedError, run_report, run_reports

if TYPE_CHECKING:
    from ..measures.analysis import Analysis

logger = logging.getLogger(__name__)


def notebooks_dir() -> Path:
    """Where the report notebooks live: ``ESCALATION_NOTEBOOKS`` or the repository's ``notebooks/``."""
    if os.environ.get("ESCALATION_NOTEBOOKS"):
        return Path(os.environ["ESCALATION_NOTEBOOKS"])
    here = Path(__file__).resolve().parents[1]
    for candidate in (here.parent / "notebooks", Path.cwd() / "notebooks"):
        if (candidate / KINDS["near-miss-review"].notebook).is_file():
            return candidate
    raise EscalationAnalysisError(
        "The report notebooks were not found; run from the escalation-analysis folder or set "
        "ESCALATION_NOTEBOOKS to its notebooks/ folder."
    )


@dataclass
class ReviewInputs:
    """The files and period a review is made from."""

    export: Path
    mapping: Path
    pathway: Path
    start: dt.date
    end: dt.date
    steps: Path | None = None
    actions: Path | None = None
    training: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        """Notebook parameters: absolute paths and ISO dates (plain literals only)."""
        def path(p: Path | None) -> str:
            return str(Path(p).resolve()) if p else ""

        return {
            "export": path(self.export), "mapping": path(self.mapping), "pathway": path(self.pathway),
            "steps": path(self.steps), "actions": path(self.actions), "training": path(self.training),
            "start": self.start.isoformat(), "end": self.end.isoformat(),
        }

    def analyse(self, key: bytes | None = None) -> Analysis:
        from ..measures.analysis import analyse

        return analyse(self.export, self.mapping, self.pathway, self.start, self.end,
                       steps=self.steps, actions=self.actions, training=self.training, key=key)


def _notebook_parameters(kind: ReviewKind, inputs: ReviewInputs, key: bytes) -> dict[str, Any]:
    parameters = {**inputs.parameters(), "audience": kind.audience}
    if kind.name == "supervision":
        team = inputs.options.get("team") or ""
        staff = inputs.options.get("staff") or ""
        import pandas as pd

        from ..ingest.pseudonyms import pseudonymise

        parameters["team"] = team
        parameters["staff_pseudonym"] = (
            str(pseudonymise(pd.Series([staff], dtype="str"), "staff_id", key).iloc[0]) if staff else ""
        )
        # The name the supervisor typed, to call the practitioner by on their own pack (internal):
        # the records in the pack still carry only the pseudonym.
        parameters["staff_name"] = staff
    return parameters


def run_review(kind_name: str, inputs: ReviewInputs, out_dir: str | Path, *, pdf: bool = True) -> ReportResult:
    """Make one review report in ``out_dir``: HTML, PDF, executed notebook, summary.json, tables."""
    from ..ingest.pseudonyms import load_key

    kind = _kind(kind_name)
    key = load_key()
    analysis = inputs.analyse(key)  # fails fast, in one sentence, on bad inputs
    parameters = _notebook_parameters(kind, inputs, key)
    if kind.name == "supervision":
        _check_selection(analysis, parameters, inputs)
    out = Path(out_dir)
    result = run_report(notebooks_dir() / kind.notebook, out, parameters, pdf=pdf, title=kind.title)
    _finish(kind, inputs, analysis, out, key, parameters)
    return result


def _check_selection(analysis: Analysis, parameters: dict[str, Any], inputs: ReviewInputs) -> None:
    """A supervision pack about nobody is a mistake in --team or --staff: say so before running."""
    from ..reviews.supervision import select

    team, staff = parameters["team"], parameters["staff_pseudonym"]
    if (team or staff) and select(analysis.episodes, team=team, staff_pseudonym=staff).empty:
        who = " and ".join(filter(None, [f"team '{team}'" if team else "", "that practitioner" if staff else ""]))
        teams = ", ".join(sorted(analysis.episodes["team"].unique())[:20])
        raise EscalationAnalysisError(
            f"No episodes for {who} between {inputs.start:%d/%m/%Y} and {inputs.end:%d/%m/%Y}; write the name "
            f"exactly as in the export (teams in this period: {teams})."
        )


def _finish(kind: ReviewKind, inputs: ReviewInputs, analysis: Analysis, out: Path, key: bytes,
            parameters: dict[str, Any] | None = None) -> None:
    """Write the review's summary.json and tables (the same builder as its pages), then run the gate."""
    from .. import reviews
    from .gate import check_outputs, sensitive_values

    options = {k: parameters[k] for k in ("team", "staff_pseudonym", "staff_name") if parameters and k in parameters}
    reviews.build(kind.name, analysis, kind.audience, **options).summary().write(out / "summary.json")
    sensitive = sensitive_values(inputs.export, analysis.profile, key)
    if parameters and parameters.get("staff_name"):  # the supervisor's own words on their own pack
        sensitive.by_kind["staff identifier"] = set(sensitive.by_kind.get("staff identifier", ())) - {
            parameters["staff_name"]}
    check_outputs(out, sensitive, kind.audience)


@dataclass(frozen=True)
class FinishReview:
    """A report's summary.json, tables and privacy gate, run where the report was made.

    Given to :func:`~escalation_analysis.publish.runner.run_reports` as a job's ``after``: the worker
    process analyses the inputs itself, with the kind's audience rules (never the notebook's),
    writes the summary and runs the gate on every output, which removes a leaking report.
    """

    kind: str
    inputs: ReviewInputs
    key: bytes
    parameters: dict[str, Any]

    #: What it imports when called; the worker processes import these in advance.
    preload = ("escalation_analysis.measures.analysis", "escalation_analysis.publish.gate",
               *(f"escalation_analysis.reviews.{k.module}" for k in KINDS.values()))

    def __call__(self, result: ReportResult) -> None:
        kind = KINDS[self.kind]
        _finish(kind, self.inputs, self.inputs.analyse(self.key), result.out_dir, self.key, self.parameters)


def run_demo(sample_dir: str | Path, out_dir: str | Path, *, pdf: bool = True, max_workers: int = 2,
             progress: bool = True) -> list[ReportResult]:
    """All four reports from the sample data, two at a time, into ``out_dir/<kind>/``.

    Each report's summary and privacy gate run in the process that made it, right after it.
    When a report cannot be made, :class:`~escalation_analysis.publish.runner.ReportsFailedError` says
    which; when only the summaries or gates failed, the first such error (in the order of
    :data:`KINDS`) is raised as it is, e.g. the gate's :class:`~escalation_analysis.publish.gate.PrivacyError`.
    """
    from ..ingest.pseudonyms import load_key

    sample = Path(sample_dir)
    base = ReviewInputs(
        export=sample / "incidents.csv", mapping=sample / "mapping.yaml", pathway=sample / "pathway.yaml",
        start=dt.date(2025, 10, 1), end=dt.date(2025, 12, 31), steps=sample / "steps.csv",
        actions=sample / "learning_actions.csv", training=sample / "training.csv",
    )
    periods = {"pathway-review": (dt.date(2025, 4, 1), dt.date(2026, 3, 31))}
    key = load_key()
    jobs = []
    for name, kind in KINDS.items():
        start, end = periods.get(name, (base.start, base.end))
        options = {"team": "Riverside CMHT"} if name == "supervision" else {}
        inputs = ReviewInputs(base.export, base.mapping, base.pathway, start, end,
                              base.steps, base.actions, base.training, options)
        parameters = _notebook_parameters(kind, inputs, key)
        jobs.append(ReportJob(notebooks_dir() / kind.notebook, Path(out_dir) / name, parameters, pdf=pdf,
                              title=kind.title, after=FinishReview(name, inputs, key, parameters)))
    try:
        return run_reports(jobs, max_workers=max_workers, progress=progress)
    except ReportsFailedError as exc:
        failed = [o for o in exc.results if isinstance(o, Exception)]
        if failed and not any(isinstance(o, ReportError) for o in failed):
            raise failed[0] from None
        raise


def run_summary_command(args: argparse.Namespace) -> int:
    """``escalation-review summary``: write summary.json and tables/*.csv."""
    from ..measures.analysis import analyse
    from ..reviews.summary import build_summary

    analysis = analyse(
        args.export, args.mapping, args.pathway, args.start, args.end,
        steps=args.steps, actions=args.actions, training=args.training,
    )
    summary = build_summary(analysis, audience=args.audience)
    written = summary.write(args.out)
    if args.audience != "internal":
        from ..ingest.pseudonyms import load_key
        from ..publish.gate import check_outputs, sensitive_values

        folder = written[0].parent
        check_outputs(folder, sensitive_values(args.export, analysis.profile, load_key()), args.audience,
                      paths=written)
    overall = summary.data["timeliness"]["overall"]
    print(
        f"{analysis.accounting.rows_analysed:,} episodes analysed between {analysis.start:%d/%m/%Y} and "
        f"{analysis.end:%d/%m/%Y}: {overall['within_target_pct']}% escalated within target."
    )
    print(f"Wrote {written[0]} and {len(written) - 1} tables in {written[0].parent / 'tables'}.")
    return 0
