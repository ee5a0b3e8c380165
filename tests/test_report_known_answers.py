"""The hand-worked export's figures where the reader sees them: report.html, the PDF, summary.json.

``tests/test_handworked.py`` works every figure out by hand and checks the analysis. Here the
four reports are made from the same export, as a user makes them (``escalation-review report``),
and the figures are read back from the page (:mod:`report_reader`): the tables by caption, the
sentences, the front sheet, the PDF's text, the charts' data. A figure right in the analysis and
wrong on the page fails here.

What is asserted, report by report (extend the dictionaries and tests below as reports grow):

* near-miss review (internal, exact counts): the front sheet's findings, the headline and the
  change since the previous period, teams, bands, lone working, delays, time to escalate, near
  misses by team and per incident, the cases to review, overdue learning actions, data quality;
* contract monitoring (external): the front sheet, the headline and its interval, the KPI table
  (this period, previous period and their dates, change, target, target met, where the target
  comes from), the data-quality sentence and table, the tables by team, band and agency;
* pathway review (partners): the front sheet, every table's counts and marks, the data quality;
* supervision (internal) for North CMHT and Ewan Patel: the name the supervisor typed beside the
  pseudonym, the practitioner beside the team and the service, the episodes to discuss.

External figures follow NHS Digital's method (reporting-conventions.md, "Small numbers"): 0
stays 0, a count from 1 to 7 is "*", every other count is rounded to the nearest 5 (8 -> 10,
11 -> 10, 13 -> 15, 24 -> 25, 34 -> 35), a percentage is worked from the rounded counts, a
median of fewer than 8 values and every figure of a group of 1 to 7 is withheld ("[c]" in a
table, "–" where the KPI table has no figure), and so is a count that would reveal a small one
by subtraction. The rounded figures below are worked by hand from the counts in
``test_handworked.py``; when the disclosure rules change, they change with them, by hand.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import needs_browser, needs_poppler
from report_reader import HtmlReport, PdfReport, Table, small_counts_in
from test_handworked import HANDWORKED, OVERALL, PERIOD, entry

pytestmark = pytest.mark.slow

STAFF = "Ewan Patel"
"""The practitioner's name as the export spells it and as the supervisor types it."""

REPORTS = {
    "near-miss-review": [],
    "contract-monitoring": ["--staff", STAFF],  # left on the command line: must change nothing outside
    "pathway-review": ["--staff", STAFF],
    "supervision": ["--team", "North CMHT", "--staff", STAFF],
}
"""The reports made from the hand-worked export, with their own options."""

EXTERNAL = ("contract-monitoring", "pathway-review")
COUNT_COLUMNS = {
    "Episodes", "Within target", "No escalation recorded", "Contacts", "Responses recorded", "Passed",
    "Episodes checked", "Late or missed", "Number", "Near misses", "Incidents", "Actions", "Overdue",
}
"""Columns holding counts of people or episodes in external tables."""

INTERNAL_HEADLINE = (
    "From 1 October to 31 December 2025, 24 escalation episodes were analysed. 54% were escalated within the "
    "pathway's target (95% CI 35–72%).")
"""The internal headline: 13 of 24 within target, Wilson 35.1% to 72.1% (worked in test_handworked.py)."""

HEADLINE = (
    "From 1 October to 31 December 2025, 25 escalation episodes were analysed (counts rounded to the nearest "
    "5). 60% were escalated within the pathway's target (95% CI 41–77%).")
"""24 -> 25 and 13 -> 15; 15 / 25 = 60%. Wilson for 15 of 25 (z^2 = 3.8415): 1 + z^2/n = 1.15366;
centre (0.6 + 0.07683) / 1.15366 = 0.58668; half 1.96 * sqrt(0.0096 + 0.0015366) / 1.15366
= 0.17929 -> 40.7% to 76.6%, printed 41–77%."""

EXTERNAL_DATA_QUALITY = "The export 'Hand-worked test export' had 35 rows, of which 25 episodes were analysed."
"""34 rows read -> 35, 24 analysed -> 25."""

TEAM_FINDING = "No team's monthly timeliness shows special-cause concern in the period."
"""Every team's monthly chart of this export is common cause (two to five episodes a month)."""

