"""A review: what one report shows, already made safe for its audience.

Each report kind has a module in this package with ``build(analysis, audience, **options)``
that returns a :class:`Review`, and ``summary(analysis, audience, **options)`` that returns its
summary alone (for the runner, which writes it beside the report without building the pages).
A review holds *parts* (text, tables and chart inputs) in named sections, plus the
``summary.json`` of the same figures. Everything in it has been through the audience's rules
when it is built: an external review holds no row-level data and no unsuppressed counts, so
a notebook that only shows a review's parts cannot leak what the review does not hold.

Notebooks open a review with :func:`escalation_analysis.reviews.open` and then only narrate
and show its sections::

    review = reviews.open("contract-monitoring", inputs, start, end)
    review.show("kpis")

Charts are stored as a drawing function with its (safe) inputs, and drawn when shown, so
building a review to write its summary costs no plotting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from .display import Html

if TYPE_CHECKING:
    from .summary import Summary

Audience = Literal["internal", "external", "partners"]
AUDIENCES: tuple[str, ...] = ("internal", "external", "partners")


@dataclass(frozen=True)
class Text:
    """Markdown the package wrote, with every value from the data already escaped."""

    markdown: str


@dataclass(frozen=True)
class Table:
    """A table for readers, with its caption; ``if_empty`` is said instead of an empty table."""

    frame: pd.DataFrame
    caption: str
    percent: tuple[str, ...] = ()
    max_rows: int | None = None
    if_empty: str = ""


@dataclass(frozen=True)
class Chart:
    """A chart: the function that draws it and the inputs it draws from.

    ``inputs`` and ``options`` are everything the figure (hover text included) is made of,
    so checking them checks the chart.
    """

    draw: Callable[..., Any]
    inputs: tuple[Any, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    caption: str = ""

    def figure(self) -> Any:
        """The plotly figure."""
        return self.draw(*self.inputs, **self.options)


Part = Text | Table | Chart | Html
"""A part of a section: ``Html`` is markup the package wrote itself (the front sheet)."""


@dataclass
class Review:
    """One report's content for one audience: named sections of parts, and its summary."""

    kind: str
    audience: str
    title: str
    start: dt.date
    end: dt.date
    sections: dict[str, list[Part]]
    summary_data: Summary | Callable[[], Summary]
    """The summary, or the call that makes it when it is first asked for (a notebook that shows
    the pages never asks: the runner makes the summary itself, with the kind's audience rules)."""

    def show(self, section: str) -> None:
        """Put one section's parts on the page (in a notebook).

        The first call also embeds plotly.js (once per kernel), so every chart below draws.
        """
        from .display import section_anchor, setup, show_part

        setup()
        section_anchor(section)  # the front sheet's findings link here
        for part in self.section(section):
            show_part(part)

    def section(self, name: str) -> list[Part]:
        """The parts of a section; a one-sentence error names the sections there are."""
        if name not in self.sections:
            raise KeyError(f"The {self.kind} review has no section '{name}'; its sections are {', '.join(self.sections)}.")
        return self.sections[name]

    def parts(self) -> Iterator[tuple[str, Part]]:
        """Every (section, part), in report order."""
        for name, parts in self.sections.items():
            for part in parts:
                yield name, part

    def summary(self) -> Summary:
        """``summary.json`` and ``tables/*.csv`` of the same figures, for the same audience."""
        if callable(self.summary_data):
            self.summary_data = self.summary_data()
        return self.summary_data


class Sections:
    """Collects a review's sections in report order while a ``build`` function runs.

    ``add(name, *parts)`` appends parts to a section; a part that is None is skipped, so a
    builder can write ``add("teams", chart if enough else None)``.
    """

    def __init__(self) -> None:
        self._sections: dict[str, list[Part]] = {}

    def add(self, name: str, *parts: Part | None) -> None:
        self._sections.setdefault(name, []).extend(p for p in parts if p is not None)

    def text(self, name: str, markdown: str) -> None:
        self.add(name, Text(markdown))

    def table(self, name: str, frame: pd.DataFrame, caption: str, *, if_empty: str,
              percent: Sequence[str] = (), max_rows: int | None = None) -> None:
        self.add(name, Table(frame, caption, tuple(percent), max_rows, if_empty))

    def chart(self, name: str, draw: Callable[..., Any], *inputs: Any, caption: str = "", **options: Any) -> None:
        self.add(name, Chart(draw, inputs, options, caption))

    def result(self) -> dict[str, list[Part]]:
        return self._sections


def check_audience(kind_audience: str, audience: str | None) -> str:
    """The audience a review is built for: the kind's own unless a stricter one is asked for.

    An internal report may be built for outside readers (with their rules); an external or
    partner report is never built with internal rules.
    """
    chosen = audience or kind_audience
    if chosen not in AUDIENCES:
        raise ValueError(f"'{chosen}' is not an audience; choose one of {', '.join(AUDIENCES)}.")
    if kind_audience != "internal" and chosen == "internal":
        raise ValueError(f"This report is for {kind_audience} readers; it cannot be built with internal rules.")
    return chosen
