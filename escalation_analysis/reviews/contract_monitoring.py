"""The contract-monitoring report (external): KPIs, trends, out of hours, teams, partners.

For commissioners: the KPIs against targets and the previous period, monthly trends read the
Making Data Count way, the out-of-hours audit, timeliness by team, the multi-agency response,
learning from near misses, equity and a data-quality statement. External: every table,
chart (hover text included) and sentence takes its figures from the disclosure plan of the
period (:mod:`~escalation_analysis.reviews.disclosure`), with a key to its marks and the
audit's statement; the review keeps no episode rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..measures import trends
from ..measures.analysis import Analysis
from . import charts, definitions, kpis, labels, narrative
from .disclosure import DisclosurePlan, plan_for, policy_for, published
from .front_sheet import front_sheet_html, review_mdc_summary
from .kinds import kind as kind_named
from .mdc_summary import MdcSummary
from .review import Review, Sections
from .summary import Summary, build_summary

KIND = "contract-monitoring"

#: Where each front-sheet finding is shown in this review: (section, its heading).
FRONT_SHEET_LINKS = {
    "teams": ("teams", "By team"),
    "out_of_hours": ("out_of_hours", "Out-of-hours audit"),
    "learning_actions": ("learning", "Learning from near misses"),
    "data_quality": ("data_quality", "Data quality"),
}


def _plan(analysis: Analysis, audience: str, disclosure: str | None,
          alongside: Sequence[DisclosurePlan] = ()) -> DisclosurePlan:
    if audience == "internal":
        raise ValueError("The contract-monitoring report is for commissioners: build it for external readers.")
    return plan_for(analysis, policy_for(audience, disclosure), alongside)


def summary(analysis: Analysis, audience: str = "external", *, disclosure: str | None = None,
            alongside: Sequence[DisclosurePlan] = ()) -> Summary:
    """The review's ``summary.json`` and tables without its pages (what the runner writes beside it)."""
    return build_summary(analysis, report=KIND, audience=audience, plan=_plan(analysis, audience, disclosure, alongside))


def build(analysis: Analysis, audience: str = "external", *, disclosure: str | None = None,
          alongside: Sequence[DisclosurePlan] = ()) -> Review:
    """The contract-monitoring review of ``analysis`` for ``audience`` (external or partners),
    under the audience's disclosure policy (or ``disclosure``, a policy's name)."""
    plan = _plan(analysis, audience, disclosure, alongside)
    figures = summary(analysis, audience, disclosure=disclosure, alongside=alongside)
    target = analysis.pathway.kpi_targets.value("compliance_pct")  # from the pathway file; None: no target
    mdc = review_mdc_summary(analysis, audience, plan=plan)  # the front sheet's table and the trend charts: one source
    s = Sections()
    s.add("front_sheet", front_sheet_html(analysis, kind_named(KIND).title, audience, FRONT_SHEET_LINKS, mdc=mdc,
                                          plan=plan))
    s.text("headline", narrative.headline(analysis, external=True, plan=plan))
    s.text("headline", published.key_markdown(plan))
    kpi_table = kpis.kpi_table(analysis, plan=plan)
    s.table("kpis", kpis.for_display(kpi_table), "Key performance indicators", if_empty=narrative.NO_EPISODES)
    if analysis.history.empty:
        s.text("trends", narrative.NO_EPISODES)
    else:  # the published monthly series, as the front sheet's Making Data Count table reads them
        _trends(s, analysis, plan, mdc, target)
    for section, by, title, caption in (
        ("out_of_hours", "ooh_sub_band", "Escalated within target, in and out of hours", "In and out of hours"),
        ("teams", "team", "Escalated within target, by team", "Timeliness by team"),
    ):
        table = plan.table(f"timeliness_by_{by}")
        if table.empty:
            s.text(section, narrative.NO_EPISODES)
            continue
        s.chart(section, charts.compliance_by_group, table.frame, by, title=title, target_pct=target)
        s.table(section, labels.timeliness_for_readers(table.for_readers(), by), caption, if_empty=narrative.NO_EPISODES)
    s.table("multi_agency", figures.tables["agency_response"], "Response by receiving agency",
            if_empty="No contact with a receiving agency is recorded in this period.")
    if "handoffs" in figures.tables:
        s.table("multi_agency", figures.tables["handoffs"], "Hand-offs between agencies (minutes)",
                if_empty="No hand-off between agencies is recorded in this period (a step log is needed).")
    s.text("learning", narrative.learning_actions(analysis, external=True, plan=plan))
    for field, caption in (("ethnicity", "By ethnicity"), ("age_band", "By age band"), ("gender", "By gender")):
        s.table("equity", labels.equity_for_readers(figures, field), caption, if_empty=narrative.NO_EPISODES)
    s.text("data_quality", narrative.data_quality(analysis, external=True, plan=plan))
    s.table("data_quality", narrative.data_quality_table(analysis, external=True, plan=plan),
            "Rows excluded and warnings", if_empty="No row was excluded and no kept row carries a warning.")
    s.text("definitions", published.methods_markdown(plan))
    s.table("definitions", definitions.register_table(list(definitions.CONTRACT_MONITORING), policy=plan.policy.name), "Definitions",
            if_empty="")
    return Review(KIND, audience, kind_named(KIND).title, analysis.start, analysis.end, s.result(), figures)


