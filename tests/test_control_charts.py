"""The qicharts2 family and Anhøj's rules reproduce qicharts2's own reference results.

Source: ``anhoej/qicharts2`` at commit 1b9487ecb3938d25a8a04578464f960d3a064f64.

* ``tests/testthat/test_montgomery.R`` and its ``.rds`` references: ``qic()`` on Montgomery's
  examples (I and MR charts frozen after 20 points, P charts with ``exclude`` and ``part``,
  a C chart with ``exclude`` and ``freeze``, U charts with and without ``multiply``, a T
  chart), every column of ``$data`` that we also return;
* ``tests/testthat/test_hai.R`` (``hai_1.rds``): the summary of a U chart of the package's
  ``hospital_infections`` data by month;
* ``docs/articles/qicharts2.html``, appendix 2: the table of Anhøj's critical values.

The fixtures, copied as numbers only, are in ``tests/fixtures/qicharts2/`` (its README says
which file came from where). qicharts2 counts positions from 1 (``exclude = c(15, 23)``,
``part = 30``); ours count from 0 (``exclude=[14, 22]``, ``rebase=[30]``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from escalation_analysis.measures import anhoej
from escalation_analysis.measures import control_charts as cc

FIXTURES = Path(__file__).parent / "fixtures" / "qicharts2"

MONTGOMERY = {
    "ex_6.5_3": lambda d: cc.i_chart(d["y.sum"], fix_after_n_points=20),
    "ex_6.5_4": lambda d: cc.mr_chart(d["y.sum"], fix_after_n_points=20),
    "ex_7.1_5": lambda d: cc.p_chart(d["y.sum"], d["n"], exclude=[14, 22], rebase=[30]),
    "tbl_7.4_1": lambda d: cc.p_chart(d["y.sum"], d["n"]),
    "ex_7.3_3": lambda d: cc.c_chart(d["y.sum"], exclude=[5, 19], fix_after_n_points=26),
    "ex_7.4_1": lambda d: cc.u_chart(d["y.sum"], d["n"]),
    "ex_7.5_1": lambda d: cc.u_chart(d["y.sum"], d["n"], multiply=50),
    "ex_7.6_1": lambda d: cc.t_chart(d["y.sum"]),
}

NUMBERS = {
    "y": "y",
    "cl": "cl",
    "lcl": "lcl",
    "ucl": "ucl",
    "n_obs": "n.obs",
    "n_useful": "n.useful",
    "longest_run": "longest.run",
    "longest_run_max": "longest.run.max",
    "n_crossings": "n.crossings",
    "n_crossings_min": "n.crossings.min",
}


def _reference(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"{name}.csv")


@pytest.mark.parametrize("name", sorted(MONTGOMERY))
def test_montgomery_examples_match_qicharts2(name):
    reference = _reference(name)
    points = MONTGOMERY[name](reference).points
    for ours, theirs in NUMBERS.items():
        np.testing.assert_allclose(
            points[ours].to_numpy(float), reference[theirs].to_numpy(float),
            rtol=1e-12, atol=1e-12, err_msg=f"{name}: {ours}",
        )
    assert points["sigma_signal"].tolist() == reference["sigma.signal"].tolist()
    assert points["runs_signal"].tolist() == reference["runs.signal"].tolist()
    assert (points["rebase_group"] + 1).tolist() == reference["part"].tolist()
    assert (~points["excluded"]).tolist() == reference["include"].tolist()
    # qicharts2's baseline ignores exclusions; ours is the points that made the limits
    assert (points["baseline"] | points["excluded"]).tolist() == reference["baseline"].tolist()


def test_excluded_points_are_drawn_and_judged_but_make_no_limits():
    # ex_7.3_3: samples 6 and 20 (5 and 39 defects) are outside the limits yet left out
    points = MONTGOMERY["ex_7.3_3"](_reference("ex_7.3_3")).points
    assert points.loc[[5, 19], "sigma_signal"].all()
    assert points.loc[[5, 19], "excluded"].all()
    kept = _reference("ex_7.3_3")["y.sum"].iloc[:26].drop([5, 19])
    assert points.loc[0, "cl"] == pytest.approx(kept.mean())


def test_the_mr_chart_never_signals_runs_as_qicharts2():
    points = MONTGOMERY["ex_6.5_4"](_reference("ex_6.5_4")).points
    assert np.isnan(points.loc[0, "y"]) and not points["runs_signal"].any()
    assert points.loc[0, "n_useful"] == 39  # the first point has no moving range


def test_hospital_infections_summary_matches_qicharts2():
    data = pd.read_csv(FIXTURES / "hospital_infections_by_month.csv", parse_dates=["month"])
    summary = cc.u_chart("n", "days", "month", data=data).summary().iloc[0]
    reference = pd.read_csv(FIXTURES / "hai_1_summary.csv").iloc[0]
    for ours, theirs in {**{k: v for k, v in NUMBERS.items() if k not in ("y", "cl", "lcl", "ucl")},
                         "mean_lcl": "aLCL", "cl": "CL", "mean_ucl": "aUCL",
                         "runs_signal": "runs.signal", "sigma_signal": "sigma.signal"}.items():
        assert float(summary[ours]) == pytest.approx(float(reference[theirs]), abs=5e-7), ours


def test_anhoej_limits_table_matches_the_qicharts2_vignette():
    reference = pd.read_csv(FIXTURES / "anhoej_limits.csv")
    pd.testing.assert_frame_equal(anhoej.limits(10, 100), reference, check_dtype=False)


class TestRunsAnalysis:
    def test_points_on_the_centre_line_are_not_useful(self):
        result = anhoej.runs_analysis([1, 2, 3, 3, 4, 5], centre=3)
        assert (result.n_obs, result.n_useful) == (6, 4)
        assert (result.longest_run, result.n_crossings) == (2, 1)

    def test_a_long_run_signals(self):
        values = [1, 9, 1, 9, 1, 9] + [9] * 8 + [1, 9]
        result = anhoej.runs_analysis(values, centre=5)
        assert result.longest_run == 9 and result.longest_run_max == 7 and result.signal

    def test_few_crossings_signal_without_a_long_run(self):
        # 24 useful points need at least 8 crossings; 6 runs of 4 cross 5 times
        values = ([1] * 4 + [9] * 4) * 3
        result = anhoej.runs_analysis(values, centre=5)
        assert result.longest_run == 4 <= result.longest_run_max
        assert result.n_crossings == 5 < result.n_crossings_min == 8 and result.signal

    def test_random_alternation_does_not_signal(self):
        result = anhoej.runs_analysis([1, 9] * 12, centre=5)
        assert not result.signal and result.n_crossings == 23

    def test_no_useful_points(self):
        result = anhoej.runs_analysis([5, 5, 5], centre=5)
        assert result.n_useful == 0 and result.longest_run is None and not result.signal


class TestChartsWithoutPublishedFixtures:
    """Laney's P′ and U′ and the G chart, checked against their formulas by hand."""

    PROPORTIONS = pd.DataFrame(
        {"k": [410, 455, 350, 560, 470, 380, 440, 520, 430, 460, 415, 480],
         "n": [1000, 1050, 980, 1100, 1020, 990, 1000, 1080, 1010, 1040, 995, 1060]}
    )

    def test_laney_p_prime_widens_p_limits_by_sigma_z(self):
        k, n = self.PROPORTIONS["k"], self.PROPORTIONS["n"]
        plain = cc.p_chart(k, n).points
        laney = cc.pp_chart(k, n, screen_outliers=False).points
        p_bar = k.sum() / n.sum()
        sigma = np.sqrt(p_bar * (1 - p_bar) / n)
        z = (k / n - p_bar) / sigma
        sigma_z = np.abs(np.diff(z)).mean() / 1.128
        np.testing.assert_allclose(laney["ucl"], p_bar + 3 * sigma * sigma_z, rtol=1e-12)
        np.testing.assert_allclose(plain["ucl"], p_bar + 3 * sigma, rtol=1e-12)
        assert sigma_z > 1 and plain["sigma_signal"].sum() > laney["sigma_signal"].sum()

    def test_laney_u_prime_uses_rates(self):
        counts, days = self.PROPORTIONS["k"], self.PROPORTIONS["n"] * 10
        chart = cc.up_chart(counts, days, screen_outliers=False).points
        u_bar = counts.sum() / days.sum()
        sigma = np.sqrt(u_bar / days)
        z = (counts / days - u_bar) / sigma
        sigma_z = np.abs(np.diff(z)).mean() / 1.128
        np.testing.assert_allclose(chart["lcl"], np.maximum(0, u_bar - 3 * sigma * sigma_z), rtol=1e-12)

    def test_g_chart_limits_from_the_mean_and_median_centre_line(self):
        gaps = [12, 30, 5, 44, 18, 9, 27, 61, 14, 22, 3, 35]
        chart = cc.g_chart(gaps).points
        mean = np.mean(gaps)
        assert chart.loc[0, "cl"] == np.median(gaps)
        assert chart.loc[0, "ucl"] == pytest.approx(mean + 3 * np.sqrt(mean * (mean + 1)))
        assert chart.loc[0, "lcl"] == 0

    def test_given_centre_line_and_rebase_by_date(self):
        dates = pd.date_range("2025-01-01", periods=12, freq="MS")
        chart = cc.i_chart([5.0, 6, 5, 7, 6, 5, 15, 16, 15, 17, 16, 15], dates, rebase=["2025-07-01"])
        assert chart.points["rebase_group"].tolist() == [0] * 6 + [1] * 6
        assert chart.summary()["cl"].tolist() == pytest.approx([34 / 6, 94 / 6])
        fixed = cc.i_chart([5.0, 6, 5, 7, 6, 5], centre=4.0)
        assert (fixed.points["cl"] == 4.0).all()


class TestBadInput:
    def test_times_must_be_positive(self):
        with pytest.raises(ValueError, match="greater than zero"):
            cc.t_chart([3.0, 0.0, 5.0])

    def test_numerator_above_denominator(self):
        with pytest.raises(ValueError, match="larger than its denominator"):
            cc.p_chart([5, 12], [10, 10])

    def test_positions_outside_the_chart(self):
        with pytest.raises(ValueError, match="not on the chart"):
            cc.c_chart([1, 2, 3], pd.date_range("2025-01-01", periods=3), exclude=[7])

    @pytest.mark.parametrize("chart", [cc.run_chart, cc.i_chart, cc.mr_chart, cc.c_chart, cc.g_chart, cc.t_chart])
    def test_a_misspelt_setting_is_refused_not_ignored(self, chart):
        with pytest.raises(TypeError, match="rebsae"):
            chart([3, 4, 5, 4], rebsae=[2])
