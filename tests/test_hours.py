"""In hours or out of hours, with each UK nation's bank holidays."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalation_analysis.ingest.pathway import Pathway
from escalation_analysis.measures.hours import bank_holidays, classify_hours

LONDON = "Europe/London"


def pathway(nation: str = "england-and-wales", **in_hours) -> Pathway:
    return Pathway.model_validate(
        {
            "name": "Test pathway",
            "bank_holidays": nation,
            "in_hours": {"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "start": "09:00",
                         "end": "17:00", **in_hours},
            "triggers": {"imminent_risk": {"label": "Imminent risk", "target_minutes": 60}},
        }
    )


def classify(when: str, nation: str = "england-and-wales", **in_hours) -> pd.Series:
    """Band, sub-band and holiday name of one local wall-clock time."""
    stamps = pd.Series([pd.Timestamp(when, tz=LONDON)])
    return classify_hours(stamps, pathway(nation, **in_hours)).iloc[0]


class TestWindow:
    @pytest.mark.parametrize(
        ("when", "band", "sub_band"),
        [
            ("2025-04-01 10:00", "in_hours", "in_hours"),  # Tuesday daytime
            ("2025-04-01 09:00", "in_hours", "in_hours"),  # the window's start is in
            ("2025-04-01 16:59", "in_hours", "in_hours"),
            ("2025-04-01 17:00", "out_of_hours", "weekday_evening_night"),  # its end is out
            ("2025-04-01 08:59", "out_of_hours", "weekday_evening_night"),
            ("2025-04-01 23:30", "out_of_hours", "weekday_evening_night"),
            ("2025-04-05 10:00", "out_of_hours", "weekend"),  # Saturday
            ("2025-04-06 03:00", "out_of_hours", "weekend"),  # Sunday night
        ],
    )
    def test_bands(self, when, band, sub_band):
        result = classify(when)

        assert (result["band"], result["ooh_sub_band"]) == (band, sub_band)
        assert pd.isna(result["bank_holiday"])

    def test_local_wall_clock_is_used_not_utc(self):
        # 08:30 UTC on 2 June 2025 is 09:30 BST: in hours; 16:30 UTC is 17:30 BST: out
        stamps = pd.Series(pd.to_datetime(["2025-06-02 08:30", "2025-06-02 16:30"]).tz_localize("UTC"))

        result = classify_hours(stamps, pathway())

        assert result["band"].tolist() == ["in_hours", "out_of_hours"]

    def test_the_pathway_defines_the_window(self):
        result = classify("2025-04-05 19:00", days=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat"],
                          start="08:00", end="20:00")

        assert result["band"] == "in_hours"

    def test_missing_times_have_no_band(self):
        stamps = pd.Series([pd.NaT, pd.Timestamp("2025-04-01 10:00", tz=LONDON)],
                           dtype=pd.DatetimeTZDtype("us", LONDON))

        result = classify_hours(stamps, pathway())

        assert pd.isna(result["band"].iloc[0]) and pd.isna(result["ooh_sub_band"].iloc[0])
        assert result["band"].iloc[1] == "in_hours"


class TestBankHolidays:
    def test_weekday_bank_holiday_daytime_is_out_of_hours(self):
        result = classify("2025-05-05 11:00")  # early May bank holiday, a Monday

        assert result["band"] == "out_of_hours"
        assert result["ooh_sub_band"] == "bank_holiday"
        assert result["bank_holiday"] == "May Day"

    def test_boxing_day_substitute_monday_is_out_of_hours(self):
        result = classify("2026-12-28 10:00")  # Boxing Day 2026 is a Saturday

        assert result["band"] == "out_of_hours"
        assert result["ooh_sub_band"] == "bank_holiday"
        assert "Boxing Day" in result["bank_holiday"]

    @pytest.mark.parametrize(
        ("when", "scotland", "england"),
        [
            ("2025-01-02 10:00", "out_of_hours", "in_hours"),  # 2 January
            ("2025-12-01 10:00", "out_of_hours", "in_hours"),  # St Andrew's Day substitute
            ("2025-04-21 10:00", "in_hours", "out_of_hours"),  # Easter Monday
            ("2025-08-04 10:00", "out_of_hours", "in_hours"),  # first Monday of August
            ("2025-08-25 10:00", "in_hours", "out_of_hours"),  # last Monday of August
        ],
    )
    def test_scotland_and_england_differ(self, when, scotland, england):
        assert classify(when, "scotland")["band"] == scotland
        assert classify(when, "england-and-wales")["band"] == england

    def test_northern_ireland_has_st_patricks_day(self):
        assert classify("2025-03-17 10:00", "northern-ireland")["ooh_sub_band"] == "bank_holiday"
        assert classify("2025-03-17 10:00", "england-and-wales")["band"] == "in_hours"

    def test_calendar_lists_substitute_days(self):
        calendar = bank_holidays("england-and-wales", 2026, 2026)

        assert dt.date(2026, 12, 28) in calendar
        assert dt.date(2026, 12, 26) in calendar
        assert dt.date(2026, 1, 1) in calendar


@given(
    st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 12, 31)),
    st.sampled_from(["england-and-wales", "scotland", "northern-ireland"]),
)
def test_band_and_sub_band_agree(moment, nation):
    stamp = pd.Timestamp(moment).tz_localize(LONDON, ambiguous=True, nonexistent="shift_forward")
    result = classify_hours(pd.Series([stamp]), pathway(nation)).iloc[0]
    local = stamp.tz_convert(LONDON)
    holiday = local.date() in bank_holidays(nation, local.year, local.year)
    weekday_daytime = local.weekday() < 5 and dt.time(9) <= local.time() < dt.time(17)

    assert (result["band"] == "in_hours") == (weekday_daytime and not holiday)
    assert (result["ooh_sub_band"] == "in_hours") == (result["band"] == "in_hours")
    assert (result["ooh_sub_band"] == "bank_holiday") == holiday
    assert pd.notna(result["bank_holiday"]) == holiday
