"""The qicharts2 family: run charts and Shewhart control charts judged by Anhøj's rules.

Each chart is computed as qicharts2's ``qic()`` computes it (``R/helper.functions.R``: the
``qic.*`` functions, ``runs.analysis`` and ``qic.agg``), so its centre line, 3-sigma limits,
2-sigma lines and signals match qicharts2's:

==============  ===============================  ===========================================
chart           for                               centre line and σ (per point i)
==============  ===============================  ===========================================
:func:`run_chart`  any measure over time          median; no limits
:func:`i_chart`    individual measurements        mean; σ = mean moving range / 1.128
:func:`mr_chart`   their moving ranges            mean MR; upper limit 3.267 × mean MR
:func:`c_chart`    counts of events               mean c; σ = √c̄
:func:`u_chart`    events per unit of exposure    Σc/Σn; σᵢ = √(ū/nᵢ)
:func:`p_chart`    proportions                    Σk/Σn; σᵢ = √(p̄(1 − p̄)/nᵢ), limits in [0, 1]
:func:`pp_chart`   Laney's P′ (large samples)     as P, σᵢ × σ_z from the z-scores' moving ranges
:func:`up_chart`   Laney's U′ (large samples)     as U, σᵢ × σ_z likewise
:func:`g_chart`    opportunities between events   median; limits mean ± 3√(mean(mean + 1))
:func:`t_chart`    time between rare events       an I chart of t^(1/3.6), transformed back
==============  ===============================  ===========================================

Moving ranges at or above 3.267 × their mean are screened out before σ is estimated (Nelson
1982), as qicharts2 does by default (``qic.screenedmr = TRUE``); ``screen_outliers=False``
turns this off. Every chart takes:

* ``rebase``: where new limits start (qicharts2's ``part``: ``part = 30`` is ``rebase=[30]``);
* ``fix_after_n_points``: compute the centre line and limits from the first n points of each
  period and extend them (qicharts2's ``freeze``);
* ``exclude``: points left out of the centre line, the limits and the runs analysis (still
  drawn), as qicharts2's ``exclude`` (whose positions count from 1; ours from 0);
* ``centre``: a given centre line instead of the computed one (qicharts2's ``cl``);
* ``multiply``: multiply the values and lines, e.g. 1000 for a rate per 1000 (qicharts2's
  ``multiply``).

Points are given as for :func:`~escalation_analysis.measures.spc.xmr`: sequences, Series or
columns of ``data``; dates or whole-number positions for ``rebase`` and ``exclude``.

Signals: a point beyond a 3-sigma limit (``sigma_signal``) and, for the whole period, Anhøj's
runs signal (:mod:`~escalation_analysis.measures.anhoej`) computed against the centre line over
the included points; an MR chart has no runs signal, as in qicharts2.

Known answers (``tests/test_control_charts.py``): qicharts2's reference results for
Montgomery's examples (I, MR, P, C, U and T charts, with ``freeze``, ``part`` and ``exclude``),
its hospital-infections summary and the Anhøj limits table of its vignette.

>>> chart = c_chart([3, 5, 2, 4, 6, 3, 4, 5, 2, 3, 4, 12])
>>> [round(float(chart.points.loc[0, line]), 3) for line in ("cl", "ucl")]
[4.417, 10.721]
>>> chart.points["sigma_signal"].tolist()[-1]
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack

import numpy as np
import pandas as pd

from .anhoej import runs_analysis
from .chart_input import PeriodOptions, baseline, column, mark_periods, tidy_series
from .spc import SCREENING_MULTIPLIER

__all__ = [
    "CHART_COLUMNS",
    "CHART_NAMES",
    "ChartOptions",
    "ControlChart",
    "c_chart",
    "g_chart",
    "i_chart",
    "mr_chart",
    "p_chart",
    "pp_chart",
    "run_chart",
    "t_chart",
    "u_chart",
    "up_chart",
]

D2: float = 1.128
"""The mean moving range of two normal values is 1.128 σ."""

T_POWER: float = 3.6
"""t-chart transformation: times between events to the power 1/3.6 are near normal."""

CHART_NAMES: dict[str, str] = {
    "run": "run chart",
    "i": "I chart",
    "mr": "MR chart",
    "c": "C chart",
    "u": "U chart",
    "p": "P chart",
    "pp": "P′ chart",
    "up": "U′ chart",
    "g": "G chart",
    "t": "T chart",
}
"""qicharts2's chart codes and their names."""

