"""Plain-English sentences for the reports, computed from the analysis.

Notebooks hold the fixed narrative; the sentences whose numbers change with the data are
written here, so the wording rules live in one tested place: UK dates, percentages rounded
to whole numbers, changes described without overclaiming, and small numbers suppressed for
external readers. Every value from the data is escaped by
:func:`~escalation_analysis.reviews.display.markdown_text`.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from ..measures.analysis import Analysis
from ..measures.comparisons import compare_factor
from ..measures.timeliness import compliance_table
from .display import markdown_text
from .kpis import previous_period
from .suppression import DEFAULT_POLICY, SuppressionPolicy, suppress_count

#: Said by every section that has nothing to show because the period has no episodes.
NO_EPISODES = "No escalation episodes fall in this period."


def period_text(start: dt.date, end: dt.date) -> str:
    """'1 October to 31 December 2025' (UK order, year once when shared)."""
    if start.year == end.year:
        return f"{start.day} {start:%B} to {end.day} {end:%B %Y}"
    return f"{start.day} {start:%B %Y} to {end.day} {end:%B %Y}"


def _count(value: int, external: bool, policy: SuppressionPolicy) -> str:
    return _shown(suppress_count(int(value), policy) if external else int(value), policy)


def _shown(value: int | str, policy: SuppressionPolicy = DEFAULT_POLICY) -> str:
    """A count as words: '1,234', or 'fewer than 8' where it was suppressed."""
    return f"{value:,}" if isinstance(value, int) else f"fewer than {policy.threshold + 1}"


def headline(analysis: Analysis, *, external: bool = False, policy: SuppressionPolicy = DEFAULT_POLICY) -> str:
    """The opening paragraph: episodes, compliance with its interval, no escalation recorded.

    The figures are the overall row of :func:`~escalation_analysis.measures.timeliness.compliance_table`,
    the one table every report and the KPIs read compliance from.
    """
    overall = compliance_table(analysis.episodes).iloc[0]
    period = period_text(analysis.start, analysis.end)
    if overall["n"] == 0:
        return markdown_text("No escalation episodes fall between {period}.", period=period.replace(" to ", " and "))
    near = int((analysis.episodes["outcome"] == "near_miss").sum())
    return markdown_text(
        "From {period}, **{n}** escalation episodes were analysed. **{pct}%** were escalated within "
        "the pathway's target (95% CI {low}–{high}%). {not_escalated} had no "
        "escalation recorded at all. {near} were recorded as near misses.",
        period=period,
        n=_count(overall["n"], external, policy),
        pct=round(overall["within_target_pct"]),
        low=round(overall["ci95_low_pct"]),  # the one style for intervals: 35–72% (labels.interval_text)
        high=round(overall["ci95_high_pct"]),
        not_escalated=_count(overall["not_escalated"], external, policy).capitalize(),
        near=_count(near, external, policy).capitalize(),
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


def learning_actions(analysis: Analysis, *, external: bool = False, policy: SuppressionPolicy = DEFAULT_POLICY) -> str:
    """How many learning actions are open and overdue (or that no log was supplied)."""
    if analysis.actions is None:
        return "No learning-actions log was supplied for this period."
    from ..measures.learning import action_status, action_summary

    counts = action_summary(action_status(analysis.actions.frame, analysis.episodes, analysis.as_of))
    return markdown_text(
        "The learning-actions log holds {total} actions, {linked} of them linked to episodes in this period. "
        "**{open}** are open, of which **{overdue}** are past their due date; {closed} are complete.",
        total=_count(counts["total"], external, policy), linked=_count(counts["linked_to_episodes"], external, policy),
        open=_count(counts["open"], external, policy), overdue=_count(counts["overdue"], external, policy),
        closed=_count(counts["closed"], external, policy),
    )


def data_quality(analysis: Analysis, *, external: bool = False) -> str:
    """One paragraph: rows read, analysed, excluded (outside the period separately)."""
    accounting = analysis.accounting
    if external:
        from .summary import external_data_quality

        shown = external_data_quality(accounting)
        return markdown_text(
            "The export '{source}' had {read} rows, of which {analysed} episodes were analysed. The rest fell "
            "outside the period or were excluded because of data problems, listed below with their reasons.",
            source=accounting.source or "export", read=_shown(shown["rows_read"]), analysed=_shown(shown["rows_analysed"]),
        ) + _fitness_text(accounting, external=True)
    by_reason = accounting.excluded_by_reason()
    outside = by_reason.pop("outside_period", 0)
    warnings = sum(accounting.warnings_by_reason().values())
    return markdown_text(
        "The export '{source}' had {read} rows. {outside} fell outside the period and {problems} were "
        "excluded because of data problems (listed below), leaving {analysed} episodes analysed. "
        "{warnings} kept rows carry a warning worth checking at source.",
        source=accounting.source or "export", read=f"{accounting.rows_read:,}", outside=f"{outside:,}",
        problems=f"{sum(by_reason.values()):,}", analysed=f"{accounting.rows_analysed:,}", warnings=f"{warnings:,}",
    ) + _fitness_text(accounting, external=False)


def _fitness_text(accounting, *, external: bool) -> str:
    """The fitness checks (signs the figures would be wrong) as a paragraph; '' when there are none."""
    if not accounting.fitness:
        return ""
    messages = [check.public_message if external else check.message for check in accounting.fitness]
    return "\n\n" + markdown_text("**Check before relying on these figures:** {messages}", messages=" ".join(messages))


def data_quality_table(
    analysis: Analysis, *, external: bool = False, policy: SuppressionPolicy = DEFAULT_POLICY
) -> pd.DataFrame:
    """Exclusion and warning reasons with counts, in plain English (no row numbers)."""
    from ..ingest.accounting import EXCLUSION_REASONS, WARNING_REASONS

    accounting = analysis.accounting
    excluded, warnings = accounting.excluded_by_reason(), accounting.warnings_by_reason()
    if external:
        from .summary import external_data_quality

        shown = external_data_quality(accounting, policy)
        excluded, warnings = shown["excluded_by_reason"], shown["warnings"]
    def sentence(text: str) -> str:  # the reasons are phrases for sentences; a table cell starts with a capital
        return text[:1].upper() + text[1:]

    rows = [{"Rows": "Excluded", "Reason": sentence(EXCLUSION_REASONS[r]), "Number": n} for r, n in excluded.items()]
    rows += [{"Rows": "Kept, with a warning", "Reason": sentence(WARNING_REASONS[r]), "Number": n}
             for r, n in warnings.items()]
    return pd.DataFrame(rows, columns=["Rows", "Reason", "Number"])
