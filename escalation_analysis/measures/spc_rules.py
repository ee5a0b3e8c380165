"""The Making Data Count special-cause rules and icons, one public function each.

These are the rules of NHSRplotthedots (``R/ptd_calculate_point_type.R``,
``R/ptd_calculate_assurance_type.R``, ``R/geom_ptd_icon.R``), written so that each can be
checked on its own: every function takes plain sequences (lists, numpy arrays or Series) and
an optional ``group`` (the rebase period of each point; rules never run across a period
boundary) and returns a numpy array, one value per point.

:func:`escalation_analysis.measures.spc.xmr` and :func:`~escalation_analysis.measures.spc.p_chart`
apply them in this order of precedence: :func:`outside_limits`, :func:`trend`,
:func:`two_of_three`, :func:`shift`; :func:`point_type` turns the winner into
``special_cause_improvement`` / ``special_cause_concern`` (or neutral), and
:func:`variation_icon` and :func:`assurance_icon` give the two summary icons.

>>> shift([1, 1, 1, 1, 1, 1, 1, -1]).astype(int).tolist()
[1, 1, 1, 1, 1, 1, 1, 0]
>>> flags, direction = trend([1, 2, 3, 4, 5, 6, 7, 3])
>>> flags.astype(int).tolist(), int(direction[0])
([1, 1, 1, 1, 1, 1, 1, 0], 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "DIRECTIONS",
    "POINT_TYPES",
    "assurance_icon",
    "close_to_limits",
    "outside_limits",
    "point_type",
    "relative_to_mean",
    "shift",
    "special_cause_type",
    "trend",
    "two_of_three",
    "variation_icon",
]

ImprovementDirection = Literal["increase", "decrease", "neutral"]
"""The improvement directions: higher is better, lower is better, neither."""

DIRECTIONS: dict[str, int] = {"increase": 1, "neutral": 0, "decrease": -1}
"""Improvement directions and their signs (NHSRplotthedots' 1, 0, -1)."""

POINT_TYPES: tuple[str, ...] = (
    "common_cause",
    "special_cause_improvement",
    "special_cause_concern",
    "special_cause_neutral_high",
    "special_cause_neutral_low",
)
"""Every value :func:`point_type` can return."""


def _groups(group: ArrayLike | None, n: int) -> np.ndarray:
    """Each point's group as a code 0, 1, ... (all 0 without groups)."""
    if group is None:
        return np.zeros(n, dtype=np.intp)
    values = np.asarray(group)
    if len(values) != n:
        raise ValueError("group must have one value per point.")
    return np.unique(values, return_inverse=True)[1].reshape(n)


def _shifted(values: np.ndarray, codes: np.ndarray, periods: int, fill: Any) -> np.ndarray:
    """``values`` moved ``periods`` places on within each group, as pandas' ``groupby().shift``.

    A group's points need not be adjacent: each point takes the value of the point
    ``periods`` places before it (after it when negative) among its own group's points.
    """
    n = len(values)
    out = np.full(n, fill, dtype=np.result_type(values, np.asarray(fill)))
    k = abs(periods)
    if k >= n:
        return out
    order = np.argsort(codes, kind="stable")  # each group's points, in order, one group after another
    later, earlier = order[k:], order[: n - k]
    same = codes[later] == codes[earlier]
    source, target = (earlier, later) if periods > 0 else (later, earlier)
    out[target[same]] = values[source[same]]
    return out


def _run_lengths(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Length of the run of equal consecutive values (within a group) each point is in.

    A missing value is a run of its own; runs are of neighbouring points, so a group whose
    points are not adjacent is cut wherever another group's point comes between.
    """
    start = np.ones(len(values), dtype=bool)
    start[1:] = (values[1:] != values[:-1]) | (codes[1:] != codes[:-1])
    run = np.cumsum(start | np.isnan(values))
    return np.bincount(run)[run]


def outside_limits(y: ArrayLike, lpl: ArrayLike, upl: ArrayLike) -> np.ndarray:
    """Points strictly above the upper or below the lower process limit."""
    y, lpl, upl = (np.asarray(v, dtype=float) for v in (y, lpl, upl))
    return (y > upl) | (y < lpl)


def relative_to_mean(y: ArrayLike, mean: ArrayLike) -> np.ndarray:
    """−1, 0 or 1: the side of the mean each point lies on (0 exactly on it)."""
    side = np.sign(np.asarray(y, dtype=float) - np.asarray(mean, dtype=float))
    return np.nan_to_num(side).astype(int)


def close_to_limits(
    y: ArrayLike, lpl: ArrayLike, upl: ArrayLike, near_lpl: ArrayLike, near_upl: ArrayLike
) -> np.ndarray:
    """Points between a near ("2-sigma") limit and its process limit, not beyond it."""
    y, near_lpl, near_upl = (np.asarray(v, dtype=float) for v in (y, near_lpl, near_upl))
    return ~outside_limits(y, lpl, upl) & ((y < near_lpl) | (y > near_upl))


def shift(
    relative: ArrayLike, group: ArrayLike | None = None, length: int = 7
) -> np.ndarray:
    """Points in a run of ``length`` or more on one side of the mean; 0 (on the mean) breaks it.

    NHSRplotthedots ``ptd_seven_point_one_side_mean`` with ``ptd_part_of_seven_trend``: every
    point of the run is flagged, not only the seventh.
    """
    if length < 1:
        raise ValueError("A shift must be at least 1 point long.")
    side = np.asarray(relative, dtype=float)
    run_length = _run_lengths(side, _groups(group, len(side)))
    return (side != 0) & (run_length >= length)


def trend(
    y: ArrayLike, group: ArrayLike | None = None, length: int = 7
) -> tuple[np.ndarray, np.ndarray]:
    """Points in ``length`` or more consecutive strict rises or falls, and each one's direction.

    Returns the flags and the direction (+1 increasing, −1 decreasing) that
    ``ptd_special_cause_type`` gives a point: the sign of the step to its right when it and the
    next point are both in a trend, else the sign of the step from its left; a flat step reads
    as decreasing, as in R's ``ifelse(sdy == 1, "In", "De")``. A repeated value breaks a trend.
    """
    if length < 2:
        raise ValueError("A trend must be at least 2 points long.")
    values = np.asarray(y, dtype=float)
    codes = _groups(group, len(values))
    with np.errstate(invalid="ignore"):
        step = np.sign(values - _shifted(values, codes, 1, np.nan))  # missing at a group start
    run_length = _run_lengths(step, codes)
    step_in_trend = ~np.isnan(step) & (step != 0) & (run_length >= length - 1)
    in_trend = step_in_trend | _shifted(step_in_trend, codes, -1, False)
    next_in_trend = _shifted(in_trend, codes, -1, False)
    right = _shifted(step, codes, -1, np.nan)
    sdy = np.nan_to_num(np.where(in_trend & next_in_trend, right, step))
    return in_trend, np.where(sdy == 1, 1, -1)


def two_of_three(
    close: ArrayLike, relative: ArrayLike, group: ArrayLike | None = None
) -> np.ndarray:
    """Close-to-limit points in a window of 3 with at least 2 close and all 3 on one side.

    NHSRplotthedots ``ptd_two_in_three`` and ``ptd_part_of_two_in_three``: only the close
    points of such a window are flagged.
    """
    c = np.asarray(close, dtype=float)
    r = np.asarray(relative, dtype=float)
    codes = _groups(group, len(c))
    # the window ending at i covers i-2..i; windows cut by a group edge are missing -> False
    close_in_window = c + _shifted(c, codes, 1, np.nan) + _shifted(c, codes, 2, np.nan)
    side_in_window = r + _shifted(r, codes, 1, np.nan) + _shifted(r, codes, 2, np.nan)
    window = (close_in_window >= 2) & (np.abs(side_in_window) == 3)
    in_window = window | _shifted(window, codes, -1, False) | _shifted(window, codes, -2, False)
    return in_window & (c == 1)


def special_cause_type(
    outside: ArrayLike,
    trend_flags: ArrayLike,
    trend_direction: ArrayLike,
    two_of_three_flags: ArrayLike,
    shift_flags: ArrayLike,
    relative: ArrayLike,
) -> tuple[np.ndarray, np.ndarray]:
    """The rule that wins at each point, by precedence, and the side it points to.

    Returns the type (``above_upl``, ``below_lpl``, ``trend_increasing``,
    ``trend_decreasing``, ``two_of_three_above``/``_below``, ``shift_above``/``_below`` or
    ``common_cause``) and its sign: +1 for above or increasing, −1 for below or decreasing,
    0 for common cause.
    """
    outside, trend_flags, two, shifted = (
        np.asarray(v, dtype=bool) for v in (outside, trend_flags, two_of_three_flags, shift_flags)
    )
    relative = np.asarray(relative)
    trend_direction = np.asarray(trend_direction)
    above = relative > 0
    kind = np.select(
        [outside, trend_flags, two, shifted],
        [
            np.where(relative == 1, "above_upl", "below_lpl"),
            np.where(trend_direction == 1, "trend_increasing", "trend_decreasing"),
            np.where(above, "two_of_three_above", "two_of_three_below"),
            np.where(above, "shift_above", "shift_below"),
        ],
        default="common_cause",
    )
    side_of_mean = np.where(relative == 1, 1, -1)
    side = np.where(
        outside,
        side_of_mean,
        np.where(trend_flags, trend_direction, np.where(two | shifted, side_of_mean, 0)),
    )
    return kind, side


def point_type(side: ArrayLike, improvement: ImprovementDirection = "increase") -> np.ndarray:
    """``special_cause_improvement``/``_concern`` (or ``_neutral_high``/``_low``) from the side."""
    direction = _direction(improvement)
    side = np.asarray(side)
    if direction == 0:
        return np.select(
            [side > 0, side < 0],
            ["special_cause_neutral_high", "special_cause_neutral_low"],
            default="common_cause",
        )
    oriented = side * direction
    return np.select(
        [oriented > 0, oriented < 0],
        ["special_cause_improvement", "special_cause_concern"],
        default="common_cause",
    )


def variation_icon(point_types: Sequence[str], improvement: ImprovementDirection = "increase") -> str:
    """The icon for the last point (``ptd_get_icons`` in ``R/geom_ptd_icon.R``).

    One of ``common_cause``, ``improvement_high``, ``improvement_low``, ``concern_high``,
    ``concern_low``, ``neutral_high``, ``neutral_low``.
    """
    _direction(improvement)
    if len(point_types) == 0:
        return "common_cause"
    last = str(list(point_types)[-1])
    high_is_good = improvement == "increase"
    return {
        "common_cause": "common_cause",
        "special_cause_neutral_high": "neutral_high",
        "special_cause_neutral_low": "neutral_low",
        "special_cause_concern": "concern_low" if high_is_good else "concern_high",
        "special_cause_improvement": "improvement_high" if high_is_good else "improvement_low",
    }[last]


def assurance_icon(
    lpl: float, upl: float, target: float | None, improvement: ImprovementDirection = "increase"
) -> str | None:
    """The target against the last point's limits (``R/ptd_calculate_assurance_type.R``).

    ``consistent_pass`` (the target lies outside the limits on the bad side, so every point
    passes), ``consistent_fail``, ``inconsistent`` (hit and miss), or ``None`` without a
    target or when no direction is better.
    """
    if target is None or _direction(improvement) == 0:
        return None
    increasing = improvement == "increase"
    if target > upl:
        return "consistent_fail" if increasing else "consistent_pass"
    if target < lpl:
        return "consistent_pass" if increasing else "consistent_fail"
    return "inconsistent"


def _direction(improvement: str) -> int:
    if improvement not in DIRECTIONS:
        raise ValueError(
            f"improvement must be 'increase', 'decrease' or 'neutral', not {improvement!r}."
        )
    return DIRECTIONS[improvement]
