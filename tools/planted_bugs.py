"""Plant the report-layer bugs of issue 18 one at a time and say which tests catch each.

Each bug is a one-line change a reader would not notice in a report (an interval at 50%, the
previous period equal to this one, a partner table left unsuppressed...). The script writes the
change into the source, runs the tests, puts the source back, and prints a table of bug ->
failing tests. A bug that no test catches makes it exit 1. A bug whose line is no longer in the
source is reported as "not planted": rewrite its line for the code as it is now.

    python tools/planted_bugs.py                 # the report-layer tests (about a minute a bug)
    python tools/planted_bugs.py --all           # the whole suite except slow tests
    python tools/planted_bugs.py --only ooh_kpi  # one bug
    python tools/planted_bugs.py --known-answers # with the slow known-answer tests of the reports

The last results, bug by bug, are in tools/report_layer_checks.md.

Not run in CI: it changes files in the working tree (always restored, even on Ctrl-C).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "escalation_analysis"
REPORT_TESTS = [
    "tests/test_handworked.py", "tests/test_pathway_review.py", "tests/test_kpis_narrative.py",
    "tests/test_disclosure.py", "tests/test_disclosure_reports.py", "tests/test_analysis_summary.py",
    "tests/test_review_objects.py", "tests/test_front_sheet.py",
]
KNOWN_ANSWERS = "tests/test_report_known_answers.py"  # slow: the four reports made and read back


@dataclass(frozen=True)
class Plant:
    """One bug: in ``path``, the line holding ``old`` becomes ``new``."""

    name: str
    what: str
    path: str
    old: str
    new: str


_ADHERENCE = "__import__('escalation_analysis.measures.adherence', fromlist=['adherence'])"

PLANTS = [
    Plant("ci_at_50", "the headline's 95% confidence interval computed at 50% (outside reports' intervals)",
          "reviews/disclosure/engine.py", "low, high = wilson_interval(x, n)",
          "low, high = wilson_interval(x, n, confidence=0.5)"),
    Plant("ci_at_50_inside", "the headline's 95% confidence interval computed at 50% (inside reports)",
          "measures/timeliness.py",
          'low, high = wilson_interval(table["within_target"].to_numpy(), table["n"].to_numpy())',
          'low, high = wilson_interval(table["within_target"].to_numpy(), table["n"].to_numpy(), 0.5)'),
    Plant("previous_is_this", "the KPI table's previous period equal to this period",
          "reviews/kpis.py", "before = _kpis_for(analysis.episodes_between(prev_start, prev_end), analysis, prev_end)",
          "before = _kpis_for(analysis.episodes, analysis, prev_end)"),
    Plant("ooh_kpi", "the out-of-hours KPI computed over in-hours episodes",
          "reviews/kpis.py", '_compliance(episodes[episodes["band"] == "out_of_hours"])',
          '_compliance(episodes[episodes["band"] == "in_hours"])'),
    Plant("routes_unsuppressed", "the partner report's routes table left unsuppressed (made from the analysis, "
          "not the disclosure plan)",
          "reviews/pathway.py", 'routes=_readable(table("routes", ["route", "episodes"]), "route"),',
          f"routes=_readable({_ADHERENCE}.route_variants({_ADHERENCE}.episode_adherence(analysis.episodes, "
          'analysis.steps_frame, analysis.pathway), analysis.steps_frame), "route"),'),
    Plant("team_is_selection", "the supervision pack's team row replaced by the selection",
          "reviews/supervision.py", 'rows[team] = prepared[prepared["team"] == team]', "rows[team] = selected"),
    Plant("suppression_shows_7", "the suppression showing a 7 (small means 1 to 6)",
          "reviews/disclosure/engine.py", "small = (counts[:, j] >= 1) & (counts[:, j] <= policy.threshold)",
          "small = (counts[:, j] >= 1) & (counts[:, j] < policy.threshold)"),
    Plant("counts_unrounded", "outside counts published as they are, not rounded to 5",
          "reviews/disclosure/engine.py", "return self.policy.round_counts(self.truth)", "return self.truth"),
    Plant("rows_read_as_analysed", "the external data-quality sentence giving rows read as 'analysed'",
          "reviews/narrative.py", 'analysed=published.in_words(shown["rows_analysed"], chosen)',
          'analysed=published.in_words(shown["rows_read"], chosen)'),
]


def plant(bug: Plant) -> str | None:
    """Write the bug into the source; returns the original text (None when the line is gone)."""
    path = PACKAGE / bug.path
    text = path.read_text(encoding="utf-8")
    if text.count(bug.old) != 1:
        return None
    path.write_text(text.replace(bug.old, bug.new), encoding="utf-8")
    return text


def failing_tests(tests: list[str], timeout: int, slow: bool = False) -> list[str]:
    """Node ids of the tests that fail (or the reason the run could not finish)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", "--no-header",
               *([] if slow else ["-m", "not slow"]), *tests]
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return [f"(timed out after {timeout} s)"]
    return re.findall(r"^FAILED (\S+)", result.stdout, flags=re.MULTILINE) or (
        [] if result.returncode == 0 else [f"(pytest exit {result.returncode}: {result.stdout[-300:]})"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="run the whole suite except slow tests")
    parser.add_argument("--only", action="append", choices=[p.name for p in PLANTS], help="one bug (repeatable)")
    parser.add_argument("--known-answers", action="store_true",
                        help="also the slow known-answer tests (the four reports made and read: ~3 min a bug)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per bug (default 1800)")
    args = parser.parse_args(argv)
    tests = ["tests"] if args.all else REPORT_TESTS
    if args.known_answers:
        tests = [*tests, KNOWN_ANSWERS] if not args.all else tests
    missed = 0
    for bug in PLANTS:
        if args.only and bug.name not in args.only:
            continue
        original = plant(bug)
        if original is None:
            print(f"{bug.name}: not planted (its line is no longer in {bug.path})")
            missed += 1
            continue
        try:
            caught = failing_tests(tests, args.timeout, slow=args.known_answers)
        finally:
            (PACKAGE / bug.path).write_text(original, encoding="utf-8")
        print(f"{bug.name}: {bug.what}")
        print("    caught by: " + (", ".join(caught) if caught else "NOTHING"), flush=True)
        missed += not caught
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
