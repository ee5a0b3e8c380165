"""The learning loop: actions raised from episodes, and escalation training.

Commissioners and the CQC ask whether learning from near misses is fed back. Two views:

* **Learning actions**: which actions are linked to analysed episodes, which are open, and
  which are overdue (open and past their due date on the ``as_of`` date).
* **Training**: timeliness by whether the staff member completed scenario-based escalation
  training in the 12 months (365 days) before the episode. This is an *association*, not
  evidence that training causes faster escalation: staff who train may differ in other ways.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ..ingest.files import text_isin
from .statistics import compare_delays, compare_proportions
from .timeliness import compliance_table

TRAINING_CAVEAT = (
    "This shows an association, not cause: staff who completed training may differ from "
    "those who did not in experience, caseload or team."
)


def action_status(actions: pd.DataFrame, prepared: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Actions raised by ``as_of``, with ``linked`` (to an analysed episode), ``team``,
    ``overdue`` (open and past due on ``as_of``) and ``days_overdue``.

    Actions raised after ``as_of`` did not exist yet at the end of the period and are left
    out. The status is the log's current one: an action closed after the period end counts
    as closed.
    """
    as_of_ts = pd.Timestamp(as_of)
    out = actions[~(actions["raised"] > as_of_ts)].copy()
    teams = prepared.drop_duplicates("incident_id").set_index("incident_id")["team"]
    out["linked"] = text_isin(out["incident_id"], teams.index)
    out["team"] = out["incident_id"].map(teams)
    out["overdue"] = (out["status"] == "open") & (out["due"] < as_of_ts)
    out["days_overdue"] = ((as_of_ts - out["due"]).dt.days).where(out["overdue"])
    return out


def overdue_actions(actions: pd.DataFrame | None, prepared: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Overdue actions (internal use: carries incident references), most overdue first."""
    columns = ["action", "owner", "due", "days_overdue", "incident_id"]
    if actions is None:
        return pd.DataFrame(columns=columns)
    status = action_status(actions, prepared, as_of)
    return status[status["overdue"]].sort_values("days_overdue", ascending=False)[columns].reset_index(drop=True)


def action_summary(status: pd.DataFrame) -> dict:
    """Counts for the headline: total, linked, open, closed, overdue."""
    return {
        "total": len(status),
        "linked_to_episodes": int(status["linked"].sum()),
        "open": int((status["status"] == "open").sum()),
        "closed": int((status["status"] == "closed").sum()),
        "overdue": int(status["overdue"].sum()),
    }


def trained_within_year(prepared: pd.DataFrame, training: pd.DataFrame) -> pd.Series:
    """Per episode: did its staff member complete scenario training in the prior 365 days?

    Missing when the episode has no staff identifier. Vectorised with ``merge_asof``.
    """
    scenario = training[training["scenario"]].dropna(subset=["completed_on", "staff_id"])
    scenario = scenario.sort_values("completed_on")[["staff_id", "completed_on"]]
    day = prepared["risk_identified_at"].dt.tz_localize(None).dt.normalize().astype("datetime64[us]")
    left = pd.DataFrame({"staff_id": prepared["staff_id"], "day": day, "position": np.arange(len(prepared))})
    left = left.dropna(subset=["staff_id"]).sort_values("day")
    scenario = scenario.assign(completed_on=scenario["completed_on"].astype("datetime64[us]"))
    merged = pd.merge_asof(
        left, scenario, left_on="day", right_on="completed_on", by="staff_id", direction="backward"
    )
    recent = ((merged["day"] - merged["completed_on"]).dt.days <= 365).fillna(False)
    result = pd.Series(pd.NA, index=prepared.index, dtype="boolean")
    result.iloc[merged["position"].to_numpy()] = recent.to_numpy()
    return result


def training_association(prepared: pd.DataFrame, training: pd.DataFrame) -> dict:
    """Timeliness by training status, with tests and the association-not-cause caveat."""
    trained = trained_within_year(prepared, training)
    labelled = prepared.assign(training=trained.map({True: "trained", False: "not trained"}).astype("str"))
    labelled = labelled[trained.notna().to_numpy()]
    table = compliance_table(labelled, "training")
    rows = table.set_index("training")
    result = {"table": table, "caveat": TRAINING_CAVEAT}
    if {"trained", "not trained"} <= set(rows.index):
        a, b = rows.loc["not trained"], rows.loc["trained"]
        result["compliance"] = compare_proportions(
            int(a["within_target"]), int(a["n"]), int(b["within_target"]), int(b["n"]),
            "for staff without recent training", "for staff trained in the past year",
        )
        escalated = labelled[labelled["escalated"]]
        result["delays"] = compare_delays(
            escalated.loc[escalated["training"] == "not trained", "delay_minutes"],
            escalated.loc[escalated["training"] == "trained", "delay_minutes"],
            "for staff without recent training", "for staff trained in the past year",
        )
    return result
