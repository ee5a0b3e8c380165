"""Disclosure control through the outside reports: what commissioners and partners are shown.

* a team of 3 beside a team of 9 in one quarter: the contract-monitoring report and the
  pathway review show every figure the same way, and nothing they publish recovers the 3;
* on the sample, the deteriorating team's quarter is visible with its rate (table and chart),
  and every team with 20 or more episodes in the period shows its rate;
* chart data and hover text carry no count from 1 to 7: the charts of every outside review, and
  (slow) the chart JSON embedded in every outside report's HTML, of the demo and of a small
  export;
* ``audit.json`` is written beside an outside report, and a run whose reports together narrow a
  small count is withheld with a message naming the figure;
* a run plans its outside reports in order, each alongside those before it: under exact counts
  the demo's pathway review withholds the months its contract-monitoring quarter withheld, and
  the demo publishes both reports (it withheld both), pages and tables from the same plan;
* a one-team quarter whose few missed escalations spread one or two to each age band is
  published from the command line, those columns withheld as a whole.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE, TEST_KEY
from foreign_exports import ISO_VENDOR, write_export
from report_reader import HtmlReport, chart_texts, small_counts_in
from test_disclosure import OUTSIDE, Published, analysis_of, differencing_attack, episodes, said_in_charts

from escalation_analysis import reviews
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.reviews.disclosure import EXACT_SECONDARY, NHS_ROUNDED, DisclosureError, audit_run, plan_for
from escalation_analysis.reviews.disclosure.plan import build_plan
from escalation_analysis.reviews.disclosure.published import methods_statement
from escalation_analysis.reviews.review import Chart
from escalation_analysis.reviews.summary import build_summary
from escalation_analysis.synthetic import DETERIORATING_TEAM

Q3 = (dt.date(2025, 10, 1), dt.date(2025, 12, 31))
PATHWAY_YEAR = (dt.date(2025, 4, 1), dt.date(2026, 3, 31))
"""The demo's pathway review's period (its contract-monitoring report is of Q3)."""


def _sample_analysis(start: dt.date, end: dt.date, key: bytes | None = None):
    """The shipped sample's analysis of a period, with every log."""
    return analyse(SAMPLE / "incidents.csv", SAMPLE / "mapping.yaml", SAMPLE / "pathway.yaml", start, end,
                   steps=SAMPLE / "steps.csv", actions=SAMPLE / "learning_actions.csv",
                   training=SAMPLE / "training.csv", key=key)

# -- counts in chart text -----------------------------------------------------------------------


def test_the_check_finds_counts_in_hover_text():
    assert small_counts_in("<b>Oct 2025</b><br>Value: 33.3%<br>1 of 3") == ["1 of 3"]
    assert small_counts_in("Coastal Outreach (n = 3)") == ["n = 3"]
    assert small_counts_in("45.5% within target; 5 min; 10 of 15; 2025-10") == []
    template = {"data": [{"type": "scatter", "x": ["2025-10"], "customdata": [[2, 3]],
                          "hovertemplate": "%{x}<br>%{customdata[0]} of %{customdata[1]}<extra></extra>"}]}
    assert "2 of 3" in " ".join(t for t in chart_texts(template) for t in small_counts_in(t))
    typed = {"data": [{"type": "bar", "y": {"dtype": "i1", "bdata": "Aw=="}, "texttemplate": "%{y} episodes"}],
             "layout": {"annotations": [{"text": "Team A (n = 4)"}]}}
    assert sorted(c for t in chart_texts(typed) for c in small_counts_in(t)) == ["3 episodes", "n = 4"]


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
def contract_monitoring(sample_quarter):
    return reviews.build("contract-monitoring", sample_quarter)


def test_the_deteriorating_team_is_visible_with_its_rate_in_table_and_chart(contract_monitoring, sample_quarter):
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
    sizes = sample_quarter.episodes["team"].value_counts()
    rates = dict(zip(table.iloc[:, 0], table["Within target (%)"], strict=True))
    big = [team for team, n in sizes.items() if n >= 20]
    assert big and all(isinstance(rates[team], float) for team in big)


def test_the_trend_chart_s_hover_says_the_published_monthly_figures(contract_monitoring, sample_quarter):
    hover = Published(contract_monitoring).tables["trend_by_month"].frame.set_index("month")
    published = plan_for(sample_quarter, NHS_ROUNDED).table("trend_by_month").frame.set_index("month")
    assert len(hover) >= 12
    for month, said in hover.iterrows():  # "within target of episodes", each rounded as the tables print it
        assert (said["within_target"], said["n"]) == tuple(published.loc[month, ["within_target", "n"]]), month
        assert said["n"] % 5 == 0 and said["within_target"] % 5 == 0, month


