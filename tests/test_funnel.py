"""Tests for escalation_analysis.measures.funnels against published and independently computed limits.

Sources of the expected values:

* PHEindicatormethods ``tests/testthat/testdata_funnel_prop_outputs.csv``: the published
  Fingertips limits for proportions (percent, 6 decimal places) round a baseline of
  80.642448%, and ``testdata_funnel_prop_inputs.csv``: areas with their published
  significance ("High (0.001)" ...).
* Exact binomial limits: Spiegelhalter (2005, appendix A.1.1) recomputed here from the
  regularised incomplete beta function, P(Y ≤ r) = I₁₋θ(n − r, r + 1), with
  ``scipy.stats.beta``, not with the binomial routines the module uses; and funnelR's
  ``qbinom(p, n, theta) / n`` step limits.
* FunnelPlotR ``R/calculate_limits.R`` (proportions, arcsine) and ``R/od_adjustment.R``
  (z-scores, Winsorisation, φ, τ²) recomputed by hand below.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from escalation_analysis.measures.funnels import (
    FUNNEL_POSITIONS,
    Z_95,
    Z_998,
    compute_funnel,
    compute_funnel_limits,
    estimate_overdispersion,
)

LIMITS = ["lower_95", "upper_95", "lower_998", "upper_998"]

# Population: (Lower2s0025limit, Upper2s0025limit, Lower3s0001limit, Upper3s0001limit), percent
PHE_LIMITS = {
    1: (3.204264, 100, 0, 100),
    2: (25.885383, 100, 0, 100),
    3: (35.933491, 100, 10.150815, 100),
    18: (62.390093, 98.894803, 51.864359, 100),
    41: (68.548635, 92.73626, 61.574398, 99.710497),
    50: (69.691035, 91.593861, 63.375595, 97.909301),
    1008: (78.203374, 83.081521, 76.796814, 84.488082),
    23022: (80.13208, 81.152816, 79.837761, 81.447134),
    110000: (80.408963, 80.875933, 80.274317, 81.010578),
}
PHE_BASELINE = 0.80642448

PHE_AREAS = pd.DataFrame(
    [
        ("New Forest PCT", 35078.4880000, 41980, "High (0.001)"),
        ("Norwich PCT", 24803.6256000, 31824, "Low (0.001)"),
        ("South Gloucestershire PCT", 50050.7443000, 61921, "Not significant"),
        ("West Norfolk PCT", 26789.2380000, 33012, "High (0.025)"),
        ("North Tees PCT", 36850.0492000, 45449, "High (0.025)"),
        ("North Devon PCT", 30277.5312000, 37828, "Low (0.025)"),
        ("Exeter PCT", 24866.9160000, 30929, "Not significant"),
        ("Hertsmere PCT", 18550.7595000, 22905, "Not significant"),
    ],
    columns=["area", "numerator", "denominator", "significance"],
)
PHE_TO_POSITION = {
    "High (0.001)": "above_99.8",
    "High (0.025)": "above_95",
    "Not significant": "within",
    "Low (0.025)": "below_95",
    "Low (0.001)": "below_99.8",
}


def _beta_exact_limit(n: int, theta: float, p: float) -> float:
    """Spiegelhalter's interpolated binomial quantile / n, from the incomplete beta function."""
    r = np.arange(n + 1)
    cdf = np.ones(n + 1)
    cdf[:n] = stats.beta.cdf(1 - theta, n - r[:n], r[:n] + 1)
    r_p = int(np.argmax(cdf >= p))
    below = cdf[r_p - 1] if r_p > 0 else 0.0
    alpha = (cdf[r_p] - p) / (cdf[r_p] - below)
    return min(1.0, max(0.0, (r_p - alpha) / n))


def _type7_quantile(values: np.ndarray, q: float) -> float:
    """R's default quantile, written out."""
    x = np.sort(values)
    h = (len(x) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(x) - 1)
    return float(x[lo] + (h - lo) * (x[hi] - x[lo]))


