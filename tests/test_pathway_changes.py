"""Changes to the pathway: marked on every chart over time, and the start of new SPC limits."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

from escalation_analysis.ingest.pathway import PathwayChange
from escalation_analysis.measures import control_charts, spc, trends
from escalation_analysis.reviews import charts

MONTHS = pd.date_range("2025-04-01", periods=12, freq="MS")
CHANGES = [PathwayChange(date=dt.date(2025, 9, 1), text="New on-call rota"),
           PathwayChange(date=dt.date(2024, 1, 1), text="Before the chart"),
           PathwayChange(date=dt.date(2026, 6, 1), text="After the chart")]


def change_labels(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations if a.name == "change"]


class TestChartsMarkChanges:
    def test_spc_chart_marks_the_change_inside_its_months_only(self):
        fig = charts.spc_chart(spc.xmr(list(range(12)), MONTHS), "Title", "Value", changes=CHANGES)
        assert change_labels(fig) == ["01/09/2025: New on-call rota"]
        assert [shape.x0 for shape in fig.layout.shapes if shape.name == "change"] == [pd.Timestamp("2025-09-01")]
        summary = charts.text_equivalent(fig).summary
        assert summary.endswith("pathway change marked: 01/09/2025: New on-call rota.")
        assert summary.count(". ") == 0  # still one sentence

    def test_control_chart_and_trend_line_mark_it_too(self):
        counts = [3, 4, 5, 3, 4, 5, 6, 5, 4, 3, 4, 5]
        fig = charts.control_chart(control_charts.c_chart(counts, MONTHS), "Title", "Count",
                                   changes=[(dt.date(2025, 9, 1), "New on-call rota")])
        assert change_labels(fig) == ["01/09/2025: New on-call rota"]
        monthly = pd.DataFrame({"month": MONTHS.strftime("%Y-%m"), "value": counts})
        fig = charts.trend_line(monthly, "month", "value", title="Title", y_title="Value", changes=CHANGES)
        assert change_labels(fig) == ["01/09/2025: New on-call rota"]

    def test_a_quarterly_trend_marks_the_quarter_of_the_change(self):
        quarters = pd.DataFrame({"quarter": ["2025/26 Q1", "2025/26 Q2", "2025/26 Q3"], "ratio": [1.0, 1.2, 0.9]})
        fig = charts.trend_line(quarters, "quarter", "ratio", title="Title", y_title="Ratio", changes=CHANGES)
        assert [shape.x0 for shape in fig.layout.shapes if shape.name == "change"] == ["2025/26 Q2"]

    def test_no_changes_no_marks(self):
        fig = charts.spc_chart(spc.xmr(list(range(12)), MONTHS), "Title", "Value")
        assert change_labels(fig) == [] and "pathway change" not in charts.text_equivalent(fig).summary

    def test_text_from_the_pathway_is_escaped(self):
        fig = charts.spc_chart(spc.xmr(list(range(12)), MONTHS), "Title", "Value",
                               changes=[(dt.date(2025, 9, 1), "<b>rota</b>")])
        assert change_labels(fig) == ["01/09/2025: &lt;b&gt;rota&lt;/b&gt;"]


class TestChangesStartNewLimits:
    def test_the_first_month_on_or_after_each_change(self):
        points = spc.rebase_points(MONTHS, [dt.date(2025, 9, 15), "2025-11-01", dt.date(2024, 1, 1),
                                            dt.date(2025, 4, 1), dt.date(2027, 1, 1)])
        assert points == [pd.Timestamp("2025-10-01"), pd.Timestamp("2025-11-01")]

    def test_trend_charts_rebase_at_the_pathways_changes(self, sample, truth):
        team = truth["deteriorating_team"]
        changes = [c.date for c in sample.pathway.changes]
        assert changes == [dt.date(2025, 10, 1)]  # the shipped example: the team moves base
        chart = trends.compliance_p_chart(sample.history, team=team, rebase_at=changes)
        groups = chart.points.set_index(chart.points["x"].dt.strftime("%Y-%m"))["rebase_group"]
        assert groups["2025-09"] == 0 and groups["2025-10"] == 1
        whole = trends.compliance_p_chart(sample.history, team=team)
        assert (whole.points["rebase_group"] == 0).all()
        assert chart.points["mean"].iloc[0] > whole.points["mean"].iloc[0]  # before the move


def test_points_in_order_hide_their_dates_and_still_mark_changes(sample):
    changes = [c.date for c in sample.pathway.changes]
    chart = trends.unescalated_t_chart(sample.history, in_order=True)
    [position] = trends.unescalated_positions(sample.history, changes)
    gaps = trends.days_between_unescalated(sample.history)
    assert gaps["risk_identified_at"].iloc[position - 1] >= pd.Timestamp(changes[0], tz="Europe/London")
    assert gaps["risk_identified_at"].iloc[position - 2] < pd.Timestamp(changes[0], tz="Europe/London")
    fig = charts.control_chart(chart, "Days between", "Days",
                               changes=[(position, "01/10/2025: Riverside CMHT moves to a new base")])
    data = next(trace for trace in fig.data if trace.name == "Data")
    assert list(data.x) == list(range(1, len(gaps) + 1))
    assert not any(re.search(r"\b20[0-9]{2}\b|Jan|Apr|Oct", text) for text in data.hovertext)  # no dates
    assert [shape.x0 for shape in fig.layout.shapes if shape.name == "change"] == [position]
    assert charts.text_equivalent(fig).summary.endswith("01/10/2025: Riverside CMHT moves to a new base.")
