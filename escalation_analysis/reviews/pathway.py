"""The pathway review with partners: step conformance, approvals, agency response, themes.

Everything here is for a partner audience, so every table is suppressed (counts of 1 to 7
hidden, rates on hidden counts withheld) and carries no identifiers or free text.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..measures.adherence import adherence_summary, episode_adherence, route_variants
from ..measures.agencies import agency_responses, handoff_delays, handoff_summary, response_by_agency
from ..measures.analysis import Analysis
from ..measures.near_misses import pathway_themes
from . import charts, labels, narrative
from .display import markdown_text
from .front_sheet import front_sheet_html
from .kinds import kind as kind_named
from .labels import routes_for_readers
from .review import Review, Sections
from .summary import build_summary, suppress_simple
from .suppression import DEFAULT_POLICY, SuppressionPolicy

KIND = "pathway-review"

#: Where each front-sheet finding is shown in this review: (section, its heading).
FRONT_SHEET_LINKS = {
    "lone_working": ("themes", "What the data suggests changing"),
    "data_quality": ("data_quality", "Data quality"),
}


@dataclass
class PathwayTables:
    """The partner pathway review's tables, suppressed."""

    adherence: pd.DataFrame
    routes: pd.DataFrame
    approvals_by_team: pd.DataFrame
    agency_response: pd.DataFrame
    handoffs: pd.DataFrame
    themes: pd.DataFrame

    @classmethod
    def build(cls, analysis: Analysis, policy: SuppressionPolicy = DEFAULT_POLICY) -> PathwayTables:
        steps = analysis.steps_frame
        episodes = analysis.episodes
        adherence = episode_adherence(episodes, steps, analysis.pathway)
        checks = adherence_summary(adherence)
        approvals = adherence_summary(adherence, "team")
        approvals = approvals[approvals["check"] == "approvals_within_limit"].drop(columns=["check"])
        approvals = approvals[approvals["team"] != "Not recorded"]
        responses = response_by_agency(agency_responses(episodes, steps), analysis.pathway)
        themes = pathway_themes(episodes, adherence)[["theme", "episodes", "late", "late_pct", "question"]]
        ci = ["passed_pct", "ci95_low_pct", "ci95_high_pct"]
        return cls(
            adherence=suppress_simple(checks, ["checked", "passed"], ci, policy),
            routes=suppress_simple(_readable(route_variants(adherence, steps), "route"), ["episodes"], [], policy),
            approvals_by_team=suppress_simple(approvals, ["checked", "passed"], ci, policy),
            agency_response=suppress_simple(
                responses, ["contacts", "responses_recorded", "within_target"],
                ["median_minutes", "p90_minutes", "within_target_pct"], policy,
            ),
            handoffs=suppress_simple(_readable(handoff_summary(handoff_delays(episodes, steps)), "handoff"), ["n"],
                                     ["median_minutes", "p90_minutes"], policy),
            themes=suppress_simple(themes, ["episodes", "late"], ["late_pct"], policy),
        )


def _readable(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """The table with its route column in readers' words."""
    return table.assign(**{column: routes_for_readers(table[column])})


def build(analysis: Analysis, audience: str = "partners") -> Review:
    """The pathway review with partners: every table suppressed, no identifiers or free text."""
    if audience == "internal":
        raise ValueError("The pathway review is shared with partners: build it for partner readers.")
    tables = PathwayTables.build(analysis)
    ci = ["passed_pct", "ci95_low_pct", "ci95_high_pct"]
    no_steps = "No step log was supplied, so the steps taken cannot be checked."
    s = Sections()
    s.add("front_sheet", front_sheet_html(analysis, kind_named(KIND).title, audience, FRONT_SHEET_LINKS))
    s.text("headline", narrative.headline(analysis, external=True))
    if not tables.adherence.empty:
        s.chart("steps", charts.bar_counts, tables.adherence, x="check", y="passed_pct", labels=labels.VALUES,
                title="Episodes passing each pathway check", value_title="Passed (%)", percent=True)
    s.table("steps", tables.adherence, "Pathway checks", percent=ci, if_empty=no_steps)
    s.table("steps", tables.routes, "Most common routes taken", if_empty=no_steps)
    s.text("approvals", markdown_text("Most approvals allowed before action: **{limit}**.",
                                      limit=analysis.pathway.max_approvals_before_action))
    s.table("approvals", tables.approvals_by_team, "Approvals within the limit, by team", percent=["passed_pct"],
            if_empty="Approvals before action are not recorded for the episodes in this period.")
    if not tables.agency_response.empty and tables.agency_response["median_minutes"].notna().any():
        s.chart("agencies", charts.bar_counts, tables.agency_response, x="agency", y="median_minutes",
                labels=labels.VALUES, target="target_minutes", minutes=True,
                title="Median response time by agency", value_title="Median response (minutes)")
    s.table("agencies", tables.agency_response, "Response by receiving agency",
            if_empty="No contact with a receiving agency is recorded in this period.")
    s.table("agencies", tables.handoffs, "Hand-offs between contacts (minutes)", if_empty=no_steps)
    s.table("themes", tables.themes, "Themes and questions for the pathway", percent=["late_pct"],
            if_empty="No recorded barrier matches a pathway theme in this period.")
    s.text("data_quality", narrative.data_quality(analysis, external=True))
    s.table("data_quality", narrative.data_quality_table(analysis, external=True), "Rows excluded and warnings",
            if_empty="No row was excluded and no kept row carries a warning.")
    return Review(KIND, audience, kind_named(KIND).title, analysis.start, analysis.end, s.result(),
                  build_summary(analysis, report=KIND, audience=audience))
