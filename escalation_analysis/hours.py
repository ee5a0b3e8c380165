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

from .pathway import WEEKDAYS, Pathway

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
    """
    local = timestamps.dt.tz_convert(pathway.timezone)
    present = local.notna()
    dates = local.dt.normalize().dt.tz_localize(None)
    years = local.dt.year.dropna()
    names = pd.Series(pd.NA, index=timestamps.index, dtype="str")
    is_holiday = pd.Series(False, index=timestamps.index)
    if len(years):
        calendar = bank_holidays(pathway.bank_holidays, int(years.min()), int(years.max()))
        holiday_index = pd.DatetimeIndex(list(calendar)).as_unit("us")
        is_holiday = dates.isin(holiday_index)
        names = dates.map(pd.Series(list(calendar.values()), index=holiday_index)).astype("str")
        names = names.where(is_holiday)

    window = pathway.in_hours
    working_days = np.array([WEEKDAYS.index(d) for d in window.days])
    working_day = local.dt.day_of_week.isin(working_days)
    minutes = local.dt.hour * 60 + local.dt.minute + local.dt.second / 60
    start = window.start.hour * 60 + window.start.minute
    end = window.end.hour * 60 + window.end.minute
    in_window = (minutes >= start) & (minutes < end)

    in_hours = working_day & in_window & ~is_holiday
    sub_band = np.select(
        [in_hours, is_holiday, ~working_day],
        ["in_hours", "bank_holiday", "weekend"],
        default="weekday_evening_night",
    )
    result = pd.DataFrame(
        {
            "band": np.where(in_hours, "in_hours", "out_of_hours"),
            "ooh_sub_band": sub_band,
            "bank_holiday": names,
        },
        index=timestamps.index,
    )
    result.loc[~present, ["band", "ooh_sub_band"]] = None
    result["band"] = result["band"].astype(pd.CategoricalDtype(["in_hours", "out_of_hours"]))
    result["ooh_sub_band"] = result["ooh_sub_band"].astype(
        pd.CategoricalDtype(["in_hours", "weekday_evening_night", "weekend", "bank_holiday"])
    )
    return result
