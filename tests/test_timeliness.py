"""Timeliness definitions (product.md section 3) checked by hand, and planted effects recovered.

Part one reads a tiny export in a layout the package has never seen
(``tests/fixtures/analytics/tiny_*``: Windows-1252 text, ';' between cells, ISO date-times in
one column, its own pathway targets). Its three episodes in the period 1 March to 30 April 2025
are worked out by hand:

========  =====================  ============  ==============================  ======  =======
episode   risk identified        escalated     band / sub-band                 target  delay
========  =====================  ============  ==============================  ======  =======
T-001     Sun 30/03/2025 00:50   02:10 BST     out_of_hours / weekend          45      20 (clocks went forward at 01:00)
T-002     Tue 01/04/2025 10:15   12:05         in_hours / in_hours             30      110 (late)
T-003     Fri 18/04/2025 11:00   (none)        out_of_hours / bank_holiday     120     not escalated (Good Friday)
========  =====================  ============  ==============================  ======  =======

so compliance is 1/3, median delay (20, 110) = 65 and the 90th centile 20 + 0.9 * 90 = 101.
Rows T-004 (28/02/2025) and T-005 (01/05/2025 00:30 BST, still 30 April in UTC) fall outside
the period and T-006 is escalated before risk was identified.

Part two recovers the planted effects of the shipped sample (``data/sample/README.md``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import PROFILE, SAMPLE, TEST_KEY, csv_bytes, row
from statsmodels.stats.proportion import proportion_confint

from escalation_analysis.errors import EscalationAnalysisError, NothingUsableError
from escalation_analysis.ingest.mapping import MappingProfile
from escalation_analysis.ingest.pathway import read_pathway
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.measures.comparisons import compare_factor
from escalation_analysis.measures.hours import classify_hours
from escalation_analysis.measures.near_misses import barrier_frequency
from escalation_analysis.measures.timeliness import (
    GROUPINGS,
    TABLE_COLUMNS,
    compliance_table,
    filter_period,
    financial_quarter,
    prepare_episodes,
)

FIXTURES = Path(__file__).parent / "fixtures" / "analytics"
TINY_EXPORT = FIXTURES / "tiny_export.csv"
TINY_MAPPING = FIXTURES / "tiny_mapping.yaml"
TINY_PATHWAY = FIXTURES / "tiny_pathway.yaml"
LONDON = "Europe/London"


def local(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=LONDON)


@pytest.fixture(scope="module")
def tiny():
    """The tiny export analysed for 1 March to 30 April 2025."""
    return analyse(TINY_EXPORT, TINY_MAPPING, TINY_PATHWAY, "2025-03-01", "2025-04-30", key=TEST_KEY)


@pytest.fixture(scope="module")
def by_ref(tiny) -> pd.DataFrame:
    return tiny.episodes.set_index("incident_id")


@pytest.fixture(scope="module")
def sample_pathway():
    return read_pathway(SAMPLE / "pathway.yaml")


# ---------------------------------------------------------------------------------------------
# Part one: definitions by hand on a new layout


class TestTinyLayoutByHand:
    def test_the_new_layout_loads_through_its_own_profile(self, tiny):
        assert tiny.accounting.encoding == "cp1252"
        assert list(tiny.episodes["incident_id"]) == ["T-001", "T-002", "T-003"]
        assert set(tiny.episodes["team"]) == {"Café Outreach", "Harbour Team"}

    def test_delay_is_real_elapsed_minutes_across_the_clocks_going_forward(self, by_ref, tiny):
        t1 = by_ref.loc["T-001"]
        # 00:50 GMT is 00:50 UTC; 02:10 BST is 01:10 UTC: 20 minutes, not the 80 of the wall clock.
        assert t1["risk_identified_at"] == pd.Timestamp("2025-03-30 00:50", tz="UTC")
        assert t1["escalated_at"] == pd.Timestamp("2025-03-30 01:10", tz="UTC")
        assert t1["delay_minutes"] == 20
        assert tiny.accounting.warnings_by_reason() == {}  # neither time is in the skipped hour

    def test_delays_of_ordinary_and_unescalated_episodes(self, by_ref):
        assert by_ref.loc["T-002", "delay_minutes"] == 110
        assert pd.isna(by_ref.loc["T-003", "delay_minutes"])
        assert list(by_ref["escalated"]) == [True, True, False]

    def test_band_and_out_of_hours_sub_band(self, by_ref):
        assert list(by_ref["band"].astype(str)) == ["out_of_hours", "in_hours", "out_of_hours"]
        assert list(by_ref["ooh_sub_band"].astype(str)) == ["weekend", "in_hours", "bank_holiday"]
        # Good Friday is a weekday inside the in-hours window, yet out of hours.
        assert by_ref.loc["T-003", "bank_holiday"] == "Good Friday"
        assert by_ref["bank_holiday"].isna().sum() == 2

    def test_targets_come_from_the_pathway_for_trigger_and_band(self, by_ref):
        # imminent_risk: 45 out of hours, 30 in hours; loss_of_contact: 120 in either band.
        assert list(by_ref["target_minutes"]) == [45, 30, 120]

    def test_within_target_and_no_escalation_counts_as_not_within(self, by_ref):
        assert list(by_ref["within_target"]) == [True, False, False]

    def test_overall_compliance_median_p90_and_wilson_interval(self, tiny):
        table = compliance_table(tiny.episodes)
        assert list(table.columns) == list(TABLE_COLUMNS)
        overall = table.iloc[0]
        assert (overall["n"], overall["within_target"], overall["not_within_target"]) == (3, 1, 2)
        assert (overall["escalated"], overall["escalated_late"], overall["not_escalated"]) == (2, 1, 1)
        assert overall["within_target_pct"] == pytest.approx(100 / 3)
        low, high = proportion_confint(1, 3, alpha=0.05, method="wilson")
        assert overall["ci95_low_pct"] == pytest.approx(100 * low, abs=1e-9)
        assert overall["ci95_high_pct"] == pytest.approx(100 * high, abs=1e-9)
        assert overall["median_delay_minutes"] == 65 == np.median([20, 110])
        assert overall["p90_delay_minutes"] == pytest.approx(101) == np.percentile([20, 110], 90)

    def test_compliance_by_band_and_sub_band(self, tiny):
        band = compliance_table(tiny.episodes, "band").set_index("band")
        assert band.loc["in_hours", ["n", "within_target", "not_escalated"]].tolist() == [1, 0, 0]
        assert band.loc["out_of_hours", ["n", "within_target", "not_escalated"]].tolist() == [2, 1, 1]
        assert band.loc["out_of_hours", "median_delay_minutes"] == 20  # only T-001 escalated
        sub = compliance_table(tiny.episodes, "ooh_sub_band").set_index("ooh_sub_band")
        assert sub["n"].to_dict() == {"in_hours": 1, "weekend": 1, "bank_holiday": 1}
        assert sub.loc["bank_holiday", "not_escalated"] == 1
        assert pd.isna(sub.loc["bank_holiday", "median_delay_minutes"])

    def test_compliance_by_agency_counts_an_episode_once_per_agency(self, tiny):
        table = compliance_table(tiny.episodes, "escalated_to").set_index("escalated_to")
        # T-001 called the crisis line; T-002 the senior on duty then the crisis line; T-003 nobody.
        assert table["n"].to_dict() == {"crisis_team": 2, "duty_senior": 1}
        assert table.loc["crisis_team", "within_target"] == 1
        assert table.loc["duty_senior", "median_delay_minutes"] == 110

    def test_every_named_grouping_gives_groups_that_add_up(self, tiny):
        for key in GROUPINGS:
            if key == "escalated_to":
                continue  # an episode counts once per agency there
            table = compliance_table(tiny.episodes, key)
            assert table["n"].sum() == 3, key
            assert table["within_target"].sum() == 1, key
            assert table["not_escalated"].sum() == 1, key

    def test_quarters_and_months_are_read_on_the_local_clock(self, by_ref, tiny):
        assert list(by_ref["quarter"]) == ["2024/25 Q4", "2025/26 Q1", "2025/26 Q1"]
        assert list(by_ref["month"]) == ["2025-03", "2025-04", "2025-04"]
        quarters = compliance_table(tiny.episodes, "quarter").set_index("quarter")
        assert quarters["n"].to_dict() == {"2024/25 Q4": 1, "2025/26 Q1": 2}

    def test_period_filter_excludes_outside_rows_with_their_reason_and_balances(self, tiny):
        accounting = tiny.accounting
        assert (accounting.rows_read, accounting.rows_analysed, accounting.rows_excluded) == (6, 3, 3)
        assert accounting.rows_read == accounting.rows_analysed + accounting.rows_excluded
        assert accounting.excluded_by_reason() == {"escalated_before_identified": 1, "outside_period": 2}
        outside = accounting.excluded[accounting.excluded["reason"] == "outside_period"]
        assert outside[["row", "incident_id"]].values.tolist() == [[5, "T-004"], [6, "T-005"]]
        # All episodes stay available for trends, and T-005's quarter is its local one.
        assert sorted(tiny.all_episodes["incident_id"]) == ["T-001", "T-002", "T-003", "T-004", "T-005"]
        assert tiny.all_episodes.set_index("incident_id").loc["T-005", "quarter"] == "2025/26 Q1"


def test_financial_quarter_labels():
    stamps = pd.Series(
        [local("2025-04-01 00:00"), local("2025-06-30 23:59"), local("2025-07-01 00:00"),
         local("2025-12-31 12:00"), local("2026-01-15 09:00"), local("2026-03-31 23:59"),
         local("2099-05-01 12:00"), pd.NaT],
        dtype=f"datetime64[us, {LONDON}]",
    )
    labels = financial_quarter(stamps)
    assert labels.iloc[:7].tolist() == [
        "2025/26 Q1", "2025/26 Q1", "2025/26 Q2", "2025/26 Q3", "2025/26 Q4", "2025/26 Q4", "2099/00 Q1",
    ]
    assert pd.isna(labels.iloc[7])


def test_in_hours_window_weekends_and_bank_holidays_by_nation(sample_pathway):
    # Sample pathway: Mon-Fri from 09:00 up to (not including) 17:00.
    stamps = pd.Series(
        [
            local("2025-04-01 08:59"),  # Tue, before the window
            local("2025-04-01 09:00"),  # Tue, opens
            local("2025-04-01 16:59"),  # Tue, last in-hours minute
            local("2025-04-01 17:00"),  # Tue, closed
            local("2025-04-05 11:00"),  # Sat
            local("2025-12-25 11:00"),  # Thu, Christmas Day
            local("2026-12-28 11:00"),  # Mon, Boxing Day (observed): a substitute day
            local("2026-01-02 11:00"),  # Fri: a bank holiday in Scotland only
            local("2026-04-06 11:00"),  # Easter Monday: England and Wales only
        ],
        dtype=f"datetime64[us, {LONDON}]",
    )
    england = classify_hours(stamps, sample_pathway)
    assert england["ooh_sub_band"].astype(str).tolist() == [
        "weekday_evening_night", "in_hours", "in_hours", "weekday_evening_night", "weekend",
        "bank_holiday", "bank_holiday", "in_hours", "bank_holiday",
    ]
    assert (england["band"].astype(str) == np.where(england["ooh_sub_band"] == "in_hours", "in_hours", "out_of_hours")).all()
    scotland = classify_hours(stamps, sample_pathway.model_copy(update={"bank_holidays": "scotland"}))
    assert scotland["ooh_sub_band"].astype(str).tolist()[7:] == ["bank_holiday", "in_hours"]


def test_delay_across_the_clocks_going_back(export, sample_pathway):
    """26/10/2025: 01:00-01:59 happens twice (BST, then GMT)."""
    loaded = export([
        # Escalated at the second 01:10 (GMT), since the first would be before 01:30 BST.
        row(ref="BACK1", date="26/10/2025", time="01:30", escalated="26/10/2025 01:10"),
        # Both in the first (BST) hour: 00:50 BST to 01:20 BST.
        row(ref="BACK2", date="26/10/2025", time="00:50", escalated="26/10/2025 01:20"),
        # Across the change: 00:40 BST to 02:40 GMT is three real hours.
        row(ref="BACK3", date="26/10/2025", time="00:40", escalated="26/10/2025 02:40"),
    ])
    prepared = prepare_episodes(loaded.episodes, sample_pathway).set_index("incident_id")
    assert prepared["delay_minutes"].to_dict() == {"BACK1": 40, "BACK2": 30, "BACK3": 180}
    assert loaded.accounting.warnings_by_reason().get("ambiguous_local_time") == 3


def test_a_delay_equal_to_the_target_is_within_it(export, sample_pathway):
    # 03/04/2025 is a Thursday: in hours, imminent risk target 60 minutes.
    loaded = export([
        row(ref="ON", time="10:00", escalated="03/04/2025 11:00"),
        row(ref="OVER", time="10:00", escalated="03/04/2025 11:01"),
    ])
    prepared = prepare_episodes(loaded.episodes, sample_pathway).set_index("incident_id")
    assert prepared["target_minutes"].tolist() == [60, 60]
    assert prepared["within_target"].to_dict() == {"ON": True, "OVER": False}


class TestPeriod:
    ROWS = (
        row(ref="BEFORE", date="31/03/2025", time="23:59", escalated="01/04/2025 00:10"),
        row(ref="FIRST", date="01/04/2025", time="00:30", escalated="01/04/2025 00:40"),  # 23:30 UTC on 31 March
        row(ref="MIDDLE", date="15/04/2025", time="12:00", escalated="15/04/2025 12:30"),
        row(ref="LAST", date="30/04/2025", time="23:59", escalated="01/05/2025 00:20"),
        row(ref="AFTER", date="01/05/2025", time="00:30", escalated="01/05/2025 00:45"),  # 30 April in UTC
    )

    @pytest.fixture
    def written(self, tmp_path):
        path = tmp_path / "period.csv"
        path.write_bytes(csv_bytes(list(self.ROWS)))
        return path

    def test_start_and_end_are_inclusive_local_days(self, written, sample_pathway):
        result = analyse(written, MappingProfile.model_validate(PROFILE), sample_pathway,
                         "2025-04-01", "2025-04-30", key=TEST_KEY)
        assert list(result.episodes["incident_id"]) == ["FIRST", "MIDDLE", "LAST"]
        accounting = result.accounting
        assert accounting.rows_read == accounting.rows_analysed + accounting.rows_excluded == 5
        assert accounting.excluded_by_reason() == {"outside_period": 2}
        excluded = accounting.excluded.set_index("incident_id")
        assert excluded["row"].to_dict() == {"BEFORE": 2, "AFTER": 6}
        assert set(excluded["reason"]) == {"outside_period"}
        assert list(result.episodes["quarter"]) == ["2025/26 Q1"] * 3

    def test_history_runs_from_the_start_of_the_export_to_the_end_of_the_period(self, written, sample_pathway):
        result = analyse(written, MappingProfile.model_validate(PROFILE), sample_pathway,
                         "2025-04-15", "2025-04-15", key=TEST_KEY)
        assert list(result.episodes["incident_id"]) == ["MIDDLE"]
        assert list(result.history["incident_id"]) == ["BEFORE", "FIRST", "MIDDLE"]
        assert len(result.all_episodes) == 5

    def test_filter_period_drops_warnings_of_rows_it_excludes(self, export):
        loaded = export([
            row(ref="IN", date="10/04/2025", escalated="10/04/2025 10:20", team=""),
            row(ref="OUT", date="10/06/2025", escalated="10/06/2025 10:20", team=""),
        ])
        kept, accounting = filter_period(loaded.episodes, loaded.accounting, dt.date(2025, 4, 1), dt.date(2025, 4, 30))
        assert list(kept["incident_id"]) == ["IN"]
        assert accounting.warnings_by_reason() == {"missing_team": 1}
        assert accounting.rows_read == accounting.rows_analysed + accounting.rows_excluded
        assert len(kept) == accounting.rows_analysed == 1

    def test_no_episode_in_the_period_is_an_error_naming_the_dates_and_where_the_episodes_are(
            self, written, sample_pathway):
        # (local dates: AFTER is 23:30 on 30 April in UTC)
        said = r"between 01/06/2025 and 30/06/2025 in 'period.csv', whose episodes run from 31/03/2025 to 01/05/2025"
        with pytest.raises(NothingUsableError, match=said):
            analyse(written, MappingProfile.model_validate(PROFILE), sample_pathway,
                    "2025-06-01", "2025-06-30", key=TEST_KEY)

    def test_a_period_ending_before_it_starts_is_refused(self, written, sample_pathway):
        with pytest.raises(EscalationAnalysisError, match="swap"):
            analyse(written, MappingProfile.model_validate(PROFILE), sample_pathway,
                    "2025-04-30", "2025-04-01", key=TEST_KEY)


# ---------------------------------------------------------------------------------------------
# Part two: planted effects of the shipped sample


def _median_delay(frame: pd.DataFrame) -> float:
    return float(frame.loc[frame["escalated"], "delay_minutes"].median())


class TestPlantedEffects:
    def test_whole_sample_is_analysed(self, sample, truth):
        assert len(sample.episodes) == truth["rows_analysed"]
        assert sample.accounting.rows_excluded == truth["rows_excluded"]

    def test_out_of_hours_median_delay_is_the_planted_multiple(self, sample, truth):
        episodes = sample.episodes
        ooh = _median_delay(episodes[episodes["band"] == "out_of_hours"])
        in_hours = _median_delay(episodes[episodes["band"] == "in_hours"])
        ratio = ooh / in_hours
        assert ratio == pytest.approx(truth["ooh_delay_factor"], rel=0.10)
        # The comparison the reports print says the same.
        effects = compare_factor(episodes, "band", sample.as_of)["delay"].effects
        assert effects["median_ratio"].value == pytest.approx(ratio)

    def test_out_of_hours_compliance_is_lower(self, sample):
        table = compliance_table(sample.episodes, "band").set_index("band")
        assert table.loc["out_of_hours", "ci95_high_pct"] < table.loc["in_hours", "ci95_low_pct"]

    def test_lone_workers_escalate_later(self, sample, truth):
        episodes = sample.episodes
        lone = episodes[episodes["lone_worker_label"] == "lone worker"]
        accompanied = episodes[episodes["lone_worker_label"] == "accompanied"]
        ratio = _median_delay(lone) / _median_delay(accompanied)
        assert 1.2 < ratio < truth["lone_delay_factor"] * 1.2
        table = compliance_table(episodes, "lone_worker").set_index("lone_worker")
        assert table.loc["lone worker", "ci95_high_pct"] < table.loc["accompanied", "ci95_low_pct"]
        # Twice the rate of no escalation recorded.
        rate = table["not_escalated"] / table["n"]
        assert 1.5 < rate["lone worker"] / rate["accompanied"] < 4

    def test_lone_workers_meet_more_barriers_and_no_signal_is_theirs(self, sample, truth):
        episodes = sample.episodes
        met_any = episodes["barriers"].list.len().fillna(0) > 0
        share = met_any.groupby(episodes["lone_worker_label"]).mean()
        assert share["lone worker"] > 1.8 * share["accompanied"]
        frequency = barrier_frequency(episodes, by="lone_worker")
        signal = frequency[frequency["barrier"] == truth["lone_only_barrier"]].set_index("lone_worker")["episodes"]
        assert signal.get("lone worker", 0) >= 100
        assert signal.get("lone worker", 0) >= 0.95 * signal.sum()

    def test_deteriorating_team_has_its_lowest_compliance_in_the_planted_quarter(self, sample, truth):
        episodes = sample.episodes
        team = episodes[episodes["team"] == truth["deteriorating_team"]]
        quarters = compliance_table(team, "quarter").set_index("quarter")
        assert len(quarters) == 8
        worst = truth["deterioration_quarter"]
        assert quarters["within_target_pct"].idxmin() == worst
        others = quarters.drop(index=worst)
        # Clearly lower: its interval lies wholly below every other quarter's.
        assert quarters.loc[worst, "ci95_high_pct"] < others["ci95_low_pct"].min()
        assert quarters.loc[worst, "median_delay_minutes"] > 2.5 * others["median_delay_minutes"].max()

    def test_the_drop_is_that_teams_not_everyones(self, sample, truth):
        episodes = sample.episodes
        in_quarter = episodes[episodes["quarter"] == truth["deterioration_quarter"]]
        teams = compliance_table(in_quarter, "team").set_index("team")
        teams = teams[teams["n"] >= 20]
        assert teams["within_target_pct"].idxmin() == truth["deteriorating_team"]
        assert teams.drop(index=truth["deteriorating_team"])["within_target_pct"].min() > 60
