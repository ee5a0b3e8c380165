"""Tests for escalation_analysis.measures.statistics: known answers, hand-checkable cases, wording."""

from __future__ import annotations

import json
import warnings

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from escalation_analysis.measures.statistics import (
    KM_COLUMNS,
    MIN_GROUP_SIZE,
    Comparison,
    binomial_quantile,
    compare_delays,
    compare_proportions,
    compare_time_to_escalation,
    format_p_value,
    kaplan_meier,
    median_time_to_escalate,
    quantile_minutes,
    share_escalated_by,
    wilson_interval,
)

TOLERANCE = 1e-9
CAUSAL_WORDS = ("cause", "because", "led to", "leads to", "result of", "resulted in")


def random_escalations(seed: int, n: int = 300, groups: tuple[str, ...] = ("a", "b")):
    """Whole-minute durations (many ties, some at 0) with about a third censored."""
    rng = np.random.default_rng(seed)
    durations = rng.integers(0, 90, size=n).astype(float)
    observed = rng.random(n) > 0.35
    group = rng.choice(np.array(groups, dtype=object), size=n)
    return durations, observed, group


def lifelines_km(durations, observed, alpha: float = 0.05) -> KaplanMeierFitter:
    return KaplanMeierFitter(alpha=alpha).fit(durations, event_observed=observed)


# --------------------------------------------------------------------------------------------
# Wilson interval
# --------------------------------------------------------------------------------------------


class TestWilsonInterval:
    @pytest.mark.parametrize("confidence", [0.95, 0.90, 0.99])
    def test_agrees_with_statsmodels_over_a_grid_including_0_and_n(self, confidence):
        n = np.concatenate([np.full(k + 1, k) for k in (1, 2, 3, 5, 10, 37, 100)])
        successes = np.concatenate([np.arange(k + 1) for k in (1, 2, 3, 5, 10, 37, 100)])
        low, high = wilson_interval(successes, n, confidence)
        expected_low, expected_high = proportion_confint(
            successes, n, alpha=1 - confidence, method="wilson"
        )
        npt.assert_allclose(low, expected_low, rtol=0, atol=TOLERANCE)
        npt.assert_allclose(high, expected_high, rtol=0, atol=TOLERANCE)

    def test_hand_checked_eight_out_of_ten(self):
        low, high = wilson_interval(8, 10)
        assert isinstance(low, float)
        assert low == pytest.approx(0.4901624, abs=1e-7)
        assert high == pytest.approx(0.9433178, abs=1e-7)

    def test_zero_and_all_successes_touch_the_bounds(self):
        low, high = wilson_interval(np.array([0, 20]), np.array([20, 20]))
        assert low[0] == pytest.approx(0.0, abs=1e-15)
        assert high[1] == pytest.approx(1.0, abs=1e-15)
        assert np.all((low >= 0) & (high <= 1))

    def test_zero_trials_gives_nan(self):
        low, high = wilson_interval(np.array([0, 3]), np.array([0, 4]))
        assert np.isnan(low[0]) and np.isnan(high[0])
        assert not np.isnan(low[1])

    def test_series_input_keeps_its_index(self):
        successes = pd.Series([3, 9], index=["North", "South"])
        totals = pd.Series([10, 10], index=["North", "South"])
        low, high = wilson_interval(successes, totals)
        assert list(low.index) == list(high.index) == ["North", "South"]
        assert low["South"] > low["North"]

    @pytest.mark.parametrize(("successes", "n"), [(-1, 5), (6, 5), (1, -1)])
    def test_impossible_counts_are_rejected(self, successes, n):
        with pytest.raises(ValueError):
            wilson_interval(successes, n)


# --------------------------------------------------------------------------------------------
# Quantiles
# --------------------------------------------------------------------------------------------


class TestBinomialQuantile:
    """Funnel limits and the Anhøj run-length limit read binomial quantiles."""

    @pytest.mark.parametrize("theta", [0.0, 0.02, 0.3, 0.5, 0.97, 1.0])
    @pytest.mark.parametrize("p", [0.001, 0.025, 0.05, 0.975, 0.999])  # the probabilities the reports use
    def test_agrees_with_scipy_including_no_trials_and_a_certain_outcome(self, p, theta):
        """A team with no episodes, or a service escalating all or none within target, gives the
        limits scipy gives, without a warning printed to the user's terminal."""
        n = np.array([0, 1, 2, 7, 30, 500])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = binomial_quantile(p, n, theta)
        npt.assert_array_equal(got, stats.binom.ppf(p, n, theta))


