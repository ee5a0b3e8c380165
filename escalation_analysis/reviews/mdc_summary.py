"""The Making Data Count summary table: one row per KPI, as NHS board reports open.

Each row: the KPI, its latest month, the latest value, the target (from the pathway file),
the mean and process limits, and the variation and assurance icons, sorted so that special
cause of concern comes first, then targets that will be missed. The icons, mean and limits
come from the same :class:`~escalation_analysis.measures.kpi_trends.KpiTrend` results the
trend charts are drawn from (:meth:`MdcSummary.chart_input`), so table and charts agree.

A KPI with no target in the pathway file has no target and no assurance icon. External and
partner readers get the charts of the published monthly figures (the disclosure plan's
series: counts rounded, rates from the rounded counts, months too small to show left out, and
no chart where a month's outcome is withheld), the same series their report's trend charts are
drawn from (:func:`~escalation_analysis.reviews.disclosure.published.kpi_trends`); a KPI without
a chart shows the period's last month as published.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..measures.analysis import Analysis
from ..measures.kpi_trends import IMPROVEMENT, KpiTrend, kpi_trends
from ..measures.spc import SHORT_GROUP_THRESHOLD
from .disclosure import DisclosurePlan
from .display import Html, format_value
from .icons import ASSURANCE, VARIATION, icon_with_text
from .kpis import KPI_LABELS, target_source

__all__ = ["MdcSummary", "mdc_summary"]

_CONCERN = ("concern_high", "concern_low")
_ASSURANCE_ORDER = {"consistent_fail": 1, "inconsistent": 2}

SHORT_MONTH = "%b %Y"


@dataclass(frozen=True)
class MdcSummary:
    """The table (``table``, raw values, one row per KPI, in concern order) and its SPC results.

    ``table`` columns: ``kpi``, ``indicator``, ``month`` (the latest month's first day),
    ``latest``, ``target``, ``target_source``, ``mean``, ``lower_limit``, ``upper_limit``
    (in the KPI's unit: percent for percentages), ``variation`` and ``assurance`` (the icon
    names of :class:`~escalation_analysis.measures.spc.SPCResult`, None when there is none),
    ``unit``, ``improvement`` and ``note`` (why a KPI has no SPC, or the short-series
    warning). ``latest`` is a mark (``*``) where the disclosure plan withholds it.
    """

    table: pd.DataFrame
    trends: dict[str, KpiTrend]

    def chart_input(self, kpi: str) -> KpiTrend:
        """The SPC result the table row for ``kpi`` was read from, for drawing its chart."""
        return self.trends[kpi]

    def latest_month(self) -> pd.Timestamp | None:
        """The latest month when every KPI with a chart shares it (the usual case), else None."""
        months = self.table["month"].dropna().unique()
        return pd.Timestamp(months[0]) if len(months) == 1 else None

    def for_display(self) -> pd.DataFrame:
        """Reader columns, values with their units and the icons as inline SVG with words.

        When every KPI's latest month is the same, it is said once (:meth:`latest_month`, for
        the caption) instead of in a column, so the table fits a portrait page.
        """
        shared = self.latest_month() is not None
        rows = []
        for row in self.table.itertuples(index=False):
            month = {} if shared else {"Month": "–" if pd.isna(row.month) else f"{row.month:{SHORT_MONTH}}"}
            rows.append({
                "KPI": row.indicator.removesuffix(" (%)").removesuffix(" (minutes)"),  # values carry units
                **month,
                "Latest": _with_unit(row.latest, row.unit),
                "Target": _with_unit(row.target, row.unit, target=True),
                "Mean": _with_unit(row.mean, row.unit, mean=True),
                "Process limits": _limits(row.lower_limit, row.upper_limit, row.unit),
                "Variation": Html(icon_with_text("variation", row.variation)),
                "Assurance": Html(icon_with_text("assurance", row.assurance)),
            })
        return pd.DataFrame(rows)

    def notes(self) -> list[str]:
        """Sentences for under the table: where targets come from, KPIs without SPC."""
        def name(row) -> str:
            return row.indicator.removesuffix(" (%)").removesuffix(" (minutes)")

        notes = []
        targeted = [r for r in self.table.itertuples() if pd.notna(r.target)]
        if targeted:
            notes.append("Targets are the pathway file's: " + "; ".join(
                f"{name(r).lower()} {_with_unit(r.target, r.unit, target=True)} ({r.target_source})"
                for r in targeted) + ".")
        untargeted = [name(r).lower() for r in self.table.itertuples() if pd.isna(r.target)]
        if untargeted:
            notes.append("The pathway file sets no target, so there is no assurance icon, for: "
                         + "; ".join(untargeted) + ".")
        by_note: dict[str, list[str]] = {}  # one sentence per reason, naming every KPI it applies to
        for row in self.table.itertuples():
            if row.note:
                by_note.setdefault(row.note, []).append(name(row))
        notes += [f"{names[0]}: {note}." if len(names) == 1 else
                  f"{note[:1].upper()}{note[1:]} for: {'; '.join(n[:1].lower() + n[1:] for n in names)}."
                  for note, names in by_note.items()]
        return notes


def _with_unit(value: object, unit: str, *, target: bool = False, mean: bool = False) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, str):
        return value
    number = float(value)
    if unit == "percent":
        return f"{number:.1f}%" if not target else f"{number:g}%"
    if unit == "minutes":
        return f"{number:,.0f} min"
    if mean:  # the mean of monthly counts is not itself a count
        return format_value(number, decimals=1)
    return f"{round(number):,}"


def _limits(low: float, high: float, unit: str) -> str:
    if pd.isna(low) or pd.isna(high):
        return "–"
    if unit == "count":
        low = max(low, 0.0)  # a count cannot fall below zero
    text = f"{_with_unit(low, unit, mean=True)}–{_with_unit(high, unit, mean=True)}"
    return text.replace("%–", "–").replace(" min–", "–")


def outside_plan(analysis: Analysis, audience: str, plan: DisclosurePlan | None) -> DisclosurePlan | None:
    """The disclosure plan outside readers' figures come from: the review's own ``plan``, or the
    audience's default; none for internal readers."""
    if audience == "internal":
        return None
    from .disclosure import plan_for, policy_for

    return plan if plan is not None else plan_for(analysis, policy_for(audience))


