"""The statistical charts in the reviews: the case-mix funnel, the t chart of episodes with no
escalation, the Kaplan-Meier median over time, and the pathway's changes on every trend."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from escalation_analysis import reviews
from escalation_analysis.reviews import charts
from escalation_analysis.reviews.review import Chart

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
TRENDS = (charts.spc_chart, charts.control_chart, charts.trend_line)


@pytest.fixture
def built(sample_reviews) -> dict[str, reviews.Review]:
    """The session's reviews of 2025/26 Q3 of the sample (tests/conftest.py), supervision for Riverside CMHT."""
    return {kind: sample_reviews[kind] for kind in ("contract-monitoring", "near-miss-review", "supervision")}


def charts_in(review, section: str, draw) -> list[Chart]:
    return [part for part in review.section(section) if isinstance(part, Chart) and part.draw is draw]


def test_every_trend_marks_the_pathways_changes(built):
    for review in built.values():
        trends = [part for _, part in review.parts() if isinstance(part, Chart) and part.draw in TRENDS]
        assert trends, review.kind
        for chart in trends:
            figure = chart.figure()
            labels = [a.text for a in figure.layout.annotations if a.name == "change"]
            assert labels == ["01/10/2025: Riverside CMHT moves to a new base"], (review.kind, chart.options.get("title"))


def test_the_near_miss_review_compares_teams_for_their_case_mix(built, truth):
    funnels = charts_in(built["near-miss-review"], "teams", charts.funnel_plot)
    ratio = [chart for chart in funnels if chart.inputs[0].statistic == "ratio"]
    assert len(funnels) == 2 and len(ratio) == 1
    units = ratio[0].inputs[0].units.set_index("unit")
    assert truth["deteriorating_team"] in units.index
    assert "Observed / expected" in charts.text_equivalent(ratio[0].figure()).table.columns


def test_the_near_miss_review_charts_the_kaplan_meier_median_by_month(built):
    [chart] = [c for c in charts_in(built["near-miss-review"], "delays", charts.spc_chart)]
    assert chart.inputs[0].improvement_direction == "decrease"
    assert "Kaplan-Meier" in chart.options["y_title"]


def test_contract_monitoring_leaves_out_the_t_chart_when_counts_are_rounded(built):
    # one point per episode would print the exact count the report rounds to the nearest 5
    assert charts_in(built["contract-monitoring"], "trends", charts.control_chart) == []
    assert any("not charted here" in getattr(part, "markdown", "") for part in built["contract-monitoring"].section("trends"))


def test_contract_monitoring_has_the_t_chart_with_no_dates_and_no_counts():
    exact = reviews.open("contract-monitoring", SAMPLE, "2025-10-01", "2025-12-31", disclosure="exact-secondary")
    [chart] = charts_in(exact, "trends", charts.control_chart)
    points = chart.inputs[0].points
    assert chart.inputs[0].chart == "t"
    assert points["x"].tolist() == list(range(1, len(points) + 1))  # in order, not on dates
    figure = chart.figure()
    hover = " ".join(text for trace in figure.data if trace.hovertext for text in trace.hovertext)
    assert not re.search(r"\b20\d\d\b", hover) and " of " not in hover
    assert [shape.x0 for shape in figure.layout.shapes if shape.name == "change"] == [
        next(c for c in chart.options["changes"])[0]]
