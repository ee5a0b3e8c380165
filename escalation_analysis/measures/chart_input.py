"""Turning what a caller passes to a chart into a tidy series: one row per period, in order.

Every chart in :mod:`~escalation_analysis.measures.spc` and
:mod:`~escalation_analysis.measures.control_charts` accepts the same three shapes of input:
plain sequences (``[3, 4, 5]``), Series (their index gives the dates) or the names of columns
of a frame passed as ``data=``; and the same way of naming points (to rebase at or to
exclude): dates, or whole numbers counted from 0 in date order. They split the points into
periods the same way too (:class:`PeriodOptions`, :func:`mark_periods`, :func:`baseline`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
import pandas as pd

__all__ = ["PeriodOptions", "baseline", "column", "mark_periods", "marked_points", "tidy_series"]


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


def tidy_series(
    values: Any, dates: Any, data: pd.DataFrame | None, *, allow_missing: bool = False
) -> pd.DataFrame:
    """A frame with ``x`` and float ``y`` sorted by x, plus ``_row`` (the input order)."""
    ys = column(values, data, "values")
    if dates is None:
        xs = ys.index if isinstance(ys, pd.Series) else np.arange(len(ys))
    else:
        xs = column(dates, data, "dates")
    y = pd.to_numeric(pd.Series(np.asarray(ys)), errors="coerce").astype(float)
    if not allow_missing and y.isna().any():
        raise ValueError("Values must be numbers with none missing.")
    xv = pd.Series(np.asarray(xs))
    if len(xv) != len(y):
        raise ValueError("There must be one date per value.")
    if xv.isna().any():
        raise ValueError("Periods (x) must not be missing.")
    if xv.duplicated().any():
        raise ValueError("Duplicate periods (x values) found; each period must appear once.")
    frame = pd.DataFrame({"x": xv, "y": y, "_row": np.arange(len(y))})
    return frame.sort_values("x", kind="stable").reset_index(drop=True)


def marked_points(x: pd.Series, points: Sequence | None, what: str) -> pd.Series:
    """1 at the given points (dates matched to x; whole numbers are positions when x are dates)."""
    marks = np.zeros(len(x), dtype=int)
    if points is None or len(points) == 0:
        return pd.Series(marks, index=x.index)
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
    return pd.Series(marks, index=x.index)


def mark_periods(frame: pd.DataFrame, rebase: Sequence | None, exclude: Sequence | None) -> None:
    """Add ``rebase_group`` (0, 1, ... one per period between rebases) and ``excluded`` to ``frame``."""
    frame["rebase_group"] = marked_points(frame["x"], rebase, "Rebase").cumsum()
    frame["excluded"] = marked_points(frame["x"], exclude, "Excluded").astype(bool)


def baseline(frame: pd.DataFrame, fix_after_n_points: int | None) -> pd.Series:
    """Points that enter the centre line and limits: the first n of each period, less excluded ones."""
    position = frame.groupby("rebase_group").cumcount()
    fixed = position < fix_after_n_points if fix_after_n_points is not None else True
    return ~frame["excluded"] & fixed
