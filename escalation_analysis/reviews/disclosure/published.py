"""A plan's figures in the shapes external outputs need: JSON sections, CSV tables, series, words.

Every number an external or partner output prints comes through here from the
:class:`~escalation_analysis.reviews.disclosure.plan.DisclosurePlan`, never from the episodes:
``summary.json``'s sections, ``tables/*.csv``, the KPI values, the monthly SPC series and the
counts said in sentences. A withheld count is its mark (``*`` or ``[c]``), a withheld rate or
statistic is None (``null``), as ``product.md`` section 4 says.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ...measures.spc import SPCResult, p_chart, xmr
from .engine import PROTECTED, SMALL, ControlledTable
from .plan import DisclosurePlan

ENTRY_KEYS = ("n", "within_target", "within_target_pct", "ci95_pct", "not_escalated", "median_delay_minutes",
              "p90_delay_minutes")
SUMMARY_BREAKDOWNS = ("band", "team", "trigger", "ooh_sub_band", "lone_worker", "quarter")
"""The ``by_*`` entries of ``summary.json``'s ``timeliness`` (as for internal readers)."""
CSV_TABLES = (
    "timeliness_overall", "timeliness_by_team", "timeliness_by_band", "timeliness_by_ooh_sub_band",
    "timeliness_by_trigger", "timeliness_by_lone_worker", "timeliness_by_quarter", "timeliness_by_month",
    "timeliness_by_agency", "timeliness_by_ethnicity", "timeliness_by_age_band", "timeliness_by_gender",
    "timeliness_by_training", "adherence", "agency_response", "handoffs",
)
"""Plan tables written as ``tables/<name>.csv`` beside an external report."""


def entry(record: dict[str, Any]) -> dict[str, Any]:
    """One timeliness group as ``summary.json`` shapes it."""
    return {
        "n": record["n"], "within_target": record["within_target"], "within_target_pct": record["within_target_pct"],
        "ci95_pct": [record["ci95_low_pct"], record["ci95_high_pct"]], "not_escalated": record["not_escalated"],
        "median_delay_minutes": record["median_delay_minutes"], "p90_delay_minutes": record["p90_delay_minutes"],
    }


def timeliness_section(plan: DisclosurePlan) -> dict[str, Any]:
    """``summary.json``'s ``timeliness``: overall and the standard breakdowns."""
    overall = plan.table("timeliness_overall").frame
    section: dict[str, Any] = {"overall": entry(overall.iloc[0].to_dict()) if len(overall) else {}}
    for by in SUMMARY_BREAKDOWNS:
        table = plan.table(f"timeliness_by_{by}").frame
        section[f"by_{by}"] = {str(r[by]): entry(r) for r in table.to_dict("records")}
    return section


def csv_tables(plan: DisclosurePlan) -> dict[str, pd.DataFrame]:
    """``tables/*.csv``: each plan table with withheld figures as their marks."""
    return {name: plan.table(name).for_readers() for name in CSV_TABLES if name in plan.tables}


def counts_by(table: ControlledTable, label: str) -> dict[str, Any]:
    """Label -> first count column, as published (a number or a mark)."""
    count = table.frame.columns[len(_labels(table))]
    return {str(r[label]): r[count] for r in table.frame.to_dict("records")}


def _labels(table: ControlledTable) -> list[str]:
    return [c for c in table.frame.columns if c not in table.states.columns]


def near_misses(plan: DisclosurePlan) -> dict[str, Any]:
    """``summary.json``'s ``near_misses``: near misses and incidents, as published."""
    counts = counts_by(plan.table("near_misses"), "outcome")
    return {"n": counts.get("near_miss", 0), "incidents": counts.get("incident", 0)}


def learning_actions(plan: DisclosurePlan) -> dict[str, Any] | None:
    """``summary.json``'s ``learning_actions`` counts, or None without a learning-actions log."""
    if "learning_actions" not in plan.tables:
        return None
    frame = plan.table("learning_actions").frame.set_index("actions")
    every, linked = frame.loc["all actions"], frame.loc["linked to episodes"]
    return {"total": every["total"], "linked_to_episodes": linked["total"], "open": every["open"],
            "closed": every["closed"], "overdue": every["overdue"]}


def adherence(plan: DisclosurePlan) -> dict[str, Any] | None:
    if "adherence" not in plan.tables:
        return None
    return {r["check"]: {"checked": r["checked"], "passed": r["passed"], "passed_pct": r["passed_pct"]}
            for r in plan.table("adherence").frame.to_dict("records")}


def multi_agency(plan: DisclosurePlan) -> dict[str, Any]:
    keys = ("contacts", "responses_recorded", "median_minutes", "p90_minutes", "within_target_pct")
    return {r["agency"]: {k: r[k] for k in keys} for r in plan.table("agency_response").frame.to_dict("records")}


