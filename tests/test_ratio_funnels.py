"""Standardised-ratio funnels and the case-mix team comparison.

Sources of the expected values (numbers only, in ``tests/fixtures/``):

* FunnelPlotR, ``nhs-r-community/FunnelPlotR`` at 9020d4972873d863e10b8a16555975f0e322adfc:
  ``tests/testthat/test-poisson_limits.R`` (exact Poisson limits of a standardised ratio) and
  ``tests/testthat/test-outliers_func.R`` (outlier flags judged on supplied limits);
* PHEindicatormethods, ``ukhsa-collaboration/PHEindicatormethods`` at
  093fd288d8f8949dbcfbed70049dbbf385b6141d: ``tests/testthat/testdata_funnel_ratio_inputs.csv``
  (the significance of 300 areas) and ``testdata_funnel_ratio_outputs.csv`` (the ratio
  funnel by observed count);
* the shipped sample's planted out-of-hours team (``truth.json``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from escalation_analysis.measures import casemix
from escalation_analysis.measures.funnels import flag_outliers
from escalation_analysis.measures.ratio_funnels import (
    PHE_SIGNIFICANCE,
    phe_ratio_limits,
    phe_ratio_significance,
    ratio_funnel,
    ratio_funnel_limits,
)
from escalation_analysis.reviews import charts

FIXTURES = Path(__file__).parent / "fixtures"


class TestFunnelPlotR:
    def test_exact_poisson_limits(self):
        reference = pd.read_csv(FIXTURES / "funnelplotr" / "poisson_limits.csv")
        limits = ratio_funnel_limits(reference["expected"])
        # the R test rounds the lower limits to 7 decimals and the upper to 6
        np.testing.assert_allclose(limits["lower_95"].round(7), reference["ll95"], atol=1e-12)
        np.testing.assert_allclose(limits["upper_95"].round(6), reference["ul95"], atol=1e-12)
        np.testing.assert_allclose(limits["lower_998"].round(7), reference["ll99"], atol=1e-12)
        np.testing.assert_allclose(limits["upper_998"].round(6), reference["ul99"], atol=1e-12)

    @pytest.mark.parametrize(
        ("lower", "upper", "expected"),
        [
            ("LCL95", "UCL95", "outlier_95"),
            ("OD95LCL", "OD95UCL", "outlier_95_adjusted"),
            ("LCL99", "UCL99", "outlier_99"),
            ("OD99LCL", "OD99UCL", "outlier_99_adjusted"),
        ],
    )
    def test_outliers_judged_on_supplied_limits(self, lower, upper, expected):
        reference = pd.read_csv(FIXTURES / "funnelplotr" / "outliers.csv")
        flags = flag_outliers(reference["rr"], reference[lower], reference[upper])
        assert (flags != "within").astype(int).tolist() == reference[expected].tolist()

    def test_a_ratio_on_a_limit_is_within(self):
        assert flag_outliers([0.9, 1.1], 0.9, 1.1).tolist() == ["within", "within"]


class TestPHEindicatormethods:
    def test_significance_of_300_published_areas(self):
        areas = pd.read_csv(FIXTURES / "pheindicatormethods" / "funnel_ratio_inputs.csv")
        ours = pd.Series(phe_ratio_significance(areas["obs"], areas["expected"])).map(PHE_SIGNIFICANCE)
        assert ours.tolist() == areas["significance"].tolist()
        assert areas["significance"].nunique() == 5  # every category occurs

    def test_ratio_funnel_by_observed_count(self):
        reference = pd.read_csv(FIXTURES / "pheindicatormethods" / "funnel_ratio_outputs.csv")
        ours = phe_ratio_limits(reference["Observed_events"])
        # PHE finds the limits by bisection to 1e-7 on a (0, 1) scale; ours are exact
        pairs = {"lower_95_expected": "lower_2s_exp_events", "upper_95_expected": "upper_2s_exp_events",
                 "lower_998_expected": "lower_3s_exp_events", "upper_998_expected": "upper_3s_exp_events"}
        for mine, theirs in pairs.items():
            np.testing.assert_allclose(ours[mine], reference[theirs], rtol=1e-4, err_msg=mine)
        for mine, theirs in {"lower_95": "lower_2s_isr", "upper_998": "upper_3s_isr"}.items():
            np.testing.assert_allclose(100 * ours[mine], reference[theirs], rtol=1e-4, err_msg=mine)


class TestRatioFunnel:
    UNITS = pd.DataFrame({"team": list("ABCDE"), "o": [30, 58, 18, 95, 40], "e": [31.0, 40.0, 25.0, 96.0, 41.5]})

    def test_poisson_limits_at_each_units_expected_count(self):
        funnel = ratio_funnel(self.UNITS, "o", "e", "team")
        units = funnel.units.set_index("unit")
        at_own = ratio_funnel_limits(self.UNITS["e"])
        np.testing.assert_allclose(units["upper_95"], at_own["upper_95"])
        assert units.loc["B", "ratio"] == pytest.approx(1.45)
        assert units.loc["B", "position"] == "above_95"
        assert funnel.statistic == "ratio" and funnel.target == 1.0 and not funnel.adjusted

    def test_a_variance_per_unit_gives_normal_limits(self):
        data = self.UNITS.assign(v=self.UNITS["e"] * 0.2)
        units = ratio_funnel(data, "o", "e", "team", variance="v").units.set_index("unit")
        half = 1.959964 * np.sqrt(0.2 / data.set_index("team")["e"])
        np.testing.assert_allclose(units["upper_95"], 1 + half, rtol=1e-6)
        assert units.loc["C", "position"] == "below_99.8"  # 0.72 with a variance of 5

    def test_shmi_overdispersion_is_used_only_when_phi_exceeds_1(self):
        rng = np.random.default_rng(3)
        expected = rng.uniform(50, 400, 30)
        observed = rng.poisson(expected * rng.lognormal(0, 0.25, 30))
        data = pd.DataFrame({"u": range(30), "o": observed, "e": expected})
        funnel = ratio_funnel(data, "o", "e", "u", overdispersion="additive")
        assert funnel.adjusted and funnel.overdispersion.phi > 1 and funnel.overdispersion.tau2 > 0
        # truncation leaves out the 10% most extreme z-scores at each end
        assert funnel.overdispersion.n_units == 24
        plain = ratio_funnel(data, "o", "e", "u")
        assert (funnel.units["position"] != "within").sum() < (plain.units["position"] != "within").sum()

    def test_bad_input(self):
        with pytest.raises(ValueError, match="greater than zero"):
            ratio_funnel(self.UNITS.assign(e=0.0), "o", "e", "team")
        with pytest.raises(ValueError, match="not in the data"):
            ratio_funnel(self.UNITS, "o", "expected", "team")


class TestCaseMix:
    def test_expected_counts_by_indirect_standardisation(self):
        episodes = pd.DataFrame(
            {
                "team": ["A"] * 4 + ["B"] * 4,
                "trigger": ["x"] * 8,
                "band": ["in_hours", "in_hours", "out_of_hours", "out_of_hours",
                         "out_of_hours", "out_of_hours", "out_of_hours", "in_hours"],
                "within_target": [True, True, False, True, False, True, False, True],
            }
        )
        table = casemix.team_ratios(episodes, min_episodes=1).set_index("unit")
        # service rates: in hours 3/3, out of hours 2/5
        assert table.loc["A", "expected"] == pytest.approx(2 * 1.0 + 2 * 0.4)
        assert table.loc["B", "expected"] == pytest.approx(1 * 1.0 + 3 * 0.4)
        assert table.loc["B", "variance"] == pytest.approx(3 * 0.4 * 0.6)
        assert table.loc["A", "expected_crude"] == pytest.approx(4 * 5 / 8)
        assert table["observed"].sum() == table["expected"].sum()  # standardised to the service

    def test_a_team_whose_kinds_of_episode_are_always_within_target_is_left_out_and_named(self):
        # in hours every episode was within target: team C, which only works in hours, has no variance
        episodes = pd.DataFrame({
            "team": ["A"] * 4 + ["B"] * 4 + ["C"] * 3, "trigger": ["x"] * 11,
            "band": ["in_hours", "out_of_hours"] * 4 + ["in_hours"] * 3,
            "within_target": [True, False, True, True, True, False, True, True, True, True, True],
        })
        funnel = casemix.casemix_funnel(episodes, min_episodes=1)
        assert sorted(funnel.units["unit"]) == ["A", "B"]
        assert any(w.startswith("Not placed: C.") for w in funnel.warnings)
        assert casemix.placeable_teams(episodes, min_episodes=1) == 2

    def test_no_escalation_recorded_anywhere_places_no_team(self):
        """An export without escalation times: every episode is not within target."""
        episodes = pd.DataFrame({"team": ["A", "A", "B", "B"], "trigger": ["x"] * 4,
                                 "band": ["in_hours", "out_of_hours"] * 2, "within_target": [False] * 4})
        assert casemix.placeable_teams(episodes, min_episodes=1) == 0
        with pytest.raises(ValueError, match="No team can be placed"):
            casemix.casemix_funnel(episodes, min_episodes=1)

    def test_the_out_of_hours_team_moves_towards_the_centre(self, sample, truth):
        team = truth["out_of_hours_team"]
        plain = casemix.casemix_funnel(sample.history, adjusted=False).units.set_index("unit")
        fair = casemix.casemix_funnel(sample.history).units.set_index("unit")
        table = casemix.team_ratios(sample.history).set_index("unit")
        assert table.loc[team, "share_out_of_hours"] > 0.9
        assert abs(fair.loc[team, "ratio"] - 1) < abs(plain.loc[team, "ratio"] - 1) / 2
        assert plain.loc[team, "position"].startswith("below")
        assert fair.loc[team, "position"] == "within"
        # the deteriorating team is below the limits with or without case mix
        for funnel in (plain, fair):
            assert funnel.loc[truth["deteriorating_team"], "position"] == "below_99.8"

    def test_drawn_as_a_ratio_funnel_without_counts_when_asked(self, sample):
        funnel = casemix.casemix_funnel(sample.history)
        fig = charts.funnel_plot(funnel, "Teams for their case mix", counts=False)
        hover = " ".join(h for trace in fig.data if trace.hovertext for h in trace.hovertext)
        assert "Observed / expected" in hover and "observed," not in hover
        assert fig.layout.yaxis.title.text == "Observed / expected"
        with_counts = charts.funnel_plot(funnel, "Teams")
        hover = " ".join(h for trace in with_counts.data if trace.hovertext for h in trace.hovertext)
        assert "observed," in hover
