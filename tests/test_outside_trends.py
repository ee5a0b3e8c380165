"""Outside readers' monthly trends never hide the months that matter.

A month whose outcome is withheld (1 to 7 within target of 40 episodes, or 1 to 7 episodes with
no escalation recorded) is exactly the month a commissioner must see. Leaving it out of an SPC
chart would draw the other months with a mean, limits and icons that never saw it: a team whose
timeliness collapsed would show "common cause". So such a KPI gets no chart, says why and which
months, and the front sheet shows its latest month as published.

The export here is the sample's Riverside CMHT alone (a one-team provider) over 2025/26: its
within-target count falls to 1 to 7 of 40 in October and November 2025 (the planted collapse).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from foreign_exports import ISO_VENDOR, write_export

from escalation_analysis import reviews
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.reviews.disclosure import NHS_ROUNDED, plan_for, published
from escalation_analysis.reviews.front_sheet import review_mdc_summary
from escalation_analysis.reviews.review import Chart, Table, Text

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
COLLAPSE = ("Oct 2025", "Nov 2025")


@pytest.fixture(scope="module")
def riverside_year(tmp_path_factory):
    folder = tmp_path_factory.mktemp("riverside")
    written = write_export(dataclasses.replace(ISO_VENDOR, one_team="Riverside CMHT"), folder / "export.csv")
    return analyse(written.path, written.mapping_file(folder), SAMPLE / "pathway.yaml", "2025-04-01", "2026-03-31",
                   key=b"outside-trends-key")


def months_withheld_for_outcome(plan, table: str, numerator: str, denominator: str | None) -> list[str]:
    """The months whose outcome is a mark while the month itself is big enough to show."""
    frame = plan.table(table).frame
    marked = frame[numerator].map(lambda v: isinstance(v, str))
    if denominator is not None:
        marked &= frame[denominator].map(lambda v: not isinstance(v, str) and v is not None and v > 0)
    return [f"{pd.Timestamp(m + '-01'):%b %Y}" for m in frame.loc[marked, "month"]]


def test_the_collapse_months_are_withheld_as_the_plan_publishes_them(riverside_year):
    """The premise: October and November 2025 show 1 to 7 within target of a shown number of episodes."""
    plan = plan_for(riverside_year, NHS_ROUNDED)
    assert set(COLLAPSE) <= set(months_withheld_for_outcome(plan, "trend_by_month", "within_target", "n"))


def test_no_outside_kpi_is_charted_without_a_month_whose_outcome_is_withheld(riverside_year, sample_quarter):
    sources = {"compliance_pct": ("trend_by_month", "within_target", "n"),
               "imminent_risk_compliance_pct": ("trend_imminent_risk_by_month", "within_target", "n"),
               "out_of_hours_compliance_pct": ("trend_out_of_hours_by_month", "within_target", "n"),
               "not_escalated": ("trend_by_month", "not_escalated", None),
               "near_misses": ("trend_near_misses_by_month", "n", None)}
    for analysis in (riverside_year, sample_quarter):
        plan = plan_for(analysis, NHS_ROUNDED)
        trends = published.kpi_trends(plan, {})
        for kpi, (table, numerator, denominator) in sources.items():
            hidden = months_withheld_for_outcome(plan, table, numerator, denominator)
            if hidden:
                assert trends[kpi].result is None, kpi
                if len(hidden) <= 6:  # named, so a reader can find them in the tables
                    assert all(month in trends[kpi].reason for month in hidden), trends[kpi].reason
            else:
                assert trends[kpi].result is not None or "fewer than" in trends[kpi].reason, kpi


def test_the_sample_quarter_charts_within_target_but_not_the_episodes_with_no_escalation(sample_quarter):
    """The shipped sample: every month's within-target count is shown, so its chart stays; two
    months (September and November 2025) have 1 to 7 episodes with no escalation recorded."""
    mdc = review_mdc_summary(sample_quarter, "external")
    rows = mdc.table.set_index("kpi")
    assert mdc.chart_input("compliance_pct").result is not None
    assert mdc.chart_input("not_escalated").result is None
    assert "Sep 2025 and Nov 2025" in rows.loc["not_escalated", "note"]
    assert rows.loc["not_escalated", "month"] == pd.Timestamp("2025-12-01")
    assert rows.loc["not_escalated", "latest"] == 15  # December 2025, rounded to 5, as the plan publishes it
    assert pd.isna(rows.loc["not_escalated", "mean"]) and pd.isna(rows.loc["not_escalated", "variation"])


def test_a_one_team_contract_monitoring_report_shows_the_collapse_months_instead_of_hiding_them(riverside_year):
    review = reviews.build("contract-monitoring", riverside_year)
    parts = review.section("trends")
    titles = [p.options.get("title") for p in parts if isinstance(p, Chart)]
    assert "Escalations within target, by month" not in titles
    assert "Median delay to escalate, by month" in titles  # every month's median is shown: still charted
    said = " ".join(p.markdown for p in parts if isinstance(p, Text))
    assert "not charted by month" in said and all(month in said for month in COLLAPSE)
    months = next(p.frame for p in parts if isinstance(p, Table)).set_index("Month")
    assert len(months) == 24
    for month in COLLAPSE:  # there for the reader: a shown number of episodes, 1 to 7 within target
        assert months.loc[month, "Within target"] == "*" and months.loc[month, "Episodes"] == 40


def test_the_front_sheet_shows_each_uncharted_kpi_for_the_period_s_last_month(riverside_year):
    mdc = review_mdc_summary(riverside_year, "external")
    rows = mdc.table.set_index("kpi")
    compliance = rows.loc["compliance_pct"]
    assert compliance["month"] == pd.Timestamp("2026-03-01")
    assert compliance["latest"] == 75.0  # March 2026: 30 of 40 as published
    assert pd.isna(compliance["variation"]) and pd.isna(compliance["mean"])
    assert all(month in compliance["note"] for month in COLLAPSE)
    shown = mdc.for_display().set_index("KPI")
    assert shown.loc["Escalations within target", "Latest"] == "75.0%"
