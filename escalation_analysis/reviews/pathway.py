"""The pathway review with partners: step conformance, approvals, agency response, themes.

Everything here is for a partner audience, so every table, chart and sentence takes its
figures from the disclosure plan (:mod:`~escalation_analysis.reviews.disclosure`): counts of
1 to 7 as ``*``, other counts rounded, withheld figures ``[c]``, a key to the marks and the
audit's statement; no identifiers or free text.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ..measures.analysis import Analysis
from . import charts, labels, narrative
from .disclosure import DisclosurePlan, DisclosurePolicy, plan_for, policy_for, published
from .display import markdown_text
from .front_sheet import front_sheet_html
from .kinds import kind as kind_named
from .labels import routes_for_readers
from .review import Review, Sections
from .summary import Summary, build_summary

KIND = "pathway-review"

#: Where each front-sheet finding is shown in this review: (section, its heading).
FRONT_SHEET_LINKS = {
    "lone_working": ("themes", "What the data suggests changing"),
    "data_quality": ("data_quality", "Data quality"),
}


@dataclass
class PathwayTables:
    """The partner pathway review's tables, as the disclosure plan publishes them."""

    adherence: pd.DataFrame
    routes: pd.DataFrame
    approvals_by_team: pd.DataFrame
    agency_response: pd.DataFrame
    handoffs: pd.DataFrame
    themes: pd.DataFrame

    @classmethod
    def build(cls, analysis: Analysis, policy: DisclosurePolicy | None = None, *,
              plan: DisclosurePlan | None = None) -> PathwayTables:
        """Every table from the plan of the analysis (the partners' policy unless one is given):
        the same figures, shown the same way, as every other outside output of this period."""
        plan = plan if plan is not None else plan_for(analysis, policy or policy_for("partners"))

        def table(name: str, columns: list[str]) -> pd.DataFrame:
            if name not in plan.tables:
                return pd.DataFrame(columns=columns)
            return plan.table(name).for_readers()[columns]

        ci = ["passed_pct", "ci95_low_pct", "ci95_high_pct"]
        return cls(
            adherence=table("adherence", ["check", "checked", "passed", *ci]),
            routes=_readable(table("routes", ["route", "episodes"]), "route"),
            approvals_by_team=table("approvals_by_team", ["team", "checked", "passed", "passed_pct"]),
            agency_response=table("agency_response", ["agency", "contacts", "responses_recorded", "median_minutes",
                                                      "p90_minutes", "target_minutes", "within_target",
                                                      "within_target_pct"]),
            handoffs=_readable(table("handoffs", ["handoff", "n", "median_minutes", "p90_minutes"]), "handoff"),
            themes=table("themes", ["theme", "episodes", "late", "late_pct", "question"]),
        )


def adherence_summary_text(tables: PathwayTables, limit: int) -> str:
    """The pathway checks in words: information shared, approvals (the team furthest below the
    others), the first contact and the order of steps; percentages as the tables publish them."""
    def share(check: str) -> float | None:
        rows = tables.adherence[tables.adherence["check"] == check]
        value = rows["passed_pct"].iloc[0] if len(rows) else None
        return None if value is None or isinstance(value, str) or pd.isna(value) else float(value)

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
    return table.assign(**{column: routes_for_readers(table[column])}) if len(table) else table


def _plan(analysis: Analysis, audience: str, disclosure: str | None,
          alongside: Sequence[DisclosurePlan] = ()) -> DisclosurePlan:
    if audience == "internal":
        raise ValueError("The pathway review is shared with partners: build it for partner readers.")
    return plan_for(analysis, policy_for(audience, disclosure), alongside)


def summary(analysis: Analysis, audience: str = "partners", *, disclosure: str | None = None,
            alongside: Sequence[DisclosurePlan] = ()) -> Summary:
    """The review's ``summary.json`` and tables without its pages (what the runner writes beside it)."""
    return build_summary(analysis, report=KIND, audience=audience, plan=_plan(analysis, audience, disclosure, alongside))


def build(analysis: Analysis, audience: str = "partners", *, disclosure: str | None = None,
          alongside: Sequence[DisclosurePlan] = ()) -> Review:
    """The pathway review with partners, under the audience's disclosure policy (or ``disclosure``)."""
    plan = _plan(analysis, audience, disclosure, alongside)
    tables = PathwayTables.build(analysis, plan=plan)
    ci = ["passed_pct", "ci95_low_pct", "ci95_high_pct"]
    no_steps = "No step log was supplied, so the steps taken cannot be checked."
    s = Sections()
    s.add("front_sheet", front_sheet_html(analysis, kind_named(KIND).title, audience, FRONT_SHEET_LINKS, plan=plan))
    s.text("headline", narrative.headline(analysis, external=True, plan=plan))
    s.text("headline", published.key_markdown(plan))
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
    # agencies with no response recorded have no median to draw: the table lists them with their 0
    responded = tables.agency_response[pd.to_numeric(tables.agency_response["responses_recorded"],
                                                     errors="coerce").ne(0)]
    if any(published.shown(v) for v in responded["median_minutes"]):
        s.chart("agencies", charts.bar_counts, responded, x="agency", y="median_minutes",
                labels=labels.VALUES, target="target_minutes", minutes=True,
                title="Median response time by agency", value_title="Median response (minutes)")
    s.table("agencies", tables.agency_response, "Response by receiving agency",
            if_empty="No contact with a receiving agency is recorded in this period.")
    s.table("agencies", tables.handoffs, "Hand-offs between contacts (minutes)", if_empty=no_steps)
    s.table("themes", tables.themes, "Themes and questions for the pathway", percent=["late_pct"],
            if_empty="No recorded barrier matches a pathway theme in this period.")
    s.text("data_quality", narrative.data_quality(analysis, external=True, plan=plan))
    s.table("data_quality", narrative.data_quality_table(analysis, external=True, plan=plan),
            "Rows excluded and warnings", if_empty="No row was excluded and no kept row carries a warning.")
    s.text("data_quality", published.methods_markdown(plan))
    return Review(KIND, audience, kind_named(KIND).title, analysis.start, analysis.end, s.result(),
                  functools.partial(summary, analysis, audience, disclosure=disclosure, alongside=alongside))
