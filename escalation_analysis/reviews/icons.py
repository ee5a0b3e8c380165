"""Making Data Count variation and assurance icons, drawn by the package as inline SVG.

Board readers know NHS England's summary icons ("Strengthening your decisions", Making Data
Count): a variation icon for what the SPC rules say about the latest point, and an assurance
icon for where the target lies against the process limits. These are our own drawings with
the same meanings, so a report needs no image files and opens offline:

* variation: common cause (grey, points level); special cause improving or concerning, high
  or low (blue or orange, the last points rising or falling, with an H or L); special cause
  where neither direction is better (purple, H or L);
* assurance: consistently met (blue, P), consistently missed (orange, F), hit and miss (grey,
  a target line crossing the points).

Colours follow the conventions: blue improvement, orange concern, grey common cause; never red,
amber and green. Each colour has at least 3:1 contrast on white (WCAG 2.2 non-text contrast),
and meaning never rests on colour alone: the letter, the shape of the points and the text
equivalent say it too. Every icon carries its text equivalent as ``aria-label`` and
``<title>``; :func:`icon_with_text` writes it beside the icon as well, for print and for
readers who do not know the icons.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

__all__ = [
    "ASSURANCE",
    "COLOURS",
    "VARIATION",
    "Icon",
    "assurance_icon",
    "icon_with_text",
    "variation_icon",
]

COLOURS: dict[str, str] = {
    "improvement": "#005EB8",  # NHS Blue, 6.4:1 on white
    "concern": "#C65F00",  # a deep orange, 4.2:1 on white (MDC's #ED8B00 is 2.5:1)
    "common_cause": "#6B7175",  # grey, 5.0:1
    "neutral": "#490092",  # purple, 12.4:1
}
"""Icon and SPC point colours by meaning, each at least 3:1 against white."""


@dataclass(frozen=True)
class Icon:
    """One icon's meaning: a short label for tables and the full text equivalent."""

    code: str
    label: str
    text: str
    colour: str


VARIATION: dict[str, Icon] = {
    icon.code: icon
    for icon in (
        Icon("common_cause", "Common cause", "Variation: common cause, no significant change",
             COLOURS["common_cause"]),
        Icon("improvement_high", "Improvement (high)",
             "Variation: special cause of improvement, unusually high values", COLOURS["improvement"]),
        Icon("improvement_low", "Improvement (low)",
             "Variation: special cause of improvement, unusually low values", COLOURS["improvement"]),
        Icon("concern_high", "Concern (high)",
             "Variation: special cause of concern, unusually high values", COLOURS["concern"]),
        Icon("concern_low", "Concern (low)",
             "Variation: special cause of concern, unusually low values", COLOURS["concern"]),
        Icon("neutral_high", "Unusually high",
             "Variation: special cause, unusually high values, neither better nor worse", COLOURS["neutral"]),
        Icon("neutral_low", "Unusually low",
             "Variation: special cause, unusually low values, neither better nor worse", COLOURS["neutral"]),
    )
}
"""The variation icons by the names :class:`~escalation_analysis.measures.spc.SPCResult` uses."""

ASSURANCE: dict[str, Icon] = {
    icon.code: icon
    for icon in (
        Icon("consistent_pass", "Consistently met",
             "Assurance: the target will be met consistently (it lies beyond the process limits "
             "on the good side)", COLOURS["improvement"]),
        Icon("consistent_fail", "Consistently missed",
             "Assurance: the target will be missed consistently (it lies beyond the process "
             "limits on the bad side)", COLOURS["concern"]),
        Icon("inconsistent", "Hit and miss",
             "Assurance: hit and miss, the target lies within the process limits",
             COLOURS["common_cause"]),
    )
}
"""The assurance icons by the names :class:`~escalation_analysis.measures.spc.SPCResult` uses."""

_SIZE = 40

_XS = (8, 12, 16, 20, 24, 28, 32)
"""Where an icon's seven points stand across it."""


