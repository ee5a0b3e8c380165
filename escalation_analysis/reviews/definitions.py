"""The definitions register: every KPI's numerator, denominator and exclusions in plain English.

Commissioners ask "how exactly is this counted?". Every figure in ``summary.json`` and in the
reports has an entry here, and a test checks none is missing. Report appendices render this
register, so the words in the report and the code that computes the figure share one source.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..ingest.fitness import FITNESS_CODES


@dataclass(frozen=True)
class Definition:
    """One KPI or measure, and (``computed_by``) the function in this package that computes it."""

    name: str
    label: str
    numerator: str
    denominator: str
    notes: str = ""
    computed_by: str = ""

    def function(self) -> Any:
        """The object ``computed_by`` names (``module:attribute.path``): one hop from words to code."""
        module, _, attributes = self.computed_by.partition(":")
        target: Any = importlib.import_module(f"escalation_analysis.{module}")
        for name in attributes.split("."):
            target = getattr(target, name)
        return target


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
        Definition("not_escalated", "Episodes with no escalation recorded", "Episodes with a blank escalation date/time", "-",
                   "Reported on its own line: it may mean escalation did not happen or was not recorded."),
        Definition("median_delay_minutes", "Median delay to escalate (minutes)",
                   "Middle value of the real elapsed minutes from risk identified to first contact on the pathway",
                   "Episodes with an escalation recorded",
                   "Times are Europe/London wall clock; the clocks changing is accounted for."),
        Definition("p90_delay_minutes", "90th percentile delay to escalate (minutes)",
                   "The delay that 90% of escalated episodes were within", "Episodes with an escalation recorded",
                   "Linear interpolation between ranked delays."),
        Definition("band", "In hours / out of hours", "In hours when risk was identified inside the pathway's "
                   "in-hours window on a working day that is not a bank holiday of the pathway's nation", "-",
                   "Out of hours is split into weekday evening/night, weekend and bank holiday (substitute days "
                   "included)."),
        Definition("near_misses", "Near misses reported", "Episodes recorded as a near miss (could have led to harm, did not)", "-"),
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
        Definition("suppression", "Small numbers", "In external and partner reports counts from 1 to 7 are shown "
                   "as *, other counts rounded to the nearest 5 (NHS Digital's method), and [c] marks a figure "
                   "withheld so that a small count cannot be seen or worked out", "-",
                   "Percentages come from the rounded counts; every figure of a group of 1 to 7, and a median of "
                   "fewer than 8 values, is withheld. An audit (audit.json) checks nothing narrows a small count."),
        # Timeliness tables (tables/timeliness_*.csv): the parts that add up to the episodes.
        Definition("escalated", "Escalated", "Episodes with an escalation date and time recorded", "-",
                   "Episodes = escalated + no escalation recorded."),
        Definition("escalated_late", "Escalated late", "Episodes escalated after the pathway's target for the "
                   "trigger and band", "-"),
        Definition("not_within_target", "Not escalated within target", "Episodes escalated late plus episodes "
                   "with no escalation recorded", "-", "Episodes = within target + not within target."),
        Definition("ci95_low_pct", "95% confidence interval: lower end (%)", "Lower end of the Wilson score "
                   "interval of the percentage beside it", "As for that percentage"),
        Definition("ci95_high_pct", "95% confidence interval: upper end (%)", "Upper end of the Wilson score "
                   "interval of the percentage beside it", "As for that percentage"),
        Definition("target_minutes", "Target (minutes)", "The pathway's target: the longest time from risk "
                   "identified to first contact for the trigger and band, or, for an agency, the longest time "
                   "from contact to its response", "-",
                   "From triggers: target_minutes and response_targets_minutes in the pathway file. The trigger "
                   "'other' uses the strictest target when the pathway gives it none."),
        Definition("share_escalated_pct", "Share escalated by the target time (%)",
                   "Kaplan-Meier estimate of the percentage escalated by the trigger's target time",
                   "All episodes of the trigger and band; those not (yet) escalated count as censored",
                   "The same measure as time_to_escalation, per trigger, band and group."),
        # Breakdowns: how episodes are grouped.
        Definition("ooh_sub_band", "In hours and out-of-hours periods", "Each episode's band, with out of hours "
                   "split into weekday evening or night (a working day, outside the in-hours window), weekend, "
                   "and bank holiday of the pathway's nation", "-"),
        Definition("quarter", "Quarter", "NHS financial quarter of the date risk was identified: Q1 April to June, "
                   "Q2 July to September, Q3 October to December, Q4 January to March", "-",
                   "Written like 2025/26 Q3."),
        Definition("month", "Month", "Calendar month of the date risk was identified (pathway's time zone)", "-"),
        Definition("handoff", "Hand-off", "Minutes from one contact to the next contact in the same episode, "
                   "by pair of agencies (e.g. duty senior to crisis team)", "Consecutive contacts in the step log"),
        # Comparisons (summary.json "comparisons"): the first group is in hours / accompanied staff,
        # the second out of hours / lone workers.
        Definition("p_value", "p-value", "The chance of seeing a difference at least this large if there were "
                   "no real difference between the two groups", "-",
                   "From the test named beside it. Below 0.05 is worded as unlikely to be chance; small groups "
                   "are worded as too small to judge."),
        Definition("difference_pp", "Difference (percentage points)", "Percentage within target in the second "
                   "group minus the percentage in the first", "-",
                   "First group: in hours, or accompanied staff; second: out of hours, or lone workers. "
                   "The wording gives a Newcombe 95% interval."),
        Definition("relative_risk", "Relative risk", "Proportion within target in the second group",
                   "Proportion within target in the first group", "Below 1: the second group does worse."),
        Definition("odds_ratio", "Odds ratio", "Odds of being within target in the second group",
                   "Odds of being within target in the first group"),
        Definition("median_difference_minutes", "Difference in median delay (minutes)", "Median delay to "
                   "escalate in the second group minus the median in the first", "Episodes with an escalation "
                   "recorded"),
        Definition("median_ratio", "Ratio of median delays", "Median delay to escalate in the second group",
                   "Median delay to escalate in the first group", "Episodes with an escalation recorded."),
        Definition("rank_biserial", "Rank-biserial correlation", "How often a delay picked at random from the "
                   "second group is longer than one from the first, on a scale from -1 to 1", "-",
                   "0: neither is typically longer; positive: the second group's delays tend to be longer. "
                   "From the Mann-Whitney test."),
        Definition("hazard_ratio", "Hazard ratio", "Rate at which episodes in the second group were being "
                   "escalated at any moment", "The same rate in the first group",
                   "Below 1: the second group is escalated more slowly. Log-rank estimate; episodes not yet "
                   "escalated count as censored."),
        Definition("median_minutes_a", "Median time to escalate, first group (minutes)", "Minutes by which half "
                   "of the first group's episodes were escalated (Kaplan-Meier)",
                   "All episodes in the group, not yet escalated censored"),
        Definition("median_minutes_b", "Median time to escalate, second group (minutes)", "Minutes by which "
                   "half of the second group's episodes were escalated (Kaplan-Meier)",
                   "All episodes in the group, not yet escalated censored"),
        # Pathway adherence (summary.json "adherence", tables/adherence.csv).
        Definition("checked", "Episodes checked", "Episodes where the check could be made", "-",
                   "The step checks need the episode in the step log; approvals and information need those "
                   "columns filled in. Episodes that cannot be checked are not counted as failures."),
        Definition("passed", "Episodes passing", "Episodes checked that passed the check", "-"),
        Definition("passed_pct", "Passing (%)", "Episodes passing", "Episodes checked",
                   "Tables add a Wilson 95% interval."),
        Definition("first_contact_correct", "First contact as the pathway expects", "Episodes whose first "
                   "contact in the step log is the pathway's first step for the trigger and band",
                   "Episodes in the step log"),
        Definition("in_order", "Steps in the expected order", "Episodes whose expected steps, of those that "
                   "happened, happened in the pathway's order", "Episodes in the step log"),
        Definition("no_steps_skipped", "No expected step skipped", "Episodes where every expected step for the "
                   "trigger and band appears in the step log", "Episodes in the step log"),
        Definition("approvals_within_limit", "Approvals within the limit", "Episodes with no more approvals "
                   "before action than the pathway's max_approvals_before_action",
                   "Episodes with approvals recorded"),
        Definition("information_complete", "Required information shared", "Episodes where every item of the "
                   "pathway's required_information was recorded as shared",
                   "Episodes with information shared recorded"),
        Definition("adherent", "All checks passed", "Episodes passing every check that could be made",
                   "Episodes where at least one check could be made"),
        # Multi-agency response (summary.json "multi_agency", tables/agency_response.csv, handoffs.csv).
        Definition("contacts", "Contacts", "Agencies contacted, once per episode and agency (the first contact)",
                   "-", "From the step log; without one, the first agency in the export's escalated-to column "
                   "and its escalation time."),
        Definition("responses_recorded", "Responses recorded", "Contacts with a response from that agency "
                   "recorded at or after the contact", "-"),
        Definition("median_minutes", "Median minutes", "Middle value of the minutes from contact to the agency's "
                   "response (or, for hand-offs, from one contact to the next)",
                   "Contacts with a recorded response (hand-offs: consecutive contacts)"),
        Definition("p90_minutes", "90th percentile minutes", "The time that 90% of responses (or hand-offs) were "
                   "within", "Contacts with a recorded response (hand-offs: consecutive contacts)"),
        # Learning actions (summary.json "learning_actions", tables/learning_actions.csv).
        Definition("total", "Learning actions raised", "Actions in the learning-actions log raised by the end "
                   "of the period", "-", "Actions with no raised date are counted."),
        Definition("linked_to_episodes", "Actions linked to episodes", "Actions whose linked incident is an "
                   "episode analysed in the period", "-"),
        Definition("open", "Open actions", "Actions whose status is open (for example Open, In progress, Not "
                   "started)", "-", "Status is the log's current status."),
        Definition("closed", "Closed actions", "Actions whose status is closed (for example Completed, Done)", "-",
                   "Status is the log's current status."),
        Definition("overdue", "Overdue actions", "Open actions due before the end of the period", "-",
                   "The same count as overdue_actions."),
        Definition("days_overdue", "Days overdue", "Days from an overdue action's due date to the end of the "
                   "period", "-"),
        # Near-miss review.
        Definition("late", "Late or missed", "Episodes not escalated within target, including those with no "
                   "escalation recorded", "-"),
        Definition("late_pct", "Late or missed (%)", "Episodes late or missed", "Episodes in the group"),
        Definition("barrier_frequency", "Barriers met", "Episodes where staff recorded the barrier (each "
                   "episode counted once per barrier)", "Episodes in the group",
                   "Barriers are free-text list items as recorded; spelling variants count separately."),
        Definition("repeat_episodes", "Service users with repeated episodes", "Service users (pseudonymised) with "
                   "three or more episodes in the period", "-", "Internal reports only."),
        Definition("spc", "Statistical process control (SPC) charts", "Monthly within-target percentage "
                   "(p-chart, limits per month) and monthly median delay (XmR chart: mean plus or minus 2.66 "
                   "times the mean moving range)", "-",
                   "Making Data Count rules: a point beyond the limits, a run of 7 on one side of the mean, a "
                   "trend of 7, two of three points beyond the near limits."),
        Definition("funnel", "Funnel plot", "Each team's within-target percentage plotted against its number of "
                   "episodes, with 95% and 99.8% limits around the service's overall percentage",
                   "Teams with at least 5 episodes", "Allows for team size: small teams vary more by chance. "
                   "'Not recorded' is never a team."),
        # Data quality (summary.json "data_quality", and each optional log's "step_log").
        Definition("rows_read", "Rows read", "Data rows in the file (the header row is not counted)", "-",
                   "Rows read = rows analysed + rows excluded."),
        Definition("rows_analysed", "Rows analysed", "Rows read minus rows excluded", "-"),
        Definition("rows_excluded", "Rows excluded", "Rows left out, each with one reason (the first that "
                   "applies), including rows outside the period", "-"),
        Definition("rows_used", "Log rows used", "Rows of an optional log (such as the step log) that could be "
                   "used", "Rows read from that log", "Unusable rows are counted by reason."),
        Definition("excluded_by_reason", "Rows excluded, by reason", "Excluded rows counted by their reason", "-",
                   "The reasons are listed in docs/definitions.md."),
        Definition("warnings", "Warnings", "Rows kept but flagged for a look, counted by reason", "-",
                   "A row may have several warnings."),
        Definition("unknown_values", "Values not in the mapping profile", "Local values that matched nothing in "
                   "the mapping profile or the common spellings, by field", "-",
                   "Internal only: add them under 'values:' in the mapping profile."),
        Definition("lines_skipped", "Lines skipped", "Lines of the file that are not records, counted by where "
                   "they are", "-", "Listing reports: title lines above the header row and footer lines "
                   "(blank, 'Total records: N', 'End of report') after the last record. Not rows read."),
        Definition("above_header", "Title lines", "Lines above the header row (the profile's header_row)", "-"),
        Definition("after_last_record", "Footer lines", "Blank or footer lines after the last record", "-",
                   "A blank row between records is a row read (excluded as blank), not a skipped line."),
        Definition("fitness", "Fitness checks", "Signs the figures would be wrong although every row loads: a list "
                   "of {code, message, rows}", "-",
                   "Codes: " + "; ".join(f"{code}: {meaning}" for code, meaning in FITNESS_CODES.items())
                   + ". External reports give the message without counts or local values, rows suppressed."),
        Definition("first_rows", "First rows with each problem", "Row numbers as the spreadsheet shows them (title lines included) "
                   "of the first five rows for each exclusion or warning", "-",
                   "Internal only, to find and fix the rows in the export."),
    )
}


#: Where each entry is computed: ``module:attribute`` under ``escalation_analysis`` (tests resolve every one).
COMPUTED_BY: dict[str, str] = {
    "n": "measures.timeliness:compliance_table",
    "within_target": "measures.timeliness:compliance_table",
    "within_target_pct": "measures.timeliness:compliance_table",
    "ci95_pct": "measures.statistics:wilson_interval",
    "not_escalated": "measures.timeliness:compliance_table",
    "median_delay_minutes": "measures.timeliness:compliance_table",
    "p90_delay_minutes": "measures.timeliness:compliance_table",
    "band": "measures.hours:classify_hours",
    "near_misses": "measures.near_misses:near_miss_table",
    "incidents": "measures.near_misses:near_miss_table",
    "near_miss_ratio": "measures.near_misses:near_miss_ratio",
    "time_to_escalation": "measures.comparisons:share_by_target",
    "adherence": "measures.adherence:episode_adherence",
    "multi_agency": "measures.agencies:response_by_agency",
    "learning_actions": "measures.learning:action_summary",
    "training": "measures.learning:training_association",
    "comparisons": "measures.comparisons:compare_factor",
    "compliance_pct": "measures.timeliness:compliance_table",
    "imminent_risk_compliance_pct": "measures.timeliness:compliance_table",
    "out_of_hours_compliance_pct": "measures.timeliness:compliance_table",
    "crisis_team_response_pct": "measures.agencies:agency_responses",
    "overdue_actions": "measures.learning:action_status",
    "data_quality": "ingest.accounting:RowAccounting.to_dict",
    "suppression": "reviews.disclosure.engine:control",
    "escalated": "measures.timeliness:compliance_table",
    "escalated_late": "measures.timeliness:compliance_table",
    "not_within_target": "measures.timeliness:compliance_table",
    "ci95_low_pct": "measures.statistics:wilson_interval",
    "ci95_high_pct": "measures.statistics:wilson_interval",
    "target_minutes": "measures.targets:target_minutes",
    "share_escalated_pct": "measures.comparisons:share_by_target",
    "ooh_sub_band": "measures.hours:classify_hours",
    "quarter": "measures.timeliness:financial_quarter",
    "month": "measures.timeliness:prepare_episodes",
    "handoff": "measures.agencies:handoff_delays",
    "p_value": "measures.statistics:compare_proportions",
    "difference_pp": "measures.statistics:compare_proportions",
    "relative_risk": "measures.statistics:compare_proportions",
    "odds_ratio": "measures.statistics:compare_proportions",
    "median_difference_minutes": "measures.statistics:compare_delays",
    "median_ratio": "measures.statistics:compare_delays",
    "rank_biserial": "measures.statistics:compare_delays",
    "hazard_ratio": "measures.statistics:compare_time_to_escalation",
    "median_minutes_a": "measures.statistics:compare_time_to_escalation",
    "median_minutes_b": "measures.statistics:compare_time_to_escalation",
    "checked": "measures.adherence:adherence_summary",
    "passed": "measures.adherence:adherence_summary",
    "passed_pct": "measures.adherence:adherence_summary",
    "first_contact_correct": "measures.adherence:episode_adherence",
    "in_order": "measures.adherence:episode_adherence",
    "no_steps_skipped": "measures.adherence:episode_adherence",
    "approvals_within_limit": "measures.adherence:episode_adherence",
    "information_complete": "measures.adherence:episode_adherence",
    "adherent": "measures.adherence:episode_adherence",
    "contacts": "measures.agencies:response_by_agency",
    "responses_recorded": "measures.agencies:response_by_agency",
    "median_minutes": "measures.agencies:response_by_agency",
    "p90_minutes": "measures.agencies:response_by_agency",
    "total": "measures.learning:action_summary",
    "linked_to_episodes": "measures.learning:action_summary",
    "open": "measures.learning:action_summary",
    "closed": "measures.learning:action_summary",
    "overdue": "measures.learning:action_status",
    "days_overdue": "measures.learning:action_status",
    "late": "measures.near_misses:near_miss_table",
    "late_pct": "measures.near_misses:near_miss_table",
    "barrier_frequency": "measures.near_misses:barrier_frequency",
    "repeat_episodes": "measures.near_misses:repeat_service_users",
    "spc": "measures.trends:compliance_p_chart",
    "funnel": "measures.trends:team_funnel",
    "rows_read": "ingest.export:load_export",
    "rows_analysed": "ingest.accounting:RowAccounting.rows_analysed",
    "rows_excluded": "ingest.accounting:RowAccounting.rows_excluded",
    "rows_used": "ingest.logs:LoadedLog.to_dict",
    "excluded_by_reason": "ingest.accounting:RowAccounting.excluded_by_reason",
    "warnings": "ingest.accounting:RowAccounting.warnings_by_reason",
    "unknown_values": "ingest.vocabulary:map_values",
    "lines_skipped": "ingest.listing:skipped_lines",
    "above_header": "ingest.listing:skipped_lines",
    "after_last_record": "ingest.listing:trailing_footer",
    "first_rows": "ingest.accounting:RowAccounting.to_dict",
    "fitness": "ingest.fitness:assess",
}
REGISTER = {name: dataclasses.replace(d, computed_by=COMPUTED_BY.get(name, "")) for name, d in REGISTER.items()}


#: How small numbers are shown under a policy other than the default (the register's own entry).
SUPPRESSION_UNDER = {
    "exact-secondary": dataclasses.replace(
        REGISTER["suppression"],
        numerator="In this report counts are exact: counts from 1 to 7 are shown as *, groups of fewer than 8 are "
                  "added together, and [c] marks a figure withheld so that a small count cannot be seen or worked out",
        notes="Percentages come from the exact counts; every figure of a group of 1 to 7, and a median of fewer "
              "than 8 values, is withheld. An audit (audit.json) checks nothing narrows a small count."),
}


def register_table(names: list[str] | None = None, *, policy: str | None = None) -> pd.DataFrame:
    """The register (or part of it) as a table for a report appendix ("–" where a measure has no
    denominator); ``policy``: the report's disclosure policy, whose way with small numbers it gives."""
    register = {**REGISTER, "suppression": SUPPRESSION_UNDER.get(policy or "", REGISTER["suppression"])}
    entries = [register[n] for n in names] if names else list(register.values())
    return pd.DataFrame(
        [{"Measure": d.label, "Counted": d.numerator, "Out of": "–" if d.denominator == "-" else d.denominator,
          "Notes": d.notes} for d in entries]
    )


CONTRACT_MONITORING = (
    "n", "within_target_pct", "ci95_pct", "not_escalated", "median_delay_minutes", "p90_delay_minutes",
    "band", "imminent_risk_compliance_pct", "out_of_hours_compliance_pct",
    "crisis_team_response_pct", "overdue_actions", "near_misses", "multi_agency", "data_quality", "suppression",
)
"""The register entries behind the contract-monitoring report, for its appendix (each measure once:
``compliance_pct``, the KPI's name for ``within_target_pct``, is not listed again)."""
