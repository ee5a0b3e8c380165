"""Turning export date and time cells into real instants on the Europe/London clock.

Exports hold local wall-clock times written many ways: ``03/04/2025`` (3 April: UK dates are
day first), ``2025-04-03 14:05:00`` (Excel date cells), ``45750`` (an Excel serial number),
``1405``, ``14.05`` or ``2:05 pm`` in a separate time column. Everything is parsed vectorised:
each candidate format is tried only on the cells still unparsed, and only *distinct* cells are
parsed at all. An export of a million rows over two years holds about 730 distinct dates and
1,440 distinct times, so parsing costs a hash of each column plus a few thousand values, and
every cell is read exactly as the same text would be on its own.

The clocks change twice a year, so a local time is not always one instant:

* **Spring forward** (last Sunday of March, 01:00 -> 02:00): a time such as 01:30 never
  happened. It is read as if written on a clock not yet put forward, i.e. one hour later
  (02:30 BST, which is 01:30 GMT), and a warning is recorded.
* **Fall back** (last Sunday of October, 02:00 -> 01:00): 01:00-01:59 happens twice. It is
  read as the first occurrence (BST) unless that would put an escalation or response before
  the moment risk was identified and the second occurrence (GMT) would not; a warning is
  recorded either way.

Delays are then real elapsed minutes, correct across the change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_DAYFIRST_DATES = ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y", "%d %b %Y", "%d-%b-%Y", "%d %B %Y", "%d-%b-%y")
_MONTHFIRST_DATES = ("%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y", "%b %d %Y", "%B %d %Y")
_TIME_SUFFIXES = ("", " %H:%M", " %H:%M:%S", " %H.%M")
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_TIME_PATTERN = (
    r"^(?:\d{4}-\d{2}-\d{2}[ T])?"  # Excel sometimes gives a time cell as 1899-12-30 14:05:00
    r"(?P<h>\d{1,2})[:.]?(?P<m>\d{2})(?:[:.](?P<s>\d{2}))?(?:\.\d+)?\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?$"
)
_ISO_OFFSET = r"[T ]\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def candidate_formats(dayfirst: bool) -> list[str]:
    """Formats tried in order; ISO dates always count as year-month-day."""
    dates = _DAYFIRST_DATES if dayfirst else _MONTHFIRST_DATES
    return [d + t for d in dates for t in _TIME_SUFFIXES]


def on_distinct(cells: pd.Series, parse) -> pd.Series:
    """Apply an element-wise ``parse`` to the distinct cells only, then spread the results.

    ``pd.factorize`` hashes the column once (in Arrow for "str" columns) and keeps the
    cells' own dtype, so ``parse`` sees exactly the values it would have seen row by row.
    Missing cells give missing results, as they do in every parser here.
    """
    codes, uniques = pd.factorize(cells, use_na_sentinel=True)
    parsed = parse(pd.Series(uniques, dtype=cells.dtype))
    return pd.Series(parsed.array.take(codes, allow_fill=True), index=cells.index, name=cells.name)


def parse_dates(
    cells: pd.Series,
    *,
    dayfirst: bool = True,
    fmt: str | None = None,
    timezone: str = "Europe/London",
) -> pd.Series:
    """Parse date or date-time text to naive local timestamps; unreadable cells become NaT.

    An ISO value with a UTC offset (``2025-04-03T09:00:00Z``) is an instant, not a wall-clock
    time: it is converted to the wall clock of ``timezone``. Precision finer than a
    microsecond is dropped.
    """
    return on_distinct(cells, lambda distinct: _parse_dates(distinct, dayfirst, fmt, timezone))


def _parse_dates(cells: pd.Series, dayfirst: bool, fmt: str | None, timezone: str) -> pd.Series:
    """:func:`parse_dates` on distinct cells: candidate formats on the ones still unparsed."""
    result = pd.Series(pd.NaT, index=cells.index, dtype="datetime64[us]")
    todo = cells.notna()
    if fmt is not None:
        zoned_format = "%z" in fmt or "%Z" in fmt
        parsed = pd.to_datetime(cells, format=fmt, errors="coerce", utc=zoned_format)
        return _wall_clock(parsed, timezone)
    iso = cells.str.match(r"^\d{4}-\d{2}-\d{2}").fillna(False).astype(bool) & todo
    if iso.any():
        text = cells[iso].str.replace(r"(\.\d{6})\d+", r"\1", regex=True)
        zoned = text.str.contains(_ISO_OFFSET, regex=True).fillna(False).astype(bool)
        result[text.index[~zoned]] = _wall_clock(
            pd.to_datetime(text[~zoned], format="ISO8601", errors="coerce"), timezone
        )
        if zoned.any():
            result[text.index[zoned]] = _wall_clock(
                pd.to_datetime(text[zoned], format="ISO8601", errors="coerce", utc=True), timezone
            )
        todo &= result.isna()
    for candidate in candidate_formats(dayfirst):
        if not todo.any():
            break
        parsed = pd.to_datetime(cells[todo], format=candidate, errors="coerce")
        hit = parsed.notna()
        if hit.any():
            result[parsed.index[hit]] = parsed[hit]
            todo[parsed.index[hit]] = False
    serial = todo & cells.str.fullmatch(r"\d{5}(\.\d+)?").fillna(False).astype(bool)
    if serial.any():
        days = pd.to_numeric(cells[serial], errors="coerce")
        result[serial] = _EXCEL_EPOCH + pd.to_timedelta(days, unit="D").dt.round("s")
    return result


def _wall_clock(parsed: pd.Series, timezone: str) -> pd.Series:
    """Naive microsecond timestamps; zone-aware ones are first put on ``timezone``'s clock."""
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert(timezone).dt.tz_localize(None)
    return parsed.dt.floor("us").astype("datetime64[us]")


