"""The four review reports, end to end: ``escalation-review demo`` on the sample data.

Facts users rely on: every report folder has its HTML, PDF, executed notebook, summary.json and
tables; every chart is drawn by a browser with no network and nothing is fetched from the
internet; external and partner outputs hold no identifier, staff name, pseudonym or
description from the export and no count from 1 to 7; a hostile description stays inert text.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from conftest import IN_CI, browser, needs_browser
from report_reader import HtmlReport

from escalation_analysis.ingest.export import load_export
from escalation_analysis.publish.gate import PrivacyError, PrivacyGate, output_texts
from escalation_analysis.publish.review_runs import KINDS
from escalation_analysis.reviews import plotly_bundle

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
THRESHOLD = 7
COUNT_HEADERS = {
    "Episodes", "Within target", "Not within target", "No escalation recorded", "Contacts",
    "Responses recorded", "Passed", "Episodes checked", "Late or missed", "Number", "Near misses",
    "Incidents", "Late near misses",
}

pytestmark = pytest.mark.slow


def _browser() -> str | None:
    return browser()


def test_demo_writes_every_output_of_every_report(demo):
    for kind in KINDS:
        folder = demo / kind
        for name in ("report.html", "report.ipynb", "summary.json"):
            assert (folder / name).is_file(), f"{kind}/{name} missing"
        if _browser() or IN_CI:  # in CI the browser must be there
            assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")
        assert list((folder / "tables").glob("*.csv")), f"{kind} has no tables"
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["report"] == kind
        assert summary["audience"] == KINDS[kind].audience
        quality = summary["data_quality"]
        if KINDS[kind].audience == "internal":
            assert quality["rows_read"] == quality["rows_analysed"] + quality["rows_excluded"]


def test_each_report_html_is_small_enough_to_email(demo):
    for kind in KINDS:
        assert (demo / kind / "report.html").stat().st_size <= 2_000_000


def test_every_chart_in_every_report_is_a_trace_type_the_embedded_plotly_draws(demo):
    drawn = {trace.get("type", "scatter") for kind in KINDS
             for chart in HtmlReport.read(demo / kind / "report.html").charts for trace in chart["data"]}
    assert drawn and drawn <= plotly_bundle.trace_types(), drawn - plotly_bundle.trace_types()


def _open_offline(page: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """Render a page headless with no network; return the DOM and the URLs the page asked for.

    Chromium's own background requests (update checks, account probes) carry no page
    initiator in its net log; requests made by the page carry the page's origin.
    """
    netlog = tmp_path / "netlog.json"
    prefix = ["unshare", "-n"] if shutil.which("unshare") and subprocess.run(
        ["unshare", "-n", "true"], capture_output=True, check=False).returncode == 0 else []
    command = [
        *prefix, _browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", f"--log-net-log={netlog}", "--virtual-time-budget=20000",
        "--dump-dom", page.as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False).stdout
    events = json.loads(netlog.read_text(errors="replace")).get("events", []) if netlog.exists() else []
    urls = sorted({
        e["params"]["url"] for e in events
        if e.get("params", {}).get("url", "").startswith(("http:", "https:", "ws:", "wss:"))
        and e["params"].get("initiator") not in (None, "not an origin")
    })
    return dom, urls




@needs_browser
def test_the_offline_check_sees_a_page_fetching_from_the_internet(tmp_path):
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><img src="http://example.invalid/pixel.png"></body></html>')
    _, urls = _open_offline(page, tmp_path)
    assert urls == ["http://example.invalid/pixel.png"]


@needs_browser
@pytest.mark.parametrize("kind", list(KINDS))
def test_browser_draws_every_chart_offline_and_fetches_nothing(demo, kind, tmp_path):
    page = demo / kind / "report.html"
    expected = page.read_text(encoding="utf-8").count("Plotly.newPlot(")
    assert expected >= 1
    dom, urls = _open_offline(page, tmp_path)
    assert dom.count("plotly-graph-div js-plotly-plot") == expected
    assert dom.count('class="main-svg"') >= expected
    assert urls == []


@pytest.mark.parametrize("kind", [k for k, v in KINDS.items() if v.audience != "internal"])
def test_external_outputs_hold_no_identifier_name_pseudonym_or_description(demo, kind):
    export = pd.read_csv(SAMPLE / "incidents.csv", dtype=str, encoding="utf-8-sig").fillna("")
    texts = output_texts(demo / kind)
    assert {"report.html", "summary.json", "report.ipynb"} <= set(texts)
    forbidden = {
        "incident reference": set(export["Ref"][export["Ref"].str.len() > 0]),
        "NHS number": set(export["NHS Number"][export["NHS Number"].str.len() > 0])
        | set(export["NHS Number"].str.replace(" ", "")[export["NHS Number"].str.len() > 0]),
        "staff name": set(export["Reported By"][export["Reported By"].str.len() > 0]),
        "description": set(export["Description"].str.slice(0, 40)[export["Description"].str.len() > 15]),
    }
    for name, text in texts.items():
        for what, values in forbidden.items():
            leaked = [v for v in values if v in text]
            assert not leaked, f"{kind}/{name} contains a {what}"
        assert not re.search(r"\b(?:SU|ST)-[0-9a-f]{10}\b", text), f"{kind}/{name} contains a pseudonym"


class _Tables(HTMLParser):
    """Collects (header, cell text) pairs from every table in a report."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str]] = []
        self._headers: list[str] = []
        self._row: list[str] = []
        self._text: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        if tag == "thead":
            self._in_head, self._headers = True, []
        elif tag in ("td", "th"):
            self._text = []
        elif tag == "tr":
            self._row = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._text is not None:
            text = "".join(self._text).strip()
            (self._headers if self._in_head else self._row).append(text)
            self._text = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "tr" and not self._in_head:
            self.cells.extend(zip(self._headers, self._row, strict=False))

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def _small(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= THRESHOLD


def _json_small_counts(node, path="") -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _json_small_counts(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _json_small_counts(value, f"{path}[{i}]")
    elif _small(node):
        found.append(f"{path}={node}")
    return found


@pytest.mark.parametrize("kind", [k for k, v in KINDS.items() if v.audience != "internal"])
def test_external_outputs_show_no_count_from_1_to_7(demo, kind):
    folder = demo / kind
    summary = json.loads((folder / "summary.json").read_text())
    assert _json_small_counts(summary) == []
    for csv in (folder / "tables").glob("*.csv"):
        table = pd.read_csv(csv, dtype=str).fillna("")
        for column in table.columns:
            counts = table[column][table[column].str.fullmatch(r"\d+")].astype(int)
            assert not counts.between(1, THRESHOLD).any(), f"{csv.name}:{column} shows a small count"
    parser = _Tables()
    parser.feed((folder / "report.html").read_text(encoding="utf-8"))
    assert parser.cells, "no tables found in the report"
    small = [(h, v) for h, v in parser.cells
             if h in COUNT_HEADERS and re.fullmatch(r"\d+", v.replace(",", "")) and 1 <= int(v.replace(",", "")) <= THRESHOLD]
    assert small == []


def test_hostile_description_stays_inert_text_in_the_internal_review(tmp_path):
    """Every description replaced by a script: the review shows it as text, never runs it."""
    from escalation_analysis.ingest.inputs import InputFiles
    from escalation_analysis.publish.review_runs import ReviewInputs, run_review

    export = pd.read_csv(SAMPLE / "incidents.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    export["Description"] = "<script>document.title='pwned'</script><img src=x onerror=alert(1)> visit"
    hostile = tmp_path / "hostile.csv"
    export.to_csv(hostile, index=False, encoding="utf-8")
    inputs = ReviewInputs(InputFiles(hostile, SAMPLE / "mapping.yaml", SAMPLE / "pathway.yaml"),
                          pd.Timestamp("2025-10-01").date(), pd.Timestamp("2025-12-31").date())
    result = run_review("near-miss-review", inputs, tmp_path / "out", pdf=False)
    html = result.html.read_text(encoding="utf-8")
    assert "&lt;script&gt;document.title=" in html  # shown as the text it is
    assert "<script>document.title='pwned'</script>" not in html
    assert "<img src=x onerror" not in html
    if _browser() or IN_CI:
        dom, urls = _open_offline(result.html, tmp_path)
        assert "<title>pwned</title>" not in dom
        assert urls == []


def test_internal_reports_show_pseudonyms_never_raw_identifiers(demo):
    export = pd.read_csv(SAMPLE / "incidents.csv", dtype=str, encoding="utf-8-sig").fillna("")
    numbers = set(export["NHS Number"][export["NHS Number"] != ""])
    names = set(export["Reported By"][export["Reported By"] != ""])
    assert re.search(r"SU-[0-9a-f]{10}", output_texts(demo / "near-miss-review")["report.html"])
    for kind in ("near-miss-review", "supervision"):
        for name, text in output_texts(demo / kind).items():
            assert not any(n in text for n in numbers), f"{kind}/{name} shows an NHS number"
            assert not any(n in text for n in names), f"{kind}/{name} shows a staff name"


def test_the_privacy_gate_blocks_a_leaking_report(tmp_path):
    export = pd.read_csv(SAMPLE / "incidents.csv", dtype=str, encoding="utf-8-sig")
    (tmp_path / "report.html").write_text(f"<p>Team summary</p><p>{export['Reported By'].iloc[0]}</p>")
    identifiers = load_export(SAMPLE / "incidents.csv", SAMPLE / "mapping.yaml", key=b"k" * 32).identifiers
    with pytest.raises(PrivacyError, match=re.escape("a staff identifier in report.html")) as err:
        PrivacyGate.build(identifiers, "external").check(tmp_path, ["report.html"])
    assert err.value.leaks == [("report.html", "staff identifier")]
    assert (tmp_path / "report.html").exists()  # the gate reads; the runner decides what to keep


def test_a_supervision_pack_about_nobody_is_refused_before_running(tmp_path):
    from escalation_analysis.errors import EscalationAnalysisError
    from escalation_analysis.ingest.inputs import InputFiles
    from escalation_analysis.publish.review_runs import ReviewInputs, run_review

    inputs = ReviewInputs(InputFiles.in_folder(SAMPLE),
                          pd.Timestamp("2025-10-01").date(), pd.Timestamp("2025-12-31").date(),
                          options={"team": "North CMHT", "staff": "Nobody Atall"})
    with pytest.raises(EscalationAnalysisError, match="No episodes for team 'North CMHT' and that practitioner"):
        run_review("supervision", inputs, tmp_path / "out", pdf=False)
    assert not (tmp_path / "out").exists()


def test_a_supervision_pack_for_a_team_with_no_episodes_in_the_period_says_when_it_has_them(tmp_path):
    from escalation_analysis.errors import EscalationAnalysisError
    from escalation_analysis.ingest.inputs import InputFiles
    from escalation_analysis.publish.review_runs import ReviewInputs, run_review

    # Coastal Outreach, spelt right: its five episodes fall outside January to March 2025
    inputs = ReviewInputs(InputFiles.in_folder(SAMPLE),
                          pd.Timestamp("2025-01-01").date(), pd.Timestamp("2025-03-31").date(),
                          options={"team": "Coastal Outreach"})
    with pytest.raises(EscalationAnalysisError, match="in this export they run from 23/10/2024 to 13/10/2025"):
        run_review("supervision", inputs, tmp_path / "out", pdf=False)
    assert not (tmp_path / "out").exists()


def test_supervision_summary_describes_the_team_chosen(demo):
    summary = json.loads((demo / "supervision" / "summary.json").read_text())
    assert list(summary["timeliness"]["by_team"]) == ["Riverside CMHT"]


def test_a_leaking_report_in_the_demo_is_not_published_and_the_others_are(tmp_path, monkeypatch):
    """Each report's summary and gate run right after it, in parallel; the gate's own error is raised."""
    import nbformat

    from escalation_analysis.publish.review_runs import run_demo

    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks)
    staff = pd.read_csv(SAMPLE / "incidents.csv", dtype=str, encoding="utf-8-sig")["Reported By"].dropna().iloc[0]
    leaky = notebooks / KINDS["contract-monitoring"].notebook
    nb = nbformat.read(leaky, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(f"Reported by {staff}."))
    nbformat.write(nb, leaky)
    monkeypatch.setenv("ESCALATION_NOTEBOOKS", str(notebooks))
    out = tmp_path / "out"
    with pytest.raises(PrivacyError, match="The external report was not published because its outputs contain a staff") as err:
        run_demo(SAMPLE, out, pdf=False, progress=False)
    assert not (out / "contract-monitoring" / "report.html").exists()
    assert not (out / "contract-monitoring" / "report.ipynb").exists()
    kept = err.value.kept_in  # kept for inspection, readable only by the user, and the message says where
    assert kept.parent == (out / "contract-monitoring").resolve() and str(kept) in str(err.value)
    assert (kept / "report.html").is_file() and (kept / "summary.json").is_file()
    assert kept.stat().st_mode & 0o777 == 0o700 and (kept / "report.html").stat().st_mode & 0o777 == 0o600
    for kind in ("near-miss-review", "supervision", "pathway-review"):
        assert (out / kind / "report.html").is_file()
        summary = json.loads((out / kind / "summary.json").read_text())
        assert summary["report"] == kind and summary["audience"] == KINDS[kind].audience


def test_a_summary_made_ahead_is_taken_once_by_the_finisher_and_only_for_its_own_analysis(sample_quarter):
    # The kernel template makes a report's summary while its kernel runs; the finisher forked from
    # it writes that one, and never one made from another analysis (another period, or data changed).
    import dataclasses

    from escalation_analysis.ingest.inputs import InputFiles
    from escalation_analysis.publish import review_runs

    kind = KINDS["near-miss-review"]
    inputs = review_runs.ReviewInputs(InputFiles.in_folder(Path(__file__).parents[1] / "data" / "sample"),
                                      sample_quarter.start, sample_quarter.end)
    ahead = review_runs._summary(kind, inputs, sample_quarter, {}, ahead=True)
    assert review_runs._summary(kind, inputs, sample_quarter, {}) is ahead
    again = review_runs._summary(kind, inputs, sample_quarter, {})  # taken once: made anew
    assert again is not ahead and again.data == ahead.data
    review_runs._summary(kind, inputs, sample_quarter, {}, ahead=True)
    other = dataclasses.replace(sample_quarter)
    assert review_runs._summary(kind, inputs, other, {}) is not ahead
    assert review_runs._summaries_made_ahead == {}