_LINES: tuple[str, ...] = ("cl", "lcl", "ucl", "lcl_95", "ucl_95")
"""A chart's lines: centre, 3-sigma limits and 2-sigma lines."""

_RUNS: tuple[str, ...] = (
    "n_obs", "n_useful", "longest_run", "longest_run_max", "n_crossings", "n_crossings_min"
)
"""Anhøj's runs analysis of a period (:class:`~escalation_analysis.measures.anhoej.RunsAnalysis`)."""

CHART_COLUMNS: tuple[str, ...] = (
    "x", "y", "n", "rebase_group", "baseline", "excluded", *_LINES, "sigma_signal", "runs_signal", *_RUNS
)
"""The columns of :attr:`ControlChart.points`, in order."""


@dataclass(frozen=True)
class ControlChart:
    """A qicharts2-style chart: one row per point and a summary per period.

    Attributes
    ----------
    points
        One row per point in date order, columns :data:`CHART_COLUMNS`: ``x``; ``y`` (the
        value charted, times ``multiply``); ``n`` (the denominator or exposure, missing for
        charts without one); ``rebase_group`` (0, 1, ...: qicharts2's ``part`` less 1);
        ``baseline`` (the point entered the centre line and limits) and ``excluded``;
        ``cl``, ``lcl``, ``ucl`` (3-sigma) and ``lcl_95``, ``ucl_95`` (2-sigma), missing on
        a run chart; ``sigma_signal`` (beyond a 3-sigma limit); ``runs_signal`` and the
        runs analysis of the point's period: ``n_obs``, ``n_useful``, ``longest_run``,
        ``longest_run_max``, ``n_crossings``, ``n_crossings_min``.
    chart
        qicharts2's code: ``run``, ``i``, ``mr``, ``c``, ``u``, ``p``, ``pp``, ``up``, ``g``
        or ``t`` (see :data:`CHART_NAMES`).
    multiply
        What the values and lines were multiplied by.
    warnings
        Plain-English notes.
    """

    points: pd.DataFrame
    chart: str
    multiply: float = 1.0
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The chart's name, e.g. "T chart"."""
        return CHART_NAMES[self.chart]

    def summary(self) -> pd.DataFrame:
        """One row per period, as qicharts2's ``summary.qic``.

        Columns ``rebase_group``, ``n_obs``, ``n_useful``, ``longest_run``,
        ``longest_run_max``, ``n_crossings``, ``n_crossings_min``, ``runs_signal``,
        ``mean_lcl``, ``mean_lcl_95``, ``cl``, ``mean_ucl_95``, ``mean_ucl`` (qicharts2's
        ``aLCL`` ... ``aUCL``: averages over the period) and ``sigma_signal`` (points beyond
        the limits).
        """
        grouped = self.points.groupby("rebase_group", sort=True)
        out = grouped.agg(
            **{key: (key, "first") for key in _RUNS},
            runs_signal=("runs_signal", "max"),
            mean_lcl=("lcl", "mean"),
            mean_lcl_95=("lcl_95", "mean"),
            cl=("cl", "mean"),
            mean_ucl_95=("ucl_95", "mean"),
            mean_ucl=("ucl", "mean"),
            sigma_signal=("sigma_signal", "sum"),
        )
        return out.reset_index()


# --------------------------------------------------------------------------------------------
# the charts


