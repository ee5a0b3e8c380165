"""Trends (SPC p-chart, funnel) find the sample's deteriorating team; near-miss patterns add up."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from escalation_analysis.measures.adherence import episode_adherence
from escalation_analysis.measures.near_misses import (
    THEMES,
    WEEKDAY_NAMES,
    barrier_cooccurrence,
    barrier_frequency,
    explode_barriers,
    late_heatmap,
    near_miss_ratio,
    near_miss_table,
    pathway_themes,
    repeat_service_users,
)
from escalation_analysis.measures.trends import (
    compliance_p_chart,
    lowest_team,
    median_delay_xmr,
    monthly_counts,
    team_funnel,
)

Q3_MONTHS = ["2025-10", "2025-11", "2025-12"]


@pytest.fixture(scope="module")
def episodes(sample) -> pd.DataFrame:
    return sample.episodes


# ---------------------------------------------------------------------------------------------
# Trends


@pytest.fixture(scope="module")
def chart(sample, truth):
    """The deteriorating team's monthly compliance p-chart, from the start of the export."""
    return compliance_p_chart(sample.history, team=truth["deteriorating_team"])


@pytest.fixture(scope="module")
def themes(sample):
    adherence = episode_adherence(sample.episodes, sample.steps_frame, sample.pathway)
    return pathway_themes(sample.episodes, adherence).set_index("theme"), adherence


class TestDeterioratingTeamTrends:
    def test_monthly_counts_are_the_teams_episodes(self, sample, truth):
        team = truth["deteriorating_team"]
        monthly = monthly_counts(sample.history, team)
        in_team = sample.history[sample.history["team"] == team]
        assert len(monthly) == 24
        assert monthly["n"].sum() == len(in_team)
        assert monthly["within_target"].sum() == in_team["within_target"].sum()

    def test_p_chart_shows_special_cause_of_concern_in_the_planted_quarter(self, chart):
        points = chart.points.assign(month=chart.points["x"].dt.strftime("%Y-%m")).set_index("month")
        assert chart.chart == "p" and len(points) == 24
        q3 = points.loc[Q3_MONTHS]
        assert (q3["point_type"] == "special_cause_concern").all()
        assert (q3["y"] < q3["lpl"]).all()
        # ... and nowhere else is there cause for concern.
        elsewhere = points.drop(index=Q3_MONTHS)
        assert not (elsewhere["point_type"] == "special_cause_concern").any()

    def test_p_chart_limits_are_per_month_binomial(self, chart):
        points = chart.points
        p_bar = points["numerator"].sum() / points["denominator"].sum()
        assert points["mean"].iloc[0] == pytest.approx(p_bar)
        sigma = np.sqrt(p_bar * (1 - p_bar) / points["denominator"])
        assert points["lpl"].to_numpy() == pytest.approx(np.clip(p_bar - 3 * sigma, 0, 1))
        assert points["upl"].to_numpy() == pytest.approx(np.clip(p_bar + 3 * sigma, 0, 1))

    def test_whole_service_chart_does_not_single_out_one_quarter_as_strongly(self, sample, truth):
        team = compliance_p_chart(sample.history, team=truth["deteriorating_team"]).points
        overall = compliance_p_chart(sample.history).points
        q3 = team["x"].dt.strftime("%Y-%m").isin(Q3_MONTHS)
        assert (team.loc[q3, "y"] < overall.loc[q3.to_numpy(), "y"].to_numpy() - 0.3).all()

    def test_median_delay_xmr_rises_in_the_planted_quarter(self, sample, truth):
        chart = median_delay_xmr(sample.history, team=truth["deteriorating_team"])
        points = chart.points.assign(month=chart.points["x"].dt.strftime("%Y-%m")).set_index("month")
        assert (points.loc[Q3_MONTHS, "y"] > 2.5 * points.drop(index=Q3_MONTHS)["y"].median()).all()
        assert points.loc[Q3_MONTHS, "special_cause_flag"].any()

    def test_funnel_places_the_team_below_the_998_limit_in_that_quarter(self, episodes, truth):
        funnel = team_funnel(episodes, quarter=truth["deterioration_quarter"])
        units = funnel.units.set_index("unit")
        team = truth["deteriorating_team"]
        assert units.loc[team, "flag_998"] == "below"
        assert units.loc[team, "proportion"] < units.loc[team, "lower_998"]
        assert (units.drop(index=team)["flag_998"] != "below").all()
        # The small team (5 episodes in two years) is left off; "Not recorded" is never a team.
        assert truth["small_team"] not in units.index and "Not recorded" not in units.index
        in_quarter = episodes[(episodes["quarter"] == truth["deterioration_quarter"]) & (episodes["team"] == team)]
        assert units.loc[team, ["numerator", "denominator"]].tolist() == [in_quarter["within_target"].sum(), len(in_quarter)]

    def test_funnel_in_another_quarter_does_not_flag_the_team(self, episodes, truth):
        units = team_funnel(episodes, quarter="2025/26 Q2").units.set_index("unit")
        assert units.loc[truth["deteriorating_team"], "flag_998"] == "within"

    def test_lowest_team_over_the_quarter(self, episodes, truth):
        in_quarter = episodes[episodes["quarter"] == truth["deterioration_quarter"]]
        assert lowest_team(in_quarter) == truth["deteriorating_team"]


