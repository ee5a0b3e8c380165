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
from .labels import routes_for_readers
from .summary import suppress_simple
from .suppression import DEFAULT_POLICY, SuppressionPolicy


@dataclass
class PathwayReview:
    """Suppressed tables for the partner pathway review."""

    adherence: pd.DataFrame
    routes: pd.DataFrame
    approvals_by_team: pd.DataFrame
    agency_response: pd.DataFrame
    handoffs: pd.DataFrame
    themes: pd.DataFrame

    @classmethod
    def build(cls, analysis: Analysis, policy: SuppressionPolicy = DEFAULT_POLICY) -> PathwayReview:
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
