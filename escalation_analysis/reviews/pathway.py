"""The pathway review with partners: step conformance, approvals, agency response, themes.

Everything here is for a partner audience, so every table comes from the disclosure plan
(:mod:`~escalation_analysis.reviews.disclosure`): counts of 1 to 7 as ``*``, other counts
rounded, withheld figures ``[c]``; no identifiers or free text.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..measures.analysis import Analysis
from .disclosure import DisclosurePlan, DisclosurePolicy, plan_for, policy_for
from .labels import routes_for_readers


@dataclass
class PathwayReview:
    """The partner pathway review's tables, as the disclosure plan publishes them."""

    adherence: pd.DataFrame
    routes: pd.DataFrame
    approvals_by_team: pd.DataFrame
    agency_response: pd.DataFrame
    handoffs: pd.DataFrame
    themes: pd.DataFrame

    @classmethod
    def build(cls, analysis: Analysis, policy: DisclosurePolicy | None = None, *,
              plan: DisclosurePlan | None = None) -> PathwayReview:
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


def _readable(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """The table with its route column in readers' words."""
    return table.assign(**{column: routes_for_readers(table[column])}) if len(table) else table