# ---------------------------------------------------------------------------------------------
# Near-miss patterns


def test_late_heatmap_has_every_hour_of_the_week(episodes):
    heatmap = late_heatmap(episodes)
    assert len(heatmap) == 168
    assert list(heatmap["weekday"].cat.categories) == list(WEEKDAY_NAMES)
    assert heatmap.groupby("weekday", observed=True).size().tolist() == [24] * 7
    assert heatmap["episodes"].sum() == len(episodes)
    assert heatmap["late"].sum() == (~episodes["within_target"]).sum()
    # Hand check one cell on the local clock.
    local = episodes["risk_identified_at"].dt.tz_convert("Europe/London")
    mask = (local.dt.day_of_week == 2) & (local.dt.hour == 14)
    cell = heatmap[(heatmap["weekday"] == "Wed") & (heatmap["hour"] == 14)].iloc[0]
    assert (cell["episodes"], cell["late"]) == (mask.sum(), (~episodes.loc[mask, "within_target"]).sum())
    assert cell["late_pct"] == pytest.approx(100 * cell["late"] / cell["episodes"])


def test_late_heatmap_of_a_quiet_hour_is_zero_not_missing(episodes):
    heatmap = late_heatmap(episodes.head(3))
    assert len(heatmap) == 168
    assert heatmap["episodes"].sum() == 3
    assert heatmap.loc[heatmap["episodes"] == 0, "late_pct"].isna().all()


def test_barrier_cooccurrence_is_symmetric_with_frequencies_on_the_diagonal(episodes):
    matrix = barrier_cooccurrence(episodes)
    assert list(matrix.index) == list(matrix.columns)
    assert len(matrix) >= 5
    assert (matrix.to_numpy() == matrix.to_numpy().T).all()
    frequency = barrier_frequency(episodes).set_index("barrier")["episodes"]
    assert np.diag(matrix).tolist() == frequency.loc[matrix.index].tolist()
    # An off-diagonal cell counted directly.
    a, b = matrix.index[:2]
    flat = episodes["barriers"].list.flatten()  # indexed by episode
    assert flat.index.isin(episodes.index).all() and len(flat) > len(episodes.dropna(subset=["barriers"]))
    both = ((flat == a).groupby(level=0).any() & (flat == b).groupby(level=0).any()).sum()
    assert matrix.loc[a, b] == both


def test_barrier_frequency_counts_episodes_once(episodes):
    exploded = explode_barriers(episodes)
    assert not exploded.duplicated(["episode", "barrier"]).any()
    frequency = barrier_frequency(episodes)
    assert frequency["episodes"].sum() == len(exploded)
    assert (frequency["group_episodes"] == len(episodes)).all()


