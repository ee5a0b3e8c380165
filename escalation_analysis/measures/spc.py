"""Statistical process control the NHS "Making Data Count" way.

Two charts, one set of rules:

* :func:`compute_xmr_chart` is an XmR (individuals) chart computed exactly as the R package
  NHSRplotthedots computes it (``R/ptd_spc_standard.R``): centre line the mean, process limits
  the mean ± 2.66 × the mean moving range, with moving ranges above 3.267 × their mean screened
  out and the mean recomputed (Nelson 1982) unless ``screen_outliers=False`` (what the MDC Excel
  tools do). Limits can be recalculated from given points (``rebase``,
  ``R/ptd_add_rebase_column.R``) and fixed on the first ``fix_after_n_points`` points of each
  period.
* :func:`compute_p_chart` is a p-chart for monthly proportions computed as qicharts2's
  ``qic.p`` (``R/qic.charts.R``): centre line ``sum(numerator) / sum(denominator)``, limits
  p̄ ± 3·sqrt(p̄(1 − p̄)/nᵢ) for each period, clipped to [0, 1].

Both then apply the NHSRplotthedots special-cause rules (``R/ptd_calculate_point_type.R``),
within each rebase period, in this order of precedence:

1. a point beyond a process limit (strictly above the upper or below the lower);
2. a trend: ``trend_length`` (7) points each strictly higher (or lower) than the one before,
   so 6 rises in a row; a repeated value breaks a trend and a 6-point rise (5 rises) does not
   count;
3. two of three: in 3 consecutive points all on the same side of the mean, at least 2 lie
   between the near limit (mean ± 2/3 of the distance to the process limit, the "2-sigma"
   line) and the process limit; the points in that zone are flagged (a point beyond the process
   limit does not count towards this rule, it is flagged by rule 1);
4. a shift: ``shift_length`` (7) points in a row on the same side of the mean; a point exactly
   on the mean breaks the run.

Every point flagged by any rule is special cause. Its direction is the side of the mean (rules
1, 3, 4) or the direction of the trend (rule 2; a point shared by two trends takes the trend
to its right), and the improvement direction turns it into ``special_cause_improvement`` or
``special_cause_concern``, or, when neither direction is better,
``special_cause_neutral_high``/``special_cause_neutral_low``. The variation icon comes from the
last point; the assurance icon compares the target with the process limits of the last point
(``R/ptd_calculate_assurance_type.R``, ``R/geom_ptd_icon.R``). Any period with fewer than 12
points raises the NHSRplotthedots short-series warning (``R/ptd_add_short_group_warnings.R``).

Deliberate deviations, all documented where they happen: a rebase value that is not one of the
chart's x values is an error (NHSRplotthedots silently ignores it); missing values are an error;
when every moving range in a period is zero the screening step keeps them, so the limits
collapse onto the mean instead of becoming missing.

Known answers (``tests/test_spc.py``): the NHSRplotthedots "Deviations from Excel defaults"
vignette (screened UPL 4.60 / mean 1.94 / LPL −0.72; unscreened 6.95 / −3.06), the
``ptd_spc_standard`` snapshot, and the serialised integration snapshots for NHSRdatasets
``ae_attendances`` (all attendances; rebased in April 2017; 4-hour performance fixed after 12
points, with every point type) match to floating-point precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "POINT_TYPES",
    "SPCResult",
    "XmRResult",
    "compute_p_chart",
    "compute_xmr_chart",
]

ImprovementDirection = Literal["increase", "decrease", "neutral"]

LIMIT_MULTIPLIER: float = 2.66
"""Process limits sit this many mean moving ranges from the mean (3 / 1.128)."""

NEAR_LIMIT_MULTIPLIER: float = 2 * LIMIT_MULTIPLIER / 3
"""Near ("2-sigma") limits: two thirds of the distance to the process limits."""

SCREENING_MULTIPLIER: float = 3.267
"""Moving ranges at or above this many times their mean are screened out (Nelson 1982)."""

SHORT_SERIES_WARNING: str = (
    "Some groups have 'n < 12' observations. These have trial limits, which will be revised "
    "with each additional observation until 'n = fix_after_n_points' has been reached."
)
"""The NHSRplotthedots wording, kept so that users can search for it."""

POINT_TYPES: tuple[str, ...] = (
    "common_cause",
    "special_cause_improvement",
    "special_cause_concern",
    "special_cause_neutral_high",
    "special_cause_neutral_low",
)
"""Every value the ``point_type`` column can take."""

_DIRECTIONS: dict[str, int] = {"increase": 1, "neutral": 0, "decrease": -1}

POINT_COLUMNS: tuple[str, ...] = (
    "x",
    "y",
    "numerator",
    "denominator",
    "rebase_group",
    "mean",
    "lpl",
    "upl",
    "near_lpl",
    "near_upl",
    "moving_range",
    "moving_range_in_baseline",
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


@dataclass(frozen=True)
class SPCResult:
    """An SPC chart: one row per point, the MDC icons and any warnings.

    Attributes
    ----------
    points
        One row per point in x order. Columns: ``x``, ``y``; ``numerator`` and
        ``denominator`` (p-charts only; missing on XmR charts); ``rebase_group`` (0, 1, ... one
        per period between rebases); ``mean`` (the centre line), ``lpl``/``upl`` (lower/upper
        process limits), ``near_lpl``/``near_upl`` (the "2-sigma" lines); ``moving_range``
        (|y − previous y| within the period; XmR only) and ``moving_range_in_baseline`` (whether
        it entered the mean moving range after fixing and screening); ``target``;
        ``relative_to_mean`` (−1, 0, 1); ``outside_limits`` and ``close_to_limits`` (between a
        near limit and its process limit); one boolean per rule, ``rule_outside_limits``,
        ``rule_trend``, ``rule_two_of_three``, ``rule_shift``, true for every point that is
        part of such a pattern whichever rule wins; ``special_cause_type`` (the rule that wins,
        by precedence: ``above_upl``, ``below_lpl``, ``trend_increasing``,
        ``trend_decreasing``, ``two_of_three_above``, ``two_of_three_below``, ``shift_above``,
        ``shift_below`` or ``common_cause``); ``special_cause_flag``; ``point_type`` (one of
        :data:`POINT_TYPES`); ``short_group_warning`` (its period has too few points).
    variation_icon
        From the last point: ``common_cause``, ``improvement_high``, ``improvement_low``,
        ``concern_high``, ``concern_low``, ``neutral_high`` or ``neutral_low`` (the
        NHSRplotthedots icon names).
    assurance_icon
        ``consistent_pass``, ``consistent_fail`` or ``inconsistent`` (MDC's "hit and miss"),
        or ``None`` when there is no target or the improvement direction is neutral.
    warnings
        Plain-English sentences, e.g. the short-series warning.
    improvement_direction
        The direction the chart was computed with.
    chart
        ``"xmr"`` or ``"p"``.
    """

    points: pd.DataFrame
    variation_icon: str
    assurance_icon: str | None
    warnings: list[str] = field(default_factory=list)
    improvement_direction: str = "increase"
    chart: str = "xmr"

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
        >>> result = compute_xmr_chart(pd.Series([1.0, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2]))
        >>> result.summary()[["n", "special_cause_improvement"]].to_dict("records")
        [{'n': 13, 'special_cause_improvement': 1}]
        """
        grouped = self.points.groupby("rebase_group", sort=True)
        out = grouped.agg(
            first_x=("x", "first"),
            last_x=("x", "last"),
            n=("y", "size"),
            mean=("mean", "first"),
            lpl=("lpl", "first"),
            upl=("upl", "first"),
            common_cause=("special_cause_flag", lambda f: int((~f).sum())),
            special_cause_improvement=(
                "point_type",
                lambda t: int((t == "special_cause_improvement").sum()),
            ),
            special_cause_concern=(
                "point_type",
                lambda t: int((t == "special_cause_concern").sum()),
            ),
            variation_type=("point_type", "last"),
        )
        return out.reset_index()


XmRResult = SPCResult
"""Alias: an XmR chart's result is an :class:`SPCResult`."""


def compute_xmr_chart(
    data: pd.DataFrame | pd.Series,
    value: str | None = None,
    x: str | None = None,
    *,
    improvement_direction: ImprovementDirection = "increase",
    target: float | None = None,
    rebase: Sequence | None = None,
    fix_after_n_points: int | None = None,
    screen_outliers: bool = True,
    trend_length: int = 7,
    shift_length: int = 7,
    short_series_threshold: int = 12,
) -> SPCResult:
    """Compute an MDC XmR chart as NHSRplotthedots' ``ptd_spc`` does.

    Parameters
    ----------
    data
        A frame with one row per period, or a Series of values indexed by period.
    value
        Column of ``data`` holding the measure (ignored for a Series).
    x
        Column of ``data`` holding the period (a date or an order). Default: the index.
    improvement_direction
        ``"increase"`` (higher is better), ``"decrease"`` or ``"neutral"``.
    target
        Optional target; gives the assurance icon.
    rebase
        x values at which the limits are recalculated: each starts a new period. Every value
        must be one of the chart's x values (dates may be given as ISO strings).
    fix_after_n_points
        Compute each period's mean and limits from its first n points only and extend them.
        NHSRplotthedots requires at least 12.
    screen_outliers
        Screen moving ranges ≥ 3.267 × their mean out of the limits (NHSRplotthedots'
        default); ``False`` reproduces the MDC Excel tools.
    trend_length
        Points in a run of strict rises (or falls) that make a trend (default 7).
    shift_length
        Points in a row on one side of the mean that make a shift (default 7).
    short_series_threshold
        Periods with fewer points than this raise the short-series warning (default 12).

    Returns
    -------
    SPCResult
        Points (see :class:`SPCResult` for the columns), icons and warnings.

    Raises
    ------
    ValueError
        For missing or non-numeric values, duplicate x values, an unknown rebase value, an
        unknown improvement direction or ``fix_after_n_points`` below 12.

    Notes
    -----
    Follows ``R/ptd_spc_standard.R`` step by step within each period: ``fix_y`` is the value
    for the first ``fix_after_n_points`` points and missing after; the mean and the moving
    ranges |Δfix_y| come from ``fix_y``; the mean moving range is recomputed after dropping
    moving ranges not strictly below 3.267 × the first mean moving range; the process limits are
    the mean ± 2.66 × the mean moving range and the near limits the mean ± (2 × 2.66 / 3) ×
    the mean moving range. The special-cause rules and icons are described in the module
    docstring.

    Examples
    --------
    The NHSRplotthedots "Deviations from Excel defaults" vignette:

    >>> y = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]
    >>> x = pd.date_range("2021-03-22", periods=18, freq="D")
    >>> chart = compute_xmr_chart(pd.Series(y, index=x, dtype=float))
    >>> [round(v, 2) for v in chart.points.loc[0, ["upl", "mean", "lpl"]]]
    [4.6, 1.94, -0.72]
    >>> chart.points.loc[4, "point_type"]
    'special_cause_improvement'
    >>> chart.variation_icon
    'common_cause'
    """
    direction = _check_direction(improvement_direction)
    _check_lengths(trend_length, shift_length, short_series_threshold)
    if fix_after_n_points is not None and fix_after_n_points < 12:
        raise ValueError("fix_after_n_points must be a single number greater than or equal to 12.")
    frame = _tidy_input(data, value, x)
    frame["rebase_group"] = _rebase_groups(frame["x"], rebase)
    frame["numerator"] = np.nan
    frame["denominator"] = np.nan
    limits = _xmr_limits(frame, fix_after_n_points, screen_outliers)
    frame = pd.concat([frame, limits], axis=1)
    return _finish(
        frame,
        direction=direction,
        improvement_direction=improvement_direction,
        target=target,
        trend_length=trend_length,
        shift_length=shift_length,
        short_series_threshold=short_series_threshold,
        chart="xmr",
    )


def compute_p_chart(
    data: pd.DataFrame,
    numerator: str,
    denominator: str,
    x: str | None = None,
    *,
    improvement_direction: ImprovementDirection = "increase",
    target: float | None = None,
    rebase: Sequence | None = None,
    fix_after_n_points: int | None = None,
    trend_length: int = 7,
    shift_length: int = 7,
    short_series_threshold: int = 12,
) -> SPCResult:
    """Compute a p-chart with limits per period, as qicharts2's ``qic.p``, with MDC rules.

    Parameters
    ----------
    data
        One row per period.
    numerator, denominator
        Columns of counts, e.g. episodes escalated within target and all episodes.
    x
        Column holding the period. Default: the index.
    improvement_direction, target, rebase, trend_length, shift_length, short_series_threshold
        As for :func:`compute_xmr_chart`. ``target`` is a proportion (0.9, not 90).
    fix_after_n_points
        Compute the centre line from the first n periods of each rebase period only (qicharts2's
        ``freeze``); any positive number.

    Returns
    -------
    SPCResult
        As for :func:`compute_xmr_chart`; ``y`` is the proportion, ``numerator`` and
        ``denominator`` are kept and ``moving_range`` is missing. Periods with a zero
        denominator have no proportion: they are left out, with a warning.

    Raises
    ------
    ValueError
        For negative or missing counts, a numerator above its denominator, duplicate x values
        or an unknown rebase value.

    Notes
    -----
    ``R/qic.charts.R`` (``qic.p``): centre line p̄ = Σ numerator / Σ denominator over the
    baseline; σᵢ = sqrt(p̄(1 − p̄)/nᵢ); limits p̄ ± 3σᵢ with the upper clipped to 1 and the
    lower to 0. The near limits are p̄ ± 2σᵢ (the same two thirds of the way to the limits
    as on the XmR chart), clipped likewise. The special-cause rules are then those of
    NHSRplotthedots.

    Examples
    --------
    >>> frame = pd.DataFrame({"month": range(3), "ok": [45, 40, 48], "all": [50, 50, 50]})
    >>> chart = compute_p_chart(frame, "ok", "all", "month")
    >>> [round(float(v), 4) for v in chart.points.loc[0, ["mean", "lpl", "upl"]]]
    [0.8867, 0.7522, 1.0]
    """
    direction = _check_direction(improvement_direction)
    _check_lengths(trend_length, shift_length, short_series_threshold)
    if fix_after_n_points is not None and fix_after_n_points < 1:
        raise ValueError("fix_after_n_points must be a positive number.")
    for column in (numerator, denominator):
        if column not in data.columns:
            raise ValueError(f"Column '{column}' is not in the data.")
    counts = data[[numerator, denominator]].apply(pd.to_numeric, errors="coerce")
    if counts.isna().any().any():
        raise ValueError("Numerators and denominators must be numbers with none missing.")
    num = counts[numerator].to_numpy(dtype=float)
    den = counts[denominator].to_numpy(dtype=float)
    if (num < 0).any() or (den < 0).any():
        raise ValueError("Numerators and denominators must not be negative.")
    if (num > den).any():
        raise ValueError("A numerator is larger than its denominator.")
    with np.errstate(invalid="ignore", divide="ignore"):
        proportion = num / den
    tidy = data.assign(_p=proportion)
    frame = _tidy_input(tidy, "_p", x, allow_missing=True)
    rows = frame["_row"].to_numpy()
    frame["numerator"] = num[rows]
    frame["denominator"] = den[rows]
    warnings: list[str] = []
    frame["rebase_group"] = _rebase_groups(frame["x"], rebase)
    empty = frame["denominator"] == 0
    if empty.any():
        n_empty = int(empty.sum())
        warnings.append(
            f"{n_empty} period{'s' if n_empty != 1 else ''} with no episodes "
            f"{'were' if n_empty != 1 else 'was'} left out of the p-chart."
        )
        frame = frame.loc[~empty].reset_index(drop=True)
    limits = _p_limits(frame, fix_after_n_points)
    frame = pd.concat([frame, limits], axis=1)
    return _finish(
        frame,
        direction=direction,
        improvement_direction=improvement_direction,
        target=target,
        trend_length=trend_length,
        shift_length=shift_length,
        short_series_threshold=short_series_threshold,
        chart="p",
        warnings=warnings,
    )


# --------------------------------------------------------------------------------------------
# input handling


def _check_direction(improvement_direction: str) -> int:
    if improvement_direction not in _DIRECTIONS:
        raise ValueError(
            "improvement_direction must be 'increase', 'decrease' or 'neutral', "
            f"not {improvement_direction!r}."
        )
    return _DIRECTIONS[improvement_direction]


def _check_lengths(trend_length: int, shift_length: int, short_series_threshold: int) -> None:
    if trend_length < 2 or shift_length < 1:
        raise ValueError("trend_length must be at least 2 and shift_length at least 1.")
    if short_series_threshold < 0:
        raise ValueError("short_series_threshold must not be negative.")


def _tidy_input(
    data: pd.DataFrame | pd.Series,
    value: str | None,
    x: str | None,
    *,
    allow_missing: bool = False,
) -> pd.DataFrame:
    """Return a frame with ``x`` and float ``y`` sorted by x, plus ``_row`` (original order)."""
    if isinstance(data, pd.Series):
        ys = data
        xs = data.index.to_series()
    else:
        if value is None or value not in data.columns:
            raise ValueError(f"Column '{value}' is not in the data.")
        if x is not None and x not in data.columns:
            raise ValueError(f"Column '{x}' is not in the data.")
        ys = data[value]
        xs = data.index.to_series() if x is None else data[x]
    y = pd.to_numeric(pd.Series(ys.to_numpy()), errors="coerce").astype(float)
    if not allow_missing and y.isna().any():
        raise ValueError("Values must be numbers with none missing.")
    xv = pd.Series(xs.to_numpy())
    if xv.isna().any():
        raise ValueError("Periods (x) must not be missing.")
    if xv.duplicated().any():
        raise ValueError("Duplicate periods (x values) found; each period must appear once.")
    frame = pd.DataFrame({"x": xv, "y": y, "_row": np.arange(len(y))})
    return frame.sort_values("x", kind="stable").reset_index(drop=True)


def _rebase_groups(x: pd.Series, rebase: Sequence | None) -> pd.Series:
    """Assign period numbers: cumulative sum of 1s at rebase values (``ptd_add_rebase_column``)."""
    if rebase is None or len(rebase) == 0:
        return pd.Series(0, index=x.index, dtype=int)
    values = pd.Index(list(rebase))
    if pd.api.types.is_datetime64_any_dtype(x):
        values = pd.DatetimeIndex(pd.to_datetime(values))
        if x.dt.tz is not None and values.tz is None:
            values = values.tz_localize(x.dt.tz)
    missing = values[~values.isin(x)]
    if len(missing):
        raise ValueError(
            "Rebase value(s) not found among the chart's periods: "
            + ", ".join(str(v) for v in missing)
            + "."
        )
    return x.isin(values).astype(int).cumsum()


# --------------------------------------------------------------------------------------------
# limits


def _xmr_limits(
    frame: pd.DataFrame, fix_after_n_points: int | None, screen_outliers: bool
) -> pd.DataFrame:
    """Mean, limits and moving ranges per rebase group (``R/ptd_spc_standard.R``)."""
    group = frame["rebase_group"]
    y = frame["y"]
    position = frame.groupby("rebase_group").cumcount()
    fix_y = y if fix_after_n_points is None else y.where(position < fix_after_n_points)
    mean = fix_y.groupby(group).transform("mean")
    mr = fix_y.groupby(group).diff().abs()
    amr = mr.groupby(group).transform("mean")
    if screen_outliers:
        # Deviation: when every moving range is zero, R screens them all out and the limits
        # become missing; keeping them makes the limits collapse onto the mean instead.
        keep = (mr < SCREENING_MULTIPLIER * amr) | (amr == 0)
        mr = mr.where(keep)
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
        }
    )


