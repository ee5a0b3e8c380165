"""Reading a report as its reader does: the tables and words of ``report.html``, the PDF's text.

Known-answer tests look for figures where a reader sees them, not in the objects that made
them: a figure right in ``summary.json`` and wrong on the page is still wrong. Two readers:

* :class:`HtmlReport`: every ``<table>`` by its caption (cells as the page shows them), the
  visible text (scripts and styles left out), and the data of every chart (plotly's
  ``Plotly.newPlot`` arguments), with every string a reader sees or hovers on
  (:func:`chart_texts`) and the counts written in them (:func:`small_counts_in`).
* :class:`PdfReport`: ``pdftotext`` of the PDF, page by page.

Text is compared with white space collapsed (a line break in the PDF is a space to the reader).
"""

from __future__ import annotations

import base64
import html
import json
import re
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np


def words(text: str) -> str:
    """Text with every run of white space (line breaks, non-breaking spaces) as one space."""
    return " ".join(text.replace("\u00a0", " ").split())


@dataclass
class Table:
    """One table as the page shows it: its caption, header and rows of cell text."""

    caption: str
    header: list[str]
    rows: list[list[str]]

    def column(self, name: str) -> list[str]:
        return [row[self.header.index(name)] for row in self.rows]

    def row(self, first_cell: str) -> dict[str, str]:
        """The row whose first cell reads ``first_cell``, as header -> cell."""
        found = [r for r in self.rows if r and r[0] == first_cell]
        assert len(found) == 1, f"{len(found)} rows start with {first_cell!r} in table {self.caption!r}"
        return dict(zip(self.header, found[0], strict=False))

    def as_dicts(self) -> list[dict[str, str]]:
        return [dict(zip(self.header, r, strict=False)) for r in self.rows]


