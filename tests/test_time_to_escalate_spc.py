"""Time to escalate on SPC: the monthly Kaplan-Meier median with XmR limits."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from escalation_analysis.measures import trends
from escalation_analysis.measures.statistics import kaplan_meier, median_time_to_escalate

Q3_MONTHS = ["2025-10", "2025-11", "2025-12"]


def episodes(months: int, per_month: int, not_escalated: list[list[int]]) -> pd.DataFrame:
    """Episodes whose escalations take the same 30-120 minutes every month; ``not_escalated``
    lists, for each month, which of its episodes have no escalation recorded."""
    rows = []
    for m in range(months):
        start = pd.Timestamp("2025-04-01", tz="Europe/London") + pd.DateOffset(months=m)
        delays = np.linspace(30, 120, per_month)
        escalated = ~np.isin(np.arange(per_month), not_escalated[m])
        rows.append(pd.DataFrame({
            "team": "A", "month": f"{start:%Y-%m}", "risk_identified_at": start + pd.Timedelta(hours=1),
            "escalated": escalated, "delay_minutes": np.where(escalated, delays, np.nan),
        }))
    return pd.concat(rows, ignore_index=True)


def test_the_median_is_kaplan_meiers_for_each_month(sample):
    as_of = sample.as_of
    monthly = trends.monthly_time_to_escalate(sample.history, as_of).set_index("month")
    one = sample.history[sample.history["month"] == "2025-06"]
    end = (pd.Timestamp(as_of) + pd.Timedelta(days=1)).tz_localize(one["risk_identified_at"].dt.tz)
    follow_up = (end - one["risk_identified_at"]).dt.total_seconds() / 60
    durations = np.where(one["escalated"], one["delay_minutes"], follow_up)
    expected = median_time_to_escalate(kaplan_meier(durations, one["escalated"])).iloc[0]
    assert monthly.loc["2025-06", "median_minutes"] == expected
    assert monthly.loc["2025-06", "episodes"] == len(one)


def test_the_planted_slow_quarter_is_a_special_cause_of_concern(sample, truth):
    chart = trends.time_to_escalate_xmr(sample.history, sample.as_of, team=truth["deteriorating_team"])
    points = chart.points.set_index(chart.points["x"].dt.strftime("%Y-%m"))
    assert (points.loc[Q3_MONTHS, "point_type"] == "special_cause_concern").all()
    assert (points.drop(index=Q3_MONTHS)["point_type"] != "special_cause_concern").all()
    assert chart.improvement_direction == "decrease"


def test_a_service_that_stops_escalating_shows_though_the_escalations_are_as_quick():
    # 20 episodes a month for 18 months; from month 13 six go unescalated, taken evenly from
    # both ends so that the median of the recorded delays stays exactly where it was
    frame = episodes(18, 20, [[]] * 12 + [[0, 19, 3, 16, 6, 13]] * 6)
    as_of = dt.date(2026, 12, 31)
    plain = trends.median_delay_xmr(frame.assign(within_target=True))
    km = trends.time_to_escalate_xmr(frame, as_of)
    assert not plain.points["special_cause_flag"].any()  # recorded delays never change
    assert (km.points["y"].iloc[12:] > km.points["y"].iloc[:12].max()).all()
    assert (km.points["point_type"].iloc[12:] == "special_cause_concern").all()


def test_a_month_without_a_median_is_named_not_drawn():
    frame = episodes(14, 10, [[]] * 13 + [[0, 1, 2, 3, 4, 5]])
    chart = trends.time_to_escalate_xmr(frame, dt.date(2026, 12, 31))
    assert len(chart.points) == 13
    assert any("05/2026" in warning for warning in chart.warnings)


def test_days_between_episodes_with_no_escalation():
    times = pd.to_datetime(["2025-04-01 10:00", "2025-04-03 10:00", "2025-04-03 10:00",
                            "2025-04-10 22:00", "2025-04-20 10:00"]).tz_localize("Europe/London")
    frame = pd.DataFrame({"team": "A", "risk_identified_at": times, "month": "2025-04",
                          "escalated": [False, False, False, True, False]})
    gaps = trends.days_between_unescalated(frame)
    # the escalated episode is not an event; the same minute counts as one minute apart
    assert gaps["days_since_previous"].tolist() == pytest.approx([2.0, 1 / 1440, 17.0])
    chart = trends.unescalated_t_chart(frame)
    assert chart.chart == "t" and len(chart.points) == 3


def test_episodes_with_no_escalation_coming_more_often_fall_below_the_t_chart(sample):
    history = sample.history
    late = history["risk_identified_at"] >= pd.Timestamp("2026-02-01", tz="Europe/London")
    burst = history.loc[late].index[::3]  # every third episode from February 2026 unescalated
    frame = history.assign(escalated=history["escalated"] & ~history.index.isin(burst))
    chart = trends.unescalated_t_chart(frame)
    points = chart.points.set_index("x")
    recent = points.loc[points.index >= pd.Timestamp("2026-02-01")]
    assert recent["runs_signal"].all()  # Anhøj: a long run of short gaps
    assert (recent["y"] < recent["cl"]).mean() > 0.9
    assert not trends.unescalated_t_chart(history).points["runs_signal"].any()  # as shipped: none
