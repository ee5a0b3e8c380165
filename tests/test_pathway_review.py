"""The partner pathway review's tables: what partners see of each count, directly.

Partners may not be shown a count from 1 to 7, nor a figure of a group of 1 to 7, nor a count
that the other published figures narrow to fewer than 4 values. These tests build the review
on the hand-worked export (see ``tests/test_handworked.py`` for its figures), whose counts
sit on either side of the threshold: 7 is ``*``, 8 and more are rounded to 5, every other
figure of a small group is ``[c]``, and rates come from the rounded counts.
"""

from __future__ import annotations

import pytest

from escalation_analysis.reviews.disclosure import NHS_ROUNDED, plan_for
from escalation_analysis.reviews.pathway import PathwayTables

MARKS = ("*", "[c]")
COUNTS = {
    "adherence": ["checked", "passed"],
    "routes": ["episodes"],
    "approvals_by_team": ["checked", "passed"],
    "agency_response": ["contacts", "responses_recorded", "within_target"],
    "handoffs": ["n"],
    "themes": ["episodes", "late"],
}


@pytest.fixture
def review(handworked) -> PathwayTables:
    """Built in each test (mutation testing credits the build to the tests that call it)."""
    return PathwayTables.build(handworked)


def test_no_table_shows_a_count_from_1_to_7(review):
    for name, columns in COUNTS.items():
        table = getattr(review, name)
        for column in columns:
            shown = [v for v in table[column] if v not in MARKS]
            assert all(not 1 <= int(v) <= 7 and int(v) % 5 == 0 for v in shown), (name, column, shown)


def test_routes_are_all_small_and_all_marked(review):
    # duty senior -> crisis team 4, crisis team -> police 2, crisis team 2, and two routes of 1
    assert review.routes["episodes"].tolist() == ["*"] * 5
    assert review.routes["route"].tolist() == [
        "Duty senior → Crisis team", "Crisis team", "Crisis team → Police", "Crisis team → Duty senior", "Duty senior"]


def test_adherence_rounds_checked_and_passed_and_takes_rates_from_them(review):
    table = review.adherence.set_index("check")
    # checked 10, 10, 10, 10, 5, 12; passed 8, 9, 8, 6, 3, 6
    assert table["checked"].tolist() == [10, 10, 10, 10, "*", 10]
    assert table["passed"].tolist() == [10, 10, 10, "*", "[c]", "*"]
    assert table.loc["first_contact_correct", "passed_pct"] == 100.0  # 10 of 10 as published
    assert table.loc["in_order", "ci95_low_pct"] == 72.2  # Wilson 95% interval of 10 of 10
    assert table.loc["information_complete"].tolist()[1:] == ["[c]"] * 4  # a check of 5 episodes: all withheld


def test_agency_response_withholds_every_figure_of_a_small_group(review):
    table = review.agency_response.set_index("agency")
    # crisis team: 9 contacts, 7 responses, 5 within target; duty senior 6 contacts; police 2.
    assert table.loc["crisis_team", ["contacts", "responses_recorded", "within_target"]].tolist() == [10, "*", "*"]
    assert table.loc["duty_senior", ["contacts", "responses_recorded", "within_target"]].tolist() == ["*", "[c]", "[c]"]
    assert table.loc["police", "contacts"] == "*"
    assert (table[["median_minutes", "p90_minutes", "within_target_pct"]] == "[c]").all().all()


def test_handoffs_are_listed_and_marked(review):
    # duty senior -> crisis team 4, crisis team -> police 2, crisis team -> duty senior 1
    assert review.handoffs["handoff"].tolist() == [
        "Duty senior → Crisis team", "Crisis team → Police", "Crisis team → Duty senior"]
    assert review.handoffs["n"].tolist() == ["*", "*", "*"]


def test_approvals_by_team_and_themes_are_marked(review):
    assert review.approvals_by_team["checked"].tolist() == ["*"] * 3
    assert review.approvals_by_team["passed"].tolist() == ["[c]"] * 3
    themes = review.themes.set_index("theme")
    assert themes.loc["approvals_before_action", ["episodes", "late"]].tolist() == ["*", "[c]"]
    assert themes.loc["partner_response", ["episodes", "late"]].tolist() == [0, 0]


def test_what_the_review_publishes_passes_the_audit(handworked):
    assert plan_for(handworked, NHS_ROUNDED).audit().safe