class _Parser(HTMLParser):
    """Collects tables (caption, th/td text) and the visible text of a page."""

    SKIP = frozenset({"script", "style", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tables: list[Table] = []
        self.scripts: list[str] = []
        self._skip = 0
        self._script: list[str] | None = None
        self._stack: list[dict] = []  # open tables (nested tables are read separately)
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self.SKIP:
            self._skip += 1
            if tag == "script":
                self._script = []
            return
        if tag == "table":
            self._stack.append({"caption": "", "header": [], "rows": [], "row": None})
        elif self._stack and tag == "caption":
            self._caption = []
        elif self._stack and tag == "tr":
            self._stack[-1]["row"] = []
        elif self._stack and tag in ("td", "th"):
            self._cell = []
        elif tag in ("br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "figcaption"):
            self.text.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
            if tag == "script" and self._script is not None:
                self.scripts.append("".join(self._script))
                self._script = None
            return
        if not self._stack:
            return
        table = self._stack[-1]
        if tag == "caption" and self._caption is not None:
            table["caption"] = words("".join(self._caption))
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None and table["row"] is not None:
            table["row"].append((tag, words("".join(self._cell))))
            self._cell = None
        elif tag == "tr" and table["row"] is not None:
            cells = table["row"]
            if cells and all(kind == "th" for kind, _ in cells) and not table["header"] and not table["rows"]:
                table["header"] = [text for _, text in cells]
            elif cells:
                table["rows"].append([text for _, text in cells])
            table["row"] = None
        elif tag == "table":
            done = self._stack.pop()
            self.tables.append(Table(done["caption"], done["header"], done["rows"]))

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
        if self._skip:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._caption is not None:
            self._caption.append(data)


@dataclass
class HtmlReport:
    """``report.html`` as a reader sees it."""

    path: Path
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    charts: list[dict] = field(default_factory=list)

    @classmethod
    def read(cls, path: str | Path) -> HtmlReport:
        return cls._parse(Path(path), Path(path).read_text(encoding="utf-8"))

    @classmethod
    def read_notebook(cls, path: str | Path) -> HtmlReport:
        """An executed notebook's outputs (HTML, Markdown and plain text, in order) as one page:
        what a reader of the ``.ipynb`` sees, charts included."""
        cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
        parts = []
        for output in (o for cell in cells for o in cell.get("outputs", [])):
            data = output.get("data", {})
            for kind in ("text/html", "text/markdown", "text/plain"):
                if kind in data:
                    text = "".join(data[kind]) if isinstance(data[kind], list) else str(data[kind])
                    parts.append(text if kind == "text/html" else f"<pre>{html.escape(text)}</pre>")
                    break
            if "text" in output:  # printed text
                parts.append(f"<pre>{html.escape(''.join(output['text']))}</pre>")
        return cls._parse(Path(path), "\n".join(parts))

    @classmethod
    def _parse(cls, path: Path, page: str) -> HtmlReport:
        parser = _Parser()
        parser.feed(page)
        charts = [chart for script in parser.scripts for chart in _plotly_figures(script)]
        return cls(path, words("".join(parser.text)), parser.tables, charts)

    def table(self, caption: str) -> Table:
        """The one table with this caption (exactly, or starting with it)."""
        found = [t for t in self.tables if t.caption == caption] or [
            t for t in self.tables if t.caption.startswith(caption)]
        captions = [t.caption for t in self.tables]
        assert len(found) == 1, f"{len(found)} tables captioned {caption!r}; the page has {captions}"
        return found[0]

    def sentence_with(self, start: str) -> str:
        """The text from ``start`` to the end of its sentence (for a clear assertion message)."""
        at = self.text.find(start)
        assert at >= 0, f"{start!r} is not in the page"
        end = self.text.find(". ", at)
        return self.text[at: end + 1 if end >= 0 else None]

    def chart_texts(self) -> list[str]:
        """Every string of every chart (:func:`chart_texts`), chart after chart."""
        return [text for chart in self.charts for text in chart_texts(chart)]


# -- what a chart says -----------------------------------------------------------------------

COUNT_PATTERNS = (
    re.compile(r"(?<![\d.,])(\d[\d,]*)\s+of\s+(\d[\d,]*)(?![\d.,%])"),  # "1 of 3"
    re.compile(r"\bn\s*=\s*(\d[\d,]*)(?![\d.,%])"),  # "(n = 3)"
    re.compile(r"(?<![\d.,])(\d[\d,]*)\s+(?:episodes?|contacts?|responses?|actions?|checks?|people|staff)\b"),
)
"""How a chart writes a count of people or episodes: "2 of 3", "n = 3", "3 episodes"."""


def small_counts_in(text: str) -> list[str]:
    """Every count from 1 to 7 written in a piece of chart text (tags and spacing ignored)."""
    text = words(re.sub(r"<[^>]+>", " ", text))
    found = []
    for pattern in COUNT_PATTERNS:
        for match in pattern.finditer(text):
            if any(1 <= int(number.replace(",", "")) <= 7 for number in match.groups()):
                found.append(match.group(0))
    return found


def chart_texts(chart: dict) -> list[str]:
    """Every string a reader of one chart can see or hover on, from its plotly JSON.

    Every string anywhere in the data and layout (names, text, hover text, annotations, titles,
    tick labels, string custom data), plus each point's hover and text templates filled in
    with that point's values (``%{customdata[0]} of %{customdata[1]}`` becomes "2 of 3"), so a
    count held as a number and shown through a template is read as the reader sees it.
    """
    out: list[str] = []

    def walk(value) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            if "bdata" not in value:  # typed arrays are numbers: read through the templates below
                for item in value.values():
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(chart)
    for trace in chart.get("data", []):
        out += _filled_templates(trace)
    return out


def _decoded(value):
    """Plotly's typed arrays ({"dtype", "bdata", "shape"}) as nested lists; anything else as it is."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if value.get("shape"):
            array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
        return array.tolist()
    return value


_TEMPLATE_FIELD = re.compile(r"%\{([a-z]+)(?:\[(\d+)\])?(?::([^}]*))?\}")


def _filled_templates(trace: dict) -> list[str]:
    """A trace's hover and text templates, filled in point by point."""
    templates = [trace[k] for k in ("hovertemplate", "texttemplate") if isinstance(trace.get(k), str)]
    if not any(_TEMPLATE_FIELD.search(t) for t in templates):
        return []
    columns = {k: _decoded(trace.get(k)) for k in ("x", "y", "z", "text", "customdata", "hovertext")}
    points = max((len(v) for v in columns.values() if isinstance(v, list)), default=1)

    def value_of(i: int, field: str, index: str | None, spec: str | None) -> str:
        column = columns.get(field)
        value = column[i] if isinstance(column, list) and i < len(column) else column
        if index is not None and isinstance(value, list):
            value = value[int(index)] if int(index) < len(value) else None
        if isinstance(value, float | int) and spec:
            try:
                return format(value, spec.replace("~", ""))
            except ValueError:
                pass
        return "" if value is None else str(value)

    return [_TEMPLATE_FIELD.sub(lambda m, i=i: value_of(i, *m.groups()), template)
            for template in templates for i in range(points)]


def _plotly_figures(script: str) -> list[dict]:
    """The data and layout of each ``Plotly.newPlot(id, data, layout, config)`` in a script."""
    figures = []
    decoder = json.JSONDecoder()

    def skip(position: int) -> int:  # white space and the commas between arguments
        while position < len(script) and script[position] in " \t\r\n,":
            position += 1
        return position

    for match in re.finditer(r"Plotly\.newPlot\(", script):
        try:
            _, position = decoder.raw_decode(script, skip(match.end()))  # the div's id
            data, position = decoder.raw_decode(script, skip(position))
            layout, _ = decoder.raw_decode(script, skip(position))
        except ValueError:
            continue
        figures.append({"data": data, "layout": layout})
    return figures


@dataclass
class PdfReport:
    """``report.pdf`` as text (``pdftotext``), page by page, white space collapsed."""

    path: Path
    pages: list[str]

    @classmethod
    def read(cls, path: str | Path) -> PdfReport:
        raw = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True,
                             check=True, timeout=120).stdout
        return cls(Path(path), [words(page) for page in raw.split("\f") if page.strip()])

    @property
    def text(self) -> str:
        return " ".join(self.pages)
