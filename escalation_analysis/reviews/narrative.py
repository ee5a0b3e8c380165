"""Plain-English sentences for the reports, computed from the analysis.

Notebooks hold the fixed narrative; the sentences whose numbers change with the data are
written here, so the wording rules live in one tested place: UK dates, percentages rounded
to whole numbers, changes described without overclaiming, and for outside readers only the
numbers the disclosure plan publishes. Every value from the data is escaped by
:func:`~escalation_analysis.reviews.display.markdown_text`.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from ..measures.analysis import Analysis
from ..measures.comparisons import compare_factor
from ..measures.timeliness import compliance_table
from .disclosure import DisclosurePlan, DisclosurePolicy, plan_for, policy_for, published
from .display import markdown_text
from .kpis import previous_period

#: Said by every section that has nothing to show because the period has no episodes.
NO_EPISODES = "No escalation episodes fall in this period."


def period_text(start: dt.date, end: dt.date) -> str:
    """'1 October to 31 December 2025' (UK order, year once when shared)."""
    if start.year == end.year:
        return f"{start.day} {start:%B} to {end.day} {end:%B %Y}"
    return f"{start.day} {start:%B %Y} to {end.day} {end:%B %Y}"


def _outside_plan(analysis: Analysis, policy: DisclosurePolicy | None, plan: DisclosurePlan | None) -> DisclosurePlan:
    """The disclosure plan an outside reader's sentence takes its numbers from."""
    return plan if plan is not None else plan_for(analysis, policy or policy_for("external"))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def headline(analysis: Analysis, *, external: bool = False, policy: DisclosurePolicy | None = None,
             plan: DisclosurePlan | None = None) -> str:
    """The opening paragraph: episodes, compliance with its interval, no escalation recorded.

    The figures are the overall row of :func:`~escalation_analysis.measures.timeliness.compliance_table`,
    the one table every report and the KPIs read compliance from; for outside readers
    (``external``) the disclosure plan's overall row, made from the same table: counts rounded
    (or "fewer than 8"), the percentage and its interval from the rounded counts.
    """
    period = period_text(analysis.start, analysis.end)
    if external:
        return _published_headline(_outside_plan(analysis, policy, plan), period)
    overall = compliance_table(analysis.episodes).iloc[0]
    if overall["n"] == 0:
        return markdown_text("No escalation episodes fall between {period}.", period=period.replace(" to ", " and "))
    near = int((analysis.episodes["outcome"] == "near_miss").sum())
    return markdown_text(
        "From {period}, **{n}** escalation episodes were analysed. **{pct}%** were escalated within "
        "the pathway's target (95% CI {low}–{high}%). {not_escalated} had no "
        "escalation recorded at all. {near} were recorded as near misses.",
        period=period, n=f"{int(overall['n']):,}", pct=round(overall["within_target_pct"]),
        low=round(overall["ci95_low_pct"]), high=round(overall["ci95_high_pct"]),
        not_escalated=f"{int(overall['not_escalated']):,}", near=f"{near:,}",
    )


def _published_headline(plan: DisclosurePlan, period: str) -> str:
    overall = plan.table("timeliness_overall").frame
    if overall.empty or overall.iloc[0]["n"] == 0:
        return markdown_text("No escalation episodes fall between {period}.", period=period.replace(" to ", " and "))
    row = overall.iloc[0]
    n = published.in_words(row["n"], plan)
    if not published.shown(row["within_target_pct"]):
        return markdown_text(
            "From {period}, **{n}** escalation episodes were analysed; their figures are withheld to protect "
            "small numbers.", period=period, n=n)
    rounding = f" (counts rounded to the nearest {plan.policy.round_to})" if plan.policy.round_to else ""
    low, high = row["ci95_low_pct"], row["ci95_high_pct"]
    interval = (f" (95% CI {round(low)}–{round(high)}%)"
                if published.shown(low) and published.shown(high) else "")
    return markdown_text(
        "From {period}, **{n}** escalation episodes were analysed" + rounding + ". **{pct}%** were escalated "
        "within the pathway's target" + interval + ". {not_escalated} had no escalation recorded at all. {near} "
        "were recorded as near misses.",
        period=period, n=n, pct=round(row["within_target_pct"]),
        not_escalated=_capital(published.in_words(row["not_escalated"], plan)),
        near=_capital(published.in_words(published.near_misses(plan)["n"], plan)),
    )


def change_since_previous(analysis: Analysis) -> str:
    """Compliance now against the previous period of the same length, and whether it differs."""
    prev_start, prev_end = previous_period(analysis.start, analysis.end)
    before = analysis.episodes_between(prev_start, prev_end)
    now = analysis.episodes
    if before.empty:
        return markdown_text("There are no episodes in the previous period ({period}) to compare with.",
                             period=period_text(prev_start, prev_end))
    from ..measures.statistics import compare_proportions

    result = compare_proportions(
        int(before["within_target"].sum()), len(before), int(now["within_target"].sum()), len(now),
        "in the previous period", "in this period",
    )
    return markdown_text("{text} (previous period: {period}.)", text=result.wording,
                         period=period_text(prev_start, prev_end))