@pytest.mark.parametrize("by", [None, "lone_worker", "team", "band"])
def test_barrier_frequency_counts_each_groups_distinct_episodes(episodes, by):
    # counted as group sizes: the distinct episodes per barrier and group, also when an episode
    # records a barrier twice, and the same table from an explosion made already
    twice = episodes.assign(barriers=episodes["barriers"].map(
        lambda b: None if b is None else [*b, *b[:1]], na_action="ignore").astype(episodes["barriers"].dtype))
    for frame in (episodes, twice):
        exploded = explode_barriers(frame)
        table = barrier_frequency(frame, by)
        keys = ["barrier"] + ([by] if by else [])
        distinct = exploded.groupby(keys, sort=True)["episode"].nunique().reset_index(drop=True)
        pd.testing.assert_series_equal(table.sort_values(keys, ignore_index=True)["episodes"], distinct,
                                       check_names=False)
        pd.testing.assert_frame_equal(barrier_frequency(frame, by, exploded=exploded), table)


def test_repeat_service_users_match_a_direct_groupby(episodes):
    table = repeat_service_users(episodes, min_episodes=3).set_index("service_user_id")
    people = episodes.dropna(subset=["service_user_id"]).groupby("service_user_id")
    direct = people.size()
    direct = direct[direct >= 3]
    assert len(table) > 0
    assert table["episodes"].to_dict() == direct.to_dict()
    late = people["within_target"].agg(lambda s: int((~s).sum()))
    near = people["outcome"].agg(lambda s: int((s == "near_miss").sum()))
    assert table["late"].to_dict() == late[direct.index].to_dict()
    assert table["near_misses"].to_dict() == near[direct.index].to_dict()
    assert table["episodes"].is_monotonic_decreasing
    assert (table["first"] <= table["last"]).all()


def test_near_miss_table_and_ratio_add_up(episodes):
    by_team = near_miss_table(episodes, "team")
    assert by_team["episodes"].sum() == len(episodes)
    assert by_team["near_misses"].sum() == (episodes["outcome"] == "near_miss").sum()
    ratio = near_miss_ratio(episodes).set_index("quarter")
    assert len(ratio) == 8
    assert (ratio["ratio"] == ratio["near_misses"] / ratio["incidents"]).all()
    lone = near_miss_table(episodes, "lone_worker").set_index("lone_worker")
    assert lone.loc["lone worker", "late_pct"] > lone.loc["accompanied", "late_pct"]


class TestPathwayThemes:
    @staticmethod
    def matching(episodes: pd.DataFrame, pattern: str) -> pd.Series:
        flat = episodes["barriers"].list.flatten()
        hit = flat.str.contains(pattern, flags=re.IGNORECASE, regex=True)
        return pd.Series(False, index=episodes.index) | hit.groupby(level=0).any().reindex(episodes.index, fill_value=False)

    def test_every_theme_is_listed_with_its_question(self, themes):
        table, _ = themes
        assert set(table.index) == set(THEMES)
        assert (table["question"].str.endswith("?")).all()
        assert (table["late"] <= table["episodes"]).all()

    def test_lone_working_theme_counts_the_episodes_meeting_it(self, themes, episodes, truth):
        table, _ = themes
        hit = self.matching(episodes, THEMES["lone_working_conditions"][0])
        assert table.loc["lone_working_conditions", "episodes"] == hit.sum()
        assert table.loc["lone_working_conditions", "late"] == (hit & ~episodes["within_target"]).sum()
        # Planted: these barriers are the lone workers'.
        assert (episodes.loc[hit, "lone_worker_label"] == "lone worker").mean() > 0.9
        assert table.loc["lone_working_conditions", "episodes"] >= 300

    def test_approvals_theme_adds_episodes_over_the_approvals_limit(self, themes, episodes, truth):
        table, adherence = themes
        barrier = self.matching(episodes, THEMES["approvals_before_action"][0])
        exceeded = (adherence["approvals_within_limit"] == False).fillna(False).to_numpy()
        either = barrier.to_numpy() | exceeded
        assert table.loc["approvals_before_action", "episodes"] == either.sum()
        assert table.loc["approvals_before_action", "late"] == (either & ~episodes["within_target"].to_numpy()).sum()
        assert table.index[0] == "approvals_before_action"  # the most common theme in the sample
        alone = pathway_themes(episodes).set_index("theme")
        assert alone.loc["approvals_before_action", "episodes"] == barrier.sum() < either.sum()
