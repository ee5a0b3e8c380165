"""Disclosure control through the outside reports: what commissioners and partners are shown.

* a team of 3 beside a team of 9 in one quarter: the contract-monitoring report and the
  pathway review show every figure the same way, and nothing they publish recovers the 3;
* on the sample, the deteriorating team's quarter is visible with its rate (table and chart),
  and every team with 20 or more episodes in the period shows its rate;
* chart data and hover text carry no count from 1 to 7: the charts of every outside review, and
  (slow) the chart JSON embedded in every outside report's HTML, of the demo and of a small
  export;
* ``audit.json`` is written beside an outside report, and a run whose reports together narrow a
  small count is withheld with a message naming the figure.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from conftest import SAMPLE, TEST_KEY
from test_disclosure import analysis_of, differencing_attack, episodes

from escalation_analysis import reviews
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.reviews.disclosure import EXACT_SECONDARY, NHS_ROUNDED, DisclosureError, audit_run, plan_for
from escalation_analysis.reviews.review import Chart
from escalation_analysis.synthetic import DETERIORATING_TEAM, DETERIORATION_QUARTER

OUTSIDE = ("contract-monitoring", "pathway-review")
Q3 = (dt.date(2025, 10, 1), dt.date(2025, 12, 31))

# -- counts in chart text -----------------------------------------------------------------------

COUNT_PATTERNS = (
    re.compile(r"(?<![\d.,])(\d[\d,]*)\s+of\s+(\d[\d,]*)(?![\d.,%])"),  # "1 of 3"
    re.compile(r"\bn\s*=\s*(\d[\d,]*)(?![\d.,%])"),  # "(n = 3)"
    re.compile(r"(?<![\d.,])(\d[\d,]*)\s+(?:episodes?|contacts?|responses?|actions?|checks?)\b"),  # "3 episodes"
)


def small_counts_in(text: str) -> list[str]:
    """Every count from 1 to 7 written in a piece of chart text."""
    found = []
    for pattern in COUNT_PATTERNS:
        for match in pattern.finditer(text):
            if any(1 <= int(number.replace(",", "")) <= 7 for number in match.groups()):
                found.append(match.group(0))
    return found


def chart_texts(figure_json: dict) -> list[str]:
    """Every string a reader can see or hover on: trace text, hover text, names, labels, notes."""
    out: list[str] = []

    def walk(value, key=""):
        if isinstance(value, str):
            if key in ("text", "hovertext", "hovertemplate", "name", "title", "ticktext", "categoryarray", "y", "x",
                       "customdata") or key.endswith("text"):
                out.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)

    walk(figure_json)
    return out


def test_the_check_finds_counts_in_hover_text():
    assert small_counts_in("<b>Oct 2025</b><br>Value: 33.3%<br>1 of 3") == ["1 of 3"]
    assert small_counts_in("Coastal Outreach (n = 3)") == ["n = 3"]
    assert small_counts_in("45.5% within target; 5 min; 10 of 15; 2025-10") == []


def embedded_charts(html: str) -> list[dict]:
    """The data and layout of every ``Plotly.newPlot`` call in a report's HTML."""
    decoder = json.JSONDecoder()
    charts = []
    for match in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', html):
        data, end = decoder.raw_decode(html, match.end())
        layout, _ = decoder.raw_decode(html, html.index("{", end))
        charts.append({"data": data, "layout": layout})
    return charts


# -- a team of 3 beside a team of 9 -------------------------------------------------------------


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    """Q3 2025: a team of 3, a team of 9 and a team of 60, with a few episodes in Q2."""
    start = dt.datetime(2025, 10, 6, 10, 0)
    records = (episodes("Tiny", 3, start=start, within=1, late=2)
               + episodes("Small", 9, start=start, within=6, late=2)
               + episodes("Large", 60, start=start, within=45, late=10)
               + episodes("Large", 30, start=dt.datetime(2025, 7, 7, 10, 0), within=25, late=3, prefix="Q2"))
    folder = tmp_path_factory.mktemp("small-export")
    return analysis_of(folder, records), folder


class Published:
    """A report's published tables, as the attack reads them (its summary's CSV tables)."""

    def __init__(self, review):
        self.period = (review.start, review.end)
        self.tables = {name: _Frame(frame) for name, frame in review.summary().tables.items()}
        self.previous = None


