"""Tests for escalation_analysis.reviews.charts: each builder draws the frame it is given, faithfully.

Inputs are the package's own frames, from the synthetic sample in ``data/sample/`` or from
small hand-made frames whose answers can be read off by eye.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from escalation_analysis.measures import control_charts
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.measures.funnels import compute_funnel
from escalation_analysis.measures.near_misses import (
    barrier_cooccurrence,
    barrier_frequency,
    late_heatmap,
    near_miss_ratio,
)
from escalation_analysis.measures.spc import p_chart, xmr
from escalation_analysis.measures.statistics import kaplan_meier
from escalation_analysis.measures.timeliness import compliance_table
from escalation_analysis.reviews import charts, plotly_bundle
from escalation_analysis.reviews.icons import COLOURS

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def episodes() -> pd.DataFrame:
    analysis = analyse(
        SAMPLE / "incidents.csv",
        SAMPLE / "mapping.yaml",
        SAMPLE / "pathway.yaml",
        "2025-04-01",
        "2026-03-31",
        key=b"test-charts-key",
    )
    return analysis.episodes


@pytest.fixture(scope="module")
def by_team(episodes) -> pd.DataFrame:
    return compliance_table(episodes, "team")


@pytest.fixture(scope="module")
def sample_plan(sample):
    from escalation_analysis.reviews.disclosure import NHS_ROUNDED, plan_for

    return plan_for(sample, NHS_ROUNDED)


@pytest.fixture(scope="module")
def by_month(episodes) -> pd.DataFrame:
    return compliance_table(episodes, "month")


def names(fig: go.Figure) -> list[str]:
    return [trace.name for trace in fig.data]


def trace(fig: go.Figure, name: str):
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, f"expected one trace named {name!r}, found {names(fig)}"
    return found[0]


def annotation_texts(fig: go.Figure) -> list[str]:
    return [a.text for a in fig.layout.annotations]


def assert_serialises(fig: go.Figure) -> dict:
    """The figure writes to an offline HTML div and to JSON; returns the JSON."""
    body = fig.to_html(include_plotlyjs=False, full_html=False)
    assert "Plotly.newPlot" in body
    assert "<script src=" not in body  # nothing fetched from the network
    return json.loads(fig.to_json())


def title_of(fig: go.Figure) -> str:
    return fig.layout.title.text or ""


# --------------------------------------------------------------------------------------------
# house style


class TestStyle:
    def test_template_uses_a_print_readable_sans_serif_on_white(self):
        layout = charts.TEMPLATE.layout
        assert layout.font.family.startswith("Arial")
        assert layout.font.size >= 12
        assert layout.paper_bgcolor == "#FFFFFF"
        assert layout.colorway[0] == charts.NHS_BLUE

    def test_the_house_template_goes_in_as_plotly_s_own_checked_assignment_puts_it(self):
        # _finish puts TEMPLATE in without plotly checking it again: same figure, same checks after
        fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
        checked = go.Figure(fig)
        charts._house_template(fig)
        fig.update_layout(height=300, title={"text": "T", "x": 0})
        checked.update_layout(template=charts.TEMPLATE, height=300, title={"text": "T", "x": 0})
        assert fig.to_json() == checked.to_json()
        assert fig.layout._validate and fig.layout.template.layout.font.size == charts.TEMPLATE.layout.font.size
        fig.layout.template.layout.font.size = 99  # a copy: the house template is untouched
        assert charts.TEMPLATE.layout.font.size != 99
        with pytest.raises(ValueError):
            fig.update_layout(height=-1)

    def test_layout_updates_give_plotly_s_own_figure_and_still_check_values(self):
        # charts._update writes plotly's batched edits itself: the same layout, keys in the same order
        def both(build, *updates):
            ours, plotlys = build(), build()
            for method, spec in updates:
                getattr(charts, f"_{method}")(ours, **spec)
                getattr(plotlys, method)(**spec)
            assert ours.to_json() == plotlys.to_json()
            return ours

        def figure():
            fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name="a"))
            charts._house_template(fig)
            return fig

        both(figure,
             ("update_layout", {"title": {"text": "T", "x": 0, "pad": {"l": 12}, "subtitle": {"text": "S"}},
                                "height": 300, "margin": {"t": 80, "b": 60, "autoexpand": True}, "showlegend": False,
                                "legend": {"x": 0.1, "xref": "container"}, "meta": {"ea_text": {"rows": [["a", "1"]]}}}),
             ("update_xaxes", {"title_text": "X", "range": [0, 5], "type": "linear"}),
             ("update_yaxes", {"title_text": None, "ticksuffix": "%", "categoryorder": "array",
                               "categoryarray": ["b", "a"]}),
             ("update_layout", {"height": 400, "title": {"text": "U"}, "margin": {"t": 90}, "barmode": "group"}),
             ("update_layout", {"meta": {"ea_text": {"rows": []}}, "showlegend": None}))
        checked, plotlys = figure(), figure()
        with pytest.raises(ValueError):
            charts._update_layout(checked, height=300, width=-1)
        with pytest.raises(ValueError):
            plotlys.update_layout(height=300, width=-1)
        with pytest.raises(ValueError):
            charts._update_xaxes(checked, no_such_property=1)
        assert checked.to_json() == plotlys.to_json()  # the edits before the bad value are kept, as plotly keeps them
        assert not checked._in_batch_mode and not checked._batch_layout_edits

    def test_config_hides_the_plotly_logo(self):
        assert charts.PLOTLY_CONFIG["displaylogo"] is False

    def test_building_and_serialising_never_imports_plotly_renderers(self):
        # plotly.io.renderers imports nbformat and jsonschema: 2 s per report kernel
        code = (
            "import sys, pandas as pd\n"
            "from escalation_analysis.reviews import charts\n"
            "t = pd.DataFrame({'team': ['A', 'B'], 'n': [10, 20], 'within_target': [5, 15],"
            " 'within_target_pct': [50.0, 75.0], 'ci95_low_pct': [20.0, 50.0],"
            " 'ci95_high_pct': [80.0, 90.0]})\n"
            "fig = charts.compliance_by_group(t, 'team', 80)\n"
            "fig.to_html(include_plotlyjs=False, full_html=False); fig.to_json()\n"
            "bad = [m for m in ('plotly.io._renderers', 'nbformat', 'jsonschema')"
            " if m in sys.modules]\n"
            "assert not bad, bad\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr

    def test_every_trace_type_a_builder_draws_is_in_the_embedded_plotly_bundle(self):
        # Reports embed plotly's cartesian bundle, not the whole library: a trace type missing
        # from it would leave a blank chart. Every builder's traces are read from charts.py itself
        # (go.Heatmap(...), fig.add_scatter(...), type="bar"), so a new builder is covered too.
        import ast

        import plotly.basedatatypes

        trace_classes = {name: name.lower() for name in dir(go) if isinstance(getattr(go, name), type)
                         and issubclass(getattr(go, name), plotly.basedatatypes.BaseTraceType)}
        known = set(trace_classes.values())
        used = set()
        for node in ast.walk(ast.parse(Path(charts.__file__).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                attribute = node.func.attr
                if isinstance(node.func.value, ast.Name) and node.func.value.id == "go" and attribute in trace_classes:
                    used.add(trace_classes[attribute])
                elif attribute.startswith("add_") and attribute[4:] in known:
                    used.add(attribute[4:])
            if isinstance(node, ast.keyword) and node.arg == "type" and isinstance(node.value, ast.Constant):
                used |= {node.value.value} & known
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "type" and isinstance(value, ast.Constant):
                        used |= {value.value} & known
        assert {"scatter", "bar", "box", "heatmap"} <= used  # the scan sees the builders' traces
        assert used <= plotly_bundle.trace_types(), used - plotly_bundle.trace_types()

    def test_the_embedded_bundle_is_plotlys_own_cartesian_bundle_with_its_licence(self):
        from importlib import resources

        from plotly.offline import get_plotlyjs_version

        assert plotly_bundle.plotlyjs().lstrip().startswith("/**\n* plotly.js (cartesian - minified) v")
        # same major version as the plotly.js plotly writes figures for (see plotly_bundle to refresh it)
        assert plotly_bundle.version().split(".")[0] == get_plotlyjs_version().split(".")[0]
        licence = resources.files("escalation_analysis").joinpath("resources/plotly-cartesian.LICENSE").read_text()
        assert licence.startswith("MIT License") and "Plotly" in licence
        assert len(plotly_bundle.plotlyjs().encode()) < 1_600_000

    def test_text_from_data_is_escaped(self):
        table = pd.DataFrame(
            {"team": ["<b>Bold</b> & co"], "n": [10], "within_target": [5],
             "within_target_pct": [50.0], "ci95_low_pct": [23.7], "ci95_high_pct": [76.3]}
        )
        fig = charts.compliance_by_group(table, "team", title="<script>x</script>")
        assert fig.data[0].y[0] == "&lt;b&gt;Bold&lt;/b&gt; &amp; co (n = 10)"
        assert "&lt;script&gt;" in title_of(fig)
        raw = fig.to_json()
        assert "<b>Bold" not in raw
        assert "<script>" not in raw


# --------------------------------------------------------------------------------------------
# 1. SPC


def _concern_series() -> pd.Series:
    """20 months around 80 with months 15-16 far below: special cause concern when higher is
    better."""
    values = [80, 82, 79, 81, 80, 83, 78, 80, 81, 79, 82, 80, 81, 79, 40, 42, 80, 81, 79, 80]
    index = pd.date_range("2024-04-01", periods=len(values), freq="MS")
    return pd.Series(values, index=index, dtype=float)


class TestSpcChart:
    def test_has_data_mean_and_limits_and_target(self):
        result = xmr(_concern_series(), target=85)
        fig = charts.spc_chart(result, "Within target", "Escalated within target (%)",
                               percent=True)
        for name in ("Data", "Mean", "Upper process limit", "Lower process limit", "Target"):
            trace(fig, name)
        assert list(trace(fig, "Data").y) == list(result.points["y"])
        assert trace(fig, "Mean").y[0] == pytest.approx(result.points["mean"].iloc[0])
        assert trace(fig, "Upper process limit").line.dash == "dash"
        assert set(trace(fig, "Target").y) == {85.0}
        assert title_of(fig).endswith("Within target</b>")
        assert fig.layout.yaxis.ticksuffix == "%"
        assert_serialises(fig)

    def test_special_cause_concern_points_are_orange_diamonds(self):
        result = xmr(_concern_series(), improvement="increase")
        concern = result.points["point_type"] == "special_cause_concern"
        assert concern.sum() == 2
        fig = charts.spc_chart(result, "Within target", "Escalated within target (%)")
        marker_trace = trace(fig, "Special cause: concern")
        assert marker_trace.marker.color == COLOURS["concern"]
        assert marker_trace.marker.symbol == "diamond"  # not colour alone
        assert list(marker_trace.y) == list(result.points.loc[concern, "y"])
        # every special-cause trace holds exactly the points of its type
        for point_type, (label, _, _) in charts._POINT_STYLE.items():
            of_type = result.points.loc[result.points["point_type"] == point_type, "y"]
            if len(of_type):
                assert list(trace(fig, label).y) == list(of_type)
            else:
                assert label not in names(fig)
        assert fig.layout.showlegend is True

    def test_improvement_is_blue_when_lower_is_better(self):
        result = xmr(_concern_series(), improvement="decrease")
        fig = charts.spc_chart(result, "Delay", "Median delay (minutes)")
        assert trace(fig, "Special cause: improvement").marker.color == COLOURS["improvement"]

    def test_icons_are_text_badges(self):
        result = xmr(_concern_series(), target=85)
        fig = charts.spc_chart(result, "Within target", "Escalated within target (%)")
        texts = " | ".join(annotation_texts(fig))
        assert result.variation_icon == "common_cause"
        assert "common cause" in texts
        assert "Assurance: " in texts
        # no image files: the icons must draw offline
        assert not fig.layout.images

    def test_concern_badge_when_the_last_point_is_a_concern(self):
        values = [*list(_concern_series().iloc[:14]), 40.0]
        result = xmr(pd.Series(values))
        assert result.variation_icon == "concern_low"
        fig = charts.spc_chart(result, "Within target", "Escalated within target (%)")
        assert any("concern (low)" in text for text in annotation_texts(fig))

    def test_short_series_warning_is_a_note(self):
        result = xmr(_concern_series().iloc[:8])
        fig = charts.spc_chart(result, "Short", "Value")
        assert any("Fewer than 13 points" in text for text in annotation_texts(fig))
        long_fig = charts.spc_chart(xmr(_concern_series()), "Long", "Value")
        assert not any("Fewer than 13" in text for text in annotation_texts(long_fig))

    def test_p_chart_is_drawn_in_percent_with_uk_months(self, by_month):
        result = p_chart("within_target", "n", "month", data=by_month, target=0.8)
        fig = charts.spc_chart(result, "Within target", "Escalated within target (%)")
        data = trace(fig, "Data")
        assert data.y[0] == pytest.approx(100 * by_month["within_target"].iloc[0]
                                          / by_month["n"].iloc[0])
        assert set(trace(fig, "Target").y) == {80.0}
        assert pd.Timestamp(data.x[0]) == pd.Timestamp("2025-04-01")
        assert fig.layout.xaxis.type == "date"
        assert "%b" in fig.layout.xaxis.tickformat and "%Y" in fig.layout.xaxis.tickformat
        assert trace(fig, "Upper process limit").line.shape == "hvh"  # limits per month
        first = by_month.iloc[0]
        assert f"{int(first['within_target'])} of {int(first['n'])}" in data.hovertext[0]
        assert_serialises(fig)

    def test_rebased_limits_break_between_periods(self):
        series = _concern_series()
        result = xmr(series, rebase=[series.index[14]])
        fig = charts.spc_chart(result, "Rebased", "Value")
        mean = trace(fig, "Mean")
        assert sum(v is None for v in mean.x) == 1
        assert len(mean.x) == len(series) + 1


# --------------------------------------------------------------------------------------------
# 2. Funnel


class TestControlChart:
    DATES = pd.date_range("2024-01-01", periods=16, freq="MS")

    def test_points_beyond_a_limit_are_marked_and_the_runs_analysis_is_a_note(self):
        counts = [4, 6, 5, 3, 5, 4, 6, 5, 4, 5, 3, 6, 4, 5, 19, 5]
        fig = charts.control_chart(control_charts.c_chart(counts, self.DATES), "Episodes", "Count")
        assert_serialises(fig)
        beyond = trace(fig, "Beyond a limit")
        assert list(beyond.y) == [19]
        assert "Beyond a limit: special cause" in beyond.hovertext[0]
        assert {"Upper limit", "Lower limit", "Centre line", "Data"} <= set(names(fig))
        assert any("no sign of non-random variation" in text for text in annotation_texts(fig))

    def test_a_runs_signal_draws_the_centre_line_dashed_in_orange(self):
        values = [1.0, 2, 1, 2, 1, 2, 1, 2, 9, 8, 9, 8, 9, 8, 9, 8]
        fig = charts.control_chart(control_charts.run_chart(values, self.DATES), "Run", "Value")
        centre = [t for t in fig.data if t.name == "Centre line"]
        assert [t.line.dash for t in centre] == ["dash"]
        assert "Upper limit" not in names(fig)
        assert any("non-random variation (Anhøj" in text for text in annotation_texts(fig))


class TestFunnelPlot:
    TEAMS = pd.DataFrame({"team": ["A", "B", "C", "D"], "ok": [40, 45, 20, 160],
                          "all": [50, 50, 50, 200]})

    def test_two_limit_pairs_centre_line_and_labelled_outliers(self):
        result = compute_funnel(self.TEAMS, "ok", "all", "team", overdispersion=None)
        fig = charts.funnel_plot(result, "Teams compared")
        assert names(fig).count("95% limits") == 2
        assert names(fig).count("99.8% limits") == 2
        # one legend entry per pair
        assert sum(t.showlegend is not False for t in fig.data if t.name == "95% limits") == 1
        upper_95 = fig.data[names(fig).index("95% limits")]
        at_50 = result.limits.loc[result.limits["denominator"] == 50, "upper_95"].iloc[0]
        assert upper_95.y[list(upper_95.x).index(50)] == pytest.approx(100 * at_50)
        assert any(n.startswith("Overall (") for n in names(fig))
        below = trace(fig, "Below the 99.8% limit")
        assert below.marker.symbol == "triangle-down"
        assert trace(fig, "Above the 95% limit").marker.symbol == "triangle-up-open"
        # outliers only are named, on leader lines: above the point or below it
        labels = {a.text: (a.x, a.y, a.ay) for a in fig.layout.annotations if a.name == "unit label"}
        assert set(labels) == {"B", "C"}
        assert labels["C"][:2] == (50, pytest.approx(40.0)) and labels["C"][2] > 0
        assert labels["B"][:2] == (50, pytest.approx(90.0)) and labels["B"][2] < 0
        assert title_of(fig)
        assert_serialises(fig)

    def test_adjusted_limits_are_drawn_when_in_use(self, by_team):
        result = compute_funnel(by_team, "within_target", "n", "team")
        assert result.adjusted
        fig = charts.funnel_plot(result, "Teams")
        upper_998 = fig.data[names(fig).index("99.8% limits")]
        keep = result.limits["denominator"] <= by_team["n"].max() * 1.08
        assert list(upper_998.y) == pytest.approx(
            list(100 * result.limits.loc[keep, "od_upper_998"]))
        assert any("overdispersion" in text for text in annotation_texts(fig))
        outliers = result.units.loc[result.units["position"] != "within", "unit"]
        labelled = [a.text for a in fig.layout.annotations if a.name == "unit label"]
        assert sorted(labelled) == sorted(outliers)


# --------------------------------------------------------------------------------------------
# 3. Delay distribution


class TestDelayDistribution:
    def test_one_box_per_band_with_target_ticks(self, episodes):
        fig = charts.delay_distribution(episodes, "band")
        boxes = [t for t in fig.data if t.type == "box"]
        assert [b.name for b in boxes] == ["In hours", "Out of hours"]
        escalated = episodes[episodes["escalated"]]
        in_hours = escalated[escalated["band"] == "in_hours"]["delay_minutes"]
        assert len(boxes[0].x) == len(in_hours)
        targets = trace(fig, "Target")
        expected = {("In hours", t) for t in in_hours.index.map(
            escalated["target_minutes"]).unique()}
        expected |= {("Out of hours", t) for t in
                     escalated.loc[escalated["band"] == "out_of_hours", "target_minutes"]}
        assert set(zip(targets.y, targets.x, strict=False)) == expected
        assert fig.layout.xaxis.type == "log"
        assert "1 h" in fig.layout.xaxis.ticktext
        assert any("no escalation recorded" in text for text in annotation_texts(fig))
        assert_serialises(fig)

    def test_histogram_has_a_line_per_trigger(self, episodes):
        fig = charts.delay_distribution(episodes, "trigger", kind="histogram")
        lines = [n for n in names(fig) if n != "Target"]
        assert lines == ["Imminent risk", "Loss of contact", "Deterioration", "Other"]
        assert "Target" in names(fig)
        assert_serialises(fig)

    def test_unknown_kind_is_refused(self, episodes):
        with pytest.raises(ValueError, match="kind"):
            charts.delay_distribution(episodes, kind="violin")


# --------------------------------------------------------------------------------------------
# 4. Kaplan-Meier


@pytest.fixture(scope="module")
def km(episodes) -> pd.DataFrame:
    durations = episodes["delay_minutes"].fillna(1440).clip(lower=0)
    return kaplan_meier(durations, episodes["escalated"], episodes["band"])


class TestKmCurves:
    def test_one_step_curve_per_group_with_ci_bands(self, km):
        fig = charts.km_curves(km, targets=[60, 240])
        curves = [t for t in fig.data if not t.name.endswith("95% CI")]
        assert [c.name for c in curves] == ["In hours", "Out of hours"]
        assert all(c.line.shape == "hv" for c in curves)
        bands = [t for t in fig.data if t.name.endswith("95% CI")]
        assert len(bands) == 4
        part = km[(km["group"] == "in_hours") & (km["time"] > 0)]
        assert list(curves[0].y) == pytest.approx(list(100 * part["cumulative_escalated"]))
        assert list(curves[0].x) == pytest.approx(list(part["time"]))
        assert fig.layout.showlegend is True
        assert {"Target 1 h", "Target 4 h"} <= set(annotation_texts(fig))
        assert fig.layout.yaxis.ticksuffix == "%"
        assert_serialises(fig)

    def test_one_group_needs_no_legend_and_linear_time_is_in_hours(self):
        km = kaplan_meier([5, 10, 10, 600], [True, True, False, True])
        fig = charts.km_curves(km, log_time=False, ci=False)
        assert names(fig) == ["All"]
        assert not fig.layout.showlegend
        assert list(fig.data[0].x) == pytest.approx([0, 5 / 60, 10 / 60, 10])
        assert "Hours" in fig.layout.xaxis.title.text


# --------------------------------------------------------------------------------------------
# 5. Heatmap


class TestLateHeatmap:
    def test_monday_on_top_and_values_in_place(self, episodes):
        frame = late_heatmap(episodes)
        fig = charts.late_heatmap(frame)
        heat = fig.data[0]
        z = np.array(heat.z, dtype=float)
        assert z.shape == (7, 24)
        assert heat.y[0] == "Mon"
        assert fig.layout.yaxis.autorange == "reversed"
        wed_14 = frame[(frame["weekday"] == "Wed") & (frame["hour"] == 14)]["late_pct"].iloc[0]
        assert z[2, 14] == pytest.approx(wed_14)
        assert heat.colorscale[0][1].upper() == "#F7FBFF"  # one-hue blues
        assert_serialises(fig)

    def test_counts_and_suppressed_cells(self):
        frame = pd.DataFrame({"weekday": ["Mon", "Sun"], "hour": [0, 23],
                              "episodes": [12, "*"], "late": [3, "*"],
                              "late_pct": [25.0, None]})
        fig = charts.late_heatmap(frame, value="late")
        z = np.array(fig.data[0].z, dtype=float)
        assert z[0, 0] == 3
        assert np.isnan(z[6, 23])
        assert "fewer than 8 episodes" in fig.data[0].hovertext[6][23]
        assert np.isnan(z[3, 12])  # no data at all

    def test_hover_text_counts_one_episode_in_the_singular(self):
        frame = pd.DataFrame({"weekday": ["Mon", "Tue"], "hour": [9, 9], "episodes": [1, 2], "late": [0, 1],
                              "late_pct": [0.0, 50.0]})
        hover = charts.late_heatmap(frame).data[0].hovertext
        assert hover[0][9].endswith("Late: 0 of 1 episode (0%)")
        assert hover[1][9].endswith("Late: 1 of 2 episodes (50%)")


# --------------------------------------------------------------------------------------------
# 6. Barrier co-occurrence


class TestBarrierCooccurrence:
    def test_counts_are_written_in_every_cell(self, episodes):
        matrix = barrier_cooccurrence(episodes)
        fig = charts.barrier_cooccurrence(matrix)
        diagonal = trace(fig, "All episodes with the barrier")
        z = np.array(diagonal.z, dtype=float)
        assert np.diag(z) == pytest.approx(np.diag(matrix.to_numpy(float)))
        together = [t for t in fig.data if t.name == "Together"]
        assert len(together) == 2
        shown = {}
        for t in fig.data:
            for i, row in enumerate(t.text):
                for j, text in enumerate(row):
                    if text:
                        shown[(i, j)] = text
        n = len(matrix)
        assert len(shown) == n * n
        assert shown[(0, 1)] == f"{matrix.iloc[0, 1]:,}"
        assert fig.data[0].y[0].startswith("1. ")
        assert title_of(fig)
        assert_serialises(fig)

    def test_hover_text_counts_one_episode_in_the_singular(self):
        matrix = pd.DataFrame([[3, 1], [1, 2]], index=["No signal", "No answer"], columns=["No signal", "No answer"])
        hover = [text for t in charts.barrier_cooccurrence(matrix).data for row in t.hovertext for text in row if text]
        assert any(h.endswith("<br>3 episodes in all") for h in hover)
        assert any(h.endswith("<br>1 episode") for h in hover) and not any("1 episodes" in h for h in hover)


# --------------------------------------------------------------------------------------------
# 7. Compliance by group


class TestComplianceByGroup:
    def test_hover_text_counts_one_episode_in_the_singular(self):
        table = pd.DataFrame({"team": ["Coastal", "North"], "n": [1, 12], "within_target": [0, 9],
                              "within_target_pct": [0.0, 75.0], "ci95_low_pct": [0.0, 46.8],
                              "ci95_high_pct": [79.3, 91.1]})
        hover = list(trace(charts.compliance_by_group(table, "team"), "Within target").hovertext)
        assert hover[0].endswith("<br>9 of 12 episodes") and hover[1].endswith("<br>0 of 1 episode")

    def test_sorted_bars_with_wilson_error_bars_and_target(self, by_team):
        fig = charts.compliance_by_group(by_team, "team", target_pct=80)
        bars = trace(fig, "Within target")
        assert list(bars.x) == sorted(by_team["within_target_pct"], reverse=True)
        top = by_team.loc[by_team["within_target_pct"].idxmax()]
        assert bars.y[0] == f"{top['team']} (n = {top['n']:,})"
        assert bars.error_x.array[0] == pytest.approx(top["ci95_high_pct"]
                                                      - top["within_target_pct"])
        assert bars.error_x.arrayminus[0] == pytest.approx(top["within_target_pct"]
                                                           - top["ci95_low_pct"])
        assert fig.layout.yaxis.autorange == "reversed"  # highest at the top
        assert [s.x0 for s in fig.layout.shapes] == [80]
        assert "Target 80%" in annotation_texts(fig)
        assert "Withheld" not in names(fig)
        assert_serialises(fig)

    def test_withheld_groups_get_no_bar_and_a_label_that_says_why(self, sample_plan):
        table = sample_plan.table("timeliness_by_team").frame
        hidden = table["within_target_pct"].isna()
        assert hidden.any()
        fig = charts.compliance_by_group(table, "team", target_pct=80)
        bars = trace(fig, "Within target")
        withheld = trace(fig, "Withheld")
        hidden_teams = set(table.loc[hidden, "team"])
        assert {y.split(" (n")[0] for y in withheld.y} == hidden_teams
        assert not hidden_teams & {y.split(" (n")[0] for y in bars.y}
        assert all("fewer than 8 episodes" in t for t in withheld.text)  # every hidden team is small here
        assert len(bars.x) == (~hidden).sum()
        assert all(np.isfinite(bars.x))
        assert_serialises(fig)

    def test_a_large_group_whose_rate_is_withheld_is_never_called_small(self):
        table = pd.DataFrame({"team": ["A", "B"], "n": [175, 40], "within_target": [95, "*"],
                              "within_target_pct": [54.3, None], "ci95_low_pct": [46.9, None],
                              "ci95_high_pct": [61.5, None]})
        fig = charts.compliance_by_group(table, "team")
        assert list(trace(fig, "Withheld").text) == ["<i>withheld to protect a small number</i>"]
        assert "small numbers" not in str(fig.to_plotly_json())

    def test_hand_made_suppressed_row(self):
        table = pd.DataFrame({"team": ["A", "B"], "n": [40, "*"], "within_target": [30, "*"],
                              "within_target_pct": [75.0, None],
                              "ci95_low_pct": [59.8, None], "ci95_high_pct": [85.8, None]})
        fig = charts.compliance_by_group(table, "team")
        assert list(trace(fig, "Within target").y) == ["A (n = 40)"]
        assert list(trace(fig, "Withheld").y) == ["B"]
        assert list(fig.layout.yaxis.categoryarray) == ["A (n = 40)", "B"]


# --------------------------------------------------------------------------------------------
# 8. Bars


class TestBarCounts:
    def test_barrier_frequency_sorted_with_value_labels(self, episodes):
        table = barrier_frequency(episodes)
        fig = charts.bar_counts(table, "barrier", "episodes", "Barriers met",
                                value_title="Episodes (number)")
        bars = fig.data[0]
        assert bars.type == "bar" and bars.orientation == "h"
        assert list(bars.x) == sorted(table["episodes"], reverse=True)
        labels = trace(fig, "Values")
        assert labels.text[0].strip() == f"{table['episodes'].max():,}"
        assert not fig.layout.showlegend
        assert fig.layout.xaxis.title.text == "Episodes (number)"
        assert_serialises(fig)

    def test_per_category_targets_and_suppressed_values(self):
        table = pd.DataFrame({"agency": ["crisis_team", "police", "gp"],
                              "median_minutes": [122.0, 46.0, "*"],
                              "target_minutes": [240.0, 60.0, None]})
        fig = charts.bar_counts(table, "agency", "median_minutes", "Response",
                                value_title="Median response (minutes)",
                                target="target_minutes", minutes=True)
        assert list(fig.data[0].y) == ["Crisis team", "Police"]
        target = trace(fig, "Target")
        assert list(target.x) == [240.0, 60.0]
        assert "2 h 2 min (target 4 h)" in trace(fig, "Values").text[0]
        assert list(trace(fig, "Withheld").y) == ["GP"]
        assert fig.layout.showlegend is True
        assert_serialises(fig)

    def test_target_line(self):
        table = pd.DataFrame({"theme": ["a_b", "c"], "late_pct": [40.0, 20.0]})
        fig = charts.bar_counts(table, "theme", "late_pct", "Themes", target=30, percent=True)
        assert [s.x0 for s in fig.layout.shapes] == [30.0]
        assert "Target 30%" in annotation_texts(fig)
        assert list(fig.data[0].y) == ["A b", "C"]


# --------------------------------------------------------------------------------------------
# 9. Trend line


class TestTrendLine:
    def test_quarters_stay_in_order_as_categories(self, episodes):
        table = near_miss_ratio(episodes)
        fig = charts.trend_line(table, "quarter", "ratio", title="Near misses per incident",
                                y_title="Near misses per incident")
        line = trace(fig, "Near misses per incident")
        assert list(line.x) == list(table["quarter"])
        assert list(line.y) == pytest.approx(list(table["ratio"]))
        assert fig.layout.xaxis.type == "category"
        assert line.text[0] == f"{table['ratio'].iloc[0]:.2f}"
        assert_serialises(fig)

    def test_months_become_uk_dates_with_a_ci_band_and_target(self, by_month):
        fig = charts.trend_line(by_month, "month", "within_target_pct", title="By month",
                                y_title="Escalated within target (%)", lower="ci95_low_pct",
                                upper="ci95_high_pct", target=80, percent=True)
        line = trace(fig, "Escalated within target (%)")
        assert pd.Timestamp(line.x[0]) == pd.Timestamp("2025-04-01")
        assert fig.layout.xaxis.type == "date"
        assert "Apr 2025" in line.hovertext[0]
        assert len([t for t in fig.data if t.name.endswith("95% CI")]) == 2
        assert any(text.startswith("Target 80") for text in annotation_texts(fig))
        assert fig.layout.xaxis.title.text == "Month"

    def test_groups_get_a_legend(self):
        table = pd.DataFrame({"q": ["Q1", "Q2", "Q1", "Q2"], "v": [1.0, 2.0, 3.0, 4.0],
                              "band": ["in_hours", "in_hours", "out_of_hours", "out_of_hours"]})
        fig = charts.trend_line(table, "q", "v", title="T", y_title="V", group="band")
        assert names(fig) == ["In hours", "Out of hours"]
        assert fig.layout.showlegend is True


# --------------------------------------------------------------------------------------------
# layout helpers


class TestHelpers:
    @pytest.mark.parametrize(
        ("minutes", "text"),
        [(45, "45 min"), (60, "1 h"), (90, "1 h 30 min"), (1440, "1 day"), (2880, "2 days"),
         (122, "2 h 2 min")],
    )
    def test_minutes_read_as_times(self, minutes, text):
        assert charts._fmt_minutes(minutes) == text

    def test_periods(self):
        dates, fmt = charts._periods(pd.Series(["2025-04", "2025-05"]))
        assert fmt == "%b %Y" and dates.iloc[1] == pd.Timestamp("2025-05-01")
        _, fmt = charts._periods(pd.Series(["2025/26 Q1"]))
        assert fmt is None
        tz = pd.Series(pd.to_datetime(["2025-04-03 10:00"]).tz_localize("Europe/London"))
        dates, fmt = charts._periods(tz)
        assert fmt == "%d %b %Y" and dates.iloc[0].hour == 10
        assert charts._fmt_period(pd.Timestamp("2025-04-03"), "%d %b %Y") == "3 Apr 2025"

    def test_every_figure_has_a_fixed_height_and_margins_for_a4(self, by_team):
        fig = charts.compliance_by_group(by_team, "team")
        assert fig.layout.height >= 300
        assert fig.layout.width is None  # the page decides the width
        assert fig.layout.margin.l + fig.layout.margin.r < 0.5 * charts.PAGE_WIDTH
        assert not math.isnan(fig.layout.title.y)


# --------------------------------------------------------------------------------------------
# one value without a Series


_ONE_VALUES = [
    0, 1, -1, 7, 1234, 2**53 - 1, -(2**53) + 1, 2**53, 2**63 - 1, 2**64, -(2**70), 0.0, -0.0, 0.4, -0.4, 0.5, 1.5, 2.5,
    1234.5678, -1e-12, 1e300, float("nan"), float("inf"), float("-inf"), True, False, None, pd.NA, pd.NaT,
    np.int8(-3), np.int16(300), np.int32(-70000), np.int64(2**62), np.uint8(200), np.uint64(2**64 - 1), np.float16(2.5),
    np.float32(0.1), np.float64(0.1), np.float64("nan"), np.longdouble(3.25), np.bool_(True), np.nan,
    "*", " * ", "[c]", "[x]", "12", " 5 ", "1,234", "1e3", "", "x", "nan", "inf", pd.Timestamp("2025-04-01"),
]


@pytest.mark.parametrize("value", _ONE_VALUES, ids=repr)
def test_one_value_reads_and_prints_as_a_series_of_one_would(value):
    # _number and _fmt_count skip pandas for plain numbers: the answer must be the Series' own
    def series_count(v):
        if charts._is_suppressed(v):
            return v.strip()
        number = pd.to_numeric(pd.Series([v], dtype=object), errors="coerce").iloc[0]
        return "–" if pd.isna(number) else f"{number:,.0f}"

    expected = charts._numbers([value])[0]
    got = charts._number(value)
    assert type(got) is type(expected)
    assert (np.isnan(got) and np.isnan(expected)) or (got == expected and np.signbit(got) == np.signbit(expected))
    try:
        wanted = series_count(value)
    except Exception as exc:  # the Series way refuses it: so must the fast one
        with pytest.raises(type(exc)):
            charts._fmt_count(value)
    else:
        assert charts._fmt_count(value) == wanted
