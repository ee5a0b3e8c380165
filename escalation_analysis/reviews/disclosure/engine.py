"""The disclosure engine: one policy applied to one table, knowing how its counts add up.

:func:`control` takes a table of true counts (one row per group, every count of the table's
:class:`~escalation_analysis.reviews.disclosure.cells.Family`), decides how each cell is
published, and returns a :class:`Draft`. The plan may then let the audit withhold further
cells (exact counts only) and turns each draft into a :class:`ControlledTable`, which holds
published values and marks and nothing else.

Rules (``policy`` is a :class:`~escalation_analysis.reviews.disclosure.policy.DisclosurePolicy`):

* 0 is shown as 0;
* a group whose own size (episodes, contacts, checks) is 1 to the threshold is a small group:
  its size is ``*`` and every other figure of it is ``[c]``, whatever its value, so that
  neither a 0 nor a mark says how many of the group had an outcome;
* otherwise a count of 1 to the threshold is ``*`` and other counts are shown, rounded when
  the policy rounds;
* a rate is ``[c]`` when a count it is built on is withheld, and is otherwise calculated from
  the counts as published (the rounded ones under rounding) to fixed decimal places, so every
  output prints the same number;
* a median or percentile is ``[c]`` when it summarises 1 to the threshold values.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ...measures.statistics import wilson_interval
from .cells import Cell, Check, Family, Figure, Period, count_figure, rate_figures
from .policy import DisclosurePolicy

SHOWN, SMALL, PROTECTED, NOT_SHOWN = "shown", "small", "protected", "not shown"
"""How a cell is published: a number, the small mark, the protected mark, or not at all."""


@dataclass(frozen=True)
class Rate:
    """A rate column built on two count columns."""

    numerator: str
    denominator: str
    kind: Literal["proportion", "wilson_low", "wilson_high"] = "proportion"
    decimals: int = 1
    scale: float = 100.0

    def compute(self, numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
        """The rate from counts (NaN where the denominator is 0), rounded to ``decimals``."""
        x = np.asarray(numerator, dtype=np.int64)
        n = np.asarray(denominator, dtype=np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.kind == "proportion":
                value = np.where(n > 0, x / np.where(n > 0, n, 1), np.nan)
            else:
                low, high = wilson_interval(x, n)
                value = np.asarray(low if self.kind == "wilson_low" else high, dtype=float)
        return np.round(value * self.scale, self.decimals)


@dataclass(frozen=True)
class TableSpec:
    """What the columns of a table are, for :func:`control`.

    Parameters
    ----------
    family : Family
        What the table counts. The truth given to :func:`control` has every column of it.
    size : str
        The count that makes a row a small group (``n`` episodes, ``checked``, ``contacts``).
    counts : tuple of str
        Count columns shown, in order.
    rates, statistics : mappings
        Rate columns and the counts they are built on; statistic columns (medians,
        percentiles) and the count of values each summarises.
    labels : tuple of str
        Columns shown as they are (group names, targets).
    headline : tuple of str
        A group's headline counts: secondary suppression avoids them in groups of
        ``policy.headline_group_size`` or more while any other choice exists.
    """

    family: Family
    size: str
    counts: tuple[str, ...]
    rates: Mapping[str, Rate] = field(default_factory=dict)
    statistics: Mapping[str, str] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    headline: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        needed = {self.size, *self.counts, *self.statistics.values(), *self.headline,
                  *(c for r in self.rates.values() for c in (r.numerator, r.denominator))}
        unknown = needed - set(self.family.columns)
        if unknown:
            raise ValueError(f"{sorted(unknown)} are not counts of {self.family.name}.")


@dataclass(frozen=True)
class RowKey:
    """The population a row counts: a period and one or more groups of a dimension (None: all)."""

    period: Period
    dimension: str | None = None
    groups: tuple[str, ...] = ()
    label: str = ""
    family: str | None = None
    """The row's own family, when a table's rows count different things (one pathway check each)."""

    def cell(self, family: str, column: str) -> Cell:
        return Cell(self.family or family, self.period, column, self.dimension, self.groups)


@dataclass
class Draft:
    """A table being controlled: its truth and the state of every count. Never published."""

    name: str
    spec: TableSpec
    policy: DisclosurePolicy
    keys: list[RowKey]
    labels: pd.DataFrame
    statistics: pd.DataFrame
    columns: tuple[str, ...]
    truth: np.ndarray
    """True counts, rows x ``columns`` (every column of the family)."""
    state: np.ndarray
    """SHOWN, SMALL, PROTECTED or NOT_SHOWN, rows x ``columns``."""
    merged_rows: dict[int, tuple[str, ...]] = field(default_factory=dict)
    not_applicable: dict[str, set[int]] = field(default_factory=dict)
    lists_every_group: bool = False
    """Every group with members in the period has a row (as in a breakdown), except ``left_out``:
    a reader then knows a group without a row has none, and the audit does too."""
    left_out: tuple[str, ...] = ()
    whole_column: np.ndarray | None = None
    """Cells withheld with the rest of their column, whatever their value (rows x ``columns``;
    None: none): unlike a ``[c]`` withheld on its own, such a cell may be 0 or 1 to the threshold."""
    _said: dict[str, list[Any]] = field(default_factory=dict, repr=False, compare=False)
    """figures() and checks() as of the current states: the audit asks again after every withholding."""

    def col(self, column: str) -> int:
        return self.columns.index(column)

    @property
    def sizes(self) -> np.ndarray:
        return self.truth[:, self.col(self.spec.size)]

    @property
    def small_groups(self) -> np.ndarray:
        sizes = self.sizes
        return (sizes >= 1) & (sizes <= self.policy.threshold)

    def only(self, keep: Iterable[bool]) -> Draft:
        """The same table with only some of its rows (those a report shows)."""
        mask = np.asarray(list(keep), dtype=bool)
        positions = np.flatnonzero(mask)
        renumber = {int(old): new for new, old in enumerate(positions)}
        return Draft(self.name, self.spec, self.policy, [self.keys[i] for i in positions],
                     self.labels[mask].reset_index(drop=True), self.statistics[mask].reset_index(drop=True),
                     self.columns, self.truth[mask], self.state[mask],
                     {renumber[r]: g for r, g in self.merged_rows.items() if r in renumber},
                     {k: {renumber[r] for r in v if r in renumber} for k, v in self.not_applicable.items()},
                     whole_column=None if self.whole_column is None else self.whole_column[mask])
        # (a report showing a few rows says nothing about the groups it does not show)

    def hide(self, row: int, column: str) -> None:
        """Withhold a shown count to protect another (secondary suppression)."""
        self.state[row, self.col(column)] = PROTECTED
        self._said.clear()

    def hide_whatever_value(self, row: int, column: str) -> None:
        """Withhold a count with the rest of its column, whether it is 0, small or shown.

        For a small count that other small counts add up to: six age bands each with 1 to 7
        episodes not escalated pin the total to 6 or 7, and no one shown count frees it. A reader
        learns nothing of such a cell (the audit takes it as any count from 0), so the column's
        small counts no longer add up to anything.
        """
        if self.whole_column is None:
            self.whole_column = np.zeros(self.state.shape, dtype=bool)
        j = self.col(column)
        self.state[row, j] = PROTECTED
        self.whole_column[row, j] = True
        self._said.clear()

    def label(self, row: int) -> str:
        key = self.keys[row]
        return key.label or ("all" if key.dimension is None else ", ".join(key.groups))

    def cell_label(self, row: int, column: str) -> str:
        return f"{self.name}: {self.label(row)}, {column}{_dates(self.keys[row].period)}"

    def cell(self, row: int, column: str) -> Cell:
        return self.keys[row].cell(self.spec.family.name, column)

    # -- what a reader learns -----------------------------------------------------------------

    def published_counts(self) -> np.ndarray:
        return self.policy.round_counts(self.truth)

    def intervals(self) -> tuple[np.ndarray, np.ndarray]:
        """For every cell, the range a reader knows it lies in from its own mark or number."""
        policy = self.policy
        shown = self.published_counts()
        low = np.zeros(self.truth.shape, dtype=float)
        high = np.full(self.truth.shape, np.inf)
        is_shown, is_small = self.state == SHOWN, self.state == SMALL
        if policy.round_to is None:
            low[is_shown], high[is_shown] = shown[is_shown], shown[is_shown]
        else:
            half_low, half_high = policy.round_to // 2, (policy.round_to - 1) // 2
            low[is_shown] = np.where(shown[is_shown] == 0, 0, np.maximum(shown[is_shown] - half_low, policy.smallest_shown))
            high[is_shown] = np.where(shown[is_shown] == 0, 0, shown[is_shown] + half_high)
        low[is_small], high[is_small] = 1, policy.threshold
        secondary = (self.state == PROTECTED) & ~self.small_groups[:, None]
        if self.whole_column is not None:
            secondary &= ~self.whole_column
        low[secondary] = policy.smallest_shown
        return low, high

    def local_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Sound outer bounds for every cell from its own row: what the row alone gives away.

        Interval arithmetic over the row's sums (``n = within + not within``...): the audit's
        linear programme can only narrow these, so a count whose bounds here cannot reach 1 to
        the threshold needs no programme at all.
        """
        low, high = self.intervals()
        sums = _sum_triples(self.spec.family)
        sizes = self.col(self.spec.size)
        small = self.small_groups
        high[small] = np.minimum(high[small], self.policy.threshold)  # parts of a small group
        low[small, sizes] = np.maximum(low[small, sizes], 1)
        low, high = _narrow(low.T.copy(), high.T.copy(), sums)
        return np.maximum(low.T, 0), high.T

    def figures(self) -> list[Figure]:
        """What every shown count and rate tells a reader (worked out once per state of the table)."""
        if "figures" not in self._said:
            self._said["figures"] = self._figures()
        return list(self._said["figures"])

    def _figures(self) -> list[Figure]:
        family = self.spec.family.name
        low, high = self.intervals()
        out: list[Figure] = []
        shown_columns = [self.col(c) for c in self.spec.counts]
        for row in range(len(self.keys)):
            for j in shown_columns:
                if self.state[row, j] in (SHOWN, SMALL) or (self.state[row, j] == PROTECTED and low[row, j] > 0):
                    column = self.columns[j]
                    out.append(count_figure(self.cell(row, column), low[row, j], high[row, j],
                                            self.cell_label(row, column)))
            if self.policy.round_to is None:  # a rate on exact counts says something about them
                for name, rate in self.spec.rates.items():
                    value = self._rates(rate)[row]
                    if rate.kind == "proportion" and np.isfinite(value):
                        out += rate_figures(self.keys[row].cell(family, rate.numerator),
                                            self.keys[row].cell(family, rate.denominator),
                                            float(value), rate.decimals, self.cell_label(row, name), rate.scale)
        return out + self._absent_groups()

    def _absent_groups(self) -> list[Figure]:
        """A breakdown without a row for a group says the group had none in that period."""
        if not self.lists_every_group:
            return []
        family = self.spec.family
        listed: dict[tuple, set[str]] = defaultdict(set)
        for key in self.keys:
            if key.dimension is not None:
                listed[(key.period, key.dimension, key.family)].update(key.groups)
        out = []
        for (period, dimension, own), groups in listed.items():
            for group in family.dimension(dimension).groups:
                if group not in groups and group not in self.left_out:
                    cell = RowKey(period, dimension, (group,), family=own).cell(family.name, self.spec.size)
                    out.append(count_figure(cell, 0, 0, f"{self.name}: no row for {group}"))
        return out

    def checks(self) -> list[Check]:
        """Every count a reader might want to work out: withheld, derivable, or merged away
        (worked out once per state of the table)."""
        if "checks" not in self._said:
            self._said["checks"] = self._checks()
        return list(self._said["checks"])

    def _checks(self) -> list[Check]:
        family = self.spec.family
        low, high = self.local_bounds()
        marks = {SMALL: self.policy.marks.small, PROTECTED: self.policy.marks.protected, NOT_SHOWN: "not shown"}
        out: list[Check] = []
        small = self.small_groups
        for row, key in enumerate(self.keys):
            for j, column in enumerate(self.columns):
                if self.state[row, j] == SHOWN:
                    continue
                group = self.cell(row, self.spec.size) if small[row] and column != self.spec.size else None
                out.append(Check(self.cell(row, column), self.cell_label(row, column), marks[self.state[row, j]],
                                 self.name, self.label(row), column, float(low[row, j]), float(high[row, j]), group))
            for group in self.merged_rows.get(row, ()):
                member = RowKey(key.period, key.dimension, (group,), family=key.family)
                size_high = float(high[row, self.col(self.spec.size)])
                for column in family.columns:
                    out.append(Check(member.cell(family.name, column), f"{self.name}: {group} (merged), {column}",
                                     "merged", self.name, group, column, 0.0, size_high))
        return out

    def headline_cost(self, row: int, column: str) -> tuple[int, int, int, int]:
        """Preference for withholding a shown count: others first, big groups' headlines last,
        and among those the smallest group (never the group whose figure is lowest, which is
        the one a reader most needs to see)."""
        size = int(self.sizes[row])
        headline = column in self.spec.headline or column == self.spec.size
        big = size >= self.policy.headline_group_size
        overall = self.keys[row].dimension is None
        return (int(headline and big) + int(overall), int(headline), size, int(self.truth[row, self.col(column)]))

    # -- publishing -----------------------------------------------------------------------

    def _rates(self, rate: Rate) -> np.ndarray:
        """The rate per row as published: NaN where withheld or not defined."""
        shown = self.published_counts()
        numerator, denominator = self.col(rate.numerator), self.col(rate.denominator)
        values = rate.compute(shown[:, numerator], shown[:, denominator])
        withheld = ((self.state[:, numerator] != SHOWN) | (self.state[:, denominator] != SHOWN)
                    | self.small_groups)
        return np.where(withheld, np.nan, values)

    def finish(self) -> ControlledTable:
        """The published table: values and marks, no truth."""
        marks = self.policy.marks
        columns: dict[str, Any] = {c: self.labels[c].astype(object).tolist() for c in self.labels.columns}
        states: dict[str, Any] = {}
        shown = self.published_counts()
        for column in self.spec.counts:
            j = self.col(column)
            values = np.where(self.state[:, j] == SMALL, marks.small,
                              np.where(self.state[:, j] == PROTECTED, marks.protected, None)).astype(object)
            plain = self.state[:, j] == SHOWN
            values[plain] = [int(v) for v in shown[plain, j]]
            columns[column] = values
            states[column] = self.state[:, j]
        small = self.small_groups
        for name, rate in self.spec.rates.items():
            numerator, denominator = self.col(rate.numerator), self.col(rate.denominator)
            withheld = (self.state[:, numerator] != SHOWN) | (self.state[:, denominator] != SHOWN) | small
            applicable = np.ones(len(self.keys), dtype=bool)
            applicable[list(self.not_applicable.get(name, ()))] = False
            columns[name] = _floats(np.where(applicable, self._rates(rate), np.nan))
            states[name] = np.where(withheld & applicable, PROTECTED, SHOWN)
        for name, basis in self.spec.statistics.items():
            counts = self.truth[:, self.col(basis)]
            withheld = small | ((counts >= 1) & (counts <= self.policy.threshold))
            values = pd.to_numeric(self.statistics[name], errors="coerce").to_numpy(dtype=float)
            columns[name] = _floats(np.where(withheld, np.nan, np.round(values, 1)))
            states[name] = np.where(withheld, PROTECTED, SHOWN)
        frame = _object_frame(columns, len(self.keys))
        return ControlledTable(self.name, frame, pd.DataFrame(states, index=frame.index), self.policy,
                               tuple(self.figures()), tuple(self.checks()), merged=bool(self.merged_rows),
                               whole_columns=self.whole_column is not None and bool(self.whole_column.any()))