TEAMS = pd.DataFrame(
    {
        "team": list("ABCDEFGHIJ"),
        "within": [45, 80, 30, 150, 60, 20, 95, 70, 40, 110],
        "episodes": [60, 100, 50, 180, 70, 40, 110, 90, 45, 160],
    }
)


class TestNormalLimitsMatchPHEFingertips:
    def test_published_limits_table(self):
        limits = compute_funnel_limits(list(PHE_LIMITS), PHE_BASELINE, method="normal")
        got = 100 * limits[LIMITS].to_numpy()
        expected = np.array(list(PHE_LIMITS.values()), dtype=float)
        np.testing.assert_allclose(got, expected, atol=1e-6)

    def test_published_significance(self):
        funnel = compute_funnel(
            PHE_AREAS,
            "numerator",
            "denominator",
            "area",
            target=PHE_BASELINE,
            method="normal",
            overdispersion=None,
        )
        expected = PHE_AREAS["significance"].map(PHE_TO_POSITION).tolist()
        assert funnel.units["position"].tolist() == expected

    def test_wilson_inversion_is_the_normal_limit(self):
        # PHEindicatormethods' sigma_adjustment(), transcribed: the proportion whose Wilson
        # interval ends at the average
        def sigma_adjustment(p, population, average, side):
            z2 = stats.norm.ppf(p) ** 2
            first = average * (population / z2 + 1)
            adj = np.sqrt(
                (-8 * average * (population / z2 + 1)) ** 2
                - 64
                * (1 / z2 + 1 / population)
                * average
                * (population * (average * (population / z2 + 2) - 1) + z2 * (average - 1))
            )
            last = 1 / z2 + 1 / population
            value = (first - adj / 8) / last if side == "low" else (first + adj / 8) / last
            return value / population

        n = np.array([5, 40, 300, 5000])
        ours = compute_funnel_limits(n, 0.3, method="normal")
        # phe_funnels clips with max(0, ...) and min(100, ...)
        lower = np.maximum(0, sigma_adjustment(0.975, n, 0.3, "low"))
        upper = np.minimum(1, sigma_adjustment(0.999, n, 0.3, "high"))
        assert lower[0] == 0  # clipped at n = 5
        np.testing.assert_allclose(ours["lower_95"], lower)
        np.testing.assert_allclose(ours["upper_998"], upper)


class TestExactBinomialLimits:
    @pytest.mark.parametrize("theta", [0.05, 0.3, 0.757, 0.95])
    @pytest.mark.parametrize("n", [1, 7, 20, 64, 250, 1000])
    def test_matches_incomplete_beta_computation(self, n, theta):
        limits = compute_funnel_limits([n], theta, method="exact").iloc[0]
        for column, p in [
            ("lower_95", 0.025),
            ("upper_95", 0.975),
            ("lower_998", 0.001),
            ("upper_998", 0.999),
        ]:
            assert limits[column] == pytest.approx(_beta_exact_limit(n, theta, p), abs=1e-12)

    def test_without_interpolation_matches_funnelr_qbinom(self):
        n = np.arange(1, 200)
        limits = compute_funnel_limits(n, 0.8, method="exact", interpolate=False)
        np.testing.assert_array_equal(limits["lower_95"], stats.binom.ppf(0.025, n, 0.8) / n)
        np.testing.assert_array_equal(limits["upper_998"], stats.binom.ppf(0.999, n, 0.8) / n)

    def test_interpolated_limits_bracket_the_target_and_narrow(self):
        n = np.arange(1, 2001)
        limits = compute_funnel_limits(n, 0.8, method="exact")
        assert (limits["lower_998"] <= limits["lower_95"]).all()
        assert (limits["lower_95"] <= 0.8).all() and (limits["upper_95"] >= 0.8).all()
        assert (limits["upper_95"] <= limits["upper_998"]).all()
        assert limits[LIMITS].ge(0).all().all() and limits[LIMITS].le(1).all().all()
        # close to the normal limits for large n
        normal = compute_funnel_limits([2000], 0.8, method="normal").iloc[0]
        assert limits.iloc[-1]["lower_95"] == pytest.approx(normal["lower_95"], abs=2e-3)

    def test_whole_denominators_only(self):
        with pytest.raises(ValueError, match="whole-number"):
            compute_funnel_limits([10.5], 0.5, method="exact")


