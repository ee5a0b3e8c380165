"""Trends the NHS way: Making Data Count SPC over months, and funnel plots across teams.

Glue between prepared episodes and :mod:`~escalation_analysis.measures.spc` /
:mod:`~escalation_analysis.measures.funnels`: monthly compliance as a p-chart (limits per month, as
qicharts2), monthly median delay as an XmR chart, and a funnel of teams' compliance with
overdispersion-adjusted 95% and 99.8% limits.
"""

from __future__ import annotations

import pandas as pd

from .funnels import FunnelResult, compute_funnel
from .spc import SPCResult, p_chart, xmr
from .timeliness import compliance_table


def monthly_counts(prepared: pd.DataFrame, team: str | None = None) -> pd.DataFrame:
    """Episodes, within target and median delay per calendar month (``month_start`` as a date).

    The month rows of :func:`~escalation_analysis.measures.timeliness.compliance_table`, the
    one table every figure of compliance comes from.
    """
    frame = prepared if team is None else prepared[prepared["team"] == team]
    table = compliance_table(frame, "month").sort_values("month", ignore_index=True)
    table["month_start"] = pd.to_datetime(table["month"].astype("str") + "-01")
    return table[["month", "n", "within_target", "median_delay_minutes", "month_start", "within_target_pct"]]


def compliance_p_chart(prepared: pd.DataFrame, *, team: str | None = None, target_pct: float | None = None) -> SPCResult:
    """Monthly share escalated within target as a p-chart (higher is better), in percent.

    The points' ``y``, ``mean`` and limits are proportions in [0, 1]; multiply by 100 to show
    percentages.
    """
    monthly = monthly_counts(prepared, team)
    return p_chart(
        "within_target", "n", "month_start", data=monthly, improvement="increase",
        target=None if target_pct is None else target_pct / 100,
    )


def median_delay_xmr(prepared: pd.DataFrame, *, team: str | None = None) -> SPCResult:
    """Monthly median delay to escalate as an XmR chart (lower is better)."""
    monthly = monthly_counts(prepared, team).dropna(subset=["median_delay_minutes"])
    return xmr("median_delay_minutes", "month_start", data=monthly, improvement="decrease")


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
