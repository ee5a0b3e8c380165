"""Turning what a caller passes to a chart into a tidy series: one row per period, in order.

Every chart in :mod:`~escalation_analysis.measures.spc` and
:mod:`~escalation_analysis.measures.control_charts` accepts the same three shapes of input:
plain sequences (``[3, 4, 5]``), Series (their index gives the dates) or the names of columns
of a frame passed as ``data=``; and the same way of naming points (to rebase at or to
exclude): dates, or whole numbers counted from 0 in date order. They split the points into
periods the same way too (:class:`PeriodOptions`, :func:`split_periods`, :func:`baseline_points`;
:func:`mark_periods` and :func:`baseline` do the same on a frame). The SPC charts take plain
arrays (:func:`sorted_points`): a chart's few dozen points cost more in frame and groupby
overhead than in arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
import pandas as pd

__all__ = [
    "PeriodOptions",
    "baseline",
    "baseline_points",
    "column",
    "mark_periods",
    "marked_points",
    "numbers",
    "period_starts",
    "sorted_points",
    "split_periods",
    "tidy_series",
]


class PeriodOptions(TypedDict, total=False):
    """The keyword settings every chart takes for where its points come from and its periods.

    ``data``: a frame holding the columns named by the values and dates. ``rebase``: where new
    limits start, each entry a date (or ISO date string) on the chart or a whole-number
    position (0 is the first point in date order). ``fix_after_n_points``: compute each
    period's centre line and limits from its first n points only and extend them.
    ``exclude``: points (as ``rebase``) left out of the centre line and limits, still drawn.
    """

    data: pd.DataFrame | None
    rebase: Sequence | None
    fix_after_n_points: int | None
    exclude: Sequence | None


def column(values: Any, data: pd.DataFrame | None, what: str) -> Any:
    """A column of ``data`` named by ``values``, or ``values`` itself."""
    if data is None:
        if isinstance(values, str):
            raise ValueError(f"'{values}' names a column, so pass the frame as data=.")
        return values
    if not isinstance(values, str) or values not in data.columns:
        raise ValueError(f"Column '{values}' is not in the data ({what}).")
    return data[values]


def numbers(values: Any) -> np.ndarray:
    """``values`` as floats, anything not a number missing (``pd.to_numeric(errors="coerce")``);
    numeric arrays skip pandas."""
    array = np.asarray(values)
    if array.dtype.kind in "biuf":
        return array.astype(float)
    return pd.to_numeric(pd.Series(array), errors="coerce").astype(float).to_numpy()


def sorted_points(
    values: Any, dates: Any, data: pd.DataFrame | None, *, allow_missing: bool = False
) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """The periods ``x`` in order (a Series indexed 0, 1, ...), float ``y`` in that order, and
    each point's position in the input."""
    ys = column(values, data, "values")
    if dates is None:
        xs = ys.index if isinstance(ys, pd.Series) else np.arange(len(ys))
    else:
        xs = column(dates, data, "dates")
    y = numbers(ys)
    if not allow_missing and np.isnan(y).any():
        raise ValueError("Values must be numbers with none missing.")
    x = pd.Series(np.asarray(xs))
    if len(x) != len(y):
        raise ValueError("There must be one date per value.")
    if x.isna().any():
        raise ValueError("Periods (x) must not be missing.")
    if not x.is_unique:
        raise ValueError("Duplicate periods (x values) found; each period must appear once.")
    order = np.argsort(x.to_numpy(), kind="stable")
    return pd.Series(x.array.take(order)), y[order], order


def tidy_series(
    values: Any, dates: Any, data: pd.DataFrame | None, *, allow_missing: bool = False
) -> pd.DataFrame:
    """A frame with ``x`` and float ``y`` sorted by x, plus ``_row`` (the input order)."""
    x, y, rows = sorted_points(values, dates, data, allow_missing=allow_missing)
    return pd.DataFrame({"x": x, "y": y, "_row": rows})


def marked_points(x: pd.Series, points: Sequence | None, what: str) -> np.ndarray:
    """1 at the given points (dates matched to x; whole numbers are positions when x are dates)."""
    marks = np.zeros(len(x), dtype=int)
    if points is None or len(points) == 0:
        return marks
    items = list(points)
    dated = pd.api.types.is_datetime64_any_dtype(x)
    is_position = [
        dated and isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items
    ]
    positions = [int(v) for v, pos in zip(items, is_position, strict=True) if pos]
    bad = [p for p in positions if not 0 <= p < len(x)]
    if bad:
        raise ValueError(
            f"{what} position(s) {', '.join(map(str, bad))} are not on the chart, which has "
            f"{len(x)} points (positions 0 to {len(x) - 1})."
        )
    marks[positions] = 1
    values = pd.Index([v for v, pos in zip(items, is_position, strict=True) if not pos])
    if len(values):
        if dated:
            values = pd.DatetimeIndex(pd.to_datetime(values))
            if x.dt.tz is not None and values.tz is None:
                values = values.tz_localize(x.dt.tz)
        missing = values[~values.isin(x)]
        if len(missing):
            raise ValueError(
                f"{what} value(s) not found among the chart's periods: "
                + ", ".join(str(v) for v in missing)
                + "."
            )
        marks[x.isin(values).to_numpy()] = 1
    return marks


def split_periods(
    x: pd.Series, rebase: Sequence | None, exclude: Sequence | None
) -> tuple[np.ndarray, np.ndarray]:
    """Each point's ``rebase_group`` (0, 1, ... one per period between rebases) and ``excluded``."""
    return marked_points(x, rebase, "Rebase").cumsum(), marked_points(x, exclude, "Excluded").astype(bool)


def mark_periods(frame: pd.DataFrame, rebase: Sequence | None, exclude: Sequence | None) -> None:
    """Add ``rebase_group`` and ``excluded`` (see :func:`split_periods`) to ``frame``."""
    frame["rebase_group"], frame["excluded"] = split_periods(frame["x"], rebase, exclude)


def period_starts(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point's period as 0, 1, ... and the position where each period starts.

    A period is a run of equal ``group`` values, as rebase groups are: they count up along the
    chart, and leaving points out keeps them in order.
    """
    start = np.ones(len(group), dtype=bool)
    start[1:] = group[1:] != group[:-1]
    return np.cumsum(start) - 1, np.flatnonzero(start)


def baseline_points(group: np.ndarray, excluded: np.ndarray, fix_after_n_points: int | None) -> np.ndarray:
    """Points that enter the centre line and limits: the first n of each period, less excluded ones."""
    if fix_after_n_points is None:
        return ~excluded
    period, starts = period_starts(group)
    return ~excluded & (np.arange(len(group)) - starts[period] < fix_after_n_points)


def baseline(frame: pd.DataFrame, fix_after_n_points: int | None) -> np.ndarray:
    """:func:`baseline_points` of a frame with ``rebase_group`` and ``excluded``."""
    return baseline_points(frame["rebase_group"].to_numpy(), frame["excluded"].to_numpy(bool), fix_after_n_points)
