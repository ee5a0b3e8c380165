"""The Making Data Count summary: icons drawn by the package, the table, and its agreement with the charts."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest

from escalation_analysis.ingest.pathway import Pathway
from escalation_analysis.measures import trends
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.measures.kpi_trends import special_cause_groups
from escalation_analysis.reviews import charts, icons
from escalation_analysis.reviews.display import table_html
from escalation_analysis.reviews.mdc_summary import MdcSummary, mdc_summary

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def contrast(colour: str, background: str = "#FFFFFF") -> float:
    """WCAG 2.2 contrast ratio of two sRGB colours."""
    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(colour), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.fixture(scope="module")
def quarter():
    """2025/26 Q3 of the sample: Riverside CMHT's timeliness collapses from October 2025."""
    return analyse(
        SAMPLE / "incidents.csv", SAMPLE / "mapping.yaml", SAMPLE / "pathway.yaml", "2025-10-01", "2025-12-31",
        steps=SAMPLE / "steps.csv", actions=SAMPLE / "learning_actions.csv", key=b"mdc-test-key",
    )


class TestIcons:
    @pytest.mark.parametrize("kind", ["variation", "assurance"])
    def test_every_icon_is_an_svg_image_named_by_its_text_equivalent(self, kind):
        table = icons.VARIATION if kind == "variation" else icons.ASSURANCE
        draw = icons.variation_icon if kind == "variation" else icons.assurance_icon
        for code, icon in table.items():
            svg = draw(code)
            assert svg.startswith("<svg") and svg.endswith("</svg>")
            assert f'role="img" aria-label="{icon.text}"' in svg and f"<title>{icon.text}</title>" in svg
            assert icon.colour in svg

    def test_colours_mean_what_boards_expect_and_never_red_amber_green(self):
        assert icons.VARIATION["improvement_high"].colour == icons.COLOURS["improvement"]
        assert icons.VARIATION["concern_low"].colour == icons.COLOURS["concern"]
        assert icons.VARIATION["common_cause"].colour == icons.COLOURS["common_cause"]
        assert icons.ASSURANCE["consistent_fail"].colour == icons.COLOURS["concern"]
        for colour in icons.COLOURS.values():
            red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
            assert not (green > 1.3 * max(red, blue)), f"{colour} reads as green"
            assert not (red > 180 and green < 60 and blue < 60), f"{colour} reads as red"

    def test_every_icon_colour_has_3_to_1_contrast_on_white(self):
        assert all(contrast(c) >= 3 for c in icons.COLOURS.values())
        assert all(contrast(c) >= 3 for c in charts.MDC_COLOURS.values())
        assert all(contrast(c) >= 3 for c in charts.QUALITATIVE)

    def test_high_and_low_differ_by_letter_not_only_by_drawing(self):
        assert ">H</text>" in icons.variation_icon("concern_high")
        assert ">L</text>" in icons.variation_icon("concern_low")
        assert ">P</text>" in icons.assurance_icon("consistent_pass")
        assert ">F</text>" in icons.assurance_icon("consistent_fail")

    def test_a_table_cell_shows_the_icon_with_its_words_and_a_dash_without_one(self):
        cell = icons.icon_with_text("assurance", "consistent_fail")
        assert "<svg" in cell and "Consistently missed" in cell
        assert "<svg" not in icons.icon_with_text("assurance", None)