class TestQuantileMinutes:
    def test_uses_linear_interpolation_like_numpy_and_pandas(self):
        minutes = [3.0, 10.0, 12.0, 45.0, 200.0]
        assert quantile_minutes(minutes, 0.9) == pytest.approx(np.quantile(minutes, 0.9))
        assert quantile_minutes(minutes, 0.9) == pytest.approx(138.0)

    def test_missing_delays_are_ignored_and_empty_gives_nan(self):
        assert quantile_minutes([10.0, np.nan, 30.0], 0.5) == 20.0
        assert np.isnan(quantile_minutes([np.nan], 0.5))

    def test_several_quantiles_give_a_series(self):
        result = quantile_minutes([10, 20, 30, 40], [0.5, 0.9])
        assert result.tolist() == pytest.approx([25.0, 37.0])


# --------------------------------------------------------------------------------------------
# Kaplan-Meier
# --------------------------------------------------------------------------------------------


class TestKaplanMeier:
    def test_hand_checkable_example(self):
        # Escalated at 5 and 10, one open episode censored at 10, escalated at 20.
        km = kaplan_meier([5, 10, 10, 20], [True, True, False, True])
        assert list(km.columns) == list(KM_COLUMNS)
        assert km["time"].tolist() == [0.0, 5.0, 10.0, 20.0]
        assert km["at_risk"].tolist() == [4, 4, 3, 1]
        assert km["events"].tolist() == [0, 1, 1, 1]
        assert km["censored"].tolist() == [0, 0, 1, 0]
        npt.assert_allclose(km["survival"], [1.0, 0.75, 0.5, 0.0])
        npt.assert_allclose(km["cumulative_escalated"], [0.0, 0.25, 0.5, 1.0])
        # Greenwood: S^2 * sum d / (n (n - d)); at 10: 0.25 * (1/12 + 1/6) = 1/16.
        npt.assert_allclose(km["greenwood_variance"], [0.0, 0.5625 / 12, 1 / 16, 0.0])
        assert (km["group"] == "All").all()

    def test_agrees_with_lifelines_survival_and_interval_per_group(self):
        durations, observed, group = random_escalations(seed=11, n=400)
        km = kaplan_meier(durations, observed, group)
        for name, curve in km.groupby("group"):
            mask = group == name
            fitter = lifelines_km(durations[mask], observed[mask])
            expected = fitter.survival_function_.iloc[:, 0]
            interval = fitter.confidence_interval_
            npt.assert_array_equal(curve["time"], expected.index.to_numpy())
            npt.assert_allclose(curve["survival"], expected, rtol=0, atol=TOLERANCE)
            npt.assert_allclose(curve["survival_ci_low"], interval.iloc[:, 0], atol=TOLERANCE)
            npt.assert_allclose(curve["survival_ci_high"], interval.iloc[:, 1], atol=TOLERANCE)
            npt.assert_allclose(curve["at_risk"], fitter.event_table["at_risk"].to_numpy(), atol=0)

    def test_agrees_with_lifelines_at_another_confidence_level(self):
        durations, observed, _ = random_escalations(seed=5, n=150)
        km = kaplan_meier(durations, observed, confidence=0.9)
        interval = lifelines_km(durations, observed, alpha=0.1).confidence_interval_
        npt.assert_allclose(km["survival_ci_low"], interval.iloc[:, 0], atol=TOLERANCE)
        npt.assert_allclose(km["survival_ci_high"], interval.iloc[:, 1], atol=TOLERANCE)

    def test_everyone_escalating_drives_survival_to_zero_like_lifelines(self):
        durations = np.array([1.0, 2.0, 2.0, 3.0, 3.0])
        observed = np.ones(5, dtype=bool)
        km = kaplan_meier(durations, observed)
        fitter = lifelines_km(durations, observed)
        npt.assert_allclose(km["survival"], fitter.survival_function_.iloc[:, 0], atol=TOLERANCE)
        npt.assert_allclose(
            km["survival_ci_low"], fitter.confidence_interval_.iloc[:, 0], atol=TOLERANCE
        )
        assert km["survival"].iloc[-1] == 0.0

    def test_escalations_at_zero_minutes_count_at_time_zero(self):
        km = kaplan_meier([0.0, 0.0, 10.0, 20.0], [True, True, True, False])
        assert km["time"].tolist() == [0.0, 10.0, 20.0]
        assert km["survival"].iloc[0] == pytest.approx(0.5)

    def test_every_group_starts_at_time_zero_with_nothing_escalated(self):
        km = kaplan_meier([4.0, 6.0, 8.0], [True, False, True], ["x", "y", "y"])
        starts = km.loc[km["time"] == 0]
        assert starts["group"].tolist() == ["x", "y"]
        assert starts["survival"].tolist() == [1.0, 1.0]
        assert starts["at_risk"].tolist() == [1, 2]

    def test_accepts_nullable_and_arrow_booleans_and_categorical_groups(self):
        observed = pd.Series([True, False, True], dtype="bool[pyarrow]")
        groups = pd.Series(["x", "y", "y"], dtype="category")
        km = kaplan_meier([1.0, 2.0, 3.0], observed, groups)
        assert km["events"].tolist() == [0, 1, 0, 0, 1]
        nullable = pd.array([True, False, True], dtype="boolean")
        assert kaplan_meier([1.0, 2.0, 3.0], nullable)["events"].tolist() == [0, 1, 0, 1]

    def test_series_inputs_align_by_position_not_index(self):
        durations = pd.Series([5.0, 10.0], index=[10, 20])
        observed = pd.Series([True, False], index=[0, 1])
        km = kaplan_meier(durations, observed)
        assert km["events"].tolist() == [0, 1, 0]

    def test_empty_input_gives_empty_frame_with_the_columns(self):
        km = kaplan_meier(np.array([]), np.array([], dtype=bool))
        assert km.empty and list(km.columns) == list(KM_COLUMNS)

    @pytest.mark.parametrize(
        ("durations", "observed", "groups"),
        [
            ([1.0, np.nan], [True, False], None),
            ([1.0, -2.0], [True, True], None),
            ([1.0, 2.0], [True, None], None),
            ([1.0, 2.0], ["yes", "no"], None),
            ([1.0, 2.0], [True], None),
            ([1.0, 2.0], [True, True], ["a", None]),
        ],
    )
    def test_bad_input_is_rejected(self, durations, observed, groups):
        with pytest.raises(ValueError):
            kaplan_meier(durations, observed, groups)


