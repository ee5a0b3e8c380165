"""UK dates, time cells and the Europe/London clock changes."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from conftest import balanced, row
from hypothesis import given
from hypothesis import strategies as st

from escalation_analysis.ingest.datetimes import combine_date_time, localise, parse_dates, parse_times

LONDON = "Europe/London"


def texts(*values) -> pd.Series:
    return pd.Series(list(values), dtype="str")


def minutes(loaded, index: int = 0) -> float:
    episode = loaded.episodes.iloc[index]
    return (episode["escalated_at"] - episode["risk_identified_at"]).total_seconds() / 60


class TestParseDates:
    def test_uk_dates_are_day_first(self):
        parsed = parse_dates(texts("03/04/2025", "3/4/25", "03-04-2025", "03.04.2025"))

        assert parsed.tolist() == [pd.Timestamp("2025-04-03")] * 4

    def test_month_first_when_the_profile_says_so(self):
        assert parse_dates(texts("03/04/2025"), dayfirst=False).tolist() == [pd.Timestamp("2025-03-04")]

    def test_iso_dates_are_year_month_day_whatever_dayfirst_says(self):
        for dayfirst in (True, False):
            parsed = parse_dates(texts("2025-04-03", "2025-04-03 14:05:00"), dayfirst=dayfirst)
            assert parsed.tolist() == [pd.Timestamp("2025-04-03"), pd.Timestamp("2025-04-03 14:05")]

    def test_month_names_and_excel_serial_numbers(self):
        parsed = parse_dates(texts("3 Apr 2025", "03-Apr-2025", "3 April 2025 14:05", "45750", "45750.5"))

        assert parsed.tolist() == [
            pd.Timestamp("2025-04-03"),
            pd.Timestamp("2025-04-03"),
            pd.Timestamp("2025-04-03 14:05"),
            pd.Timestamp("2025-04-03"),
            pd.Timestamp("2025-04-03 12:00"),
        ]

    def test_impossible_dates_are_unreadable_not_guessed(self):
        parsed = parse_dates(texts("31/02/2025", "32/01/2025", "2025-13-45", "TBC", None))

        assert parsed.isna().all()

    def test_iso_instants_with_an_offset_are_put_on_the_local_clock(self):
        parsed = parse_dates(texts("2025-04-03T09:00:00Z", "2025-07-03T10:00:00+01:00",
                                   "2025-01-03 10:00:00 +0000", "2025-04-03"))

        assert parsed.tolist() == [
            pd.Timestamp("2025-04-03 10:00"),  # 09:00 UTC is 10:00 BST
            pd.Timestamp("2025-07-03 10:00"),
            pd.Timestamp("2025-01-03 10:00"),
            pd.Timestamp("2025-04-03"),
        ]

    def test_precision_finer_than_a_microsecond_is_dropped(self):
        parsed = parse_dates(texts("2025-04-03 10:00:00.123456789", "9999-12-31"))

        assert parsed.tolist() == [pd.Timestamp("2025-04-03 10:00:00.123456"), pd.Timestamp("9999-12-31")]

    def test_explicit_format(self):
        parsed = parse_dates(texts("20250403 1405", "03/04/2025"), fmt="%Y%m%d %H%M")

        assert parsed.iloc[0] == pd.Timestamp("2025-04-03 14:05")
        assert pd.isna(parsed.iloc[1])


class TestParseTimes:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("14:05", "14:05:00"),
            ("1405", "14:05:00"),
            ("14.05", "14:05:00"),
            ("9:05", "09:05:00"),
            ("14:05:30", "14:05:30"),
            ("2:05 pm", "14:05:00"),
            ("2:05PM", "14:05:00"),
            ("12:30 am", "00:30:00"),
            ("12:30 pm", "12:30:00"),
            ("1899-12-30 14:05:00", "14:05:00"),  # an Excel time cell read as a date-time
        ],
    )
    def test_time_formats(self, text, expected):
        assert parse_times(texts(text)).iloc[0] == pd.Timedelta(expected)

    @pytest.mark.parametrize("text", ["25:99", "24:00", "99:00", "late pm", "see notes", "12:60"])
    def test_impossible_times_are_unreadable(self, text):
        assert pd.isna(parse_times(texts(text)).iloc[0])


class TestCombine:
    def test_blank_and_unreadable_are_told_apart(self):
        local = combine_date_time(
            texts("03/04/2025", None, "TBC", "03/04/2025", None),
            texts("14:05", None, "10:00", "25:99", "10:00"),
        )

        assert local.naive.iloc[0] == pd.Timestamp("2025-04-03 14:05")
        assert local.blank.tolist() == [False, True, False, False, False]
        assert local.unreadable.tolist() == [False, False, True, True, True]

    def test_a_date_cell_with_its_own_time_keeps_it_when_the_time_cell_is_blank(self):
        local = combine_date_time(texts("03/04/2025 14:05"), texts(None))

        assert local.naive.iloc[0] == pd.Timestamp("2025-04-03 14:05")


class TestClockChanges:
    def test_spring_forward_time_is_read_one_hour_later_and_flagged(self):
        result = localise(pd.Series([pd.Timestamp("2025-03-30 01:30")]), LONDON)

        assert result.instants.iloc[0] == pd.Timestamp("2025-03-30 02:30", tz=LONDON)
        assert result.instants.iloc[0].tz_convert("UTC") == pd.Timestamp("2025-03-30 01:30", tz="UTC")
        assert result.nonexistent.tolist() == [True]
        assert result.ambiguous.tolist() == [False]

    def test_fall_back_hour_is_first_occurrence_unless_that_puts_it_before_identification(self):
        naive = pd.Series([pd.Timestamp("2025-10-26 01:10")] * 2)
        not_before = pd.Series([pd.Timestamp("2025-10-25 23:50", tz="UTC"),  # 00:50 BST
                                pd.Timestamp("2025-10-26 00:50", tz="UTC")])  # 01:50 BST

        result = localise(naive, LONDON, not_before=not_before)

        assert result.ambiguous.tolist() == [True, True]
        assert result.instants.iloc[0].utcoffset() == dt.timedelta(hours=1)  # BST, first
        assert result.instants.iloc[1].utcoffset() == dt.timedelta(0)  # GMT, second

    def test_march_night_delay_is_real_minutes(self, export):
        loaded = export([row(date="30/03/2025", time="01:30", escalated="30/03/2025 03:00")])

        assert loaded.accounting.rows_excluded == 0
        episode = loaded.episodes.iloc[0]
        assert episode["risk_identified_at"] == pd.Timestamp("2025-03-30 02:30", tz=LONDON)
        assert minutes(loaded) == 30
        warnings = loaded.accounting.warnings
        assert warnings[["row", "reason", "field"]].values.tolist() == [
            [2, "nonexistent_local_time", "risk_identified_at"]
        ]

    def test_october_night_escalation_in_the_repeated_hour_is_real_minutes(self, export):
        loaded = export([row(date="26/10/2025", time="01:50", escalated="26/10/2025 01:10")])

        assert loaded.accounting.rows_excluded == 0
        assert minutes(loaded) == 20
        episode = loaded.episodes.iloc[0]
        assert episode["risk_identified_at"].utcoffset() == dt.timedelta(hours=1)  # 01:50 BST
        assert episode["escalated_at"].utcoffset() == dt.timedelta(0)  # 01:10 GMT
        assert loaded.accounting.warnings_by_reason() == {"ambiguous_local_time": 2}

    def test_delays_across_the_change_are_real_elapsed_minutes(self, export):
        loaded = export([
            row(ref="A", date="29/03/2025", time="23:30", escalated="30/03/2025 03:30"),  # 3 h
            row(ref="B", date="25/10/2025", time="23:30", escalated="26/10/2025 03:30"),  # 5 h
        ])

        assert [minutes(loaded, 0), minutes(loaded, 1)] == [180, 300]


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2040, 12, 31)))
def test_uk_text_round_trips(moment):
    moment = moment.replace(second=0, microsecond=0)
    local = combine_date_time(texts(moment.strftime("%d/%m/%Y")), texts(moment.strftime("%H:%M")))

    assert local.naive.iloc[0] == pd.Timestamp(moment)


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2040, 12, 31)))
def test_every_wall_clock_time_becomes_one_instant(moment):
    naive = pd.Series([pd.Timestamp(moment)])
    result = localise(naive, LONDON)
    instant = result.instants.iloc[0]

    assert pd.notna(instant)
    wall = instant.tz_localize(None)
    if result.nonexistent.iloc[0]:
        assert wall - naive.iloc[0] == pd.Timedelta(hours=1)
    else:
        assert wall == naive.iloc[0]


@given(st.lists(st.text(max_size=30), max_size=20))
def test_any_text_parses_or_is_unreadable_never_raises(cells):
    values = texts(*cells) if cells else pd.Series([], dtype="str")
    local = combine_date_time(values, values)

    assert len(local.naive) == len(cells)
    assert (local.blank & local.unreadable).sum() == 0
    assert (local.naive.isna() == (local.blank | local.unreadable)).all()


def test_export_with_clock_change_rows_stays_balanced(export):
    loaded = export([row(ref=str(i), date="30/03/2025", time=f"01:{i:02d}") for i in range(0, 60, 7)])

    assert balanced(loaded)
    assert loaded.accounting.warnings_by_reason()["nonexistent_local_time"] == 9
