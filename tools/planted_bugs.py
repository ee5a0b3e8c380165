"""Plant the report-layer bugs of issue 18 one at a time and say which tests catch each.

Each bug is a one-line change a reader would not notice in a report (an interval at 50%, the
previous period equal to this one, a partner table left unsuppressed...). The script writes the
change into the source, runs the tests, puts the source back, and prints a table of bug ->
failing tests. A bug that no test catches makes it exit 1. A bug whose line is no longer in the
source is reported as "not planted": rewrite its line for the code as it is now.

    python tools/planted_bugs.py                 # the report-layer tests (about a minute a bug)
    python tools/planted_bugs.py --all           # the whole suite except slow tests
    python tools/planted_bugs.py --only ooh_kpi  # one bug

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
    "tests/test_suppression.py", "tests/test_analysis_summary.py",
]


@dataclass(frozen=True)
class Plant:
    """One bug: in ``path``, the line holding ``old`` becomes ``new``."""

    name: str
    what: str
    path: str
    old: str
    new: str


PLANTS = [
    Plant("ci_at_50", "the headline's 95% confidence interval computed at 50%",
          "reviews/narrative.py", "low, high = wilson_interval(within, n)",
          "low, high = wilson_interval(within, n, confidence=0.5)"),
    Plant("previous_is_this", "the KPI table's previous period equal to this period",
          "reviews/kpis.py", "before = _kpis_for(analysis.episodes_between(prev_start, prev_end), analysis, prev_end)",
          "before = _kpis_for(analysis.episodes, analysis, prev_end)"),
    Plant("ooh_kpi", "the out-of-hours KPI computed over in-hours episodes",
          "reviews/kpis.py", 'ooh = episodes[episodes["band"] == "out_of_hours"]',
          'ooh = episodes[episodes["band"] == "in_hours"]'),
    Plant("routes_unsuppressed", "the partner report's routes table left unsuppressed",
          "reviews/pathway.py",
          'routes=suppress_simple(_readable(route_variants(adherence, steps), "route"), ["episodes"], [], policy),',
          'routes=_readable(route_variants(adherence, steps), "route"),'),
    Plant("team_is_selection", "the supervision pack's team row replaced by the selection",
          "reviews/supervision.py", 'rows[team] = prepared[prepared["team"] == team]', "rows[team] = selected"),
    Plant("simple_shows_7", "the simple suppression showing a 7",
          "reviews/summary.py", "small |= (values[column] >= 1) & (values[column] <= policy.threshold)",
          "small |= (values[column] >= 1) & (values[column] < policy.threshold)"),
    Plant("simple_shows_raw", "the simple suppression showing the raw count (a 7 too)",
          "reviews/summary.py",
          "out[column] = [policy.marker if o == policy.marker else v for o, v in zip(out[column], shown, strict=False)]",
          "out[column] = [policy.marker if o == policy.marker else o for o, v in zip(out[column], shown, strict=False)]"),
    Plant("rows_read_as_analysed", "the external data-quality sentence giving rows read as 'analysed'",
          "reviews/narrative.py", 'analysed=_shown(shown["rows_analysed"])', 'analysed=_shown(shown["rows_read"])'),
]


def plant(bug: Plant) -> str | None:
    """Write the bug into the source; returns the original text (None when the line is gone)."""
    path = PACKAGE / bug.path
    text = path.read_text(encoding="utf-8")
    if text.count(bug.old) != 1:
        return None
    path.write_text(text.replace(bug.old, bug.new), encoding="utf-8")
    return text


def failing_tests(tests: list[str], timeout: int) -> list[str]:
    """Node ids of the tests that fail (or the reason the run could not finish)."""
    command = [sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-rf", "--no-header", *tests]
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
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per bug (default 1800)")
    args = parser.parse_args(argv)
    tests = ["tests"] if args.all else REPORT_TESTS
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
            caught = failing_tests(tests, args.timeout)
        finally:
            (PACKAGE / bug.path).write_text(original, encoding="utf-8")
        print(f"{bug.name}: {bug.what}")
        print("    caught by: " + (", ".join(caught) if caught else "NOTHING"), flush=True)
        missed += not caught
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
