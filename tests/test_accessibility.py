"""Charts and tables every reader can use (WCAG 2.2 AA), without a browser.

Facts a reader relies on: every chart is a figure with a one-sentence caption computed from
its data and its numbers in a table; the drawing has an accessible name; meaning never rests
on colour alone; intervals and numbers never break across lines; wide tables print landscape.
The browser-level checks (Chromium's accessibility tree, the PDF) are in test_report_pages.py.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from escalation_analysis.measures import comparisons, trends
from escalation_analysis.measures import near_misses as nm
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.measures.spc import xmr
from escalation_analysis.measures.timeliness import compliance_table
from escalation_analysis.reviews import charts, display, kpis
from escalation_analysis.reviews.display import Html

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def quarter():
    return analyse(SAMPLE / "incidents.csv", SAMPLE / "mapping.yaml", SAMPLE / "pathway.yaml",
                   "2025-10-01", "2025-12-31", steps=SAMPLE / "steps.csv",
                   actions=SAMPLE / "learning_actions.csv", key=b"a11y-test-key")


@pytest.fixture(scope="module")
def every_chart(quarter) -> dict[str, object]:
    """One figure from every builder, drawn from the sample as the reports draw them."""
    e = quarter.episodes
    return {
        "spc": charts.spc_chart(trends.compliance_p_chart(quarter.history, target_pct=90),
                                title="Escalations within target, by month", y_title="Within target (%)",
                                target=90, percent=True),
        "funnel": charts.funnel_plot(trends.team_funnel(e), title="Teams compared"),
        "delays": charts.delay_distribution(e, by="band"),
        "km": charts.km_curves(comparisons.escalation_curves(e, "band", quarter.as_of)),
        "heatmap": charts.late_heatmap(nm.late_heatmap(e, quarter.pathway.timezone)),
        "barriers_together": charts.barrier_cooccurrence(nm.barrier_cooccurrence(e)),
        "by_team": charts.compliance_by_group(compliance_table(e, "team"), "team", title="By team", target_pct=90),
        "bars": charts.bar_counts(nm.barrier_frequency(e).head(5), x="barrier", y="episodes",
                                  title="Most frequent barriers"),
        "trend": charts.trend_line(nm.near_miss_ratio(quarter.all_episodes, "quarter"), x="quarter", y="ratio",
                                   title="Near misses per incident", y_title="Ratio"),
    }


def shown(fig, **options) -> str:
    """What display.show writes to the page."""
    published = []
    original = display._publish
    display._publish = lambda html_text, plain: published.append(html_text)
    try:
        display._state["plotlyjs"] = True
        display.show(fig, **options)
    finally:
        display._publish = original
    return published[-1]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def elements(html_text: str) -> list[tuple[str, dict]]:
    parser = _Elements()
    parser.feed(html_text)
    return parser.found


class TestEveryChartHasATextEquivalent:
    def test_one_sentence_and_the_numbers_for_every_builder(self, every_chart):
        for name, fig in every_chart.items():
            text = charts.text_equivalent(fig)
            assert text.summary.endswith(".") and text.summary.count(". ") == 0, name
            assert text.summary.startswith(text.title), name
            assert len(text.table) and len(text.table.columns) >= 2, name

    def test_the_spc_sentence_names_the_latest_month_and_the_special_cause(self, every_chart, quarter):
        summary = charts.text_equivalent(every_chart["spc"]).summary
        points = trends.compliance_p_chart(quarter.history, target_pct=90).points
        latest = points.iloc[-1]
        assert f"{100 * latest['y']:.1f}% in {latest['x']:%b %Y}" in summary
        concern = points.loc[points["point_type"] == "special_cause_concern", "x"]
        assert len(concern) >= 2  # the deteriorating team's quarter shows on the service chart
        assert f"special cause of concern from {concern.iloc[0]:%b %Y} to {concern.iloc[-1]:%b %Y}" in summary
        assert "the target of 90% is consistently missed" in summary

    def test_the_group_sentence_names_the_lowest_group_with_its_interval(self, every_chart, quarter):
        table = compliance_table(quarter.episodes, "team")
        lowest = table.loc[table["within_target_pct"].idxmin()]
        summary = charts.text_equivalent(every_chart["by_team"]).summary
        assert f"lowest {lowest['team']} {lowest['within_target_pct']:.1f}%" in summary

    def test_the_numbers_table_holds_what_is_drawn(self, every_chart):
        fig = every_chart["spc"]
        table = charts.text_equivalent(fig).table
        drawn = next(t for t in fig.data if t.name == "Data")
        assert table["Within target (%)"].tolist() == [f"{v:.1f}%" for v in drawn.y]

    def test_a_figure_from_elsewhere_still_gets_a_sentence_and_its_points(self):
        import plotly.graph_objects as go

        fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2], name="Counts"), layout={"title": {"text": "Plain"}})
        text = charts.text_equivalent(fig)
        assert text.summary == "Plain." and text.table.shape == (2, 3)


class TestShownCharts:
    def test_a_chart_is_a_named_figure_with_caption_and_numbers_behind_details(self, every_chart):
        page = shown(every_chart["by_team"])
        found = elements(page)
        tags = [t for t, _ in found]
        assert tags[0] == "figure" and {"figcaption", "details", "summary", "table"} <= set(tags)
        figure = found[0][1]
        image = next(a for t, a in found if a.get("role") == "img")
        caption = next(a for t, a in found if t == "figcaption")
        assert figure["aria-labelledby"] == caption["id"]
        assert image["aria-label"].startswith("By team")
        sentence = charts.text_equivalent(every_chart["by_team"]).summary
        assert f">{display._escape(sentence)}</figcaption>" in page

    def test_a_caption_given_by_the_report_replaces_the_computed_sentence(self, every_chart):
        page = shown(every_chart["bars"], caption="Barriers <this quarter>")
        assert "<figcaption" in page and "Barriers &lt;this quarter&gt;</figcaption>" in page

    def test_text_from_data_in_the_numbers_table_is_escaped(self):
        table = pd.DataFrame({"barrier": ["<script>x</script>", "b"], "episodes": [3, 4]})
        page = shown(charts.bar_counts(table, x="barrier", y="episodes", title="T"))
        assert "<script>x" not in page and "&lt;script&gt;x" in page


class TestMeaningNeverByColourAlone:
    def test_funnel_limits_differ_by_shape_as_well_as_colour(self):
        styles = {pos: (symbol, size) for pos, (_, _, symbol, size) in charts._FUNNEL_STYLE.items()}
        assert len({s for s, _ in styles.values()}) == len(styles)
        assert styles["above_95"][0].endswith("-open") and not styles["above_99.8"][0].endswith("-open")

    def test_spc_point_types_have_their_own_markers_and_limits_their_own_line_style(self):
        values = pd.Series([10.0] * 12 + [30.0] + [10.0] * 3, index=pd.date_range("2024-01-01", periods=16, freq="MS"))
        fig = charts.spc_chart(xmr(values, improvement="decrease"), "t", "Minutes")
        symbols = {t.name: t.marker.symbol for t in fig.data if t.mode == "markers"}
        assert symbols["Special cause: concern"] == "diamond"
        assert len(set(symbols.values()) | {"circle"}) == len(symbols) + 1  # common cause: circles
        dashes = {t.name: t.line.dash for t in fig.data if t.mode == "lines"}
        assert dashes["Upper process limit"] == "dash" and dashes["Mean"] in (None, "solid")


class TestTables:
    def test_package_markup_goes_in_as_it_is_and_data_is_escaped(self):
        table = pd.DataFrame({"Icon": [Html('<svg role="img" aria-label="x"></svg>')], "Name": ["<b>"]})
        page = display.table_html(table)
        assert '<svg role="img" aria-label="x"></svg>' in page and "&lt;b&gt;" in page

    def test_an_interval_never_breaks_across_lines_and_lines_up_with_the_numbers(self):
        page = display.table_html(pd.DataFrame({"95% CI": ["69–78%"], "Range": ["2.2–19.6"]}))
        assert page.count('class="num nowrap"') == 2

    def test_a_short_label_is_never_broken_over_two_lines(self):
        page = display.table_html(pd.DataFrame({"Outcome": ["Near miss"],
                                                "Barriers": ["Could not reach duty senior; No mobile signal"]}))
        assert '<td class="nowrap">Near miss</td>' in page and "<td>Could not reach" in page
        described = display.table_html(pd.DataFrame({"Description": ["Presentation markedly worse than last week; "
                                                                     "not sleeping, hearing voices."]}))
        assert '<td class="ea-prose">Presentation' in described  # keeps a readable width beside short columns

    def test_a_column_of_counts_with_marks_is_aligned_as_numbers_and_prints_no_decimals(self):
        """A withheld "[c]" or small "*" beside counts leaves them whole and right-aligned."""
        table = pd.DataFrame({"Team": ["A", "B", "C"], "Within target": [65.0, "[c]", "*"],
                              "Target (min)": [60.0, 1440.0, "–"], "Median (min)": [12.0, 37.5, "[c]"]})
        page = display.table_html(table)
        assert '<td class="num nowrap">65</td>' in page and '<td class="num nowrap">[c]</td>' in page
        assert '<td class="num nowrap">1,440</td>' in page and ">60.0<" not in page
        assert '<td class="num nowrap">12.0</td>' in page  # a median of minutes keeps its place

    def test_a_wide_table_prints_landscape_and_a_narrow_one_does_not(self):
        wide = pd.DataFrame({f"c{i}": [1] for i in range(9)})
        assert "ea-table-wrap ea-wide" in display.table_html(wide)
        assert "ea-wide" not in display.table_html(wide.iloc[:, :4])

    def test_canonical_values_read_in_plain_english(self):
        table = pd.DataFrame({"Agency": ["la_safeguarding", "emergency_services", "police"],
                              "Harm": ["none", "death", "severe"], "Trigger": ["imminent_risk"] * 3})
        page = display.table_html(table)
        for words in ("Local authority safeguarding", "Emergency services (999)", "Police", "No harm",
                      "Death", "Severe harm", "Imminent risk"):
            assert f">{words}<" in page


class TestKpiTableWords:
    def test_counts_are_whole_and_changes_carry_unit_and_direction(self, quarter):
        table = kpis.for_display(kpis.kpi_table(quarter, policy=kpis.EXTERNAL_POLICY))
        this = next(c for c in table.columns if c.startswith("This period"))
        assert this == "This period (01/10/2025 to 31/12/2025)"
        assert any(c == "Previous period (01/07/2025 to 30/09/2025)" for c in table.columns)
        rows = table.set_index("Indicator")
        for count in ("Episodes with no escalation recorded", "Near misses reported", "Learning actions overdue"):
            assert re.fullmatch(r"\*|\d[\d,]*", rows.loc[count, this])
        assert re.fullmatch(r"[+−]\d+\.\d pp, (better|worse)", rows.loc["Escalations within target", "Change"])
        assert re.fullmatch(r"[+−]\d+ min, (better|worse)|no change", rows.loc["Median delay to escalate", "Change"])
        compliance = kpis.kpi_table(quarter).set_index("kpi").loc["compliance_pct"]
        assert rows.loc["Escalations within target", "Change"].endswith("worse") == (compliance["change"] < 0)
        assert rows.loc["Escalations within target", "Target"] == "90%"

    def test_a_kpi_without_a_target_says_so(self, quarter):
        rows = kpis.for_display(kpis.kpi_table(quarter)).set_index("Indicator")
        assert rows.loc["Near misses reported", "Target from"] == "No target set"
        assert rows.loc["Near misses reported", "Target met"] == "–"


def test_no_chart_mark_is_lighter_than_3_to_1_on_white(every_chart):
    """Markers and lines (not fills, heatmap cells or light bands, which the table backs up)."""
    def contrast(colour: str) -> float:
        channels = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 1.05 / (0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2] + 0.05)

    for name, fig in every_chart.items():
        for trace in fig.data:
            if trace.type not in ("scatter", "bar"):
                continue
            for colour in (getattr(trace.marker, "color", None), getattr(getattr(trace, "line", None), "color", None)):
                if isinstance(colour, str) and re.fullmatch(r"#[0-9A-Fa-f]{6}", colour) and colour.upper() != "#FFFFFF":
                    assert contrast(colour) >= 3, f"{name}: {trace.name} {colour}"
    assert np.isfinite(contrast("#005EB8"))