def test_every_outside_chart_of_the_sample_is_free_of_small_counts(contract_monitoring, sample_quarter):
    pathway = reviews.build("pathway-review", sample_quarter)
    for review in (contract_monitoring, pathway):
        said = said_in_charts(review)
        assert not any(said.values()), (review.kind, said)
    assert sum(isinstance(part, Chart) for review in (contract_monitoring, pathway) for _, part in review.parts()) >= 6


def test_the_key_is_under_the_headline_and_the_audit_in_the_methods(contract_monitoring):
    headline = " ".join(p.markdown for p in contract_monitoring.section("headline"))
    assert "Key to the figures" in headline and "rounded to the nearest 5" in headline
    methods = " ".join(getattr(p, "markdown", "") for p in contract_monitoring.section("definitions")).replace("\\", "")
    assert "linear programming" in methods and "audit.json" in methods


def test_a_small_export_s_charts_are_free_of_small_counts(small_export):
    analysis, _ = small_export
    for kind in OUTSIDE:
        said = said_in_charts(reviews.build(kind, analysis))
        assert not any(said.values()), (kind, said)
    # the same check on the internal near-miss review finds the team of 3, which staff may see
    assert "1 of 3" in said_in_charts(reviews.build("near-miss-review", analysis, "internal"))["late_and_missed"]


# -- audit.json and withholding ----------------------------------------------------------------------


def test_audit_json_lists_every_withheld_figure_with_its_interval(sample_quarter, tmp_path):
    plan = plan_for(sample_quarter, NHS_ROUNDED)
    result = audit_run(tmp_path / "audit.json", plan, report="contract-monitoring")
    written = json.loads((tmp_path / "audit.json").read_text(encoding="utf-8"))
    assert written["report"] == "contract-monitoring" and written["safe"] is True
    assert written["policy"]["name"] == "nhs-rounded" and written["policy"]["min_possible_values"] == 4
    stars = [f for f in written["withheld_figures"] if f["shown_as"] == "*"]
    assert stars and all(f["possible_values"] >= 4 and 1 <= f["interval"][0] <= f["interval"][1] <= 7 for f in stars)
    assert len(written["withheld_figures"]) == sum(1 for f in result.findings if f.check.shown_as in ("*", "[c]"))


@pytest.mark.slow  # (a whole run's reviews, plans or audit: end to end)
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


@pytest.mark.parametrize(("named", "said"), [
    (["contract-monitoring", "2025-10-01"], "write its kind, first day and last day"),
    (["near-miss-review", "2025-10-01", "2025-12-31"], "is internal: nothing of it is published outside"),
])
def test_a_report_named_alongside_that_cannot_be_is_refused_in_a_sentence(named, said):
    # the runner writes the notebook's ``alongside``; someone editing it by hand is told what is wrong
    def never(start, end):
        raise AssertionError("nothing is analysed for a report that cannot be planned alongside")

    with pytest.raises(ValueError, match=said):
        reviews.plans_alongside([named], never)


@pytest.mark.slow
def test_the_pathway_year_planned_alongside_the_contract_quarter_is_safe_with_it(sample_quarter):
    # the demo's two outside reports under exact counts: each plan alone is safe, together they gave a
    # month's small count away (the quarter withheld a month the year showed); the year's plan built
    # alongside the quarter's withholds that month too, and the quarter's own plan does not change
    year = _sample_analysis(*PATHWAY_YEAR, key=TEST_KEY)
    quarter = plan_for(sample_quarter, EXACT_SECONDARY)
    alone = build_plan(year, EXACT_SECONDARY)
    assert quarter.audit().safe and alone.audit().safe
    assert not quarter.audit(alone).safe  # what the demo withheld
    alongside = plan_for(year, EXACT_SECONDARY, (quarter,))
    assert alongside.alongside == (quarter,) and alongside.audit().safe
    together = quarter.audit(alongside, scope=["quarter", "year"])
    assert together.safe, together.message("demo")
    # what changed: the months the quarter withheld are withheld in the year's report too
    months = alongside.table("trend_out_of_hours_by_month").frame.set_index("month")["not_escalated"]
    assert months["2025-10"] == "[c]" and months["2025-12"] == "[c]"
    assert alone.table("trend_out_of_hours_by_month").frame.set_index("month")["not_escalated"]["2025-12"] != "[c]"
    # the plan is found again by what it is, as another process of the run rebuilds or reads it
    assert plan_for(year, EXACT_SECONDARY, (plan_for(sample_quarter, EXACT_SECONDARY),)) is alongside
    # the review's pages and its summary take the plan built alongside
    review = reviews.build("pathway-review", year, disclosure="exact-secondary", alongside=(quarter,))
    bands = review.summary().tables["timeliness_by_ooh_sub_band"].set_index("ooh_sub_band")["not_within_target"]
    assert bands.to_dict() == alongside.table("timeliness_by_ooh_sub_band").frame.set_index(
        "ooh_sub_band")["not_within_target"].to_dict()
    assert bands.to_dict() != alone.table("timeliness_by_ooh_sub_band").frame.set_index(
        "ooh_sub_band")["not_within_target"].to_dict()