class ChartOptions(PeriodOptions, total=False):
    """The keyword settings every chart here takes (see the module docstring).

    Besides :class:`~escalation_analysis.measures.chart_input.PeriodOptions` (``data``,
    ``rebase``, ``fix_after_n_points``, ``exclude``): ``centre``, a given centre line instead of
    the computed one, and ``multiply``, what the values and lines are multiplied by.
    """

    centre: float | None
    multiply: float


def run_chart(
    values: Any, dates: Any = None, *, denominators: Any = None, **options: Unpack[ChartOptions]
) -> ControlChart:
    """A run chart: values against their median, judged by Anhøj's rules.

    ``denominators`` (optional) turns counts into proportions or rates first, as qicharts2's
    ``n``. The other settings are described in the module docstring.

    >>> chart = run_chart([5, 6, 5, 7, 6, 5, 6, 7, 9, 10, 9, 11, 10, 12, 11, 10])
    >>> summary = chart.summary().iloc[0]
    >>> float(summary["cl"]), int(summary["longest_run"]), bool(summary["runs_signal"])
    (8.0, 8, True)
    """
    return _control_chart("run", _run_limits, values, denominators, dates, **options)


def i_chart(
    values: Any, dates: Any = None, *, screen_outliers: bool = True, **options: Unpack[ChartOptions]
) -> ControlChart:
    """An I (individuals) chart: mean ± 3 × mean moving range / 1.128 (``qic.i``).

    The moving ranges join consecutive baseline points, so an excluded point's two moving
    ranges are replaced by one across it.
    """
    return _control_chart("i", _individuals(screen_outliers), values, None, dates, **options)


def mr_chart(values: Any, dates: Any = None, **options: Unpack[ChartOptions]) -> ControlChart:
    """The moving-range chart that goes with an I chart (``qic.mr``): |yᵢ − yᵢ₋₁| with the
    mean moving range as centre line and 3.267 × it as the upper limit. The first point of each
    period has no moving range. There is no runs signal."""
    return _control_chart("mr", _moving_ranges, values, None, dates, **options)


def c_chart(counts: Any, dates: Any = None, **options: Unpack[ChartOptions]) -> ControlChart:
    """A C chart for counts of events in equal opportunities (``qic.c``): c̄ ± 3√c̄."""
    return _control_chart("c", _counts, counts, None, dates, check=_not_negative("Counts"), **options)


def u_chart(counts: Any, exposures: Any, dates: Any = None, **options: Unpack[ChartOptions]) -> ControlChart:
    """A U chart for events per unit of exposure (``qic.u``): ū ± 3√(ū/nᵢ), ū = Σc/Σn."""
    return _control_chart("u", _rates(laney=False, screen=True), counts, exposures, dates, **options)


def up_chart(
    counts: Any, exposures: Any, dates: Any = None, *, screen_outliers: bool = True, **options: Unpack[ChartOptions]
) -> ControlChart:
    """Laney's U′ chart (``qic.up``): U chart limits widened by σ_z, the moving-range spread
    of the points' z-scores, for large exposures where plain U limits are too narrow."""
    limits = _rates(laney=True, screen=screen_outliers)
    return _control_chart("up", limits, counts, exposures, dates, **options)


def p_chart(numerators: Any, denominators: Any, dates: Any = None, **options: Unpack[ChartOptions]) -> ControlChart:
    """A P chart for proportions (``qic.p``): p̄ ± 3√(p̄(1 − p̄)/nᵢ) in [0, 1], p̄ = Σk/Σn."""
    limits = _proportions(laney=False, screen=True)
    return _control_chart("p", limits, numerators, denominators, dates, check=_check_proportions, **options)


def pp_chart(
    numerators: Any, denominators: Any, dates: Any = None, *, screen_outliers: bool = True,
    **options: Unpack[ChartOptions],
) -> ControlChart:
    """Laney's P′ chart (``qic.pp``): P chart limits widened by σ_z, for large denominators."""
    limits = _proportions(laney=True, screen=screen_outliers)
    return _control_chart("pp", limits, numerators, denominators, dates, check=_check_proportions, **options)


