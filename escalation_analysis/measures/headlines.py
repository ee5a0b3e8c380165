"""The few results a front sheet leads with, as numbers: what changed, where, for whom.

A board reads page 1 and stops. These are the findings the reviews put there, computed from
the same definitions as the sections they summarise (the reviews put them into words, for
each audience):

* :func:`concerning_groups`: which teams' monthly compliance shows special-cause concern in
  the period, and since which month (the team p-charts);
* :func:`delay_ratio`: how many times longer the median delay to escalate is out of hours
  than in hours, with a bootstrap 95% interval;
* :func:`lone_working_barriers`: the barriers lone workers meet far more often than
  accompanied staff;
* :func:`actions_by_theme` and :func:`overdue_by_theme`: learning actions by status and by
  the barrier theme of the episode they were raised from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..ingest.files import text_isin
from .kpi_trends import special_cause_groups
from .learning import action_status
from .near_misses import THEMES, barrier_frequency, explode_barriers

__all__ = [
    "DelayRatio",
    "actions_by_theme",
    "concerning_groups",
    "delay_ratio",
    "lone_working_barriers",
    "overdue_by_theme",
    "overdue_in",
]

BOOTSTRAP_SAMPLES = 2000
"""Resamples behind the interval of a ratio of medians."""

MIN_GROUP = 10
"""Fewer escalated episodes than this on either side: no ratio is given (it would be noise)."""


def concerning_groups(history: pd.DataFrame, start: dt.date, target_pct: float | None) -> pd.DataFrame:
    """Teams whose monthly compliance is special cause of concern in the period (see
    :func:`~escalation_analysis.measures.kpi_trends.special_cause_groups`), worst first."""
    return special_cause_groups(history, start, by="team", target_pct=target_pct)


@dataclass(frozen=True)
class DelayRatio:
    """Median delay out of hours over median delay in hours, with its 95% interval.

    ``ratio`` and the interval are None when either side has fewer than :data:`MIN_GROUP`
    escalated episodes.
    """

    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    median_in_hours: float
    median_out_of_hours: float
    n_in_hours: int
    n_out_of_hours: int


def _bootstrap_medians(values: np.ndarray, rng: np.random.Generator, samples: int) -> np.ndarray:
    """Medians of ``samples`` resamples, drawn in blocks so memory stays small for big exports.

    The medians ``np.median`` gives, bit for bit, a few times faster: a resample's middle
    values are read off its draws' ranks among ``values`` (sorted as small integers, a radix
    sort) rather than found among its values (a partition of floats per resample). The
    values in rank order never decrease, so the k-th smallest rank is the k-th smallest
    value's place; an even count averages the two middle values as ``np.median`` does.
    """
    n = len(values)
    out = np.empty(samples)
    if n == 0:  # (empty resamples: NaN medians, with numpy's warning, as before)
        return np.median(values[rng.integers(0, 0, size=(samples, 0))], axis=1)
    order = np.argsort(values, kind="stable")
    in_order = values[order]
    rank = np.empty(n, dtype=np.int16 if n < 2**15 else np.int64)
    rank[order] = np.arange(n)
    middle = n // 2
    block = max(1, int(4_000_000 // n))
    for first in range(0, samples, block):
        size = min(block, samples - first)
        ranks = np.sort(rank[rng.integers(0, n, size=(size, n))], axis=1, kind="stable")
        high = in_order[ranks[:, middle]]
        out[first:first + size] = high if n % 2 else (in_order[ranks[:, middle - 1]] + high) / 2
    return out


def delay_ratio(episodes: pd.DataFrame, *, seed: int = 20251001, samples: int = BOOTSTRAP_SAMPLES) -> DelayRatio:
    """How many times longer the median delay to escalate is out of hours than in hours.

    Among escalated episodes; the 95% interval is the percentile bootstrap of the ratio of
    medians (each band resampled on its own, ``samples`` times, with a fixed ``seed`` so a
    report is the same every time it is run).
    """
    escalated = episodes[episodes["escalated"] & episodes["delay_minutes"].notna()]
    band = escalated["band"].astype("str")
    inside = escalated.loc[(band == "in_hours").to_numpy(), "delay_minutes"].to_numpy(float)
    outside = escalated.loc[(band == "out_of_hours").to_numpy(), "delay_minutes"].to_numpy(float)
    median_in = float(np.median(inside)) if len(inside) else np.nan
    median_out = float(np.median(outside)) if len(outside) else np.nan
    if min(len(inside), len(outside)) < MIN_GROUP or not median_in > 0:
        return DelayRatio(None, None, None, median_in, median_out, len(inside), len(outside))
    rng = np.random.default_rng(seed)
    ratios = _bootstrap_medians(outside, rng, samples) / np.maximum(_bootstrap_medians(inside, rng, samples), 1e-9)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return DelayRatio(median_out / median_in, float(low), float(high), median_in, median_out,
                      len(inside), len(outside))


def lone_working_barriers(episodes: pd.DataFrame, *, min_episodes: int = 5, top: int = 3,
                          frequency: pd.DataFrame | None = None) -> pd.DataFrame:
    """Barriers met far more by lone workers than by accompanied staff, most excess first.

    Returns
    -------
    DataFrame
        ``barrier``, ``lone`` and ``lone_pct`` (lone workers' episodes with the barrier, and
        their share of all lone workers' episodes), ``accompanied`` and ``accompanied_pct``,
        ``excess_pp`` (lone minus accompanied share); barriers met by at least
        ``min_episodes`` lone workers' episodes and at least twice as often by lone workers,
        at most ``top`` of them. ``frequency`` is ``barrier_frequency(episodes, "lone_worker")``
        when the caller has it already.
    """
    table = barrier_frequency(episodes, "lone_worker") if frequency is None else frequency
    columns = ["barrier", "lone", "lone_pct", "accompanied", "accompanied_pct", "excess_pp"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    totals = episodes["lone_worker_label"].astype("str").value_counts()
    wide = table.pivot_table(index="barrier", columns="lone_worker", values="episodes", aggfunc="sum",
                             observed=True).fillna(0)
    lone = wide.get("lone worker", pd.Series(0.0, index=wide.index))
    accompanied = wide.get("accompanied", pd.Series(0.0, index=wide.index))
    out = pd.DataFrame({
        "barrier": wide.index.astype("str"),
        "lone": lone.astype("int64").to_numpy(),
        "lone_pct": (100 * lone / max(int(totals.get("lone worker", 0)), 1)).to_numpy(),
        "accompanied": accompanied.astype("int64").to_numpy(),
        "accompanied_pct": (100 * accompanied / max(int(totals.get("accompanied", 0)), 1)).to_numpy(),
    })
    out["excess_pp"] = out["lone_pct"] - out["accompanied_pct"]
    keep = (out["lone"] >= min_episodes) & (out["lone_pct"] >= 2 * out["accompanied_pct"])
    return out[keep].sort_values(["excess_pp", "barrier"], ascending=[False, True]).head(top)[columns].reset_index(drop=True)


def actions_by_theme(actions: pd.DataFrame | None, all_episodes: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Learning actions raised by ``as_of`` by status and by the barrier theme of their episode.

    An action counts under every theme its episode's barriers match (the themes of
    :data:`~escalation_analysis.measures.near_misses.THEMES`, the same the pathway-owner
    questions use), and under "no theme" when its episode recorded none or is not in the
    export.

    Returns
    -------
    DataFrame
        ``theme``, ``actions``, ``overdue`` (open and past due), ``open_on_time``, ``closed``;
        most actions first; empty without an actions log.
    """
    columns = ["theme", "actions", "overdue", "open_on_time", "closed"]
    if actions is None:
        return pd.DataFrame(columns=columns)
    status = action_status(actions, all_episodes, as_of).reset_index(drop=True)
    if status.empty:
        return pd.DataFrame(columns=columns)
    linked = all_episodes[text_isin(all_episodes["incident_id"], status["incident_id"])].drop_duplicates("incident_id")
    exploded = explode_barriers(linked.reset_index(drop=True))
    exploded["incident_id"] = linked["incident_id"].to_numpy()[exploded["episode"].to_numpy()]
    matches = [
        exploded.loc[exploded["barrier"].str.contains(pattern, case=False, regex=True), ["incident_id"]].assign(theme=theme)
        for theme, (pattern, _question) in THEMES.items()
    ]
    themed = pd.concat(matches, ignore_index=True).drop_duplicates()
    per_action = (status.assign(action_row=status.index)[["action_row", "incident_id", "status", "overdue"]]
                  .merge(themed, on="incident_id", how="left").fillna({"theme": "no theme"}))
    per_action["open_on_time"] = (per_action["status"] == "open") & ~per_action["overdue"]
    per_action["closed"] = per_action["status"] != "open"
    table = per_action.groupby("theme").agg(actions=("action_row", "nunique"), overdue=("overdue", "sum"),
                                            open_on_time=("open_on_time", "sum"), closed=("closed", "sum"))
    table = table.astype("int64").reset_index()
    return table.sort_values(["actions", "theme"], ascending=[False, True], ignore_index=True)[columns]


def overdue_by_theme(actions: pd.DataFrame | None, all_episodes: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Overdue learning actions by the barrier theme of the episode each was raised from
    (:func:`actions_by_theme`'s overdue column), most first; empty when none is overdue.

    Returns
    -------
    DataFrame
        ``theme`` and ``overdue`` (actions).
    """
    return overdue_in(actions_by_theme(actions, all_episodes, as_of))


def overdue_in(by_theme: pd.DataFrame) -> pd.DataFrame:
    """:func:`overdue_by_theme` from the :func:`actions_by_theme` table already made."""
    table = by_theme[by_theme["overdue"] > 0][["theme", "overdue"]]
    return table.sort_values(["overdue", "theme"], ascending=[False, True], ignore_index=True)