class TestSummaryTable:
    def test_one_row_per_kpi_with_the_pathways_targets(self, quarter):
        summary = mdc_summary(quarter)
        table = summary.table.set_index("kpi")
        assert table.index.is_unique and "compliance_pct" in table.index
        assert table.loc["compliance_pct", "target"] == 90
        assert table.loc["compliance_pct", "target_source"] == "Contract schedule 2, KPI 1 (example)"

    def test_icons_mean_and_limits_agree_with_the_chart_the_report_draws(self, quarter):
        summary = mdc_summary(quarter)
        row = summary.table.set_index("kpi").loc["compliance_pct"]
        chart = trends.compliance_p_chart(quarter.history, target_pct=90)  # the trend chart's own call
        last = chart.points.iloc[-1]
        assert (row["variation"], row["assurance"]) == (chart.variation_icon, chart.assurance_icon)
        assert row["mean"] == pytest.approx(100 * last["mean"])
        assert (row["lower_limit"], row["upper_limit"]) == pytest.approx((100 * last["lpl"], 100 * last["upl"]))
        assert row["month"] == pd.Timestamp("2025-12-01")
        drawn = charts.spc_chart(summary.chart_input("compliance_pct").result, "t", "%", percent=True)
        badges = [a.text for a in drawn.layout.annotations if a.name == "badge"]
        assert any(icons.VARIATION[row["variation"]].label.lower() in b for b in badges)

    def test_the_collapse_in_timeliness_is_a_low_concern_that_will_miss_its_target(self, quarter):
        row = mdc_summary(quarter).table.set_index("kpi").loc["compliance_pct"]
        chart = trends.compliance_p_chart(quarter.history)
        concern = chart.points.loc[chart.points["point_type"] == "special_cause_concern", "x"]
        assert len(concern) and (concern >= pd.Timestamp("2025-10-01")).all()  # the collapse shows
        assert row["variation"] == chart.variation_icon  # the icon agrees with the chart
        assert row["assurance"] == "consistent_fail"

    def test_rows_are_sorted_by_concern_then_failing_assurance(self, quarter):
        table = mdc_summary(quarter).table
        concern = table["variation"].isin(["concern_high", "concern_low"]).to_list()
        assert concern == sorted(concern, reverse=True)
        after = table[~table["variation"].isin(["concern_high", "concern_low"])]
        failing = (after["assurance"] == "consistent_fail").to_list()
        assert failing == sorted(failing, reverse=True)

    def test_a_kpi_without_a_target_has_no_assurance_icon(self, quarter, monkeypatch):
        bare = Pathway.model_validate({**quarter.pathway.model_dump(), "kpi_targets": {}})
        monkeypatch.setattr(quarter, "pathway", bare)
        table = mdc_summary(quarter).table
        assert table["target"].isna().all() and table["assurance"].isna().all()
        shown = table_html(mdc_summary(quarter).for_display())
        assert "Consistently" not in shown and "Hit and miss" not in shown

    def test_kpis_without_a_chart_for_the_same_reason_share_one_note(self):
        """A small export: one sentence naming the KPIs, not one line each under page 1's table."""
        reason = "no SPC chart (no month with figures that can be shown)"
        table = pd.DataFrame({"indicator": ["Escalations within target (%)", "Near misses reported", "Median delay"],
                              "target": [90.0, None, None], "unit": ["percent", "count", "minutes"],
                              "target_source": ["Contract, KPI 1", "", ""], "note": [reason, reason, "other reason"]})
        notes = MdcSummary(table, {}).notes()
        assert "No SPC chart (no month with figures that can be shown) for: escalations within target; " \
               "near misses reported." in notes
        assert "Median delay: other reason." in notes

    def test_the_display_draws_icons_and_writes_counts_as_whole_numbers(self, quarter):
        shown = mdc_summary(quarter).for_display().set_index("KPI")
        assert "<svg" in shown.loc["Escalations within target", "Variation"].markup
        latest = shown.loc["Episodes with no escalation recorded", "Latest"]
        assert re.fullmatch(r"\d[\d,]*", latest)
        assert shown.loc["Escalations within target", "Latest"].endswith("%")

    def test_external_readers_get_the_published_series_their_charts_are_drawn_from(self, quarter):
        from escalation_analysis.reviews.disclosure import plan_for, policy_for, published

        external = mdc_summary(quarter, audience="external")
        plan = plan_for(quarter, policy_for("external"))
        chart = published.compliance_p_chart(plan, target_pct=90)
        row = external.table.set_index("kpi").loc["compliance_pct"]
        last = chart.points.iloc[-1]
        assert row["latest"] == pytest.approx(100 * last["y"])
        assert (row["variation"], row["assurance"]) == (chart.variation_icon, chart.assurance_icon)
        counts = external.table[external.table["unit"] == "count"]["latest"]
        assert all(isinstance(v, str) or pd.isna(v) or v == 0 or v % 5 == 0 for v in counts)  # rounded to 5