class _Frame:
    def __init__(self, frame):
        self.frame = frame


@pytest.mark.parametrize("policy", [NHS_ROUNDED, EXACT_SECONDARY], ids=lambda p: p.name)
def test_a_team_of_3_is_recovered_from_neither_report_and_both_show_the_same_figures(small_export, policy):
    analysis, _ = small_export
    built = {kind: reviews.build(kind, analysis, disclosure=policy.name) for kind in OUTSIDE}
    summaries = {kind: review.summary().data for kind, review in built.items()}
    assert summaries["contract-monitoring"]["timeliness"] == summaries["pathway-review"]["timeliness"]
    assert summaries["contract-monitoring"]["data_quality"] == summaries["pathway-review"]["data_quality"]
    headline = {kind: [p.markdown for p in review.section("headline")] for kind, review in built.items()}
    # the headline and the key to the figures are the same; the pathway review adds its adherence summary
    assert headline["contract-monitoring"][:2] == headline["pathway-review"][:2]

    teams = summaries["contract-monitoring"]["timeliness"]["by_team"]
    tiny = policy.merged_label("teams") if policy.merge_small_groups else "Tiny"
    assert teams[tiny]["n"] == "*"
    if policy.merge_small_groups:
        assert "Tiny" not in teams  # merged into "Other teams (fewer than 8 each)"
    assert teams["Large"]["within_target_pct"] is not None  # a big team keeps its rate
    attack = differencing_attack([Published(r) for r in built.values()], policy)
    low, high = attack[(Q3, "team", tiny, "n")]
    assert high - low + 1 >= 4  # the 3 cannot be narrowed to fewer than 4 values
    assert plan_for(analysis, policy).audit().safe


# -- the sample ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def q3_sample():
    return analyse(SAMPLE / "incidents.csv", SAMPLE / "mapping.yaml", SAMPLE / "pathway.yaml", *DETERIORATION_QUARTER,
                   steps=SAMPLE / "steps.csv", actions=SAMPLE / "learning_actions.csv",
                   training=SAMPLE / "training.csv", key=TEST_KEY)


@pytest.fixture(scope="module")
def contract_monitoring(q3_sample):
    return reviews.build("contract-monitoring", q3_sample)


def test_the_deteriorating_team_is_visible_with_its_rate_in_table_and_chart(contract_monitoring, q3_sample):
    table, chart = None, None
    for part in contract_monitoring.section("teams"):
        if isinstance(part, Chart):
            chart = part.figure()
        else:
            table = part.frame
    row = table[table.iloc[:, 0] == DETERIORATING_TEAM].iloc[0]
    rate = row["Within target (%)"]
    assert isinstance(rate, float) and rate < 30
    bars = next(t for t in chart.data if t.name == "Within target")
    shown = {y.split(" (n")[0]: x for y, x in zip(bars.y, bars.x, strict=True)}
    assert shown[DETERIORATING_TEAM] == rate
    sizes = q3_sample.episodes["team"].value_counts()
    rates = dict(zip(table.iloc[:, 0], table["Within target (%)"], strict=True))
    big = [team for team, n in sizes.items() if n >= 20]
    assert big and all(isinstance(rates[team], float) for team in big)


def test_every_outside_chart_of_the_sample_is_free_of_small_counts(contract_monitoring, q3_sample):
    pathway = reviews.build("pathway-review", q3_sample)
    checked = 0
    for review in (contract_monitoring, pathway):
        for section, part in review.parts():
            if isinstance(part, Chart):
                texts = chart_texts(part.figure().to_plotly_json())
                assert not [c for t in texts for c in small_counts_in(t)], (review.kind, section)
                checked += 1
    assert checked >= 6


def test_the_key_is_under_the_headline_and_the_audit_in_the_methods(contract_monitoring):
    headline = " ".join(p.markdown for p in contract_monitoring.section("headline"))
    assert "Key to the figures" in headline and "rounded to the nearest 5" in headline
    methods = " ".join(getattr(p, "markdown", "") for p in contract_monitoring.section("definitions")).replace("\\", "")
    assert "linear programming" in methods and "audit.json" in methods


