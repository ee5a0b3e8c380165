"""Notebook-side display helpers for report notebooks.

Report notebooks call only these functions to put things on the page:

- :func:`setup` once, in the first code cell, to embed plotly.js and set pandas options;
- :func:`show` for a plotly figure;
- :func:`show_table` for a table;
- :func:`markdown` for narrative with values filled in.

Everything they write is plain HTML or Markdown that opens offline: plotly.js is embedded
once, figures are ``text/html`` divs that call it, and no output refers to the network.
Text that comes from data (team names, free-text incident descriptions, ...) is always
escaped, so a value such as ``<script>alert(1)</script>`` is shown as text and never runs;
only :class:`Html` the package wrote itself (the Making Data Count icons) goes in as markup.

Accessibility (WCAG 2.2 AA): every chart is a ``figure`` whose drawing is an image named by
the chart's title and summary, with a one-sentence ``figcaption`` computed from the data and
the numbers in a table behind a ``details`` element (:func:`~escalation_analysis.reviews.charts.text_equivalent`),
so no reader depends on seeing the chart.

Notes
-----
This module never touches ``plotly.io.renderers``. Doing so makes plotly import nbformat and
jsonschema inside the kernel, which costs seconds per report for nothing.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import numbers
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Html",
    "format_value",
    "markdown",
    "markdown_text",
    "section_anchor",
    "setup",
    "show",
    "show_html",
    "show_markdown",
    "show_part",
    "show_table",
    "table_html",
]

#: Height in pixels of a figure that does not set ``layout.height`` itself.
DEFAULT_FIGURE_HEIGHT = 450

#: Shown in a table cell whose value is missing.
MISSING = "–"

def _plotly_config() -> dict[str, Any]:
    from .charts import PLOTLY_CONFIG

    return PLOTLY_CONFIG

# Per-kernel state: whether plotly.js is on the page yet, and a counter for stable figure ids.
_state = {"plotlyjs": False, "figures": 0}

_MD_PUNCTUATION = re.compile(r"([!-+\-./:-@\[-`{-~])")  # ASCII punctuation but ","

# A number written with its unit and direction ("65.5%", "147 min", "−13.6 pp, worse"):
# right-aligned like a number and kept on one line.
_NUMBER_TEXT = re.compile(r"^[+−-]?\d[\d,]*(\.\d+)?\s?(%|pp|min|h)?(, (better|worse))?$")

# An interval or range in a cell ("69–78%", "2.2–19.6", "45 min–2 h"): kept on one line.
_INTERVAL = re.compile(r"^-?[\d.,]+\s?(%|min|h)?–-?[\d.,]+\s?(%|min|h|minutes)?$")

# A mark standing for a figure not shown: "*" (a small count) or a Government Analysis
# Function symbol in brackets ("[c]" withheld, "[x]" not available): aligned like the numbers.
_MARK = re.compile(r"^(\*|\[[a-z]+\])$")


@dataclass(frozen=True)
class Html:
    """Markup the package wrote itself (never data): put into a table cell as it is.

    Not a ``str``, so that pandas keeps it as an object (it would turn a string into its own
    string type) and no text function mistakes it for data.
    """

    markup: str

    def __str__(self) -> str:
        return self.markup


# --------------------------------------------------------------------------------------------
# Setup
# --------------------------------------------------------------------------------------------


def setup(*, force: bool = False) -> None:
    """Prepare a report notebook: embed plotly.js once and set pandas display options.

    Call it in the first code cell of every report notebook, and never remove or hide that
    cell's output: it carries plotly.js, and every chart in the report draws from it.

    Parameters
    ----------
    force : bool, default False
        Embed plotly.js again even if this kernel already did (for example after clearing
        outputs in an interactive session).
    """
    _set_pandas_options()
    if force or not _state["plotlyjs"]:
        _embed_plotlyjs()


def _embed_plotlyjs() -> None:
    from .plotly_bundle import plotlyjs  # plotly's cartesian bundle: a third of the full library

    script = f'<script type="text/javascript" data-escalation="plotlyjs">{plotlyjs()}</script>'
    _publish(script, "plotly.js (needed by the charts in this report)")
    _state["plotlyjs"] = True


def _set_pandas_options() -> None:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        return
    for option, value in (
        ("display.max_columns", 50),
        ("display.max_rows", 100),
        ("display.max_colwidth", 120),
        ("display.width", 120),
        ("display.precision", 2),
        ("display.html.border", 0),
    ):
        pd.set_option(option, value)


def _publish(html_text: str, plain: str) -> None:
    from IPython.display import display

    display({"text/html": html_text, "text/plain": plain}, raw=True)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def show(fig: Any, *, height: int | None = None, caption: str | None = None) -> None:
    """Show a plotly figure as an offline HTML chart.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure or dict
        The figure.
    height : int, optional
        Height in pixels. Defaults to the figure's ``layout.height``, or
        :data:`DEFAULT_FIGURE_HEIGHT`. A fixed height keeps charts whole in the PDF.
    caption : str, optional
        The chart's one-sentence caption (escaped, so it may contain data). Default: the
        summary the chart builder computed from the data
        (:func:`~escalation_analysis.reviews.charts.text_equivalent`).

    Notes
    -----
    plotly.js itself is not included: :func:`setup` puts it on the page once. If ``setup``
    was not called, the first ``show`` embeds it, which still comes before every chart.
    """
    if not _state["plotlyjs"]:
        _embed_plotlyjs()
    layout_height = _layout_value(fig, "height")
    px_height = int(height or layout_height or DEFAULT_FIGURE_HEIGHT)
    _state["figures"] += 1
    div_id = f"ea-figure-{_state['figures']}"
    body = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        config=_plotly_config(),
        default_width="100%",
        default_height=f"{px_height}px",
        div_id=div_id,
    )
    from .charts import text_equivalent

    text = text_equivalent(fig)
    sentence = caption or text.summary
    name = f"{text.title}. {text.summary}" if text.title and not text.summary.startswith(text.title) else text.summary
    number = _state["figures"]
    parts = [
        f'<figure class="ea-figure" aria-labelledby="ea-caption-{number}">',
        f'<div class="ea-chart" role="img" aria-label="{_escape(name)}">{body}</div>',
        f'<figcaption id="ea-caption-{number}">{_escape(sentence)}</figcaption>',
    ]
    if len(text.table):
        label = f"The numbers in this chart: {text.title}" if text.title else "The numbers in this chart"
        parts.append(
            f'<details class="ea-chart-data"><summary>{_escape(label)}</summary>'
            + table_html(text.table, caption=text.title or None, readable=False)
            + "</details>"
        )
    parts.append("</figure>")
    _publish("".join(parts), f"[Chart: {text.title or sentence or div_id}]")


def _layout_value(fig: Any, key: str) -> Any:
    layout = fig.get("layout", {}) if isinstance(fig, Mapping) else getattr(fig, "layout", None)
    if layout is None:
        return None
    try:
        return layout[key]
    except (KeyError, TypeError, ValueError):
        return None


def _layout_title(fig: Any) -> str | None:
    title = _layout_value(fig, "title")
    if title is None:
        return None
    text = title.get("text") if isinstance(title, Mapping) else getattr(title, "text", title)
    return str(text) if text else None


# --------------------------------------------------------------------------------------------
# Formatting values the UK way
# --------------------------------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        return False
    try:
        return bool(pd.isna(value)) if not isinstance(value, (str, bytes)) else False
    except (TypeError, ValueError):
        return False


def format_value(value: Any, *, decimals: int = 1, long_dates: bool = False) -> str:
    """Format one value for a UK reader (unescaped).

    Integers get thousands separators (``12,345``), floats ``decimals`` places
    (``1,234.5``), booleans ``Yes``/``No``, dates ``1 Apr 2025`` (``1 April 2025`` with
    ``long_dates``), date-times ``1 Apr 2025 14:05``. Missing values give :data:`MISSING`.

    Examples
    --------
    >>> format_value(1234567)
    '1,234,567'
    >>> format_value(0.5, decimals=2)
    '0.50'
    >>> format_value(_dt.date(2025, 4, 1))
    '1 Apr 2025'
    """
    if isinstance(value, str):
        return value
    if _is_missing(value):
        return MISSING
    if isinstance(value, bool) or (
        type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")
    ):
        return "Yes" if value else "No"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isinf(number):
            return "∞" if number > 0 else "-∞"
        text = f"{number:,.{decimals}f}"
        return (
            text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text
        )
    if isinstance(value, _dt.datetime):
        day = f"{value.day} {value:{'%B' if long_dates else '%b'} %Y}"
        if (value.hour, value.minute, value.second) == (0, 0, 0):
            return day
        return f"{day} {value:%H:%M}"
    if isinstance(value, _dt.date):
        return f"{value.day} {value:{'%B' if long_dates else '%b'} %Y}"
    return str(value)


def _escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def table_html(
    df: Any,
    *,
    caption: str | None = None,
    index: bool = False,
    decimals: int | Mapping[str, int] = 1,
    percent: Iterable[str] = (),
    max_rows: int | None = None,
    readable: bool = True,
) -> str:
    """Return a DataFrame as an HTML table with every value escaped.

    Parameters
    ----------
    df : pandas.DataFrame
        The table. Column names, index values, cells and the caption are all HTML-escaped.
    caption : str, optional
        Table caption.
    index : bool, default False
        Include the index as the first column(s).
    decimals : int or mapping of column name to int, default 1
        Decimal places for float columns. A float column whose values are all whole
        numbers (counts with gaps) is shown without decimals.
    percent : iterable of str
        Columns holding percentages (``85.3`` for 85.3%): a ``%`` sign is added.
    max_rows : int, optional
        Show at most this many rows, with a note saying how many there are.
    readable : bool, default True
        Show plain-English column names and values (:mod:`escalation_analysis.reviews.labels`):
        ``ooh_sub_band`` becomes "When", ``weekday_evening_night`` "weekday evening or
        night". Columns ending in ``_pct`` get a % sign.

    Returns
    -------
    str
        ``<div class="ea-table-wrap"><table class="ea-table">...</table></div>``.
    """
    import pandas as pd

    from .labels import VALUES, VALUES_BY_COLUMN, column_label

    frame = df.to_frame() if isinstance(df, pd.Series) else df
    if index:
        frame = frame.reset_index()
    percent_cols = {str(c) for c in percent}
    if readable:
        percent_cols |= {str(c) for c in frame.columns if str(c).endswith(("_pct", "(%)"))}
        frame = frame.copy()
        for column in frame.columns:
            series = frame[column]
            has_markup = series.dtype == object and any(isinstance(v, Html) for v in series)
            if has_markup:  # icons: markup the package wrote, kept as it is
                continue
            if series.dtype == object or isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(series):
                words = {**VALUES, **VALUES_BY_COLUMN.get(_column_name(column), {})}
                frame[column] = _in_words(series.astype(object), words)
        frame = _one_interval_column(frame)
    total_rows = len(frame)
    if max_rows is not None and total_rows > max_rows:
        frame = frame.head(max_rows)

    columns = list(frame.columns)
    keys = [_column_name(c) for c in columns]
    names = [column_label(c) if readable else k for c, k in zip(columns, keys, strict=False)]
    numeric = [_looks_numeric(frame[c]) for c in columns]
    places = []
    for column, key in zip(columns, keys, strict=False):
        d = decimals.get(key, 1) if isinstance(decimals, Mapping) else decimals
        if key not in percent_cols and _whole_numbers(frame[column]):
            d = 0
        places.append(d)

    wide = " ea-wide" if _is_wide(frame) else ""
    out = [f'<div class="ea-table-wrap{wide}"><table class="ea-table">']
    if caption:
        out.append(f"<caption>{_escape(caption)}</caption>")
    out.append("<thead><tr>")
    for name, is_num in zip(names, numeric, strict=False):
        # a long header over a column of numbers (a period with its dates) wraps to a few lines
        classes = (["num"] if is_num else []) + (["ea-long-head"] if is_num and len(name) > LONG_HEADER else [])
        cls = f' class="{" ".join(classes)}"' if classes else ""
        out.append(f'<th scope="col"{cls}>{_escape(name)}</th>')
    out.append("</tr></thead><tbody>")
    if total_rows == 0:
        out.append(f'<tr><td colspan="{max(len(columns), 1)}">No rows to show.</td></tr>')
    for row in frame.itertuples(index=False, name=None):
        out.append("<tr>")
        for value, key, is_num, d in zip(row, keys, numeric, places, strict=False):
            if isinstance(value, Html):
                out.append(f'<td class="ea-html">{value.markup}</td>')
                continue
            text = format_value(value, decimals=d)
            if key in percent_cols and text != MISSING and not isinstance(value, str):
                text += "%"
            keep_whole = (_INTERVAL.match(text) or _NUMBER_TEXT.match(text) or isinstance(value, _dt.date)
                          or len(text) <= SHORT_CELL)
            classes = ((["num"] if is_num else []) + (["nowrap"] if keep_whole else [])
                       + (["ea-prose"] if len(text) > PROSE_CELL else []))
            cls = f' class="{" ".join(classes)}"' if classes else ""
            out.append(f"<td{cls}>{_escape(text)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    if len(frame) < total_rows:
        out.append(
            f'<p class="ea-table-note">Showing the first {len(frame):,} of {total_rows:,} rows.</p>'
        )
    out.append("</div>")
    return "".join(out)


def _in_words(values: Any, words: Mapping[str, str]) -> Any:
    """An object column with each text found in ``words`` replaced by its words.

    What ``values.replace(words)`` gives (no value is replaced twice), looked up once per value:
    pandas' ``replace`` compares the whole column with every one of the words in turn.
    """
    import pandas as pd

    if not any(isinstance(v, str) and v in words for v in values):
        return values
    return pd.Series([words.get(v, v) if isinstance(v, str) else v for v in values],
                     index=values.index, name=values.name, dtype=object)


def _one_interval_column(frame: Any) -> Any:
    """An interval's two ends (``ci95_low_pct``, ``ci95_high_pct``) as one "95% CI" column
    reading ``69–78%``, where the lower end was: one style for intervals in every table."""
    from .labels import interval_text

    if not {"ci95_low_pct", "ci95_high_pct"} <= {str(c) for c in frame.columns}:
        return frame
    low, high = frame["ci95_low_pct"], frame["ci95_high_pct"]
    text = [interval_text(a, b) if _is_number(a) and _is_number(b) else MISSING for a, b in zip(low, high, strict=True)]
    at = list(frame.columns).index("ci95_low_pct")
    out = frame.drop(columns=["ci95_low_pct", "ci95_high_pct"])
    out.insert(at, "95% CI", text)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not _is_missing(value)


SHORT_CELL = 12
"""Characters up to which a cell ("Near miss", "No harm", a date) is never broken over two lines."""

PROSE_CELL = 60
"""Characters over which a cell is prose (a description, a question): its column keeps room to read."""

LONG_HEADER = 24
"""Characters over which a number column's header is given room for about 15 characters a line."""