def _groups_chart_by_chart(history: pd.DataFrame, start: dt.date, by: str = "team", target_pct=None,
                           min_months: int = 6) -> pd.DataFrame:
    """special_cause_groups as it was written: each group's own rows, its own compliance p-chart."""
    import numpy as np

    rows = []
    for group in sorted(history[by].dropna().astype("str").unique()):
        subset = history[history[by].astype("str") == group]
        if group == "Not recorded" or subset["month"].nunique() < min_months:
            continue
        points = trends.compliance_p_chart(subset, target_pct=target_pct).points
        concern = (points["point_type"] == "special_cause_concern").to_numpy()
        flagged = np.flatnonzero(concern & (pd.to_datetime(points["x"]) >= pd.Timestamp(start)).to_numpy())
        if not len(flagged):
            continue
        last = first = int(flagged[-1])
        while first > 0 and concern[first - 1]:
            first -= 1
        rows.append({"group": group, "from_month": pd.Timestamp(points["x"].iloc[first]),
                     "to_month": pd.Timestamp(points["x"].iloc[last]), "months": last - first + 1,
                     "latest_pct": 100 * float(points["y"].iloc[last]), "mean_pct": 100 * float(points["mean"].iloc[last]),
                     "rule": str(points["special_cause_type"].iloc[first])})
    columns = ["group", "from_month", "to_month", "months", "latest_pct", "mean_pct", "rule"]
    return pd.DataFrame(rows, columns=columns).sort_values("latest_pct", ignore_index=True)


class TestCrisisResponseTrend:
    def test_the_crisis_team_s_chart_is_read_from_every_agency_s_responses(self, quarter):
        # the chart takes the crisis team's steps only: the same months and counts as from every agency's table
        from escalation_analysis.measures.agencies import agency_responses
        from escalation_analysis.measures.kpi_trends import _crisis_response_chart

        history, steps = quarter.history, quarter.steps_frame
        for target_minutes in (30, 60, 240):
            responses = agency_responses(history, steps)
            crisis = responses[(responses["agency"] == "crisis_team") & responses["response_minutes"].notna()]
            months = history.drop_duplicates("incident_id").set_index("incident_id")["month"]
            within = crisis["response_minutes"] <= target_minutes
            counted = pd.DataFrame({"month": crisis["incident_id"].map(months), "within": within})
            monthly = counted.groupby("month", observed=True)["within"].agg(["size", "sum"])
            chart = _crisis_response_chart(history, steps, target_minutes, 90)
            assert chart.points["denominator"].tolist() == monthly["size"].tolist()
            assert chart.points["numerator"].tolist() == monthly["sum"].tolist()
        others = steps[steps["agency"] != "crisis_team"]
        assert len(others) and _crisis_response_chart(history, others, 60, 90) is None  # not read from the export
        assert _crisis_response_chart(history, None, 60, 90) is not None  # no step log: the export's first contact


class TestSpecialCauseGroups:
    def test_counting_every_group_at_once_finds_what_each_group_s_own_chart_finds(self, quarter):
        # one count of every group and month, as each group's chart from its own rows: to the last bit
        history = quarter.history
        shuffled = history.sample(frac=0.6, random_state=3)
        odd = shuffled.assign(team=shuffled["team"].astype("object").where(shuffled.index % 7 != 0, None))
        cases = [(history, "team", 90, 6), (history, "team", None, 3), (history, "trigger", 90, 2),
                 (shuffled, "team", 90, 4), (odd, "team", None, 2), (history.assign(team=history["team"].astype("category")), "team", 90, 3),
                 (history.iloc[:0], "team", 90, 6)]
        found = 0
        for frame, by, target, months in cases:
            ours = special_cause_groups(frame, quarter.start, by=by, target_pct=target, min_months=months)
            pd.testing.assert_frame_equal(ours, _groups_chart_by_chart(frame, quarter.start, by, target, months),
                                          check_exact=True)
            found += len(ours)
        assert found >= 3

    def test_the_deteriorating_team_is_found_with_the_month_it_began(self, quarter):
        groups = special_cause_groups(quarter.history, quarter.start, target_pct=90)
        assert groups["group"].tolist() == ["Riverside CMHT"]
        assert groups.loc[0, "from_month"] == pd.Timestamp(dt.date(2025, 10, 1))
        assert groups.loc[0, "latest_pct"] < groups.loc[0, "mean_pct"]
