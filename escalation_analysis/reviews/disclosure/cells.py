"""What a published count is a count of, and how counts add up: the language of the audit.

A published count is the number of members of a *population* with some *outcome*: episodes of
North CMHT between 1 October and 31 December that were escalated within target. Populations
are related by addition, which is how an attacker works hidden counts out: teams add up to
all episodes, the three months add up to the quarter, evening, weekend and bank-holiday
episodes add up to out of hours, within target plus late plus not escalated is every episode.

* a :class:`Family` is one kind of thing counted (episodes, adherence checks, agency
  contacts, rows of the export) with the disjoint *outcomes* its count columns add up from
  and the *dimensions* it is broken down by;
* a :class:`Cell` is one count: family, period, column, and the group(s) of one dimension
  (several groups when small groups were merged into one row);
* a :class:`Figure` is what a published number tells an attacker: a linear combination of
  cells lies between two bounds (a count rounded to 15 is 13 to 17; ``*`` is 1 to 7; a rate
  printed as 81.6% bounds within target against episodes);
* a :class:`Check` is a cell the audit must show cannot be narrowed down.

Nothing here holds a true count: these objects are safe to keep in an external report's
namespace.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

Period = tuple[dt.date, dt.date]
"""First and last day, inclusive."""
ALL_TIME: Period = (dt.date.min, dt.date.max)
"""The period of counts that do not depend on dates (rows read from the export)."""


@dataclass(frozen=True)
class Dimension:
    """A breakdown of a family: its groups, whether they split every member exactly once.

    Parameters
    ----------
    name : str
        Column name, e.g. ``"team"``.
    groups : tuple of str
        Every group, including those never published (an attacker knows they exist).
    partition : bool
        True when every member is in exactly one group (teams); False when a member may be in
        several or none (agencies contacted).
    coarsens : str, optional
        A finer dimension this one adds up from, with ``mapping`` finer group -> group: "out of
        hours" is weekday evening/night + weekend + bank holiday.
    """

    name: str
    groups: tuple[str, ...]
    partition: bool = True
    coarsens: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """One kind of thing counted, the disjoint outcomes its counts add up from, its breakdowns.

    ``columns`` maps each count column to the outcomes it adds up (``n`` is every outcome,
    ``not_within_target`` is late plus not escalated). ``timed`` is False for counts that do
    not depend on the period (rows in the export).
    """

    name: str
    outcomes: tuple[str, ...]
    columns: Mapping[str, tuple[str, ...]]
    dimensions: Mapping[str, Dimension] = field(default_factory=dict)
    timed: bool = True

    def __post_init__(self) -> None:
        for column, outcomes in self.columns.items():
            unknown = set(outcomes) - set(self.outcomes)
            if unknown or not outcomes:
                raise ValueError(f"Column {column!r} of {self.name} adds up unknown outcomes {sorted(unknown)}.")

    def dimension(self, name: str) -> Dimension:
        if name not in self.dimensions:
            raise KeyError(f"{self.name} has no breakdown by {name!r}.")
        return self.dimensions[name]


@dataclass(frozen=True)
class Cell:
    """One count: ``column`` of the members of ``groups`` of ``dimension`` in ``period``.

    ``dimension`` None means every member of the family (the overall figure).
    """

    family: str
    period: Period
    column: str
    dimension: str | None = None
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.dimension is None) != (not self.groups):
            raise ValueError("A cell names groups exactly when it names a dimension.")


@dataclass(frozen=True)
class Figure:
    """What a published number says: ``low <= sum(coefficient * cell) <= high``."""

    terms: tuple[tuple[float, Cell], ...]
    low: float
    high: float
    label: str
    cell: Cell | None = None
    """The count cell this figure publishes, when it is one (the audit may propose hiding it)."""


@dataclass(frozen=True)
class Check:
    """A count the audit must show cannot be narrowed to fewer than a policy's possible values."""

    cell: Cell
    label: str
    shown_as: str
    """The mark shown (``*``, ``[c]``) or ``"not shown"`` for a count a reader could derive."""
    table: str = ""
    row: str = ""
    column: str = ""
    low: float = 0.0
    high: float = float("inf")
    """Sound outer bounds from the figure's own row: the audit can only narrow them."""
    group: Cell | None = None
    """For a figure of a small group (size shown as the small mark): the group's size."""


def count_figure(cell: Cell, low: int, high: int, label: str) -> Figure:
    """A published count: the cell lies between ``low`` and ``high``."""
    return Figure(((1.0, cell),), float(low), float(high), label, cell)


def rate_figures(numerator: Cell, denominator: Cell, printed: float, decimals: int, label: str,
                 scale: float = 100.0) -> list[Figure]:
    """A rate printed to ``decimals`` places: ``low/scale * den <= num <= high/scale * den``."""
    half = 0.5 * 10.0 ** -decimals + 1e-9
    low, high = (printed - half) / scale, (printed + half) / scale
    return [
        Figure(((1.0, numerator), (-low, denominator)), 0.0, float("inf"), label),
        Figure(((1.0, numerator), (-high, denominator)), float("-inf"), 0.0, label),
    ]
