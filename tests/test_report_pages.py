"""The four demo reports as their readers get them: in a browser, to a screen reader, on paper.

Facts readers rely on: Chromium's accessibility tree names every chart and every figure, and
the page has a skip link and landmarks; the PDF is tagged, with a title, a language and each
chart's text equivalent in its structure; every page says "Page N of M" under a running
header; no count is printed with a decimal point.
"""

from __future__ import annotations

import binascii
import json
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from escalation_analysis.publish.pdf_printing import BrowserError, _KeptBrowser, find_browser
from escalation_analysis.publish.review_runs import KINDS

pytestmark = pytest.mark.slow


def _browser() -> str | None:
    try:
        return find_browser()
    except BrowserError:
        return None


needs_browser = pytest.mark.skipif(_browser() is None, reason="no Chromium-family browser installed")
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")


# --------------------------------------------------------------------------------------------
# Chromium's accessibility tree, over the DevTools protocol (a pipe: no port, no network)


def accessibility_tree(browser: _KeptBrowser, page: Path) -> list[dict]:
    """Open ``page`` in a new tab of the package's own DevTools pipe client and read the tree."""
    deadline = time.monotonic() + 120

    def call(method: str, params: dict | None = None, session: str | None = None) -> dict:
        return browser._call(method, params, deadline, session)

    target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    call("Page.enable", session=session)
    call("Page.navigate", {"url": page.as_uri()}, session=session)
    # wait until plotly has drawn every chart, as a reader's browser would
    expected = page.read_text(encoding="utf-8").count('class="ea-chart"')
    script = "document.querySelectorAll('.ea-chart .js-plotly-plot').length"
    while time.monotonic() < deadline:
        drawn = call("Runtime.evaluate", {"expression": script, "returnByValue": True},
                     session=session)["result"].get("value", 0)
        if drawn >= expected:
            break
        time.sleep(0.2)
    call("Accessibility.enable", session=session)
    nodes = call("Accessibility.getFullAXTree", session=session)["nodes"]
    call("Target.closeTarget", {"targetId": target})
    browser._events.clear()  # the page's events, not needed
    return nodes


@pytest.fixture(scope="module")
def devtools():
    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium-family browser installed")
    tools = _KeptBrowser(browser)
    yield tools
    tools.close()


def _value(node: dict, key: str) -> str:
    return str((node.get(key) or {}).get("value", ""))


class _Charts(HTMLParser):
    """The charts in a report's HTML: the accessible name each one is given."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if "ea-chart" in (found.get("class") or "").split():
            self.names.append(found.get("aria-label") or "")


@needs_browser
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_chart_and_figure_has_an_accessible_name_in_chromium(demo, devtools, kind):
    page = demo / kind / "report.html"
    parser = _Charts()
    parser.feed(page.read_text(encoding="utf-8"))
    assert parser.names, f"{kind} has no charts"
    nodes = [n for n in accessibility_tree(devtools, page) if not n.get("ignored")]
    images = [n for n in nodes if _value(n, "role") == "image"]
    figures = [n for n in nodes if _value(n, "role") == "figure"]
    named_images = {_value(n, "name") for n in images}
    for name in parser.names:  # each chart is an image the browser names with its summary
        assert name and name in named_images, f"{kind}: chart not named in the tree: {name[:60]}"
    assert len(figures) >= len(parser.names)
    assert all(_value(n, "name").strip() for n in figures + images), f"{kind}: an unnamed figure or image"


@needs_browser
@pytest.mark.parametrize("kind", ["contract-monitoring", "near-miss-review"])
def test_the_page_has_a_skip_link_and_landmarks(demo, devtools, kind):
    nodes = [n for n in accessibility_tree(devtools, demo / kind / "report.html") if not n.get("ignored")]
    roles = {_value(n, "role") for n in nodes}
    assert {"banner", "main", "contentinfo"} <= roles
    links = [_value(n, "name") for n in nodes if _value(n, "role") == "link"]
    assert links and links[0] == "Skip to main content"


# --------------------------------------------------------------------------------------------
# The PDF


def _pdf_text(pdf: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(["pdftotext", "-layout", *pages, str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def _pdf_info(pdf: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def _alt_texts(pdf: Path) -> list[str]:
    """The /Alt entries of the PDF's structure (Chromium writes them uncompressed)."""
    data = pdf.read_bytes()
    texts = [m.decode("latin-1").replace("\\(", "(").replace("\\)", ")")
             for m in re.findall(rb"/Alt\s*\(((?:\\.|[^\\)])*)\)", data)]
    texts += [binascii.unhexlify(h).decode("utf-16") for h in re.findall(rb"/Alt\s*<([0-9A-Fa-f]+)>", data)]
    return texts