class TestShareEscalatedBy:
    def test_reads_the_right_continuous_step(self):
        km = kaplan_meier([5, 10, 10, 20], [True, True, False, True])
        assert share_escalated_by(km, 4.9).tolist() == [0.0]
        assert share_escalated_by(km, 5).tolist() == [0.25]
        assert share_escalated_by(km, 15).tolist() == [0.5]
        assert share_escalated_by(km, 1000).tolist() == [1.0]

    def test_agrees_with_lifelines_prediction_per_group(self):
        durations, observed, group = random_escalations(seed=3, n=300)
        km = kaplan_meier(durations, observed, group)
        for minutes in (0, 7.5, 30, 60, 89):
            shares = share_escalated_by(km, minutes)
            for name in ("a", "b"):
                mask = group == name
                expected = 1 - lifelines_km(durations[mask], observed[mask]).predict(minutes)
                assert shares[name] == pytest.approx(expected, abs=TOLERANCE)

    def test_negative_minutes_are_rejected(self):
        with pytest.raises(ValueError):
            share_escalated_by(kaplan_meier([1.0], [True]), -1)


class TestMedianTimeToEscalate:
    def test_agrees_with_lifelines(self):
        durations, observed, group = random_escalations(seed=8, n=300)
        medians = median_time_to_escalate(kaplan_meier(durations, observed, group))
        for name in ("a", "b"):
            mask = group == name
            expected = lifelines_km(durations[mask], observed[mask]).median_survival_time_
            assert medians[name] == expected

    def test_not_reached_is_infinite(self):
        km = kaplan_meier([5.0, 10.0, 20.0], [True, False, False])
        assert median_time_to_escalate(km).tolist() == [np.inf]


# --------------------------------------------------------------------------------------------
# p-values and wording helpers
# --------------------------------------------------------------------------------------------


