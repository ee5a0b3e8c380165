"""Anhøj's rules for run charts: an unusually long run, or unusually few crossings.

A run chart needs no assumption about the distribution of the data, only a centre line (the
median). Jacob Anhøj's two rules (Anhøj & Olesen 2014, *PLoS ONE* 9:e113825; qicharts2's
``runs.analysis`` and ``crsignal`` in ``R/helper.functions.R``) flag non-random variation:

* the **longest run** of points on one side of the centre line is longer than
  ``round(log2(n) + 3)`` (Schilling 2012), or
* the **number of crossings** of the centre line is below the 5th percentile of a binomial
  distribution with n − 1 trials and probability 0.5 (Chen 2010): ``qbinom(0.05, n - 1, 0.5)``,

where n counts the *useful* points: points exactly on the centre line neither break nor add to
a run, so they are left out. :func:`limits` gives Anhøj's published table of both limits
(qicharts2 vignette, appendix 2).

>>> result = runs_analysis([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], centre=6.5)
>>> result.longest_run, result.longest_run_max, result.n_crossings, result.signal
(6, 7, 1, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .statistics import binomial_quantile

__all__ = ["RunsAnalysis", "crossings_limit", "limits", "longest_run_limit", "runs_analysis"]


def longest_run_limit(n_useful: ArrayLike) -> np.ndarray:
    """The longest run allowed among n useful points: ``round(log2(n) + 3)``.

    log2(n) is never exactly half way between two whole numbers, so R's and numpy's rounding
    agree.
    """
    n = np.asarray(n_useful, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(n > 0, np.round(np.log2(np.maximum(n, 1)) + 3), np.nan)


def crossings_limit(n_useful: ArrayLike) -> np.ndarray:
    """The fewest crossings allowed among n useful points: ``qbinom(0.05, n - 1, 0.5)``."""
    n = np.asarray(n_useful, dtype=float)
    trials = np.maximum(n - 1, 0)
    quantile = np.where(trials > 0, binomial_quantile(0.05, np.maximum(trials, 1), 0.5), 0.0)
    return np.where(n > 0, quantile, np.nan)


def limits(n_min: int = 10, n_max: int = 100) -> pd.DataFrame:
    """Anhøj's table: for each number of useful points, the two limits.

    Columns ``n_useful``, ``longest_run_max`` (a longer run is a signal) and
    ``n_crossings_min`` (fewer crossings are a signal).

    >>> limits(24, 24).to_dict("records")
    [{'n_useful': 24, 'longest_run_max': 8, 'n_crossings_min': 8}]
    """
    if n_min < 1 or n_max < n_min:
        raise ValueError("n_min must be at least 1 and n_max at least n_min.")
    n = np.arange(n_min, n_max + 1)
    return pd.DataFrame(
        {
            "n_useful": n,
            "longest_run_max": longest_run_limit(n).astype(int),
            "n_crossings_min": crossings_limit(n).astype(int),
        }
    )


@dataclass(frozen=True)
class RunsAnalysis:
    """The result of Anhøj's rules on one series (one part of a chart).

    Attributes
    ----------
    n_obs
        Points looked at (missing values and excluded points are not).
    n_useful
        Points not on the centre line.
    longest_run, longest_run_max
        The longest run of useful points on one side, and the longest allowed.
    n_crossings, n_crossings_min
        Times consecutive useful points are on opposite sides, and the fewest allowed.
    signal
        True when the longest run is too long or there are too few crossings.
    """

    n_obs: int
    n_useful: int
    longest_run: int | None
    longest_run_max: int | None
    n_crossings: int | None
    n_crossings_min: int | None
    signal: bool


def runs_analysis(values: ArrayLike, centre: ArrayLike | float) -> RunsAnalysis:
    """Apply Anhøj's rules to values against a centre line (a number or one per point).

    Missing values are left out; so are points exactly on the centre line, as qicharts2 does.
    With no useful point the counts are ``None`` and there is no signal.
    """
    y = np.asarray(values, dtype=float)
    cl = np.broadcast_to(np.asarray(centre, dtype=float), y.shape)
    side = np.sign(y - cl)
    useful = side[np.isfinite(side) & (side != 0)]
    n_useful = int(useful.size)
    if n_useful == 0:
        return RunsAnalysis(int(y.size), 0, None, None, None, None, False)
    starts = np.flatnonzero(np.r_[True, useful[1:] != useful[:-1]])
    run_lengths = np.diff(np.r_[starts, n_useful])
    longest = int(run_lengths.max())
    crossings = int(len(run_lengths) - 1)
    longest_max = int(longest_run_limit(n_useful))
    crossings_min = int(crossings_limit(n_useful))
    signal = not (crossings >= crossings_min and longest <= longest_max)
    return RunsAnalysis(
        n_obs=int(y.size),
        n_useful=n_useful,
        longest_run=longest,
        longest_run_max=longest_max,
        n_crossings=crossings,
        n_crossings_min=crossings_min,
        signal=signal,
    )