def comparisons(analysis: Analysis) -> str:
    """Out of hours vs in hours and lone vs accompanied, on compliance and delay (paragraphs)."""
    sentences = []
    for factor in ("band", "lone_worker"):
        result = compare_factor(analysis.episodes, factor, analysis.as_of)
        sentences.append(markdown_text("{text}", text=result["compliance"].wording))
        sentences.append(markdown_text("{text}", text=result["delay"].wording))
    return "\n\n".join(f"- {s}" for s in sentences)


def learning_actions(analysis: Analysis, *, external: bool = False, policy: DisclosurePolicy | None = None,
                     plan: DisclosurePlan | None = None) -> str:
    """How many learning actions are open and overdue (or that no log was supplied)."""
    if analysis.actions is None:
        return "No learning-actions log was supplied for this period."
    def sentence(words: dict[str, str]) -> str:
        return markdown_text(
            "The learning-actions log holds {total} " + _plural(words["total"], "action", "actions") + ", {linked} "
            "of them linked to episodes in this period. **{open}** " + _be(words["open"]) + " open, of which "
            "**{overdue}** " + _be(words["overdue"]) + " past their due date; {closed} " + _be(words["closed"])
            + " complete.", **words)

    names = (("total", "total"), ("linked", "linked_to_episodes"), ("open", "open"), ("overdue", "overdue"),
             ("closed", "closed"))
    if external:
        chosen = _outside_plan(analysis, policy, plan)
        counts = published.learning_actions(chosen) or {}
        if not published.shown(counts.get("total")):
            return markdown_text("The learning-actions log holds {total} actions; their figures are withheld to "
                                 "protect small numbers.", total=published.in_words(counts.get("total"), chosen))
        return sentence({key: published.in_words(counts.get(name), chosen) for key, name in names})
    from ..measures.learning import action_status, action_summary

    counts = action_summary(action_status(analysis.actions.frame, analysis.episodes, analysis.as_of))
    return sentence({key: f"{counts[name]:,}" for key, name in names})


def _be(count: str) -> str:
    """'is' after a count of one, 'are' after any other count (or 'fewer than 8')."""
    return "is" if count == "1" else "are"


def _plural(count: str, one: str, many: str) -> str:
    return one if count == "1" else many


def data_quality(analysis: Analysis, *, external: bool = False, policy: DisclosurePolicy | None = None,
                 plan: DisclosurePlan | None = None) -> str:
    """One paragraph: rows read, analysed, excluded (outside the period separately)."""
    accounting = analysis.accounting
    if external:
        chosen = _outside_plan(analysis, policy, plan)
        shown = chosen.data_quality
        return markdown_text(
            "The export '{source}' had {read} rows, of which {analysed} episodes were analysed. The rest fell "
            "outside the period or were excluded because of data problems, listed below with their reasons.",
            source=accounting.source or "export", read=published.in_words(shown["rows_read"], chosen),
            analysed=published.in_words(shown["rows_analysed"], chosen),
        ) + _fitness_text(accounting, external=True)
    by_reason = accounting.excluded_by_reason()
    outside = by_reason.pop("outside_period", 0)
    warnings = sum(accounting.warnings_by_reason().values())
    return markdown_text(
        "The export '{source}' had {read} rows. {outside} fell outside the period and {problems} were "
        "excluded because of data problems (listed below), leaving {analysed} episodes analysed. "
        + ("1 kept row carries a warning" if warnings == 1 else "{warnings} kept rows carry a warning")
        + " worth checking at source.",
        source=accounting.source or "export", read=f"{accounting.rows_read:,}", outside=f"{outside:,}",
        problems=f"{sum(by_reason.values()):,}", analysed=f"{accounting.rows_analysed:,}", warnings=f"{warnings:,}",
    ) + _fitness_text(accounting, external=False)


def _fitness_text(accounting, *, external: bool) -> str:
    """The fitness checks (signs the figures would be wrong) as a paragraph; '' when there are none."""
    if not accounting.fitness:
        return ""
    messages = [check.public_message if external else check.message for check in accounting.fitness]
    return "\n\n" + markdown_text("**Check before relying on these figures:** {messages}", messages=" ".join(messages))


def data_quality_table(analysis: Analysis, *, external: bool = False, policy: DisclosurePolicy | None = None,
                       plan: DisclosurePlan | None = None) -> pd.DataFrame:
    """Exclusion and warning reasons with counts, in plain English (no row numbers)."""
    from ..ingest.accounting import EXCLUSION_REASONS, WARNING_REASONS

    accounting = analysis.accounting
    excluded, warnings = accounting.excluded_by_reason(), accounting.warnings_by_reason()
    if external:
        shown = _outside_plan(analysis, policy, plan).data_quality
        excluded, warnings = shown["excluded_by_reason"], shown["warnings"]
    def sentence(text: str) -> str:  # the reasons are phrases for sentences; a table cell starts with a capital
        return text[:1].upper() + text[1:]

    rows = [{"Rows": "Excluded", "Reason": sentence(EXCLUSION_REASONS[r]), "Number": n} for r, n in excluded.items()]
    rows += [{"Rows": "Kept, with a warning", "Reason": sentence(WARNING_REASONS[r]), "Number": n}
             for r, n in warnings.items()]
    return pd.DataFrame(rows, columns=["Rows", "Reason", "Number"])
