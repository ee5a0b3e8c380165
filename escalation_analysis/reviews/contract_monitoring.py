"""The contract-monitoring report (external): KPIs, trends, out of hours, teams, partners.

For commissioners: the KPIs against targets and the previous period, monthly trends read the
Making Data Count way, the out-of-hours audit, timeliness by team, the multi-agency response,
learning from near misses, equity and a data-quality statement. External: every table,
chart (hover text included) and sentence takes its figures from the disclosure plan of the
period (:mod:`~escalation_analysis.reviews.disclosure`), with a key to its marks and the
audit's statement; the review keeps no episode rows.
"""

from __future__ import annotations

from ..measures.analysis import Analysis
from . import charts, definitions, kpis, labels, narrative
from .disclosure import plan_for, policy_for, published
from .kinds import kind as kind_named
from .review import Review, Sections
from .summary import build_summary

KIND = "contract-monitoring"


def build(analysis: Analysis, audience: str = "external", *, disclosure: str | None = None) -> Review:
    """The contract-monitoring review of ``analysis`` for ``audience`` (external or partners),
    under the audience's disclosure policy (or ``disclosure``, a policy's name)."""
    if audience == "internal":
        raise ValueError("The contract-monitoring report is for commissioners: build it for external readers.")
    plan = plan_for(analysis, policy_for(audience, disclosure))
    summary = build_summary(analysis, report=KIND, audience=audience, plan=plan)
    target = analysis.pathway.kpi_targets.value("compliance_pct")  # from the pathway file; None: no target
    s = Sections()
    s.text("headline", narrative.headline(analysis, external=True, plan=plan))
    s.text("headline", published.key_markdown(plan))
    kpi_table = kpis.kpi_table(analysis, plan=plan)
    s.table("kpis", kpis.for_display(kpi_table), "Key performance indicators", if_empty=narrative.NO_EPISODES)
    monthly = published.kpi_trends(plan, {"compliance_pct": target}, crisis_response=False)
    compliance, delays = monthly["compliance_pct"].result, monthly["median_delay_minutes"].result
    if compliance is None:
        s.text("trends", narrative.NO_EPISODES if analysis.history.empty else
               "No month has figures that can be shown without revealing a small number.")
    else:
        s.chart("trends", charts.spc_chart, compliance, title="Escalations within target, by month",
                y_title="Within target (%)", target=target, percent=True)
        if delays is not None:
            s.chart("trends", charts.spc_chart, delays, title="Median delay to escalate, by month", y_title="Minutes")
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
    s.table("multi_agency", summary.tables["agency_response"], "Response by receiving agency",
            if_empty="No contact with a receiving agency is recorded in this period.")
    if "handoffs" in summary.tables:
        s.table("multi_agency", summary.tables["handoffs"], "Hand-offs between agencies (minutes)",
                if_empty="No hand-off between agencies is recorded in this period (a step log is needed).")
    s.text("learning", narrative.learning_actions(analysis, external=True, plan=plan))
    for field, caption in (("ethnicity", "By ethnicity"), ("age_band", "By age band"), ("gender", "By gender")):
        s.table("equity", labels.equity_for_readers(summary, field), caption, if_empty=narrative.NO_EPISODES)
    s.text("data_quality", narrative.data_quality(analysis, external=True, plan=plan))
    s.table("data_quality", narrative.data_quality_table(analysis, external=True, plan=plan),
            "Rows excluded and warnings", if_empty="No row was excluded and no kept row carries a warning.")
    s.text("definitions", published.methods_markdown(plan))
    s.table("definitions", definitions.register_table(list(definitions.CONTRACT_MONITORING)), "Definitions",
            if_empty="")
    return Review(KIND, audience, kind_named(KIND).title, analysis.start, analysis.end, s.result(), summary)
