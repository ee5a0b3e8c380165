"""The partner pathway review's tables: what partners see of each count, directly.

Partners may not be shown a count from 1 to 7, nor a count that a shown total minus a shown
part gives back. These tests build the review on the hand-worked export (see
``tests/test_handworked.py`` for its figures) and call the table suppression it uses with
counts on either side of the threshold: 7 is hidden, 8 is shown, and a part whose complement
is 7 is hidden too.
"""

from __future__ import annotations

import pandas as pd
import pytest
from test_handworked import analyse_handworked

from escalation_analysis.reviews.pathway import PathwayReview
from escalation_analysis.reviews.summary import suppress_simple
from escalation_analysis.reviews.suppression import SuppressionPolicy

COUNTS = {
    "adherence": ["checked", "passed"],
    "routes": ["episodes"],
    "approvals_by_team": ["checked", "passed"],
    "agency_response": ["contacts", "responses_recorded", "within_target"],
    "handoffs": ["n"],
    "themes": ["episodes", "late"],
}


@pytest.fixture(scope="module")
def handworked():
    return analyse_handworked()


@pytest.fixture
def review(handworked) -> PathwayReview:
    """Built in each test (mutation testing credits the build to the tests that call it)."""
    return PathwayReview.build(handworked)


def test_no_table_shows_a_count_from_1_to_7(review):
    for name, columns in COUNTS.items():
        table = getattr(review, name)
        for column in columns:
            shown = [v for v in table[column] if v != "*"]
            assert all(not 1 <= int(v) <= 7 for v in shown), (name, column, shown)


def test_routes_are_all_small_and_all_marked(review):
    # duty senior -> crisis team 4, crisis team -> police 2, crisis team 2, and two routes of 1
    assert review.routes["episodes"].tolist() == ["*"] * 5
    assert review.routes["route"].tolist() == [
        "Duty senior → Crisis team", "Crisis team", "Crisis team → Police", "Crisis team → Duty senior", "Duty senior"]


def test_adherence_shows_checked_counts_and_hides_small_passes_and_their_rates(review):
    table = review.adherence.set_index("check")
    # checked 10, 10, 10, 10, 5, 12; passed 8, 9, 8, 6, 3, 6: every "passed" is small or has a
    # small complement (10 - 8 = 2, 10 - 9 = 1), so none is shown and no rate either.
    assert table["checked"].tolist() == [10, 10, 10, 10, "*", 12]
    assert table["passed"].tolist() == ["*"] * 6
    assert table["passed_pct"].isna().all()


def test_agency_response_hides_what_subtraction_would_give_back(review):
    table = review.agency_response.set_index("agency")
    # crisis team: 9 contacts, 7 responses, 5 within target; duty senior 6 contacts, 0 responses
    # (6 without one: small); police 2 contacts.
    assert table.loc["crisis_team", ["contacts", "responses_recorded", "within_target"]].tolist() == [9, "*", "*"]
    assert table.loc["duty_senior", ["contacts", "responses_recorded"]].tolist() == ["*", "*"]
    assert table.loc["police", "contacts"] == "*"
    assert table[["median_minutes", "p90_minutes", "within_target_pct"]].isna().all().all()


def test_approvals_by_team_and_themes_are_marked(review):
    assert review.approvals_by_team[["checked", "passed"]].to_numpy().ravel().tolist() == ["*"] * 6
    themes = review.themes.set_index("theme")
    assert themes.loc["approvals_before_action", ["episodes", "late"]].tolist() == ["*", "*"]
    assert themes.loc["partner_response", ["episodes", "late"]].tolist() == [0, 0]


class TestSimpleSuppression:
    """Tables whose rows add up to nothing published: each row on its own."""

    @pytest.fixture
    def table(self) -> pd.DataFrame:
        checked = [0, 7, 8, 8, 15, 16, 20]
        passed = [0, 7, 8, 1, 8, 8, 12]
        return pd.DataFrame({
            "group": list("abcdefg"), "checked": checked, "passed": passed,
            "passed_pct": [float("nan") if c == 0 else 100 * p / c for c, p in zip(checked, passed, strict=True)],
        })

    def test_seven_is_hidden_eight_is_shown(self, table):
        out = suppress_simple(table, ["checked", "passed"], ["passed_pct"])
        assert out["checked"].tolist() == [0, "*", 8, 8, 15, 16, 20]
        # d: 1 passed is small; e: 15 - 8 = 7 did not pass, so the 8 would give the 7 back
        assert out["passed"].tolist() == [0, "*", 8, "*", "*", 8, 12]

    def test_rates_of_a_row_with_a_hidden_count_are_withheld(self, table):
        out = suppress_simple(table, ["checked", "passed"], ["passed_pct"])
        assert out["passed_pct"].tolist()[1:] == [None, 100.0, None, None, 50.0, 60.0]

    def test_the_threshold_is_the_policy_s(self, table):
        out = suppress_simple(table, ["checked", "passed"], ["passed_pct"], SuppressionPolicy(threshold=8))
        assert out["checked"].tolist() == [0, "*", "*", "*", 15, 16, 20]
        assert out["passed"].tolist() == [0, "*", "*", "*", "*", "*", "*"]  # g: 20 - 12 = 8 did not pass

    def test_the_input_is_not_changed(self, table):
        before = table.copy()
        suppress_simple(table, ["checked", "passed"], ["passed_pct"])
        pd.testing.assert_frame_equal(table, before)