def _object_frame(columns: Mapping[str, Any], rows: int) -> pd.DataFrame:
    """Columns of Python values as one object frame, filled in place: a Series per column made
    most of the cost of publishing a table of a few rows."""
    data = np.empty((rows, len(columns)), dtype=object)
    for j, values in enumerate(columns.values()):
        data[:, j] = values
    return pd.DataFrame(data, columns=list(columns), dtype=object)


@functools.lru_cache(maxsize=1024)
def _dates(period: Period) -> str:
    """`` (01/10/2025 to 31/12/2025)`` for a label, nothing for all time: formatted once per
    period, as a plan labels thousands of cells of a few dozen periods."""
    start, end = period
    return "" if start == dt.date.min or end == dt.date.max else f" ({start:%d/%m/%Y} to {end:%d/%m/%Y})"


def _floats(values: np.ndarray) -> list[float | None]:
    """Python floats, None where not finite (kept None in an object column)."""
    return [None if not np.isfinite(v) else float(v) for v in values]


def _narrow(low: np.ndarray, high: np.ndarray, sums: list[tuple[int, int, int]], rounds: int = 3
            ) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``rounds`` passes of interval arithmetic over the sums, on bounds laid out column by
    row (a column is then one contiguous row, narrowed in place), stopping at the first pass that
    changes nothing: every later pass would repeat it."""
    for _ in range(rounds):
        before = low.copy(), high.copy()
        for whole, a, b in sums:
            np.maximum(low[whole], low[a] + low[b], out=low[whole])
            np.minimum(high[whole], high[a] + high[b], out=high[whole])
            for part, other in ((a, b), (b, a)):
                np.maximum(low[part], low[whole] - high[other], out=low[part])
                np.minimum(high[part], high[whole] - low[other], out=high[part])
        if np.array_equal(low, before[0]) and np.array_equal(high, before[1]):
            break
    return low, high


def _sum_triples(family: Family) -> list[tuple[int, int, int]]:
    """(whole, part, part) column positions where two columns' outcomes make up a third's."""
    columns = list(family.columns)
    sets = {c: frozenset(family.columns[c]) for c in columns}
    out = []
    for whole in columns:
        for i, a in enumerate(columns):
            for b in columns[i + 1:]:
                if not (sets[a] & sets[b]) and sets[a] | sets[b] == sets[whole]:
                    out.append((columns.index(whole), columns.index(a), columns.index(b)))
    return out


@dataclass(frozen=True)
class ControlledTable:
    """A table as external readers get it: published values, and how each was published.

    ``frame`` holds labels, counts (``int`` or a mark), rates and statistics (``float`` or
    None). ``states`` says for each count, rate and statistic whether it is shown, small (the
    ``*`` mark) or protected (``[c]``). ``figures`` and ``checks`` are the table's part of the
    disclosure audit. Nothing here is a true count that was not published.
    """

    name: str
    frame: pd.DataFrame
    states: pd.DataFrame
    policy: DisclosurePolicy
    figures: tuple[Figure, ...] = ()
    checks: tuple[Check, ...] = ()
    merged: bool = False
    whole_columns: bool = False
    """Some of its counts were withheld with the rest of their column (:meth:`Draft.hide_whatever_value`)."""

    @property
    def empty(self) -> bool:
        return self.frame.empty

    def marks_used(self) -> set[str]:
        states = self.states.to_numpy(dtype=object)  # (compared as Python strings: a table is small, its frame's compare is not)
        used = set()
        if (states == SMALL).any():
            used.add(self.policy.marks.small)
        if (states == PROTECTED).any():
            used.add(self.policy.marks.protected)
        return used

    def for_readers(self) -> pd.DataFrame:
        """The frame with each withheld rate or statistic shown as its mark (for tables)."""
        out = self.frame.copy()
        for column in self.states.columns:
            hidden = (self.states[column] == PROTECTED).to_numpy() & out[column].isna().to_numpy()
            if hidden.any():
                out[column] = out[column].astype(object).where(~hidden, self.policy.marks.protected)
        return out

    def row(self, column: str, value: Any) -> dict[str, Any]:
        """One row as a dict, found by a label column's value."""
        matches = np.flatnonzero((self.frame[column] == value).to_numpy())
        if not len(matches):
            raise KeyError(f"{self.name} has no row where {column} is {value!r}.")
        return self.frame.iloc[matches[0]].to_dict()