def test_a_small_export_s_charts_are_free_of_small_counts(small_export):
    analysis, _ = small_export
    for kind in OUTSIDE:
        for _, part in reviews.build(kind, analysis).parts():
            if isinstance(part, Chart):
                texts = chart_texts(part.figure().to_plotly_json())
                assert not [c for t in texts for c in small_counts_in(t)], kind


# -- audit.json and withholding ----------------------------------------------------------------------


def test_audit_json_lists_every_withheld_figure_with_its_interval(q3_sample, tmp_path):
    plan = plan_for(q3_sample, NHS_ROUNDED)
    result = audit_run(tmp_path / "audit.json", plan, report="contract-monitoring")
    written = json.loads((tmp_path / "audit.json").read_text(encoding="utf-8"))
    assert written["report"] == "contract-monitoring" and written["safe"] is True
    assert written["policy"]["name"] == "nhs-rounded" and written["policy"]["min_possible_values"] == 4
    stars = [f for f in written["withheld_figures"] if f["shown_as"] == "*"]
    assert stars and all(f["possible_values"] >= 4 and 1 <= f["interval"][0] <= f["interval"][1] <= 7 for f in stars)
    assert len(written["withheld_figures"]) == sum(1 for f in result.findings if f.check.shown_as in ("*", "[c]"))


def test_a_run_whose_reports_together_narrow_a_small_count_is_withheld(tmp_path):
    # exact counts: a year of 3 quarters' episodes plus 3 in the last quarter; the quarter's report and
    # the year's report each hide what they must, but the year minus the quarter would give the 3 back
    start = dt.datetime(2025, 10, 6, 10, 0)
    records = (episodes("North", 40, start=start, within=30, late=5)
               + episodes("North", 3, start=dt.datetime(2026, 1, 12, 10, 0), within=2, late=1, prefix="Q4"))
    quarter = analysis_of(tmp_path / "q", records, *Q3)
    year = analysis_of(tmp_path / "y", records, dt.date(2025, 10, 1), dt.date(2026, 3, 31))
    plans = [plan_for(quarter, EXACT_SECONDARY), plan_for(year, EXACT_SECONDARY)]
    assert all(p.audit().safe for p in plans)  # each report alone is safe
    with pytest.raises(DisclosureError, match=r"was withheld: .* \(shown as \*\)"):
        audit_run(tmp_path / "audit.json", plans[0], plans[1], report="contract-monitoring")
    written = json.loads((tmp_path / "audit.json").read_text(encoding="utf-8"))
    assert written["safe"] is False and written["problems"]


# -- the published HTML --------------------------------------------------------------------------------


def _outside_reports(folder: Path) -> list[Path]:
    return [folder / kind / "report.html" for kind in OUTSIDE if (folder / kind / "report.html").exists()]


@pytest.mark.slow
def test_the_demo_s_outside_reports_embed_no_small_count_in_their_charts(tmp_path):
    from escalation_analysis.publish.review_runs import run_demo

    run_demo(SAMPLE, tmp_path / "demo", pdf=False, progress=False)
    reports = _outside_reports(tmp_path / "demo")
    assert len(reports) == 2
    for report in reports:
        charts = embedded_charts(report.read_text(encoding="utf-8"))
        assert charts, report
        texts = [t for c in charts for t in chart_texts(c)]
        assert not [c for t in texts for c in small_counts_in(t)], report.parent.name
        audit = json.loads((report.parent / "audit.json").read_text(encoding="utf-8"))
        assert audit["safe"] is True and len(audit["scope"]) == 2


@pytest.mark.slow
def test_a_small_export_s_outside_reports_embed_no_small_count_in_their_charts(small_export, tmp_path):
    from escalation_analysis.publish.review_runs import ReviewInputs, run_review

    _, folder = small_export
    for kind in OUTSIDE:
        inputs = ReviewInputs(folder / "export.csv", folder / "mapping.yaml", SAMPLE / "pathway.yaml", *Q3)
        run_review(kind, inputs, tmp_path / kind, pdf=False)
        html = (tmp_path / kind / "report.html").read_text(encoding="utf-8")
        texts = [t for c in embedded_charts(html) for t in chart_texts(c)]
        assert not [c for t in texts for c in small_counts_in(t)], kind
        assert (tmp_path / kind / "audit.json").is_file()