def g_chart(opportunities: Any, dates: Any = None, **options: Unpack[ChartOptions]) -> ControlChart:
    """A G chart of opportunities (e.g. episodes) between rare events (``qic.g``).

    Limits mean ± 3√(mean(mean + 1)) (geometric distribution), the lower clipped at 0; the
    centre line drawn is the median, as qicharts2 draws it (a given ``centre`` is read as a
    mean and drawn at 0.693 × it, the geometric median).
    """
    return _control_chart("g", _geometric, opportunities, None, dates, check=_not_negative("Opportunities"), **options)


def t_chart(
    times: Any, dates: Any = None, *, screen_outliers: bool = True, **options: Unpack[ChartOptions]
) -> ControlChart:
    """A T chart of the time between rare events, e.g. days between two episodes not escalated
    (``qic.t``): an I chart of t^(1/3.6), its lines transformed back; the lower limit is
    clipped at 0. Times must be positive."""
    return _control_chart("t", _times(screen_outliers), times, None, dates, check=_check_times, **options)


# --------------------------------------------------------------------------------------------
# limits of one period: y, n and the baseline mask in, the charted y and lines out

Lines = dict[str, np.ndarray]
LimitsFunction = Callable[[np.ndarray, np.ndarray, np.ndarray, float | None], Lines]


def _sigma_lines(y: np.ndarray, cl: np.ndarray | float, sigma: np.ndarray | float) -> Lines:
    cl = np.broadcast_to(np.asarray(cl, dtype=float), y.shape)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), y.shape)
    return {
        "y": y,
        "cl": cl,
        "lcl": cl - 3 * sigma,
        "ucl": cl + 3 * sigma,
        "lcl_95": cl - 2 * sigma,
        "ucl_95": cl + 2 * sigma,
    }


def _mean_moving_range(values: np.ndarray, screen: bool) -> float:
    """Mean of |Δvalues|, less those at or above 3.267 × it when screening (Nelson 1982)."""
    mr = np.abs(np.diff(values))
    mr = mr[np.isfinite(mr)]
    if mr.size == 0:
        return np.nan
    amr = mr.mean()
    if screen:
        kept = mr[mr < SCREENING_MULTIPLIER * amr]
        amr = kept.mean() if kept.size else np.nan
    return float(amr)


def _run_limits(y: np.ndarray, n: np.ndarray, base: np.ndarray, centre: float | None) -> Lines:
    cl = np.nanmedian(y[base]) if centre is None else centre
    nan = np.full(y.shape, np.nan)
    return {"y": y, "cl": np.full(y.shape, cl), "lcl": nan, "ucl": nan, "lcl_95": nan, "ucl_95": nan}


def _individuals(screen: bool) -> LimitsFunction:
    def limits(y: np.ndarray, n: np.ndarray, base: np.ndarray, centre: float | None) -> Lines:
        cl = np.nanmean(y[base]) if centre is None else centre
        return _sigma_lines(y, cl, _mean_moving_range(y[base], screen) / D2)

    return limits


def _moving_ranges(y: np.ndarray, n: np.ndarray, base: np.ndarray, centre: float | None) -> Lines:
    mr = np.r_[np.nan, np.abs(np.diff(y))]
    cl = np.nanmean(mr[base]) if centre is None else centre
    full = np.full(y.shape, cl)
    zero = np.zeros(y.shape)
    return {
        "y": mr,
        "cl": full,
        "lcl": zero,
        "ucl": SCREENING_MULTIPLIER * full,
        "lcl_95": zero,
        "ucl_95": SCREENING_MULTIPLIER / 3 * 2 * full,
    }


def _counts(y: np.ndarray, n: np.ndarray, base: np.ndarray, centre: float | None) -> Lines:
    cl = np.nanmean(y[base]) if centre is None else centre
    return _clip(_sigma_lines(y, cl, np.sqrt(cl)), lower=0)


def _laney_sigma(y: np.ndarray, cl: float, sigma: np.ndarray, base: np.ndarray, screen: bool) -> float:
    """Laney's σ_z: the spread between periods, from the moving ranges of the z-scores."""
    z = (y[base] - cl) / sigma[base]
    return _mean_moving_range(z, screen) / D2


