"""Tests for escalation_analysis.measures.spc against NHSRplotthedots and qicharts2 known answers.

Sources of the expected values:

* ``vignettes/deviations.Rmd`` (NHSRplotthedots): screened and unscreened limits for a small
  series, printed in the figure captions.
* ``tests/testthat/_snaps/ptd_spc_standard.md``: mean and limits for ``set.seed(123);
  rnorm(20)`` (printed to 3 significant figures).
* ``tests/testthat/_snaps/integration_tests.md``: serialised R objects for
  ``ptd_spc(ae_all(), attendances, period)``, the same rebased at 2017-04-01, and
  ``ptd_spc(ae_all(), performance, period, fix_after_n_points = 12)``, where ``ae_all()`` sums
  NHSRdatasets' ``ae_attendances`` by month. The values below were decoded from those
  snapshots (R's XDR serialisation: doubles are exact).
* ``tests/testthat/test-ptd_calculate_point_type.R`` and ``test-ptd_spc_standard.R``: the rule
  examples.
* qicharts2 ``R/qic.charts.R`` (``qic.p``) for the p-chart formula, checked on Pyzdek's
  bruised-peaches data (*The Handbook for Quality Management*, table 9.6).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from escalation_analysis.measures import spc_rules
from escalation_analysis.measures.spc import POINT_TYPES, p_chart, short_group_warning, xmr

# --------------------------------------------------------------------------------------------
# data

VIGNETTE_Y = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]

RNORM_123 = [  # R: set.seed(123); rnorm(20)
    -0.56047565, -0.23017749, 1.55870831, 0.07050839, 0.12928774,
    1.71506499, 0.46091621, -1.26506123, -0.68685285, -0.44566197,
    1.22408180, 0.35981383, 0.40077145, 0.11068272, -0.55584113,
    1.78691314, 0.49785048, -1.96661716, 0.70135590, -0.47279141,
]  # fmt: skip

AE_PERIODS = pd.date_range("2016-04-01", periods=36, freq="MS")

AE_ATTENDANCES = [  # ae_all()$attendances, April 2016 to March 2019
    1867781, 2070340, 1958802, 2079034, 1932901, 1952464, 2001816, 1907871, 1944567,
    1895272, 1735619, 2015834, 1949762, 2066789, 1994056, 2073944, 1924663, 1925961,
    2044137, 1976971, 2003954, 2000086, 1820012, 2049785, 1984369, 2164458, 2093942,
    2179896, 1997854, 2005695, 2079492, 2037847, 2047518, 2113413, 1954947, 2167550,
]  # fmt: skip

AE_PERFORMANCE = [  # ae_all()$performance = 1 - breaches / attendances
    0.9003512724457525, 0.9027555860390081, 0.9055994429248081, 0.9028524786030435,
    0.909763097023593, 0.9064786853944554, 0.8905308979446662, 0.8837903610883545,
    0.8617594559611471, 0.851413411900772, 0.8753090395991286, 0.9000949482943537,
    0.9051525263083392, 0.8970035160821932, 0.9072518525056468, 0.9034785895858326,
    0.9029928875860346, 0.8966609396555797, 0.8994186788850258, 0.8876655246839736,
    0.8498503458662225, 0.8529918213516818, 0.8504476893558943, 0.8462121637147311,
    0.8857248828216929, 0.9039011151983545, 0.9076297242234981, 0.8931949047110505,
    0.8972702710007838, 0.8894368286304747, 0.8900933497219513, 0.8760446687116353,
    0.8644632183941728, 0.843525141560121, 0.8422525009629417, 0.8660427671795345,
]  # fmt: skip

CC, SCI, SCC = "common_cause", "special_cause_improvement", "special_cause_concern"


def _series(values, start="2021-03-22", freq="D") -> pd.Series:
    return pd.Series(
        values, index=pd.date_range(start, periods=len(values), freq=freq), dtype=float
    )


# --------------------------------------------------------------------------------------------
# XmR limits


class TestXmRLimitsMatchNHSRplotthedots:
    def test_deviations_vignette_screened_limits(self):
        chart = xmr(_series(VIGNETTE_Y))
        first = chart.points.iloc[0]
        # caption: "UPL = 4.6, Mean = 1.94, LPL = -0.72"
        assert round(first["upl"], 2) == 4.6
        assert round(first["mean"], 2) == 1.94
        assert round(first["lpl"], 2) == -0.72
        # by hand: moving ranges 8 and 9 are screened out, the other 15 are all 1
        assert first["upl"] == pytest.approx(35 / 18 + 2.66 * 1.0, abs=1e-12)
        assert chart.points["moving_range_in_baseline"].sum() == 15
        # "four grey common cause points followed by a single blue special cause improvement"
        expected = [CC] * 18
        expected[4] = SCI
        assert chart.points["point_type"].tolist() == expected

    def test_deviations_vignette_unscreened_limits_match_excel(self):
        chart = xmr(_series(VIGNETTE_Y), screen_outliers=False)
        first = chart.points.iloc[0]
        # caption: "UPL = 6.95, Mean = 1.94, LPL = -3.06"
        assert (round(first["upl"], 2), round(first["lpl"], 2)) == (6.95, -3.06)
        assert first["upl"] == pytest.approx(35 / 18 + 2.66 * 32 / 17, abs=1e-12)
        assert chart.points.loc[4, "point_type"] == SCI

    def test_ptd_spc_standard_snapshot(self):
        first = xmr(pd.Series(RNORM_123)).points.iloc[0]
        # snapshot: mean 0.142, lpl -3.01, upl 3.29 (3 significant figures)
        assert round(first["mean"], 3) == 0.142
        assert round(first["lpl"], 2) == -3.01
        assert round(first["upl"], 2) == 3.29

    def test_screening_changes_limits_as_in_ptd_spc_standard_tests(self):
        y = list(RNORM_123)
        r1 = xmr(pd.Series(y)).points.iloc[0]
        y[14] = 10  # R: data$y[15] <- 10
        r2 = xmr(pd.Series(y)).points.iloc[0]
        r3 = xmr(pd.Series(y), screen_outliers=False).points.iloc[0]
        for a, b in [(r1, r2), (r1, r3), (r2, r3)]:
            assert a["lpl"] != b["lpl"] and a["upl"] != b["upl"]
        assert r3["upl"] - r3["lpl"] > r2["upl"] - r2["lpl"]
        # _snaps/ptd_spc_standard.md, r2 (screened) and r3 (unscreened), 7 significant figures
        assert f"{r2['mean']:.7g} {r2['lpl']:.7g} {r2['upl']:.7g}" == "0.6694159 -2.383666 3.722497"
        assert f"{r3['lpl']:.7g} {r3['upl']:.7g}" == "-4.596625 5.935457"
        assert f"{r1['lpl']:.6g} {r1['upl']:.7g}" == "-3.01138 3.294627"

    def test_ae_attendances_integration_snapshot(self):
        data = pd.DataFrame({"period": AE_PERIODS, "attendances": AE_ATTENDANCES})
        chart = xmr("attendances", "period", data=data)
        pts = chart.points
        np.testing.assert_allclose(pts["mean"], 2000538.9444444445, rtol=1e-13)
        np.testing.assert_allclose(pts["lpl"], 1731844.3644444444, rtol=1e-13)
        np.testing.assert_allclose(pts["upl"], 2269233.5244444446, rtol=1e-13)
        assert (pts["point_type"] == CC).all()
        assert chart.warnings == []

    def test_ae_attendances_rebased_snapshot(self):
        data = pd.DataFrame({"period": AE_PERIODS, "attendances": AE_ATTENDANCES})
        chart = xmr("attendances", "period", data=data, rebase=["2017-04-01"])
        pts = chart.points
        assert pts["rebase_group"].tolist() == [0] * 12 + [1] * 24
        expected = {
            0: (1946858.4166666667, 1639947.374848485, 2253769.4584848485),
            1: (2027379.2083333333, 1772921.0639855072, 2281837.3526811595),
        }
        for group, (mean, lpl, upl) in expected.items():
            rows = pts[pts["rebase_group"] == group]
            np.testing.assert_allclose(rows["mean"], mean, rtol=1e-13)
            np.testing.assert_allclose(rows["lpl"], lpl, rtol=1e-13)
            np.testing.assert_allclose(rows["upl"], upl, rtol=1e-13)
        assert (pts["point_type"] == CC).all()
        assert chart.warnings == [short_group_warning(13)]  # 12 points is short (code: n < 13)

    def test_ae_performance_fixed_after_12_points_snapshot(self):
        chart = xmr(
            _series(AE_PERFORMANCE, "2016-04-01", "MS"), fix_after_n_points=12
        )
        pts = chart.points
        np.testing.assert_allclose(pts["mean"], 0.8908915564349236, rtol=1e-13)
        np.testing.assert_allclose(pts["lpl"], 0.8614049789074258, rtol=1e-13)
        np.testing.assert_allclose(pts["upl"], 0.9203781339624213, rtol=1e-13)
        outside = [0] * 36
        for i in (9, 20, 21, 22, 23, 33, 34):
            outside[i] = 1
        assert pts["outside_limits"].astype(int).tolist() == outside
        relative = [1] * 6 + [-1] * 5 + [1] * 8 + [-1] * 6 + [1] * 4 + [-1] * 7
        assert pts["relative_to_mean"].tolist() == relative
        close = [0] * 36
        for i in (8, 32, 35):
            close[i] = 1
        assert pts["close_to_limits"].astype(int).tolist() == close
        expected = [CC] * 9 + [SCC, CC] + [SCI] * 8 + [CC] + [SCC] * 4 + [CC] * 5 + [SCC] * 7
        assert pts["point_type"].tolist() == expected
        assert chart.variation_icon == "concern_low"

    @pytest.mark.parametrize(("ratio", "kept"), [(3.2, 20), (3.3, 19)])
    def test_moving_ranges_strictly_below_3267_times_their_mean_are_kept(self, ratio, kept):
        # 19 moving ranges of 1 and one of m, where m / mean(all 20) = ratio
        m = 19 * ratio / (20 - ratio)
        y = [0.0, 1.0] * 10
        y.append(y[-1] + m)
        pts = xmr(pd.Series(y)).points
        assert pts["moving_range"].iloc[-1] == pytest.approx(m)
        assert pts["moving_range_in_baseline"].sum() == kept

    def test_fix_after_n_points_uses_only_the_first_points(self):
        y = list(AE_PERFORMANCE)
        before = xmr(pd.Series(y), fix_after_n_points=12).points
        y[20:] = [0.5] * 16
        after = xmr(pd.Series(y), fix_after_n_points=12).points
        assert after["upl"].iloc[0] == before["upl"].iloc[0]
        assert after["moving_range_in_baseline"].iloc[12:].sum() == 0

    def test_fix_after_fewer_than_12_points_is_refused_as_in_ptd_spc_options(self):
        with pytest.raises(ValueError, match="greater than or equal to 12"):
            xmr(pd.Series(RNORM_123), fix_after_n_points=11)

    def test_constant_series_has_limits_on_the_mean(self):
        pts = xmr(pd.Series([3.0] * 15)).points
        assert (pts["lpl"] == 3).all() and (pts["upl"] == 3).all()
        assert (pts["point_type"] == CC).all()

    def test_input_errors(self):
        with pytest.raises(ValueError, match="missing"):
            xmr(pd.Series([1.0, np.nan, 2.0]))
        with pytest.raises(ValueError, match="Duplicate"):
            xmr(pd.Series([1.0, 2.0], index=[1, 1]))
        with pytest.raises(ValueError, match="improvement must be"):
            xmr(pd.Series([1.0, 2.0]), improvement="up")

    def test_a_misspelt_setting_is_refused_not_ignored(self):
        with pytest.raises(TypeError, match="taregt"):
            xmr(pd.Series([1.0, 2.0, 3.0]), taregt=2)
        with pytest.raises(TypeError, match="taregt"):
            p_chart([1, 2], [4, 4], taregt=0.5)

    def test_unsorted_input_is_put_in_period_order(self):
        s = _series(VIGNETTE_Y)
        shuffled = s.sample(frac=1, random_state=1)
        pd.testing.assert_frame_equal(
            xmr(shuffled).points, xmr(s).points
        )


# --------------------------------------------------------------------------------------------
# rules


def _flags(values: pd.Series) -> list[int]:
    return values.astype(int).tolist()


class TestPublicRulesMatchPtdCalculatePointType:
    @staticmethod
    def _group(n: int) -> pd.Series:
        return pd.Series(np.zeros(n, dtype=int))

    def test_shift_needs_seven_on_one_side(self):
        # ptd_seven_point_one_side_mean: rep(1, 6) -> none; c(rep(1, 6), -1) -> none;
        # c(rep(1, 8), -1) -> triggers at 7 and 8, so points 1..8 are part of the shift
        for v, expected in [
            ([1] * 6, [0] * 6),
            ([1] * 6 + [-1], [0] * 7),
            ([1] * 8 + [-1], [1] * 8 + [0]),
            ([-1] * 8 + [1], [1] * 8 + [0]),
        ]:
            s = pd.Series(v)
            assert _flags(spc_rules.shift(s, self._group(len(v)), 7)) == expected

    def test_a_point_on_the_mean_breaks_a_shift(self):
        s = pd.Series([1, 1, 1, 0, 1, 1, 1, 1])
        assert _flags(spc_rules.shift(s, self._group(8), 7)) == [0] * 8

    def test_trend_needs_seven_points_six_rises(self):
        cases = [
            (list(range(1, 7)), [0] * 6, None),  # 1:6, a 6-point rise: no trend
            ([1, 2, 3, 3, 4, 5, 6], [0] * 7, None),  # c(1:3, 3:6): a repeat breaks it
            (list(range(1, 8)), [1] * 7, 1),  # 1:7
            ([2, *range(1, 8), 3], [0] + [1] * 7 + [0], 1),  # c(2, 1:7, 3)
            (list(range(7, 0, -1)), [1] * 7, -1),  # 7:1
            ([2, *range(7, 0, -1), 3], [0] + [1] * 7 + [0], -1),  # c(2, 7:1, 3)
        ]
        for y, expected, direction in cases:
            flag, dirs = spc_rules.trend(y, self._group(len(y)), 7)
            assert _flags(flag) == expected, y
            if direction is not None:
                assert set(dirs[flag]) == {direction}

    def test_two_of_three(self):
        # ptd_part_of_two_in_three(ptd_two_in_three(v, rtm), v)
        cases = [
            ([1, 0, 1], [1, 1, 1], [1, 0, 1]),
            ([0, 1, 1], [1, 1, 1], [0, 1, 1]),
            ([1, 1, 0], [1, 1, 1], [1, 1, 0]),
            ([0, 0, 1, 0, 1, 0, 0], [1] * 7, [0, 0, 1, 0, 1, 0, 0]),
            ([0, 0, 1, 1, 0, 0, 0], [1] * 7, [0, 0, 1, 1, 0, 0, 0]),
            ([1, 0, 0, 1], [1] * 4, [0, 0, 0, 0]),
            ([1, 0, 0, 1, 1], [1] * 5, [0, 0, 0, 1, 1]),
            # opposite sides of the mean never count
            ([1, 0, 1], [1, -1, 1], [0, 0, 0]),
            ([0, 1, 1], [1, -1, 1], [0, 0, 0]),
            ([0, 0, 1, 0, 1, 0, 0], [1, -1, 1, -1, 1, -1, 1], [0] * 7),
            ([0, 0, 1, 1, 0, 0, 0], [-1, 1, -1, 1, -1, 1, -1], [0] * 7),
        ]
        for close, rtm, expected in cases:
            got = spc_rules.two_of_three(close, rtm, self._group(len(close)))
            assert _flags(got) == expected, (close, rtm)

    def test_rules_do_not_cross_rebase_periods(self):
        group = pd.Series([0] * 4 + [1] * 4)
        assert _flags(spc_rules.shift([1] * 8, group, 7)) == [0] * 8
        flag, _ = spc_rules.trend(np.arange(8.0), group, 7)
        assert _flags(flag) == [0] * 8


class TestRulesThroughTheChart:
    def test_seven_on_one_side_flag_but_a_point_on_the_mean_breaks_the_run(self):
        above = [1, 3, 1, 3, 1, 3, 1]
        chart = xmr(pd.Series(above + [-v for v in above], dtype=float))
        pts = chart.points
        assert pts["mean"].iloc[0] == 0
        assert pts["special_cause_type"].tolist() == ["shift_above"] * 7 + ["shift_below"] * 7
        assert pts["point_type"].tolist() == [SCI] * 7 + [SCC] * 7

        broken = [1, 3, 1, 0, 1, 3, 1]  # the fourth point sits exactly on the mean
        chart = xmr(pd.Series(broken + [-v for v in broken], dtype=float))
        pts = chart.points
        assert pts["mean"].iloc[0] == 0 and pts.loc[3, "relative_to_mean"] == 0
        assert not pts["rule_shift"].any()
        assert (pts["point_type"] == CC).all()

    def test_a_trend_of_seven_flags_but_a_six_point_rise_does_not(self):
        seven = [0, 10, 0, 10, 0, 10, 1, 2, 3, 4, 5, 6, 7, 0, 10, 0, 10, 0]
        pts = xmr(pd.Series(seven, dtype=float)).points
        assert pts["rule_trend"].astype(int).tolist() == [0] * 6 + [1] * 7 + [0] * 5
        assert set(pts.loc[6:12, "special_cause_type"]) == {"trend_increasing"}
        assert set(pts.loc[6:12, "point_type"]) == {SCI}

        six = [0, 10, 0, 10, 0, 10, 1, 2, 3, 4, 5, 6, 0, 10, 0, 10, 0, 10]
        pts = xmr(pd.Series(six, dtype=float)).points
        assert not pts["rule_trend"].any()
        assert (pts["point_type"] == CC).all()

    def test_trend_takes_its_own_direction_and_wins_over_a_shift(self):
        # a rising run below the mean: improvement when higher is better (current
        # NHSRplotthedots reads a trend's direction, not its side of the mean)
        y = [10, 20, 10, 20, 10, 20, 10, 20, 0, 1, 2, 3, 4, 5, 6, 0, 20, 10]
        pts = xmr(pd.Series(y, dtype=float)).points
        assert pts.loc[8:15, "rule_shift"].all()  # eight points below the mean
        assert pts.loc[8:14, "rule_trend"].all()
        assert set(pts.loc[8:14, "special_cause_type"]) == {"trend_increasing"}
        assert set(pts.loc[8:14, "point_type"]) == {SCI}
        assert pts.loc[15, "special_cause_type"] == "shift_below"
        assert pts.loc[15, "point_type"] == SCC
        pts = xmr(pd.Series(y, dtype=float), improvement="decrease").points
        assert set(pts.loc[8:14, "point_type"]) == {SCC}
        assert pts.loc[15, "point_type"] == SCI

    def test_two_of_three_only_on_the_same_side_as_in_ptd_spc_standard_tests(self):
        data = [1.0, -1.0] * 8
        data[14], data[15] = 5.5, -5.5
        pts = xmr(_series(data, "2020-01-02")).points
        assert pts["point_type"].tail(2).tolist() == [CC, CC]

    def test_two_of_three_near_the_upper_limit(self):
        y = [0.0, 1] * 10 + [3.0, 1, 3.0, 0, 1]
        pts = xmr(pd.Series(y)).points
        first = pts.iloc[0]
        assert first["near_upl"] < 3.0 < first["upl"]
        assert pts["mean"].iloc[0] < 1  # the middle point is on the same side
        assert pts["rule_two_of_three"].astype(int).tolist()[20:23] == [1, 0, 1]
        assert pts.loc[20, "special_cause_type"] == "two_of_three_above"
        assert pts.loc[20, "point_type"] == SCI
        assert pts.loc[21, "point_type"] == CC

    def test_beyond_the_limits_wins_and_neutral_direction(self):
        y = [1.0, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, -9]
        pts = xmr(pd.Series(y), improvement="neutral").points
        assert pts.iloc[-1]["special_cause_type"] == "below_lpl"
        assert pts.iloc[-1]["point_type"] == "special_cause_neutral_low"
        assert set(pts["point_type"]) <= set(POINT_TYPES)

    def test_rule_lengths_are_settings(self):
        six = [0, 10, 0, 10, 0, 10, 1, 2, 3, 4, 5, 6, 0, 10, 0, 10, 0, 10]
        pts = xmr(pd.Series(six, dtype=float), trend_length=6).points
        assert pts["rule_trend"].sum() == 6
        above = [1, 3, 1, 3, 1, 3]
        y = pd.Series(above + [-v for v in above], dtype=float)
        assert not xmr(y).points["rule_shift"].any()
        assert xmr(y, shift_length=6).points["rule_shift"].all()


# --------------------------------------------------------------------------------------------
# icons and warnings


class TestIcons:
    @pytest.mark.parametrize(
        ("direction", "target", "expected"),
        [
            ("increase", 5.0, "consistent_fail"),  # target above the UPL of 4.60
            ("decrease", 5.0, "consistent_pass"),
            ("increase", -1.0, "consistent_pass"),  # target below the LPL of -0.72
            ("decrease", -1.0, "consistent_fail"),
            ("increase", 2.0, "inconsistent"),
            ("neutral", 5.0, None),
            ("increase", None, None),
        ],
    )
    def test_assurance_as_ptd_calculate_assurance_type(self, direction, target, expected):
        chart = xmr(
            _series(VIGNETTE_Y), improvement=direction, target=target
        )
        assert chart.assurance_icon == expected

    def test_assurance_uses_the_last_period(self):
        y = [10.0, 11] * 7 + [1.0, 2] * 7
        rebase = [pd.Timestamp("2021-03-22") + pd.Timedelta(days=14)]
        chart = xmr(_series(y), target=5.0, rebase=rebase)
        assert chart.points["rebase_group"].iloc[-1] == 1
        assert chart.assurance_icon == "consistent_fail"

    @pytest.mark.parametrize(
        ("direction", "last", "expected"),
        [
            ("increase", 20.0, "improvement_high"),
            ("increase", -20.0, "concern_low"),
            ("decrease", 20.0, "concern_high"),
            ("decrease", -20.0, "improvement_low"),
            ("neutral", 20.0, "neutral_high"),
            ("neutral", -20.0, "neutral_low"),
            ("increase", 1.5, "common_cause"),
        ],
    )
    def test_variation_icon_from_the_last_point(self, direction, last, expected):
        y = [1.0, 2] * 7 + [last]
        chart = xmr(pd.Series(y), improvement=direction)
        assert chart.variation_icon == expected


class TestWarningsAndRebase:
    def test_a_12_point_group_is_short_and_a_13_point_group_is_not(self):
        # R/ptd_add_short_group_warnings.R: getOption("ptd_spc.warning_threshold", 13)
        chart = xmr(RNORM_123[:12])
        assert chart.warnings == [short_group_warning(13)]
        assert chart.points["short_group_warning"].all()
        assert xmr(RNORM_123[:13]).warnings == []

    def test_threshold_12_reproduces_the_package_tests(self):
        # test-ptd_add_short_group_warnings.R runs with warning_threshold <- 12:
        # 11 points warn, 12 do not
        assert xmr(RNORM_123[:11], short_group_threshold=12).points["short_group_warning"].all()
        chart = xmr(RNORM_123[:12], short_group_threshold=12)
        assert chart.warnings == [] and not chart.points["short_group_warning"].any()

    def test_facets_and_rebase_groups_warn_on_the_short_group_only(self):
        # "it handles facets and rebase groups - warning on one facet": groups of 35, 5, 20, 20
        y = np.tile(RNORM_123, 4)
        chart = xmr(y, rebase=[35, 40, 60], short_group_threshold=12)
        expected = [False] * 35 + [True] * 5 + [False] * 40
        assert chart.points["short_group_warning"].tolist() == expected
        assert chart.warnings == [short_group_warning(12)]

    def test_the_ae_rebase_snapshot_has_a_12_point_group_that_now_warns(self):
        data = pd.DataFrame({"period": AE_PERIODS, "attendances": AE_ATTENDANCES})
        chart = xmr("attendances", "period", data=data, rebase=["2017-04-01"])
        assert chart.points["short_group_warning"].tolist() == [True] * 12 + [False] * 24

    def test_a_short_rebase_period_warns_for_that_period_only(self):
        x = AE_PERIODS
        data = pd.DataFrame({"period": x, "attendances": AE_ATTENDANCES})
        chart = xmr("attendances", "period", data=data, rebase=[x[26]])
        assert chart.warnings == [short_group_warning()]
        assert chart.points["short_group_warning"].tolist() == [False] * 26 + [True] * 10

    def test_summary_snapshot_with_facets_of_10_points(self):
        # test-ptd_spc.R "it outputs expected content": facet = rep(c(0, 1), each = 10) on
        # rnorm(20); _snaps/ptd_spc.md prints mean_col, lpl, upl to 3 significant figures and
        # the calls are wrapped in suppressWarnings(): 10 points are a short group
        for facet, expected in ((RNORM_123[:10], "0.0746 -2.60 2.75"), (RNORM_123[10:], "0.209 -3.28 3.70")):
            chart = xmr(facet, _series(facet, "2020-01-02").index)
            summary = chart.summary().iloc[0]
            assert f"{summary['mean']:#.3g} {summary['lpl']:#.3g} {summary['upl']:#.3g}" == expected
            assert (summary["n"], summary["common_cause"]) == (10, 10)
            assert chart.warnings == [short_group_warning(13)]

    def test_rebase_values_must_be_periods_of_the_chart(self):
        data = pd.DataFrame({"period": AE_PERIODS, "attendances": AE_ATTENDANCES})
        with pytest.raises(ValueError, match="2017-04-15"):
            xmr("attendances", "period", data=data, rebase=["2017-04-15"])

    def test_rebase_by_position_when_x_is_an_order(self):
        chart = xmr(pd.Series(AE_ATTENDANCES, dtype=float), rebase=[12])
        assert chart.points["rebase_group"].tolist() == [0] * 12 + [1] * 24
        assert chart.points["mean"].iloc[-1] == pytest.approx(2027379.2083333333, rel=1e-13)

    def test_summary_per_period(self):
        data = pd.DataFrame({"period": AE_PERIODS, "attendances": AE_ATTENDANCES})
        summary = xmr("attendances", "period", data=data, rebase=["2017-04-01"]).summary()
        assert summary["n"].tolist() == [12, 24]
        assert summary["first_x"].tolist() == [AE_PERIODS[0], AE_PERIODS[12]]
        assert summary["variation_type"].tolist() == [CC, CC]


# --------------------------------------------------------------------------------------------
# p-charts

PEACHES = pd.DataFrame(
    {
        "shipment": range(1, 26),
        "peaches": [250] * 10 + [500] * 3 + [250] * 8 + [500] * 4,
        "bruised": [
            47, 42, 55, 51, 46, 61, 39, 44, 41, 51, 88, 101, 101,
            40, 48, 47, 50, 48, 57, 45, 43, 105, 98, 100, 96,
        ],
    }
)  # fmt: skip


class TestPChart:
    def test_limits_per_period_as_qicharts2_qic_p(self):
        chart = p_chart("bruised", "peaches", "shipment", data=PEACHES)
        pts = chart.points
        assert PEACHES["peaches"].sum() == 8000 and PEACHES["bruised"].sum() == 1544
        p_bar = 1544 / 8000
        assert (pts["mean"] == p_bar).all()
        sigma = np.sqrt(p_bar * (1 - p_bar) / PEACHES["peaches"].to_numpy())
        np.testing.assert_allclose(pts["upl"], p_bar + 3 * sigma, rtol=1e-14)
        np.testing.assert_allclose(pts["lpl"], p_bar - 3 * sigma, rtol=1e-14)
        np.testing.assert_allclose(pts["near_upl"], p_bar + 2 * sigma, rtol=1e-14)
        # worked by hand: one crate 0.193 ± 3 × 0.024960, two crates 0.193 ± 3 × 0.017649
        assert pts.loc[0, "upl"] == pytest.approx(0.26788, abs=1e-5)
        assert pts.loc[0, "lpl"] == pytest.approx(0.11812, abs=1e-5)
        assert pts.loc[10, "upl"] == pytest.approx(0.24595, abs=1e-5)
        assert pts.loc[10, "lpl"] == pytest.approx(0.14005, abs=1e-5)
        np.testing.assert_allclose(pts["y"], PEACHES["bruised"] / PEACHES["peaches"])
        assert pts["numerator"].tolist() == PEACHES["bruised"].tolist()

    def test_columns_of_a_frame_without_dates_are_charted_in_the_frames_order(self):
        """As xmr: with no dates the points are the rows in the frame's index order (this
        raised "Column 'RangeIndex(...)' is not in the data")."""
        by_name = p_chart("bruised", "peaches", data=PEACHES).points
        by_values = p_chart(PEACHES["bruised"], PEACHES["peaches"]).points
        pd.testing.assert_frame_equal(by_name, by_values)
        assert by_name["x"].tolist() == PEACHES.index.tolist() and len(by_name) == len(PEACHES)

    def test_limits_are_clipped_to_zero_and_one(self):
        frame = pd.DataFrame({"m": range(12), "ok": [9, 8, 10, 9, 9, 10, 8, 9, 10, 9, 9, 8]})
        frame["all"] = 10
        pts = p_chart("ok", "all", "m", data=frame).points
        assert (pts["upl"] == 1).all() and (pts["near_upl"] == 1).all()
        frame["ok"] = [1, 0, 2, 1, 0, 1, 1, 0, 2, 1, 0, 1]
        pts = p_chart("ok", "all", "m", data=frame).points
        assert (pts["lpl"] == 0).all()

    def test_special_causes_and_icons(self):
        frame = PEACHES.copy()
        frame.loc[24, "bruised"] = 160  # 0.32 on 500: far above the upper limit
        chart = p_chart("bruised", "peaches", "shipment", data=frame, improvement="decrease", target=0.15
        )
        assert chart.points.iloc[-1]["special_cause_type"] == "above_upl"
        assert chart.points.iloc[-1]["point_type"] == SCC
        assert chart.variation_icon == "concern_high"
        assert chart.chart == "p"

    def test_rebase_and_freeze(self):
        frame = PEACHES.copy()
        chart = p_chart("bruised", "peaches", "shipment", data=frame, rebase=[14])
        first = frame.iloc[:13]
        second = frame.iloc[13:]
        means = chart.points.groupby("rebase_group")["mean"].first().tolist()
        assert means == pytest.approx(
            [
                first.bruised.sum() / first.peaches.sum(),
                second.bruised.sum() / second.peaches.sum(),
            ]
        )
        frozen = p_chart("bruised", "peaches", "shipment", data=frame, fix_after_n_points=5)
        base = frame.iloc[:5]
        assert frozen.points["mean"].iloc[-1] == pytest.approx(
            base.bruised.sum() / base.peaches.sum()
        )

    def test_months_without_episodes_are_left_out_with_a_warning(self):
        frame = PEACHES.copy()
        frame.loc[3, ["bruised", "peaches"]] = 0
        chart = p_chart("bruised", "peaches", "shipment", data=frame)
        assert len(chart.points) == 24
        assert chart.warnings == ["1 period with no episodes was left out of the p-chart."]

    def test_bad_counts(self):
        frame = PEACHES.copy()
        frame.loc[0, "bruised"] = 300
        with pytest.raises(ValueError, match="larger than its denominator"):
            p_chart("bruised", "peaches", "shipment", data=frame)
        with pytest.raises(ValueError, match="not in the data"):
            p_chart("bruised", "crates", "shipment", data=frame)
