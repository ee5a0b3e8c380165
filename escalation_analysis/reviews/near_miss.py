"""The near-miss learning review (internal): where and why escalation was late or missed.

For quality and patient-safety leads, in the spirit of a PSIRF thematic review: late and
missed escalations by team, time of day and lone working; whether the differences are real;
the teams compared fairly; near misses and barriers; cases worth a review; questions for the
pathway owner; learning actions; data quality. Internal: pseudonyms and free text appear.
"""

from __future__ import annotations

import functools

from ..measures import casemix, comparisons, learning, trends
from ..measures import near_misses as patterns
from ..measures.analysis import Analysis
from ..measures.timeliness import TimelinessTables
from . import charts, labels, narrative
from .front_sheet import actions_by_theme, barriers_by_lone_working, episode_barriers, front_sheet_html
from .kinds import kind as kind_named
from .review import Review, Sections
from .summary import Summary, build_summary

KIND = "near-miss-review"

#: Where each front-sheet finding is shown in this review: (section, its heading).
FRONT_SHEET_LINKS = {
    "teams": ("teams", "Teams compared fairly"),
    "out_of_hours": ("comparisons", "Late and missed escalations"),
    "lone_working": ("barriers", "Barriers to escalation"),
    "learning_actions": ("learning_actions", "Learning actions"),
    "data_quality": ("data_quality", "Data quality"),
}
#: A team needs this many episodes in the period for its monthly chart to mean anything.
MIN_TEAM_EPISODES = 20
#: A team needs this many episodes to be placed on the funnel plot.
MIN_FUNNEL_EPISODES = 5


def summary(analysis: Analysis, audience: str = "internal") -> Summary:
    """The review's ``summary.json`` and tables without its pages (what the runner writes beside it)."""
    return build_summary(analysis, report=KIND, audience=audience)


def build(analysis: Analysis, audience: str = "internal") -> Review:
    """The near-miss review of ``analysis`` for ``audience`` (internal unless asked otherwise)."""
    if audience != "internal":
        raise ValueError("The near-miss review shows pseudonyms and free text: it is internal only.")
    episodes = analysis.episodes
    s = Sections()
    s.add("front_sheet", front_sheet_html(analysis, kind_named(KIND).title, audience, FRONT_SHEET_LINKS))
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
        km_monthly = trends.time_to_escalate_xmr(analysis.history, analysis.as_of)
        if len(km_monthly.points):
            s.chart("delays", charts.spc_chart, km_monthly, title="Median time to escalate, by month",
                    y_title="Minutes (Kaplan-Meier median)", changes=analysis.pathway.changes,
                    caption="Each month's median time to escalate, counting the episodes not escalated "
                            "(a month with more of them has a longer median), with process limits.")
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
                title="Near misses reported per incident, by quarter", y_title="Near misses per incident",
                changes=analysis.pathway.changes)
    _barriers(s, analysis)
    s.table("repeat_users", patterns.repeat_service_users(episodes, min_episodes=3).head(15),
            "Three or more episodes in the period", if_empty="No service user had three or more episodes in the period.")
    s.table("cases", patterns.cases_to_review(episodes, limit=12), "Cases to review",
            if_empty="No escalation in the period was late or missed.")
    themes = patterns.pathway_themes(episodes, exploded=episode_barriers(analysis))
    s.table("pathway_questions", themes[["theme", "episodes", "late_pct", "question"]], "Themes and questions",
            percent=["late_pct"], if_empty="No recorded barrier matches a pathway theme in this period.")
    s.text("learning_actions", narrative.learning_actions(analysis))
    if analysis.actions is not None:
        s.table("learning_actions", _actions_by_theme(analysis), "Learning actions by status and theme of the episode",
                if_empty="No learning action was raised by the end of the period.")
    if analysis.actions is not None:
        s.table("learning_actions", learning.overdue_actions(analysis.actions_frame, episodes, analysis.as_of),
                "Overdue learning actions, most overdue first", if_empty="No learning action is overdue.")
    s.text("data_quality", narrative.data_quality(analysis))
    s.table("data_quality", narrative.data_quality_table(analysis), "Rows excluded and warnings",
            if_empty="No row was excluded and no kept row carries a warning.")
    return Review(KIND, audience, kind_named(KIND).title, analysis.start, analysis.end, s.result(),
                  functools.partial(summary, analysis, audience))