def _rates(*, laney: bool, screen: bool) -> LimitsFunction:
    def limits(y: np.ndarray, n: np.ndarray, base: np.ndarray, centre: float | None) -> Lines:
        cl = np.nansum(y[base] * n[base]) / np.nansum(n[base]) if centre is None else centre
        sigma = np.sqrt(cl / n)
        if laney:
            sigma = sigma * _laney_sigma(y, cl, sigma, base, screen)
        return _clip(_sigma_lines(y, cl, sigma), lower=0)

    return limits


def _proportions(*, laney: bool, screen: bool) -> LimitsFunction:
    def limits(y: np.ndarray, n: np.ndarray, base: np.ndarray, centre: float | None) -> Lines:
        cl = np.nansum(y[base] * n[base]) / np.nansum(n[base]) if centre is None else centre
        sigma = np.sqrt(cl * (1 - cl) / n)
        if laney:
            sigma = sigma * _laney_sigma(y, cl, sigma, base, screen)
        return _clip(_sigma_lines(y, cl, sigma), lower=0, upper=1)

    return limits


def _geometric(y: np.ndarray, n: np.ndarray, base: np.ndarray, centre: float | None) -> Lines:
    mean = np.nanmean(y[base]) if centre is None else centre
    lines = _clip(_sigma_lines(y, mean, np.sqrt(mean * (mean + 1))), lower=0)
    drawn = np.nanmedian(y[base]) if centre is None else 0.693 * centre
    lines["cl"] = np.full(y.shape, drawn)
    return lines


def _times(screen: bool) -> LimitsFunction:
    individuals = _individuals(screen)

    def limits(y: np.ndarray, n: np.ndarray, base: np.ndarray, centre: float | None) -> Lines:
        transformed = individuals(
            y ** (1 / T_POWER), n, base, None if centre is None else centre ** (1 / T_POWER)
        )
        with np.errstate(invalid="ignore"):  # a negative lower limit has no real power
            lines = {key: value**T_POWER for key, value in transformed.items()}
        lines["lcl"] = np.where(np.isnan(lines["lcl"]) | (lines["lcl"] < 0), 0.0, lines["lcl"])
        return lines

    return limits


def _clip(lines: Lines, *, lower: float | None = None, upper: float | None = None) -> Lines:
    """Clip finite limits at a floor and ceiling, as qicharts2 does for counts and proportions."""
    for key in ("lcl", "ucl", "lcl_95", "ucl_95"):
        values = lines[key]
        finite = np.isfinite(values)
        if lower is not None:
            values = np.where(finite & (values < lower), lower, values)
        if upper is not None:
            values = np.where(finite & (values > upper), upper, values)
        lines[key] = values
    return lines


# --------------------------------------------------------------------------------------------
# assembling a chart


def _control_chart(
    chart: str,
    limits: LimitsFunction,
    values: Any,
    denominators: Any,
    dates: Any,
    *,
    check: Callable[[pd.DataFrame], None] | None = None,
    data: pd.DataFrame | None = None,
    rebase: Sequence | None = None,
    fix_after_n_points: int | None = None,
    exclude: Sequence | None = None,
    centre: float | None = None,
    multiply: float = 1,
) -> ControlChart:
    """Every chart: its points in periods, checked, then its lines, runs and signals."""
    frame = _frame(values, denominators, dates, data, fix_after_n_points)
    mark_periods(frame, rebase, exclude)
    frame["baseline"] = baseline(frame, fix_after_n_points)
    if check is not None:
        check(frame)
    return _chart(frame, chart, limits, centre, multiply)


