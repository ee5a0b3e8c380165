"""Plain-English labels for column names and canonical values in reports.

The analysis works in canonical names (``ooh_sub_band``, ``weekday_evening_night``); readers
should see "When" and "weekday evening or night". One table of words, used by every report.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = {
    "n": "Episodes",
    "episodes": "Episodes",
    "within_target": "Within target",
    "not_within_target": "Not within target",
    "escalated_late": "Escalated late",
    "not_escalated": "No escalation recorded",
    "escalated": "Escalated",
    "within_target_pct": "Within target (%)",
    "ci95_low_pct": "95% CI from (%)",
    "ci95_high_pct": "95% CI to (%)",
    "median_delay_minutes": "Median delay (min)",
    "p90_delay_minutes": "90th percentile delay (min)",
    "team": "Team",
    "trigger": "Trigger",
    "band": "Band",
    "ooh_sub_band": "When",
    "lone_worker": "Lone working",
    "quarter": "Quarter",
    "month": "Month",
    "escalated_to": "Contacted",
    "near_misses": "Near misses",
    "incidents": "Incidents",
    "late": "Late or missed",
    "late_near_misses": "Late near misses",
    "late_pct": "Late or missed (%)",
    "barrier": "Barrier",
    "group_episodes": "Episodes in group",
    "episodes_pct": "Share of episodes (%)",
    "service_user_id": "Service user (pseudonym)",
    "first": "First episode",
    "last": "Last episode",
    "teams": "Teams involved",
    "theme": "Theme",
    "question": "Question for the pathway owner",
    "check": "Check",
    "checked": "Episodes checked",
    "passed": "Passed",
    "passed_pct": "Passed (%)",
    "agency": "Agency",
    "contacts": "Contacts",
    "responses_recorded": "Responses recorded",
    "median_minutes": "Median (min)",
    "p90_minutes": "90th percentile (min)",
    "target_minutes": "Target (min)",
    "within_target_pct_response": "Within target (%)",
    "handoff": "Hand-off",
    "route": "Route",
    "action": "Action",
    "owner": "Owner",
    "due": "Due",
    "days_overdue": "Days overdue",
    "incident_id": "Reference",
    "training": "Training",
    "ethnicity": "Ethnicity",
    "age_band": "Age band",
    "gender": "Gender",
    "group": "Group",
}

VALUES = {
    "in_hours": "In hours",
    "out_of_hours": "Out of hours",
    "weekday_evening_night": "Weekday evening or night",
    "weekend": "Weekend",
    "bank_holiday": "Bank holiday",
    "imminent_risk": "Imminent risk",
    "loss_of_contact": "Loss of contact",
    "deterioration": "Deterioration",
    "other": "Other",
    "near_miss": "Near miss",
    "incident": "Incident",
    "duty_senior": "Duty senior",
    "crisis_team": "Crisis team",
    "emergency_services": "Emergency services (999)",
    "police": "Police",
    "ambulance": "Ambulance",
    "la_safeguarding": "Local authority safeguarding",
    "gp": "GP",
    "not recorded": "Not recorded",
    "lone worker": "Lone worker",
    "lone_worker": "Lone worker",
    "accompanied": "Accompanied",
    "first_contact_correct": "First contact as the pathway expects",
    "in_order": "Steps in the expected order",
    "no_steps_skipped": "No expected step skipped",
    "approvals_within_limit": "Approvals within the limit",
    "information_complete": "Required information shared",
    "adherent": "All checks passed",
    "approvals_before_action": "Approvals before action",
    "lone_working_conditions": "Lone-working conditions",
    "unreachable_contacts": "Contacts could not be reached",
    "unclear_pathway": "Unclear which route to take",
    "systems_and_information": "Systems and information",
    "partner_response": "Partner response",
}
"""Reader words for canonical values, in sentence case (they stand at the start of a cell):
one spelling for each agency, trigger and band in every table and chart."""

VALUES_BY_COLUMN: dict[str, dict[str, str]] = {
    "harm": {"none": "No harm", "low": "Low harm", "moderate": "Moderate harm", "severe": "Severe harm",
             "death": "Death"},
}
"""Words for values that only mean something in their own column ("none" is no harm only there)."""
VALUES_BY_COLUMN["Harm"] = VALUES_BY_COLUMN["harm"]


def interval_text(low: object, high: object, decimals: int = 0, suffix: str = "%") -> str:
    """A confidence interval the one way the reports write it: ``69–78%`` (empty when missing).

    The unit is written once, after the upper bound. Tables keep an interval on one line
    (:func:`~escalation_analysis.reviews.display.table_html` marks such cells ``nowrap``).
    """
    if isinstance(low, str) or isinstance(high, str):  # a disclosure mark: a withheld interval shows it
        return low if isinstance(low, str) else str(high)
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return ""
    return f"{float(low):.{decimals}f}–{float(high):.{decimals}f}{suffix}"


def column_label(name: object) -> str:
    """Reader-facing column name (unknown names: underscores to spaces, first letter capital)."""
    text = str(name)
    if text in COLUMNS:
        return COLUMNS[text]
    spaced = text.replace("_", " ")
    return spaced[:1].upper() + spaced[1:]


def value_label(value: object, column: str | None = None) -> object:
    """Reader-facing word for a canonical value (of ``column``, if given); other values unchanged."""
    if not isinstance(value, str):
        return value
    return VALUES_BY_COLUMN.get(column or "", {}).get(value, VALUES.get(value, value))


def routes_for_readers(routes: pd.Series) -> pd.Series:
    """Routes of canonical agencies (``crisis_team → police``) in readers' words (``Crisis team → Police``).

    Used on small aggregated tables (one row per route), never on an export's rows.
    """
    return routes.astype("str").str.split(" → ").map(lambda parts: " → ".join(str(value_label(p)) for p in parts))


def for_readers(table: pd.DataFrame) -> pd.DataFrame:
    """Rename columns and translate canonical values in text columns (vectorised per column)."""
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]) or isinstance(
            out[column].dtype, pd.CategoricalDtype
        ):
            out[column] = out[column].astype(object).replace(VALUES)
    return out.rename(columns=column_label)


def timeliness_for_readers(table: pd.DataFrame, group: str | None = None) -> pd.DataFrame:
    """A compliance table cut to what a reader needs, with the interval in one column.

    Works on exact and disclosure-controlled tables alike (marks stay ``*`` or ``[c]``).
    """
    out = pd.DataFrame(index=table.index)
    if group:
        words = table[group].astype("str").replace(VALUES)
        out[column_label(group)] = words.str[:1].str.upper() + words.str[1:]
    out["Episodes"] = table["n"]
    out["Within target"] = table["within_target"]
    out["Within target (%)"] = table["within_target_pct"]
    out["95% CI"] = [interval_text(lo, hi) for lo, hi in zip(table["ci95_low_pct"], table["ci95_high_pct"], strict=False)]
    out["No escalation recorded"] = table["not_escalated"]
    out["Median delay (min)"] = table["median_delay_minutes"]
    return out.reset_index(drop=True)


def equity_for_readers(summary, field: str) -> pd.DataFrame:
    """An equity breakdown from a summary, for readers (or a note when the export lacks it)."""
    name = f"timeliness_by_{field}"
    if name not in summary.tables:
        return pd.DataFrame({"Note": [f"The export does not record {column_label(field).lower()}."]})
    return timeliness_for_readers(summary.tables[name], field)