class TestFormatPValue:
    @pytest.mark.parametrize(
        ("p_value", "expected"),
        [
            (0.0312, "p = 0.03"),
            (0.41, "p = 0.41"),
            (0.0042, "p = 0.004"),
            (0.00099, "p < 0.001"),
            (0.0496, "p = 0.0496"),
            (0.0504, "p = 0.0504"),
            (0.9999, "p > 0.99"),
            (float("nan"), "p not available"),
        ],
    )
    def test_formats(self, p_value, expected):
        assert format_p_value(p_value) == expected


def assert_no_causal_claim(text: str) -> None:
    lowered = text.lower()
    assert not any(word in lowered for word in CAUSAL_WORDS), text


# --------------------------------------------------------------------------------------------
# compare_delays
# --------------------------------------------------------------------------------------------


class TestCompareDelays:
    def test_rank_biserial_agrees_with_counting_every_pair(self):
        rng = np.random.default_rng(21)
        a = rng.integers(0, 60, 80).astype(float)  # ties within and across groups
        b = rng.integers(10, 70, 90).astype(float)
        result = compare_delays(a, b)
        b_longer = (b[None, :] > a[:, None]).mean()
        a_longer = (b[None, :] < a[:, None]).mean()
        assert result.effects["rank_biserial"].value == pytest.approx(b_longer - a_longer)
        reference = stats.mannwhitneyu(a, b, alternative="two-sided")
        assert result.statistic == pytest.approx(reference.statistic)
        assert result.p_value == pytest.approx(reference.pvalue, abs=TOLERANCE)

    def test_hand_checkable_medians(self):
        result = compare_delays([1, 2, 3], [4, 5, 6, 7])
        assert result.effects["rank_biserial"].value == 1.0
        assert result.effects["median_ratio"].value == pytest.approx(5.5 / 2)
        assert result.effects["median_difference_minutes"].value == pytest.approx(3.5)
        assert (result.n_a, result.n_b) == (3, 4)

    def test_big_real_difference_is_unlikely_to_be_chance(self):
        rng = np.random.default_rng(1)
        out_of_hours = rng.lognormal(np.log(60), 0.4, 200)
        in_hours = rng.lognormal(np.log(20), 0.4, 200)
        result = compare_delays(out_of_hours, in_hours, "out of hours", "in hours")
        assert result.significant and not result.too_small
        assert result.wording.startswith("The median delay to escalate was ")
        assert "out of hours compared with" in result.wording
        assert "A difference this large is unlikely to be chance (p < 0.001)." in result.wording
        assert_no_causal_claim(result.wording)

    def test_five_versus_six_episodes_is_too_small_even_when_p_is_small(self):
        result = compare_delays([1, 2, 3, 4, 5], [100, 110, 120, 130, 140, 150])
        assert result.p_value < 0.05
        assert result.too_small
        assert "too small to say whether this difference is real" in result.wording
        assert "unlikely to be chance" not in result.wording

    def test_no_real_difference_is_not_claimed(self):
        rng = np.random.default_rng(2)
        result = compare_delays(rng.exponential(30, 300), rng.exponential(30, 300))
        assert not result.significant
        assert "could be due to chance" in result.wording
        assert "unlikely" not in result.wording

    def test_wording_gives_half_minutes_so_the_difference_adds_up(self):
        a = np.arange(40.0)  # median 19.5
        result = compare_delays(a, a + 5, "for Team North", "for Team South")
        assert result.wording.startswith(
            "The median delay to escalate was 19.5 minutes for Team North compared with "
            "24.5 minutes for Team South (a difference of 5 minutes)."
        )

    def test_missing_delays_are_dropped_and_an_empty_group_is_handled(self):
        result = compare_delays([np.nan, 5.0], [6.0, 7.0])
        assert result.n_a == 1
        empty = compare_delays([np.nan], [6.0, 7.0], "out of hours", "in hours")
        assert np.isnan(empty.p_value) and empty.too_small
        assert empty.wording == "There are no delays to compare out of hours."


# --------------------------------------------------------------------------------------------
# compare_time_to_escalation
# --------------------------------------------------------------------------------------------