# -- the published HTML --------------------------------------------------------------------------------


def _outside_reports(folder: Path) -> list[Path]:
    return [folder / kind / "report.html" for kind in OUTSIDE if (folder / kind / "report.html").exists()]


@pytest.mark.slow
def test_the_demo_s_outside_reports_embed_no_small_count_and_show_the_deteriorating_team(demo):
    # the demo as a user runs it, once per test session (conftest.demo), shared with the other demo tests
    reports = _outside_reports(demo)
    assert len(reports) == 2
    for report in reports:
        page = HtmlReport.read(report)
        assert page.charts, report
        assert not [c for t in page.chart_texts() for c in small_counts_in(t)], report.parent.name
        audit = json.loads((report.parent / "audit.json").read_text(encoding="utf-8"))
        assert audit["safe"] is True and len(audit["scope"]) == 2
    # the contract-monitoring report is the deterioration quarter's: the team's rate in its table and chart
    page = HtmlReport.read(demo / "contract-monitoring" / "report.html")
    teams = page.table("Timeliness by team")
    rate = teams.row(DETERIORATING_TEAM)["Within target (%)"]
    assert re.fullmatch(r"\d+\.\d%?", rate) and float(rate.rstrip("%")) < 30, rate
    bars = [t for chart in page.charts for t in chart["data"] if t.get("name") == "Within target"
            and any(str(y).startswith(f"{DETERIORATING_TEAM} (n") for y in t.get("y", []))]
    assert len(bars) == 1
    at = next(i for i, y in enumerate(bars[0]["y"]) if y.startswith(f"{DETERIORATING_TEAM} (n"))
    assert bars[0]["text"][at].rstrip("%") == rate.rstrip("%")
    big = [row for row in teams.as_dicts() if row["Episodes"].isdigit() and int(row["Episodes"]) >= 20]
    assert len(big) >= 6 and all(re.fullmatch(r"\d+\.\d%?", row["Within target (%)"]) for row in big), big


def _cli_report(kind: str, export: Path, mapping: Path, pathway: Path, out: Path, *extra: str,
                start: str = "2025-10-01", end: str = "2025-12-31") -> subprocess.CompletedProcess:
    """``escalation-review report KIND`` as a user runs it (no PDF)."""
    return subprocess.run(
        [sys.executable, "-m", "escalation_analysis.cli", "report", kind, "--data", str(export), "--mapping",
         str(mapping), "--pathway", str(pathway), "--start", start, "--end", end, "--out", str(out), "--no-pdf", *extra],
        capture_output=True, text=True, timeout=900, check=False)


