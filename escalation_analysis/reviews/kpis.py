"""Key performance indicators against targets and the previous period.

The contract-monitoring report opens with this table: each KPI this period, the previous
period of the same length, the change, the target and whether it was met. Targets are the
pathway file's ``kpi_targets`` (never constants here), each with the source the file gives.
Definitions live in :mod:`~escalation_analysis.reviews.definitions`, so every KPI has a stated
numerator, denominator and exclusions.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from ..measures.agencies import agency_responses
from ..measures.analysis import Analysis
from ..measures.learning import action_status
from ..measures.timeliness import compliance_table
from .definitions import REGISTER
from .disclosure import NHS_ROUNDED, DisclosurePlan, DisclosurePolicy, plan_for, published

EXTERNAL_POLICY = NHS_ROUNDED
"""The disclosure policy external reports use unless a setting chooses another."""


def previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The comparison period: the same calendar months before, or the same number of days.

    A quarter (1 October to 31 December) compares with the quarter before (1 July to
    30 September); a period that is not whole months compares with as many days just before.
    """
    prev_end = start - dt.timedelta(days=1)
    next_day = end + dt.timedelta(days=1)
    if start.day == 1 and next_day.day == 1:
        months = (next_day.year - start.year) * 12 + next_day.month - start.month
        index = start.year * 12 + start.month - 1 - months
        return dt.date(index // 12, index % 12 + 1, 1), prev_end
    return prev_end - (end - start), prev_end


def target_source(analysis: Analysis, kpi: str) -> str | None:
    """Where a KPI's target comes from: the source the pathway file names, else the file itself."""
    targets = analysis.pathway.kpi_targets
    if targets.value(kpi) is None:
        return None
    version = f", version {analysis.pathway.version}" if analysis.pathway.version else ""
    return targets.source(kpi) or f"Pathway file{version}"


def _pct(numerator: int, denominator: int) -> float:
    return 100.0 * numerator / denominator if denominator else np.nan


def _compliance(episodes: pd.DataFrame) -> tuple[float, int, int]:
    """(share within target in %, within target, episodes) from the one compliance table."""
    overall = compliance_table(episodes).iloc[0]
    return float(overall["within_target_pct"]), int(overall["within_target"]), int(overall["n"])


def _kpis_for(episodes: pd.DataFrame, analysis: Analysis, as_of: dt.date) -> dict[str, tuple[float, int, int | None]]:
    """KPI -> (value, numerator or count, denominator or None)."""
    escalated = episodes[episodes["escalated"]]
    kpis: dict[str, tuple[float, int, int | None]] = {
        "compliance_pct": _compliance(episodes),
        "imminent_risk_compliance_pct": _compliance(episodes[episodes["trigger"] == "imminent_risk"]),
        "out_of_hours_compliance_pct": _compliance(episodes[episodes["band"] == "out_of_hours"]),
        "not_escalated": (float((~episodes["escalated"]).sum()), int((~episodes["escalated"]).sum()), None),
        "median_delay_minutes": (float(escalated["delay_minutes"].median()) if len(escalated) else np.nan, len(escalated), None),
        "p90_delay_minutes": (float(escalated["delay_minutes"].quantile(0.9)) if len(escalated) else np.nan, len(escalated), None),
        "near_misses": (float((episodes["outcome"] == "near_miss").sum()), int((episodes["outcome"] == "near_miss").sum()), None),
    }
    steps = analysis.steps.frame if analysis.steps is not None else None
    target = analysis.pathway.response_targets_minutes.get("crisis_team")
    if target is not None:
        responses = agency_responses(episodes, steps)
        crisis = responses[(responses["agency"] == "crisis_team") & responses["response_minutes"].notna()]
        within = int((crisis["response_minutes"] <= target).sum())
        kpis["crisis_team_response_pct"] = (_pct(within, len(crisis)), within, len(crisis))
    if analysis.actions is not None:
        status = action_status(analysis.actions.frame, episodes, as_of)
        overdue = int(status["overdue"].sum())
        kpis["overdue_actions"] = (float(overdue), overdue, None)
    return kpis


#: The KPIs in table order; their labels are the definitions register's, so the table and its
#: appendix use the same words.
KPIS = ("compliance_pct", "imminent_risk_compliance_pct", "out_of_hours_compliance_pct", "not_escalated",
        "median_delay_minutes", "p90_delay_minutes", "near_misses", "crisis_team_response_pct", "overdue_actions")
KPI_LABELS = {key: REGISTER[key].label for key in KPIS}
HIGHER_IS_BETTER = {"compliance_pct", "imminent_risk_compliance_pct", "out_of_hours_compliance_pct", "crisis_team_response_pct", "near_misses"}


def kpi_table(analysis: Analysis, policy: DisclosurePolicy | None = None, *,
              plan: DisclosurePlan | None = None) -> pd.DataFrame:
    """This period vs the previous period of the same length, against the pathway's targets.

    ``target`` and ``target_source`` come from the pathway file's ``kpi_targets``; a KPI it
    sets no target for has neither, and ``target_met`` is then missing.

    With a disclosure ``policy`` (or its ``plan``), for outside readers, every value is the
    published one from the plan of this period and of the previous one: rounded counts, rates
    from them, ``*`` or ``[c]`` where withheld; the change and whether the target was met are
    judged on the published values, so the table agrees with every other view of them.
    """
    prev_start, prev_end = previous_period(analysis.start, analysis.end)
    if plan is not None or policy is not None:
        plan = plan if plan is not None else plan_for(analysis, policy)
        table = _published_kpis(analysis, plan)
    else:
        table = _exact_kpis(analysis, prev_start, prev_end)
    table.attrs["period"] = (analysis.start, analysis.end)
    table.attrs["previous_period"] = (prev_start, prev_end)
    return table


def _row(analysis: Analysis, key: str, value: object, previous: object) -> dict[str, object]:
    target = analysis.pathway.kpi_targets.value(key)
    numbers = [v for v in (value, previous) if published.shown(v)]
    met = None
    if target is not None and published.shown(value):
        met = bool(value >= target) if key in HIGHER_IS_BETTER or key.endswith("_pct") else bool(value <= target)
    change = value - previous if len(numbers) == 2 else np.nan
    return {"kpi": key, "indicator": KPI_LABELS[key], "this_period": value, "previous_period": previous,
            "change": change, "target": target, "target_met": met, "target_source": target_source(analysis, key)}


def _published_kpis(analysis: Analysis, plan: DisclosurePlan) -> pd.DataFrame:
    now = published.kpi_values(plan)
    before = published.kpi_values(plan.previous) if plan.previous is not None else {}
    if analysis.pathway.response_targets_minutes.get("crisis_team") is None:
        now.pop("crisis_team_response_pct", None)
    rows = [_row(analysis, key, now[key], before.get(key)) for key in KPI_LABELS if key in now]
    return pd.DataFrame(rows).astype({"this_period": object, "previous_period": object, "change": object})


def _exact_kpis(analysis: Analysis, prev_start: dt.date, prev_end: dt.date) -> pd.DataFrame:
    now = _kpis_for(analysis.episodes, analysis, analysis.end)
    before = _kpis_for(analysis.episodes_between(prev_start, prev_end), analysis, prev_end)
    rows = []
    for key in KPI_LABELS:
        if key not in now:
            continue
        value, _, denominator = now[key]
        previous = before.get(key, (np.nan, 0, None))[0]
        row = _row(analysis, key, None if np.isnan(value) else value, None if np.isnan(previous) else previous)
        row["this_period"], row["previous_period"] = value, previous
        if denominator is None and not key.endswith("minutes"):  # counts read as whole numbers
            for column in ("this_period", "previous_period", "change"):
                if isinstance(row[column], float) and not np.isnan(row[column]):
                    row[column] = int(row[column])
        rows.append(row)
    return pd.DataFrame(rows).astype({"this_period": object, "previous_period": object, "change": object})


def for_display(table: pd.DataFrame) -> pd.DataFrame:
    """The KPI table for readers: values with their units, the change as better or worse.

    Percentages read ``65.5%``, delays ``147 min``, counts as whole numbers; the change is in
    percentage points (``pp``), minutes or a count, with "better" or "worse" from the KPI's
    direction. The period columns carry their dates (dd/mm/yyyy).
    """
    start, end = table.attrs.get("period", (None, None))
    prev_start, prev_end = table.attrs.get("previous_period", (None, None))

    def dates(a: dt.date | None, b: dt.date | None) -> str:
        return f" ({a:%d/%m/%Y} to {b:%d/%m/%Y})" if a and b else ""

    rows = []
    for row in table.itertuples(index=False):
        rows.append({
            "Indicator": row.indicator.removesuffix(" (%)").removesuffix(" (minutes)"),  # values carry units
            f"This period{dates(start, end)}": _kpi_value(row.kpi, row.this_period),
            f"Previous period{dates(prev_start, prev_end)}": _kpi_value(row.kpi, row.previous_period),
            "Change": _kpi_change(row.kpi, row.change),
            "Target": _kpi_value(row.kpi, row.target, target=True),
            "Target met": "–" if row.target_met is None or pd.isna(row.target_met) else ("Yes" if row.target_met else "No"),
            "Target from": "No target set" if pd.isna(row.target_source) else row.target_source,
        })
    return pd.DataFrame(rows, dtype=object)


def _unit(kpi: str) -> str:
    return "percent" if kpi.endswith("_pct") else "minutes" if kpi.endswith("_minutes") else "count"


def _kpi_value(kpi: str, value: object, *, target: bool = False) -> str:
    """One KPI value with its unit; ``*`` (withheld) and missing values as they are shown."""
    if isinstance(value, str):
        return value
    if value is None or pd.isna(value):
        return "–"
    number = float(value)
    unit = _unit(kpi)
    if unit == "percent":
        return f"{number:g}%" if target else f"{number:.1f}%"
    if unit == "minutes":
        return f"{math.floor(number + 0.5):,} min"
    return f"{math.floor(number + 0.5):,}"


def _kpi_change(kpi: str, change: object) -> str:
    """'−13.6 pp, worse', '+11 min, worse', '+22, better' or 'no change'."""
    if change is None or isinstance(change, str) or pd.isna(change):
        return "–"
    number = float(change)
    unit = _unit(kpi)
    size = math.floor(abs(number) + 0.5)
    shown = {"percent": f"{abs(number):.1f} pp", "minutes": f"{size:,} min"}.get(unit, f"{size:,}")
    if shown.split()[0] in ("0", "0.0"):
        return "no change"
    sign = "+" if number > 0 else "−"
    higher_better = kpi in HIGHER_IS_BETTER
    better = (number > 0) == higher_better
    return f"{sign}{shown}, {'better' if better else 'worse'}"
