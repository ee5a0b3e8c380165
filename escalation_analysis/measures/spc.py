"""Statistical process control the NHS "Making Data Count" way: a public API on plain data.

Two charts, one set of rules:

* :func:`xmr` is an XmR (individuals) chart computed exactly as the R package
  NHSRplotthedots computes it (``R/ptd_spc_standard.R``): centre line the mean, process limits
  the mean ± 2.66 × the mean moving range, with moving ranges at or above 3.267 × their mean
  screened out and the mean recomputed (Nelson 1982) unless ``screen_outliers=False`` (what the
  MDC Excel tools do). Limits can be recalculated at given points (``rebase``,
  ``R/ptd_add_rebase_column.R``), fixed on the first ``fix_after_n_points`` points of each
  period, and computed without chosen points (``exclude``, as qicharts2's ``exclude``).
* :func:`p_chart` is a p-chart for proportions computed as qicharts2's ``qic.p``
  (``R/helper.functions.R``): centre line ``sum(numerator) / sum(denominator)``, limits
  p̄ ± 3·sqrt(p̄(1 − p̄)/nᵢ) for each period, clipped to [0, 1].

Both take plain sequences (``xmr([3, 4, 5, ...])``), Series (the index gives the dates) or
columns of a frame (``xmr("attendances", "period", data=frame)``), and then apply the
NHSRplotthedots special-cause rules of :mod:`~escalation_analysis.measures.spc_rules` within
each rebase period, in this order of precedence:

1. a point beyond a process limit (strictly above the upper or below the lower);
2. a trend: ``trend_length`` (7) points each strictly higher (or lower) than the one before;
3. two of three: in 3 consecutive points all on the same side of the mean, at least 2 lie
   between the near limit (mean ± 2/3 of the distance to the process limit) and the process
   limit; the points in that zone are flagged;
4. a shift: ``shift_length`` (7) points in a row on the same side of the mean; a point exactly
   on the mean breaks the run.

The variation icon comes from the last point; the assurance icon compares the target with the
process limits of the last point. Any period with fewer than ``short_group_threshold`` points
(13, as NHSRplotthedots' code: ``getOption("ptd_spc.warning_threshold", 13)``) raises the
short-series warning (``R/ptd_add_short_group_warnings.R``).

Deliberate differences from NHSRplotthedots, each with the setting that reproduces it, are
listed in ``docs/peer-comparison.md``: a rebase value that is not one of the chart's periods is
an error (NHSRplotthedots ignores it); missing values are an error; when every moving range in
a period is zero the limits collapse onto the mean instead of becoming missing.

Known answers (``tests/test_spc.py``): the NHSRplotthedots "Deviations from Excel defaults"
vignette, the ``ptd_spc_standard`` snapshots, the short-group tests (12 and 13 points) and the
serialised integration snapshots for NHSRdatasets ``ae_attendances`` match to floating-point
precision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Unpack

import numpy as np
import pandas as pd

from . import spc_rules
from .chart_input import (
    PeriodOptions,
    baseline_points,
    column,
    numbers,
    period_starts,
    sorted_points,
    split_periods,
)
from .spc_rules import POINT_TYPES, ImprovementDirection

__all__ = [
    "POINT_COLUMNS",
    "POINT_TYPES",
    "SHORT_GROUP_THRESHOLD",
    "SPCOptions",
    "SPCResult",
    "p_chart",
    "rebase_points",
    "short_group_warning",
    "xmr",
]

LIMIT_MULTIPLIER: float = 2.66
"""Process limits sit this many mean moving ranges from the mean (3 / 1.128, rounded)."""

NEAR_LIMIT_MULTIPLIER: float = 2 * LIMIT_MULTIPLIER / 3
"""Near ("2-sigma") limits: two thirds of the distance to the process limits."""

SCREENING_MULTIPLIER: float = 3.267
"""Moving ranges at or above this many times their mean are screened out (Nelson 1982)."""

SHORT_GROUP_THRESHOLD: int = 13
"""Periods with fewer points than this get trial limits and a warning (NHSRplotthedots' code)."""


def short_group_warning(threshold: int = SHORT_GROUP_THRESHOLD) -> str:
    """The short-series warning for a threshold, in NHSRplotthedots' words.

    NHSRplotthedots always prints "n < 12" although its code warns below 13; the wording here
    states the threshold actually used.
    """
    return (
        f"Some groups have 'n < {threshold}' observations. These have trial limits, which will "
        "be revised with each additional observation until 'n = fix_after_n_points' has been "
        "reached."
    )


class SPCOptions(PeriodOptions, total=False):
    """The keyword settings :func:`xmr` and :func:`p_chart` share, described under :func:`xmr`:
    ``data``, ``rebase``, ``fix_after_n_points``, ``exclude``, ``improvement``, ``target``,
    ``trend_length``, ``shift_length`` and ``short_group_threshold``."""

    improvement: ImprovementDirection
    target: float | None
    trend_length: int
    shift_length: int
    short_group_threshold: int


POINT_COLUMNS: tuple[str, ...] = (
    "x",
    "y",
    "numerator",
    "denominator",
    "rebase_group",
    "baseline",
    "excluded",
    "mean",
    "lpl",
    "upl",
    "near_lpl",
    "near_upl",
    "moving_range",
    "moving_range_in_baseline",
    "mean_moving_range",
    "mean_moving_range_unscreened",
    "target",
    "relative_to_mean",
    "outside_limits",
    "close_to_limits",
    "rule_outside_limits",
    "rule_trend",
    "rule_two_of_three",
    "rule_shift",
    "special_cause_type",
    "special_cause_flag",
    "point_type",
    "short_group_warning",
)
"""The columns of :attr:`SPCResult.points`, in order."""


@dataclass(frozen=True)
class SPCResult:
    """An SPC chart: one row per point, the MDC icons and any warnings.

    Attributes
    ----------
    points
        One row per point in date order, columns :data:`POINT_COLUMNS`: ``x``, ``y``;
        ``numerator`` and ``denominator`` (p-charts only); ``rebase_group`` (0, 1, ... one per
        period between rebases); ``baseline`` (the point entered the mean and limits: within
        ``fix_after_n_points`` of its period's start and not excluded) and ``excluded``;
        ``mean`` (NHSRplotthedots' ``mean_col``), ``lpl``/``upl`` (process limits),
        ``near_lpl``/``near_upl`` (the "2-sigma" lines); ``moving_range`` (|y − previous y|
        within the period), ``moving_range_in_baseline`` (it entered the mean moving range
        after fixing, excluding and screening), ``mean_moving_range`` (the period's mean
        moving range after screening, the one the limits use) and
        ``mean_moving_range_unscreened`` (before screening; XmR only); ``target``;
        ``relative_to_mean`` (−1, 0, 1); ``outside_limits``; ``close_to_limits``; one boolean
        per rule, true for every point that is part of such a pattern whichever rule wins;
        ``special_cause_type`` (the rule that wins; see
        :func:`~escalation_analysis.measures.spc_rules.special_cause_type`);
        ``special_cause_flag``; ``point_type`` (one of :data:`POINT_TYPES`);
        ``short_group_warning`` (its period has too few points).
    variation_icon
        From the last point: ``common_cause``, ``improvement_high``, ``improvement_low``,
        ``concern_high``, ``concern_low``, ``neutral_high`` or ``neutral_low``.
    assurance_icon
        ``consistent_pass``, ``consistent_fail`` or ``inconsistent`` (MDC's "hit and miss"),
        or ``None`` without a target or when the improvement direction is neutral.
    warnings
        Plain-English sentences, e.g. the short-series warning.
    improvement_direction
        The direction the chart was computed with.
    chart
        ``"xmr"`` or ``"p"``.
    short_group_threshold
        Periods with fewer points than this were flagged as short.
    """

    points: pd.DataFrame
    variation_icon: str
    assurance_icon: str | None
    warnings: list[str] = field(default_factory=list)
    improvement_direction: str = "increase"
    chart: str = "xmr"
    short_group_threshold: int = SHORT_GROUP_THRESHOLD

    def summary(self) -> pd.DataFrame:
        """Summarise each rebase period as NHSRplotthedots' ``summary.ptd_spc_df`` does.

        Returns
        -------
        pandas.DataFrame
            One row per period: ``rebase_group``, ``first_x``, ``last_x``, ``n``, ``mean``,
            ``lpl`` and ``upl`` (of the period's first point; on a p-chart the limits vary),
            ``common_cause``, ``special_cause_improvement``, ``special_cause_concern`` (counts
            of points) and ``variation_type`` (the point type of the period's last point).

        Examples
        --------
        >>> xmr([1.0, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2]).summary()[["n", "special_cause_improvement"]].to_dict("records")
        [{'n': 13, 'special_cause_improvement': 1}]
        """
        points = self.points.assign(
            _common=~self.points["special_cause_flag"],
            _improvement=self.points["point_type"] == "special_cause_improvement",
            _concern=self.points["point_type"] == "special_cause_concern",
        )
        out = points.groupby("rebase_group", sort=True).agg(
            first_x=("x", "first"),
            last_x=("x", "last"),
            n=("y", "size"),
            mean=("mean", "first"),
            lpl=("lpl", "first"),
            upl=("upl", "first"),
            common_cause=("_common", "sum"),
            special_cause_improvement=("_improvement", "sum"),
            special_cause_concern=("_concern", "sum"),
            variation_type=("point_type", "last"),
        )
        return out.reset_index()


def rebase_points(periods: Any, dates: Sequence) -> list[pd.Timestamp]:
    """The periods at which to start new limits after changes made on ``dates``.

    Each change starts new limits at the first period beginning on or after it (the first
    whole period under the changed pathway: a change on 15 September starts them in October on
    a monthly chart). Changes on or before the first period, or after the last, start nothing.

    >>> months = pd.date_range("2025-04-01", periods=12, freq="MS")
    >>> [f"{p:%Y-%m-%d}" for p in rebase_points(months, ["2025-09-15", "2025-11-01", "2024-01-01"])]
    ['2025-10-01', '2025-11-01']
    """
    x = pd.DatetimeIndex(pd.to_datetime(pd.Series(np.asarray(periods)))).sort_values()
    if x.tz is not None:
        x = x.tz_localize(None)
    wanted = pd.DatetimeIndex(pd.to_datetime(pd.Series(list(dates), dtype=object)))
    where = x.searchsorted(wanted, side="left")
    chosen = sorted({x[i] for i in where if 0 < i < len(x)})
    return list(chosen)


def xmr(
    values: Any, dates: Any = None, *, screen_outliers: bool = True, **options: Unpack[SPCOptions]
) -> SPCResult:
    """Compute an MDC XmR chart as NHSRplotthedots' ``ptd_spc`` does.

    Parameters
    ----------
    values
        The measure, one value per period: a list, array or Series (a Series' index gives the
        dates when ``dates`` is not given), or the name of a column of ``data``.
    dates
        The periods (dates or an order), or the name of a column of ``data``. Default: the
        Series index, else positions 0, 1, 2, ...
    data
        A frame holding the columns named by ``values`` and ``dates``.
    rebase
        Where the limits are recalculated: each entry starts a new period. Dates (or ISO date
        strings) are matched to the chart's dates; whole numbers are positions (0 is the first
        point in date order). Each must be on the chart.
    fix_after_n_points
        Compute each period's mean and limits from its first n points only and extend them.
        NHSRplotthedots requires at least 12.
    exclude
        Points (dates or positions, as ``rebase``) left out of the mean and limits, e.g. a
        month with a known data problem. They are still drawn and judged by the rules.
    improvement
        ``"increase"`` (higher is better), ``"decrease"`` or ``"neutral"``.
    target
        Optional target; gives the assurance icon.
    screen_outliers
        Screen moving ranges ≥ 3.267 × their mean out of the limits (NHSRplotthedots'
        default); ``False`` reproduces the MDC Excel tools.
    trend_length, shift_length
        Points that make a trend (default 7) and a shift (default 7).
    short_group_threshold
        Periods with fewer points raise the short-series warning (default 13, as
        NHSRplotthedots' code; its help text says 12).

    Returns
    -------
    SPCResult
        Points (see :class:`SPCResult` for the columns), icons and warnings.

    Raises
    ------
    ValueError
        For missing or non-numeric values, duplicate dates, an unknown rebase or exclude
        point, an unknown improvement direction or ``fix_after_n_points`` below 12.

    Notes
    -----
    Follows ``R/ptd_spc_standard.R`` within each period: the baseline is the first
    ``fix_after_n_points`` points less any excluded; the mean is the baseline's mean and the
    moving ranges are those between consecutive baseline points; the mean moving range is
    recomputed after dropping moving ranges not strictly below 3.267 × the first mean moving
    range; the process limits are the mean ± 2.66 × the mean moving range and the near limits
    the mean ± (2 × 2.66 / 3) × the mean moving range.

    Examples
    --------
    The NHSRplotthedots "Deviations from Excel defaults" vignette:

    >>> y = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]
    >>> chart = xmr(y, pd.date_range("2021-03-22", periods=18, freq="D"))
    >>> [round(v, 2) for v in chart.points.loc[0, ["upl", "mean", "lpl"]]]
    [4.6, 1.94, -0.72]
    >>> chart.points.loc[4, "point_type"], chart.variation_icon
    ('special_cause_improvement', 'common_cause')
    >>> round(float(chart.points.loc[0, "mean_moving_range_unscreened"]), 3)
    1.882
    """
    limits = partial(_xmr_limits, screen_outliers=screen_outliers)
    return _spc_chart("xmr", partial(_measurements, values, dates), limits, **options)


def p_chart(numerators: Any, denominators: Any, dates: Any = None, **options: Unpack[SPCOptions]) -> SPCResult:
    """Compute a p-chart with limits per period, as qicharts2's ``qic.p``, with MDC rules.

    Parameters
    ----------
    numerators, denominators
        Counts per period (e.g. episodes escalated within target, and all episodes): lists,
        arrays or Series, or names of columns of ``data``.
    dates, data, rebase, exclude, improvement, trend_length, shift_length, short_group_threshold
        As for :func:`xmr`. ``target`` is a proportion (0.9, not 90).
    fix_after_n_points
        Compute the centre line from the first n periods of each rebase period only (qicharts2's
        ``freeze``); any positive number.

    Returns
    -------
    SPCResult
        As for :func:`xmr`; ``y`` is the proportion, ``numerator`` and ``denominator`` are
        kept and the moving-range columns are missing. Periods with a zero denominator have no
        proportion: they are left out, with a warning.

    Raises
    ------
    ValueError
        For negative or missing counts, a numerator above its denominator, duplicate dates or
        an unknown rebase or exclude point.

    Notes
    -----
    ``qic.p``: centre line p̄ = Σ numerator / Σ denominator over the baseline;
    σᵢ = sqrt(p̄(1 − p̄)/nᵢ); limits p̄ ± 3σᵢ with the upper clipped to 1 and the lower to 0;
    near limits p̄ ± 2σᵢ, clipped likewise.

    Examples
    --------
    >>> chart = p_chart([45, 40, 48], [50, 50, 50])
    >>> [round(float(v), 4) for v in chart.points.loc[0, ["mean", "lpl", "upl"]]]
    [0.8867, 0.7522, 1.0]
    """
    return _spc_chart("p", partial(_proportions, numerators, denominators, dates), _p_limits, **options)


# --------------------------------------------------------------------------------------------
# input handling

Columns = dict[str, Any]
"""A chart's points while they are worked out: one array per column of :data:`POINT_COLUMNS`
(``x`` a Series), in date order. A chart has a few dozen points, so plain numpy on them costs a
fraction of what frames and groupbys do."""


def _spc_chart(
    chart: str,
    read: Callable[[pd.DataFrame | None], Columns],
    limits: Callable[[Columns], Columns],
    *,
    data: pd.DataFrame | None = None,
    rebase: Sequence | None = None,
    fix_after_n_points: int | None = None,
    exclude: Sequence | None = None,
    improvement: ImprovementDirection = "increase",
    target: float | None = None,
    trend_length: int = 7,
    shift_length: int = 7,
    short_group_threshold: int = SHORT_GROUP_THRESHOLD,
) -> SPCResult:
    """Either chart: its points in periods, the periods' limits, then the rules and icons."""
    spc_rules.point_type([], improvement)  # checks the direction
    if trend_length < 2 or shift_length < 1:
        raise ValueError("trend_length must be at least 2 and shift_length at least 1.")
    if short_group_threshold < 0:
        raise ValueError("short_group_threshold must not be negative.")
    if fix_after_n_points is not None and chart == "xmr" and fix_after_n_points < 12:
        raise ValueError("fix_after_n_points must be a single number greater than or equal to 12.")
    if fix_after_n_points is not None and fix_after_n_points < 1:
        raise ValueError("fix_after_n_points must be a positive number.")
    points = read(data)
    points["rebase_group"], points["excluded"] = split_periods(points["x"], rebase, exclude)
    points, warnings = _without_empty_periods(points)
    points["baseline"] = baseline_points(points["rebase_group"], points["excluded"], fix_after_n_points)
    points |= limits(points)
    return _finish(
        points,
        improvement=improvement,
        target=target,
        trend_length=trend_length,
        shift_length=shift_length,
        short_group_threshold=short_group_threshold,
        chart=chart,
        warnings=warnings,
    )


def _measurements(values: Any, dates: Any, data: pd.DataFrame | None) -> Columns:
    """The XmR chart's points: ``y`` the measure, with no numerator or denominator."""
    x, y, _ = sorted_points(values, dates, data)
    return {"x": x, "y": y, "numerator": np.full(len(y), np.nan), "denominator": np.full(len(y), np.nan)}


def _proportions(numerators: Any, denominators: Any, dates: Any, data: pd.DataFrame | None) -> Columns:
    """The p-chart's points: ``y`` the proportion, with its ``numerator`` and ``denominator``."""
    num = column(numerators, data, "numerators")
    n_arr = numbers(num)
    d_arr = numbers(column(denominators, data, "denominators"))
    if len(n_arr) != len(d_arr):
        raise ValueError("There must be one denominator per numerator.")
    if np.isnan(n_arr).any() or np.isnan(d_arr).any():
        raise ValueError("Numerators and denominators must be numbers with none missing.")
    if (n_arr < 0).any() or (d_arr < 0).any():
        raise ValueError("Numerators and denominators must not be negative.")
    if (n_arr > d_arr).any():
        raise ValueError("A numerator is larger than its denominator.")
    with np.errstate(invalid="ignore", divide="ignore"):
        proportion = n_arr / d_arr
    if dates is None:  # as xmr: the numerators' index, else positions (never a column of data)
        dates = num.index if isinstance(num, pd.Series) else np.arange(len(proportion))
    else:
        dates = column(dates, data, "dates")
    x, y, rows = sorted_points(proportion, dates, None, allow_missing=True)
    return {"x": x, "y": y, "numerator": n_arr[rows], "denominator": d_arr[rows]}


def _without_empty_periods(points: Columns) -> tuple[Columns, list[str]]:
    """Leave out periods with a zero denominator (no proportion), saying how many."""
    empty = points["denominator"] == 0
    if not empty.any():
        return points, []
    n_empty = int(empty.sum())
    warning = (
        f"{n_empty} period{'s' if n_empty != 1 else ''} with no episodes "
        f"{'were' if n_empty != 1 else 'was'} left out of the p-chart."
    )
    kept = {name: values[~empty] for name, values in points.items()}
    kept["x"] = kept["x"].reset_index(drop=True)
    return kept, [warning]


# --------------------------------------------------------------------------------------------
# limits


def _period_totals(values: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point's period total of the non-missing ``values``, and how many there were.

    Added up in the order pandas 3.1 adds a grouped sum or mean of sorted groups, so that
    every centre line and limit is the one the pandas version of this module computed, to the
    last bit: numpy's pairwise ``add.reduceat`` when no value is missing, else
    :func:`_kahan_sums`.
    """
    if len(values) == 0:
        return np.zeros(0), np.zeros(0)
    period, starts = period_starts(group)
    if np.isnan(values).any():
        totals, counts = _kahan_sums(values, period, len(starts))
    else:
        totals, counts = np.add.reduceat(values, starts), np.diff(np.append(starts, len(values)))
    return totals[period], counts[period]


def _kahan_sums(values: np.ndarray, period: np.ndarray, n_periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Each period's sum and count of its non-missing values, one value at a time with Kahan
    compensation: pandas' Cython grouped sum, which it uses when values are missing."""
    totals, compensations, counts = [0.0] * n_periods, [0.0] * n_periods, [0] * n_periods
    for value, code in zip(values.tolist(), period.tolist(), strict=True):
        if value != value:  # missing
            continue
        counts[code] += 1
        step = value - compensations[code]
        total = totals[code] + step
        compensation = total - totals[code] - step
        compensations[code] = compensation if compensation == compensation else 0.0
        totals[code] = total
    return np.array(totals), np.array(counts)


def _period_mean(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each point's period mean of the non-missing ``values`` (missing when there are none)."""
    total, count = _period_totals(values, group)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def _moving_ranges(y: np.ndarray, group: np.ndarray) -> np.ndarray:
    """|y − previous y| within a period (periods are runs of equal ``group``); missing at a start."""
    out = np.full(len(y), np.nan)
    with np.errstate(invalid="ignore"):
        out[1:] = np.where(group[1:] == group[:-1], np.abs(np.diff(y)), np.nan)
    return out


def _xmr_limits(points: Columns, screen_outliers: bool) -> Columns:
    """Mean, limits and moving ranges per rebase group (``R/ptd_spc_standard.R``)."""
    group = points["rebase_group"]
    y = points["y"]
    base = points["baseline"]
    mean = _period_mean(np.where(base, y, np.nan), group)
    # moving ranges between consecutive baseline points of a period (qicharts2 drops excluded
    # points the same way); NHSRplotthedots' |diff(fix_y)| when nothing is excluded
    mr = np.full(len(y), np.nan)
    mr[base] = _moving_ranges(y[base], group[base])
    amr_all = _period_mean(mr, group)
    amr = amr_all
    if screen_outliers:
        # Deviation: when every moving range is zero, R screens them all out and the limits
        # become missing; keeping them makes the limits collapse onto the mean instead.
        mr = np.where((mr < SCREENING_MULTIPLIER * amr_all) | (amr_all == 0), mr, np.nan)
        amr = _period_mean(mr, group)
    with np.errstate(invalid="ignore"):
        return {
            "mean": mean,
            "lpl": mean - LIMIT_MULTIPLIER * amr,
            "upl": mean + LIMIT_MULTIPLIER * amr,
            "near_lpl": mean - NEAR_LIMIT_MULTIPLIER * amr,
            "near_upl": mean + NEAR_LIMIT_MULTIPLIER * amr,
            "moving_range": _moving_ranges(y, group),
            "moving_range_in_baseline": ~np.isnan(mr),
            "mean_moving_range": amr,
            "mean_moving_range_unscreened": amr_all,
        }


def _p_limits(points: Columns) -> Columns:
    """Centre line and per-period limits (qicharts2 ``qic.p``)."""
    group = points["rebase_group"]
    base = points["baseline"]
    num, _ = _period_totals(np.where(base, points["numerator"], 0.0), group)
    den, _ = _period_totals(np.where(base, points["denominator"], 0.0), group)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = num / den
        sigma = np.sqrt(centre * (1 - centre) / points["denominator"])
    n = len(centre)
    return {
        "mean": centre,
        "lpl": _at_least_zero(centre - 3 * sigma),
        "upl": _at_most_one(centre + 3 * sigma),
        "near_lpl": _at_least_zero(centre - 2 * sigma),
        "near_upl": _at_most_one(centre + 2 * sigma),
        "moving_range": np.full(n, np.nan),
        "moving_range_in_baseline": np.zeros(n, dtype=bool),
        "mean_moving_range": np.full(n, np.nan),
        "mean_moving_range_unscreened": np.full(n, np.nan),
    }


def _at_least_zero(values: np.ndarray) -> np.ndarray:
    """A proportion's limit clipped below at 0 (missing stays missing)."""
    return np.where(values < 0, 0.0, values)


def _at_most_one(values: np.ndarray) -> np.ndarray:
    """A proportion's limit clipped above at 1 (missing stays missing)."""
    return np.where(values > 1, 1.0, values)


# --------------------------------------------------------------------------------------------
# rules


def _period_sizes(group: np.ndarray) -> np.ndarray:
    """How many points each point's period has."""
    period, starts = period_starts(group)
    return np.diff(np.append(starts, len(group)))[period]


def _finish(
    points: Columns,
    *,
    improvement: str,
    target: float | None,
    trend_length: int,
    shift_length: int,
    short_group_threshold: int,
    chart: str,
    warnings: list[str] | None = None,
) -> SPCResult:
    """The rules, icons and warnings of a chart whose limits are known; its points as a frame."""
    warnings = list(warnings or [])
    group = points["rebase_group"]
    y = points["y"]
    lpl, upl = points["lpl"], points["upl"]
    outside = spc_rules.outside_limits(y, lpl, upl)
    relative = spc_rules.relative_to_mean(y, points["mean"])
    close = spc_rules.close_to_limits(y, lpl, upl, points["near_lpl"], points["near_upl"])
    trend, trend_direction = spc_rules.trend(y, group, trend_length)
    two_of_three = spc_rules.two_of_three(close, relative, group)
    shift = spc_rules.shift(relative, group, shift_length)
    kind, side = spc_rules.special_cause_type(
        outside, trend, trend_direction, two_of_three, shift, relative
    )
    short = _period_sizes(group) < short_group_threshold
    if short.any():
        warnings.append(short_group_warning(short_group_threshold))
    point_type = spc_rules.point_type(side, improvement)
    columns = points | {
        "target": np.full(len(y), np.nan if target is None else float(target)),
        "relative_to_mean": relative,
        "outside_limits": outside,
        "close_to_limits": close,
        "rule_outside_limits": outside,
        "rule_trend": trend,
        "rule_two_of_three": two_of_three,
        "rule_shift": shift,
        "special_cause_type": kind,
        "special_cause_flag": kind != "common_cause",
        "point_type": point_type,
        "short_group_warning": short,
    }
    return SPCResult(
        points=pd.DataFrame({name: columns[name] for name in POINT_COLUMNS}),
        variation_icon=spc_rules.variation_icon(point_type, improvement),
        assurance_icon=None
        if len(y) == 0
        else spc_rules.assurance_icon(lpl[-1], upl[-1], target, improvement),
        warnings=warnings,
        improvement_direction=improvement,
        chart=chart,
        short_group_threshold=short_group_threshold,
    )
