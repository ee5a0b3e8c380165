"""The Making Data Count summary table: one row per KPI, as NHS board reports open.

Each row: the KPI, its latest month, the latest value, the target (from the pathway file),
the mean and process limits, and the variation and assurance icons, sorted so that special
cause of concern comes first, then targets that will be missed. The icons, mean and limits
come from the same :class:`~escalation_analysis.measures.kpi_trends.KpiTrend` results the
trend charts are drawn from (:meth:`MdcSummary.chart_input`), so table and charts agree.

A KPI with no target in the pathway file has no target and no assurance icon. For external
and partner readers the latest value is withheld when it rests on 1 to 7 episodes, and
monthly counts are rounded as in every other external table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..measures.analysis import Analysis
from ..measures.kpi_trends import IMPROVEMENT, KpiTrend, kpi_trends
from ..measures.spc import SHORT_GROUP_THRESHOLD
from .display import Html, format_value
from .icons import ASSURANCE, VARIATION, icon_with_text
from .kpis import KPI_LABELS
from .suppression import DEFAULT_POLICY, SuppressionPolicy, suppress_count

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
    warning). ``latest`` is ``"*"`` where it is withheld for external readers.
    """

    table: pd.DataFrame
    trends: dict[str, KpiTrend]

    def chart_input(self, kpi: str) -> KpiTrend:
        """The SPC result the table row for ``kpi`` was read from, for drawing its chart."""
        return self.trends[kpi]

    def for_display(self) -> pd.DataFrame:
        """Reader columns, values with their units and the icons as inline SVG with words."""
        rows = []
        for row in self.table.itertuples(index=False):
            rows.append({
                "KPI": row.indicator,
                "Month": "–" if pd.isna(row.month) else f"{row.month:{SHORT_MONTH}}",
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
        notes = []
        sources = [f"{r.indicator}: {r.target_source}" for r in self.table.itertuples() if r.target_source]
        if sources:
            notes.append("Targets from the pathway file: " + "; ".join(sources) + ".")
        untargeted = [r.indicator for r in self.table.itertuples() if pd.isna(r.target)]
        if untargeted:
            notes.append("No target is set in the pathway file for: " + "; ".join(untargeted)
                         + ", so they have no assurance icon.")
        for r in self.table.itertuples():
            if r.note:
                notes.append(f"{r.indicator}: {r.note}.")
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


def _latest(trend: KpiTrend, external: bool, policy: SuppressionPolicy) -> object:
    points = trend.result.points
    last = points.iloc[-1]
    value = float(last["y"]) * trend.scale
    if not external:
        return value
    if trend.result.chart == "p":
        counts = [int(last["numerator"]), int(last["denominator"]),
                  int(last["denominator"] - last["numerator"])]
        return "*" if any(1 <= c <= policy.threshold for c in counts) else value
    if trend.unit == "count":
        return suppress_count(round(value), policy)
    return value


def _target_source(analysis: Analysis, kpi: str) -> str | None:
    targets = analysis.pathway.kpi_targets
    if targets.value(kpi) is None:
        return None
    version = f", version {analysis.pathway.version}" if analysis.pathway.version else ""
    return targets.source(kpi) or f"pathway file{version}"


def mdc_summary(
    analysis: Analysis, *, external: bool = False, policy: SuppressionPolicy = DEFAULT_POLICY
) -> MdcSummary:
    """The Making Data Count summary of ``analysis``'s KPIs, sorted by concern.

    ``external`` applies the disclosure rules of external and partner reports to the latest
    values (``policy``: 1 to 7 withheld).
    """
    targets = {kpi: analysis.pathway.kpi_targets.value(kpi) for kpi in IMPROVEMENT}
    trends = kpi_trends(
        analysis.history, targets, steps=analysis.steps_frame,
        crisis_response_target_minutes=analysis.pathway.response_targets_minutes.get("crisis_team"),
    )
    rows = []
    for kpi, trend in trends.items():
        row = {"kpi": kpi, "indicator": KPI_LABELS.get(kpi, kpi), "month": pd.NaT, "latest": None,
               "target": trend.target, "target_source": _target_source(analysis, kpi),
               "mean": np.nan, "lower_limit": np.nan, "upper_limit": np.nan,
               "variation": None, "assurance": None, "unit": trend.unit,
               "improvement": IMPROVEMENT[kpi], "note": ""}
        if trend.result is None:
            row["note"] = f"no SPC chart ({trend.reason})"
        else:
            last = trend.result.points.iloc[-1]
            row.update(
                month=pd.Timestamp(last["x"]),
                latest=_latest(trend, external, policy),
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
