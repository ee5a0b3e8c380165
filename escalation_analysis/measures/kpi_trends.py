"""Each KPI month by month as a Making Data Count SPC chart, for the summary table and charts.

The front sheet's Making Data Count table and the trend charts must never disagree (the
commonest complaint about SPC tools), so both take their SPC results from here: one
:class:`KpiTrend` per KPI, computed once. Compliance KPIs are p-charts of the monthly share
within target (:func:`~escalation_analysis.measures.trends.compliance_p_chart`, the function
the trend charts use); delays and counts are XmR charts of monthly values.

:func:`special_cause_groups` asks the same question of each team: whose monthly compliance
shows special-cause concern in the period, and since which month.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from .agencies import agency_responses
from .spc import SPCResult, p_chart, xmr
from .trends import compliance_p_chart, monthly_p_chart

Unit = Literal["percent", "minutes", "count"]

__all__ = ["IMPROVEMENT", "KPI_UNITS", "KpiTrend", "kpi_trends", "special_cause_groups"]

IMPROVEMENT: dict[str, str] = {
    "compliance_pct": "increase",
    "imminent_risk_compliance_pct": "increase",
    "out_of_hours_compliance_pct": "increase",
    "crisis_team_response_pct": "increase",
    "not_escalated": "decrease",
    "median_delay_minutes": "decrease",
    "p90_delay_minutes": "decrease",
    "near_misses": "increase",  # reporting near misses is what a safety culture wants
    "overdue_actions": "decrease",
}
"""Which way is better for each KPI (the SPC improvement direction)."""

KPI_UNITS: dict[str, Unit] = {
    key: "percent" if key.endswith("_pct") else "minutes" if key.endswith("_minutes") else "count"
    for key in IMPROVEMENT
}
"""Each KPI's unit: a percentage, minutes or a count."""

MIN_MONTHS = 2
"""An SPC chart needs at least this many months (limits from fewer than
:data:`~escalation_analysis.measures.spc.SHORT_GROUP_THRESHOLD` are trial limits)."""


@dataclass(frozen=True)
class KpiTrend:
    """One KPI by month.

    ``result`` is None when the KPI has no monthly series (overdue learning actions are a
    count on one day) or fewer than :data:`MIN_MONTHS` months; ``reason`` then says why.
    ``target`` is in the KPI's own unit (percent for percentages).
    """

    kpi: str
    result: SPCResult | None
    target: float | None
    unit: Unit
    reason: str = ""

    @property
    def scale(self) -> float:
        """Multiply the chart's values by this to get the KPI's unit (p-charts hold proportions)."""
        return 100.0 if self.result is not None and self.result.chart == "p" else 1.0


def _monthly(frame: pd.DataFrame, value: Callable[[pd.DataFrame], pd.Series]) -> pd.DataFrame:
    """One row per month present in ``frame``: ``month_start`` and ``value``."""
    grouped = value(frame).rename("value").reset_index()
    grouped["month_start"] = pd.to_datetime(grouped["month"].astype("str") + "-01")
    return grouped.sort_values("month_start", ignore_index=True)


