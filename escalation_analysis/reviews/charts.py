"""Plotly figures for the review reports: they draw the package's frames and compute nothing.

Every builder takes a frame (or result object) that another module already produced and
returns a :class:`plotly.graph_objects.Figure` in one house style (:data:`TEMPLATE`):

=========================  ====================================================================
builder                    draws
=========================  ====================================================================
:func:`spc_chart`          a Making Data Count XmR or p-chart (:mod:`~escalation_analysis.measures.spc`)
:func:`control_chart`      a qicharts2 run or control chart (:mod:`~escalation_analysis.measures.control_charts`)
:func:`funnel_plot`        teams on a funnel plot (:mod:`~escalation_analysis.measures.funnels`)
:func:`delay_distribution` delays to escalate per group, log minutes, with the targets
:func:`km_curves`          Kaplan-Meier share escalated over time (``statistics.kaplan_meier``)
:func:`late_heatmap`       weekday × hour of late escalations (``near_miss.late_heatmap``)
:func:`barrier_cooccurrence` barriers met together (``near_miss.barrier_cooccurrence``)
:func:`compliance_by_group`  within-target % with Wilson intervals (``compliance_table``),
                           suppressed tables included
:func:`bar_counts`         one bar per category, e.g. barriers, themes, agency response times
:func:`trend_line`         a value over periods, e.g. the near-miss ratio by quarter
=========================  ====================================================================

Style, for A4 print and offline HTML: Arial/Helvetica at 12-17 px, white background, light
grid, NHS colours (NHS Blue ``#005EB8`` first), then the Okabe-Ito colour-blind-safe hues,
darkened where needed so that every mark has at least 3:1 contrast with the white page (WCAG
2.2 non-text contrast); the MDC point colours (common cause grey, concern orange, improvement
blue, neutral purple, :mod:`~escalation_analysis.reviews.icons`) always come with a marker
shape, and groups with a line style, so meaning survives greyscale print and never rests on
colour alone. Figures set their height and leave the width to the page (about 650-700 px on
A4). Dates read the UK way ("Apr 2025").

Every builder also writes the chart's text equivalent into ``layout.meta``: a one-sentence
summary computed from the data and the numbers drawn, as a table. :func:`text_equivalent`
reads them back; :func:`~escalation_analysis.reviews.display.show` puts the sentence in the
``figcaption`` and the table behind a ``details`` element.
Text taken from data (team names, barriers) is HTML-escaped before plotly sees it, so a value
such as ``<b>`` is shown literally. Nothing here touches ``plotly.io.renderers`` (see
``display.py``); show figures with :func:`escalation_analysis.reviews.display.show`, or pass
:data:`PLOTLY_CONFIG` to ``to_html`` (it hides the plotly logo and toolbar).
"""

from __future__ import annotations

import html
import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.basedatatypes import BaseFigure

from ..measures.timeliness import financial_quarter
from .disclosure.policy import NHS_ROUNDED, PROTECTED_MARK, SMALL_MARK
from .icons import ASSURANCE, COLOURS, VARIATION
from .labels import VALUES, interval_text

__all__ = [
    "MDC_COLOURS",
    "NHS_BLUE",
    "NHS_DARK_BLUE",
    "NHS_GREY",
    "PLOTLY_CONFIG",
    "QUALITATIVE",
    "SEQUENTIAL",
    "TEMPLATE",
    "ChartText",
    "bar_counts",
    "barrier_cooccurrence",
    "compliance_by_group",
    "control_chart",
    "delay_distribution",
    "funnel_plot",
    "group_shares",
    "km_curves",
    "late_heatmap",
    "spc_chart",
    "text_equivalent",
    "trend_line",
]

# --------------------------------------------------------------------------------------------
# Style
# --------------------------------------------------------------------------------------------

NHS_BLUE = "#005EB8"
NHS_DARK_BLUE = "#003087"
NHS_GREY = "#425563"
NHS_MID_GREY = "#768692"
NHS_PALE_GREY = "#E8EDEE"
NHS_TEXT = "#212B32"
TARGET_RED = "#DA291C"  # NHS Red: target lines, always dashed and labelled

FONT_FAMILY = "Arial, Helvetica, sans-serif"

MDC_COLOURS: dict[str, str] = {
    "common_cause": COLOURS["common_cause"],
    "special_cause_concern": COLOURS["concern"],
    "special_cause_improvement": COLOURS["improvement"],
    "special_cause_neutral_high": COLOURS["neutral"],
    "special_cause_neutral_low": COLOURS["neutral"],
}
"""Making Data Count point colours: the icons' colours, each at least 3:1 on white (the
NHSRplotthedots light blue and orange are about 2.4:1)."""

QUALITATIVE: tuple[str, ...] = (
    NHS_BLUE,
    "#B35400",  # Okabe-Ito orange, darkened to 5.0:1
    "#007A5E",  # bluish green, darkened to 5.3:1
    "#D55E00",  # vermillion, 3.9:1
    "#AA4499",  # reddish purple, darkened to 5.3:1
    "#000000",  # black
    NHS_GREY,
)
"""Colours for groups: NHS Blue, then Okabe-Ito hues (safe for colour-blind readers), each at
least 3:1 on white; groups also differ by line style or marker."""

SEQUENTIAL: list[list[Any]] = [
    [0.0, "#F7FBFF"],
    [0.125, "#DEEBF7"],
    [0.25, "#C6DBEF"],
    [0.375, "#9ECAE1"],
    [0.5, "#6BAED6"],
    [0.625, "#4292C6"],
    [0.75, "#2171B5"],
    [0.875, "#08519C"],
    [1.0, "#08306B"],
]
"""ColorBrewer "Blues": one hue, lightness only, so it reads for colour-blind readers and in
greyscale print."""

PLOTLY_CONFIG: dict[str, Any] = {"displaylogo": False, "displayModeBar": False, "responsive": True}
"""Config for ``fig.to_html``/``fig.show``: no plotly logo and no toolbar (its icons are
unnamed images to a screen reader, and a report's reader needs the numbers, which the chart's
table gives, rather than zoom), resize with the page."""

_AXIS = {
    "showgrid": True,
    "gridcolor": NHS_PALE_GREY,
    "gridwidth": 1,
    "zeroline": False,
    "showline": True,
    "linecolor": NHS_MID_GREY,
    "linewidth": 1,
    "ticks": "outside",
    "tickcolor": NHS_MID_GREY,
    "ticklen": 4,
    "tickfont": {"size": 12, "color": NHS_TEXT},
    "title": {"font": {"size": 13, "color": NHS_TEXT}, "standoff": 8},
    "automargin": True,
    # plotly.js otherwise measures every tick label against the chart's edges, each time it
    # draws an axis, to hide any that would cross them: a tenth of its drawing time, in the
    # browser and in every PDF. The reports' labels fit (automargin and the margins make room);
    # one that did not would be cut at the edge rather than left out.
    "ticklabeloverflow": "allow",
}

TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": FONT_FAMILY, "size": 13, "color": NHS_TEXT},
        "title": {"font": {"family": FONT_FAMILY, "size": 17, "color": NHS_TEXT}},
        "paper_bgcolor": "#FFFFFF",
        "plot_bgcolor": "#FFFFFF",
        "colorway": list(QUALITATIVE),
        "separators": ".,",
        "xaxis": {**_AXIS, "automargin": False},
        "yaxis": _AXIS,
        "legend": {
            "font": {"size": 12},
            "bgcolor": "rgba(255,255,255,0)",
            "orientation": "h",
            "itemclick": "toggle",
        },
        "hoverlabel": {"font": {"family": FONT_FAMILY, "size": 13}, "align": "left"},
        "hovermode": "closest",
        "annotationdefaults": {"font": {"size": 12, "color": NHS_TEXT}},
        "colorscale": {"sequential": SEQUENTIAL},
        "margin": {"l": 72, "r": 28, "t": 80, "b": 64},
    }
)
"""The house layout: apply with ``fig.update_layout(template=TEMPLATE)``."""

# --------------------------------------------------------------------------------------------
# Small helpers: labels, numbers, dates, layout
# --------------------------------------------------------------------------------------------

SMALL_THRESHOLD = NHS_ROUNDED.threshold
"""Counts from 1 to this are shown as ``*`` (both disclosure policies use 7)."""
SMALL_GROUP_LABEL = f"fewer than {SMALL_THRESHOLD + 1} episodes"
"""Shown instead of a bar for a group whose size is the small mark ``*`` (1 to 7)."""
WITHHELD_LABEL = "withheld to protect a small number"
"""Shown instead of a bar or value withheld as ``[c]``, or whose rate rests on a withheld count
(never "small numbers": the group itself may be large)."""

_MARKS = (SMALL_MARK, PROTECTED_MARK)

_KNOWN_LABELS: dict[str, str] = VALUES
"""Canonical values in readers' words: the same words as the tables (:data:`labels.VALUES`)."""

_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def _esc(text: Any) -> str:
    """Escape text for plotly, which reads a subset of HTML and decodes entities."""
    return html.escape(str(text), quote=False)


def _label(value: Any, labels: Mapping[Any, str] | None = None) -> str:
    """A readable, escaped label: ``labels`` first, then known codes, then snake_case words."""
    if labels is not None and value in labels:
        return _esc(labels[value])
    if _is_missing(value):
        return "Not recorded"
    text = str(value)
    if text in _KNOWN_LABELS:
        return _KNOWN_LABELS[text]
    if _SNAKE.match(text):
        text = text.replace("_", " ")
        text = text[0].upper() + text[1:]
    return _esc(text)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _is_suppressed(value: Any) -> bool:
    """A disclosure mark: ``*`` (a count of 1 to 7) or ``[c]`` (withheld to protect one)."""
    return isinstance(value, str) and value.strip() in _MARKS


def _numbers(values: Iterable[Any]) -> np.ndarray:
    """Floats, with NaN for missing values and suppression markers."""
    return pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(float)


_EXACT = 2**53  # integers up to this size are floats exactly


def _plain_number(value: Any) -> bool:
    """A float, or an integer small enough to be one exactly (never a bool): what pandas'
    ``to_numeric`` reads as itself, so one value needs no Series."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, float):  # numpy's float64 too
        return True
    return isinstance(value, (int, np.integer)) and -_EXACT < value < _EXACT


def _number(value: Any) -> np.float64:
    """``_numbers([value])[0]``: one value as a float, NaN for missing values and marks."""
    if _plain_number(value):
        return np.float64(value)
    return _numbers([value])[0]


def _fmt_number(value: float, decimals: int = 1, suffix: str = "") -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:,.{decimals}f}{suffix}"


def _episodes(count: Any) -> str:
    """'12 episodes', '1 episode', '* episodes': a chart's count of episodes, as the page writes it."""
    return f"{_fmt_count(count)} episode{'' if _number(count) == 1 else 's'}"


def _of_episodes(part: Any, whole: Any) -> str:
    """'3 of 12 episodes', '0 of 1 episode'."""
    return f"{_fmt_count(part)} of {_episodes(whole)}"


def _fmt_count(value: Any) -> str:
    if _plain_number(value):  # as below, without a Series
        return "–" if value != value else f"{value:,.0f}"
    if _is_suppressed(value):
        return value.strip()
    number = pd.to_numeric(pd.Series([value], dtype=object), errors="coerce").iloc[0]
    if pd.isna(number):
        return "–"
    return f"{number:,.0f}"


def _fmt_value(value: Any) -> str:
    """A count as ``1,234``, another number with one decimal place, ``*`` kept."""
    number = _number(value)
    if np.isfinite(number) and not float(number).is_integer():
        return _fmt_number(number)
    return _fmt_count(value)


def _fmt_minutes(minutes: float) -> str:
    """``45 min``, ``1 h``, ``1 h 30 min``, ``1 day``, ``36 h``."""
    if minutes is None or not np.isfinite(minutes):
        return "–"
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    if minutes < 60:
        return f"{minutes:.0f} min"
    days, rest = divmod(minutes, 1440)
    if minutes >= 1440 and abs(rest) < 0.5:
        return f"{days:.0f} day" + ("s" if days != 1 else "")
    hours, mins = divmod(round(minutes), 60)
    return f"{hours} h" + (f" {mins} min" if mins else "")


_MINUTE_TICKS = (1, 5, 15, 30, 60, 120, 240, 480, 1440, 2880, 10080, 20160, 43200, 129600)


def _minute_axis(lo: float, hi: float) -> dict[str, Any]:
    """Log-axis ticks in readable times between ``lo`` and ``hi`` minutes."""
    ticks = [t for t in _MINUTE_TICKS if lo / 1.5 <= t <= hi * 1.5] or [lo, hi]
    return {
        "type": "log",
        "tickvals": ticks,
        "ticktext": [_fmt_minutes(t) for t in ticks],
        "range": [math.log10(max(lo, 0.5) / 1.3), math.log10(hi * 1.3)],
    }


_MONTH_TEXT = re.compile(r"^\d{4}-\d{2}$")
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}([ T].*)?$")


def _periods(values: Any) -> tuple[pd.Series, str | None]:
    """Plot-ready x values and the UK date format to show them in (None: not dates).

    ``2025-04`` month labels (``prepare_episodes``' ``month``), ISO date strings, pandas
    periods and datetimes (time zone dropped, wall clock kept) become dates shown as
    ``Apr 2025`` (all on the first of a month) or ``3 Apr 2025``; anything else (e.g. the
    quarter label ``2025/26 Q1``) is returned unchanged and drawn as categories.
    """
    series = pd.Series(values).reset_index(drop=True)
    dates: pd.Series | None = None
    if isinstance(series.dtype, pd.PeriodDtype):
        dates = series.dt.to_timestamp()
    elif pd.api.types.is_datetime64_any_dtype(series):
        dates = series.dt.tz_localize(None) if series.dt.tz is not None else series
    elif len(series) and series.map(lambda v: isinstance(v, str)).all():
        if series.str.match(_MONTH_TEXT).all():
            dates = pd.to_datetime(series, format="%Y-%m")
        elif series.str.match(_DATE_TEXT).all():
            parsed = pd.to_datetime(series, errors="coerce", format="ISO8601")
            dates = parsed if parsed.notna().all() else None
            if dates is not None and dates.dt.tz is not None:
                dates = dates.dt.tz_localize(None)
    elif len(series) and series.map(lambda v: hasattr(v, "year") and hasattr(v, "month")).all():
        dates = pd.to_datetime(series)
    if dates is None:
        return series, None
    monthly = bool((dates.dt.day == 1).all() and (dates.dt.normalize() == dates).all())
    return dates, ("%b %Y" if monthly else "%d %b %Y")


def _fmt_period(value: Any, date_format: str | None) -> str:
    if date_format is not None and not _is_missing(value):
        return pd.Timestamp(value).strftime(date_format).lstrip("0")
    return _esc(value)


