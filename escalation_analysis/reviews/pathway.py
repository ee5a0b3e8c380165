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
        responses = every_agency(response_by_agency(agency_responses(episodes, steps), analysis.pathway),
                                 analysis.pathway)
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


def every_agency(responses: pd.DataFrame, pathway) -> pd.DataFrame:
    """The response table with a row for every agency the pathway names (a contact or a response
    target), so an agency nobody contacted shows as 0 contacts rather than not at all."""
    named = list(dict.fromkeys([*pathway.response_targets_minutes, *(c.agency for c in pathway.contacts.values())]))
    present = set(responses["agency"].astype("str"))
    missing = [a for a in named if a not in present]
    if not missing:
        return responses
    extra = pd.DataFrame({"agency": missing, "contacts": 0, "responses_recorded": 0,
                          "target_minutes": [pathway.response_targets_minutes.get(a) for a in missing]})
    out = pd.concat([responses.assign(agency=responses["agency"].astype("str")), extra], ignore_index=True)
    return out[responses.columns]


def adherence_summary_text(tables: PathwayTables, limit: int) -> str:
    """The pathway checks in words: information shared, approvals (the team furthest below the
    others), the first contact and the order of steps; percentages as the tables publish them."""
    def share(check: str) -> float | None:
        rows = tables.adherence[tables.adherence["check"] == check]
        value = rows["passed_pct"].iloc[0] if len(rows) else None
        return None if value is None or pd.isna(value) else float(value)

    parts = []
    information = share("information_complete")
    if information is not None:
        parts.append(f"the required information was shared in {information:.0f}% of episodes")
    approvals = share("approvals_within_limit")
    if approvals is not None:
        text = f"approvals stayed within the limit of {limit} in {approvals:.0f}%"
        teams = tables.approvals_by_team.dropna(subset=["passed_pct"])
        teams = teams[teams["passed_pct"].map(lambda v: not isinstance(v, str))]
        if len(teams) >= 3:
            lowest = teams.loc[teams["passed_pct"].astype(float).idxmin()]
            others = teams[teams["team"] != lowest["team"]]["passed_pct"].astype(float)
            if float(lowest["passed_pct"]) < others.min() - 10:
                text += (f", but in {lowest['team']} only {float(lowest['passed_pct']):.0f}% against "
                         f"{others.min():.0f}–{others.max():.0f}% in the other teams")
        parts.append(text)
    first, order = share("first_contact_correct"), share("in_order")
    if first is not None:
        parts.append(f"the first contact was the one the pathway expects in {first:.0f}%")
    if order is not None:
        parts.append(f"the expected steps were taken in order in {order:.0f}%")
    if not parts:
        return "No step log was supplied, so whether the pathway was followed cannot be said."
    sentence = "; ".join(parts)
    return markdown_text("In this period {text}.", text=sentence)


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
    s.text("headline", adherence_summary_text(tables, analysis.pathway.max_approvals_before_action))
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
