"""Pathway adherence and multi-agency response: hand-built step logs, and the sample's
planted approvals team and agency response times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import TEST_KEY

from escalation_analysis.measures.adherence import (
    CHECKS,
    adherence_summary,
    episode_adherence,
    expected_steps_table,
    route_variants,
)
from escalation_analysis.measures.agencies import (
    agency_responses,
    handoff_delays,
    handoff_summary,
    response_by_agency,
)
from escalation_analysis.measures.analysis import analyse

FIXTURES = Path(__file__).parent / "fixtures" / "analytics"
PLANTED_RESPONSE_MEDIANS = {"crisis_team": 120, "police": 45, "duty_senior": 15, "emergency_services": 40}


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="Europe/London")


def step_log(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["incident_id", "step", "agency", "at"])
    frame["at"] = frame["at"].map(at).astype("datetime64[us, Europe/London]")
    return frame


@pytest.fixture(scope="module")
def tiny():
    """Three episodes (see tests/test_timeliness.py): T-001 imminent risk out of hours,
    T-002 imminent risk in hours, T-003 loss of contact out of hours, never escalated."""
    return analyse(FIXTURES / "tiny_export.csv", FIXTURES / "tiny_mapping.yaml", FIXTURES / "tiny_pathway.yaml",
                   "2025-03-01", "2025-04-30", key=TEST_KEY)


@pytest.fixture(scope="module")
def sample_adherence(sample):
    return episode_adherence(sample.episodes, sample.steps_frame, sample.pathway)


# ---------------------------------------------------------------------------------------------
# Adherence by hand

# Tiny pathway: imminent risk in hours duty_senior -> crisis_team, out of hours crisis_team;
# loss of contact out of hours crisis_team -> police; at most 0 approvals before action.
TINY_STEPS = (
    ("T-001", "contacted", "crisis_team", "2025-03-30 02:10"),
    ("T-001", "responded", "crisis_team", "2025-03-30 03:10"),
    ("T-002", "contacted", "crisis_team", "2025-04-01 12:05"),  # wrong first contact...
    ("T-002", "responded", "duty_senior", "2025-04-01 12:10"),  # (a response logged before its contact)
    ("T-002", "contacted", "duty_senior", "2025-04-01 12:20"),  # ...and the two swapped
    ("T-002", "responded", "crisis_team", "2025-04-01 13:00"),
    ("T-999", "contacted", "police", "2025-04-01 12:00"),  # not an analysed episode
)


class TestAdherenceByHand:
    def test_expected_steps_come_from_the_pathway(self, tiny):
        table = expected_steps_table(tiny.pathway)
        rows = table[(table["trigger"] == "imminent_risk") & (table["band"] == "in_hours")]
        assert rows.sort_values("position")["agency"].tolist() == ["duty_senior", "crisis_team"]

    def test_checks_per_episode(self, tiny):
        result = episode_adherence(tiny.episodes, step_log(*TINY_STEPS), tiny.pathway).set_index("incident_id")
        assert result["first_contact"].tolist()[:2] == ["crisis_team", "crisis_team"]
        assert pd.isna(result.loc["T-003", "first_contact"])
        assert result.loc["T-001", ["first_contact_correct", "in_order", "no_steps_skipped"]].tolist() == [True, True, True]
        assert result.loc["T-002", ["first_contact_correct", "in_order", "no_steps_skipped"]].tolist() == [False, False, True]
        assert bool(result.loc["T-001", "adherent"]) and not bool(result.loc["T-002", "adherent"])
        # T-003 has no step log entry: left out of the step checks, not failed.
        assert result.loc["T-003", ["first_contact_correct", "in_order", "no_steps_skipped"]].isna().all()
        assert not result.loc["T-003", "steps_recorded"]
        assert not result["no_steps_recorded"].any()  # only escalated episodes can lack steps

    def test_skipped_steps_are_counted(self, tiny):
        steps = step_log(("T-002", "contacted", "crisis_team", "2025-04-01 12:05"))
        result = episode_adherence(tiny.episodes, steps, tiny.pathway).set_index("incident_id")
        assert result.loc["T-002", "steps_skipped"] == 1  # duty_senior never contacted
        assert result.loc["T-002", "no_steps_skipped"] == False
        assert result.loc["T-002", "in_order"] == True
        assert result.loc["T-001", "no_steps_recorded"]  # escalated, but nothing in the log

    def test_approvals_and_required_information(self, tiny):
        information = pd.Series(pd.arrays.ArrowExtensionArray(pa.array(
            [["risk_summary", "current_location", "risk_summary"], ["risk_summary"], None],
            type=pa.list_(pa.string()),
        )))
        prepared = tiny.episodes.assign(
            approvals_before_action=pd.array([0, 2, pd.NA], dtype="Int64"), information_shared=information,
        )
        pathway = tiny.pathway.model_copy(update={"required_information": ["risk_summary", "current_location"]})
        result = episode_adherence(prepared, None, pathway).set_index("incident_id")
        assert result["approvals_within_limit"].tolist()[:2] == [True, False]
        assert pd.isna(result.loc["T-003", "approvals_within_limit"])
        assert result.loc["T-001", "information_missing"] == 0  # a repeated item counts once
        assert result.loc["T-002", "information_missing"] == 1
        assert result["information_complete"].tolist()[:2] == [True, False]
        assert pd.isna(result.loc["T-003", "information_complete"])

    def test_summary_shares_use_only_checkable_episodes(self, tiny):
        result = episode_adherence(tiny.episodes, step_log(*TINY_STEPS), tiny.pathway)
        summary = adherence_summary(result).set_index("check")
        assert list(summary.index) == [*CHECKS[:3], "adherent"]  # approvals/information unknown
        assert summary.loc["first_contact_correct", ["checked", "passed"]].tolist() == [2, 1]
        assert summary.loc["in_order", "passed_pct"] == 50
        assert summary.loc["adherent", ["checked", "passed"]].tolist() == [2, 1]

    def test_route_variants_show_the_routes_taken(self, tiny):
        result = episode_adherence(tiny.episodes, step_log(*TINY_STEPS), tiny.pathway)
        routes = route_variants(result, step_log(*TINY_STEPS)).set_index("route")["episodes"]
        assert routes.to_dict() == {"crisis_team": 1, "crisis_team → duty_senior": 1}  # canonical: reviews label them
        from escalation_analysis.reviews.labels import routes_for_readers

        assert routes_for_readers(routes.index.to_series()).tolist() == ["Crisis team", "Crisis team → Duty senior"]


# ---------------------------------------------------------------------------------------------
# Agencies by hand


class TestAgenciesByHand:
    def test_response_is_the_first_response_at_or_after_the_contact(self, tiny):
        responses = agency_responses(tiny.episodes, step_log(*TINY_STEPS)).set_index(["incident_id", "agency"])
        assert responses.loc[("T-001", "crisis_team"), "response_minutes"] == 60
        assert responses.loc[("T-002", "crisis_team"), "response_minutes"] == 55
        assert ("T-999", "police") not in responses.index

    def test_a_contact_whose_only_response_is_logged_before_it_still_counts(self, tiny):
        responses = agency_responses(tiny.episodes, step_log(*TINY_STEPS)).set_index(["incident_id", "agency"])
        assert ("T-002", "duty_senior") in responses.index
        assert pd.isna(responses.loc[("T-002", "duty_senior"), "response_minutes"])
        table = response_by_agency(responses.reset_index(), tiny.pathway).set_index("agency")
        assert table.loc["duty_senior", ["contacts", "responses_recorded"]].tolist() == [1, 0]
        assert table.loc["crisis_team", ["contacts", "responses_recorded", "within_target"]].tolist() == [2, 2, 2]
        assert table.loc["crisis_team", "median_minutes"] == 57.5
        assert table.loc["crisis_team", "within_target_pct"] == 100

    def test_without_a_step_log_the_export_response_is_read_against_the_first_agency(self, tiny):
        responses = agency_responses(tiny.episodes, None).set_index("incident_id")
        assert responses["agency"].to_dict() == {"T-001": "crisis_team", "T-002": "duty_senior"}  # T-003 never escalated
        assert responses.loc["T-001", "response_minutes"] == 60  # 02:10 BST to 03:10 BST
        assert pd.isna(responses.loc["T-002", "response_minutes"])

    def test_without_a_step_log_an_escalation_naming_no_agency_is_not_recorded(self, tiny):
        episodes = tiny.episodes.copy()
        named = {"T-001": ["crisis_team", "police"], "T-002": [], "T-003": ["police"]}  # T-003 never escalated
        episodes["escalated_to"] = pd.Series(pd.array([named[i] for i in episodes["incident_id"]],
                                                      dtype=episodes["escalated_to"].dtype), index=episodes.index)
        responses = agency_responses(episodes, None).set_index("incident_id")
        assert responses["agency"].to_dict() == {"T-001": "crisis_team", "T-002": "not recorded"}
        assert list(responses["agency"].cat.categories) == ["crisis_team", "not recorded"]  # of escalations only

    def test_handoffs_are_gaps_between_consecutive_contacts(self, tiny):
        handoffs = handoff_delays(tiny.episodes, step_log(*TINY_STEPS))
        assert handoffs[["incident_id", "from_agency", "to_agency", "minutes"]].values.tolist() == [
            ["T-002", "crisis_team", "duty_senior", 15.0],
        ]
        assert handoff_summary(handoffs)["n"].tolist() == [1]
        assert handoff_delays(tiny.episodes, None).empty and handoff_summary(handoff_delays(tiny.episodes, None)).empty


# ---------------------------------------------------------------------------------------------
# The sample's planted effects


class TestSamplePlanted:
    def test_approvals_team_has_the_lowest_share_within_the_limit(self, sample_adherence, truth):
        by_team = adherence_summary(sample_adherence, by="team")
        approvals = by_team[(by_team["check"] == "approvals_within_limit") & (by_team["checked"] >= 20)]
        approvals = approvals.set_index("team")
        assert approvals["passed_pct"].idxmin() == truth["approvals_team"]
        others = approvals.drop(index=truth["approvals_team"])
        # Poisson(2) against a limit of 1: P(X <= 1) = 3 / e^2, about 41% within the limit.
        assert approvals.loc[truth["approvals_team"], "passed_pct"] == pytest.approx(100 * 3 * np.exp(-2), abs=6)
        assert approvals.loc[truth["approvals_team"], "ci95_high_pct"] < others["ci95_low_pct"].min()

    def test_approvals_exceeded_are_concentrated_in_that_team(self, sample_adherence, truth):
        exceeded = sample_adherence[sample_adherence["approvals_within_limit"] == False]
        share = (exceeded["team"] == truth["approvals_team"]).mean()
        assert share > 0.5

    def test_step_checks_fail_at_about_the_planted_rates(self, sample_adherence):
        summary = adherence_summary(sample_adherence).set_index("check")
        failed = 100 - summary["passed_pct"]
        # 10% of routes skip the first expected contact and 6% swap the first two: both change
        # the first contact; swaps break the order, skips leave a step out.
        assert 8 <= failed["first_contact_correct"] <= 20
        assert 3 <= failed["in_order"] <= 9
        assert 5 <= failed["no_steps_skipped"] <= 14

    def test_agency_response_medians_are_near_the_planted_ones(self, sample):
        responses = agency_responses(sample.episodes, sample.steps_frame)
        table = response_by_agency(responses, sample.pathway).set_index("agency")
        for agency, planted in PLANTED_RESPONSE_MEDIANS.items():
            assert table.loc[agency, "median_minutes"] == pytest.approx(planted, rel=0.25), agency
            assert table.loc[agency, "responses_recorded"] >= 100, agency
        recomputed = responses.dropna(subset=["response_minutes"]).groupby("agency")["response_minutes"].median()
        assert table["median_minutes"].dropna().to_dict() == pytest.approx(recomputed.to_dict())

    def test_every_contact_in_the_step_log_is_counted(self, sample):
        steps = sample.steps_frame
        steps = steps[steps["incident_id"].isin(sample.episodes["incident_id"]) & (steps["step"] == "contacted")]
        expected = steps.drop_duplicates(["incident_id", "agency"]).groupby("agency").size()
        table = response_by_agency(agency_responses(sample.episodes, steps), sample.pathway).set_index("agency")
        contacted = table[table["contacts"] > 0]
        assert contacted["contacts"].to_dict() == expected.to_dict()
        # an agency the pathway names that nobody contacted has a row saying 0, not no row
        named = {*sample.pathway.response_targets_minutes, *(c.agency for c in sample.pathway.contacts.values())}
        assert set(table.index) == named | set(expected.index)
        assert (table.loc[sorted(named - set(expected.index)), "contacts"] == 0).all()
