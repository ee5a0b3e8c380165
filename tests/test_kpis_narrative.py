"""KPIs against targets and the previous period, report wording, reader-facing labels."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from escalation_analysis.ingest.pathway import Pathway
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.reviews import kpis, labels, narrative
from escalation_analysis.reviews.disclosure import NHS_ROUNDED, plan_for

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def with_targets(pathway: Pathway, **targets: float) -> Pathway:
    """The pathway with exactly these KPI targets (as its file would give them)."""
    return Pathway.model_validate({**pathway.model_dump(), "kpi_targets": targets})


@pytest.fixture(scope="module")
def quarter():
    """2025/26 Q3 of the sample, with every log."""
    return analyse(
        SAMPLE / "incidents.csv", SAMPLE / "mapping.yaml", SAMPLE / "pathway.yaml", "2025-10-01", "2025-12-31",
        steps=SAMPLE / "steps.csv", actions=SAMPLE / "learning_actions.csv", training=SAMPLE / "training.csv",
        key=b"kpi-test-key",
    )


class TestPreviousPeriod:
    def test_a_quarter_is_compared_with_the_quarter_before(self):
        assert kpis.previous_period(dt.date(2025, 10, 1), dt.date(2025, 12, 31)) == (
            dt.date(2025, 7, 1), dt.date(2025, 9, 30))

    def test_whole_months_compare_with_the_same_months_before(self):
        assert kpis.previous_period(dt.date(2025, 3, 1), dt.date(2025, 3, 31)) == (
            dt.date(2025, 2, 1), dt.date(2025, 2, 28))
        assert kpis.previous_period(dt.date(2025, 4, 1), dt.date(2026, 3, 31)) == (
            dt.date(2024, 4, 1), dt.date(2025, 3, 31))

    def test_other_periods_compare_with_the_same_number_of_days_before(self):
        start, end = kpis.previous_period(dt.date(2025, 3, 10), dt.date(2025, 3, 23))
        assert (start, end) == (dt.date(2025, 2, 24), dt.date(2025, 3, 9))


class TestKpiTable:
    def test_compliance_is_within_target_over_all_episodes(self, quarter):
        table = kpis.kpi_table(quarter).set_index("kpi")
        episodes = quarter.episodes
        expected = 100 * episodes["within_target"].sum() / len(episodes)
        assert table.loc["compliance_pct", "this_period"] == pytest.approx(expected)

    def test_change_is_this_period_minus_previous(self, quarter):
        table = kpis.kpi_table(quarter).set_index("kpi")
        row = table.loc["compliance_pct"]
        assert row["change"] == pytest.approx(row["this_period"] - row["previous_period"])

    def test_the_deteriorating_quarter_misses_the_pathways_90_percent_target(self, quarter):
        table = kpis.kpi_table(quarter).set_index("kpi")
        assert table.loc["compliance_pct", "target"] == 90
        assert not table.loc["compliance_pct", "target_met"]
        assert table.loc["compliance_pct", "target_source"] == "Contract schedule 2, KPI 1 (example)"

    def test_lower_is_better_for_overdue_actions(self, quarter, monkeypatch):
        monkeypatch.setattr(quarter, "pathway", with_targets(quarter.pathway, overdue_actions=10_000))
        table = kpis.kpi_table(quarter).set_index("kpi")
        assert table.loc["overdue_actions", "target_met"] == True

    def test_targets_are_the_pathways_and_a_kpi_without_one_is_not_judged(self, quarter, monkeypatch):
        monkeypatch.setattr(quarter, "pathway", with_targets(quarter.pathway, compliance_pct=50))
        table = kpis.kpi_table(quarter).set_index("kpi")
        assert table.loc["compliance_pct", "target"] == 50 and table.loc["compliance_pct", "target_met"] == True
        assert table.loc["compliance_pct", "target_source"] == "Pathway file, version 2.1 (example)"
        for kpi in ("imminent_risk_compliance_pct", "overdue_actions", "median_delay_minutes"):
            assert pd.isna(table.loc[kpi, "target"]) and pd.isna(table.loc[kpi, "target_met"])

    def test_external_table_shows_the_published_figures(self, quarter):
        table = kpis.kpi_table(quarter, policy=NHS_ROUNDED).set_index("kpi")
        counts = table.loc[["not_escalated", "near_misses", "overdue_actions"], ["this_period", "previous_period"]]
        shown = [float(v) for v in counts.to_numpy().ravel() if v not in ("*", "[c]")]
        assert shown and not any(1 <= v <= 7 for v in shown) and all(v % 5 == 0 for v in shown)
        raw = kpis.kpi_table(quarter).set_index("kpi")
        small = [(k, c) for k in counts.index for c in counts.columns if 1 <= raw.loc[k, c] <= 7]
        assert all(table.loc[k, c] == "*" for k, c in small)
        plan = plan_for(quarter, NHS_ROUNDED)
        overall = plan.table("timeliness_overall").frame.iloc[0]
        assert table.loc["compliance_pct", "this_period"] == overall["within_target_pct"]  # the tables' own figure


class TestNarrative:
    def test_period_text_is_uk_order(self):
        assert narrative.period_text(dt.date(2025, 10, 1), dt.date(2025, 12, 31)) == "1 October to 31 December 2025"
        assert narrative.period_text(dt.date(2025, 4, 1), dt.date(2026, 3, 31)) == "1 April 2025 to 31 March 2026"

    def test_headline_gives_episodes_and_compliance(self, quarter):
        text = narrative.headline(quarter)
        n = len(quarter.episodes)
        pct = round(100 * quarter.episodes["within_target"].mean())
        assert f"**{n:,}**" in text and f"**{pct}%**" in text

    def test_external_headline_never_states_a_small_count(self, quarter, monkeypatch):
        # every episode of the quarter escalated but three (in the whole export, so every table agrees)
        every = quarter.all_episodes.copy()
        inside = every["incident_id"].isin(quarter.episodes["incident_id"]).to_numpy()
        every.loc[inside, "escalated"] = True
        three = every.index[inside][:3]
        every.loc[three, "escalated"] = False
        every.loc[three, "within_target"] = False
        every.loc[three, "delay_minutes"] = float("nan")
        fewer = dataclasses.replace(quarter, all_episodes=every, episodes=every[inside].reset_index(drop=True))
        assert "fewer than 8 had no escalation" in narrative.headline(fewer, external=True).lower()
        assert "3 had no escalation" in narrative.headline(fewer).replace("\\", "")

    def test_data_quality_counts_add_up(self, quarter):
        table = narrative.data_quality_table(quarter)
        excluded = table[table["Rows"] == "Excluded"]["Number"].sum()
        assert excluded == quarter.accounting.rows_excluded


class TestLabels:
    def test_canonical_words_become_plain_english(self):
        table = pd.DataFrame({"ooh_sub_band": ["weekday_evening_night", "bank_holiday"], "n": [3, 4]})
        readable = labels.for_readers(table)
        assert list(readable.columns) == ["When", "Episodes"]
        assert readable["When"].tolist() == ["Weekday evening or night", "Bank holiday"]

    def test_interval_in_one_column_and_suppressed_values_kept(self):
        table = pd.DataFrame({
            "team": ["A", "B"], "n": [40, "*"], "within_target": [30, "*"], "within_target_pct": [75.0, None],
            "ci95_low_pct": [59.8, None], "ci95_high_pct": [85.8, None], "not_escalated": [2, "*"],
            "median_delay_minutes": [30.0, None],
        })
        readable = labels.timeliness_for_readers(table, "team")
        assert readable["95% CI"].tolist() == ["60–86%", ""]
        assert readable["Episodes"].tolist() == [40, "*"]
