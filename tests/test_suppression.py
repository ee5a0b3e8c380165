"""Small-number suppression: the facts external and partner reports rely on.

Numbers follow the NHS Digital rule for sub-national figures (threshold 7): 0 stays 0, 1-7 become
"*", no withheld count can be worked back from the figures that are shown, rates on withheld
counts and statistics on 1-7 people are null.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation_analysis.reviews.suppression import (
    NHS_DIGITAL_SUBNATIONAL,
    Rate,
    SumRule,
    SuppressionPolicy,
    SuppressionSpec,
    suppress_breakdown,
    suppress_count,
    suppress_entry,
    suppress_table,
    suppress_timeliness,
    timeliness_spec,
)

STAR = "*"
ROUND5 = SuppressionPolicy(round_to=5)


def entry(n, within, not_escalated=0, median=10.0, p90=30.0):
    """A timeliness group entry shaped like summary.json's ``overall``."""
    pct = 100 * within / n if n else None
    return {
        "n": n,
        "within_target": within,
        "within_target_pct": pct,
        "ci95_pct": [pct - 5, pct + 5] if n else [None, None],
        "not_escalated": not_escalated,
        "median_delay_minutes": median,
        "p90_delay_minutes": p90,
    }


def single_counts(values):
    """A one-column table of counts with no sums and no published total."""
    table = pd.DataFrame({"episodes": values}, index=[f"g{i}" for i in range(len(values))])
    return suppress_table(table, SuppressionSpec(counts=("episodes",)), totals=None)["episodes"]


class TestPolicy:
    def test_defaults_are_the_nhs_rule_without_rounding(self):
        policy = SuppressionPolicy()
        assert (policy.threshold, policy.round_to, policy.marker) == (7, None, "*")
        assert NHS_DIGITAL_SUBNATIONAL.round_to == 5

    @pytest.mark.parametrize(
        "kwargs", [{"threshold": 0}, {"round_to": 0}, {"round_to": -5}, {"marker": ""}]
    )
    def test_settings_that_would_not_protect_are_refused(self, kwargs):
        with pytest.raises(ValueError):
            SuppressionPolicy(**kwargs)


class TestPrimarySuppression:
    def test_a_count_of_3_is_shown_as_a_star(self):
        assert single_counts([3]).tolist() == [STAR]

    def test_zero_stays_zero(self):
        out = single_counts([0])
        assert out.tolist() == [0] and type(out.iloc[0]) is int

    def test_8_is_shown(self):
        assert single_counts([8]).tolist() == [8]

    def test_threshold_boundaries(self):
        assert single_counts([1, 7, 8, 250]).tolist() == [STAR, STAR, 8, 250]

    def test_threshold_is_a_setting(self):
        table = pd.DataFrame({"episodes": [9, 10, 11]})
        spec = SuppressionSpec(counts=("episodes",))
        out = suppress_table(table, spec, SuppressionPolicy(threshold=10), totals=None)
        assert out["episodes"].tolist() == [STAR, STAR, 11]

    def test_stand_alone_count(self):
        assert [suppress_count(v) for v in (0, 3, 7, 8)] == [0, STAR, STAR, 8]
        assert [suppress_count(v, ROUND5) for v in (0, 3, 8, 12, 13)] == [0, STAR, 10, 10, 15]


class TestComplementarySuppressionWithinARow:
    def test_38_within_target_of_40_hides_within_target(self):
        # Showing n=40 and within_target=38 would reveal 2 episodes not within target.
        out = suppress_entry(entry(40, 38))
        assert out["n"] == 40
        assert out["within_target"] == STAR
        assert out["not_escalated"] == 0

    def test_38_of_40_in_a_table_hides_both_counts(self):
        table = pd.DataFrame(
            {"n": [40], "within_target": [38], "not_within_target": [2], "not_escalated": [0]}
        )
        out = suppress_table(table, timeliness_spec(), totals=None).iloc[0]
        assert out["not_within_target"] == STAR
        assert out["within_target"] == STAR
        assert out["n"] == 40

    def test_a_small_number_escalated_late_is_protected(self):
        # n=100, within 77, not escalated 20: the 3 escalated late (100-77-20) must not be
        # derivable, so not_escalated is withheld (the smallest cell that protects them).
        out = suppress_entry(entry(100, 77, not_escalated=20))
        assert out["not_escalated"] == STAR
        assert (out["n"], out["within_target"]) == (100, 77)

    def test_nothing_extra_is_hidden_when_no_count_is_small(self):
        out = suppress_entry(entry(100, 60, not_escalated=20))
        assert [out[k] for k in ("n", "within_target", "not_escalated")] == [100, 60, 20]