WIDE_COLUMNS = 9
"""Tables with this many columns, or 7 and a long text column, print on a landscape page."""


def _is_wide(frame: Any) -> bool:
    """Whether a table needs a landscape page to print without cramped columns."""
    columns = len(frame.columns)
    if columns >= WIDE_COLUMNS:
        return True
    if columns < 7 or frame.empty:
        return False
    text = frame.select_dtypes(exclude="number")
    text = text[[c for c in text.columns if not any(isinstance(v, Html) for v in text[c])]]  # icons: narrow
    return bool(len(text.columns)) and int(text.astype("str").apply(lambda c: c.str.len().max()).max()) > 60


def _whole_numbers(series: Any) -> bool:
    """Whether every number in a column is whole (counts with gaps, minutes of a target), also
    when marks such as "*" share the column: such a column prints without decimals."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return False
    if pd.api.types.is_float_dtype(series):
        values = series.dropna()
    elif series.dtype == object:
        values = pd.Series([v for v in series if _is_number(v)], dtype="float64")
    else:
        return False
    return bool(len(values)) and bool(((values % 1) == 0).all())


def _looks_numeric(series: Any) -> bool:
    """Numbers (right-aligned), including intervals and columns holding "*" or "[c]" marks."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return False
    if pd.api.types.is_numeric_dtype(series):
        return True
    if series.dtype != object and not pd.api.types.is_string_dtype(series):
        return False
    values = series.dropna()
    return bool(len(values)) and all(
        (isinstance(v, numbers.Number) and not isinstance(v, bool))
        or (isinstance(v, str) and (v in (MISSING, "no change") or any(
            pattern.match(v) for pattern in (_MARK, _NUMBER_TEXT, _INTERVAL))))
        for v in values
    )


