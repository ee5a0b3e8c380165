"""``summary.json`` (product.md section 4): hand-checked figures through the command line,
audience rules on the shipped sample, and a guard that the analysis stays vectorised.

The tiny export in ``tests/fixtures/analytics`` is described in ``tests/test_timeliness.py``:
for 1 March to 30 April 2025 it has three episodes (20 minutes within target, 110 minutes late,
one not escalated), two rows outside the period and one escalated before risk was identified.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import SAMPLE, TEST_KEY
from statsmodels.stats.proportion import proportion_confint

from escalation_analysis.measures.analysis import analyse
from escalation_analysis.measures.timeliness import GROUPINGS, compliance_table
from escalation_analysis.reviews.disclosure import NHS_ROUNDED
from escalation_analysis.reviews.summary import build_summary

FIXTURES = Path(__file__).parent / "fixtures" / "analytics"
THRESHOLD = 7
MARKS = ("*", "[c]")  # a count of 1 to 7; a figure withheld to protect one
SAMPLE_REF = re.compile(r"\bW1\d{5}\b")  # the sample's incident references


def run_summary(out: Path, *extra: str, export: Path = FIXTURES / "tiny_export.csv",
                mapping: Path = FIXTURES / "tiny_mapping.yaml", pathway: Path = FIXTURES / "tiny_pathway.yaml",
                start: str = "2025-03-01", end: str = "2025-04-30") -> subprocess.CompletedProcess:
    """``escalation-review summary`` in a child process (it inherits the per-test key file)."""
    return subprocess.run(
        [sys.executable, "-m", "escalation_analysis.cli", "summary", str(export), "--mapping", str(mapping),
         "--pathway", str(pathway), "--start", start, "--end", end, "--out", str(out), *extra],
        capture_output=True, text=True, timeout=120, check=False,
    )


def strict_json(path: Path) -> dict:
    """Parse JSON, refusing NaN and Infinity (not JSON, and unreadable to many tools)."""
    def refuse(token):
        raise ValueError(f"{path.name} holds {token}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def wilson_pct(successes: int, n: int) -> list[float]:
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return [round(100 * low, 1), round(100 * high, 1)]


# ---------------------------------------------------------------------------------------------
# The command line on a layout it has never seen, against a hand calculation


@pytest.fixture(scope="module")
def cli_internal(tmp_path_factory):
    out = tmp_path_factory.mktemp("internal") / "summary.json"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ESCALATION_ANALYSIS_KEY_FILE", str(out.parent / "key" / "pseudonym.key"))
        mp.delenv("ESCALATION_ANALYSIS_KEY", raising=False)
        result = run_summary(out)
    assert result.returncode == 0, result.stderr
    return result, out


class TestSummaryCommandByHand:
    def test_the_command_reports_what_it_did(self, cli_internal):
        result, out = cli_internal
        assert "3 episodes analysed between 01/03/2025 and 30/04/2025: 33.3% escalated within target" in result.stdout
        assert out.is_file() and (out.parent / "tables" / "timeliness_overall.csv").is_file()

    def test_overall_figures_match_the_hand_calculation(self, cli_internal):
        summary = strict_json(cli_internal[1])
        assert summary["period"] == {"start": "2025-03-01", "end": "2025-04-30"}
        assert summary["timeliness"]["overall"] == {
            "n": 3, "within_target": 1, "within_target_pct": 33.3, "ci95_pct": wilson_pct(1, 3),
            "not_escalated": 1, "median_delay_minutes": 65.0, "p90_delay_minutes": 101.0,
        }

    def test_breakdowns_match_the_hand_calculation(self, cli_internal):
        timeliness = strict_json(cli_internal[1])["timeliness"]

        def short(entry):
            return (entry["n"], entry["within_target"], entry["not_escalated"],
                    entry["median_delay_minutes"], entry["p90_delay_minutes"])

        assert {k: short(v) for k, v in timeliness["by_band"].items()} == {
            "in_hours": (1, 0, 0, 110.0, 110.0), "out_of_hours": (2, 1, 1, 20.0, 20.0),
        }
        assert {k: short(v) for k, v in timeliness["by_ooh_sub_band"].items()} == {
            "in_hours": (1, 0, 0, 110.0, 110.0), "weekend": (1, 1, 0, 20.0, 20.0),
            "bank_holiday": (1, 0, 1, None, None),
        }
        assert {k: short(v) for k, v in timeliness["by_trigger"].items()} == {
            "imminent_risk": (2, 1, 0, 65.0, 101.0), "loss_of_contact": (1, 0, 1, None, None),
        }
        assert {k: short(v) for k, v in timeliness["by_team"].items()} == {
            "Café Outreach": (1, 1, 0, 20.0, 20.0), "Harbour Team": (2, 0, 1, 110.0, 110.0),
        }
        assert {k: short(v) for k, v in timeliness["by_quarter"].items()} == {
            "2024/25 Q4": (1, 1, 0, 20.0, 20.0), "2025/26 Q1": (2, 0, 1, 110.0, 110.0),
        }
        assert {k: short(v) for k, v in timeliness["by_lone_worker"].items()} == {
            "lone worker": (1, 1, 0, 20.0, 20.0), "accompanied": (2, 0, 1, 110.0, 110.0),
        }
        assert timeliness["by_band"]["out_of_hours"]["within_target_pct"] == 50.0
        assert timeliness["by_band"]["out_of_hours"]["ci95_pct"] == wilson_pct(1, 2)
        assert timeliness["by_band"]["in_hours"]["ci95_pct"] == wilson_pct(0, 1)

    def test_data_quality_accounts_for_every_row(self, cli_internal):
        summary = strict_json(cli_internal[1])
        quality = summary["data_quality"]
        assert quality["rows_read"] == 6
        # each rounded to the nearest 5, so they add up to within the rounding
        assert abs(quality["rows_read"] - quality["rows_analysed"] - quality["rows_excluded"]) <= 6
        assert (quality["rows_analysed"], quality["rows_excluded"]) == (3, 3)
        assert quality["excluded_by_reason"] == {"escalated_before_identified": 1, "outside_period": 2}
        assert sum(quality["excluded_by_reason"].values()) == quality["rows_excluded"]
        assert quality["source"] == "Tiny hand-checked export" and quality["encoding"] == "cp1252"
        # Internal output says which spreadsheet rows to look at.
        assert quality["first_rows"]["excluded"] == {"outside_period": [5, 6], "escalated_before_identified": [7]}

    def test_near_misses_and_agency_responses(self, cli_internal):
        summary = strict_json(cli_internal[1])
        assert summary["near_misses"] == {"n": 2, "incidents": 1}
        # No step log: the export's response time is read against the first agency contacted.
        crisis = summary["multi_agency"]["crisis_team"]
        assert (crisis["contacts"], crisis["responses_recorded"], crisis["median_minutes"]) == (1, 1, 60.0)
        duty = summary["multi_agency"]["duty_senior"]
        assert (duty["contacts"], duty["responses_recorded"], duty["median_minutes"]) == (1, 0, None)

    def test_tables_hold_the_same_figures(self, cli_internal):
        tables = cli_internal[1].parent / "tables"
        overall = pd.read_csv(tables / "timeliness_overall.csv").iloc[0]
        assert (overall["n"], overall["within_target"], overall["not_within_target"], overall["not_escalated"]) == (3, 1, 2, 1)
        assert overall["median_delay_minutes"] == 65 and overall["p90_delay_minutes"] == 101
        excluded = pd.read_csv(tables / "excluded_rows.csv")
        assert excluded[["row", "incident_id", "reason"]].values.tolist() == [
            [5, "T-004", "outside_period"], [6, "T-005", "outside_period"], [7, "T-006", "escalated_before_identified"],
        ]


@pytest.mark.slow  # the command in a child process, as a user runs it
def test_external_summary_of_a_tiny_export_is_withheld_naming_the_figure(tmp_path):
    # Six episodes: every published count is a *, and the groups that must each hold at least one
    # episode pin the total down to 3 to 5. The audit withholds the summary and says which figure.
    out = tmp_path / "external" / "summary.json"
    result = run_summary(out, "--audience", "external")
    assert result.returncode == 2
    assert "The summary was withheld: timeliness_overall: all episodes, n" in result.stderr
    assert "possible values" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and not (out.parent / "tables").exists()


@pytest.mark.slow  # the command in a child process, as a user runs it
def test_external_summary_of_a_small_export_hides_every_small_count(tmp_path):
    out = tmp_path / "external" / "summary.json"
    small = tmp_path / "small.csv"
    rows = (FIXTURES / "tiny_export.csv").read_text(encoding="cp1252").splitlines()
    header, records = rows[0], rows[1:]
    copies = [";".join([f"{r.split(';')[0]}-{i}", *r.split(";")[1:]]) for i in range(6) for r in records]
    small.write_text("\n".join([header, *copies]) + "\n", encoding="cp1252")
    result = run_summary(out, "--audience", "external", export=small)
    assert result.returncode == 0, result.stderr
    summary = strict_json(out)
    assert summary["audience"] == "external" and summary["disclosure"]["policy"] == "nhs-rounded"
    for key, group, entry in group_entries(summary["timeliness"]):
        for count in ("n", "within_target", "not_escalated"):
            value = entry[count]
            assert value in MARKS or (isinstance(value, int) and value % 5 == 0 and not 1 <= value <= 7), (key, group)
    assert "first_rows" not in summary["data_quality"]
    assert not (out.parent / "tables" / "excluded_rows.csv").exists()
    text = out.read_text(encoding="utf-8") + "".join(p.read_text(encoding="utf-8") for p in (out.parent / "tables").glob("*.csv"))
    assert not re.search(r"T-00\d", text)


# ---------------------------------------------------------------------------------------------
# The shipped sample: internal and external summaries


@pytest.fixture(scope="module")
def internal(sample):
    return build_summary(sample, audience="internal")


@pytest.fixture(scope="module")
def external(sample, tmp_path_factory):
    summary = build_summary(sample, audience="external", report="contract-monitoring")
    path = tmp_path_factory.mktemp("external") / "summary.json"
    summary.write(path)
    return summary, path


def group_entries(timeliness: dict):
    """(breakdown, group, entry) for every group entry of a timeliness section."""
    yield "overall", "overall", timeliness["overall"]
    for key, groups in timeliness.items():
        if key.startswith("by_"):
            for group, entry in groups.items():
                yield key, group, entry


class TestSampleSummary:
    def test_internal_figures_agree_with_the_compliance_tables(self, internal, sample, truth):
        timeliness = internal.data["timeliness"]
        assert set(timeliness) == {"overall", "by_band", "by_team", "by_trigger", "by_ooh_sub_band",
                                   "by_lone_worker", "by_quarter"}
        assert timeliness["overall"]["n"] == truth["rows_analysed"]
        teams = compliance_table(sample.episodes, "team").set_index("team")
        for team, entry in timeliness["by_team"].items():
            assert entry["n"] == teams.loc[team, "n"]
            assert entry["within_target"] == teams.loc[team, "within_target"]
        assert sum(e["n"] for e in timeliness["by_band"].values()) == timeliness["overall"]["n"]
        assert set(timeliness["by_trigger"]) == set(truth["triggers"])
        assert timeliness["by_team"][truth["small_team"]]["n"] == truth["small_team_episodes"]

    def test_internal_data_quality_matches_the_planted_defects(self, internal, truth):
        quality = internal.data["data_quality"]
        for key in ("rows_read", "rows_analysed", "rows_excluded", "excluded_by_reason", "warnings"):
            assert quality[key] == truth[key], key
        assert set(quality["first_rows"]["excluded"]) == set(truth["excluded_by_reason"])

    def test_small_team_is_suppressed_in_external_summary_json(self, external, truth):
        summary = strict_json(external[1])
        entry = summary["timeliness"]["by_team"][truth["small_team"]]
        assert entry["n"] == "*" and entry["within_target"] == "[c]"
        assert entry["within_target_pct"] is None and entry["ci95_pct"] == [None, None]
        assert entry["median_delay_minutes"] is None and entry["p90_delay_minutes"] is None
        assert summary["report"] == "contract-monitoring" and summary["audience"] == "external"

    def test_external_group_entries_never_show_a_count_from_1_to_7(self, external, internal):
        shown = strict_json(external[1])["timeliness"]
        truth_entries = {(k, g): e for k, g, e in group_entries(internal.data["timeliness"])}
        checked = 0
        for key, group, entry in group_entries(shown):
            assert set(entry) == {"n", "within_target", "within_target_pct", "ci95_pct", "not_escalated",
                                  "median_delay_minutes", "p90_delay_minutes"}, (key, group)
            for count in ("n", "within_target", "not_escalated"):
                value = entry[count]
                assert value in MARKS or (isinstance(value, int) and not 1 <= value <= THRESHOLD), (key, group, count)
            if {entry["n"], entry["within_target"]} & set(MARKS):
                assert entry["within_target_pct"] is None and entry["ci95_pct"] == [None, None], (key, group)
            real = truth_entries[(key, group)]
            if 1 <= real["n"] <= THRESHOLD:
                assert entry["n"] == "*", (key, group)
            escalated = real["n"] - real["not_escalated"]
            if 1 <= escalated <= THRESHOLD:
                assert entry["median_delay_minutes"] is None and entry["p90_delay_minutes"] is None, (key, group)
            if entry["n"] not in MARKS:  # rounded to 5, and the rate calculated from the rounded counts
                assert entry["n"] == NHS_ROUNDED.round(real["n"]), (key, group)
                if entry["within_target"] not in MARKS:
                    assert entry["within_target"] == NHS_ROUNDED.round(real["within_target"]), (key, group)
                    assert entry["within_target_pct"] == round(100 * entry["within_target"] / entry["n"], 1)
            checked += 1
        assert checked == len(truth_entries)

    def test_external_timeliness_tables_hide_small_counts(self, external):
        summary, _ = external
        tables = {k: v for k, v in summary.tables.items() if k.startswith("timeliness_")}
        assert "timeliness_by_team" in tables and "timeliness_by_ethnicity" in tables
        for name, table in tables.items():
            assert "escalated_late" not in table.columns and "escalated" not in table.columns, name
            for column in ("n", "within_target", "not_within_target", "not_escalated"):
                numbers = pd.to_numeric(table[column].where(~table[column].isin(MARKS)), errors="raise")
                assert not numbers.between(1, THRESHOLD).any(), (name, column)

    def test_external_summary_carries_no_row_numbers_or_references(self, external):
        summary, path = external
        quality = strict_json(path)["data_quality"]
        assert "first_rows" not in quality and "unknown_values" not in quality
        # each rounded to the nearest 5, so they add up to within the rounding
        assert abs(quality["rows_read"] - quality["rows_analysed"] - quality["rows_excluded"]) <= 6
        assert {"excluded_rows", "warnings", "learning_actions"}.isdisjoint(summary.tables)
        written = path.read_text(encoding="utf-8")
        written += "".join(p.read_text(encoding="utf-8") for p in (path.parent / "tables").glob("*.csv"))
        assert not SAMPLE_REF.search(written)
        assert "first_rows" not in written

    def test_internal_summary_does_list_row_numbers(self, internal):
        # The counterpart of the test above: the check for references can fail.
        assert "first_rows" in internal.data["data_quality"]
        assert SAMPLE_REF.search(internal.tables["excluded_rows"].to_csv())

    def test_both_audiences_write_strict_json(self, internal, tmp_path):
        path = tmp_path / "summary.json"
        internal.write(path)
        data = strict_json(path)
        assert data["timeliness"]["overall"]["n"] == internal.data["timeliness"]["overall"]["n"]
        assert json.dumps(data, allow_nan=False)

    def test_external_near_miss_and_learning_counts_are_suppressed_when_small(self, external):
        data = strict_json(external[1])
        for section in ("near_misses", "learning_actions"):
            for key, value in data[section].items():
                assert value in MARKS or (isinstance(value, int) and not 1 <= value <= THRESHOLD), (section, key)


# ---------------------------------------------------------------------------------------------
# Vectorisation guard

ROW_LIMIT = 250
"""A frame longer than this is treated as episodes: no per-row Python over it."""


def _episode_like(obj) -> bool:
    if len(obj) > ROW_LIMIT:
        return True
    return isinstance(obj, pd.DataFrame) and bool({"incident_id", "risk_identified_at"} & set(obj.columns))


def test_analysis_of_the_sample_never_loops_over_episodes(monkeypatch, truth):
    """analyse + build_summary + every grouping of compliance_table, with per-row Python banned.

    ``DataFrame.iterrows``/``itertuples``, ``DataFrame.apply`` along rows, ``Series.apply`` and
    ``Series.map`` with a Python function raise when called on episodes (or any frame longer
    than :data:`ROW_LIMIT`); on small group tables they are allowed.
    """
    calls: list[str] = []

    def guard(cls, name):
        original = getattr(cls, name)

        def guarded(self, *args, **kwargs):
            per_row = True
            if name == "apply" and cls is pd.DataFrame:
                per_row = kwargs.get("axis", args[1] if len(args) > 1 else 0) in (1, "columns")
            if name == "map":
                per_row = callable(args[0] if args else kwargs.get("arg"))
            if per_row and _episode_like(self):
                raise AssertionError(f"{cls.__name__}.{name} over {len(self)} rows")
            calls.append(f"{cls.__name__}.{name}")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, guarded)

    for cls, name in ((pd.DataFrame, "iterrows"), (pd.DataFrame, "itertuples"), (pd.DataFrame, "apply"),
                      (pd.Series, "apply"), (pd.Series, "map")):
        guard(cls, name)

    analysis = analyse(
        SAMPLE / "incidents.csv", SAMPLE / "mapping.yaml", SAMPLE / "pathway.yaml",
        truth["period"]["start"], truth["period"]["end"],
        steps=SAMPLE / "steps.csv", actions=SAMPLE / "learning_actions.csv", training=SAMPLE / "training.csv",
        key=TEST_KEY,
    )
    for audience in ("internal", "external"):
        build_summary(analysis, audience=audience)
    for key in GROUPINGS:
        compliance_table(analysis.episodes, key)
    compliance_table(analysis.episodes, ["team", "quarter"])

    # The guard is live: the same call on the episodes trips it.
    assert len(analysis.episodes) == truth["rows_analysed"]
    with pytest.raises(AssertionError, match="iterrows"):
        next(analysis.episodes.iterrows())
    with pytest.raises(AssertionError, match="apply"):
        analysis.episodes["delay_minutes"].apply(math.isnan)
