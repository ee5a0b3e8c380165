"""Teams compared fairly for their case mix: indirect standardisation of escalations in time.

A team that takes most of its referrals out of hours, or most of the urgent triggers, will
escalate within target less often than one that works office hours, whatever its practice:
out of hours every step is slower. Indirect standardisation asks instead: given this team's own
mix of triggers and in/out-of-hours work, how many of its episodes would have been escalated
within target at the service-wide rate of each kind of episode? That number is the team's
*expected* count E = Σₛ nₜₛ·rₛ, where nₜₛ is the team's episodes of kind s (trigger × in or out
of hours) and rₛ the service's share within target for that kind. Observed / expected above 1
means better than the service for the same work.

Without case mix the expected count is the team's episodes times the service's overall share
(the plain proportion funnel on the ratio scale), so the two funnels can be put side by side.
Under the null each episode is a Bernoulli trial, so the observed count's variance is
Σₛ nₜₛ·rₛ(1 − rₛ): the funnel uses it (normal limits per team) rather than Poisson limits,
which would be far too wide for an outcome as common as "within target".
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .funnels import FunnelResult
from .ratio_funnels import ratio_funnel

__all__ = ["CASE_MIX", "casemix_funnel", "placeable_teams", "team_ratios"]

CASE_MIX: tuple[str, ...] = ("trigger", "band")
"""What a team's work is standardised for: the trigger and in or out of hours."""


def team_ratios(
    prepared: pd.DataFrame,
    *,
    strata: Sequence[str] = CASE_MIX,
    unit: str = "team",
    outcome: str = "within_target",
    min_episodes: int = 5,
) -> pd.DataFrame:
    """Observed and expected episodes within target per team, with and without case mix.

    Parameters
    ----------
    prepared
        Episodes (``Analysis.history`` or ``episodes``) with ``unit``, ``outcome`` (boolean)
        and the ``strata`` columns.
    strata
        Columns whose combinations define kinds of episode (default trigger × band).
    unit, outcome
        The column naming the team and the boolean outcome counted.
    min_episodes
        Teams with fewer episodes are left out (too few to place); "Not recorded" is never a
        team. The service-wide rates use every episode.

    Returns
    -------
    pandas.DataFrame
        One row per team: ``unit``, ``episodes``, ``observed``; ``expected`` and ``variance``
        for its case mix; ``expected_crude`` and ``variance_crude`` from the overall share;
        ``ratio`` (observed / expected) and ``ratio_crude``; ``share_out_of_hours`` when
        ``band`` is a stratum.
    """
    columns = [unit, outcome, *strata]
    missing = [c for c in columns if c not in prepared.columns]
    if missing:
        raise ValueError(f"Column '{missing[0]}' is not in the episodes.")
    frame = prepared[columns].dropna(subset=list(strata))
    success = frame[outcome].astype(bool)
    rate = success.groupby([frame[s] for s in strata], observed=True).transform("mean")
    overall = float(success.mean()) if len(success) else float("nan")
    per_episode = pd.DataFrame(
        {
            "unit": frame[unit].astype("string"),
            "episodes": 1,
            "observed": success.astype(int),
            "expected": rate,
            "variance": rate * (1 - rate),
            "out_of_hours": (frame["band"] == "out_of_hours") if "band" in strata else False,
        }
    )
    table = per_episode.groupby("unit", sort=True).agg(
        episodes=("episodes", "sum"),
        observed=("observed", "sum"),
        expected=("expected", "sum"),
        variance=("variance", "sum"),
        share_out_of_hours=("out_of_hours", "mean"),
    )
    table = table[(table.index != "Not recorded") & (table["episodes"] >= min_episodes)]
    table["expected_crude"] = table["episodes"] * overall
    table["variance_crude"] = table["episodes"] * overall * (1 - overall)
    table["ratio"] = table["observed"] / table["expected"]
    table["ratio_crude"] = table["observed"] / table["expected_crude"]
    if "band" not in strata:
        table = table.drop(columns="share_out_of_hours")
    return table.reset_index()


def casemix_funnel(
    prepared: pd.DataFrame,
    *,
    adjusted: bool = True,
    quarter: str | None = None,
    strata: Sequence[str] = CASE_MIX,
    min_episodes: int = 5,
) -> FunnelResult:
    """Teams' observed / expected episodes within target on a funnel.

    ``adjusted=True`` expects each team's case mix (:func:`team_ratios`); ``False`` expects
    the service's overall share for every episode, which is the plain proportion funnel on
    the same ratio scale. ``quarter`` (e.g. ``"2025/26 Q3"``) restricts the episodes first.
    """
    frame = prepared if quarter is None else prepared[prepared["quarter"] == quarter]
    table = team_ratios(frame, strata=strata, min_episodes=min_episodes)
    if table.empty:
        raise ValueError("No team has enough episodes to place on a funnel.")
    suffix = "" if adjusted else "_crude"
    placeable = _leaves_room_for_chance(table, suffix)
    if not placeable.any():
        raise ValueError("No team can be placed on a funnel: the service escalated all or none of every kind of "
                         "episode within target.")
    result = ratio_funnel(table[placeable], "observed", f"expected{suffix}", "unit", variance=f"variance{suffix}")
    left_out = table.loc[~placeable, "unit"].tolist()
    if left_out:
        result.warnings.append(f"Not placed: {', '.join(left_out)}. The service escalated all or none of the "
                               "episodes like theirs within target, so they can only be as expected.")
    return result


def placeable_teams(prepared: pd.DataFrame, *, adjusted: bool = True, strata: Sequence[str] = CASE_MIX,
                    min_episodes: int = 5) -> int:
    """How many teams :func:`casemix_funnel` would place (0: there is no funnel to draw)."""
    table = team_ratios(prepared, strata=strata, min_episodes=min_episodes)
    return int(_leaves_room_for_chance(table, "" if adjusted else "_crude").sum())


def _leaves_room_for_chance(table: pd.DataFrame, suffix: str) -> pd.Series:
    """Teams with an expected count and a variance above 0. When the service escalated every
    episode like a team's within target, or none, the team's observed count is its expected
    count by construction: a funnel cannot judge it (and its limits would divide by 0)."""
    return (table[f"expected{suffix}"] > 0) & (table[f"variance{suffix}"] > 0)
