"""The near-miss learning review (internal): where and why escalation was late or missed.

For quality and patient-safety leads, in the spirit of a PSIRF thematic review: late and
missed escalations by team, time of day and lone working; whether the differences are real;
the teams compared fairly; near misses and barriers; cases worth a review; questions for the
pathway owner; learning actions; data quality. Internal: pseudonyms and free text appear.
"""

from __future__ import annotations

from ..measures import comparisons, learning, trends
from ..measures import near_misses as patterns
from ..measures.analysis import Analysis
from ..measures.timeliness import TimelinessTables
from . import charts, narrative
from .kinds import kind as kind_named
from .review import Review, Sections
from .summary import build_summary

KIND = "near-miss-review"

#: A team needs this many episodes in the period for its monthly chart to mean anything.
MIN_TEAM_EPISODES = 20
#: A team needs this many episodes to be placed on the funnel plot.
MIN_FUNNEL_EPISODES = 5


def build(analysis: Analysis, audience: str = "internal") -> Review:
    """The near-miss review of ``analysis`` for ``audience`` (internal unless asked otherwise)."""
    if audience != "internal":
        raise ValueError("The near-miss review shows pseudonyms and free text: it is internal only.")
    episodes = analysis.episodes
    s = Sections()
    s.text("headline", narrative.headline(analysis))
    s.text("headline", narrative.change_since_previous(analysis))
    if episodes.empty:
        s.text("late_and_missed", narrative.NO_EPISODES)
    else:
        tables = TimelinessTables(episodes)
        for by, title in (("team", "Escalated within target, by team"),
                          ("ooh_sub_band", "Escalated within target, in and out of hours"),
                          ("lone_worker", "Escalated within target, lone workers and accompanied staff")):
            s.chart("late_and_missed", charts.compliance_by_group, tables.table(by), by, title=title)
    s.text("comparisons", narrative.comparisons(analysis))
    if episodes["escalated"].any():
        s.chart("delays", charts.delay_distribution, episodes, by="band")
        s.chart("delays", charts.km_curves, comparisons.escalation_curves(episodes, "band", analysis.as_of))
    else:
        s.text("delays", "No episode in the period has an escalation recorded, so there are no delays to show.")
    _teams(s, analysis)
    if episodes.empty:
        s.text("heatmap", narrative.NO_EPISODES)
    else:
        s.chart("heatmap", charts.late_heatmap, patterns.late_heatmap(episodes, analysis.pathway.timezone))
    s.table("near_misses", patterns.near_miss_table(episodes, "team"), "Near misses and late escalations by team",
            if_empty=narrative.NO_EPISODES)
    ratio = patterns.near_miss_ratio(analysis.all_episodes, "quarter")
    if ratio["ratio"].notna().any():
        s.chart("near_misses", charts.trend_line, ratio, x="quarter", y="ratio",
                title="Near misses reported per incident, by quarter", y_title="Near misses per incident")
    _barriers(s, episodes)
    s.table("repeat_users", patterns.repeat_service_users(episodes, min_episodes=3).head(15),
            "Three or more episodes in the period", if_empty="No service user had three or more episodes in the period.")
    s.table("cases", patterns.cases_to_review(episodes, limit=12), "Cases to review",
            if_empty="No escalation in the period was late or missed.")
    themes = patterns.pathway_themes(episodes)
    s.table("pathway_questions", themes[["theme", "episodes", "late_pct", "question"]], "Themes and questions",
            percent=["late_pct"], if_empty="No recorded barrier matches a pathway theme in this period.")
    s.text("learning_actions", narrative.learning_actions(analysis))
    if analysis.actions is not None:
        s.table("learning_actions", learning.overdue_actions(analysis.actions_frame, episodes, analysis.as_of),
                "Overdue learning actions, most overdue first", if_empty="No learning action is overdue.")
    s.text("data_quality", narrative.data_quality(analysis))
    s.table("data_quality", narrative.data_quality_table(analysis), "Rows excluded and warnings",
            if_empty="No row was excluded and no kept row carries a warning.")
    return Review(KIND, audience, kind_named(KIND).title, analysis.start, analysis.end, s.result(),
                  build_summary(analysis, report=KIND, audience=audience))


def _teams(s: Sections, analysis: Analysis) -> None:
    """The funnel of teams and the monthly chart of the lowest team, when there are enough episodes."""
    episodes = analysis.episodes
    sizes = episodes.loc[episodes["team"] != "Not recorded", "team"].value_counts()
    if (sizes >= MIN_FUNNEL_EPISODES).sum() >= 2:
        s.chart("teams", charts.funnel_plot, trends.team_funnel(episodes, min_episodes=MIN_FUNNEL_EPISODES),
                title="Teams' share escalated within target")
    else:
        s.text("teams", "Fewer than two teams had enough episodes in the period to compare them on a funnel plot.")
    lowest = trends.lowest_team(episodes, MIN_TEAM_EPISODES)
    if not lowest:
        s.text("teams", f"No team had {MIN_TEAM_EPISODES} or more episodes in the period, so no team's monthly "
                        "chart is shown.")
        return
    s.chart("teams", charts.spc_chart, trends.compliance_p_chart(analysis.history, team=lowest),
            title=f"Escalated within target by month: {lowest}", y_title="Within target (%)", percent=True)


def _barriers(s: Sections, episodes) -> None:
    """Barriers met, overall and by lone working, and which barriers occur together."""
    if patterns.explode_barriers(episodes).empty:
        s.text("barriers", "No barriers were recorded for the episodes in this period (or the export has no "
                           "barriers column).")
        return
    frequency = patterns.barrier_frequency(episodes)
    s.chart("barriers", charts.bar_counts, frequency.head(10), x="barrier", y="episodes",
            title="Most frequent barriers", value_title="Episodes")
    s.table("barriers", patterns.barrier_frequency(episodes, "lone_worker").head(12), "Barriers by lone working",
            if_empty="Lone working was not recorded.")
    s.chart("barriers", charts.barrier_cooccurrence, patterns.barrier_cooccurrence(episodes))