class TestSecondarySuppressionAcrossGroups:
    def by_team(self):
        return {
            "Team A": entry(30, 30),
            "Team B": entry(25, 25),
            "Team C": entry(5, 5),
        }

    def test_one_small_team_gets_a_second_cell_suppressed(self):
        teams = self.by_team()
        out = suppress_breakdown(teams, overall=entry(60, 60))
        n_shown = {team: e["n"] for team, e in out.items()}
        assert n_shown["Team C"] == STAR
        # Team C's 5 = 60 - 30 - 25 if the others were shown: the next smallest is withheld.
        assert n_shown == {"Team A": 30, "Team B": STAR, "Team C": STAR}

    def test_the_withheld_team_cannot_be_recovered_from_the_total(self):
        out = suppress_timeliness({"overall": entry(60, 60), "by_team": self.by_team()})
        assert out["overall"]["n"] == 60
        for count in ("n", "within_target"):
            column = [e[count] for e in out["by_team"].values()]
            assert column.count(STAR) != 1, count

    def test_the_overall_is_assumed_published_by_default(self):
        out = suppress_breakdown(self.by_team())
        assert [e["n"] for e in out.values()] == [30, STAR, STAR]

    def test_zeros_are_not_used_as_the_second_cell(self):
        table = pd.DataFrame({"episodes": [0, 3, 40, 20]}, index=list("ABCD"))
        out = suppress_table(table, SuppressionSpec(counts=("episodes",)))
        assert out["episodes"].tolist() == [0, STAR, 40, STAR]

    def test_total_row_inside_the_table(self):
        table = pd.DataFrame(
            {"team": ["A", "B", "C", "All"], "episodes": [3, 40, 20, 63]},
            index=["a", "b", "c", "total"],
        )
        spec = SuppressionSpec(counts=("episodes",), labels=("team",))
        out = suppress_table(table, spec, total_row="total")
        assert out["episodes"].tolist() == [STAR, 40, STAR, 63]
        assert out["team"].tolist() == ["A", "B", "C", "All"]

    def test_no_secondary_suppression_when_no_total_is_published(self):
        table = pd.DataFrame({"episodes": [3, 40, 20]})
        out = suppress_table(table, SuppressionSpec(counts=("episodes",)), totals=None)
        assert out["episodes"].tolist() == [STAR, 40, 20]

    def test_a_small_overall_cell_is_not_given_away_by_the_groups(self):
        # The overall's 2 not escalated is withheld, so no team may show it either.
        teams = {"A": entry(30, 20, not_escalated=2), "B": entry(30, 20, not_escalated=0)}
        out = suppress_timeliness({"overall": entry(60, 40, not_escalated=2), "by_team": teams})
        assert out["overall"]["not_escalated"] == STAR
        assert out["by_team"]["A"]["not_escalated"] == STAR


