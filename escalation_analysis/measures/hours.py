"""In hours or out of hours: the pathway's calendar, with the nation's bank holidays.

An episode is *in hours* when its risk was identified inside the pathway's in-hours window on
a day that is neither a weekend day (outside the window's days) nor a bank holiday of the
pathway's nation; otherwise it is *out of hours*. For the out-of-hours audit, out of hours is
split into ``bank_holiday`` (takes precedence), ``weekend`` and ``weekday_evening_night``.

Bank holidays come from the ``holidays`` package (vacanza/python-holidays), which knows the
three UK divisions, substitute days (Boxing Day on a Saturday moves to Monday) and one-off
holidays such as the 2022 State Funeral. It works offline, unlike the GOV.UK JSON feed.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays
import numpy as np
import pandas as pd
import pyarrow as pa

from ..ingest.files import text_series
from ..ingest.pathway import WEEKDAYS, Pathway

SUBDIVISIONS = {"england-and-wales": "ENG", "scotland": "SCT", "northern-ireland": "NIR"}


@lru_cache(maxsize=32)
def bank_holidays(nation: str, first_year: int, last_year: int) -> dict[dt.date, str]:
    """Bank holidays (substitute days included) of a UK nation between two years inclusive."""
    calendar = holidays.country_holidays(
        "GB", subdiv=SUBDIVISIONS[nation], years=range(first_year, last_year + 1)
    )
    return dict(sorted(calendar.items()))


def classify_hours(timestamps: pd.Series, pathway: Pathway) -> pd.DataFrame:
    """Band and out-of-hours sub-band for each timestamp, read on the local wall clock.

    Parameters
    ----------
    timestamps
        Timezone-aware timestamps (NaT allowed: the result is missing there too).
    pathway
        Supplies the in-hours window, the time zone and the bank-holiday nation.

    Returns
    -------
    DataFrame
        ``band`` (in_hours / out_of_hours), ``ooh_sub_band`` (in_hours,
        weekday_evening_night, weekend, bank_holiday) and ``bank_holiday`` (the holiday's
        name or missing), indexed like ``timestamps``.

    Notes
    -----
    Works on the wall clock as whole numbers (day number, seconds into the day) with numpy,
    instead of one pandas date-time accessor per part: a million episodes take milliseconds.
    """
    wall = timestamps.dt.tz_convert(pathway.timezone).dt.tz_localize(None).astype("datetime64[us]")
    present = wall.notna().to_numpy()
    micros = wall.to_numpy().view(np.int64)
    day = np.floor_divide(micros, _MICROS_PER_DAY)
    seconds = np.floor_divide(micros - day * _MICROS_PER_DAY, 1_000_000)
    weekday = (day + 3) % 7  # 1 January 1970 was a Thursday; Monday is 0, as in pandas
    is_holiday = np.zeros(len(wall), dtype=bool)
    names = pd.Series(pd.NA, index=timestamps.index, dtype="str")
    if present.any():
        seen = day[present]  # the first and last years are those of the first and last days
        first, last = np.array([seen.min(), seen.max()]).astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
        calendar = bank_holidays(pathway.bank_holidays, int(first), int(last))
        holiday_days = np.array(list(calendar), dtype="datetime64[D]").astype(np.int64)
        at = np.clip(np.searchsorted(holiday_days, day), 0, max(len(holiday_days) - 1, 0))
        is_holiday = present & (holiday_days[at] == day) if len(holiday_days) else is_holiday
        holiday_names = pa.array(list(calendar.values()), type=pa.large_string())
        names = text_series(holiday_names.take(pa.array(at, mask=~is_holiday)), timestamps.index)

    window = pathway.in_hours
    working_days = np.array([WEEKDAYS.index(d) for d in window.days])
    working_day = present & np.isin(weekday, working_days)
    hour, minute, second = seconds // 3600, seconds // 60 % 60, seconds % 60
    minutes = (hour * 60 + minute).astype(np.float64) + second / 60  # as pandas: hour*60 + minute + second/60
    start = window.start.hour * 60 + window.start.minute
    end = window.end.hour * 60 + window.end.minute
    in_window = present & (minutes >= start) & (minutes < end)

    in_hours = working_day & in_window & ~is_holiday
    sub_band = np.select([in_hours, is_holiday, ~working_day], [0, 3, 2], default=1).astype(np.int8)
    return pd.DataFrame(
        {
            "band": pd.Categorical.from_codes(np.where(present, np.where(in_hours, 0, 1), -1), dtype=BAND_DTYPE),
            "ooh_sub_band": pd.Categorical.from_codes(np.where(present, sub_band, -1), dtype=SUB_BAND_DTYPE),
            "bank_holiday": names,
        },
        index=timestamps.index,
    )


_MICROS_PER_DAY = 86_400_000_000
BAND_DTYPE = pd.CategoricalDtype(["in_hours", "out_of_hours"])
SUB_BAND_DTYPE = pd.CategoricalDtype(["in_hours", "weekday_evening_night", "weekend", "bank_holiday"])