class TestArcsineLimitsMatchFunnelPlotR:
    def test_calculate_limits_pr_formula(self):
        n = np.array([3, 10, 57, 400, 10_000])
        target = 0.757
        limits = compute_funnel_limits(n, target, method="arcsine")
        s = 1 / (2 * np.sqrt(n))
        angle = np.arcsin(np.sqrt(target))
        for suffix, z in (("95", 1.959964), ("998", 3.090232)):
            lower = np.sin(angle - z * s) ** 2
            upper = np.sin(angle + z * s) ** 2
            upper = np.where(angle + z * s > np.pi / 2, 1.0, upper)  # FunnelPlotR truncates
            lower = np.where(angle - z * s < 0, 0.0, lower)
            np.testing.assert_allclose(limits[f"lower_{suffix}"], lower, atol=2e-6)
            np.testing.assert_allclose(limits[f"upper_{suffix}"], upper, atol=2e-6)
        assert limits.loc[0, "upper_998"] == 1.0  # angle beyond π/2 at n = 3

    def test_z_constants(self):
        assert round(Z_95, 6) == 1.959964 and round(Z_998, 6) == 3.090232


class TestOverdispersionMatchesFunnelPlotR:
    def test_phi_and_tau2_by_hand(self):
        num = TEAMS["within"].to_numpy(float)
        den = TEAMS["episodes"].to_numpy(float)
        od = estimate_overdispersion(num, den)
        theta = num.sum() / den.sum()
        # transformed_zscore, data_type = "PR"
        s = 1 / (2 * np.sqrt(den))
        z = (np.arcsin(np.sqrt(num / den)) - np.arcsin(np.sqrt(theta))) / s
        np.testing.assert_allclose(od.z_scores, z, rtol=1e-12)
        # winsorisation(trim_by = 0.1)
        lz, uz = _type7_quantile(z, 0.1), _type7_quantile(z, 0.9)
        w_z = np.where(z < lz, lz, np.where(z > uz, uz, z))
        np.testing.assert_allclose(od.winsorised, w_z, rtol=1e-12)
        phi = np.sum(w_z**2) / len(z)  # phi_func
        w = 1 / s**2
        tau2 = max(0.0, (len(z) * phi - (len(z) - 1)) / (w.sum() - (w**2).sum() / w.sum()))
        assert od.phi == pytest.approx(phi, rel=1e-12)
        assert od.tau2 == pytest.approx(tau2, rel=1e-12)
        assert od.phi > 1 and od.tau2 > 0 and od.n_units == 10

    def test_tau2_is_zero_when_n_phi_below_n_minus_1(self):
        # identical proportions: every z-score is 0, phi = 0
        od = estimate_overdispersion([20, 40, 60, 80], [100, 200, 300, 400])
        assert od.phi == pytest.approx(0, abs=1e-20) and od.tau2 == 0

    def test_tau2_is_positive_once_n_phi_exceeds_n_minus_1_even_below_1(self):
        # FunnelPlotR tau_func: the threshold is phi = (n - 1) / n, here 0.9, not 1
        num = [44, 78, 43, 142, 48, 29, 80, 67, 29, 112]
        den = TEAMS["episodes"].to_numpy()
        od = estimate_overdispersion(num, den)
        assert 0.9 < od.phi < 1
        s2 = 1 / (4 * den)
        w = 1 / s2
        expected = (10 * od.phi - 9) / (w.sum() - (w**2).sum() / w.sum())
        assert od.tau2 == pytest.approx(expected, rel=1e-12)
        assert od.tau2 > 0

    def test_normal_scale(self):
        num = TEAMS["within"].to_numpy(float)
        den = TEAMS["episodes"].to_numpy(float)
        theta = num.sum() / den.sum()
        od = estimate_overdispersion(num, den, scale="normal")
        z = (num / den - theta) / np.sqrt(theta * (1 - theta) / den)
        np.testing.assert_allclose(od.z_scores, z, rtol=1e-12)