def parse_times(cells: pd.Series) -> pd.Series:
    """Parse time-of-day text (``14:05``, ``1405``, ``14.05``, ``2:05 pm``) to timedeltas."""
    return on_distinct(cells, _parse_times)


def _parse_times(cells: pd.Series) -> pd.Series:
    """:func:`parse_times` on distinct cells (the regular expression runs in Python's ``re``)."""
    parts = cells.str.extract(_TIME_PATTERN)
    hours = pd.to_numeric(parts["h"], errors="coerce")
    minutes = pd.to_numeric(parts["m"], errors="coerce")
    seconds = pd.to_numeric(parts["s"], errors="coerce").fillna(0)
    ampm = parts["ampm"].str.lower().str[0]
    hours = hours.where(~((ampm == "p") & (hours < 12)), hours + 12)
    hours = hours.where(~((ampm == "a") & (hours == 12)), 0)
    valid = (hours < 24) & (minutes < 60) & (seconds < 60)
    total = (hours * 3600 + minutes * 60 + seconds).where(valid)
    return pd.to_timedelta(total, unit="s")


@dataclass
class LocalTimes:
    """Naive local timestamps plus why each one is missing, before localisation."""

    naive: pd.Series
    blank: pd.Series
    unreadable: pd.Series


def combine_date_time(
    date_cells: pd.Series,
    time_cells: pd.Series | None,
    *,
    dayfirst: bool = True,
    fmt: str | None = None,
    timezone: str = "Europe/London",
) -> LocalTimes:
    """Join a date column and an optional time column into naive local timestamps.

    A value counts as *blank* when every part is blank, and as *unreadable* when something
    was written but a date (or, with a time column, the time) cannot be read.
    """
    dates = parse_dates(date_cells, dayfirst=dayfirst, fmt=fmt, timezone=timezone)
    if time_cells is None:
        blank = date_cells.isna()
        unreadable = ~blank & dates.isna()
        return LocalTimes(dates, blank, unreadable)
    times = parse_times(time_cells)
    # A date cell that carries its own non-midnight time (and a blank time cell) keeps it.
    own_time = dates - dates.dt.normalize()
    times = times.fillna(own_time.where(own_time > pd.Timedelta(0)))
    blank = date_cells.isna() & time_cells.isna()
    naive = dates.dt.normalize() + times
    unreadable = ~blank & naive.isna()
    return LocalTimes(naive, blank, unreadable)


@dataclass
class Localised:
    """Timezone-aware instants with flags for times the clocks made odd."""

    instants: pd.Series
    nonexistent: pd.Series
    ambiguous: pd.Series


def localise(naive: pd.Series, timezone: str, *, not_before: pd.Series | None = None) -> Localised:
    """Attach the time zone to wall-clock times, resolving the clock-change hours.

    Parameters
    ----------
    naive
        Local wall-clock timestamps without a zone.
    timezone
        IANA zone name, normally ``Europe/London``.
    not_before
        For escalation and response times: the instant risk was identified. A repeated
        (fall-back) hour is then read as its second occurrence when only that keeps the
        time from falling before ``not_before``.
    """
    naive = naive.astype("datetime64[us]")
    dtype = pd.DatetimeTZDtype("us", timezone)
    # One pass marks both odd kinds as NaT; only those few times are then resolved.
    plain = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").astype(dtype)
    odd = (naive.notna() & plain.isna()).to_numpy()
    nonexistent = np.zeros(len(naive), dtype=bool)
    ambiguous = np.zeros(len(naive), dtype=bool)
    instants = plain.array.copy()
    if odd.any():
        where = np.flatnonzero(odd)
        local = naive.iloc[where]
        first = local.dt.tz_localize(timezone, ambiguous=np.ones(len(local), dtype=bool), nonexistent="NaT")
        second = local.dt.tz_localize(timezone, ambiguous=np.zeros(len(local), dtype=bool), nonexistent="NaT")
        gap = first.isna().to_numpy()
        repeated = first.notna().to_numpy() & ~gap & (first != second).to_numpy()
        chosen = first.astype(dtype).array.copy()
        if gap.any():
            shifted = local[gap].dt.tz_localize(timezone, ambiguous="NaT", nonexistent=pd.Timedelta(hours=1))
            chosen[gap] = shifted.astype(dtype).array
        if not_before is not None and repeated.any():
            bound = pd.Series(not_before).iloc[where].array
            use_second = repeated & np.asarray(first.array < bound) & np.asarray(second.array >= bound)
            chosen[use_second] = second.astype(dtype).array[use_second]
        instants[where] = chosen
        nonexistent[where] = gap
        ambiguous[where] = repeated
    return Localised(
        pd.Series(instants, index=naive.index, name=naive.name),
        pd.Series(nonexistent, index=naive.index, name=naive.name),
        pd.Series(ambiguous, index=naive.index, name=naive.name),
    )