OUTSIDE_LEARNING_FINDING = ("Learning actions were overdue at 31/12/2025, most often from episodes about approvals "
                            "before action and unclear which route to take.")
"""3 overdue (P06, N02 waited for approval, S04 unclear which team): the count is withheld outside."""


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """Every report in REPORTS, made two at a time with a key file of their own."""
    out = tmp_path_factory.mktemp("handworked-reports")
    env = {k: v for k, v in os.environ.items() if k != "ESCALATION_ANALYSIS_KEY"}
    env["ESCALATION_ANALYSIS_KEY_FILE"] = str(out / "key")
    common = ["--data", str(HANDWORKED / "export.csv"), "--mapping", str(HANDWORKED / "mapping.yaml"),
              "--pathway", str(HANDWORKED / "pathway.yaml"), "--start", PERIOD[0], "--end", PERIOD[1],
              "--steps", str(HANDWORKED / "steps.csv"), "--actions", str(HANDWORKED / "actions.csv")]
    # The package makes the key file first, as a first run would; the four runs then share it.
    subprocess.run([sys.executable, "-c", "from escalation_analysis.ingest.pseudonyms import load_key; load_key()"],
                   env=env, check=True, timeout=120)
    kinds = list(REPORTS)
    runs = {}
    for batch in (kinds[0::2], kinds[1::2]):  # two at a time, a larger report beside a smaller one
        started = {kind: subprocess.Popen(
            [sys.executable, "-m", "escalation_analysis.cli", "report", kind, *common, *REPORTS[kind],
             "--out", str(out / kind)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for kind in batch}
        for kind, process in started.items():
            _, stderr = process.communicate(timeout=900)
            runs[kind] = (process.returncode, stderr)
    failed = {kind: stderr[-2000:] for kind, (code, stderr) in runs.items() if code != 0}
    assert not failed, failed
    return {kind: out / kind for kind in REPORTS}


@pytest.fixture(scope="module")
def html(made) -> dict[str, HtmlReport]:
    return {kind: HtmlReport.read(folder / "report.html") for kind, folder in made.items()}


@pytest.fixture(scope="module")
def pdf(made) -> dict[str, PdfReport]:
    return {kind: PdfReport.read(folder / "report.pdf") for kind, folder in made.items()}


@pytest.fixture(scope="module")
def summary(made) -> dict[str, dict]:
    return {kind: json.loads((folder / "summary.json").read_text(encoding="utf-8")) for kind, folder in made.items()}


def pdf_words(report: PdfReport) -> str:
    """The PDF's text as a reader takes it in: an interval broken over two lines is still one."""
    return re.sub(r"(\d)– (\d)", r"\1–\2", report.text)


def findings(report: HtmlReport) -> str:
    """The front sheet's "What this report found", up to the KPI summary that follows it."""
    text = report.text
    start = text.index("What this report found") + len("What this report found")
    return text[start:text.index("Key performance indicators", start)].strip()


# ---------------------------------------------------------------------------------------------
# Near-miss review (internal: exact counts)


class TestNearMissReview:
    def test_front_sheet(self, html):
        report = html["near-miss-review"]
        assert "Rows34 rows read: 24 episodes analysed, 8 outside the period, 2 excluded for data problems" in report.text
        # Overdue at 31/12/2025: P06 (previous period: no theme), N02 (waited for manager approval:
        # approvals before action), S04 (unclear which team to contact: unclear which route to take).
        assert findings(report) == (
            f"{TEAM_FINDING} See Teams compared fairly. 3 learning actions were overdue at 31/12/2025; by the theme "
            "of the episode they came from: approvals before action 1 and unclear which route to take 1. "
            "See Learning actions.")

    def test_headline_and_change_since_the_previous_period(self, html):
        text = html["near-miss-review"].text
        assert INTERNAL_HEADLINE + " 3 had no escalation recorded at all. 10 were recorded as near misses." in text
        # previous period 5 of 8 = 62.5% (printed 62%), this period 54.2% (54%): 8 points apart
        assert ("In the previous period, 62% of episodes were escalated within target compared with 54% in this "
                "period (a difference of 8 percentage points") in text

    def test_teams_bands_and_lone_working(self, html):
        report = html["near-miss-review"]
        # Wilson intervals from test_handworked.py, to whole percentages
        assert report.table("Escalated within target, by team").rows == [
            ["South CMHT", "8", "6", "75.0%", "41–93%"], ["North CMHT", "11", "5", "45.5%", "21–72%"],
            ["Harbour Outreach", "5", "2", "40.0%", "12–77%"]]
        assert report.table("Escalated within target, in and out of hours").rows == [
            ["In hours", "13", "9", "69.2%", "42–87%"], ["Bank holiday", "2", "1", "50.0%", "9–91%"],
            ["Weekday evening or night", "5", "2", "40.0%", "12–77%"], ["Weekend", "4", "1", "25.0%", "5–70%"]]
        assert report.table("Escalated within target, lone workers").rows == [
            ["Accompanied", "17", "12", "70.6%", "47–87%"], ["Lone worker", "7", "1", "14.3%", "3–51%"]]

    def test_delays_and_time_to_escalate(self, html):
        report = html["near-miss-review"]
        delays = {r[0]: (r[1], r[2], r[5]) for r in report.table("Delay to escalate, by in or out of hours").rows}
        # in hours: median 80, p90 174; out of hours: median 50, p90 132 (minutes)
        assert delays == {"In hours": ("12", "1 h 20 min", "2 h 54 min"), "Out of hours": ("9", "50 min", "2 h 12 min")}
        # in hours 13 episodes: 5 escalated by 60 min (20 30 30 40 60), 11 by 4 h, 12 by a day (1440 counts);
        # out of hours 11: 5 by 60 min (20 20 40 45 50), 9 by 4 h and by a day (2 not escalated)
        assert report.table("Time to escalate").rows == [
            ["In hours", "38.5%", "84.6%", "92.3%"], ["Out of hours", "45.5%", "81.8%", "81.8%"]]

    def test_near_misses(self, html):
        report = html["near-miss-review"]
        # Harbour: NM H02 H03, late H02 H03 H04; North: NM N01 N03 N05 N09 N10, late N02 N04 N05 N06 N08 N09;
        # South: NM S02 S05 S06, late S04 S06
        assert report.table("Near misses and late escalations by team").rows == [
            ["Harbour Outreach", "5", "2", "3", "3", "2", "60.0%"], ["North CMHT", "11", "5", "6", "6", "2", "54.5%"],
            ["South CMHT", "8", "3", "5", "2", "1", "25.0%"]]
        # Q2 (the previous period): 3 near misses of 5 incidents; Q3: 10 of 14
        assert report.table("Near misses reported per incident").rows == [["2025/26 Q2", "0.60"], ["2025/26 Q3", "0.71"]]

    def test_cases_to_review_are_the_late_and_missed(self, html):
        table = html["near-miss-review"].table("Cases to review")
        assert sorted(table.column("Reference")) == sorted(
            ["N02", "N04", "N05", "N06", "N08", "N09", "S04", "S06", "H02", "H03", "H04"])
        assert table.column("Reference")[:3] == ["N09", "S06", "H03"]  # not escalated at all come first

    def test_learning_actions_and_data_quality(self, html):
        report = html["near-miss-review"]
        overdue = report.table("Overdue learning actions")
        assert [(r["Days overdue"], r["Reference"]) for r in overdue.as_dicts()] == [("92", "P06"), ("31", "N02"),
                                                                                      ("16", "S04")]
        assert report.sentence_with("The export 'Hand-worked") == "The export 'Hand-worked test export' had 34 rows."
        assert "8 fell outside the period and 2 were excluded because of data problems" in report.text
        assert report.table("Rows excluded and warnings").column("Number") == ["1", "1", "8", "1"]

    @needs_browser
    @needs_poppler
    def test_the_pdf_says_the_same(self, pdf):
        text = pdf_words(pdf["near-miss-review"])
        assert INTERNAL_HEADLINE in text and TEAM_FINDING in text
        assert "Harbour Outreach 5 2 3 3 2 60.0% North CMHT 11 5 6 6 2 54.5% South CMHT 8 3 5 2 1 25.0%" in text
        assert "The export 'Hand-worked test export' had 34 rows. 8 fell outside the period" in text

    def test_summary_json(self, summary):
        data = summary["near-miss-review"]
        assert data["timeliness"]["overall"] == OVERALL
        assert data["near_misses"] == {"n": 10, "incidents": 14}
        assert data["learning_actions"] == {"total": 5, "linked_to_episodes": 4, "open": 4, "closed": 1, "overdue": 3}
        assert (data["data_quality"]["rows_read"], data["data_quality"]["rows_analysed"]) == (34, 24)


# ---------------------------------------------------------------------------------------------
# Contract monitoring (external)


KPI_ROWS = {
    # indicator: (this period, previous period, change, target, target met, target from)
    # Within target 13 of 24 -> 15 of 25 = 60.0%, below 90%. The previous period's 5 of 8: 5 is
    # small, so its rate and every change are withheld. Imminent risk 7 of 15 and out of hours 4
    # of 11: 7 and 4 are small. Not escalated 3 (previous 1) and near misses 3 before: "*"; near
    # misses 10 stay 10. The median and 90th percentile rest on 21 escalated delays (70, 180);
    # the previous period's on 7: withheld. Crisis team 5 of 7 responses: small. The learning
    # log holds 5 actions, a group of fewer than 8: its overdue counts (3, and 0 before) are [c].
    # A withheld rate or median reads [c], as in the tables; "–" is only for no figure at all.
    "Escalations within target": ("60.0%", "[c]", "–", "90%", "No", "Hand-worked contract, KPI 1"),
    "Imminent risk: escalated within target": ("[c]", "[c]", "–", "95%", "–", "Hand-worked contract, KPI 2"),
    "Out of hours: escalated within target": ("[c]", "[c]", "–", "90%", "–", "Hand-worked contract, KPI 3"),
    "Episodes with no escalation recorded": ("*", "*", "–", "–", "–", "No target set"),
    "Median delay to escalate": ("70 min", "[c]", "–", "60 min", "No", "Pathway file, version 1"),
    "90th percentile delay to escalate": ("180 min", "[c]", "–", "–", "–", "No target set"),
    "Near misses reported": ("10", "*", "–", "–", "–", "No target set"),
    "Crisis team responded within target": ("[c]", "[c]", "–", "90%", "–", "Hand-worked contract, KPI 4"),
    "Learning actions overdue": ("[c]", "[c]", "–", "0", "–", "Hand-worked incident response plan"),
}
KPI_HEADER = ["Indicator", "This period (01/10/2025 to 31/12/2025)", "Previous period (01/07/2025 to 30/09/2025)",
              "Change", "Target", "Target met", "Target from"]


class TestContractMonitoring:
    def test_front_sheet(self, html):
        report = html["contract-monitoring"]
        # 10 excluded (8 outside the period, 2 for data problems) is withheld: with the rows read and
        # analysed it would narrow the 2 to fewer than 4 values
        assert ("Rows35 rows read: 25 episodes analysed and the rest excluded (counts rounded to the nearest 5; "
                "the reasons are under Data quality)") in report.text
        assert "Compared with01/07/2025 to 30/09/2025" in report.text
        assert findings(report) == f"{TEAM_FINDING} See By team. {OUTSIDE_LEARNING_FINDING} See Learning from near misses."
        mdc = report.table("Key performance indicators: Making Data Count summary")
        # December alone: 7 episodes (N06 N10 N11 S06 S07 S08 H05), a small group: its rate is withheld
        assert mdc.row("Escalations within target")["Latest"] == "[c]"
        assert mdc.row("Learning actions overdue")["Latest"] == "[c]"

    def test_headline_and_its_interval(self, html):
        assert HEADLINE in html["contract-monitoring"].text
        assert "Fewer than 8 had no escalation recorded at all. 10 were recorded as near misses." in html[
            "contract-monitoring"].text

    def test_kpi_table(self, html):
        table = html["contract-monitoring"].table("Key performance indicators")
        assert table.header == KPI_HEADER  # the periods' dates, as the reader needs them
        assert {row[0]: tuple(row[1:]) for row in table.rows} == KPI_ROWS

    def test_external_data_quality_sentence(self, html):
        assert html["contract-monitoring"].sentence_with("The export 'Hand-worked") == EXTERNAL_DATA_QUALITY

    def test_data_quality_table_hides_the_small_reasons(self, html):
        table = html["contract-monitoring"].table("Rows excluded and warnings")
        # 1 duplicate, 1 escalated before identified, 1 warning: "*"; the 8 outside the period
        # would give 10 - 8 = 2 for the other two: withheld
        assert [(r["Rows"], r["Number"]) for r in table.as_dicts()] == [
            ("Excluded", "*"), ("Excluded", "*"), ("Excluded", "[c]"), ("Kept, with a warning", "*")]

    def test_timeliness_by_team_and_band(self, html):
        table = html["contract-monitoring"].table("Timeliness by team")
        # Harbour 5: every figure withheld. North 11 -> 10 with 5 within and 1 not escalated small,
        # its median on 10 delays shown (47.5); South 8 -> 10, 6 within small, median on 7 delays withheld.
        assert table.rows == [
            ["Harbour Outreach", "*", "[c]", "[c]", "[c]", "[c]", "[c]"],
            ["North CMHT", "10", "*", "[c]", "[c]", "*", "47.5"],
            ["South CMHT", "10", "*", "[c]", "[c]", "*", "[c]"]]
        # In hours 13 -> 15, 9 within -> 10: 10 / 15 = 66.7%; Wilson for 10 of 15: 1 + z^2/n = 1.2561,
        # centre (0.6667 + 0.12805) / 1.2561 = 0.63268, half 1.96 * sqrt(0.014815 + 0.004268) / 1.2561
        # = 0.21556 -> 41.7% to 84.8% (42–85%); 1 not escalated; median on 12 delays 80.
        bands = html["contract-monitoring"].table("In and out of hours")
        assert bands.row("In hours")["Within target (%)"] == "66.7%"
        assert bands.rows == [
            ["Bank holiday", "*", "[c]", "[c]", "[c]", "[c]", "[c]"], ["In hours", "15", "10", "66.7%", "42–85%", "*", "80"],
            ["Weekday evening or night", "*", "[c]", "[c]", "[c]", "[c]", "[c]"],
            ["Weekend", "*", "[c]", "[c]", "[c]", "[c]", "[c]"]]

    def test_agencies(self, html):
        table = html["contract-monitoring"].table("Response by receiving agency")
        # crisis team 9 contacts -> 10, 7 responses and 5 within target small; duty senior 6 and police 2
        assert [r[:5] for r in table.rows] == [
            ["Crisis team", "240", "10", "*", "*"], ["Duty senior", "30", "*", "[c]", "[c]"],
            ["Police", "60", "*", "[c]", "[c]"]]

    @needs_browser
    @needs_poppler
    def test_the_pdf_says_the_same(self, pdf):
        text = pdf_words(pdf["contract-monitoring"])
        assert HEADLINE in text
        assert EXTERNAL_DATA_QUALITY in text
        # The KPI table cell by cell, in the tagged PDF's reading order: its headings wrap onto
        # three lines beside the first row, so reading the page line by line interleaves them.
        cells = pdf_words(PdfReport.read(pdf["contract-monitoring"].path, cell_by_cell=True))
        assert " ".join(KPI_HEADER) in cells
        for indicator in ("Escalations within target", "Median delay to escalate"):
            assert " ".join((indicator, *KPI_ROWS[indicator])) in cells

    def test_summary_json(self, summary):
        timeliness = summary["contract-monitoring"]["timeliness"]
        assert timeliness["overall"] == {**entry(25, 15, 60.0, (40.7, 76.6), None, 70.0, 180.0), "not_escalated": "*"}
        assert timeliness["by_band"]["in_hours"] == {**entry(15, 10, 66.7, (41.7, 84.8), None, 80.0, 174.0),
                                                     "not_escalated": "*"}
        # out of hours 11 -> 10, 4 within small: no rate; its median and p90 rest on 9 delays (50, 132)
        assert timeliness["by_band"]["out_of_hours"] == {**entry(10, "*", None, (None, None), "*", 50.0, 132.0)}
        assert timeliness["by_team"]["Harbour Outreach"] == entry("*", "[c]", None, (None, None), "[c]", None, None)
        quality = summary["contract-monitoring"]["data_quality"]
        assert (quality["rows_read"], quality["rows_analysed"], quality["rows_excluded"]) == (35, 25, "[c]")
        assert quality["excluded_by_reason"] == {"duplicate_row": "*", "escalated_before_identified": "*",
                                                 "outside_period": "[c]"}
        assert summary["contract-monitoring"]["near_misses"] == {"n": 10, "incidents": 15}  # 14 -> 15
        assert summary["contract-monitoring"]["disclosure"]["policy"] == "nhs-rounded"


# ---------------------------------------------------------------------------------------------
# Pathway review (partners)


class TestPathwayTables:
    def test_front_sheet(self, html):
        report = html["pathway-review"]
        # 10 excluded (8 outside the period, 2 for data problems) is withheld: with the rows read and
        # analysed it would narrow the 2 to fewer than 4 values
        assert ("Rows35 rows read: 25 episodes analysed and the rest excluded (counts rounded to the nearest 5; "
                "the reasons are under Data quality)") in report.text
        assert findings(report) == f"{TEAM_FINDING} {OUTSIDE_LEARNING_FINDING}"

    def test_checks(self, html):
        table = html["pathway-review"].table("Pathway checks")
        # Passed of checked: first contact 8 of 10, in order 9 of 10, nothing skipped 8 of 10 -> each
        # 10 of 10 = 100.0% (percentages from rounded counts); Wilson for 10 of 10: 1 + z^2/n = 1.38415,
        # centre (1 + 0.19208) / 1.38415 = 0.86123, half 1.96 * 0.09800 / 1.38415 = 0.13877 -> 72.2% to
        # 100% (72–100%). Approvals 6 of 10 and all checks 6 of 12 (-> 10): 6 small. Information 3 of 5.
        assert table.rows == [
            ["First contact as the pathway expects", "10", "10", "100.0%", "72–100%"],
            ["Steps in the expected order", "10", "10", "100.0%", "72–100%"],
            ["No expected step skipped", "10", "10", "100.0%", "72–100%"],
            ["Approvals within the limit", "10", "*", "[c]", "–"],
            ["Required information shared", "*", "[c]", "[c]", "–"],
            ["All checks passed", "10", "*", "[c]", "–"],
        ]

    def test_routes_are_marked(self, html):
        table = html["pathway-review"].table("Most common routes taken")
        # 4, 2, 2, 1 and 1 episodes: all small
        assert table.rows == [["Duty senior → Crisis team", "*"], ["Crisis team", "*"], ["Crisis team → Police", "*"],
                              ["Crisis team → Duty senior", "*"], ["Duty senior", "*"]]

    def test_agency_response(self, html):
        table = html["pathway-review"].table("Response by receiving agency")
        # crisis team 9 contacts -> 10, 7 responses and 5 within target: small; duty senior 6, police 2
        assert [[r["Agency"], r["Contacts"], r["Responses recorded"], r["Within target"]] for r in table.as_dicts()] == [
            ["Crisis team", "10", "*", "*"], ["Duty senior", "*", "[c]", "[c]"], ["Police", "*", "[c]", "[c]"]]

    def test_approvals_by_team_handoffs_and_themes(self, html):
        approvals = html["pathway-review"].table("Approvals within the limit, by team")
        # Harbour 2 of 3, North 3 of 5, South 1 of 2: groups of fewer than 8
        assert [r[:3] for r in approvals.rows] == [
            ["Harbour Outreach", "*", "[c]"], ["North CMHT", "*", "[c]"], ["South CMHT", "*", "[c]"]]
        handoffs = html["pathway-review"].table("Hand-offs between contacts")
        assert handoffs.rows == [["Duty senior → Crisis team", "*", "[c]", "[c]"], ["Crisis team → Police", "*", "[c]", "[c]"],
                                 ["Crisis team → Duty senior", "*", "[c]", "[c]"]]  # 4, 2 and 1
        themes = html["pathway-review"].table("Themes and questions for the pathway")
        # approvals 2 (N02 N08), lone working 3, contacts 1, route 1: small; none for the last two
        assert [r[:3] for r in themes.rows] == [
            ["Approvals before action", "*", "[c]"], ["Lone-working conditions", "*", "[c]"],
            ["Contacts could not be reached", "*", "[c]"], ["Unclear which route to take", "*", "[c]"],
            ["Systems and information", "0", "0"], ["Partner response", "0", "0"]]

    def test_headline_and_data_quality(self, html):
        assert HEADLINE in html["pathway-review"].text
        assert html["pathway-review"].sentence_with("The export 'Hand-worked") == EXTERNAL_DATA_QUALITY

    @needs_browser
    @needs_poppler
    def test_the_pdf_says_the_same(self, pdf):
        text = pdf_words(pdf["pathway-review"])
        assert HEADLINE in text and EXTERNAL_DATA_QUALITY in text and TEAM_FINDING in text
        assert "First contact as the pathway expects 10 10 100.0% 72–100%" in text
        assert "Crisis team 10 * [c] [c] 240 * [c]" in text

    def test_summary_json(self, summary):
        data = summary["pathway-review"]
        assert data["audience"] == "partners"
        assert data["adherence"]["first_contact_correct"] == {"checked": 10, "passed": 10, "passed_pct": 100.0}
        assert data["adherence"]["approvals_within_limit"] == {"checked": 10, "passed": "*", "passed_pct": None}
        assert data["adherence"]["information_complete"] == {"checked": "*", "passed": "[c]", "passed_pct": None}
        assert data["multi_agency"]["crisis_team"] == {"contacts": 10, "responses_recorded": "*", "median_minutes": None,
                                                       "p90_minutes": None, "within_target_pct": None}
        assert data["timeliness"]["overall"]["n"] == 25 and data["data_quality"]["rows_read"] == 35


# ---------------------------------------------------------------------------------------------
# Supervision (internal): North CMHT and Ewan Patel


class TestSupervision:
    def test_front_sheet_is_the_team_s(self, html):
        report = html["supervision"]
        assert findings(report) == ("North CMHT's monthly timeliness shows no special-cause concern in the period. "
                                    "See Timeliness against the team and the service.")

    def test_practitioner_beside_team_and_service(self, html):
        table = html["supervision"].table("Escalated within target")
        rows = [r[1:] for r in table.rows]  # the practitioner's row is named by pseudonym
        assert table.rows[0][0].startswith("Practitioner ST-")
        assert [r[0] for r in table.rows[1:]] == ["North CMHT", "Whole service"]
        assert rows == [["5", "1", "20.0%", "4–62%", "0", "50.0"], ["11", "5", "45.5%", "21–72%", "1", "47.5"],
                        ["24", "13", "54.2%", "35–72%", "3", "70.0"]]

    def test_who_the_pack_is_about_by_the_name_the_supervisor_typed(self, html):
        sentence = html["supervision"].sentence_with("This pack covers")
        assert re.fullmatch(rf"This pack covers {STAFF} \(pseudonym ST-[0-9a-f]{{10}}\), North CMHT, 1 October to 31 "
                            r"December 2025: 5 escalation episodes\.", sentence), sentence

    def test_splits(self, html):
        report = html["supervision"]
        # Ewan: N01 N02 N04 N08 imminent (N01 within), N05 loss of contact; in hours N01 N02, out of hours
        # N04 N05 N08; lone N01 N04 N05 N08. Wilson 1 of 4: 4.6% to 69.9%; 0 of 1: 0 to 79.3%; 0 of 3: 0 to 56.1%.
        assert report.table("Within target, by trigger").rows == [
            ["Imminent risk", "4", "1", "25.0%", "5–70%"], ["Loss of contact", "1", "0", "0.0%", "0–79%"]]
        assert report.table("Within target, in and out of hours").rows == [
            ["In hours", "2", "1", "50.0%", "9–91%"], ["Out of hours", "3", "0", "0.0%", "0–56%"]]
        assert report.table("Within target, lone working").rows == [
            ["Lone worker", "4", "1", "25.0%", "5–70%"], ["Accompanied", "1", "0", "0.0%", "0–79%"]]

    def test_episodes_to_discuss(self, html):
        table = html["supervision"].table("Late or missed escalations to discuss")
        # late first, most recent first; N01 (20 of 60 minutes) was within target: in the appendix only
        assert [(r["Reference"], r["Delay (minutes)"], r["Target (minutes)"], r["Within target"])
                for r in table.as_dicts()] == [
            ("N08", "50", "30", "No"), ("N05", "180", "150", "No"), ("N04", "45", "30", "No"),
            ("N02", "90", "60", "No")]
        assert sorted(html["supervision"].table("Every episode in the period").column("Reference")) == [
            "N01", "N02", "N04", "N05", "N08"]

    @needs_browser
    @needs_poppler
    def test_the_pdf_says_the_same(self, pdf):
        text = pdf_words(pdf["supervision"])
        assert f"This pack covers {STAFF} (pseudonym ST-" in text
        assert "5 1 20.0% 4–62% 0 50.0 North CMHT 11 5 45.5% 21–72% 1 47.5 Whole service 24 13 54.2% 35–72% 3 70.0" in text

    def test_summary_json_is_the_practitioner_s(self, summary):
        timeliness = summary["supervision"]["timeliness"]
        # delays 20 45 50 90 180: median 50, p90 at 3.6 -> 90 + 0.6 * 90 = 144; Wilson 1 of 5: 3.6% to 62.4%
        assert timeliness["overall"] == entry(5, 1, 20.0, (3.6, 62.4), 0, 50.0, 144.0)
        assert summary["supervision"]["near_misses"] == {"n": 2, "incidents": 3}  # N01 N05; N02 N04 N08


def _files_text(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): path.read_text(encoding="utf-8", errors="replace")
            for path in folder.rglob("*") if path.is_file() and path.suffix != ".pdf"}


@pytest.mark.parametrize("kind", EXTERNAL)
def test_the_typed_name_never_reaches_an_outside_report(made, kind):
    """--staff left on the command line of an outside report: no file it wrote names the practitioner."""
    assert [name for name, text in _files_text(made[kind]).items() if "Patel" in text] == []


@needs_browser
@needs_poppler
@pytest.mark.parametrize("kind", EXTERNAL)
def test_the_typed_name_never_reaches_an_outside_pdf(pdf, kind):
    assert "Patel" not in pdf[kind].text


# ---------------------------------------------------------------------------------------------
# Suppression marks in every external table and chart


def _unrounded_counts(table: Table) -> list[tuple[str, str]]:
    """Counts that NHS Digital's method would not print: anything but 0, a multiple of 5 or a mark."""
    return [(column, cell) for column in table.header if column in COUNT_COLUMNS
            for cell in table.column(column) if not re.fullmatch(r"0|\d*[05]|\*|\[c\]|–", cell.replace(",", ""))]


@pytest.mark.parametrize("kind", EXTERNAL)
def test_every_external_count_is_0_a_multiple_of_5_or_a_mark(html, kind):
    shown = {table.caption: _unrounded_counts(table) for table in html[kind].tables}
    assert not any(shown.values()), shown


def test_the_internal_reports_print_exact_counts(html):
    """The check above can fail: the same tables inside print the 1s, 2s and 11s it rejects."""
    assert _unrounded_counts(html["near-miss-review"].table("Near misses and late escalations by team"))


@pytest.mark.parametrize("kind", EXTERNAL)
def test_every_external_report_marks_hidden_counts(html, kind):
    marks = sum(cell == "*" for table in html[kind].tables for row in table.rows for cell in row)
    assert marks > 0  # the export is small: something must be hidden, and be seen to be


@pytest.mark.parametrize("kind", EXTERNAL)
def test_no_external_chart_says_a_count_from_1_to_7(html, kind):
    said = [count for text in html[kind].chart_texts() for count in small_counts_in(text)]
    assert html[kind].charts and said == []