def _teams(s: Sections, analysis: Analysis) -> None:
    """The funnel of teams and the monthly chart of the lowest team, when there are enough episodes."""
    episodes = analysis.episodes
    sizes = episodes.loc[episodes["team"] != "Not recorded", "team"].value_counts()
    if (sizes >= MIN_FUNNEL_EPISODES).sum() >= 2:
        s.chart("teams", charts.funnel_plot, trends.team_funnel(episodes, min_episodes=MIN_FUNNEL_EPISODES),
                title="Teams' share escalated within target")
        if casemix.placeable_teams(episodes, min_episodes=MIN_FUNNEL_EPISODES):
            s.chart("teams", charts.funnel_plot, casemix.casemix_funnel(episodes, min_episodes=MIN_FUNNEL_EPISODES),
                    title="Teams compared for their case mix",
                    subtitle="Escalated within target, observed / expected for each team's own triggers in and out "
                             "of hours",
                    caption="A team that takes more of its work out of hours, or more urgent triggers, is expected "
                            "to escalate within target less often: here each team is compared with the service "
                            "doing the same work. 1 is as expected.")
        else:
            s.text("teams", "The service escalated all or none of every kind of episode within target, so no team "
                            "can be compared for its case mix.")
    else:
        s.text("teams", "Fewer than two teams had enough episodes in the period to compare them on a funnel plot.")
    lowest = trends.lowest_team(episodes, MIN_TEAM_EPISODES)
    if not lowest:
        s.text("teams", f"No team had {MIN_TEAM_EPISODES} or more episodes in the period, so no team's monthly "
                        "chart is shown.")
        return
    s.chart("teams", charts.spc_chart, trends.compliance_p_chart(analysis.history, team=lowest),
            title=f"Escalated within target by month: {lowest}", y_title="Within target (%)", percent=True,
            changes=analysis.pathway.changes)


def _barriers(s: Sections, analysis: Analysis) -> None:
    """Barriers met, overall and by lone working, and which barriers occur together."""
    episodes, exploded = analysis.episodes, episode_barriers(analysis)
    if exploded.empty:
        s.text("barriers", "No barriers were recorded for the episodes in this period (or the export has no "
                           "barriers column).")
        return
    frequency = patterns.barrier_frequency(episodes, exploded=exploded)
    s.chart("barriers", charts.bar_counts, frequency.head(10), x="barrier", y="episodes",
            title="Most frequent barriers", value_title="Episodes")
    by_lone_working = barriers_by_lone_working(analysis)
    by_lone_working = by_lone_working[by_lone_working["lone_worker"] != "not recorded"]
    if by_lone_working["lone_worker"].nunique() >= 2:
        s.chart("barriers", charts.group_shares, by_lone_working, "barrier", "lone_worker", "episodes_pct",
                title="Barriers met by lone workers and by accompanied staff",
                value_title="Share of the group's episodes (%)", labels=labels.VALUES)
    else:
        s.text("barriers", "Lone working is not recorded for both lone workers and accompanied staff in this "
                           "period, so their barriers cannot be compared.")
    s.chart("barriers", charts.barrier_cooccurrence, patterns.barrier_cooccurrence(episodes, exploded=exploded))


def _actions_by_theme(analysis: Analysis):
    """Learning actions by status and theme, in readers' words (themes as the pathway questions name them)."""
    table = actions_by_theme(analysis)
    return table.assign(theme=table["theme"].map(lambda t: labels.VALUES.get(t, "No theme recorded"))).rename(
        columns={"theme": "Theme", "actions": "Actions", "overdue": "Overdue", "open_on_time": "Open, not yet due",
                 "closed": "Closed"})