def _p_limits(frame: pd.DataFrame, fix_after_n_points: int | None) -> pd.DataFrame:
    """Centre line and per-period limits (qicharts2 ``qic.p``)."""
    group = frame["rebase_group"]
    position = frame.groupby("rebase_group").cumcount()
    base = (
        pd.Series(True, index=frame.index)
        if fix_after_n_points is None
        else position < fix_after_n_points
    )
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
        }
    )


# --------------------------------------------------------------------------------------------
# rules (R/ptd_calculate_point_type.R), vectorised within rebase groups


def _runs(values: pd.Series, group: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Label runs of equal consecutive values within groups; return run id and run length."""
    starts = (values != values.shift()) | (group != group.shift()) | values.isna()
    run_id = starts.cumsum()
    return run_id, values.groupby(run_id).transform("size")


def _shift_points(relative_to_mean: pd.Series, group: pd.Series, length: int) -> pd.Series:
    """Points in a run of ``length`` or more on one side of the mean (0 breaks a run)."""
    _, run_length = _runs(relative_to_mean, group)
    return (relative_to_mean != 0) & (run_length >= length)


def _trend_points(y: pd.Series, group: pd.Series, length: int) -> tuple[pd.Series, pd.Series]:
    """Points in ``length`` or more consecutive strict rises or falls, and each one's direction.

    Returns the flag and the direction (+1 increasing, −1 decreasing) that
    ``ptd_special_cause_type`` assigns: the sign of the step to the right when this point and
    the next are both in a trend, else the sign of the step from the left; a flat step reads
    as decreasing, as in R's ``ifelse(sdy == 1, "In", "De")``.
    """
    step = np.sign(y.groupby(group).diff())  # sign(y_i - y_{i-1}); missing at a group start
    _, run_length = _runs(step, group)
    step_in_trend = step.notna() & (step != 0) & (run_length >= length - 1)
    next_step_in_trend = step_in_trend.groupby(group).shift(-1, fill_value=False).astype(bool)
    in_trend = step_in_trend | next_step_in_trend
    next_in_trend = in_trend.groupby(group).shift(-1, fill_value=False).astype(bool)
    right = step.groupby(group).shift(-1)
    sdy = right.where(in_trend & next_in_trend, step).fillna(0)
    direction = pd.Series(np.where(sdy == 1, 1, -1), index=y.index)
    return in_trend, direction


def _two_of_three_points(
    close: pd.Series, relative_to_mean: pd.Series, group: pd.Series
) -> pd.Series:
    """Close-to-limit points in a window of 3 with ≥ 2 close and all 3 on one side."""
    c = close.astype(float)
    r = relative_to_mean.astype(float)
    grouped_c = c.groupby(group)
    grouped_r = r.groupby(group)
    # window ending at i covers i-2..i; incomplete windows (group edges) are missing -> False
    close_in_window = c + grouped_c.shift(1) + grouped_c.shift(2)
    side_in_window = r + grouped_r.shift(1) + grouped_r.shift(2)
    window_ok = ((close_in_window >= 2) & (side_in_window.abs() == 3)).astype(float)
    grouped_ok = window_ok.groupby(group)
    in_window = (
        (window_ok == 1)
        | (grouped_ok.shift(-1, fill_value=0.0) == 1)
        | (grouped_ok.shift(-2, fill_value=0.0) == 1)
    )
    return in_window & close


def _finish(
    frame: pd.DataFrame,
    *,
    direction: int,
    improvement_direction: str,
    target: float | None,
    trend_length: int,
    shift_length: int,
    short_series_threshold: int,
    chart: str,
    warnings: list[str] | None = None,
) -> SPCResult:
    warnings = list(warnings or [])
    group = frame["rebase_group"]
    y = frame["y"]
    outside = (y > frame["upl"]) | (y < frame["lpl"])
    relative = pd.Series(np.sign(y - frame["mean"]), index=frame.index).fillna(0).astype(int)
    close = ~outside & ((y < frame["near_lpl"]) | (y > frame["near_upl"]))
    trend, trend_direction = _trend_points(y, group, trend_length)
    two_of_three = _two_of_three_points(close, relative, group)
    shift = _shift_points(relative, group, shift_length)

    above = relative > 0
    kind = np.select(
        [outside, trend, two_of_three, shift],
        [
            np.where(relative == 1, "above_upl", "below_lpl"),
            np.where(trend_direction == 1, "trend_increasing", "trend_decreasing"),
            np.where(above, "two_of_three_above", "two_of_three_below"),
            np.where(above, "shift_above", "shift_below"),
        ],
        default="common_cause",
    )
    # +1 for "Above"/"Increasing", -1 for "Below"/"Decreasing", by the same precedence
    side_of_mean = np.where(relative == 1, 1, -1)
    side = np.where(
        outside,
        side_of_mean,
        np.where(trend, trend_direction, np.where(two_of_three | shift, side_of_mean, 0)),
    )
    flag = kind != "common_cause"
    if direction == 0:
        point_type = np.select(
            [side > 0, side < 0],
            ["special_cause_neutral_high", "special_cause_neutral_low"],
            default="common_cause",
        )
    else:
        oriented = side * direction
        point_type = np.select(
            [oriented > 0, oriented < 0],
            ["special_cause_improvement", "special_cause_concern"],
            default="common_cause",
        )

    group_size = frame.groupby("rebase_group")["y"].transform("size")
    short = group_size < short_series_threshold
    if short.any():
        warnings.append(SHORT_SERIES_WARNING)

    points = frame.assign(
        target=np.nan if target is None else float(target),
        relative_to_mean=relative,
        outside_limits=outside.astype(bool),
        close_to_limits=close.astype(bool),
        rule_outside_limits=outside.astype(bool),
        rule_trend=trend.astype(bool),
        rule_two_of_three=two_of_three.astype(bool),
        rule_shift=shift.astype(bool),
        special_cause_type=kind,
        special_cause_flag=flag,
        point_type=point_type,
        short_group_warning=short.astype(bool),
    )
    points = points[list(POINT_COLUMNS)].reset_index(drop=True)
    return SPCResult(
        points=points,
        variation_icon=_variation_icon(points, improvement_direction),
        assurance_icon=_assurance_icon(points, improvement_direction, target),
        warnings=warnings,
        improvement_direction=improvement_direction,
        chart=chart,
    )


def _variation_icon(points: pd.DataFrame, improvement_direction: str) -> str:
    """Return the icon for the last point (``ptd_get_icons`` in ``R/geom_ptd_icon.R``)."""
    if points.empty:
        return "common_cause"
    last = points["point_type"].iloc[-1]
    high_is_good = improvement_direction == "increase"
    return {
        "common_cause": "common_cause",
        "special_cause_neutral_high": "neutral_high",
        "special_cause_neutral_low": "neutral_low",
        "special_cause_concern": "concern_low" if high_is_good else "concern_high",
        "special_cause_improvement": "improvement_high" if high_is_good else "improvement_low",
    }[last]


def _assurance_icon(
    points: pd.DataFrame, improvement_direction: str, target: float | None
) -> str | None:
    """Target against the last point's limits (``R/ptd_calculate_assurance_type.R``)."""
    if target is None or improvement_direction == "neutral" or points.empty:
        return None
    last = points.iloc[-1]
    increasing = improvement_direction == "increase"
    if target > last["upl"]:
        return "consistent_fail" if increasing else "consistent_pass"
    if target < last["lpl"]:
        return "consistent_pass" if increasing else "consistent_fail"
    return "inconsistent"