def _x_axis_for(date_format: str | None, n_points: int) -> dict[str, Any]:
    if date_format is None:
        return {"type": "category"}
    axis: dict[str, Any] = {"type": "date", "tickformat": date_format, "hoverformat": date_format}
    if date_format == "%b %Y":
        # months on two lines ("Apr" over "2025") so that a year of months fits A4 width
        axis["tickformat"] = "%b<br>%Y"
        if n_points <= 13:
            axis["dtick"] = "M1"
        elif n_points <= 26:
            axis["dtick"] = "M2"
        elif n_points <= 40:
            axis["dtick"] = "M3"
    return axis


def _x_title(date_format: str | None, otherwise: str = "Period") -> str:
    """The x-axis title for periods of this format: "Month", "Date", else ``otherwise``."""
    return {"%b %Y": "Month", "%d %b %Y": "Date"}.get(date_format or "", otherwise)


def _padded_range(values: Iterable[Any]) -> tuple[float, float]:
    """A y range holding every finite value with 8% to spare (room to label the lines)."""
    pool = np.concatenate([np.asarray(v, dtype=float).ravel() for v in values])
    pool = pool[np.isfinite(pool)]
    lo, hi = float(pool.min()), float(pool.max())
    pad = (hi - lo) * 0.08 or max(abs(hi) * 0.1, 1.0)
    return lo - pad, hi + pad


def _rgba(hex_colour: str, alpha: float) -> str:
    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _wrap(text: str, width: int) -> str:
    """Wrap escaped text onto ``<br>``-separated lines."""
    return "<br>".join(textwrap.wrap(text, width=width, break_long_words=False)) or text


PAGE_WIDTH = 680
"""Width in pixels the layout is planned for: an A4 page's printable width at 96 dpi, less a
little. Wider screens only give the plot more room."""

_CHAR_PX = 6.4  # a slightly generous average width of a 12 px Arial character


def _text_px(text: str, size: int = 12) -> float:
    """Estimated width in pixels of (possibly tagged) text: the widest ``<br>`` line."""
    plain = re.sub(r"<[^>]+>", "", str(text).replace("<br>", "\n"))
    plain = html.unescape(plain)
    return max((len(line) for line in plain.split("\n")), default=0) * _CHAR_PX * size / 12


def _left_for(labels: Iterable[str]) -> int:
    """Left margin that fits category labels (plotly's automargin may still add to it)."""
    widest = max((_text_px(label) for label in labels), default=0)
    return int(max(72, 22 + widest))