@needs_browser
@needs_poppler
@pytest.mark.parametrize("kind", list(KINDS))
def test_the_pdf_is_tagged_titled_in_english_and_carries_each_charts_text(demo, kind):
    pdf = demo / kind / "report.pdf"
    info = _pdf_info(pdf)
    assert info["Tagged"] == "yes"
    assert info["Title"] == KINDS[kind].title
    assert b"/Lang (en-GB)" in pdf.read_bytes()
    parser = _Charts()
    parser.feed((demo / kind / "report.html").read_text(encoding="utf-8"))
    alts = _alt_texts(pdf)
    for name in parser.names:
        title = name.split(":")[0]
        assert any(alt.startswith(title) for alt in alts), f"{kind}: no text for the chart '{title}' in the PDF"


@needs_browser
@needs_poppler
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_page_is_numbered_n_of_m_under_a_running_header(demo, kind):
    pdf = demo / kind / "report.pdf"
    pages = int(_pdf_info(pdf)["Pages"])
    for number in range(1, pages + 1):
        text = _pdf_text(pdf, number)
        assert f"Page {number} of {pages}" in text, f"{kind} page {number} has no page number"
        assert text.lstrip().startswith(KINDS[kind].title), f"{kind} page {number} has no running header"


# --------------------------------------------------------------------------------------------
# Page 1


TRUTH = json.loads((Path(__file__).resolve().parents[1] / "data" / "sample" / "truth.json").read_text())


@needs_browser
@needs_poppler
@pytest.mark.parametrize("kind", list(KINDS))
def test_page_1_of_each_pdf_leads_with_the_planted_effects(demo, kind):
    """The deteriorating team and the month it began, the out-of-hours ratio with its interval,
    the lone-working barrier, and the Making Data Count table, all on the first page."""
    text = " ".join(_pdf_text(demo / kind / "report.pdf", 1).split())
    assert TRUTH["deteriorating_team"] in text and "special cause of concern since October 2025" in text
    assert re.search(r"the median delay to escalate was \d\.\d times that in hours \(.+?; 95% CI \d\.\d–\d\.\d\)", text)
    assert TRUTH["lone_only_barrier"].lower() in text.lower()
    assert "Making Data Count summary" in text and "Page 1 of" in text
    marking = "OFFICIAL-SENSITIVE" if KINDS[kind].audience == "internal" else "OFFICIAL"
    assert re.search(rf"\b{marking}\b(?!-)", text)


# --------------------------------------------------------------------------------------------
# Numbers

COUNT_HEADERS = {
    "Episodes", "Within target", "Not within target", "No escalation recorded", "Contacts",
    "Responses recorded", "Passed", "Episodes checked", "Late or missed", "Number", "Near misses",
    "Incidents", "Late near misses", "Escalated episodes", "Late", "Episodes in group",
}


class _Tables(HTMLParser):
    """Every table's header row and body cells, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[list[str], list[list[str]]]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append(([], []))
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            head, body = self.tables[-1]
            if self._in_head:
                head.extend(self._row)
            else:
                body.append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.mark.parametrize("kind", list(KINDS))
def test_no_count_is_printed_with_a_decimal_point(demo, kind):
    parser = _Tables()
    parser.feed((demo / kind / "report.html").read_text(encoding="utf-8"))
    checked = 0
    for head, body in parser.tables:
        for index, column in enumerate(head):
            if column not in COUNT_HEADERS:
                continue
            for row in body:
                if index < len(row):
                    checked += 1
                    assert not re.search(r"\d\.\d", row[index]), f"{kind}: {column} = {row[index]!r}"
    assert checked
