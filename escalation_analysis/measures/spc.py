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
from .chart_input import PeriodOptions, baseline, column, mark_periods, tidy_series
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


def _spc_chart(
    chart: str,
    read: Callable[[pd.DataFrame | None], pd.DataFrame],
    limits: Callable[[pd.DataFrame], pd.DataFrame],
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
    frame = read(data)
    mark_periods(frame, rebase, exclude)
    frame, warnings = _without_empty_periods(frame)
    frame["baseline"] = baseline(frame, fix_after_n_points)
    frame = pd.concat([frame, limits(frame)], axis=1)
    return _finish(
        frame,
        improvement=improvement,
        target=target,
        trend_length=trend_length,
        shift_length=shift_length,
        short_group_threshold=short_group_threshold,
        chart=chart,
        warnings=warnings,
    )


def _measurements(values: Any, dates: Any, data: pd.DataFrame | None) -> pd.DataFrame:
    """The XmR chart's points: ``y`` the measure, with no numerator or denominator."""
    return tidy_series(values, dates, data).assign(numerator=np.nan, denominator=np.nan)


def _proportions(numerators: Any, denominators: Any, dates: Any, data: pd.DataFrame | None) -> pd.DataFrame:
    """The p-chart's points: ``y`` the proportion, with its ``numerator`` and ``denominator``."""
    num = column(numerators, data, "numerators")
    den = column(denominators, data, "denominators")
    counts = pd.DataFrame({"num": np.asarray(num), "den": np.asarray(den)}).apply(
        pd.to_numeric, errors="coerce"
    )
    if counts.isna().any().any():
        raise ValueError("Numerators and denominators must be numbers with none missing.")
    n_arr = counts["num"].to_numpy(dtype=float)
    d_arr = counts["den"].to_numpy(dtype=float)
    if (n_arr < 0).any() or (d_arr < 0).any():
        raise ValueError("Numerators and denominators must not be negative.")
    if (n_arr > d_arr).any():
        raise ValueError("A numerator is larger than its denominator.")
    with np.errstate(invalid="ignore", divide="ignore"):
        proportion = pd.Series(n_arr / d_arr)
    if dates is None:
        dates = num.index if isinstance(num, pd.Series) else np.arange(len(proportion))
    frame = tidy_series(proportion, column(dates, data, "dates"), None, allow_missing=True)
    rows = frame["_row"].to_numpy()
    frame["numerator"] = n_arr[rows]
    frame["denominator"] = d_arr[rows]
    return frame


def _without_empty_periods(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Leave out periods with a zero denominator (no proportion), saying how many."""
    empty = frame["denominator"] == 0
    if not empty.any():
        return frame, []
    n_empty = int(empty.sum())
    warning = (
        f"{n_empty} period{'s' if n_empty != 1 else ''} with no episodes "
        f"{'were' if n_empty != 1 else 'was'} left out of the p-chart."
    )
    return frame.loc[~empty].reset_index(drop=True), [warning]


# --------------------------------------------------------------------------------------------
# limits


def _xmr_limits(frame: pd.DataFrame, screen_outliers: bool) -> pd.DataFrame:
    """Mean, limits and moving ranges per rebase group (``R/ptd_spc_standard.R``)."""
    group = frame["rebase_group"]
    y = frame["y"]
    base = frame["baseline"]
    mean = y.where(base).groupby(group).transform("mean")
    # moving ranges between consecutive baseline points of a period (qicharts2 drops excluded
    # points the same way); NHSRplotthedots' |diff(fix_y)| when nothing is excluded
    in_base = frame.loc[base]
    mr = in_base["y"].groupby(in_base["rebase_group"]).diff().abs().reindex(frame.index)
    amr_all = mr.groupby(group).transform("mean")
    amr = amr_all
    if screen_outliers:
        # Deviation: when every moving range is zero, R screens them all out and the limits
        # become missing; keeping them makes the limits collapse onto the mean instead.
        mr = mr.where((mr < SCREENING_MULTIPLIER * amr_all) | (amr_all == 0))
        amr = mr.groupby(group).transform("mean")
    return pd.DataFrame(
        {
            "mean": mean,
            "lpl": mean - LIMIT_MULTIPLIER * amr,
            "upl": mean + LIMIT_MULTIPLIER * amr,
            "near_lpl": mean - NEAR_LIMIT_MULTIPLIER * amr,
            "near_upl": mean + NEAR_LIMIT_MULTIPLIER * amr,
            "moving_range": y.groupby(group).diff().abs(),
            "moving_range_in_baseline": mr.notna(),
            "mean_moving_range": amr,
            "mean_moving_range_unscreened": amr_all,
        }
    )


def _p_limits(frame: pd.DataFrame) -> pd.DataFrame:
    """Centre line and per-period limits (qicharts2 ``qic.p``)."""
    group = frame["rebase_group"]
    base = frame["baseline"]
    num = frame["numerator"].where(base, 0.0)
    den = frame["denominator"].where(base, 0.0)
    centre = num.groupby(group).transform("sum") / den.groupby(group).transform("sum")
    sigma = np.sqrt(centre * (1 - centre) / frame["denominator"])
    return pd.DataFrame(
        {
            "mean": centre,
            "lpl": (centre - 3 * sigma).clip(lower=0),
            "upl": (centre + 3 * sigma).clip(upper=1),
            "near_lpl": (centre - 2 * sigma).clip(lower=0),
            "near_upl": (centre + 2 * sigma).clip(upper=1),
            "moving_range": np.nan,
            "moving_range_in_baseline": False,
            "mean_moving_range": np.nan,
            "mean_moving_range_unscreened": np.nan,
        }
    )


# --------------------------------------------------------------------------------------------
# rules


def _finish(
    frame: pd.DataFrame,
    *,
    improvement: str,
    target: float | None,
    trend_length: int,
    shift_length: int,
    short_group_threshold: int,
    chart: str,
    warnings: list[str] | None = None,
) -> SPCResult:
    warnings = list(warnings or [])
    group = frame["rebase_group"].to_numpy()
    y = frame["y"].to_numpy(float)
    outside = spc_rules.outside_limits(y, frame["lpl"], frame["upl"])
    relative = spc_rules.relative_to_mean(y, frame["mean"])
    close = spc_rules.close_to_limits(y, frame["lpl"], frame["upl"], frame["near_lpl"], frame["near_upl"])
    trend, trend_direction = spc_rules.trend(y, group, trend_length)
    two_of_three = spc_rules.two_of_three(close, relative, group)
    shift = spc_rules.shift(relative, group, shift_length)
    kind, side = spc_rules.special_cause_type(
        outside, trend, trend_direction, two_of_three, shift, relative
    )
    short = frame.groupby("rebase_group")["y"].transform("size") < short_group_threshold
    if short.any():
        warnings.append(short_group_warning(short_group_threshold))
    points = frame.assign(
        excluded=frame["excluded"].astype(bool),
        baseline=frame["baseline"].astype(bool),
        target=np.nan if target is None else float(target),
        relative_to_mean=relative,
        outside_limits=outside,
        close_to_limits=close,
        rule_outside_limits=outside,
        rule_trend=trend,
        rule_two_of_three=two_of_three,
        rule_shift=shift,
        special_cause_type=kind,
        special_cause_flag=kind != "common_cause",
        point_type=spc_rules.point_type(side, improvement),
        short_group_warning=short.astype(bool),
    )
    points = points[list(POINT_COLUMNS)].reset_index(drop=True)
    last = points.iloc[-1] if len(points) else None
    return SPCResult(
        points=points,
        variation_icon=spc_rules.variation_icon(points["point_type"].tolist(), improvement),
        assurance_icon=None
        if last is None
        else spc_rules.assurance_icon(last["lpl"], last["upl"], target, improvement),
        warnings=warnings,
        improvement_direction=improvement,
        chart=chart,
        short_group_threshold=short_group_threshold,
    )