def _trends(s: Sections, analysis: Analysis, plan: DisclosurePlan, mdc: MdcSummary, target: float | None) -> None:
    """The monthly SPC charts; where a month's outcome is withheld, the months as published instead
    (a chart without that month would hide it: a collapse of 1 to 7 within target of 40)."""
    compliance, delays = mdc.chart_input("compliance_pct"), mdc.chart_input("median_delay_minutes").result
    changes = analysis.pathway.changes
    if compliance.result is None:
        s.text("trends", f"Escalations within target are not charted by month: {compliance.reason}. "
                         "Each month as published:")
        months = labels.timeliness_for_readers(plan.table("trend_by_month").for_readers(), "month")
        months["Month"] = pd.to_datetime(months["Month"] + "-01").dt.strftime("%b %Y")
        s.table("trends", months, "Escalations within target, by month", percent=["Within target (%)"],
                if_empty=narrative.NO_EPISODES)
    else:
        s.chart("trends", charts.spc_chart, compliance.result, title="Escalations within target, by month",
                y_title="Within target (%)", target=target, percent=True, changes=changes)
    if delays is not None:
        s.chart("trends", charts.spc_chart, delays, title="Median delay to escalate, by month", y_title="Minutes",
                changes=changes)
    _no_escalation_gaps(s, analysis, plan)


def _no_escalation_gaps(s: Sections, analysis: Analysis, plan: DisclosurePlan) -> None:
    """A t chart of the days between episodes with no escalation recorded.

    Such episodes are rare, so the time between them shows a change sooner than a monthly
    count. For outside readers the points are drawn in order, not on their dates (a date per
    point would say how many such episodes a month had), and the chart is left out when there
    were 1 to ``threshold`` such episodes in all, or when the policy rounds counts (the number
    of points is an exact count).
    """
    events = int((~analysis.history["escalated"].astype(bool)).sum())
    if plan.policy.round_to and events:
        # one point per episode would print the exact count this report publishes rounded
        s.text("trends", "The time between episodes with no escalation recorded is not charted here: one point per "
                         "episode would show an exact count that this report rounds.")
        return
    if events < 3 or events <= plan.policy.threshold:
        if events:
            s.text("trends", "Too few episodes had no escalation recorded to chart the time between them.")
        return
    changes = analysis.pathway.changes
    positions = trends.unescalated_positions(analysis.history, [c.date for c in changes])
    marks = [(p, f"{c.date:%d/%m/%Y}: {c.text}") for p, c in zip(positions, changes, strict=True) if p is not None]
    s.chart("trends", charts.control_chart, trends.unescalated_t_chart(analysis.history, in_order=True),
            title="Days between episodes with no escalation recorded", y_title="Days",
            x_title="Episodes with no escalation recorded, in order", changes=marks,
            caption="Longer is better. A point below the lower limit, or a long run below the centre line, "
                    "means episodes with no escalation are coming more often.")