def _legend_rows(fig: go.Figure, width: float) -> int:
    """Rows a horizontal legend needs at ``width`` pixels.

    When a legend wraps, plotly lines its entries up in columns as wide as the widest entry,
    so the rows follow from that width, not from each entry's own.
    """
    entries = []
    for trace in fig.data:
        if trace.showlegend is False or not trace.name:
            continue
        if trace.legendgroup and any(
            t is not trace and t.legendgroup == trace.legendgroup and t.showlegend is not False
            and fig.data.index(t) < fig.data.index(trace) for t in fig.data
        ):
            continue
        entries.append(46 + _text_px(trace.name))
    if not entries:
        return 0
    if sum(entries) <= width:
        return 1
    per_row = max(1, int(width // max(entries)))
    return -(-len(entries) // per_row)


def _finish(
    fig: go.Figure,
    *,
    title: str,
    subtitle: str | None = None,
    height: int,
    legend: bool = False,
    notes: Sequence[str] = (),
    badges: Sequence[tuple[str, str]] = (),
    bottom_axis: int = 56,
    right: int = 28,
    left: int = 72,
) -> go.Figure:
    """Apply the template and lay out title, badges, legend and notes in fixed pixels.

    The figure height is fixed (the page sets the width), so everything outside the plot area
    is placed in pixels: title and subtitle at the top, then any badges; under the x axis the
    legend (when asked for), then the notes, both from the figure's left edge.
    """
    note_lines = [line for note in notes for line in textwrap.wrap(note, width=100)]
    # long titles wrap rather than run off an A4 page (17 px bold: about 60 characters)
    title_lines = textwrap.wrap(_esc(title), width=60, break_long_words=False) or [""]
    subtitle_lines = textwrap.wrap(_esc(subtitle or ""), width=95, break_long_words=False)
    top = 12 + 24 * len(title_lines) + 20 * len(subtitle_lines) + (38 if badges else 12)
    rows = _legend_rows(fig, PAGE_WIDTH - 24) if legend else 0
    legend_px = 24 * rows + 8 if rows else 0
    notes_px = 17 * len(note_lines) + (6 if note_lines else 0)
    bottom = bottom_axis + legend_px + notes_px + 8
    height = max(int(height), top + bottom + 180)
    plot_h = height - top - bottom
    title_spec: dict[str, Any] = {
        "text": "<b>" + "<br>".join(title_lines) + "</b>",
        "x": 0,
        "xref": "container",
        "xanchor": "left",
        "pad": {"l": 12},
        "y": 1 - 12 / height,
        "yref": "container",
        "yanchor": "top",
    }
    if subtitle_lines:
        title_spec["subtitle"] = {"text": "<br>".join(subtitle_lines),
                                  "font": {"size": 13, "color": NHS_GREY}}
    _house_template(fig)
    _update_layout(fig,
        title=title_spec,
        height=height,
        margin={"t": top, "b": bottom, "l": left, "r": right, "autoexpand": True},
        showlegend=bool(rows),
        legend={
            "x": 10 / PAGE_WIDTH,
            "xref": "container",
            "xanchor": "left",
            "y": (notes_px + legend_px + 6) / height,
            "yref": "container",
            "yanchor": "top",
            "traceorder": "normal",
        },
    )
    offset = 0.0
    for text, colour in badges:
        body = f'<span style="color:{colour}">●</span> {text}'
        fig.add_annotation(
            text=body,
            xref="paper",
            yref="paper",
            x=0,
            xanchor="left",
            xshift=offset,
            y=1 + 12 / plot_h,
            yanchor="bottom",
            showarrow=False,
            bgcolor="#FFFFFF",
            bordercolor=colour,
            borderwidth=2,
            borderpad=4,
            font={"size": 12, "color": NHS_TEXT},
            name="badge",
        )
        offset += _text_px(body) + 26
    if note_lines:
        fig.add_annotation(
            text="<br>".join(_esc(line) for line in note_lines),
            xref="paper",
            yref="paper",
            x=0,
            xanchor="left",
            xshift=-(left - 12),
            y=-(bottom_axis + legend_px) / plot_h,
            yanchor="top",
            align="left",
            showarrow=False,
            font={"size": 12, "color": NHS_GREY},
            name="note",
        )
    return fig


def _house_template(fig: go.Figure) -> None:
    """``fig.update_layout(template=TEMPLATE)`` without validating :data:`TEMPLATE` again.

    plotly checks every property of a template it is given (2-4 ms a chart, a sixth of drawing
    one); :data:`TEMPLATE` was checked when it was made, so it goes in as plotly puts in its
    default template, with the layout's validation off for that one assignment. The figure is
    the same (tests/test_charts.py compares it with the validated assignment).
    """
    layout = fig.layout
    layout._validate = False
    try:
        layout.template = TEMPLATE
    finally:
        layout._validate = fig._validate


def _update(fig: go.Figure, part: Any, spec: Mapping[str, Any]) -> None:
    """``part.update(**spec)`` for the layout of ``fig`` or a part of it (an axis), less the
    checks plotly makes again when it applies its own edits.

    plotly validates each value as it is set, holds the edits back (a "batch"), and at the
    end of the batch checks each edit's path again, writes it into the layout, and tells the
    figure's listeners (a plain figure has none), which together cost twice the setting. Here
    the edits are written with the same function (``BaseFigure._set_in``) in the same order,
    so the layout, and the order of its keys, are plotly's own (tests/test_charts.py compares).
    """
    fig._in_batch_mode = True  # as plotly's batch_update: values are validated and held back
    try:
        BaseFigure._perform_update(part, dict(spec))
    finally:  # (as there, the edits made before a value fails are written too)
        fig._in_batch_mode = False
        edits = dict(fig._batch_layout_edits)
        fig._batch_layout_edits.clear()
        for path, value in edits.items():
            BaseFigure._set_in(fig._layout, path, value)


def _update_layout(fig: go.Figure, **spec: Any) -> go.Figure:
    """``fig.update_layout(**spec)`` (see :func:`_update`)."""
    _update(fig, fig.layout, spec)
    return fig


def _update_xaxes(fig: go.Figure, **spec: Any) -> go.Figure:
    """``fig.update_xaxes(**spec)`` (see :func:`_update`)."""
    for axis in fig.select_xaxes():
        _update(fig, axis, spec)
    return fig


def _update_yaxes(fig: go.Figure, **spec: Any) -> go.Figure:
    """``fig.update_yaxes(**spec)`` (see :func:`_update`)."""
    for axis in fig.select_yaxes():
        _update(fig, axis, spec)
    return fig


def _line_labels(fig: go.Figure, labels: list[tuple[float, str, str]], x: Any, y_range: tuple[float, float]) -> None:
    """Label horizontal lines at the right-hand end, nudged apart so that none overlap; a line
    that is missing or outside the y range gets no label."""
    labels = [item for item in labels if np.isfinite(item[0]) and y_range[0] <= item[0] <= y_range[1]]
    plot_h = _plot_height(fig)
    lo, hi = y_range
    span = (hi - lo) or 1.0
    placed = sorted(
        ((value - lo) / span * plot_h, value, text, colour) for value, text, colour in labels
    )
    positions = [p[0] for p in placed]
    for i in range(1, len(positions)):
        positions[i] = max(positions[i], positions[i - 1] + 15)
    overflow = positions[-1] - plot_h if positions else 0
    if overflow > 0:  # pushed off the top: shift the stack down
        positions = [p - overflow for p in positions]
    for (pixel, value, text, colour), new_pixel in zip(placed, positions, strict=False):
        fig.add_annotation(
            x=x,
            y=value,
            xref="x",
            yref="y",
            text=text,
            xanchor="left",
            yanchor="middle",
            xshift=8,
            yshift=new_pixel - pixel,
            showarrow=False,
            font={"size": 12, "color": colour},
            name="line label",
        )


def _plot_height(fig: go.Figure) -> float:
    margin = fig.layout.margin
    return float(fig.layout.height - margin.t - margin.b)


# --------------------------------------------------------------------------------------------
# Text equivalents: a sentence and the numbers, for the caption and the accessible table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartText:
    """A chart's text equivalent: its title, a one-sentence summary and the numbers drawn."""

    title: str
    summary: str
    table: pd.DataFrame


def _plain(text: Any) -> str:
    """Reader text from plotly markup: tags dropped, entities decoded (display escapes it again)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", str(text).replace("<br>", " "))).strip().replace("  ", " ")


def _describe(fig: go.Figure, summary: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> go.Figure:
    """Store the text equivalent in ``layout.meta`` (it survives copies of the figure)."""
    meta = dict(fig.layout.meta) if isinstance(fig.layout.meta, Mapping) else {}
    meta["ea_text"] = {
        "summary": " ".join(_plain(summary).split()),
        "columns": [_plain(c) for c in columns],
        "rows": [[_plain(v) for v in row] for row in rows],
    }
    _update_layout(fig, meta=meta)
    return fig


def text_equivalent(fig: Any) -> ChartText:
    """The chart's title, one-sentence summary and numbers (plain text, not escaped).

    Figures from this module carry them; for any other figure the sentence is its title and
    the table lists each trace's points.
    """
    layout = fig.get("layout", {}) if isinstance(fig, Mapping) else fig.layout
    meta = layout.get("meta") if isinstance(layout, Mapping) else layout.meta
    title = layout.get("title") if isinstance(layout, Mapping) else layout.title
    title_text = title.get("text") if isinstance(title, Mapping) else getattr(title, "text", title)
    title_plain = _plain(title_text or "")
    found = meta.get("ea_text") if isinstance(meta, Mapping) else None
    if found:
        return ChartText(title_plain, found["summary"],
                         pd.DataFrame(found["rows"], columns=found["columns"]))
    rows = []
    data = fig.get("data", []) if isinstance(fig, Mapping) else fig.data
    for trace in data:
        get = trace.get if isinstance(trace, Mapping) else lambda k, t=trace: getattr(t, k, None)
        xs, ys = get("x"), get("y")
        if xs is None or ys is None:
            continue
        rows += [[_plain(get("name") or ""), _plain(x), _plain(y)] for x, y in zip(xs, ys, strict=False)]
    summary = f"{title_plain}." if title_plain else "A chart."
    return ChartText(title_plain, summary, pd.DataFrame(rows, columns=["Series", "x", "y"]))


def _list_words(items: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _last_run(flags: np.ndarray) -> tuple[int, int] | None:
    """First and last position of the last unbroken run of true flags (None if none)."""
    where = np.flatnonzero(flags)
    if not len(where):
        return None
    end = first = int(where[-1])
    while first > 0 and flags[first - 1]:
        first -= 1
    return first, end


# --------------------------------------------------------------------------------------------
# Changes to the pathway, marked on every chart over time
# --------------------------------------------------------------------------------------------

CHANGE_COLOUR = NHS_DARK_BLUE


def _change_list(changes: Iterable[Any] | None) -> list[tuple[Any, str]]:
    """(when, words) from the pathway's ``changes`` or from (date, text) pairs, in order.

    A pair may instead give a point's position on an axis of points in order (a whole number)
    with its words already written, e.g. ``(41, "01/09/2025: New on-call rota")``.
    """
    out: list[tuple[Any, str]] = []
    for change in changes or []:
        when, text = (change.date, change.text) if hasattr(change, "date") else change
        if isinstance(when, (int, np.integer)) and not isinstance(when, bool):
            out.append((int(when), str(text)))
        else:
            stamp = pd.Timestamp(when)
            out.append((stamp, f"{stamp:%d/%m/%Y}: {text}"))
    return out


def _mark_changes(fig: go.Figure, changes: Iterable[Any] | None, xs: pd.Series,
                  date_format: str | None) -> list[str]:
    """A dotted line and a label at each change that falls within the chart's periods.

    Dated axes mark the day itself; an axis of NHS quarters (``2025/26 Q3``) marks the quarter
    the change falls in; an axis of points in order marks the position given. Returns the words
    of each change marked (for the chart's text equivalent).
    """
    marked: list[str] = []
    found = _change_list(changes)
    if not found or len(xs) == 0:
        return marked
    values = list(pd.Series(xs))
    for when, words in found:
        if isinstance(when, int):
            x, along = (when, values.index(when) / max(len(values) - 1, 1)) if when in values else (None, 0.0)
        elif date_format is None:
            label = str(financial_quarter(pd.Series([when])).iloc[0])
            labels = [str(v) for v in values]
            x, along = (label, labels.index(label) / max(len(labels) - 1, 1)) if label in labels else (None, 0.0)
        else:
            first, last = pd.Timestamp(min(values)), pd.Timestamp(max(values))
            last += pd.offsets.MonthEnd(0) if date_format == "%b %Y" else pd.Timedelta(0)
            x = when if first <= when <= last else None
            along = (when - first) / ((last - first) or pd.Timedelta(days=1))
        if x is not None:
            marked.append(_draw_change(fig, x, words, along, len(marked)))
    return marked


def _draw_change(fig: go.Figure, x: Any, words: str, along: float, index: int) -> str:
    """One change: a dotted line at x and its label, on the side of the line with room."""
    right_half = along > 0.5
    fig.add_shape(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1,
                  line={"color": CHANGE_COLOUR, "width": 1.5, "dash": "dot"}, name="change")
    fig.add_annotation(
        x=x, xref="x", y=1 - 0.07 * (index % 4), yref="paper", yanchor="top",
        xanchor="right" if right_half else "left", xshift=-3 if right_half else 3,
        showarrow=False, align="right" if right_half else "left", name="change",
        text=_esc(words), font={"size": 11, "color": CHANGE_COLOUR}, bgcolor="rgba(255,255,255,0.85)",
    )
    return words


def _with_changes(fig: go.Figure, marked: list[str]) -> go.Figure:
    """Add the changes marked to the chart's one-sentence text equivalent."""
    if not marked:
        return fig
    meta = dict(fig.layout.meta)
    text = dict(meta["ea_text"])
    changes = "; ".join(marked)
    text["summary"] = text["summary"].rstrip(".") + f"; pathway change{'s' if len(marked) > 1 else ''} marked: {changes}."
    meta["ea_text"] = text
    _update_layout(fig, meta=meta)
    return fig


# --------------------------------------------------------------------------------------------
# 1. SPC (Making Data Count)
# --------------------------------------------------------------------------------------------

_POINT_STYLE: dict[str, tuple[str, str, int]] = {
    # point type: (legend label, marker symbol, size)
    "special_cause_concern": ("Special cause: concern", "diamond", 12),
    "special_cause_improvement": ("Special cause: improvement", "square", 11),
    "special_cause_neutral_high": ("Special cause: neutral (high)", "triangle-up", 12),
    "special_cause_neutral_low": ("Special cause: neutral (low)", "triangle-down", 12),
}

_POINT_TEXT = {
    "common_cause": "Common cause variation",
    "special_cause_concern": "Special cause: concern",
    "special_cause_improvement": "Special cause: improvement",
    "special_cause_neutral_high": "Special cause: higher (neither better nor worse)",
    "special_cause_neutral_low": "Special cause: lower (neither better nor worse)",
}

VARIATION_BADGES: dict[str, tuple[str, str]] = {
    code: (f"Variation: {icon.label.lower()}", icon.colour) for code, icon in VARIATION.items()
}
"""Text badges for the MDC variation icons, in the words of the summary table's icons."""

ASSURANCE_BADGES: dict[str, tuple[str, str]] = {
    code: (f"Assurance: {icon.label.lower()}", icon.colour) for code, icon in ASSURANCE.items()
}
"""Text badges for the MDC assurance icons, in the words of the summary table's icons."""

def _short_series_note(threshold: int) -> str:
    return (
        f"Fewer than {threshold} points: these are trial limits, which will change as more "
        "points are added."
    )


def _groups_with_gaps(x: pd.Series, values: np.ndarray, groups: np.ndarray) -> tuple[list, list]:
    """x and y lists with a gap (None) between rebase periods."""
    xs: list = []
    ys: list = []
    for i in range(len(values)):
        if i and groups[i] != groups[i - 1]:
            xs.append(None)
            ys.append(None)
        xs.append(x.iloc[i])
        ys.append(None if not np.isfinite(values[i]) else float(values[i]))
    return xs, ys


def spc_chart(
    result: Any,
    title: str,
    y_title: str,
    target: float | None = None,
    percent: bool = False,
    *,
    x_title: str | None = None,
    subtitle: str | None = None,
    height: int = 460,
    changes: Iterable[Any] | None = None,
) -> go.Figure:
    """Draw a Making Data Count XmR chart or p-chart.

    Parameters
    ----------
    result : escalation_analysis.measures.spc.SPCResult
        From :func:`~escalation_analysis.measures.spc.xmr` or
        :func:`~escalation_analysis.measures.spc.p_chart`: ``points`` (``x``, ``y``, ``mean``,
        ``lpl``, ``upl``, ``rebase_group``, ``point_type``, ``target``; ``numerator`` and
        ``denominator`` on p-charts), ``variation_icon``, ``assurance_icon``, ``warnings``
        and ``chart``.
    title, y_title : str
        Chart title and y-axis title (plain English with units, e.g. "Escalated within
        target (%)").
    target : float, optional
        Target line, in the chart's units (a proportion on a p-chart; a value above 1 there
        is read as a percentage). Default: the target the chart was computed with, if any.
    percent : bool, default False
        Show values with a % sign. p-charts always do: their proportions are drawn as
        percentages (0.8 is drawn as 80%); XmR values are drawn as they are.
    x_title : str, optional
        Default "Month" for monthly dates, "Date" for other dates, else "Period".
    subtitle : str, optional
        One line under the title.
    height : int, default 460
        Pixels.
    changes : iterable, optional
        Changes to the pathway (``Pathway.changes``, or (date, text) pairs): each one within
        the chart's periods is marked with a dotted line and its date and text.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces ``Data`` (the line, grey circles), one trace per special-cause point type
        present (``Special cause: concern`` orange diamonds, ``Special cause: improvement``
        blue squares, neutral purple triangles), ``Mean``, ``Upper process limit``, ``Lower
        process limit`` (dashed, with a gap between rebase periods) and ``Target`` (red,
        dashed) when there is one. The lines are labelled at their right-hand end; the
        variation and assurance icons are text badges above the plot; warnings (e.g. the
        short-series warning) are notes under it.
    """
    points = result.points
    if points.empty:
        raise ValueError("The SPC result has no points to draw.")
    is_p = getattr(result, "chart", "xmr") == "p"
    scale = 100.0 if is_p else 1.0
    suffix = "%" if (percent or is_p) else ""
    x, date_format = _periods(points["x"])
    groups = points["rebase_group"].to_numpy() if "rebase_group" in points else np.zeros(len(x))
    y = points["y"].to_numpy(float) * scale
    mean = points["mean"].to_numpy(float) * scale
    upl = points["upl"].to_numpy(float) * scale
    lpl = points["lpl"].to_numpy(float) * scale
    if target is None and "target" in points and points["target"].notna().any():
        target = float(points["target"].dropna().iloc[0])
    target_value = None
    if target is not None and np.isfinite(target):
        target_value = float(target) * (scale if not (is_p and target > 1) else 1.0)
    integers = bool(np.all(np.mod(y[np.isfinite(y)], 1) == 0)) and not suffix
    value_decimals = 0 if integers else 1

    hover = []
    point_types = points["point_type"].astype(str).to_numpy()
    for i in range(len(points)):
        lines = [
            f"<b>{_fmt_period(x.iloc[i], date_format)}</b>",
            f"Value: {_fmt_number(y[i], value_decimals, suffix)}",
        ]
        if is_p and "denominator" in points:
            lines.append(
                f"{_fmt_count(points['numerator'].iloc[i])} of "
                f"{_fmt_count(points['denominator'].iloc[i])}"
            )
        lines.append(
            f"Mean {_fmt_number(mean[i], 1, suffix)}; limits {_fmt_number(lpl[i], 1, suffix)}"
            f" to {_fmt_number(upl[i], 1, suffix)}"
        )
        lines.append(_POINT_TEXT.get(point_types[i], point_types[i]))
        hover.append("<br>".join(lines))

    fig = go.Figure()
    step = "hvh" if is_p else "linear"
    mx, my = _groups_with_gaps(x, mean, groups)
    fig.add_scatter(
        x=mx, y=my, name="Mean", mode="lines", line={"color": NHS_GREY, "width": 1.5},
        hoverinfo="skip", showlegend=False,
    )
    for name, values in (("Upper process limit", upl), ("Lower process limit", lpl)):
        lx, ly = _groups_with_gaps(x, values, groups)
        fig.add_scatter(
            x=lx, y=ly, name=name, mode="lines", showlegend=False,
            line={"color": MDC_COLOURS["common_cause"], "width": 1.5, "dash": "dash",
                  "shape": step},
            hoverinfo="skip",
        )
    if target_value is not None:
        fig.add_scatter(
            x=[x.iloc[0], x.iloc[-1]], y=[target_value, target_value], name="Target",
            mode="lines", line={"color": TARGET_RED, "width": 2, "dash": "dot"},
            hoverinfo="skip", showlegend=False,
        )
    fig.add_scatter(
        x=x, y=y, name="Data", mode="lines+markers",
        line={"color": MDC_COLOURS["common_cause"], "width": 2},
        marker={"color": MDC_COLOURS["common_cause"], "size": 7, "symbol": "circle"},
        hovertext=hover, hoverinfo="text",
    )
    present = [t for t in _POINT_STYLE if (point_types == t).any()]
    for point_type in present:
        label, symbol, size = _POINT_STYLE[point_type]
        mask = point_types == point_type
        fig.add_scatter(
            x=x[mask], y=y[mask], name=label, mode="markers",
            marker={"color": MDC_COLOURS[point_type], "symbol": symbol, "size": size,
                    "line": {"color": "#FFFFFF", "width": 1}},
            hovertext=[h for h, m in zip(hover, mask, strict=False) if m], hoverinfo="text",
        )

    # explicit y range, so that the line labels can be placed without overlapping
    y_range = _padded_range([y, mean, upl, lpl] + ([[target_value]] if target_value is not None else []))
    if is_p:
        y_range = (max(y_range[0], -2.0), min(y_range[1], 102.0))

    badges = []
    if getattr(result, "variation_icon", None) in VARIATION_BADGES:
        badges.append(VARIATION_BADGES[result.variation_icon])
    if getattr(result, "assurance_icon", None) in ASSURANCE_BADGES:
        badges.append(ASSURANCE_BADGES[result.assurance_icon])
    notes = []
    short = bool(points.get("short_group_warning", pd.Series(False)).any())
    for warning in getattr(result, "warnings", []) or []:
        if "trial limits" in warning:
            short = True
        else:
            notes.append(warning)
    if short:
        notes.insert(0, _short_series_note(getattr(result, "short_group_threshold", 13)))
    if x_title is None:
        x_title = _x_title(date_format)

    _finish(
        fig, title=title, subtitle=subtitle, height=height, legend=bool(present), notes=notes,
        badges=badges, right=118, bottom_axis=64 if date_format == "%b %Y" else 56,
    )
    _update_xaxes(fig, title_text=_esc(x_title), **_x_axis_for(date_format, len(x)))
    if date_format is not None:
        half = pd.Timedelta(days=16 if date_format == "%b %Y" else 1)
        _update_xaxes(fig, range=[x.iloc[0] - half, x.iloc[-1] + half])
    _update_yaxes(fig, title_text=_esc(y_title), range=list(y_range), ticksuffix=suffix)
    last = len(x) - 1
    labels = [
        (mean[last], f"Mean {_fmt_number(mean[last], 1, suffix)}", NHS_GREY),
        (upl[last], f"Upper limit {_fmt_number(upl[last], 1, suffix)}", NHS_GREY),
        (lpl[last], f"Lower limit {_fmt_number(lpl[last], 1, suffix)}", NHS_GREY),
    ]
    if target_value is not None:
        labels.append((target_value, f"Target {_fmt_number(target_value, 1, suffix)}",
                       TARGET_RED))
    _line_labels(fig, labels, x.iloc[last], y_range)
    marked = _mark_changes(fig, changes, x, date_format)
    return _with_changes(_describe_spc(fig, result, title, y_title, x_title, x, date_format, y, mean, lpl,
                                       upl, point_types, suffix, value_decimals, target_value), marked)


def _describe_spc(fig: go.Figure, result: Any, title: str, y_title: str, x_title: str, x: pd.Series,
                  date_format: str | None, y: np.ndarray, mean: np.ndarray, lpl: np.ndarray,
                  upl: np.ndarray, point_types: np.ndarray, suffix: str, decimals: int,
                  target: float | None) -> go.Figure:
    """An SPC chart in words: the latest point against the mean and limits, special causes, icons."""
    points = result.points
    is_p = getattr(result, "chart", "xmr") == "p"
    periods = [_plain(_fmt_period(v, date_format)) for v in x]
    columns = [x_title, y_title] + (["Number"] if is_p else []) + ["Mean", "Lower limit", "Upper limit", "Reading"]
    rows = []
    for i in range(len(points)):
        row = [periods[i], _fmt_number(y[i], decimals, suffix)]
        if is_p:
            row.append(f"{_fmt_count(points['numerator'].iloc[i])} of {_fmt_count(points['denominator'].iloc[i])}")
        row += [_fmt_number(mean[i], 1, suffix), _fmt_number(lpl[i], 1, suffix), _fmt_number(upl[i], 1, suffix),
                _POINT_TEXT.get(point_types[i], point_types[i])]
        rows.append(row)
    last = len(points) - 1
    unit = f" {y_title.lower()}" if not suffix and len(y_title.split()) == 1 else ""
    sentence = (f"{_plain(title)}: {_fmt_number(y[last], decimals, suffix)}{unit} in {periods[last]}, against a mean "
                f"of {_fmt_number(mean[last], 1, suffix)} (process limits {_fmt_number(lpl[last], 1, suffix)} "
                f"to {_fmt_number(upl[last], 1, suffix)})")
    for kind, words in (("special_cause_concern", "special cause of concern"),
                        ("special_cause_improvement", "special cause of improvement")):
        run = _last_run(point_types == kind)
        if run is not None:
            first, end = run
            when = f"in {periods[end]}" if first == end else f"from {periods[first]} to {periods[end]}"
            sentence += f"; {words} {when}"
    if target is not None and getattr(result, "assurance_icon", None) in ASSURANCE:
        verdict = {"consistent_pass": "is consistently met", "consistent_fail": "is consistently missed",
                   "inconsistent": "is hit and miss"}[result.assurance_icon]
        sentence += f"; the target of {_fmt_number(target, 0 if float(target).is_integer() else 1, suffix)} {verdict}"
    return _describe(fig, sentence + ".", columns, rows)


def control_chart(
    result: Any,
    title: str,
    y_title: str,
    *,
    percent: bool = False,
    decimals: int = 1,
    x_title: str | None = None,
    subtitle: str | None = None,
    height: int = 460,
    changes: Iterable[Any] | None = None,
) -> go.Figure:
    """Draw a qicharts2-style run chart or control chart.

    Parameters
    ----------
    result : escalation_analysis.measures.control_charts.ControlChart
        From a :mod:`~escalation_analysis.measures.control_charts` function: ``points``
        (``x``, ``y``, ``cl``, ``lcl``, ``ucl``, ``rebase_group``, ``sigma_signal``,
        ``runs_signal`` and the runs analysis), ``chart`` and ``warnings``.
    title, y_title : str
        Chart title and y-axis title with units (e.g. "Days between episodes").
    percent : bool, default False
        Values are proportions: draw them as percentages.
    decimals : int, default 1
        Decimals in the hover text and line labels.
    x_title, subtitle, height, changes
        As for :func:`spc_chart`.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces ``Data`` (grey line and circles), ``Beyond a limit`` (orange diamonds, only
        when a point is beyond a 3-sigma limit), ``Centre line`` (grey; orange and dashed in a
        period where Anhøj's rules find non-random variation, as qicharts2 draws it) and, on
        control charts, ``Upper limit`` and ``Lower limit``. Each period's runs analysis is a
        note under the plot.
    """
    points = result.points
    if points.empty:
        raise ValueError("The chart has no points to draw.")
    scale = 100.0 if percent else 1.0
    suffix = "%" if percent else ""
    x, date_format = _periods(points["x"])
    in_order = date_format is None and pd.api.types.is_integer_dtype(x)
    groups = points["rebase_group"].to_numpy()
    y = points["y"].to_numpy(float) * scale
    cl = points["cl"].to_numpy(float) * scale
    ucl = points["ucl"].to_numpy(float) * scale
    lcl = points["lcl"].to_numpy(float) * scale
    sigma = points["sigma_signal"].to_numpy(bool)
    runs = points["runs_signal"].to_numpy(bool)
    has_limits = bool(np.isfinite(ucl).any())
    hover = [
        "<br>".join(
            [f"<b>{_fmt_period(x.iloc[i], date_format)}</b>",
             f"Value: {_fmt_number(y[i], decimals, suffix)}",
             f"Centre line {_fmt_number(cl[i], decimals, suffix)}"
             + (f"; limits {_fmt_number(lcl[i], decimals, suffix)} to "
                f"{_fmt_number(ucl[i], decimals, suffix)}" if has_limits else "")]
            + (["Beyond a limit: special cause"] if sigma[i] else [])
            + (["Non-random variation in this period (runs)"] if runs[i] else [])
        )
        for i in range(len(points))
    ]
    fig = go.Figure()
    for signal in (False, True):
        centre = np.where(runs == signal, cl, np.nan)
        if np.isfinite(centre).any():
            cx, cy = _groups_with_gaps(x, centre, groups)
            fig.add_scatter(
                x=cx, y=cy, name="Centre line", mode="lines", showlegend=False, hoverinfo="skip",
                line={"color": MDC_COLOURS["special_cause_concern"] if signal else NHS_GREY,
                      "width": 2 if signal else 1.5, "dash": "dash" if signal else "solid"},
            )
    if has_limits:
        for name, values in (("Upper limit", ucl), ("Lower limit", lcl)):
            lx, ly = _groups_with_gaps(x, values, groups)
            fig.add_scatter(
                x=lx, y=ly, name=name, mode="lines", showlegend=False, hoverinfo="skip",
                line={"color": MDC_COLOURS["common_cause"], "width": 1.5, "dash": "dash",
                      "shape": "hvh" if np.unique(ucl[np.isfinite(ucl)]).size > 2 else "linear"},
            )
    fig.add_scatter(
        x=x, y=y, name="Data", mode="lines+markers", hovertext=hover, hoverinfo="text",
        line={"color": MDC_COLOURS["common_cause"], "width": 2},
        marker={"color": MDC_COLOURS["common_cause"], "size": 7, "symbol": "circle"},
    )
    if sigma.any():
        fig.add_scatter(
            x=x[sigma], y=y[sigma], name="Beyond a limit", mode="markers",
            hovertext=[h for h, s in zip(hover, sigma, strict=True) if s], hoverinfo="text",
            marker={"color": MDC_COLOURS["special_cause_concern"], "symbol": "diamond",
                    "size": 12, "line": {"color": "#FFFFFF", "width": 1}},
        )
    notes = []
    summary = result.summary()
    several = len(summary) > 1
    for _, period in summary.iterrows():
        if not np.isfinite(period["n_useful"]) or period["n_useful"] == 0:
            continue
        where = f"Period {int(period['rebase_group']) + 1}: " if several else ""
        verdict = ("non-random variation (Anhøj's rules)" if period["runs_signal"]
                   else "no sign of non-random variation (Anhøj's rules)")
        notes.append(
            f"{where}longest run {int(period['longest_run'])} points (limit "
            f"{int(period['longest_run_max'])}); {int(period['n_crossings'])} crossings "
            f"(at least {int(period['n_crossings_min'])} expected): {verdict}."
        )
    notes.extend(getattr(result, "warnings", []) or [])
    if x_title is None:
        x_title = _x_title(date_format)
    _finish(fig, title=title, subtitle=subtitle, height=height, legend=bool(sigma.any()),
            notes=notes, right=118, bottom_axis=64 if date_format == "%b %Y" else 56)
    _update_xaxes(fig, title_text=_esc(x_title), **({"type": "linear"} if in_order else _x_axis_for(date_format, len(x))))
    y_range = _padded_range([y, cl, ucl, lcl])
    _update_yaxes(fig, title_text=_esc(y_title), range=list(y_range), ticksuffix=suffix)
    last = len(x) - 1
    labels = [(cl[last], f"Centre {_fmt_number(cl[last], decimals, suffix)}", NHS_GREY)]
    if has_limits:
        labels += [(ucl[last], f"Upper limit {_fmt_number(ucl[last], decimals, suffix)}", NHS_GREY),
                   (lcl[last], f"Lower limit {_fmt_number(lcl[last], decimals, suffix)}", NHS_GREY)]
    _line_labels(fig, labels, x.iloc[last], y_range)
    periods = [_plain(_fmt_period(v, date_format)) for v in x]
    columns = [x_title, y_title, "Centre line"] + (["Lower limit", "Upper limit"] if has_limits else []) + ["Reading"]
    rows = [
        [periods[i], _fmt_number(y[i], decimals, suffix), _fmt_number(cl[i], decimals, suffix)]
        + ([_fmt_number(lcl[i], decimals, suffix), _fmt_number(ucl[i], decimals, suffix)] if has_limits else [])
        + ["beyond a limit" if sigma[i] else ("non-random variation (runs)" if runs[i] else "common cause")]
        for i in range(len(points))
    ]
    sentence = (f"{_plain(title)}: {_fmt_number(y[last], decimals, suffix)} in {periods[last]}, against a centre "
                f"line of {_fmt_number(cl[last], decimals, suffix)}"
                + (f" (limits {_fmt_number(lcl[last], decimals, suffix)} to {_fmt_number(ucl[last], decimals, suffix)})"
                   if has_limits else "")
                + (f"; {int(sigma.sum())} point{'s' if sigma.sum() != 1 else ''} beyond a limit" if sigma.any() else "")
                + ("; non-random variation by Anhøj's rules" if runs[last] else "") + ".")
    return _with_changes(_describe(fig, sentence, columns, rows), _mark_changes(fig, changes, x, date_format))


# --------------------------------------------------------------------------------------------
# 2. Funnel plot
# --------------------------------------------------------------------------------------------

_FUNNEL_STYLE: dict[str, tuple[str, str, str, int]] = {
    # position: (legend label, colour, symbol, size): open triangles beyond the 95% limit,
    # filled beyond the 99.8% limit, so that the two read apart in greyscale print
    "within": ("Within the limits", NHS_BLUE, "circle", 9),
    "above_95": ("Above the 95% limit", "#B35400", "triangle-up-open", 13),
    "above_99.8": ("Above the 99.8% limit", "#B35400", "triangle-up", 14),
    "below_95": ("Below the 95% limit", "#B35400", "triangle-down-open", 13),
    "below_99.8": ("Below the 99.8% limit", "#B35400", "triangle-down", 14),
}


_LEADER_OFFSETS = (26, 46, 66, 86, 106)  # pixels from the point to its label, nearest first
_TITLE_GAP = 10  # pixels between the plot and the subtitle above it that a label may take


def _leader_labels(fig: go.Figure, xs: np.ndarray, ys: np.ndarray, names: Sequence[str],
                   below: Sequence[bool], labelled: np.ndarray, x_range: tuple[float, float],
                   y_range: tuple[float, float]) -> None:
    """Name points with labels on leader lines, placed so that no two labels overlap.

    Labels of points above the centre go above them, of points below it below; from left to
    right, each label takes the shortest leader at which its box clears every label already
    placed (in the page's pixels) and stays inside the plot (above it is the subtitle), on the
    other side of its point only when its own side has no room; the thin line joins it to its
    own point, so no label can be read as a neighbour's.
    """
    margin = fig.layout.margin
    plot_w = PAGE_WIDTH - (margin.l or 0) - (margin.r or 0)
    plot_h = _plot_height(fig)
    placed: list[tuple[float, float, float, float]] = []

    def clash(box: tuple[float, float, float, float]) -> float:
        """Area shared with labels already placed, and area outside the plot (in pixels²)."""
        shared = sum(max(0.0, min(box[1], b[1]) - max(box[0], b[0])) * max(0.0, min(box[3], b[3]) - max(box[2], b[2]))
                     for b in placed)
        outside = (max(0.0, box[3] - plot_h - _TITLE_GAP) + max(0.0, -box[2])) * (box[1] - box[0])
        return shared + outside

    for i in sorted(np.flatnonzero(labelled), key=lambda k: xs[k]):
        cx = (xs[i] - x_range[0]) / (x_range[1] - x_range[0]) * plot_w
        cy = (ys[i] - y_range[0]) / (y_range[1] - y_range[0]) * plot_h  # pixels up from the axis
        half_w = _text_px(names[i]) / 2 + 4
        options = []
        for flipped in (False, True):  # the point's own side first
            down = below[i] != flipped
            for offset in _LEADER_OFFSETS:
                centre = cy - offset if down else cy + offset
                box = (cx - half_w, cx + half_w, centre - 9, centre + 9)
                options.append((clash(box), flipped, offset, down, box))
                if options[-1][0] == 0:
                    break
            if options[-1][0] == 0:
                break
        _clash, _flipped, offset, down, box = min(options, key=lambda o: o[:3])
        placed.append(box)
        fig.add_annotation(
            x=xs[i], y=ys[i], xref="x", yref="y", text=names[i], showarrow=True, arrowhead=0,
            arrowwidth=1, arrowcolor=NHS_GREY, ax=0, ay=offset if down else -offset,
            standoff=6, font={"size": 12, "color": NHS_TEXT}, bgcolor="rgba(255,255,255,0.85)",
            name="unit label",
        )


def funnel_plot(
    funnel_result: Any,
    title: str,
    *,
    subtitle: str | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    centre_label: str | None = None,
    label: str = "outliers",
    counts: bool = True,
    height: int = 480,
) -> go.Figure:
    """Draw teams (units) on a funnel plot with 95% and 99.8% limits.

    Parameters
    ----------
    funnel_result : escalation_analysis.measures.funnels.FunnelResult
        A proportion funnel (``units`` with ``unit``, ``numerator``, ``denominator``,
        ``proportion``, ``position``) or a ratio funnel (``statistic == "ratio"``: ``observed``,
        ``expected``, ``ratio``); ``limits`` (``denominator`` and ``lower_95`` ...
        ``upper_998``, plus ``od_`` columns when adjusted), ``target``, ``adjusted`` and
        ``warnings``.
    title : str
    subtitle, x_title, y_title : str, optional
        Axis titles default to episodes and % within target (proportions) or expected
        episodes and observed / expected (ratios).
    centre_label : str, optional
        Name of the centre line: "Overall" for proportions (pass "Target" when the funnel was
        centred on a target), "As expected" for ratios.
    label : {"outliers", "all", "none"}
        Which units get a text label next to their point (all units have hover text).
    counts : bool, default True
        Put each unit's counts in its hover text; ``False`` for outputs where a small count
        must not show (the value and position are still there).
    height : int, default 480

    Returns
    -------
    plotly.graph_objects.Figure
        Two traces named ``99.8% limits`` and two named ``95% limits`` (upper, lower: the
        overdispersion-adjusted limits when those are in use), the centre line, and one
        marker trace per position present (within: blue circles; beyond a limit: orange or
        vermillion triangles pointing up or down).
    """
    ratio = getattr(funnel_result, "statistic", "proportion") == "ratio"
    units = funnel_result.units
    x_col, y_col = ("expected", "ratio") if ratio else ("denominator", "proportion")
    scale = 1.0 if ratio else 100.0
    suffix = "" if ratio else "%"
    x_title = x_title or ("Expected episodes within target" if ratio else "Episodes (number in the period)")
    y_title = y_title or ("Observed / expected" if ratio else "Escalated within target (%)")
    centre_label = centre_label or ("As expected" if ratio else "Overall")
    limits = funnel_result.limits.sort_values("denominator")
    prefix = "od_" if getattr(funnel_result, "adjusted", False) else ""
    curve_x = limits["denominator"].to_numpy(float)
    x_max = float(max(units[x_col].max(), 1)) * 1.08
    keep = curve_x <= x_max
    fig = go.Figure()
    for level, name, dash, colour in (
        ("998", "99.8% limits", "dash", NHS_GREY),
        ("95", "95% limits", "dot", NHS_MID_GREY),
    ):
        for side in ("upper", "lower"):
            fig.add_scatter(
                x=curve_x[keep], y=limits[f"{prefix}{side}_{level}"].to_numpy(float)[keep] * scale,
                name=name, legendgroup=level, showlegend=side == "upper", mode="lines",
                line={"color": colour, "width": 1.5, "dash": dash}, hoverinfo="skip",
            )
    centre = float(funnel_result.target) * scale
    fig.add_scatter(
        x=[0, x_max], y=[centre, centre], mode="lines",
        name=f"{centre_label} ({centre:.1f}{suffix})" if not ratio else f"{centre_label} (1)",
        line={"color": NHS_DARK_BLUE, "width": 1.5}, hoverinfo="skip",
    )
    positions = units["position"].astype(str).to_numpy()
    for position, (legend_label, colour, symbol, size) in _FUNNEL_STYLE.items():
        mask = positions == position
        if not mask.any():
            continue
        chunk = units.loc[mask]
        names = [_label(u) for u in chunk["unit"]]
        if ratio:
            detail = [
                (f"{_fmt_count(o)} observed, {e:.1f} expected<br>" if counts else "")
                + f"Observed / expected {r:.2f}"
                for o, e, r in zip(chunk["observed"], chunk["expected"], chunk["ratio"], strict=True)
            ]
        else:
            detail = [
                (f"{_of_episodes(num, den)} " if counts else "")
                + f"({p * 100:.1f}%)"
                for num, den, p in zip(chunk["numerator"], chunk["denominator"], chunk["proportion"], strict=True)
            ]
        hover = [f"<b>{name}</b><br>{text}<br>{legend_label}" for name, text in zip(names, detail, strict=True)]
        fig.add_scatter(
            x=chunk[x_col], y=chunk[y_col] * scale, name=legend_label, mode="markers",
            marker={"color": colour, "symbol": symbol, "size": size,
                    "line": ({"color": colour, "width": 2} if symbol.endswith("-open")
                             else {"color": "#FFFFFF", "width": 1})},
            hovertext=hover, hoverinfo="text", cliponaxis=False,
        )
    notes = []
    if prefix:
        notes.append(
            "Limits are widened for overdispersion: more variation between teams than chance "
            "alone explains."
        )
    notes.extend(getattr(funnel_result, "warnings", []) or [])
    notes.append(
        "A team outside the 99.8% limits is very unlikely to differ by chance alone; "
        "outside the 95% limits, possibly by chance."
    )
    _finish(fig, title=title, subtitle=subtitle, height=height, legend=True, notes=notes)
    _update_xaxes(fig, title_text=_esc(x_title), range=[0, x_max], rangemode="tozero")
    labelled = (positions != "within") if label == "outliers" else np.full(len(units), label == "all")

    def name_points() -> None:  # once the y axis has its range
        _leader_labels(fig, units[x_col].to_numpy(float), units[y_col].to_numpy(float) * scale,
                       [_label(u) for u in units["unit"]], [p.startswith("below") for p in positions],
                       labelled, (0.0, x_max), tuple(fig.layout.yaxis.range))

    words = {position: style[0] for position, style in _FUNNEL_STYLE.items()}
    outside = [f"{_label(u)} ({words[str(pos)].lower()})" for u, pos in zip(units["unit"], units["position"], strict=False)
               if str(pos) != "within"]
    tail = f"outside the limits: {_list_words(outside)}." if outside else "all within the 95% limits."
    if ratio:
        shown = np.concatenate([units["ratio"].to_numpy(float),
                                limits.loc[keep & (curve_x >= units["expected"].min() * 0.5),
                                           [f"{prefix}lower_998", f"{prefix}upper_998"]].to_numpy(float).ravel()])
        shown = shown[np.isfinite(shown)]
        lo, hi = min(float(shown.min()), 0.8), max(float(shown.max()), 1.2)
        pad = (hi - lo) * 0.08
        _update_yaxes(fig, title_text=_esc(y_title), range=[max(lo - pad, 0), hi + pad])
        name_points()
        columns = ["Team", "Expected", *(["Observed"] if counts else []), "Observed / expected", "Position"]
        rows = [[_label(u), _fmt_number(e, 1), *([_fmt_count(o)] if counts else []), f"{r:.2f}",
                 words.get(str(pos), str(pos))]
                for u, o, e, r, pos in zip(units["unit"], units["observed"], units["expected"],
                                           units["ratio"], units["position"], strict=False)]
        sentence = f"{_plain(title)}: {len(units):,} teams around the ratio of 1 expected; {tail}"
        return _describe(fig, sentence, columns, rows)
    _update_yaxes(fig, title_text=_esc(y_title), range=[-2, 102], ticksuffix="%")
    name_points()
    columns = ["Team", *(["Episodes", "Within target"] if counts else []), "Within target (%)", "Position"]
    rows = [[_label(u), *([_fmt_count(d), _fmt_count(n)] if counts else []), _fmt_number(p * 100, 1, "%"),
             words.get(str(pos), str(pos))]
            for u, n, d, p, pos in zip(units["unit"], units["numerator"], units["denominator"],
                                       units["proportion"], units["position"], strict=False)]
    sentence = f"{_plain(title)}: {len(units):,} teams around the {centre_label.lower()} {centre:.1f}%; {tail}"
    return _describe(fig, sentence, columns, rows)


# --------------------------------------------------------------------------------------------
# 3. Delay distribution
# --------------------------------------------------------------------------------------------

_GROUP_COLUMNS = {"lone_worker": "lone_worker_label"}

_BY_WORDS = {
    "band": "in or out of hours",
    "ooh_sub_band": "time of the week",
    "lone_worker": "lone working",
    "lone_worker_label": "lone working",
}


def _by_words(by: str) -> str:
    return _BY_WORDS.get(by, _label(by).lower())


def _group_order(values: pd.Series) -> list:
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().unique())
        return [c for c in values.cat.categories if c in present]
    return sorted(values.dropna().unique(), key=str)


def delay_distribution(
    prepared: pd.DataFrame,
    by: str = "band",
    *,
    kind: str = "box",
    title: str | None = None,
    subtitle: str | None = None,
    labels: Mapping[Any, str] | None = None,
    height: int | None = None,
) -> go.Figure:
    """Delays to escalate per group on a log scale, with the pathway's targets marked.

    Parameters
    ----------
    prepared : DataFrame
        From :func:`~escalation_analysis.measures.timeliness.prepare_episodes`: ``delay_minutes``,
        ``escalated``, ``target_minutes``, ``trigger``, ``band`` and the ``by`` column.
    by : str, default "band"
        Group column (``band``, ``ooh_sub_band``, ``trigger``, ``team``, ``lone_worker`` ...).
    kind : {"box", "histogram"}
        Horizontal box per group, or a step histogram (share of the group's escalated
        episodes in log-spaced bins) per group.
    labels : mapping, optional
        Display names for group values.

    Returns
    -------
    plotly.graph_objects.Figure
        One trace per group (named by the group), plus a ``Target`` marker trace: a red tick
        at each distinct target time within each group (box), or one dotted line per target
        (histogram). Episodes with no escalation are left out, and say so in a note.
    """
    if kind not in ("box", "histogram"):
        raise ValueError("kind must be 'box' or 'histogram'.")
    column = by if by in prepared.columns else _GROUP_COLUMNS.get(by, by)
    if column not in prepared.columns:
        raise ValueError(f"Column '{by}' is not in the episodes.")
    escalated = prepared["escalated"].astype(bool) & prepared["delay_minutes"].notna()
    data = prepared.loc[escalated]
    not_escalated = int((~escalated).sum())
    delays = data["delay_minutes"].to_numpy(float)
    under_a_minute = int((delays < 1).sum())
    drawn = np.clip(delays, 1, None)
    groups = data[column]
    order = _group_order(groups)
    names = {g: _label(g, labels) for g in order}
    title = title or f"Delay to escalate, by {_by_words(by)}"
    notes = []
    if not_escalated:
        notes.append(f"{not_escalated:,} episode(s) with no escalation recorded are not shown.")
    if under_a_minute:
        notes.append(f"{under_a_minute:,} delay(s) under 1 minute are drawn at 1 minute.")

    fig = go.Figure()
    if kind == "box":
        for g in order:
            mask = (groups == g).to_numpy()
            fig.add_box(
                x=drawn[mask], y=[names[g]] * int(mask.sum()), name=names[g],
                orientation="h", boxpoints="outliers", width=0.5,
                marker={"color": QUALITATIVE[0], "size": 3, "opacity": 0.5},
                line={"color": NHS_DARK_BLUE, "width": 1.5},
                fillcolor=_rgba(NHS_BLUE, 0.25), showlegend=False,
                hovertemplate=(f"<b>{names[g]}</b><br>%{{x:,.0f}} minutes<extra></extra>"),
            )
        targets = (
            data.assign(_group=groups.astype(object))
            .groupby(["_group", "target_minutes"], observed=True, sort=True)
            .agg(
                triggers=("trigger", lambda s: ", ".join(sorted({_label(v) for v in s}))),
                bands=("band", lambda s: ", ".join(sorted({_label(v) for v in s}))),
                episodes=("trigger", "size"),
            )
            .reset_index()
        )
        targets = targets[targets["target_minutes"].notna()]
        fig.add_scatter(
            x=targets["target_minutes"], y=[names.get(g, _label(g)) for g in targets["_group"]],
            name="Target", mode="markers+text",
            text=[_fmt_minutes(t) for t in targets["target_minutes"]],
            textposition="top center", textfont={"size": 12, "color": TARGET_RED},
            marker={"symbol": "line-ns", "size": 22, "line": {"color": TARGET_RED, "width": 3}},
            hovertext=[
                f"Target {_fmt_minutes(t)}<br>{tr} ({b})<br>{n:,} escalated episodes"
                for t, tr, b, n in zip(targets["target_minutes"], targets["triggers"],
                                       targets["bands"], targets["episodes"], strict=False)
            ],
            hoverinfo="text", cliponaxis=False,
        )
        notes.append(
            "Box: the middle half of delays, line at the median; whiskers reach the furthest "
            "delay within 1.5 box-lengths. Red ticks: the pathway's target times."
        )
        rows = len(order)
        _finish(fig, title=title, subtitle=subtitle, height=height or 150 + 70 * max(rows, 2),
                legend=False, notes=notes, left=_left_for(names.values()))
        # a target tick as tall as a box, its time written above the box
        row_px = _plot_height(fig) / max(rows, 1)
        fig.update_traces(selector={"name": "Target"}, marker_size=max(10, 0.55 * row_px))
        _update_yaxes(fig, title_text=None, type="category", categoryorder="array",
                         categoryarray=[names[g] for g in order], autorange="reversed",
                         showgrid=False)
        _update_xaxes(fig, title_text="Delay to escalate (log scale)",
                         **_minute_axis(max(drawn.min(), 1) if len(drawn) else 1,
                                        drawn.max() if len(drawn) else 1440))
        return _describe_delays(fig, title, delays, groups, order, names, not_escalated)

    # histogram: share of the group's escalated episodes in log-spaced bins
    lo = max(drawn.min(), 1) if len(drawn) else 1
    hi = drawn.max() if len(drawn) else 1440
    edges = np.logspace(math.log10(lo), math.log10(hi * 1.0001), 31)
    for i, g in enumerate(order):
        mask = (groups == g).to_numpy()
        counts, _ = np.histogram(drawn[mask], bins=edges)
        share = 100 * counts / max(mask.sum(), 1)
        xs = np.repeat(edges, 2)[1:-1]
        ys = np.repeat(share, 2)
        fig.add_scatter(
            x=xs, y=ys, name=names[g], mode="lines",
            line={"color": QUALITATIVE[i % len(QUALITATIVE)], "width": 2,
                  "dash": ("solid", "dash", "dot", "dashdot")[i % 4]},
            hovertemplate=f"<b>{names[g]}</b><br>%{{y:.1f}}% of escalated episodes<extra></extra>",
        )
    for t in sorted(data["target_minutes"].dropna().unique()):
        fig.add_vline(x=float(t), line={"color": TARGET_RED, "dash": "dot", "width": 1.5})
        fig.add_annotation(  # annotations on a log axis take log10 positions
            x=math.log10(float(t)), xref="x", y=1, yref="paper", yanchor="bottom",
            text=f"Target {_fmt_minutes(t)}", showarrow=False, name="target",
            font={"size": 12, "color": TARGET_RED},
        )
    fig.add_scatter(x=[None], y=[None], name="Target", mode="lines",
                    line={"color": TARGET_RED, "dash": "dot", "width": 1.5}, hoverinfo="skip")
    _finish(fig, title=title, subtitle=subtitle, height=height or 440, legend=True, notes=notes)
    _update_xaxes(fig, title_text="Delay to escalate (log scale)", **_minute_axis(lo, hi))
    _update_yaxes(fig, title_text="Escalated episodes (% of group)", ticksuffix="%",
                     rangemode="tozero")
    return _describe_delays(fig, title, delays, groups, order, names, not_escalated)


def _describe_delays(fig: go.Figure, title: str, delays: np.ndarray, groups: pd.Series, order: list,
                     names: Mapping[Any, str], not_escalated: int) -> go.Figure:
    """Delays in words: each group's median, and its quartiles and 90th percentile as a table."""
    rows, medians = [], []
    for g in order:
        values = delays[(groups == g).to_numpy()]
        q1, median, q3, p90 = np.percentile(values, [25, 50, 75, 90]) if len(values) else [np.nan] * 4
        rows.append([names[g], f"{len(values):,}", _fmt_minutes(median), _fmt_minutes(q1), _fmt_minutes(q3),
                     _fmt_minutes(p90)])
        medians.append(f"{_plain(names[g])} {_fmt_minutes(median)}")
    sentence = f"{_plain(title)}: median delay {_list_words(medians)}"
    if not_escalated:
        sentence += f" ({not_escalated:,} episodes with no escalation recorded are not included)"
    columns = ["Group", "Escalated episodes", "Median", "25th percentile", "75th percentile", "90th percentile"]
    return _describe(fig, sentence + ".", columns, rows)


# --------------------------------------------------------------------------------------------
# 4. Kaplan-Meier curves
# --------------------------------------------------------------------------------------------


def km_curves(
    km_frame: pd.DataFrame,
    targets: float | Sequence[float] | Mapping[Any, float] | None = None,
    *,
    title: str = "Time to escalate",
    subtitle: str | None = "Share of episodes escalated, allowing for those not yet escalated",
    max_minutes: float | None = None,
    log_time: bool = True,
    labels: Mapping[Any, str] | None = None,
    ci: bool = True,
    height: int = 460,
) -> go.Figure:
    """Step curves of the share escalated (1 − S(t)) over time, one per group, with CI bands.

    Parameters
    ----------
    km_frame : DataFrame
        From :func:`~escalation_analysis.measures.statistics.kaplan_meier`: ``group``, ``time``
        (minutes), ``at_risk``, ``cumulative_escalated`` and its
        ``cumulative_escalated_ci_low``/``_high``.
    targets : number, sequence or mapping, optional
        Target times in minutes, drawn as labelled vertical lines; a mapping gives each
        group's target (labelled with the group).
    max_minutes : float, optional
        Right end of the time axis (default: the last time in the frame).
    log_time : bool, default True
        Time on a log scale labelled in minutes, hours and days, so that targets of 1 hour
        and 1 day both read clearly; ``False`` for a linear axis in minutes or hours.
    labels : mapping, optional
        Display names for groups.
    ci : bool, default True
        Draw the 95% confidence bands.

    Returns
    -------
    plotly.graph_objects.Figure
        One step-line trace per group, named by the group, each preceded by two band traces
        (``<group>: 95% CI``, not in the legend). On a linear axis time is in hours when the
        axis runs past 6 hours, else in minutes (x values are minutes on the log axis). The
        legend shows only with more than one group.
    """
    frame = km_frame.sort_values(["group", "time"], kind="stable")
    group_values = frame["group"]
    order = _group_order(group_values) if len(frame) else []
    end = float(max_minutes) if max_minutes is not None else float(frame["time"].max())
    if not np.isfinite(end) or end <= 0:
        end = 60.0
    in_hours = end > 360 and not log_time
    unit = 60.0 if in_hours else 1.0
    if log_time:  # time 0 has no place on a log axis; the curves start at the first time
        frame = frame[frame["time"] > 0]
        group_values = frame["group"]
    fig = go.Figure()
    for i, g in enumerate(order):
        part = frame[(group_values == g).to_numpy()]
        part = part[part["time"] <= end]
        name = _label(g, labels)
        colour = QUALITATIVE[i % len(QUALITATIVE)]
        xs = part["time"].to_numpy(float) / unit
        if ci and "cumulative_escalated_ci_low" in part:
            for side, fill in (("low", None), ("high", "tonexty")):
                fig.add_scatter(
                    x=xs, y=part[f"cumulative_escalated_ci_{side}"].to_numpy(float) * 100,
                    name=f"{name}: 95% CI", legendgroup=str(i), showlegend=False,
                    mode="lines", line={"width": 0, "shape": "hv", "color": colour},
                    fill=fill, fillcolor=_rgba(colour, 0.15) if fill else None,
                    hoverinfo="skip",
                )
        hover = [
            f"<b>{name}</b><br>By {_fmt_minutes(t)}: {c * 100:.1f}% escalated"
            + (f" (95% CI {interval_text(lo * 100, hi * 100, 1)})" if ci else "")
            + f"<br>Still being followed: {n:,}"
            for t, c, lo, hi, n in zip(
                part["time"], part["cumulative_escalated"],
                part.get("cumulative_escalated_ci_low", part["cumulative_escalated"]),
                part.get("cumulative_escalated_ci_high", part["cumulative_escalated"]),
                part.get("at_risk", pd.Series(0, index=part.index)).astype(int), strict=False,
            )
        ]
        fig.add_scatter(
            x=xs, y=part["cumulative_escalated"].to_numpy(float) * 100, name=name,
            legendgroup=str(i), mode="lines",
            line={"color": colour, "width": 2.5, "shape": "hv",
                  "dash": ("solid", "dash", "dot", "dashdot", "longdash")[i % 5]},
            hovertext=hover, hoverinfo="text",
        )

    target_items: list[tuple[float, str]] = []
    if isinstance(targets, Mapping):
        by_value: dict[float, list[str]] = {}
        for g, t in targets.items():
            by_value.setdefault(float(t), []).append(_label(g, labels))
        target_items = [(t, f"Target {_fmt_minutes(t)} ({', '.join(gs)})")
                        for t, gs in sorted(by_value.items())]
    elif targets is not None:
        values = [targets] if np.isscalar(targets) else list(targets)
        target_items = [(float(t), f"Target {_fmt_minutes(float(t))}")
                        for t in sorted(set(map(float, values)))]
    for j, (t, text) in enumerate(target_items):
        if t > end:
            continue
        fig.add_vline(x=t / unit, line={"color": TARGET_RED, "dash": "dot", "width": 1.5})
        fig.add_annotation(  # annotations on a log axis take log10 positions
            x=math.log10(t) if log_time else t / unit, xref="x", y=0, yref="paper",
            yshift=4 + 18 * j, text=text, showarrow=False, xanchor="left", xshift=3,
            yanchor="bottom", bgcolor="rgba(255,255,255,0.85)",
            font={"size": 12, "color": TARGET_RED}, name="target",
        )
    many = len(order) > 1
    _finish(fig, title=title, subtitle=subtitle, height=height, legend=many,
            notes=["Shaded bands: 95% confidence intervals."] if ci and order else [])
    if log_time:
        start = float(frame["time"].min()) if len(frame) else 1.0
        _update_xaxes(fig, title_text="Time since risk was identified (log scale)",
                         **_minute_axis(max(start, 1.0), end))
    else:
        _update_xaxes(fig,
            title_text="Hours since risk was identified" if in_hours
            else "Minutes since risk was identified",
            range=[0, end / unit], dtick=_nice_hours(end / 60) if in_hours else None,
        )
    _update_yaxes(fig, title_text="Escalated (% of episodes)", range=[0, 100.5], ticksuffix="%",
                     dtick=20)
    times = sorted({t for t, _ in target_items}) or [60.0, 240.0, 1440.0]
    return _describe_km(fig, title, km_frame, order, labels, times)


def _describe_km(fig: go.Figure, title: str, km_frame: pd.DataFrame, order: list,
                 labels: Mapping[Any, str] | None, times: Sequence[float]) -> go.Figure:
    """Curves in words: each group's share escalated by each target time."""
    rows, parts = [], []
    for g in order:
        part = km_frame[(km_frame["group"] == g).to_numpy()].sort_values("time")
        shares = []
        for t in times:
            reached = part.loc[part["time"] <= t, "cumulative_escalated"]
            shares.append(100 * float(reached.iloc[-1]) if len(reached) else 0.0)
        rows.append([_label(g, labels)] + [_fmt_number(v, 1, "%") for v in shares])
        parts.append(f"{_plain(_label(g, labels))} {shares[0]:.0f}%")
    sentence = f"{_plain(title)}: share escalated within {_fmt_minutes(times[0])}: {_list_words(parts)}."
    return _describe(fig, sentence, ["Group"] + [f"Escalated by {_fmt_minutes(t)}" for t in times], rows)


def _nice_hours(hours: float) -> float | None:
    for step in (1, 2, 3, 4, 6, 12, 24, 48, 168):
        if hours / step <= 10:
            return step
    return None


# --------------------------------------------------------------------------------------------
# 5. Hour-of-week heatmap
# --------------------------------------------------------------------------------------------

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_HEATMAP_VALUES = {
    "late_pct": ("Late (%)", "Share of episodes escalated late or not at all"),
    "late": ("Late episodes", "Episodes escalated late or not at all"),
    "episodes": ("Episodes", "Episodes"),
}


def late_heatmap(
    heatmap_frame: pd.DataFrame,
    *,
    value: str = "late_pct",
    title: str | None = None,
    subtitle: str | None = None,
    min_episodes: int = 0,
    height: int = 400,
) -> go.Figure:
    """Weekday × hour heatmap of late escalation (Mon at the top), in a colour-blind-safe blue.

    Parameters
    ----------
    heatmap_frame : DataFrame
        From :func:`~escalation_analysis.measures.near_misses.late_heatmap`: long format with
        ``weekday`` (``Mon``..``Sun`` or 0-6), ``hour`` (0-23), ``episodes``, ``late``,
        ``late_pct``. Suppressed counts (``"*"``) are left blank.
    value : {"late_pct", "late", "episodes"}
        What the colour shows.
    min_episodes : int, default 0
        Leave cells with fewer episodes blank (their late share is too noisy to read).

    Returns
    -------
    plotly.graph_objects.Figure
        One heatmap trace (``z`` has 7 rows, Mon first, and 24 columns).
    """
    if value not in _HEATMAP_VALUES:
        raise ValueError("value must be 'late_pct', 'late' or 'episodes'.")
    frame = heatmap_frame.copy()
    weekday = frame["weekday"]
    if pd.api.types.is_numeric_dtype(weekday) and not isinstance(weekday.dtype,
                                                                 pd.CategoricalDtype):
        frame["weekday"] = [_WEEKDAYS[int(d)] for d in weekday]
    frame["weekday"] = frame["weekday"].astype(str)
    frame["hour"] = pd.to_numeric(frame["hour"]).astype(int)
    cells = frame.set_index(["weekday", "hour"])
    z = np.full((7, 24), np.nan)
    hover = [["" for _ in range(24)] for _ in range(7)]
    for r, day in enumerate(_WEEKDAYS):
        for h in range(24):
            when = f"<b>{day} {h:02d}:00 to {h:02d}:59</b>"
            if (day, h) not in cells.index:
                hover[r][h] = f"{when}<br>No data"
                continue
            row = cells.loc[(day, h)]
            if isinstance(row, pd.DataFrame):
                row = row.iloc[0]
            episodes, late = row.get("episodes"), row.get("late")
            n = _number(episodes)
            if any(_is_suppressed(v) for v in (episodes, late)):
                hover[r][h] = f"{when}<br>{SMALL_GROUP_LABEL if _is_suppressed(episodes) else WITHHELD_LABEL}"
                continue
            if not np.isfinite(n) or n == 0:
                hover[r][h] = f"{when}<br>No episodes"
                continue
            pct = _number(row.get("late_pct"))
            hover[r][h] = (
                f"{when}<br>Late: {_of_episodes(late, episodes)}"
                + (f" ({pct:.0f}%)" if np.isfinite(pct) else "")
            )
            if n >= min_episodes:
                z[r, h] = _number(row.get(value))
    colour_title, default_title = _HEATMAP_VALUES[value]
    fig = go.Figure(
        go.Heatmap(
            z=z, x=list(range(24)), y=list(_WEEKDAYS), name=colour_title,
            colorscale=SEQUENTIAL, zmin=0, xgap=1, ygap=1, hoverongaps=True,
            hovertext=hover, hoverinfo="text",
            colorbar={"title": {"text": colour_title, "side": "top", "font": {"size": 12}},
                      "thickness": 14, "len": 1.0, "outlinewidth": 0,
                      "ticksuffix": "%" if value == "late_pct" else "",
                      "tickfont": {"size": 12}},
        )
    )
    notes = ["Blank cells: no episodes"
             + (f", or fewer than {min_episodes}" if min_episodes > 1 else "") + "."]
    _finish(fig, title=title or "When late escalations happen: hour of the week",
            subtitle=subtitle or f"{default_title}, by when risk was identified (local time)",
            height=height, notes=notes, right=90)
    _update_xaxes(fig, title_text="Hour of the day when risk was identified",
                     tickvals=list(range(0, 24, 3)),
                     ticktext=[f"{h:02d}:00" for h in range(0, 24, 3)], showgrid=False,
                     showline=False, range=[-0.5, 23.5])
    _update_yaxes(fig, title_text=None, type="category", categoryorder="array",
                     categoryarray=list(_WEEKDAYS), autorange="reversed", showgrid=False,
                     showline=False)
    ordered = frame.assign(_day=frame["weekday"].map({d: i for i, d in enumerate(_WEEKDAYS)}))
    ordered = ordered.sort_values(["_day", "hour"])
    rows = [[day, f"{hour:02d}:00–{hour:02d}:59", _fmt_count(row_episodes), _fmt_count(row_late),
             _fmt_number(_number(pct), 0, "%")]
            for day, hour, row_episodes, row_late, pct in zip(
                ordered["weekday"], ordered["hour"], ordered["episodes"], ordered["late"],
                ordered.get("late_pct", pd.Series(np.nan, index=ordered.index)), strict=False)]
    # a share over one or two episodes says little: rank shares over cells with 5 or more
    episodes_z = np.full((7, 24), 0.0)
    for day, hour, count in zip(ordered["_day"], ordered["hour"], _numbers(ordered["episodes"]), strict=False):
        episodes_z[int(day), int(hour)] = count if np.isfinite(count) else 0.0
    rankable = np.where((episodes_z >= 5) | (value != "late_pct"), z, np.nan)
    top = np.argsort(np.nan_to_num(rankable, nan=-1), axis=None)[::-1][:3]
    peaks = [f"{_WEEKDAYS[i // 24]} {i % 24:02d}:00 ({_fmt_number(z.flat[i], 0, '%' if value == 'late_pct' else '')})"
             for i in top if np.isfinite(rankable.flat[i])]
    lead = {"late_pct": "the largest shares escalated late", "late": "the most late escalations",
            "episodes": "the most episodes"}[value]
    heading = _plain(title or "When late escalations happen: hour of the week")
    sentence = f"{heading}: {lead} at {_list_words(peaks)}." if peaks else f"{heading}: no episodes to show."
    return _describe(fig, sentence, ["Day", "Hour", "Episodes", "Late", "Late (%)"], rows)


# --------------------------------------------------------------------------------------------
# 6. Barrier co-occurrence
# --------------------------------------------------------------------------------------------


def barrier_cooccurrence(
    matrix: pd.DataFrame,
    *,
    title: str = "Barriers met together",
    subtitle: str | None = "Episodes meeting both barriers; grey diagonal: episodes in all",
    labels: Mapping[Any, str] | None = None,
    height: int | None = None,
) -> go.Figure:
    """Heatmap of a square barrier co-occurrence table, every cell labelled with its count.

    Rows carry the barriers' names, numbered; columns carry the same numbers, so that long
    barrier names stay readable at A4 width.

    Parameters
    ----------
    matrix : DataFrame
        From :func:`~escalation_analysis.measures.near_misses.barrier_cooccurrence`: barriers as index
        and columns (same order), episodes meeting both in each cell and episodes meeting
        the barrier on the diagonal. Suppressed cells (``"*"``) are shown as ``*``.

    Returns
    -------
    plotly.graph_objects.Figure
        Heatmap traces named ``Together`` (off-diagonal counts on a blue scale: one trace for
        the pale cells, with dark text, one for the dark cells, with white text) and ``All
        episodes with the barrier`` (the diagonal, grey).
    """
    names = [_label(b, labels) for b in matrix.index]
    column_names = [_label(b, labels) for b in matrix.columns]
    values = matrix.to_numpy(dtype=object)
    counts = np.array([[_number(v) for v in row] for row in values], dtype=float)
    counts = counts.reshape(len(names), len(column_names))
    text = [[_fmt_count(v) for v in row] for row in values]
    n = len(names)
    diagonal = np.eye(n, len(column_names), dtype=bool)
    off = np.where(diagonal, np.nan, counts)
    diag = np.where(diagonal, counts, np.nan)
    top = float(np.nanmax(off)) if np.isfinite(off).any() else 1.0
    top = top or 1.0
    numbers = {name: i + 1 for i, name in enumerate(names)}
    y_labels = [f"{i + 1}. {_wrap(name, 34)}" for i, name in enumerate(names)]
    x_labels = [str(numbers[c]) if c in numbers else _wrap(c, 12) for c in column_names]
    hover = [
        [
            (f"<b>{names[i]}</b><br>{_episodes(values[i, j])} in all" if diagonal[i, j] else
             f"<b>{names[i]}</b><br>and <b>{column_names[j]}</b><br>{_episodes(values[i, j])}")
            for j in range(len(column_names))
        ]
        for i in range(n)
    ]
    fig = go.Figure()
    dark = off > 0.55 * top
    for mask, colour in ((~dark, NHS_TEXT), (dark, "#FFFFFF")):
        fig.add_heatmap(
            z=np.where(mask, off, np.nan), x=x_labels, y=y_labels, name="Together",
            text=[[t if mask[i, j] else "" for j, t in enumerate(row)]
                  for i, row in enumerate(text)],
            texttemplate="%{text}", textfont={"size": 12, "color": colour},
            colorscale=SEQUENTIAL, zmin=0, zmax=top, showscale=False,
            xgap=2, ygap=2, hovertext=hover, hoverinfo="text", hoverongaps=False,
        )
    fig.add_heatmap(
        z=diag, x=x_labels, y=y_labels, name="All episodes with the barrier",
        text=[[t if diagonal[i, j] else "" for j, t in enumerate(row)]
              for i, row in enumerate(text)],
        texttemplate="<b>%{text}</b>", textfont={"size": 12, "color": NHS_TEXT},
        colorscale=[[0, NHS_PALE_GREY], [1, NHS_PALE_GREY]], showscale=False,
        xgap=2, ygap=2, hovertext=hover, hoverinfo="text", hoverongaps=False,
    )
    notes = ["Columns are numbered as the rows. Darker blue: more episodes met both barriers."]
    lines = max((label.count("<br>") + 1 for label in y_labels), default=1)
    _finish(fig, title=title, subtitle=subtitle, notes=notes, right=20,
            height=height or 190 + max(n, 3) * max(34, 16 * lines + 8),
            left=_left_for(y_labels), bottom_axis=30)
    _update_xaxes(fig, title_text=None, type="category", side="bottom", showgrid=False,
                     showline=False, tickangle=0, ticks="")
    _update_yaxes(fig, title_text=None, type="category", autorange="reversed", showgrid=False,
                     showline=False, ticks="")
    rows = [[f"{i + 1}. {names[i]}"] + text[i] for i in range(n)]
    pairs = [(counts[i, j], i, j) for i in range(n) for j in range(i + 1, min(n, len(column_names)))
             if np.isfinite(counts[i, j])]
    if pairs:
        most, i, j = max(pairs)
        sentence = (f"{_plain(title)}: met together most often, {_plain(names[i])} and "
                    f"{_plain(column_names[j])} ({most:,.0f} episodes).")
    else:
        sentence = f"{_plain(title)}: no two barriers were met together."
    return _describe(fig, sentence, ["Barrier"] + [str(i + 1) for i in range(len(column_names))], rows)


# --------------------------------------------------------------------------------------------
# 7. Compliance by group
# --------------------------------------------------------------------------------------------


def _missing_reason(row: pd.Series, count_columns: Sequence[str]) -> str:
    """Why a group has no bar: a small group, a figure withheld to protect one, no episodes."""
    if "n" in row.index and isinstance(row["n"], str) and row["n"].strip() == SMALL_MARK:
        return SMALL_GROUP_LABEL
    values = [row.get(c) for c in count_columns if c in row.index]
    if any(_is_suppressed(v) for v in values) or any(v is None for v in values):
        return WITHHELD_LABEL
    if "n" in row.index and _number(row["n"]) == 0:
        return "no episodes"
    return "not available"


def _withheld(reason: str) -> bool:
    return reason in (SMALL_GROUP_LABEL, WITHHELD_LABEL)


def compliance_by_group(
    table: pd.DataFrame,
    group_column: str,
    target_pct: float | None = None,
    *,
    title: str | None = None,
    subtitle: str | None = None,
    x_title: str = "Escalated within target (% of episodes)",
    labels: Mapping[Any, str] | None = None,
    sort: bool = True,
    height: int | None = None,
) -> go.Figure:
    """Horizontal bars of the share within target per group, with Wilson 95% intervals.

    Parameters
    ----------
    table : DataFrame
        :func:`~escalation_analysis.measures.timeliness.compliance_table` by ``group_column``:
        ``within_target_pct``, ``ci95_low_pct``, ``ci95_high_pct``, ``n`` and
        ``within_target`` (optional). It may be a disclosure plan's published table
        (:mod:`escalation_analysis.reviews.disclosure`): counts ``"*"`` and rates
        ``None``; such groups get no bar and a label that says why: "fewer than 8 episodes"
        (size ``*``) or "withheld to protect a small number" (``[c]``, or a rate on a ``*``).
    group_column : str
        Column naming the groups.
    target_pct : float, optional
        Target in percent, drawn as a labelled red dashed line.
    sort : bool, default True
        Highest share at the top; groups without a value go to the bottom.

    Returns
    -------
    plotly.graph_objects.Figure
        A ``Within target`` bar trace (one bar per group with a value, error bars from the
        Wilson interval, value labels inside the bars) and, when some groups have no value,
        a ``Withheld`` text trace (or ``Not shown`` when nothing was withheld) that labels
        them. The y tick labels carry n.
    """
    if group_column not in table.columns:
        raise ValueError(f"Column '{group_column}' is not in the table.")
    work = table.reset_index(drop=True)
    pct = _numbers(work["within_target_pct"])
    low = _numbers(work["ci95_low_pct"]) if "ci95_low_pct" in work else np.full(len(work), np.nan)
    high = (_numbers(work["ci95_high_pct"]) if "ci95_high_pct" in work
            else np.full(len(work), np.nan))
    count_columns = [c for c in ("n", "within_target", "not_within_target", "not_escalated")
                     if c in work.columns]
    names = []
    for _, row in work.iterrows():  # one row per group, not per episode
        name = _label(row[group_column], labels)
        n_value = _number(row["n"]) if "n" in work else np.nan
        names.append(f"{name} (n = {n_value:,.0f})" if np.isfinite(n_value) else name)
    shown = np.isfinite(pct)
    order = list(range(len(work)))
    if sort:
        order = sorted(np.flatnonzero(shown), key=lambda i: -pct[i]) + list(
            np.flatnonzero(~shown))
    fig = go.Figure()
    bar_rows = [i for i in order if shown[i]]
    if bar_rows:
        hover = []
        for i in bar_rows:
            row = work.iloc[i]
            line = f"<b>{names[i]}</b><br>{pct[i]:.1f}% escalated within target"
            if np.isfinite(low[i]) and np.isfinite(high[i]):
                line += f"<br>95% CI {interval_text(low[i], high[i], 1)}"
            if "within_target" in work and "n" in work:
                line += f"<br>{_of_episodes(row['within_target'], row['n'])}"
            hover.append(line)
        plus = np.where(np.isfinite(high), high - pct, np.nan)[bar_rows]
        minus = np.where(np.isfinite(low), pct - low, np.nan)[bar_rows]
        fig.add_bar(
            y=[names[i] for i in bar_rows], x=pct[bar_rows], orientation="h",
            name="Within target", marker={"color": NHS_BLUE},
            error_x={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus,
                     "color": NHS_TEXT, "thickness": 1.5, "width": 5},
            text=[f"{pct[i]:.1f}%" for i in bar_rows], textposition="inside",
            insidetextanchor="start", textfont={"color": "#FFFFFF", "size": 12},
            hovertext=hover, hoverinfo="text", width=0.62,
        )
    missing_rows = [i for i in order if not shown[i]]
    if missing_rows:
        reasons = [_missing_reason(work.iloc[i], count_columns) for i in missing_rows]
        fig.add_scatter(
            y=[names[i] for i in missing_rows], x=[1] * len(missing_rows), mode="text",
            name="Withheld" if any(_withheld(r) for r in reasons) else "Not shown",
            text=[f"<i>{r}</i>" for r in reasons], textposition="middle right",
            textfont={"size": 12, "color": NHS_GREY},
            hovertext=[f"<b>{names[i]}</b><br>{r}" for i, r in zip(missing_rows, reasons, strict=False)],
            hoverinfo="text", cliponaxis=False,
        )
    notes = [
        (
            "Bars: share escalated within the pathway's target time; lines: 95% confidence "
            "intervals (Wilson)."
        )
    ]
    if missing_rows and any(_withheld(_missing_reason(work.iloc[i], count_columns)) for i in missing_rows):
        notes.append(f"Figures of groups with fewer than {SMALL_THRESHOLD + 1} episodes, and figures that would "
                     "reveal one, are withheld so that no one can be identified.")
    _finish(fig, title=title or f"Escalated within target by {_label(group_column).lower()}",
            subtitle=subtitle, height=height or 150 + 38 * max(len(work), 2), notes=notes,
            left=_left_for(names))
    if target_pct is not None:
        fig.add_vline(x=float(target_pct), line={"color": TARGET_RED, "dash": "dash",
                                                 "width": 2})
        fig.add_annotation(x=float(target_pct), xref="x", y=1, yref="paper", yanchor="bottom",
                           text=f"Target {float(target_pct):g}%", showarrow=False,
                           font={"size": 12, "color": TARGET_RED}, name="target")
    _update_xaxes(fig, title_text=_esc(x_title), range=[0, 100], ticksuffix="%", dtick=20)
    _update_yaxes(fig, title_text=None, type="category", categoryorder="array",
                     categoryarray=[names[i] for i in order], autorange="reversed",
                     showgrid=False)
    rows = []
    for i in order:
        row = work.iloc[i]
        rows.append([
            _label(row[group_column], labels),
            _fmt_count(row["n"]) if "n" in work else "–",
            _fmt_count(row["within_target"]) if "within_target" in work else "–",
            _fmt_number(pct[i], 1, "%") if shown[i] else _missing_reason(row, count_columns),
            interval_text(low[i], high[i]) if shown[i] and np.isfinite(low[i]) else "",
        ])
    heading = _plain(title or f"Escalated within target by {_label(group_column).lower()}")
    if bar_rows:
        best, worst = max(bar_rows, key=lambda i: pct[i]), min(bar_rows, key=lambda i: pct[i])
        sentence = (f"{heading}: highest {_plain(_label(work.iloc[best][group_column], labels))} "
                    f"{pct[best]:.1f}%, lowest {_plain(_label(work.iloc[worst][group_column], labels))} "
                    f"{pct[worst]:.1f}% ({interval_text(low[worst], high[worst]) or 'no interval'})")
        if len(bar_rows) == 1:
            sentence = f"{heading}: {_plain(_label(work.iloc[best][group_column], labels))} {pct[best]:.1f}%"
        if target_pct is not None:
            sentence += f", against a target of {float(target_pct):g}%"
        if missing_rows:
            sentence += f"; {len(missing_rows):,} group(s) not shown ({_list_words(sorted(set(reasons)))})"
    else:
        sentence = f"{heading}: no group has a figure that can be shown."
    return _describe(fig, sentence + ".", [_plain(_label(group_column)), "Episodes", "Within target",
                                           "Within target (%)", "95% CI"], rows)


# --------------------------------------------------------------------------------------------
# 8. Bars for counts and times
# --------------------------------------------------------------------------------------------


def _value_missing_reason(value: Any) -> str:
    if isinstance(value, str) and value.strip() == SMALL_MARK:
        return f"fewer than {SMALL_THRESHOLD + 1}"
    return WITHHELD_LABEL if value is None or _is_suppressed(value) else "not available"


def _humanise(column: str) -> str:
    return _label(column) if _SNAKE.match(column) else _esc(column)


def bar_counts(
    table: pd.DataFrame,
    x: str,
    y: str,
    title: str,
    *,
    subtitle: str | None = None,
    value_title: str | None = None,
    target: float | str | None = None,
    target_label: str = "Target",
    labels: Mapping[Any, str] | None = None,
    sort: bool = True,
    orientation: str = "h",
    percent: bool = False,
    minutes: bool = False,
    hover_columns: Mapping[str, str] | Sequence[str] | None = None,
    height: int | None = None,
) -> go.Figure:
    """One bar per category: barrier frequency, pathway themes, agency response times ...

    Parameters
    ----------
    table : DataFrame
        One row per category.
    x : str
        Column naming the categories (drawn down the side when ``orientation="h"``).
    y : str
        Column of values (counts, minutes, percentages). Suppressed values (``"*"``/None)
        get no bar and the label "fewer than 8" (``*``) or "withheld to protect a small number".
    title : str
    value_title : str, optional
        Value-axis title with units, e.g. "Median response (minutes)". Default: from ``y``.
    target : float or str, optional
        A number: one labelled red dashed line. A column name: a red tick per bar (e.g.
        ``target_minutes`` in ``agencies.response_by_agency``), named ``target_label``.
    percent, minutes : bool
        Format values as percentages, or as times (``2 h 2 min``) on the labels.
    hover_columns : mapping or sequence, optional
        Extra columns for the hover text (mapping: column -> label).
    orientation : {"h", "v"}
        Horizontal bars (the default, for long labels) or vertical.

    Returns
    -------
    plotly.graph_objects.Figure
        A bar trace named after the value, plus a ``Target`` trace for per-category targets
        and a ``Suppressed`` text trace when some values are withheld.
    """
    for column in (x, y):
        if column not in table.columns:
            raise ValueError(f"Column '{column}' is not in the table.")
    if orientation not in ("h", "v"):
        raise ValueError("orientation must be 'h' or 'v'.")
    work = table.reset_index(drop=True)
    values = _numbers(work[y])
    names = [_label(v, labels) for v in work[x]]
    order = list(range(len(work)))
    if sort:
        order = sorted(np.flatnonzero(np.isfinite(values)), key=lambda i: -values[i]) + list(
            np.flatnonzero(~np.isfinite(values)))
    shown = [i for i in order if np.isfinite(values[i])]
    missing = [i for i in order if not np.isfinite(values[i])]
    suffix = "%" if percent else ""
    value_title = value_title or _humanise(y)
    integers = bool(np.all(np.mod(values[np.isfinite(values)], 1) == 0))

    def fmt(v: float) -> str:
        if minutes:
            return _fmt_minutes(v)
        return _fmt_number(v, 0 if integers else 1, suffix)

    if isinstance(hover_columns, Mapping):
        extra = dict(hover_columns)
    else:
        extra = {c: _humanise(c) for c in (hover_columns or [])}
    hover = []
    for i in shown:
        line = f"<b>{names[i]}</b><br>{value_title}: {fmt(values[i])}"
        for column, label in extra.items():
            if column in work:
                line += f"<br>{_esc(label)}: {_fmt_value(work.at[i, column])}"
        hover.append(line)
    horizontal = orientation == "h"
    cats = [names[i] for i in shown]
    vals = values[shown]
    tvals = np.full(len(shown), np.nan)
    if isinstance(target, str):
        if target not in work.columns:
            raise ValueError(f"Column '{target}' is not in the table.")
        tvals = _numbers(work[target])[shown]
    has = np.isfinite(tvals)
    # value labels sit past the bar end, or past the target tick when that is further
    label_text = [  # an en space keeps the label off the bar end
        "\u2002" + fmt(v) + (f" ({_esc(target_label).lower()} {fmt(t)})" if h else "")
        for v, t, h in zip(vals, tvals, has, strict=False)
    ]
    label_at = np.where(has, np.fmax(vals, np.nan_to_num(tvals)), vals)
    fig = go.Figure()
    fig.add_bar(
        x=vals if horizontal else cats, y=cats if horizontal else vals,
        orientation=orientation, name=_esc(value_title), marker={"color": NHS_BLUE},
        hovertext=hover, hoverinfo="text", width=0.62,
    )
    legend = bool(has.any())
    if legend:
        t_cats = [c for c, h in zip(cats, has, strict=False) if h]
        fig.add_scatter(
            x=tvals[has] if horizontal else t_cats, y=t_cats if horizontal else tvals[has],
            mode="markers", name=_esc(target_label),
            marker={"symbol": "line-ns" if horizontal else "line-ew", "size": 24,
                    "line": {"color": TARGET_RED, "width": 3}},
            hovertext=[f"<b>{c}</b><br>{_esc(target_label)}: {fmt(t)}"
                       for c, t in zip(t_cats, tvals[has], strict=False)],
            hoverinfo="text",
        )
    fig.add_scatter(
        x=label_at if horizontal else cats, y=cats if horizontal else label_at,
        mode="text", name="Values", text=label_text, showlegend=False,
        textposition="middle right" if horizontal else "top center",
        textfont={"size": 12, "color": NHS_TEXT}, hoverinfo="skip", cliponaxis=False,
    )
    if missing:
        fig.add_scatter(
            x=[0] * len(missing) if horizontal else [names[i] for i in missing],
            y=[names[i] for i in missing] if horizontal else [0] * len(missing),
            mode="text", name="Withheld", showlegend=False,
            text=[f"\u2002<i>{_value_missing_reason(work.at[i, y])}</i>" for i in missing],
            textposition="middle right" if horizontal else "top center",
            textfont={"size": 12, "color": NHS_GREY}, hoverinfo="skip", cliponaxis=False,
        )
    fig.update_traces(showlegend=legend, selector={"type": "bar"})
    rows = len(work)
    left = _left_for(names) if horizontal else 72
    if horizontal:
        _finish(fig, title=title, subtitle=subtitle, height=height or 150 + 34 * max(rows, 2),
                legend=legend, left=left)
    else:
        _finish(fig, title=title, subtitle=subtitle, height=height or 420, legend=legend,
                bottom_axis=80)
    has_line = isinstance(target, int | float) and not isinstance(target, bool)
    line_value = float(target) if has_line else 0.0
    if horizontal:  # room for the longest label past its bar, at A4 width
        plot_w = PAGE_WIDTH - left - 28
        needed = [a * plot_w / max(plot_w - _text_px(t) - 12, plot_w * 0.3)
                  for a, t in zip(label_at, label_text, strict=False)]
        top = max([*needed, line_value * 1.05, 1e-09])
    else:
        top = max([*list(label_at * 1.12), line_value * 1.05, 1e-09])
    value_axis = {"title_text": _esc(value_title), "range": [0, top], "ticksuffix": suffix}
    cat_axis = {"title_text": None, "type": "category", "categoryorder": "array",
                "categoryarray": [names[i] for i in order], "showgrid": False}
    if horizontal:
        _update_xaxes(fig, **value_axis)
        _update_yaxes(fig, **cat_axis, autorange="reversed")
    else:
        _update_yaxes(fig, **value_axis)
        _update_xaxes(fig, **cat_axis)
    if has_line:
        line = {"color": TARGET_RED, "dash": "dash", "width": 2}
        text = f"{_esc(target_label)} {fmt(line_value)}"
        if horizontal:
            fig.add_vline(x=line_value, line=line)
            fig.add_annotation(x=line_value, xref="x", y=1, yref="paper", yanchor="bottom",
                               text=text, showarrow=False, name="target",
                               font={"size": 12, "color": TARGET_RED})
        else:
            fig.add_hline(y=line_value, line=line)
            fig.add_annotation(y=line_value, yref="y", x=1, xref="paper", xanchor="right",
                               yanchor="bottom", text=text, showarrow=False, name="target",
                               font={"size": 12, "color": TARGET_RED})
    rows = []
    for i in order:
        shown_value = fmt(values[i]) if np.isfinite(values[i]) else _value_missing_reason(work.at[i, y])
        target_cell = [fmt(_number(work.at[i, target]))] if isinstance(target, str) else []
        rows.append([names[i], shown_value, *target_cell])
    if shown:
        ranked = sorted(shown, key=lambda i: -values[i])
        sentence = f"{_plain(title)}: highest {_plain(names[ranked[0]])} ({fmt(values[ranked[0]])})"
        if len(ranked) > 1:
            sentence += f", lowest {_plain(names[ranked[-1]])} ({fmt(values[ranked[-1]])})"
        if has_line:
            sentence += f", against a {_plain(target_label).lower()} of {fmt(line_value)}"
        if missing:
            sentence += f"; {len(missing):,} not shown"
    else:
        sentence = f"{_plain(title)}: no value can be shown"
    columns = [_plain(_humanise(x)), _plain(value_title)] + ([_plain(target_label)] if isinstance(target, str) else [])
    return _describe(fig, sentence.strip() + ".", columns, rows)


# --------------------------------------------------------------------------------------------
# 8b. Shares side by side for two or more groups
# --------------------------------------------------------------------------------------------

_GROUP_PATTERNS = ("", "/", ".", "x")
"""Bar fill patterns by group: the groups read apart in greyscale print, not by colour alone."""


def group_shares(
    table: pd.DataFrame,
    category: str,
    group: str,
    value: str,
    *,
    title: str,
    value_title: str,
    subtitle: str | None = None,
    labels: Mapping[Any, str] | None = None,
    top: int = 10,
    height: int | None = None,
) -> go.Figure:
    """Horizontal bars of a percentage per category, one bar per group side by side.

    For example the share of lone workers' and of accompanied staff's episodes that met each
    barrier (``near_misses.barrier_frequency(episodes, "lone_worker")``). Categories are ordered
    by their largest value, at most ``top`` of them; a category a group never met is a 0% bar
    for that group, not a gap. Groups differ by colour and by fill pattern.
    """
    for column in (category, group, value):
        if column not in table.columns:
            raise ValueError(f"Column '{column}' is not in the table.")
    wide = table.pivot_table(index=category, columns=group, values=value, aggfunc="sum", observed=True)
    wide = wide.fillna(0.0)
    order = wide.max(axis=1).sort_values(ascending=False).index[:top]
    wide = wide.loc[order]
    groups = [g for g in _group_order(table[group]) if g in wide.columns]
    names = [_label(c, labels) for c in wide.index]
    fig = go.Figure()
    for i, g in enumerate(groups):
        values = wide[g].to_numpy(float)
        name = _label(g, labels)
        colour = QUALITATIVE[i % len(QUALITATIVE)]
        fig.add_bar(
            y=names, x=values, orientation="h", name=name,
            marker={"color": colour, "line": {"color": colour, "width": 1.5},
                    "pattern": {"shape": _GROUP_PATTERNS[i % len(_GROUP_PATTERNS)], "fgcolor": colour,
                                "bgcolor": "#FFFFFF", "solidity": 0.45}},
            text=[_fmt_number(v, 0, "%") for v in values], textposition="outside", cliponaxis=False,
            textfont={"size": 12, "color": NHS_TEXT},
            hovertext=[f"<b>{n}</b><br>{name}: {_fmt_number(v, 1, '%')}" for n, v in zip(names, values, strict=True)],
            hoverinfo="text",
        )
    rows = len(names)
    _finish(fig, title=title, subtitle=subtitle, height=height or 170 + 22 * len(groups) * max(rows, 2),
            legend=True, left=_left_for(names))
    top_value = float(wide.to_numpy().max()) if wide.size else 1.0
    _update_layout(fig, barmode="group", bargap=0.25)
    _update_xaxes(fig, title_text=_esc(value_title), range=[0, top_value * 1.18 or 1], ticksuffix="%")
    _update_yaxes(fig, title_text=None, type="category", categoryorder="array", categoryarray=names,
                     autorange="reversed", showgrid=False)
    rows_out = [[n, *[_fmt_number(v, 1, "%") for v in wide.loc[c, groups]]] for n, c in zip(names, wide.index, strict=True)]
    if len(groups) >= 2 and rows:
        gaps = (wide[groups[0]] - wide[groups[1]]).abs()
        widest = gaps.idxmax()
        a, b = wide.loc[widest, groups[0]], wide.loc[widest, groups[1]]
        sentence = (f"{_plain(title)}: the widest gap is {_plain(_label(widest, labels))}, "
                    f"{_plain(_label(groups[0], labels))} {_fmt_number(a, 0, '%')} against "
                    f"{_plain(_label(groups[1], labels))} {_fmt_number(b, 0, '%')}.")
    else:
        sentence = f"{_plain(title)}: {rows:,} categories."
    return _describe(fig, sentence, [_plain(_humanise(category))] + [_plain(_label(g, labels)) for g in groups],
                     rows_out)


# --------------------------------------------------------------------------------------------
# 9. Trend line
# --------------------------------------------------------------------------------------------


def trend_line(
    table: pd.DataFrame,
    x: str,
    y: str,
    *,
    title: str,
    y_title: str,
    x_title: str | None = None,
    subtitle: str | None = None,
    group: str | None = None,
    lower: str | None = None,
    upper: str | None = None,
    target: float | None = None,
    percent: bool = False,
    labels: Mapping[Any, str] | None = None,
    value_labels: bool | None = None,
    from_zero: bool = True,
    height: int = 420,
    changes: Iterable[Any] | None = None,
) -> go.Figure:
    """A value over periods, e.g. the near-miss to incident ratio by quarter.

    Parameters
    ----------
    table : DataFrame
        One row per period (and group). ``x`` may hold ``2025-04`` months or dates (drawn
        as "Apr 2025") or labels such as ``2025/26 Q1`` (drawn in table order).
    x, y : str
        Period and value columns.
    title, y_title : str
        Title and y-axis title with units.
    group : str, optional
        One line per value of this column (with a legend).
    lower, upper : str, optional
        Columns of a confidence interval, drawn as a shaded band.
    target : float, optional
        A labelled red dashed line.
    percent : bool, default False
        Values are percentages (0-100): show a % sign.
    value_labels : bool, optional
        Write each value by its point (default: with one line of at most 12 points, so that
        the printed page carries the numbers).
    from_zero : bool, default True
        Start the y axis at zero.
    changes : iterable, optional
        Changes to the pathway (``Pathway.changes``, or (date, text) pairs): each one within
        the chart's periods is marked with a dotted line and its date and text.

    Returns
    -------
    plotly.graph_objects.Figure
        One line trace per group (a single trace named ``y_title`` without groups), plus
        ``<name>: 95% CI`` band traces when ``lower``/``upper`` are given.
    """
    for column in [x, y] + [c for c in (group, lower, upper) if c]:
        if column not in table.columns:
            raise ValueError(f"Column '{column}' is not in the table.")
    work = table.reset_index(drop=True)
    xs, date_format = _periods(work[x])
    suffix = "%" if percent else ""
    groups = _group_order(work[group]) if group else [None]
    if value_labels is None:
        value_labels = group is None and len(work) <= 12
    values_all = _numbers(work[y])
    integers = bool(np.all(np.mod(values_all[np.isfinite(values_all)], 1) == 0))
    decimals = 0 if integers else (1 if percent else 2)
    fig = go.Figure()
    for i, g in enumerate(groups):
        mask = np.ones(len(work), bool) if g is None else (work[group] == g).to_numpy()
        name = _esc(y_title) if g is None else _label(g, labels)
        colour = QUALITATIVE[i % len(QUALITATIVE)]
        px = xs[mask]
        vals = values_all[mask]
        if lower and upper:
            for column, fill in ((lower, None), (upper, "tonexty")):
                fig.add_scatter(
                    x=px, y=_numbers(work.loc[mask, column]), name=f"{name}: 95% CI",
                    legendgroup=str(i), showlegend=False, mode="lines",
                    line={"width": 0, "color": colour}, fill=fill,
                    fillcolor=_rgba(colour, 0.15) if fill else None, hoverinfo="skip",
                )
        hover = [f"<b>{_fmt_period(p, date_format)}</b><br>{name}: "
                 f"{_fmt_number(v, decimals, suffix)}" for p, v in zip(px, vals, strict=False)]
        fig.add_scatter(
            x=px, y=vals, name=name, legendgroup=str(i),
            mode="lines+markers+text" if value_labels else "lines+markers",
            text=[_fmt_number(v, decimals, suffix) for v in vals] if value_labels else None,
            textposition="top center", textfont={"size": 12, "color": NHS_TEXT},
            line={"color": colour, "width": 2.5,
                  "dash": ("solid", "dash", "dot", "dashdot")[i % 4]},
            marker={"color": colour, "size": 8,
                    "symbol": ("circle", "square", "diamond", "triangle-up")[i % 4]},
            hovertext=hover, hoverinfo="text", cliponaxis=False,
        )
    if x_title is None:
        x_title = _x_title(date_format, otherwise=_humanise(x))
    _finish(fig, title=title, subtitle=subtitle, height=height, legend=group is not None,
            bottom_axis=64 if date_format == "%b %Y" else 56,
            right=28 if target is None else 30 + int(_text_px(f"Target {target:g}{suffix}")),
            notes=["Shaded band: 95% confidence interval."] if lower and upper else [])
    _update_xaxes(fig, title_text=_esc(x_title), **_x_axis_for(date_format, len(work)))
    if date_format is None:
        _update_xaxes(fig, categoryorder="array", categoryarray=list(dict.fromkeys(xs)))
    pool = [values_all]
    if lower and upper:
        pool += [_numbers(work[lower]), _numbers(work[upper])]
    if target is not None:
        pool.append(np.array([float(target)]))
    allv = np.concatenate(pool)
    allv = allv[np.isfinite(allv)]
    hi = float(allv.max()) if len(allv) else 1.0
    lo = 0.0 if from_zero else (float(allv.min()) if len(allv) else 0.0)
    pad = (hi - lo) * 0.12 or 1.0
    _update_yaxes(fig, title_text=_esc(y_title), ticksuffix=suffix,
                     range=[lo if from_zero else lo - pad, hi + pad])
    if target is not None:
        fig.add_hline(y=float(target), line={"color": TARGET_RED, "dash": "dash", "width": 2})
        fig.add_annotation(x=1, xref="paper", y=float(target), yref="y", xanchor="left",
                           xshift=6, yanchor="middle", showarrow=False, name="target",
                           text=f"Target {_fmt_number(float(target), decimals, suffix)}",
                           font={"size": 12, "color": TARGET_RED})
    periods = [_plain(_fmt_period(v, date_format)) for v in xs]
    rows, parts = [], []
    for g in groups:
        mask = np.ones(len(work), bool) if g is None else (work[group] == g).to_numpy()
        where = np.flatnonzero(mask)
        for i in where:
            row = ([] if g is None else [_label(g, labels)]) + [periods[i], _fmt_number(values_all[i], decimals, suffix)]
            if lower and upper:
                row.append(interval_text(_number(work.at[i, lower]), _number(work.at[i, upper]),
                                         decimals, suffix))
            rows.append(row)
        if len(where):
            name = "" if g is None else f"{_plain(_label(g, labels))} "
            first, end = where[0], where[-1]
            parts.append(f"{name}from {_fmt_number(values_all[first], decimals, suffix)} in {periods[first]} to "
                         f"{_fmt_number(values_all[end], decimals, suffix)} in {periods[end]}")
    sentence = f"{_plain(title)}: {'; '.join(parts)}." if parts else f"{_plain(title)}: no values."
    columns = ([] if group is None else [_plain(_humanise(group))]) + [_plain(x_title), _plain(y_title)]
    columns += ["95% CI"] if lower and upper else []
    return _with_changes(_describe(fig, sentence, columns, rows), _mark_changes(fig, changes, xs, date_format))