def disclosure_section(plan: DisclosurePlan) -> dict[str, Any]:
    """``summary.json``'s ``disclosure``: which policy, and the key to its marks."""
    return {"policy": plan.policy.name, "method": plan.policy.title, "key": plan.key()}


def shown(value: Any) -> bool:
    """Whether a published value is a number (not a mark, not withheld)."""
    return value is not None and not isinstance(value, str) and not (isinstance(value, float) and np.isnan(value))


def in_words(value: Any, plan: DisclosurePlan) -> str:
    """A published count for a sentence: '1,234', 'fewer than 8', or 'a number withheld'."""
    if value == plan.policy.marks.small:
        return f"fewer than {plan.policy.smallest_shown}"
    if value == plan.policy.marks.protected or not shown(value):
        return "a number withheld to protect small numbers"
    return f"{int(value):,}"


# -- monthly series for the SPC charts ----------------------------------------------------------


def monthly(plan: DisclosurePlan) -> pd.DataFrame:
    """The trend's months as published, with whether each can be drawn as a value.

    A month whose episodes or within-target count is withheld is not a point on the chart (its
    rate would reveal it); nor is a month's median when it is withheld.
    """
    table = plan.table("trend_by_month")
    frame = table.frame.copy()
    states = table.states
    frame["month_start"] = pd.to_datetime(frame["month"] + "-01")
    frame["rate_shown"] = [(states.loc[i, "n"] not in (SMALL, PROTECTED) and states.loc[i, "within_target"]
                            not in (SMALL, PROTECTED) and shown(frame.loc[i, "n"]) and frame.loc[i, "n"] > 0)
                           for i in frame.index]
    frame["median_shown"] = [shown(v) for v in frame["median_delay_minutes"]]
    return frame


def compliance_p_chart(plan: DisclosurePlan, target_pct: float | None = None) -> tuple[SPCResult | None, int]:
    """Monthly share within target as a p-chart, from the published (rounded) counts.

    Returns the chart (None with no month to draw) and how many months were left out because
    their counts are withheld.
    """
    months = monthly(plan)
    drawn = months[months["rate_shown"]]
    if drawn.empty:
        return None, len(months)
    chart = p_chart(drawn["within_target"].astype("int64").tolist(), drawn["n"].astype("int64").tolist(),
                    drawn["month_start"].tolist(), improvement="increase",
                    target=None if target_pct is None else target_pct / 100)
    return chart, len(months) - len(drawn)


def median_delay_xmr(plan: DisclosurePlan) -> tuple[SPCResult | None, int]:
    """Monthly median delay as an XmR chart, months whose median is withheld left out."""
    months = monthly(plan)
    drawn = months[months["median_shown"]]
    if len(drawn) < 2:
        return None, len(months)
    chart = xmr(drawn["median_delay_minutes"].astype(float).tolist(), drawn["month_start"].tolist(),
                improvement="decrease")
    return chart, len(months) - len(drawn)


# -- the KPI table -----------------------------------------------------------------------------


def kpi_values(plan: DisclosurePlan) -> dict[str, Any]:
    """Each KPI of a period as published: a number, a mark, or None (withheld or not defined).

    Read from the same tables as everything else, so the KPI table, ``summary.json`` and the
    charts agree figure for figure.
    """
    def row(table: str, label: str, value: str) -> dict[str, Any] | None:
        if table not in plan.tables:
            return None
        frame = plan.table(table).frame
        matches = frame[frame[label] == value]
        return None if matches.empty else matches.iloc[0].to_dict()

    overall = plan.table("timeliness_overall").frame
    first = overall.iloc[0].to_dict() if len(overall) else {}
    imminent = row("timeliness_by_trigger", "trigger", "imminent_risk") or {}
    out_of_hours = row("timeliness_by_band", "band", "out_of_hours") or {}
    crisis = row("agency_response", "agency", "crisis_team")
    actions = row("learning_actions", "actions", "all actions")
    near = row("near_misses", "outcome", "near_miss") or {}
    values = {
        "compliance_pct": first.get("within_target_pct"),
        "imminent_risk_compliance_pct": imminent.get("within_target_pct"),
        "out_of_hours_compliance_pct": out_of_hours.get("within_target_pct"),
        "not_escalated": first.get("not_escalated"),
        "median_delay_minutes": first.get("median_delay_minutes"),
        "p90_delay_minutes": first.get("p90_delay_minutes"),
        "near_misses": near.get("n", 0),
    }
    if crisis is not None:
        values["crisis_team_response_pct"] = crisis.get("within_target_pct")
    if actions is not None:
        values["overdue_actions"] = actions.get("overdue")
    return values