def _frame(
    values: Any, denominators: Any, dates: Any, data: pd.DataFrame | None, fix_after_n_points: int | None
) -> pd.DataFrame:
    """One row per period in date order: x, y (a ratio when there are denominators) and n."""
    if fix_after_n_points is not None and fix_after_n_points < 1:
        raise ValueError("fix_after_n_points must be a positive number.")
    raw = column(values, data, "values")
    if dates is None:
        dates = raw.index if isinstance(raw, pd.Series) else np.arange(len(raw))
    frame = tidy_series(pd.Series(np.asarray(raw)), column(dates, data, "dates"), None)
    if denominators is None:
        frame["n"] = np.nan
    else:
        n = pd.to_numeric(pd.Series(np.asarray(column(denominators, data, "denominators"))), errors="coerce")
        if len(n) != len(frame):
            raise ValueError("There must be one denominator per value.")
        n = n.to_numpy(dtype=float)[frame["_row"].to_numpy()]
        if np.isnan(n).any() or (n < 0).any():
            raise ValueError("Denominators must be numbers, none missing or negative.")
        frame["count"] = frame["y"]
        frame["n"] = n
        with np.errstate(invalid="ignore", divide="ignore"):
            frame["y"] = np.where(n > 0, frame["y"] / np.where(n > 0, n, 1), np.nan)
    return frame


def _not_negative(what: str) -> Callable[[pd.DataFrame], None]:
    def check(frame: pd.DataFrame) -> None:
        if (frame["y"] < 0).any():
            raise ValueError(f"{what} must not be negative.")

    return check


def _check_times(frame: pd.DataFrame) -> None:
    if (frame["y"] <= 0).any():
        raise ValueError("Times between events must be greater than zero.")


def _check_proportions(frame: pd.DataFrame) -> None:
    if (frame["count"] < 0).any():
        raise ValueError("Numerators must not be negative.")
    if (frame["count"] > frame["n"]).any():
        raise ValueError("A numerator is larger than its denominator.")


def _chart(
    frame: pd.DataFrame, chart: str, limits: LimitsFunction, centre: float | None, multiply: float
) -> ControlChart:
    """Lines per period, Anhøj's runs analysis over included points, then the signals."""
    columns: dict[str, np.ndarray] = {
        key: np.full(len(frame), np.nan) for key in ("y", *_LINES)
    }
    runs = {key: np.full(len(frame), np.nan) for key in _RUNS}
    runs_signal = np.zeros(len(frame), dtype=bool)
    y_all = frame["y"].to_numpy(float)
    n_all = frame["n"].to_numpy(float)
    base_all = frame["baseline"].to_numpy(bool)
    include_all = ~frame["excluded"].to_numpy(bool)
    warnings: list[str] = []
    # one pass per rebase period (a handful), never per point
    for _, rows in frame.groupby("rebase_group", sort=True).indices.items():
        base = base_all[rows]
        if not base.any():
            warnings.append("A period has no baseline points, so it has no centre line.")
        with np.errstate(invalid="ignore", divide="ignore"):
            lines = limits(y_all[rows], n_all[rows], base, centre)
        for key, values in lines.items():
            columns[key][rows] = values
        include = include_all[rows]
        analysis = runs_analysis(lines["y"][include], lines["cl"][include])
        for key in runs:
            value = getattr(analysis, key)
            runs[key][rows] = np.nan if value is None else value
        runs_signal[rows] = analysis.signal and chart != "mr"
    for key in ("y", *_LINES):
        values = columns[key] * multiply
        columns[key] = np.where(np.isfinite(values), values, np.nan)
    with np.errstate(invalid="ignore"):
        sigma_signal = (columns["y"] > columns["ucl"]) | (columns["y"] < columns["lcl"])
    points = pd.DataFrame(
        {
            "x": frame["x"].to_numpy(),
            "y": columns["y"],
            "n": n_all,
            "rebase_group": frame["rebase_group"].to_numpy(),
            "baseline": base_all,
            "excluded": ~include_all,
            **{key: columns[key] for key in _LINES},
            "sigma_signal": sigma_signal,
            "runs_signal": runs_signal,
            **runs,
        }
    )
    return ControlChart(points=points[list(CHART_COLUMNS)], chart=chart, multiply=float(multiply),
                        warnings=warnings)