def control(name: str, truth: pd.DataFrame, spec: TableSpec, policy: DisclosurePolicy,
            keys: Sequence[RowKey], *, labels: pd.DataFrame | None = None,
            statistics: pd.DataFrame | None = None, merged_rows: Mapping[int, tuple[str, ...]] | None = None,
            not_applicable: Mapping[str, Iterable[int]] | None = None, lists_every_group: bool = False,
            left_out: Sequence[str] = ()) -> Draft:
    """Primary disclosure control of one table: small numbers, small groups, rounding.

    Parameters
    ----------
    name : str
        The table's name (``timeliness_by_team``), used in the audit's labels.
    truth : DataFrame
        One row per key; every count column of ``spec.family``, whole numbers >= 0.
    keys : sequence of RowKey
        The population each row counts.
    labels, statistics : DataFrame, optional
        Label columns and statistic columns, one row per key.
    merged_rows : mapping, optional
        Row position -> groups that were added together into that row.
    not_applicable : mapping, optional
        Rate or statistic -> rows where it has no meaning (left blank, not marked).
    lists_every_group, left_out : optional
        The table has a row for every group with members, except the groups ``left_out``.
    """
    family = spec.family
    columns = tuple(family.columns)
    missing = [c for c in columns if c not in truth.columns]
    if missing:
        raise ValueError(f"The counts for {name} lack {missing}.")
    if len(keys) != len(truth):
        raise ValueError(f"{name}: {len(keys)} row keys for {len(truth)} rows.")
    values = np.column_stack([truth[c].to_numpy(dtype=float) for c in columns])  # cheaper than a sub-frame
    if np.isnan(values).any() or (values < 0).any() or (values != np.floor(values)).any():
        raise ValueError(f"{name}: counts must be whole numbers of 0 or more.")
    counts = values.astype(np.int64)
    size = counts[:, columns.index(spec.size)]
    small_group = (size >= 1) & (size <= policy.threshold)
    state = np.full(counts.shape, NOT_SHOWN, dtype=object)
    for column in spec.counts:
        j = columns.index(column)
        small = (counts[:, j] >= 1) & (counts[:, j] <= policy.threshold)
        state[:, j] = np.where(small, SMALL, SHOWN)
        if column != spec.size:
            state[small_group, j] = PROTECTED
    rows = len(truth)
    label_frame = labels if labels is not None else pd.DataFrame(index=range(rows))
    stats_frame = statistics if statistics is not None else pd.DataFrame(index=range(rows))
    return Draft(name, spec, policy, list(keys), label_frame.reset_index(drop=True), stats_frame.reset_index(drop=True),
                 columns, counts, state, dict(merged_rows or {}), {k: set(v) for k, v in (not_applicable or {}).items()},
                 lists_every_group, tuple(left_out))