@pytest.mark.slow
def test_the_demo_under_exact_counts_publishes_both_outside_reports(tmp_path):
    # it withheld both: the pathway review's year showed months the contract-monitoring quarter withheld
    result = subprocess.run([sys.executable, "-m", "escalation_analysis.cli", "demo", "--no-pdf", "--disclosure",
                             "exact-secondary", "--out", str(tmp_path / "demo")],
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    for kind in OUTSIDE:
        audit = json.loads((tmp_path / "demo" / kind / "audit.json").read_text(encoding="utf-8"))
        assert audit["safe"] is True and audit["policy"]["name"] == "exact-secondary" and len(audit["scope"]) == 2
        page = HtmlReport.read(tmp_path / "demo" / kind / "report.html")
        assert not [c for t in page.chart_texts() for c in small_counts_in(t)], kind
        assert "rounded to the nearest 5" not in page.text, kind  # the front sheet too is under exact counts
        assert "rounded counts as ranges" not in page.text and "each * as 1 to 7" in page.text, kind  # the methods
    # the pathway review's pages (its kernel) and its tables (the runner) take the plan built alongside
    notebook = json.loads((tmp_path / "demo" / "pathway-review" / "report.ipynb").read_text(encoding="utf-8"))
    assert 'alongside = ["contract-monitoring 2025-10-01 2025-12-31"]' in "".join(
        "".join(c["source"]) for c in notebook["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    page = HtmlReport.read(tmp_path / "demo" / "pathway-review" / "report.html")
    year, quarter = _sample_analysis(*PATHWAY_YEAR), _sample_analysis(*Q3)  # (with the demo's key)
    plans = {"alone": build_plan(year, EXACT_SECONDARY),
             "alongside": plan_for(year, EXACT_SECONDARY, (plan_for(quarter, EXACT_SECONDARY),))}
    said = {k: re.search(r"In this report's figures .* withheld as \[c\]", methods_statement(plan)).group(0)
            for k, plan in plans.items()}
    assert said["alongside"] != said["alone"] and said["alongside"] in page.text, page.sentence_with("In this report")
    build_summary(year, report="pathway-review", audience="partners", plan=plans["alongside"]).write(
        tmp_path / "here" / "summary.json")
    for table in ("timeliness_by_ooh_sub_band", "timeliness_by_band", "timeliness_by_month"):
        published = (tmp_path / "demo" / "pathway-review" / "tables" / f"{table}.csv").read_bytes()
        assert published == (tmp_path / "here" / "tables" / f"{table}.csv").read_bytes(), table


@pytest.mark.slow
def test_a_one_team_quarter_s_contract_monitoring_report_is_published_not_withheld(tmp_path):
    """The vendor layout's Riverside CMHT alone, 2025/26 Q3: its 6 or 7 episodes with no
    escalation fall one or two to each age band and trigger. The report is published, those
    columns read [c] with the key's sentence, and no count from 1 to 7 is in its text or charts."""
    written = write_export(dataclasses.replace(ISO_VENDOR, one_team="Riverside CMHT"), tmp_path / "export.csv")
    out = tmp_path / "q3"
    made = _cli_report("contract-monitoring", written.path, written.mapping_file(tmp_path), SAMPLE / "pathway.yaml", out)
    assert made.returncode == 0, made.stderr[-2000:]
    page = HtmlReport.read(out / "report.html")
    assert page.charts and not [c for t in page.chart_texts() for c in small_counts_in(t)]
    assert not small_counts_in(page.text)
    by_age = page.table("By age band").as_dicts()
    assert by_age and {row["No escalation recorded"] for row in by_age} == {"[c]"}
    assert "it was withheld as a whole" in page.text
    assert json.loads((out / "audit.json").read_text(encoding="utf-8"))["safe"] is True


@pytest.mark.slow
def test_a_small_export_s_outside_reports_from_the_command_line(small_export, tmp_path):
    _, folder = small_export
    for kind in OUTSIDE:
        made = _cli_report(kind, folder / "export.csv", folder / "mapping.yaml", SAMPLE / "pathway.yaml", tmp_path / kind)
        assert made.returncode == 0, made.stderr[-2000:]
        page = HtmlReport.read(tmp_path / kind / "report.html")
        notebook = HtmlReport.read_notebook(tmp_path / kind / "report.ipynb")  # the executed notebook too
        assert len(notebook.charts) == len(page.charts) and (page.charts or kind == "pathway-review")  # no step log
        for shown in (page, notebook):
            assert not [c for t in shown.chart_texts() for c in small_counts_in(t)], (kind, shown.path.name)
            assert not small_counts_in(shown.text), (kind, shown.path.name)
        audit = json.loads((tmp_path / kind / "audit.json").read_text(encoding="utf-8"))
        assert audit["safe"] is True and audit["report"] == kind
        tiny = [f for f in audit["withheld_figures"] if f["row"] == "Tiny" and f["column"] == "n"]
        assert tiny and all(f["shown_as"] == "*" and f["possible_values"] >= 4 for f in tiny), tiny


@pytest.mark.slow
def test_a_report_that_would_narrow_a_small_count_is_withheld_from_the_command_line(tmp_path):
    # six episodes: every count is a *, and the groups that must each hold one pin the total to 3 to 5
    fixtures = Path(__file__).parent / "fixtures" / "analytics"
    out = tmp_path / "report"
    made = _cli_report("contract-monitoring", fixtures / "tiny_export.csv", fixtures / "tiny_mapping.yaml",
                       fixtures / "tiny_pathway.yaml", out, start="2025-03-01", end="2025-04-30")
    said = " ".join(made.stderr.split())
    assert made.returncode == 2, said[-2000:]
    assert "The contract-monitoring report was withheld: timeliness_overall: all episodes, n" in said
    assert "possible values" in said and "Traceback" not in said
    assert "Choose a longer period" in said  # what the user can do: not "remove the small group" from the export
    assert not (out / "report.html").exists() and not (out / "audit.json").exists()
    kept = list(out.glob("withheld-*"))  # kept privately, with the audit saying why
    assert len(kept) == 1 and str(kept[0]) in said
    audit = json.loads((kept[0] / "audit.json").read_text(encoding="utf-8"))
    assert audit["safe"] is False and audit["problems"]
    assert oct(kept[0].stat().st_mode & 0o777) == "0o700"