# lifelines 0.30 itself triggers pandas 4 deprecation warnings; they are not ours.
@pytest.mark.filterwarnings("ignore:Starting with pandas version 4.0:Warning")
class TestCompareTimeToEscalation:
    @pytest.mark.parametrize("seed", [0, 1, 2, 3])
    def test_agrees_with_lifelines_logrank(self, seed):
        durations, observed, group = random_escalations(seed=seed, n=250)
        result = compare_time_to_escalation(durations, observed, group)
        a, b = group == "a", group == "b"
        reference = logrank_test(durations[a], durations[b], observed[a], observed[b])
        assert result.statistic == pytest.approx(reference.test_statistic, abs=TOLERANCE)
        assert result.p_value == pytest.approx(reference.p_value, abs=TOLERANCE)

    def test_agrees_with_lifelines_when_one_group_outlasts_the_other(self):
        durations = np.array([1, 2, 2, 3, 3, 4, 5, 8, 9, 9, 12, 15], dtype=float)
        observed = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1], dtype=bool)
        group = np.array(["a"] * 6 + ["b"] * 6)
        result = compare_time_to_escalation(durations, observed, group)
        reference = logrank_test(durations[:6], durations[6:], observed[:6], observed[6:])
        assert result.statistic == pytest.approx(reference.test_statistic, abs=TOLERANCE)
        assert result.p_value == pytest.approx(reference.p_value, abs=TOLERANCE)

    def test_hand_checkable_statistic(self):
        # Times 1,2 (a) vs 3,4 (b): E_b = 1/2 + 2/3 + 1 + 1, V = 1/4 + 2/9, O_b = 2.
        result = compare_time_to_escalation([1, 2, 3, 4], [True] * 4, ["a", "a", "b", "b"])
        expected = (2 - (0.5 + 2 / 3 + 2)) ** 2 / (0.25 + 2 / 9)
        assert result.statistic == pytest.approx(expected)

    def test_faster_group_has_hazard_ratio_above_one_and_swapping_inverts_it(self):
        rng = np.random.default_rng(4)
        durations = np.concatenate([rng.exponential(60, 150), rng.exponential(20, 150)])
        observed = rng.random(300) > 0.2
        group = np.array(["out of hours"] * 150 + ["in hours"] * 150)
        order = ("out of hours", "in hours")
        result = compare_time_to_escalation(durations, observed, group, order=order)
        swapped = compare_time_to_escalation(durations, observed, group, order=order[::-1])
        assert result.effects["hazard_ratio"].value > 1
        assert swapped.effects["hazard_ratio"].value == pytest.approx(
            1 / result.effects["hazard_ratio"].value
        )
        assert swapped.statistic == pytest.approx(result.statistic)
        assert result.significant and not result.too_small
        assert "unlikely to be chance (p < 0.001)" in result.wording
        assert result.wording.startswith("Allowing for episodes with no escalation recorded yet")
        assert_no_causal_claim(result.wording)

    def test_medians_agree_with_lifelines(self):
        durations, observed, group = random_escalations(seed=9, n=200)
        result = compare_time_to_escalation(durations, observed, group)
        a = group == "a"
        expected = lifelines_km(durations[a], observed[a]).median_survival_time_
        assert result.effects["median_minutes_a"].value == expected

    def test_five_versus_six_episodes_is_too_small(self):
        durations = [1, 2, 3, 4, 5, 50, 60, 70, 80, 90, 100]
        group = ["a"] * 5 + ["b"] * 6
        result = compare_time_to_escalation(durations, [True] * 11, group)
        assert result.too_small and (result.n_a, result.n_b) == (5, 6)
        assert result.wording.endswith(
            "The numbers are too small to say whether this difference is real."
        )

    def test_needs_exactly_two_groups(self):
        with pytest.raises(ValueError):
            compare_time_to_escalation([1, 2, 3], [True] * 3, ["a", "b", "c"])

    def test_a_named_group_with_no_episodes_is_handled(self):
        result = compare_time_to_escalation(
            [1.0, 2.0], [True, True], ["a", "a"], order=("a", "b"), label_b="in hours"
        )
        assert np.isnan(result.p_value)
        assert result.wording == "There are no episodes to compare in hours."


# --------------------------------------------------------------------------------------------
# compare_proportions
# --------------------------------------------------------------------------------------------