class TestRatesAndStatistics:
    def test_rates_built_on_withheld_counts_are_null(self):
        out = suppress_entry(entry(40, 38))
        assert out["within_target_pct"] is None
        assert out["ci95_pct"] == [None, None]

    def test_rates_on_shown_counts_are_kept(self):
        out = suppress_entry(entry(40, 30))
        assert out["within_target_pct"] == 75.0
        assert out["ci95_pct"] == [70.0, 80.0]

    def test_median_over_5_episodes_is_null(self):
        # 20 episodes, 15 not escalated: the delay statistics summarise 5 escalations.
        out = suppress_entry(entry(20, 3, not_escalated=15, median=42.0, p90=90.0))
        assert out["median_delay_minutes"] is None
        assert out["p90_delay_minutes"] is None

    def test_median_over_8_episodes_is_shown(self):
        out = suppress_entry(entry(20, 8, not_escalated=12, median=42.0, p90=90.0))
        assert out["median_delay_minutes"] == 42.0
        assert out["p90_delay_minutes"] == 90.0

    def test_rate_on_a_secondary_suppressed_count_is_null(self):
        table = pd.DataFrame(
            {"n": [40, 30], "within_target": [3, 25], "rate": [7.5, 83.3]}, index=["A", "B"]
        )
        spec = SuppressionSpec(
            counts=("n", "within_target"), rates={"rate": Rate("within_target", "n")}
        )
        out = suppress_table(table, spec)
        assert out["within_target"].tolist() == [STAR, STAR]
        assert out["rate"].tolist() == [None, None]
        assert out["n"].tolist() == [40, 30]


class TestRounding:
    def test_counts_are_rounded_to_the_nearest_5(self):
        out = single_counts_rounded([0, 3, 8, 12, 13, 41])
        assert out == [0, STAR, 10, 10, 15, 40]

    def test_rates_are_recomputed_from_rounded_counts(self):
        table = pd.DataFrame(
            {
                "n": [43],
                "within_target": [33],
                "not_within_target": [10],
                "not_escalated": [0],
                "within_target_pct": [100 * 33 / 43],
            }
        )
        out = suppress_table(table, timeliness_spec(), ROUND5, totals=None).iloc[0]
        assert (out["n"], out["within_target"], out["not_within_target"]) == (45, 35, 10)
        # 35/45, not the exact 33/43 (76.7%) from which 33 could be worked back.
        assert out["within_target_pct"] == pytest.approx(100 * 35 / 45)

    def test_wilson_bounds_are_recomputed_from_rounded_counts(self):
        table = pd.DataFrame(
            {"n": [10], "within_target": [0], "lo": [0.0], "hi": [99.0]},
        )
        spec = SuppressionSpec(
            counts=("n", "within_target"),
            rates={
                "lo": Rate("within_target", "n", kind="wilson_low"),
                "hi": Rate("within_target", "n", kind="wilson_high"),
            },
        )
        out = suppress_table(table, spec, ROUND5, totals=None).iloc[0]
        z2 = 1.959963984540054**2
        assert out["lo"] == 0.0
        assert out["hi"] == pytest.approx(100 * z2 / (10 + z2))  # Wilson upper bound for 0/10

    def test_withheld_rates_stay_null_when_rounding(self):
        out = suppress_entry(entry(40, 38), ROUND5)
        assert out["n"] == 40 and out["within_target"] == STAR
        assert out["within_target_pct"] is None


def single_counts_rounded(values):
    table = pd.DataFrame({"episodes": values})
    spec = SuppressionSpec(counts=("episodes",))
    return suppress_table(table, spec, ROUND5, totals=None)["episodes"].tolist()


