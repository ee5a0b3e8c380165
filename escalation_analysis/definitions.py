"""The definitions register: every KPI's numerator, denominator and exclusions in plain English.

Commissioners ask "how exactly is this counted?". Every figure in ``summary.json`` and in the
reports has an entry here, and a test checks none is missing. Report appendices render this
register, so the words in the report and the code that computes the figure share one source.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Definition:
    """One KPI or measure."""

    name: str
    label: str
    numerator: str
    denominator: str
    notes: str = ""


_COMMON_EXCLUSIONS = (
    "Rows excluded from every figure: exact duplicate rows (one copy kept), rows with no incident "
    "reference, no or unreadable date/time risk was identified, no trigger, an unreadable escalation "
    "time, or escalation recorded before risk was identified; and episodes outside the period."
)

REGISTER: dict[str, Definition] = {
    d.name: d
    for d in (
        Definition("n", "Episodes", "Escalation episodes (incidents and near misses where a threshold was met) "
                   "whose risk was identified in the period", "-", _COMMON_EXCLUSIONS),
        Definition("within_target", "Escalated within target", "Episodes escalated with a delay no longer than "
                   "the pathway's target for the trigger and band", "-"),
        Definition("within_target_pct", "Escalations within target (%)", "Episodes escalated within target",
                   "All episodes, including those with no escalation recorded",
                   "No escalation recorded counts as not within target. Also called compliance."),
        Definition("ci95_pct", "95% confidence interval", "Wilson score interval for the within-target percentage",
                   "-", "Shows how much the percentage could vary by chance with this many episodes."),
        Definition("not_escalated", "No escalation recorded", "Episodes with a blank escalation date/time", "-",
                   "Reported on its own line: it may mean escalation did not happen or was not recorded."),
        Definition("median_delay_minutes", "Median delay to escalate (minutes)",
                   "Middle value of the real elapsed minutes from risk identified to first contact on the pathway",
                   "Episodes with an escalation recorded",
                   "Times are Europe/London wall clock; the clocks changing is accounted for."),
        Definition("p90_delay_minutes", "90th percentile delay (minutes)",
                   "The delay that 90% of escalated episodes were within", "Episodes with an escalation recorded",
                   "Linear interpolation between ranked delays."),
        Definition("band", "In hours / out of hours", "In hours when risk was identified inside the pathway's "
                   "in-hours window on a working day that is not a bank holiday of the pathway's nation", "-",
                   "Out of hours is split into weekday evening/night, weekend and bank holiday (substitute days "
                   "included)."),
        Definition("near_misses", "Near misses", "Episodes recorded as a near miss (could have led to harm, did not)", "-"),
        Definition("incidents", "Incidents", "Episodes recorded as an incident", "-"),
        Definition("near_miss_ratio", "Near misses per incident", "Near misses", "Incidents",
                   "A rising ratio usually signals a healthier reporting culture, not more risk."),
        Definition("time_to_escalation", "Share escalated by the target time",
                   "Kaplan-Meier estimate of the share escalated by the target time",
                   "All episodes; those not (yet) escalated count as censored at the end of the period", ""),
        Definition("adherence", "Pathway adherence", "Episodes passing a check (right first contact, steps in "
                   "order, no expected step skipped, approvals within the limit, required information shared)",
                   "Episodes where the check could be made (e.g. a step log entry exists)"),
        Definition("multi_agency", "Agency response time", "Minutes from first contact with an agency to its "
                   "first recorded response", "Contacts with a recorded response",
                   "Within target uses the pathway's response targets per agency."),
        Definition("learning_actions", "Learning actions", "Actions in the learning-actions log; open, closed, and "
                   "overdue (open and past their due date at the end of the period)", "-"),
        Definition("training", "Timeliness by recent training", "Within-target percentage for episodes whose staff "
                   "member did / did not complete scenario-based escalation training in the 365 days before",
                   "Episodes with a staff identifier", "An association, not evidence that training causes the difference."),
        Definition("comparisons", "Is a difference real?", "Chi-square or Fisher's exact test for percentages, "
                   "Mann-Whitney for delays, log-rank for time to escalate", "-",
                   "Small groups are described as too small to judge."),
        Definition("compliance_pct", "Escalations within target (%)", "Episodes escalated within target", "All episodes"),
        Definition("imminent_risk_compliance_pct", "Imminent risk: escalated within target (%)",
                   "Imminent-risk episodes escalated within target", "Imminent-risk episodes"),
        Definition("out_of_hours_compliance_pct", "Out of hours: escalated within target (%)",
                   "Out-of-hours episodes escalated within target", "Out-of-hours episodes"),
        Definition("crisis_team_response_pct", "Crisis team responded within target (%)",
                   "Crisis team contacts with a response within the pathway's response target",
                   "Crisis team contacts with a recorded response"),
        Definition("overdue_actions", "Learning actions overdue", "Actions raised by the end of the period that are "
                   "still open and were due before the end of the period", "-",
                   "Status is the log's current status."),
        Definition("data_quality", "Data quality", "Rows read, analysed and excluded, with reasons", "-",
                   "Rows read = rows analysed + rows excluded."),
        Definition("suppression", "Small numbers", "Counts from 1 to 7 are shown as * in external and partner "
                   "reports, with further cells hidden so they cannot be worked out from totals", "-",
                   "Percentages and medians built on hidden counts are not shown."),
    )
}


def register_table(names: list[str] | None = None) -> pd.DataFrame:
    """The register (or part of it) as a table for a report appendix."""
    entries = [REGISTER[n] for n in names] if names else list(REGISTER.values())
    return pd.DataFrame(
        [{"Measure": d.label, "Counted": d.numerator, "Out of": d.denominator, "Notes": d.notes} for d in entries]
    )
