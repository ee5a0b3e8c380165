"""The learning loop (actions, training) and equity breakdowns: by hand and on the sample."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from conftest import TEST_KEY

from escalation_analysis.measures.analysis import analyse
from escalation_analysis.measures.equity import EQUITY_FIELDS, available_equity_fields, equity_table
from escalation_analysis.measures.learning import (
    TRAINING_CAVEAT,
    action_status,
    action_summary,
    overdue_actions,
    trained_within_year,
    training_association,
)
from escalation_analysis.measures.timeliness import compliance_table
from escalation_analysis.reviews.summary import build_summary

FIXTURES = Path(__file__).parent / "fixtures" / "analytics"
SCENARIO = "Scenario-based escalation training"


@pytest.fixture(scope="module")
def tiny():
    """Three episodes (see tests/test_timeliness.py): T-001 by Jo Bloggs on 30/03/2025 (within
    target), T-002 and T-003 by Ann Other on 01/04/2025 (late) and 18/04/2025 (not escalated)."""
    return analyse(FIXTURES / "tiny_export.csv", FIXTURES / "tiny_mapping.yaml", FIXTURES / "tiny_pathway.yaml",
                   "2025-03-01", "2025-04-30", key=TEST_KEY)


def training_log(tiny, *rows: tuple[str, str, str]) -> pd.DataFrame:
    """A loaded-style training log from (staff name as in the tiny export, course, ISO date)."""
    raw = pd.read_csv(FIXTURES / "tiny_export.csv", sep=";", encoding="cp1252")
    staff = dict(zip(raw["Case No"], raw["Clinician"], strict=False))
    pseudonym = {staff[ref]: pid for ref, pid in zip(tiny.episodes["incident_id"], tiny.episodes["staff_id"], strict=False)}
    return pd.DataFrame({
        "staff_id": [pseudonym[name] for name, _, _ in rows],
        "course": [course for _, course, _ in rows],
        "scenario": [course == SCENARIO for _, course, _ in rows],
        "completed_on": pd.to_datetime([day for _, _, day in rows]),
    })


# ---------------------------------------------------------------------------------------------
# Training by hand


class TestTrainingByHand:
    def test_completion_in_the_365_days_before_counts(self, tiny):
        log = training_log(
            tiny,
            ("Jo Bloggs", SCENARIO, "2024-03-30"),      # 365 days before 30/03/2025: counts
            ("Ann Other", SCENARIO, "2024-04-01"),      # 365 days before T-002, 382 before T-003
            ("Ann Other", "Safeguarding adults level 3", "2025-04-10"),  # not scenario training
            ("Ann Other", SCENARIO, "2025-04-19"),      # the day after T-003: too late for it
        )
        assert trained_within_year(tiny.episodes, log).tolist() == [True, True, False]

    def test_366_days_is_too_long_ago(self, tiny):
        log = training_log(tiny, ("Jo Bloggs", SCENARIO, "2024-03-29"), ("Ann Other", SCENARIO, "2025-04-01"))
        # Jo: 366 days; Ann: same day as T-002 (counts), 17 days before T-003.
        assert trained_within_year(tiny.episodes, log).tolist() == [False, True, True]

    def test_no_staff_member_means_unknown(self, tiny):
        episodes = tiny.episodes.copy()
        episodes.loc[2, "staff_id"] = pd.NA
        log = training_log(tiny, ("Ann Other", SCENARIO, "2025-01-01"))
        result = trained_within_year(episodes, log)
        assert result.tolist()[:2] == [False, True] and pd.isna(result.iloc[2])

    def test_association_table_and_caveat(self, tiny):
        log = training_log(tiny, ("Jo Bloggs", SCENARIO, "2025-01-01"), ("Ann Other", SCENARIO, "2025-04-01"))
        association = training_association(tiny.episodes, log)
        table = association["table"].set_index("training")
        # Jo trained before T-001; Ann on the day of T-002, so before T-003 too: all three trained.
        assert table["n"].to_dict() == {"trained": 3}
        assert association["caveat"] == TRAINING_CAVEAT and "association" in TRAINING_CAVEAT
        assert "compliance" not in association  # nothing to compare against

    def test_association_compares_trained_with_untrained(self, tiny):
        log = training_log(tiny, ("Jo Bloggs", SCENARIO, "2025-01-01"))
        association = training_association(tiny.episodes, log)
        table = association["table"].set_index("training")
        assert table.loc["trained", ["n", "within_target", "median_delay_minutes"]].tolist() == [1, 1, 20]
        assert table.loc["not trained", ["n", "within_target", "not_escalated", "median_delay_minutes"]].tolist() == [2, 0, 1, 110]
        assert association["compliance"].n_a == 2 and association["compliance"].n_b == 1

    def test_training_log_loads_through_the_profile_and_matches_pseudonyms(self, tmp_path):
        path = tmp_path / "training.csv"
        path.write_text(
            "staff_id,course,completed_on\n"
            f"Jo Bloggs,{SCENARIO},01/01/2025\n"
            "Ann Other,Safeguarding adults level 3,01/01/2025\n"
            ",Scenario-based escalation training,01/01/2025\n",
            encoding="utf-8",
        )
        analysis = analyse(FIXTURES / "tiny_export.csv", FIXTURES / "tiny_mapping.yaml", FIXTURES / "tiny_pathway.yaml",
                           "2025-03-01", "2025-04-30", training=path, key=TEST_KEY)
        assert analysis.training.to_dict() == {"rows_read": 3, "rows_used": 2, "excluded_by_reason": {"missing_staff_id": 1}, "warnings": {}}
        assert trained_within_year(analysis.episodes, analysis.training_frame).tolist() == [True, False, False]


# ---------------------------------------------------------------------------------------------
# Learning actions by hand


def test_action_status_overdue_and_links(tiny):
    actions = pd.DataFrame({
        "action": ["Call-back rota", "Signal map", "Buddy system", "Old action", "Next month"],
        "owner": ["Manager", "Manager", "Lead", "Lead", "Lead"],
        "raised": pd.to_datetime(["2025-03-31", "2025-04-02", "2025-04-02", "2024-01-01", "2025-05-02"]),
        "due": pd.to_datetime(["2025-04-29", "2025-04-30", "2025-03-01", "2024-02-01", "2025-04-01"]),
        "status": ["open", "open", "open", "closed", "open"],
        "incident_id": ["T-001", "T-002", "T-999", "T-001", "T-002"],
    })
    status = action_status(actions, tiny.episodes, dt.date(2025, 4, 30)).set_index("action")
    assert "Next month" not in status.index  # raised after the period: it did not exist yet
    assert status["overdue"].to_dict() == {"Call-back rota": True, "Signal map": False,
                                           "Buddy system": True, "Old action": False}
    assert status.loc["Call-back rota", "days_overdue"] == 1
    assert status.loc["Buddy system", "days_overdue"] == 60
    assert status["linked"].tolist() == [True, True, False, True]
    assert status.loc["Call-back rota", "team"] == "Café Outreach"
    assert action_summary(status.reset_index()) == {"total": 4, "linked_to_episodes": 3, "open": 3, "closed": 1, "overdue": 2}
    overdue = overdue_actions(actions, tiny.episodes, dt.date(2025, 4, 30))
    assert overdue["action"].tolist() == ["Buddy system", "Call-back rota"]  # most overdue first
    assert overdue_actions(None, tiny.episodes, dt.date(2025, 4, 30)).empty


# ---------------------------------------------------------------------------------------------
# The sample


class TestSampleLearning:
    def test_recently_trained_staff_escalate_faster(self, sample, truth):
        association = training_association(sample.episodes, sample.training_frame)
        ratio = association["delays"].effects["median_ratio"].value
        assert ratio == pytest.approx(truth["trained_delay_factor"], rel=0.10)
        table = association["table"].set_index("training")
        direct = table.loc["trained", "median_delay_minutes"] / table.loc["not trained", "median_delay_minutes"]
        assert ratio == pytest.approx(direct)
        assert table.loc["trained", "ci95_low_pct"] > table.loc["not trained", "ci95_high_pct"]
        assert table["n"].sum() == sample.episodes["staff_id"].notna().sum()

    def test_summary_states_the_association_with_its_caveat(self, sample):
        summary = build_summary(sample)
        assert summary.data["training"]["caveat"] == TRAINING_CAVEAT
        assert "staff trained in the past year" in summary.data["training"]["delay"]

    def test_action_counts_match_the_log(self, sample):
        actions = sample.actions_frame
        counts = action_summary(action_status(actions, sample.episodes, sample.as_of))
        assert len(actions) == sample.actions.rows_read
        raised = actions[actions["raised"] <= pd.Timestamp(sample.as_of)]  # later ones did not exist yet
        assert counts["total"] == len(raised)
        assert counts["linked_to_episodes"] == raised["incident_id"].isin(sample.episodes["incident_id"]).sum()
        assert counts["open"] + counts["closed"] == counts["total"]
        assert counts["overdue"] == ((raised["status"] == "open") & (raised["due"] < pd.Timestamp(sample.as_of))).sum()


class TestEquity:
    def test_blank_values_are_grouped_as_not_recorded(self, tiny):
        episodes = tiny.episodes.assign(ethnicity=pd.Series(["Mixed", None, None], dtype="str"))
        table = equity_table(episodes, "ethnicity").set_index("ethnicity")
        assert table["n"].to_dict() == {"Mixed": 1, "Not recorded": 2}
        assert table.loc["Not recorded", ["within_target", "not_escalated", "median_delay_minutes"]].tolist() == [0, 1, 110]
        assert available_equity_fields(episodes) == ["ethnicity"]
        assert available_equity_fields(tiny.episodes) == []

    def test_only_equity_fields_are_accepted(self, tiny):
        with pytest.raises(ValueError, match="ethnicity"):
            equity_table(tiny.episodes, "team")

    @pytest.mark.parametrize("field", EQUITY_FIELDS)
    def test_sample_breakdowns_use_the_same_definitions(self, sample, field):
        table = equity_table(sample.episodes, field).set_index(field)
        assert table["n"].sum() == len(sample.episodes)
        assert table["within_target"].sum() == sample.episodes["within_target"].sum()
        biggest = table["n"].idxmax()
        subset = sample.episodes[sample.episodes[field] == biggest]
        direct = compliance_table(subset).iloc[0]
        assert table.loc[biggest, "within_target_pct"] == pytest.approx(direct["within_target_pct"])
        assert table.loc[biggest, "median_delay_minutes"] == direct["median_delay_minutes"]