class TestOutput:
    def test_table_output_is_object_dtype_and_json_serialisable(self):
        table = pd.DataFrame(
            {
                "team": ["A", "B", "C"],
                "n": np.array([40, 30, 12], dtype="int64"),
                "within_target": [30, 20, 9],
                "not_within_target": [10, 10, 3],
                "not_escalated": [0, 2, 0],
                "within_target_pct": [75.0, 66.7, 75.0],
                "ci95_low_pct": [60.0, 50.0, np.nan],
                "ci95_high_pct": [85.0, 80.0, 90.0],
                "median_delay_minutes": [10.0, 12.0, 9.0],
                "p90_delay_minutes": [30.0, 40.0, 20.0],
            }
        )
        before = table.copy()
        out = suppress_table(table, timeliness_spec(labels=["team"]))
        pd.testing.assert_frame_equal(table, before)  # input untouched
        assert list(out.columns) == list(table.columns)
        assert (out.dtypes == "object").all()
        records = out.to_dict(orient="records")
        json.dumps(records, allow_nan=False)
        for record in records:
            for value in record.values():
                assert value is None or type(value) in (int, float, str)

    def test_timeliness_section_is_json_serialisable(self):
        section = {
            "overall": entry(60, 40, not_escalated=2),
            "by_band": {"in_hours": entry(45, 35), "out_of_hours": entry(15, 5, 2)},
            "by_team": {"A": entry(40, 30, 2), "B": entry(20, 10), "C": {}},
        }
        out = suppress_timeliness(section)
        text = json.dumps(out, allow_nan=False)
        assert set(json.loads(text)) == set(section)
        assert out["by_team"]["C"] == {}
        assert set(out["by_team"]["A"]) == set(section["by_team"]["A"])

    def test_numpy_values_in_entries_come_out_as_python_types(self):
        e = {"n": np.int64(40), "within_target": np.int64(30), "not_escalated": np.int64(0)}
        out = suppress_entry(e)
        assert [type(v) for v in out.values()] == [int, int, int]


class TestRefusals:
    def test_an_undeclared_column_is_refused(self):
        table = pd.DataFrame({"episodes": [10], "deaths": [2]})
        with pytest.raises(ValueError, match="deaths"):
            suppress_table(table, SuppressionSpec(counts=("episodes",)))

    def test_a_sum_rule_that_does_not_hold_is_refused(self):
        table = pd.DataFrame({"n": [10], "a": [4], "b": [5]})
        spec = SuppressionSpec(counts=("n", "a", "b"), sums=(SumRule("n", ("a", "b")),))
        with pytest.raises(ValueError, match="does not hold"):
            suppress_table(table, spec)

    @pytest.mark.parametrize("bad", [-1, 2.5, np.nan])
    def test_counts_must_be_whole_and_not_negative(self, bad):
        table = pd.DataFrame({"episodes": [10, bad]})
        with pytest.raises(ValueError):
            suppress_table(table, SuppressionSpec(counts=("episodes",)))

    def test_an_entry_key_without_a_rule_is_refused(self):
        with pytest.raises(ValueError, match="deaths"):
            suppress_entry({**entry(40, 30), "deaths": 1})

    def test_a_timeliness_key_without_a_rule_is_refused(self):
        with pytest.raises(ValueError, match="worst_case"):
            suppress_timeliness({"overall": entry(40, 30), "worst_case": entry(9, 9)})


# --------------------------------------------------------------------------------------------
# A reader's attack: solve the published sums for every withheld cell.

COUNTS = ("n", "within_target", "not_escalated")


def _cells(e):
    """True counts of an entry, shown and derived."""
    n, w, ne = e["n"], e["within_target"], e["not_escalated"]
    return {"n": n, "w": w, "ne": ne, "nw": n - w, "late": n - w - ne, "esc": n - ne}


def _exposed_small_counts(true_rows, shown_rows):
    """Cells worth 1-7 that a reader can solve for exactly from the shown figures.

    Rows are the groups then the overall. Unknowns: withheld counts and every derived count.
    Equations: the three sums in each row and "overall = sum of groups" for every count.
    """
    keys = ("n", "w", "ne", "nw", "late", "esc")
    shown_name = {"n": "n", "w": "within_target", "ne": "not_escalated"}
    unknown = [
        (r, k)
        for r, shown in enumerate(shown_rows)
        for k in keys
        if k not in shown_name or shown[shown_name[k]] == STAR
    ]
    col = {cell: i for i, cell in enumerate(unknown)}
    rows = []
    last = len(true_rows) - 1
    for r in range(len(true_rows)):
        for total, parts in (("n", ("w", "nw")), ("nw", ("late", "ne")), ("n", ("esc", "ne"))):
            rows.append({(r, total): 1, **{(r, p): -1 for p in parts}})
    for k in keys:
        rows.append({(last, k): 1, **{(r, k): -1 for r in range(last)}})
    a = np.zeros((len(rows), len(unknown)))
    for i, eq in enumerate(rows):
        for cell, coef in eq.items():
            if cell in col:
                a[i, col[cell]] = coef
    _, s, vt = np.linalg.svd(a)
    null = vt[int((s > 1e-9).sum()) :]
    exposed = []
    for (r, k), i in col.items():
        value = _cells(true_rows[r])[k]
        if 1 <= value <= 7 and np.all(np.abs(null[:, i]) < 1e-9):
            exposed.append((r, k, value))
    return exposed


