"""Trends the NHS way: Making Data Count SPC over months, and funnel plots across teams.

Glue between prepared episodes and :mod:`~escalation_analysis.measures.spc` /
:mod:`~escalation_analysis.measures.funnels`: monthly compliance as a p-chart (limits per month, as
qicharts2), monthly median delay as an XmR chart, the monthly Kaplan-Meier median time to
escalate as an XmR chart, and a funnel of teams' compliance with overdispersion-adjusted 95%
and 99.8% limits. The charts over time take ``rebase_at``: dates of changes to the pathway
(``[c.date for c in pathway.changes]``), from which new limits start at the first month
beginning on or after each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .comparisons import time_to_escalate
from .control_charts import ControlChart, t_chart
from .funnels import FunnelResult, compute_funnel
from .spc import SPCResult, p_chart, rebase_points, xmr
from .statistics import kaplan_meier, median_time_to_escalate
from .timeliness import compliance_table


def monthly_counts(prepared: pd.DataFrame, team: str | None = None) -> pd.DataFrame:
    """Episodes, within target and median delay per calendar month (``month_start`` as a date).

    The month rows of :func:`~escalation_analysis.measures.timeliness.compliance_table`, the
    one table every figure of compliance comes from.
    """
    counted = prepared[["month", "within_target", "escalated", "delay_minutes"]]  # all the table reads
    frame = counted if team is None else counted[prepared["team"] == team]
    table = compliance_table(frame, "month").sort_values("month", ignore_index=True)
    table["month_start"] = pd.to_datetime(table["month"].astype("str") + "-01", format="%Y-%m-%d")
    return table[["month", "n", "within_target", "median_delay_minutes", "month_start", "within_target_pct"]]


def compliance_p_chart(
    prepared: pd.DataFrame, *, team: str | None = None, target_pct: float | None = None,
    rebase_at: Sequence | None = None,
) -> SPCResult:
    """Monthly share escalated within target as a p-chart (higher is better), in percent.

    The points' ``y``, ``mean`` and limits are proportions in [0, 1]; multiply by 100 to show
    percentages.
    """
    return monthly_p_chart(monthly_counts(prepared, team), target_pct=target_pct, rebase_at=rebase_at)


def monthly_p_chart(monthly: pd.DataFrame, *, target_pct: float | None = None,
                    rebase_at: Sequence | None = None) -> SPCResult:
    """:func:`compliance_p_chart` of the months already counted: ``within_target``, ``n`` and
    ``month_start`` of :func:`monthly_counts` (all the chart reads)."""
    return p_chart(
        "within_target", "n", "month_start", data=monthly, improvement="increase",
        target=None if target_pct is None else target_pct / 100,
        rebase=rebase_points(monthly["month_start"], rebase_at or []),
    )


def median_delay_xmr(
    prepared: pd.DataFrame, *, team: str | None = None, rebase_at: Sequence | None = None
) -> SPCResult:
    """Monthly median delay to escalate as an XmR chart (lower is better)."""
    monthly = monthly_counts(prepared, team).dropna(subset=["median_delay_minutes"])
    return xmr("median_delay_minutes", "month_start", data=monthly, improvement="decrease",
               rebase=rebase_points(monthly["month_start"], rebase_at or []))


def monthly_time_to_escalate(prepared: pd.DataFrame, as_of: dt.date, *, team: str | None = None) -> pd.DataFrame:
    """The Kaplan-Meier median time to escalate of each month's episodes.

    Episodes with no escalation recorded are censored at the end of follow-up (``as_of``,
    end of day), so a month in which more episodes go unescalated shows a longer median even
    when the escalations that happened were as quick as ever.

    Returns ``month``, ``month_start``, ``episodes``, ``escalated`` and ``median_minutes``
    (``inf`` when fewer than half the month's episodes were seen to escalate).
    """
    frame = prepared if team is None else prepared[prepared["team"] == team]
    if frame.empty:
        return pd.DataFrame(columns=["month", "month_start", "episodes", "escalated", "median_minutes"])
    durations, observed = time_to_escalate(frame, as_of)
    medians = median_time_to_escalate(kaplan_meier(durations, observed, groups=frame["month"].astype(str)))
    table = frame.groupby(frame["month"].astype(str), sort=True).agg(
        episodes=("escalated", "size"), escalated=("escalated", "sum")
    )
    table["median_minutes"] = medians.reindex(table.index).to_numpy()
    table = table.rename_axis("month").reset_index()
    table["month_start"] = pd.to_datetime(table["month"] + "-01")
    return table[["month", "month_start", "episodes", "escalated", "median_minutes"]]


def time_to_escalate_xmr(
    prepared: pd.DataFrame, as_of: dt.date, *, team: str | None = None, rebase_at: Sequence | None = None
) -> SPCResult:
    """Monthly Kaplan-Meier median time to escalate as an XmR chart (lower is better).

    Months whose median is not reached (fewer than half escalated) cannot be placed on the
    chart: they are left out with a warning naming them.
    """
    monthly = monthly_time_to_escalate(prepared, as_of, team=team)
    reached = np.isfinite(monthly["median_minutes"].to_numpy(dtype=float))
    chart = xmr("median_minutes", "month_start", data=monthly[reached], improvement="decrease",
                rebase=rebase_points(monthly.loc[reached, "month_start"], rebase_at or []))
    if not reached.all():
        months = ", ".join(pd.to_datetime(monthly.loc[~reached, "month_start"]).dt.strftime("%m/%Y"))
        chart.warnings.append(
            f"Fewer than half the episodes were escalated in {months}, so there is no median "
            "time to escalate to chart for that month: look at its episodes."
        )
    return chart


def days_between_unescalated(prepared: pd.DataFrame, *, team: str | None = None) -> pd.DataFrame:
    """Each episode with no escalation recorded, and the days since the one before it.

    Returns ``risk_identified_at`` (of the later episode), ``month`` and ``days_since_previous``
    (the first such episode has no gap and is left out). Times are recorded to the minute, so
    two such episodes in the same minute are counted one minute apart (and the later one placed
    a minute later): a t chart needs gaps above zero and one point per time.
    """
    frame = prepared if team is None else prepared[prepared["team"] == team]
    events = frame.loc[~frame["escalated"].astype(bool), ["risk_identified_at", "month"]]
    events = events.sort_values("risk_identified_at", kind="stable").reset_index(drop=True)
    minutes = np.maximum(events["risk_identified_at"].diff().dt.total_seconds().to_numpy() / 60, 1.0)
    # an episode in the same minute as the one before is placed a minute after it
    first = events["risk_identified_at"].iloc[:1]
    steps = pd.to_timedelta(np.nan_to_num(minutes, nan=0.0).cumsum(), unit="min")
    events["risk_identified_at"] = first.iloc[0] + steps if len(first) else events["risk_identified_at"]
    gaps = events.assign(days_since_previous=minutes / (24 * 60)).iloc[1:]
    return gaps.reset_index(drop=True)


def unescalated_t_chart(
    prepared: pd.DataFrame, *, team: str | None = None, rebase_at: Sequence | None = None,
    in_order: bool = False,
) -> ControlChart:
    """A t chart of the days between episodes with no escalation recorded (longer is better).

    Such episodes are rare, so a monthly count is mostly zeros and ones; the time between them
    shows a change sooner (qicharts2's t chart: an I chart of days^(1/3.6)). A point below the
    lower limit, or a run of short gaps, means they are coming more often. ``in_order`` puts
    the points at 1, 2, 3 ... instead of on their episodes' dates (for outside readers: a date
    per point would say how many such episodes each month had).
    """
    gaps = days_between_unescalated(prepared, team=team)
    if len(gaps) < 2:
        raise ValueError("A t chart needs at least three episodes with no escalation recorded.")
    positions = unescalated_positions(prepared, rebase_at or [], team=team)
    rebase = sorted({p - 1 for p in positions if p is not None and p > 1})
    x = np.arange(1, len(gaps) + 1) if in_order else gaps["risk_identified_at"].dt.tz_localize(None)
    return t_chart(gaps["days_since_previous"].to_numpy(), x, rebase=rebase)


def unescalated_positions(prepared: pd.DataFrame, dates: Sequence, *, team: str | None = None) -> list[int | None]:
    """For each date, the position (from 1) on :func:`unescalated_t_chart` of the first point on
    or after it, or None when the date is after the last point."""
    gaps = days_between_unescalated(prepared, team=team)
    when = pd.DatetimeIndex(gaps["risk_identified_at"].dt.tz_localize(None))
    found = when.searchsorted(pd.DatetimeIndex(pd.to_datetime(pd.Series(list(dates), dtype=object))))
    return [int(i) + 1 if i < len(when) else None for i in found]


MIN_UNITS_FOR_OVERDISPERSION = 10


def team_funnel(
    prepared: pd.DataFrame, *, quarter: str | None = None, min_episodes: int = 5, overdispersion: str | None = "auto"
) -> FunnelResult:
    """Teams' compliance on a funnel plot (pooled proportion as the centre line).

    ``quarter`` (e.g. ``"2025/26 Q3"``) restricts to one NHS quarter. Teams with fewer than
    ``min_episodes`` are left out (their proportion is too unstable to place); "Not recorded"
    is never a team.

    Overdispersion (Spiegelhalter 2005) is estimated from the spread of the teams themselves,
    so with a handful of teams one outlying team inflates the estimate and hides itself. With
    ``"auto"`` the additive adjustment is used only from
    :data:`MIN_UNITS_FOR_OVERDISPERSION` teams up, and the plain limits below that.
    """
    frame = prepared if quarter is None else prepared[prepared["quarter"] == quarter]
    frame = frame[frame["team"] != "Not recorded"]
    table = frame.groupby("team", sort=True).agg(n=("within_target", "size"), within_target=("within_target", "sum"))
    table = table[table["n"] >= min_episodes].reset_index()
    table["within_target"] = table["within_target"].astype("int64")
    if overdispersion == "auto":
        overdispersion = "additive" if len(table) >= MIN_UNITS_FOR_OVERDISPERSION else None
    result = compute_funnel(table, "within_target", "n", "team", overdispersion=overdispersion)
    if overdispersion is None and len(table) < MIN_UNITS_FOR_OVERDISPERSION:
        result.warnings.append(
            f"With {len(table)} teams, overdispersion cannot be estimated reliably, so the limits "
            "allow for chance variation only."
        )
    return result


def lowest_team(prepared: pd.DataFrame, min_episodes: int = 20) -> str:
    """The team with the lowest share within target among teams with enough episodes."""
    frame = prepared[prepared["team"] != "Not recorded"]
    table = frame.groupby("team").agg(n=("within_target", "size"), share=("within_target", "mean"))
    table = table[table["n"] >= min_episodes]
    if table.empty:
        return ""
    return str(table["share"].idxmin())