def mdc_summary(
    analysis: Analysis,
    *,
    audience: str = "internal",
    history: pd.DataFrame | None = None,
    latest: Mapping[str, object] | None = None,
    plan: DisclosurePlan | None = None,
) -> MdcSummary:
    """The Making Data Count summary of ``analysis``'s KPIs, sorted by concern.

    For ``external`` and ``partners`` audiences every figure is the disclosure plan's
    (:func:`~escalation_analysis.reviews.disclosure.plan_for`). ``history`` narrows the charts to a selection (one
    team, for its supervision pack); default the whole service up to the end of the period.
    ``latest`` gives the value, as it may be shown, of a KPI without a monthly series (overdue
    learning actions, a count on the last day): the caller reads it from the same place as
    its KPI table.
    """
    targets = {kpi: analysis.pathway.kpi_targets.value(kpi) for kpi in IMPROVEMENT}
    crisis_target = analysis.pathway.response_targets_minutes.get("crisis_team")
    given = dict(latest or {})
    if audience == "internal":
        trends = kpi_trends(analysis.history if history is None else history, targets,
                            steps=analysis.steps_frame, crisis_response_target_minutes=crisis_target)
    else:
        from .disclosure import published

        plan = outside_plan(analysis, audience, plan)
        trends = published.kpi_trends(plan, targets, crisis_response=crisis_target is not None)
        given = {**published.latest_month_values(plan, crisis_response=crisis_target is not None),
                 "overdue_actions": published.kpi_values(plan).get("overdue_actions"), **given}
    rows = []
    for kpi, trend in trends.items():
        row = {"kpi": kpi, "indicator": KPI_LABELS.get(kpi, kpi), "month": pd.NaT, "latest": None,
               "target": trend.target, "target_source": target_source(analysis, kpi),
               "mean": np.nan, "lower_limit": np.nan, "upper_limit": np.nan,
               "variation": None, "assurance": None, "unit": trend.unit,
               "improvement": IMPROVEMENT[kpi], "note": ""}
        if trend.result is None:
            row["note"] = f"no SPC chart ({trend.reason})"
            if given.get(kpi) is not None:
                row.update(latest=given[kpi], month=pd.Timestamp(analysis.end).replace(day=1))
        else:
            last = trend.result.points.iloc[-1]
            row.update(
                month=pd.Timestamp(last["x"]),
                latest=float(last["y"]) * trend.scale,
                mean=float(last["mean"]) * trend.scale,
                lower_limit=float(last["lpl"]) * trend.scale,
                upper_limit=float(last["upl"]) * trend.scale,
                variation=trend.result.variation_icon,
                assurance=trend.result.assurance_icon if trend.target is not None else None,
            )
            if len(trend.result.points) < SHORT_GROUP_THRESHOLD:
                row["note"] = (f"limits from {len(trend.result.points)} months only: trial limits, "
                               "which will change as months are added")
        rows.append(row)
    table = pd.DataFrame(rows)
    rank = [0 if v in _CONCERN else _ASSURANCE_ORDER.get(a, 3)
            for v, a in zip(table["variation"], table["assurance"], strict=True)]
    table = table.assign(_rank=rank).sort_values("_rank", kind="stable").drop(columns="_rank")
    table.attrs["period"] = (analysis.start, analysis.end)
    return MdcSummary(table.reset_index(drop=True), trends)


def icon_meanings() -> pd.DataFrame:
    """A key to the icons: each icon with its meaning in words (for an appendix)."""
    rows = [{"Icon": Html(icon_with_text("variation", code)), "Meaning": icon.text}
            for code, icon in VARIATION.items()]
    rows += [{"Icon": Html(icon_with_text("assurance", code)), "Meaning": icon.text}
             for code, icon in ASSURANCE.items()]
    return pd.DataFrame(rows)