def _column_name(column: Any) -> str:
    if isinstance(column, tuple):
        return " ".join(str(part) for part in column if str(part))
    return str(column)


def show_html(markup: Html, plain: str = "") -> None:
    """Show markup the package wrote (the front sheet), as it is: never text from data."""
    if not isinstance(markup, Html):
        raise TypeError("show_html takes the package's own markup (display.Html), not text.")
    _publish(markup.markup, plain or "[HTML]")


def section_anchor(section: str) -> None:
    """Mark where a review's section starts, so the front sheet's findings can link to it."""
    from .front_sheet import section_id

    _publish(f'<span class="ea-anchor" id="{_escape(section_id(section))}"></span>', "")


def show_table(df: Any, caption: str | None = None, **options: Any) -> None:
    """Show a DataFrame as an escaped, UK-formatted HTML table: :func:`table_html` with the same
    keywords (``index``, ``decimals``, ``percent``, ``max_rows``, ``readable``)."""
    body = table_html(df, caption=caption, **options)
    label = f"Table: {caption}" if caption else "Table"
    _publish(body, f"[{label}, {len(df):,} rows]")


def show_part(part: Any) -> None:
    """Show one part of a review (:mod:`escalation_analysis.reviews.review`): text, table, chart or markup.

    An empty table is replaced by its one-sentence ``if_empty`` when it has one, so a report
    on partial data says what is missing instead of showing an empty grid.
    """
    from .review import Chart, Table, Text

    if isinstance(part, Html):  # the front sheet: markup the package wrote
        show_html(part, "[Front sheet]")
    elif isinstance(part, Text):
        show_markdown(part.markdown)
    elif isinstance(part, Table):
        if len(part.frame) == 0 and part.if_empty:
            show_markdown(markdown_text("{sentence}", sentence=part.if_empty))
        else:
            show_table(part.frame, part.caption, percent=part.percent, max_rows=part.max_rows)
    elif isinstance(part, Chart):
        show(part.figure(), caption=part.caption or None)
    else:
        raise TypeError(f"A review part is text, a table, a chart or markup, not {type(part).__name__}.")