def _count_by_month(history: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
    counts = mask.groupby(history["month"], observed=True).sum().astype("float64")
    return _monthly(history, lambda _: counts)


def _delay_by_month(history: pd.DataFrame, q: float) -> pd.DataFrame:
    escalated = history[history["escalated"] & history["delay_minutes"].notna()]
    return _monthly(escalated, lambda f: f.groupby("month", observed=True)["delay_minutes"].quantile(q))


def _xmr(monthly: pd.DataFrame, kpi: str, target: float | None) -> SPCResult:
    return xmr("value", "month_start", data=monthly, improvement=IMPROVEMENT[kpi], target=target)


def _crisis_response_chart(history: pd.DataFrame, steps: pd.DataFrame | None, target_minutes: float,
                           target_pct: float | None) -> SPCResult | None:
    if steps is not None and not steps.empty:
        # each agency's contacts and responses are matched on their own: the crisis team's steps give
        # its rows (with no crisis team step there are none, as in the table of every agency)
        steps = steps[steps["agency"] == "crisis_team"]
        if steps.empty:
            return None
    responses = agency_responses(history, steps)
    crisis = responses[(responses["agency"] == "crisis_team") & responses["response_minutes"].notna()]
    if crisis.empty:
        return None
    months = history[["incident_id", "month"]].drop_duplicates("incident_id").set_index("incident_id")["month"]
    crisis = crisis.assign(month=crisis["incident_id"].map(months),
                           within=crisis["response_minutes"] <= target_minutes)
    monthly = crisis.groupby("month", observed=True).agg(n=("within", "size"), within=("within", "sum"))
    monthly = monthly.reset_index()
    monthly["month_start"] = pd.to_datetime(monthly["month"].astype("str") + "-01")
    monthly = monthly.sort_values("month_start", ignore_index=True)
    if len(monthly) < MIN_MONTHS:
        return None
    return p_chart("within", "n", "month_start", data=monthly, improvement="increase",
                   target=None if target_pct is None else target_pct / 100)


def kpi_trends(
    history: pd.DataFrame,
    targets: Mapping[str, float | None],
    *,
    steps: pd.DataFrame | None = None,
    crisis_response_target_minutes: float | None = None,
) -> dict[str, KpiTrend]:
    """Every KPI's monthly SPC chart from the episodes up to the end of the period.

    Parameters
    ----------
    history
        Prepared episodes from the start of the export to the end of the period
        (``Analysis.history``).
    targets
        KPI -> target in the KPI's unit (percent for percentages), None for no target: the
        pathway's ``kpi_targets``.
    steps, crisis_response_target_minutes
        The step log and the crisis team's response target, for the crisis-team KPI (left out
        without a target, as in the KPI table).
    """
    trends: dict[str, KpiTrend] = {}

    def add(kpi: str, result: SPCResult | None, reason: str = "") -> None:
        if result is not None and len(result.points) < MIN_MONTHS:
            result, reason = None, f"fewer than {MIN_MONTHS} months of data"
        trends[kpi] = KpiTrend(kpi, result, targets.get(kpi), KPI_UNITS[kpi],
                               reason or ("" if result is not None else "no monthly series"))

    def share(kpi: str, subset: pd.DataFrame) -> None:
        if subset.empty:
            add(kpi, None, "no episodes")
            return
        add(kpi, compliance_p_chart(subset, target_pct=targets.get(kpi)))

    share("compliance_pct", history)
    share("imminent_risk_compliance_pct", history[history["trigger"] == "imminent_risk"])
    share("out_of_hours_compliance_pct", history[history["band"] == "out_of_hours"])
    add("not_escalated", _xmr(_count_by_month(history, ~history["escalated"]), "not_escalated",
                              targets.get("not_escalated")))
    for kpi, q in (("median_delay_minutes", 0.5), ("p90_delay_minutes", 0.9)):
        monthly = _delay_by_month(history, q)
        add(kpi, _xmr(monthly, kpi, targets.get(kpi)) if len(monthly) else None,
            "" if len(monthly) else "no escalations")
    add("near_misses", _xmr(_count_by_month(history, history["outcome"] == "near_miss"), "near_misses",
                            targets.get("near_misses")))
    if crisis_response_target_minutes is not None:
        add("crisis_team_response_pct",
            _crisis_response_chart(history, steps, crisis_response_target_minutes,
                                   targets.get("crisis_team_response_pct")),
            "no crisis team responses recorded by month")
    add("overdue_actions", None, "a count on the last day of the period, not a monthly series")
    return trends


def special_cause_groups(
    history: pd.DataFrame,
    start: dt.date,
    *,
    by: str = "team",
    target_pct: float | None = None,
    min_months: int = 6,
) -> pd.DataFrame:
    """Groups whose monthly compliance shows special-cause concern in the period, and since when.

    Each group's compliance p-chart (the chart the reports draw for a team) is read from
    ``start`` on: a group is listed when any month from ``start`` is special cause of concern.
    ``from_month`` is the first month of the unbroken run of concern that reaches the latest
    concerning month, so "since October 2025" reads off the chart.

    Returns
    -------
    DataFrame
        One row per group, worst latest share first: ``group``, ``from_month``,
        ``to_month`` (month starts), ``months`` (concerning months in the run), ``latest_pct``
        (the last concerning month's share), ``mean_pct`` (the chart's centre line),
        ``rule`` (the SPC rule that flagged the first month of the run).
    """
    columns = ["group", "from_month", "to_month", "months", "latest_pct", "mean_pct", "rule"]
    rows = []
    start_ts = pd.Timestamp(start)
    labels = history[by].astype("str")
    counted = _months_by_group(history, labels)
    for group in sorted(labels.dropna().unique()):
        if group == "Not recorded":
            continue
        if counted is None:
            subset = history[labels == group]
            if subset["month"].nunique() < min_months:
                continue
            points = compliance_p_chart(subset, target_pct=target_pct).points
        else:
            monthly = counted(group)
            if len(monthly) < min_months:
                continue
            points = monthly_p_chart(monthly, target_pct=target_pct).points
        concern = (points["point_type"] == "special_cause_concern").to_numpy()
        in_period = (pd.to_datetime(points["x"]) >= start_ts).to_numpy()
        flagged = np.flatnonzero(concern & in_period)
        if not len(flagged):
            continue
        last = int(flagged[-1])
        first = last
        while first > 0 and concern[first - 1]:
            first -= 1
        rows.append({
            "group": group,
            "from_month": pd.Timestamp(points["x"].iloc[first]),
            "to_month": pd.Timestamp(points["x"].iloc[last]),
            "months": last - first + 1,
            "latest_pct": 100 * float(points["y"].iloc[last]),
            "mean_pct": 100 * float(points["mean"].iloc[last]),
            "rule": str(points["special_cause_type"].iloc[first]),
        })
    return pd.DataFrame(rows, columns=columns).sort_values("latest_pct", ignore_index=True)


def _months_by_group(history: pd.DataFrame, labels: pd.Series) -> Callable[[str], pd.DataFrame] | None:
    """Each group's months as :func:`~escalation_analysis.measures.trends.monthly_counts` counts
    them for its chart (``within_target``, ``n``, ``month_start``; months with episodes, in
    order), from one count of every group and month instead of a table per group.

    None unless the months are text with none missing and ``within_target`` is boolean (the
    prepared episodes always are): the charts are then made from each group's rows as before.
    """
    month, within = history["month"], history["within_target"]
    if month.dtype != "str" or month.isna().any() or within.dtype != bool:
        return None
    month_codes, months = pd.factorize(month, sort=True)
    group_codes, groups = pd.factorize(labels)  # a missing label is no group (-1)
    cells = len(groups) * len(months)
    cell = group_codes.astype(np.int64) * len(months) + month_codes
    named = group_codes >= 0
    n = np.bincount(cell[named], minlength=cells).reshape(len(groups), len(months))
    within_target = np.bincount(cell[named & within.to_numpy()], minlength=cells).reshape(len(groups), len(months))
    month_start = pd.to_datetime(pd.Series(months, dtype="str") + "-01", format="%Y-%m-%d")
    position = {group: i for i, group in enumerate(groups)}

    def months_of(group: str) -> pd.DataFrame:
        counts = n[position[group]]
        seen = counts > 0
        return pd.DataFrame({"within_target": within_target[position[group]][seen], "n": counts[seen],
                             "month_start": month_start[seen].reset_index(drop=True)})

    return months_of