@st.composite
def breakdowns(draw):
    groups = draw(st.integers(1, 6))
    teams = {}
    for g in range(groups):
        n = draw(st.one_of(st.integers(0, 12), st.integers(0, 60)))
        w = draw(st.integers(0, n))
        ne = draw(st.integers(0, n - w))
        teams[f"team {g}"] = {"n": n, "within_target": w, "not_escalated": ne}
    overall = {c: sum(t[c] for t in teams.values()) for c in COUNTS}
    return overall, teams


@settings(max_examples=100, deadline=None)
@given(breakdowns())
def test_no_small_count_can_be_worked_out_from_a_suppressed_breakdown(data):
    overall, teams = data
    out = suppress_timeliness({"overall": overall, "by_team": teams})
    shown = [*out["by_team"].values(), out["overall"]]
    truth = [*teams.values(), overall]
    for s, t in zip(shown, truth, strict=True):
        for c in COUNTS:
            assert s[c] == (STAR if 1 <= t[c] <= 7 else s[c])  # every 1-7 is a star
            assert s[c] in (t[c], STAR)  # shown counts are true; 0 is never withheld
            assert t[c] != 0 or s[c] == 0
    assert _exposed_small_counts(truth, shown) == []


def test_a_count_pinned_down_by_zero_partners_is_still_protected():
    # Found by the property test: team B's not_escalated (14) is withheld, but the other teams
    # show 0 and the overall shows 14, so it is pinned down, and with it B's 20 - 14 = 6
    # escalations. One-sum-at-a-time rules miss this; the linear check must catch it.
    teams = {
        "A": {"n": 1, "within_target": 0, "not_escalated": 0},
        "B": {"n": 20, "within_target": 4, "not_escalated": 14},
        "C": {"n": 1, "within_target": 0, "not_escalated": 0},
    }
    overall = {c: sum(t[c] for t in teams.values()) for c in COUNTS}
    out = suppress_timeliness({"overall": overall, "by_team": teams})
    truth = [*teams.values(), overall]
    assert _exposed_small_counts(truth, [*out["by_team"].values(), out["overall"]]) == []


def test_the_attack_finds_an_unprotected_table():
    # The checker itself must be able to fail: primary suppression alone leaves the 2 exposed.
    truth = [{"n": 40, "within_target": 38, "not_escalated": 0}] * 2
    truth = [*truth, {"n": 80, "within_target": 76, "not_escalated": 0}]
    naive = [{"n": t["n"], "within_target": t["within_target"], "not_escalated": 0} for t in truth]
    assert _exposed_small_counts(truth, naive)


def test_a_late_count_pinned_through_a_published_total_is_protected():
    """Found by the property test: team 0's 'escalated late' (17 - 8 - 8 = 1) could be worked
    out once its not-escalated count was recovered from the overall total and zero partners."""
    overall = {"n": 26, "within_target": 10, "not_escalated": 8}
    teams = {
        "team 0": {"n": 17, "within_target": 8, "not_escalated": 8},
        "team 1": {"n": 0, "within_target": 0, "not_escalated": 0},
        "team 2": {"n": 2, "within_target": 1, "not_escalated": 0},
        "team 3": {"n": 7, "within_target": 1, "not_escalated": 0},
    }
    out = suppress_timeliness({"overall": overall, "by_team": teams})
    shown = [*out["by_team"].values(), out["overall"]]
    assert _exposed_small_counts([*teams.values(), overall], shown) == []