# --------------------------------------------------------------------------------------------
# Narrative
# --------------------------------------------------------------------------------------------


def _escape_markdown(text: str) -> str:
    """Make text literal in Markdown: one line, every ASCII punctuation backslash-escaped.

    CommonMark renders a backslash-escaped character as itself (and HTML-escapes it), so a
    value cannot start a tag, a link, emphasis, a heading or maths.
    """
    one_line = " ".join(str(text).split())
    return _MD_PUNCTUATION.sub(r"\\\1", one_line)


class _ValueFormatter(string.Formatter):
    def __init__(self, escape: bool) -> None:
        self._escape = escape

    def format_field(self, value: Any, format_spec: str) -> str:
        text = format(value, format_spec) if format_spec else format_value(value, long_dates=True)
        return _escape_markdown(text) if self._escape else " ".join(text.split())


def markdown_text(template: str, /, **values: Any) -> str:
    r"""Fill ``{name}`` fields in a Markdown template with escaped, UK-formatted values.

    The template is trusted Markdown written by the report author. Each value is formatted
    (``{n}`` gives ``1,234``; ``{rate:.1f}`` uses the format spec) and then escaped so that
    it shows as literal text, whatever characters it holds. Do not put fields inside code
    spans (backticks), where escapes are shown as typed. Write ``{{`` for a literal brace.

    Examples
    --------
    >>> markdown_text("**{n}** incidents at {team}", n=1234, team="<b>A_E</b>")
    '**1,234** incidents at \\<b\\>A\\_E\\<\\/b\\>'
    """
    return _ValueFormatter(escape=True).vformat(template, (), values)


def markdown(template: str, /, **values: Any) -> None:
    """Show narrative Markdown with values filled in safely (see :func:`markdown_text`)."""
    from IPython.display import display

    text = markdown_text(template, **values)
    plain = _ValueFormatter(escape=False).vformat(template, (), values)
    display({"text/markdown": text, "text/plain": plain}, raw=True)


def show_markdown(text: str) -> None:
    """Show Markdown that is already safe, i.e. built by :func:`markdown_text`.

    Use it for sentences the package writes (``escalation_analysis.reviews.narrative``): their values
    are escaped already, so they are shown as they are, without filling in fields again.
    """
    from IPython.display import display

    display({"text/markdown": text, "text/plain": text}, raw=True)