def _svg(icon: Icon, body: str, size: int) -> str:
    label = html.escape(icon.text, quote=True)
    return (
        f'<svg class="ea-icon" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_SIZE} {_SIZE}" '
        f'width="{size}" height="{size}" role="img" aria-label="{label}" focusable="false">'
        f"<title>{label}</title>"
        f'<circle cx="20" cy="20" r="18" fill="#FFFFFF" stroke="{icon.colour}" stroke-width="2.5"/>'
        f"{body}</svg>"
    )


def _dots(ys: tuple[float, ...], colours: list[str]) -> str:
    """Seven points at :data:`_XS` joined by a thin line, each in its colour."""
    points = list(zip(_XS, ys, strict=True))
    line = " ".join(f"{x:g},{y:g}" for x, y in points)
    out = [f'<polyline points="{line}" fill="none" stroke="#6B7175" stroke-width="1"/>']
    out += [f'<circle cx="{x:g}" cy="{y:g}" r="2" fill="{c}"/>' for (x, y), c in zip(points, colours, strict=True)]
    return "".join(out)


def _letter(text: str, y: float, colour: str) -> str:
    return (
        f'<text x="20" y="{y:g}" text-anchor="middle" font-family="Arial, Helvetica, sans-serif" '
        f'font-size="11" font-weight="700" fill="{colour}">{text}</text>'
    )


def variation_icon(code: str, size: int = 28) -> str:
    """The SVG for a variation icon (``common_cause``, ``concern_high`` ...).

    Raises
    ------
    KeyError
        For a name that is not a variation icon.
    """
    icon = VARIATION[code]
    grey = COLOURS["common_cause"]
    if code == "common_cause":
        ys = (22, 19, 23, 20, 22, 19, 21)
        return _svg(icon, _dots(ys, [grey] * 7), size)
    high = code.endswith("_high")
    # level points, then the last three run away from the centre line: up for high, down for low
    ys = (21, 23, 21, 22, 17, 14, 11) if high else (19, 17, 19, 18, 23, 26, 29)
    colours = [grey] * 4 + [icon.colour] * 3
    letter = _letter("H" if high else "L", 33 if high else 14, icon.colour)
    return _svg(icon, _dots(ys, colours) + letter, size)


def assurance_icon(code: str, size: int = 28) -> str:
    """The SVG for an assurance icon (``consistent_pass``, ``consistent_fail``, ``inconsistent``).

    Raises
    ------
    KeyError
        For a name that is not an assurance icon.
    """
    icon = ASSURANCE[code]
    target = f'<line x1="7" y1="28" x2="33" y2="28" stroke="{icon.colour}" stroke-width="2" stroke-dasharray="3 2"/>'
    if code == "inconsistent":
        ys = (31, 25, 30, 24, 31, 26, 30)
        return _svg(icon, target + _dots(ys, [icon.colour] * 7)
                    + _letter("?", 16, icon.colour), size)
    letter = "P" if code == "consistent_pass" else "F"
    return _svg(icon, target + _letter(letter, 22, icon.colour).replace('font-size="11"', 'font-size="15"'), size)


def icon_with_text(kind: str, code: str | None, size: int = 28) -> str:
    """An icon followed by its short label, as HTML for a table cell; a dash when there is none.

    ``kind`` is ``"variation"`` or ``"assurance"``. The short label shows in print and in the
    text of a PDF; the full text equivalent is the icon's accessible name.
    """
    table = VARIATION if kind == "variation" else ASSURANCE
    if code is None or code not in table:
        return '<span class="ea-icon-none">–</span>'
    draw = variation_icon if kind == "variation" else assurance_icon
    return (
        f'<span class="ea-icon-cell">{draw(code, size)}'
        f'<span class="ea-icon-label" aria-hidden="true">{html.escape(table[code].label)}</span></span>'
    )