class TestComputeFunnel:
    def test_unit_table_and_flags_without_adjustment(self):
        funnel = compute_funnel(TEAMS, "within", "episodes", "team", overdispersion=None)
        units = funnel.units
        theta = TEAMS["within"].sum() / TEAMS["episodes"].sum()
        assert funnel.target == pytest.approx(theta)
        assert not funnel.adjusted and funnel.overdispersion is None
        exact = compute_funnel_limits(TEAMS["episodes"], theta)
        np.testing.assert_allclose(units[LIMITS].to_numpy(), exact[LIMITS].to_numpy())
        p = units["proportion"]
        above = p > units["upper_95"]
        below = p < units["lower_95"]
        assert (units["flag_95"] == np.select([above, below], ["above", "below"], "within")).all()
        assert units.loc[units["unit"] == "F", "position"].item() == "below_99.8"  # 20 of 40
        assert set(units["position"]) <= set(FUNNEL_POSITIONS)
        assert units["od_lower_95"].isna().all()

    def test_a_unit_on_a_limit_is_within_it(self):
        # step limits r/n: 43 of 50 is exactly the upper 95% limit round 75%, 31 the lower
        data = pd.DataFrame({"t": ["on_upper", "on_lower", "above"], "k": [43, 31, 44]})
        data["n"] = 50
        funnel = compute_funnel(
            data, "k", "n", "t", target=0.75, interpolate=False, overdispersion=None
        )
        units = funnel.units
        assert units["upper_95"].iloc[0] == units["proportion"].iloc[0] == 0.86
        assert units["lower_95"].iloc[1] == units["proportion"].iloc[1] == 0.62
        assert units["flag_95"].tolist() == ["within", "within", "above"]

    def test_additive_adjustment_widens_limits_and_decides_flags(self):
        plain = compute_funnel(TEAMS, "within", "episodes", "team", overdispersion=None)
        funnel = compute_funnel(TEAMS, "within", "episodes", "team")
        od = funnel.overdispersion
        assert funnel.adjusted and od.tau2 > 0
        units = funnel.units
        theta = funnel.target
        se = np.sqrt(1 / (4 * TEAMS["episodes"]) + od.tau2)
        angle = np.arcsin(np.sqrt(theta))
        expected = np.sin(np.clip(angle - Z_998 * se, 0, np.pi / 2)) ** 2
        np.testing.assert_allclose(units["od_lower_998"], expected, rtol=1e-12)
        assert (units["od_lower_95"] < units["lower_95"]).all()
        assert (units["od_upper_95"] > units["upper_95"]).all()
        flagged = (plain.units["position"] != "within").sum()
        assert (units["position"] != "within").sum() < flagged
        p = units["proportion"]
        assert (
            units["flag_998"]
            == np.select(
                [p > units["od_upper_998"], p < units["od_lower_998"]],
                ["above", "below"],
                "within",
            )
        ).all()
        assert {"od_lower_95", "od_upper_998"} <= set(funnel.limits.columns)

    def test_multiplicative_adjustment(self):
        funnel = compute_funnel(
            TEAMS, "within", "episodes", "team", overdispersion="multiplicative", scale="normal"
        )
        od = funnel.overdispersion
        theta = funnel.target
        assert funnel.adjusted and od.phi > 1
        half = Z_95 * np.sqrt(od.phi * theta * (1 - theta) / TEAMS["episodes"])
        expected = np.minimum(1.0, theta + half)
        assert (expected == 1).any()  # clipped for the smaller teams
        np.testing.assert_allclose(funnel.units["od_upper_95"], expected, rtol=1e-12)

    def test_no_adjustment_when_no_overdispersion(self):
        data = pd.DataFrame({"t": list("abcd"), "k": [20, 40, 60, 80], "n": [100, 200, 300, 400]})
        funnel = compute_funnel(data, "k", "n", "t")
        assert not funnel.adjusted
        assert funnel.warnings == [
            "No overdispersion was found (phi ≤ 1), so limits are unadjusted."
        ]
        assert (funnel.units["position"] == "within").all()

    def test_phi_between_n_minus_1_over_n_and_1_falls_back_as_funnelplotr(self):
        # FunnelPlotR R/funnel_plot.R (nhs-r-community/FunnelPlotR@9020d49):
        # `if (draw_adjusted == TRUE && draw_unadjusted == FALSE && phi <= 1)` draws the
        # unadjusted limits, although tau_func() already gives tau2 > 0 once n*phi >= n - 1
        data = pd.DataFrame(
            {
                "t": list("abcdefghij"),
                "k": [72, 81, 99, 115, 128, 132, 166, 164, 198, 189],
                "n": [100, 120, 140, 160, 180, 200, 220, 240, 260, 280],
            }
        )
        funnel = compute_funnel(data, "k", "n", "t")
        od = funnel.overdispersion
        assert 0.9 < od.phi <= 1 and od.tau2 > 0
        assert not funnel.adjusted
        assert funnel.units["od_upper_95"].isna().all()
        assert funnel.warnings == ["No overdispersion was found (phi ≤ 1), so limits are unadjusted."]

    def test_rows_for_the_same_unit_are_added_together(self):
        split = pd.concat(
            [TEAMS.assign(within=TEAMS.within // 2, episodes=TEAMS.episodes // 2)] * 2
        )
        split.loc[:, "within"] = np.r_[TEAMS.within // 2, TEAMS.within - TEAMS.within // 2]
        split.loc[:, "episodes"] = np.r_[TEAMS.episodes // 2, TEAMS.episodes - TEAMS.episodes // 2]
        a = compute_funnel(split, "within", "episodes", "team").units
        b = compute_funnel(TEAMS, "within", "episodes", "team").units
        pd.testing.assert_frame_equal(a, b)

    def test_limits_curve_for_plotting(self):
        funnel = compute_funnel(TEAMS, "within", "episodes", "team")
        curve = funnel.limits
        assert curve["denominator"].iloc[0] == 1
        assert curve["denominator"].max() >= TEAMS["episodes"].max()
        assert set(TEAMS["episodes"]) <= set(curve["denominator"])
        assert curve["denominator"].is_monotonic_increasing
        assert curve[LIMITS].ge(0).all().all() and curve[LIMITS].le(1).all().all()
        assert curve["od_lower_95"].is_monotonic_increasing
        assert curve["od_upper_95"].is_monotonic_decreasing

    def test_external_target(self):
        funnel = compute_funnel(
            TEAMS, "within", "episodes", "team", target=0.9, overdispersion=None
        )
        units = funnel.units
        assert (units["target"] == 0.9).all()
        np.testing.assert_allclose(
            units[LIMITS].to_numpy(),
            compute_funnel_limits(TEAMS["episodes"], 0.9)[LIMITS].to_numpy(),
        )
        # against 90%, E (85.7% of 70), G (86.4% of 110) and I (88.9% of 45) are within
        assert units["flag_95"].tolist() == ["below"] * 4 + ["within", "below", "within"] + [
            "below",
            "within",
            "below",
        ]

    @pytest.mark.parametrize(
        ("within", "episodes", "message"),
        [
            ([5, -1], [10, 10], "greater than or equal to zero"),
            ([5, 11], [10, 10], "larger than its denominator"),
            ([5, 0], [10, 0], "greater than zero"),
        ],
    )
    def test_bad_counts(self, within, episodes, message):
        data = pd.DataFrame({"team": ["a", "b"], "k": within, "n": episodes})
        with pytest.raises(ValueError, match=message):
            compute_funnel(data, "k", "n", "team")