class TestCompareProportions:
    def test_uses_uncorrected_chi_square_when_expected_counts_are_large(self):
        result = compare_proportions(61, 100, 82, 100)
        statistic, p_value, _, _ = stats.chi2_contingency([[61, 39], [82, 18]], correction=False)
        assert result.test == "chi-square (no continuity correction)"
        assert result.statistic == pytest.approx(statistic)
        assert result.p_value == pytest.approx(p_value, abs=TOLERANCE)

    def test_uses_fisher_when_an_expected_count_is_below_five(self):
        result = compare_proportions(1, 30, 6, 30)  # expected successes 3.5 per group
        reference = stats.fisher_exact([[1, 29], [6, 24]])
        assert result.test == "Fisher's exact"
        assert result.p_value == pytest.approx(reference.pvalue, abs=TOLERANCE)

    @pytest.mark.parametrize(
        ("success_a", "n_a", "success_b", "n_b"),
        [(61, 100, 82, 100), (0, 12, 5, 9), (7, 7, 3, 40), (150, 400, 150, 380), (1, 3, 0, 1)],
    )
    def test_newcombe_interval_agrees_with_statsmodels(self, success_a, n_a, success_b, n_b):
        result = compare_proportions(success_a, n_a, success_b, n_b)
        low, high = confint_proportions_2indep(
            success_b, n_b, success_a, n_a, method="newcomb", compare="diff"
        )
        difference = result.effects["difference_pp"]
        assert difference.value == pytest.approx(100 * (success_b / n_b - success_a / n_a))
        assert difference.ci_low == pytest.approx(100 * low, abs=1e-7)
        assert difference.ci_high == pytest.approx(100 * high, abs=1e-7)

    def test_relative_risk_and_odds_ratio_by_hand(self):
        result = compare_proportions(20, 40, 30, 40)
        assert result.effects["relative_risk"].value == pytest.approx(0.75 / 0.5)
        assert result.effects["odds_ratio"].value == pytest.approx((30 / 10) / (20 / 20))

    def test_big_real_difference_wording(self):
        result = compare_proportions(
            244, 400, 328, 400, "out of hours", "in hours", "of escalations were within target"
        )
        assert result.wording == (
            "Out of hours, 61% of escalations were within target compared with 82% in hours "
            "(a difference of 21 percentage points, 95% CI 15 to 27). "
            "A difference this large is unlikely to be chance (p < 0.001)."
        )
        assert_no_causal_claim(result.wording)

    def test_five_versus_six_episodes_is_too_small_even_when_p_is_small(self):
        result = compare_proportions(0, 5, 6, 6, "for Team North", "for Team South")
        assert result.p_value < 0.05
        assert result.too_small
        assert result.wording.startswith("For Team North, 0% of episodes")
        assert result.wording.endswith(
            "The numbers are too small to say whether this difference is real."
        )

    def test_non_significant_difference_is_not_claimed(self):
        result = compare_proportions(40, 100, 45, 100, "out of hours", "in hours")
        assert not result.significant
        assert "could be due to chance (p = 0.47)" in result.wording
        assert "95% CI -9 to 18" in result.wording

    def test_negative_difference_is_described_as_a_positive_gap_with_matching_interval(self):
        result = compare_proportions(82, 100, 61, 100)
        assert result.effects["difference_pp"].value < 0
        assert "a difference of 21 percentage points, 95% CI 9 to 33" in result.wording

    def test_percentages_never_round_to_0_or_100_misleadingly(self):
        result = compare_proportions(399, 400, 1, 400)
        assert result.wording.startswith("In group A, over 99% of episodes")
        assert "compared with under 1% in group B" in result.wording

    def test_result_serialises_to_json(self):
        result = compare_proportions(61, 100, 82, 100)
        assert isinstance(result, Comparison)
        payload = json.loads(json.dumps(result.to_dict()))
        assert payload["effects"]["difference_pp"]["value"] == pytest.approx(21.0)

    def test_threshold_for_too_small_is_the_documented_constant(self):
        just_enough = compare_proportions(5, MIN_GROUP_SIZE, 15, MIN_GROUP_SIZE)
        one_short = compare_proportions(5, MIN_GROUP_SIZE - 1, 15, MIN_GROUP_SIZE)
        assert not just_enough.too_small and one_short.too_small

    def test_impossible_counts_are_rejected(self):
        with pytest.raises(ValueError):
            compare_proportions(11, 10, 5, 10)

    def test_an_empty_group_is_handled(self):
        result = compare_proportions(0, 0, 5, 10, "out of hours", "in hours")
        assert np.isnan(result.p_value)
        assert result.wording == "There are no episodes to compare out of hours."
