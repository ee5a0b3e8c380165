"""Small-number suppression for external and partner reports.

Contract-monitoring and pathway-review reports leave the organisation, so no figure in them may
let a reader identify, or count, fewer than a handful of people. The rule follows NHS Digital's
disclosure control for sub-national figures (see ``docs/privacy.md``) and the product
brief (section 3, "Suppression"):

* a count of 0 is shown as 0: an empty cell identifies nobody;
* a count from 1 to ``threshold`` (default 7) is shown as the marker ``"*"``;
* optionally every other count is rounded to the nearest ``round_to`` (5), and rates are then
  recomputed from the rounded counts, so an exact rate cannot give the exact count back;
* a rate is withheld (``None``, JSON ``null``) when any count it is built on is withheld;
* a simple statistic (median, 90th centile) is withheld when it summarises 1 to ``threshold``
  people;
* secondary suppression: a withheld count must not be recoverable by subtraction, either within a
  row (``within_target + not_within_target = n``) or down a column (the groups of a breakdown add
  up to the overall figure). When a sum has exactly one withheld cell, the smallest non-zero cell
  still shown in that sum is withheld too, and this repeats until every sum is safe;
* a final check solves all the sums together as a linear system, as a reader could; while it
  pins down a count of 1 to ``threshold``, the smallest shown non-zero cell in an equation with
  that count is withheld as well.

Counts that are not shown but that a reader can work out from shown counts (for example
``n - within_target``, the episodes not escalated within target) are protected in the same way:
they are declared as parts of a :class:`SumRule` without being output, and when one of them is
small, enough shown cells are withheld that it can no longer be worked out.

Public API
----------
:class:`SuppressionPolicy`
    The rule's settings: threshold, rounding, marker.
:class:`SumRule`, :class:`Rate`, :class:`SuppressionSpec`, :func:`timeliness_spec`
    Describe a table: which columns are counts, how they add up, what rates and statistics are
    built on them.
:func:`suppress_table`
    Suppress a group-level DataFrame (one row per group).
:func:`suppress_count`
    Suppress a single stand-alone count.
:func:`suppress_entry`, :func:`suppress_breakdown`, :func:`suppress_timeliness`
    Suppress the timeliness group entries of ``summary.json``.

Limits
------
The check guards against exact recovery from the declared sums. It does not bound intervals:
knowing that counts are whole and not negative can still narrow a withheld cell to a range (two
withheld cells that add up to 9 are each at most 9). Nor can it see figures it is not given:
suppress a table once and publish that one result everywhere (CSV, JSON, HTML). Each breakdown
is protected against its own overall total; differencing two breakdowns of the same episodes
against each other (team x band) is not checked.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_POLICY",
    "NHS_DIGITAL_SUBNATIONAL",
    "Rate",
    "SumRule",
    "SuppressionPolicy",
    "SuppressionSpec",
    "suppress_breakdown",
    "suppress_count",
    "suppress_entry",
    "suppress_table",
    "suppress_timeliness",
    "timeliness_spec",
]

_Counts = TypeVar("_Counts", pd.Series, pd.DataFrame)

#: Two-sided 95% normal quantile, as used for the Wilson interval elsewhere in the package.
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class SuppressionPolicy:
    """Settings of the small-number rule.

    Parameters
    ----------
    threshold : int, default 7
        Counts from 1 to ``threshold`` are withheld. 7 is NHS England's rule for sub-national
        figures.
    round_to : int or None, default None
        When set (NHS Digital uses 5), every count that is shown and not 0 is rounded to the
        nearest multiple, and rates are recomputed from the rounded counts. Rounding makes
        differencing between tables imprecise; it is an option because commissioners often want
        exact counts for larger groups.
    marker : str, default "*"
        What a withheld count is shown as.
    """

    threshold: int = 7
    round_to: int | None = None
    marker: str = "*"

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | np.integer):
            raise TypeError("threshold must be a whole number.")
        if self.threshold < 1:
            raise ValueError("threshold must be at least 1; small numbers would not be protected.")
        if self.round_to is not None:
            if isinstance(self.round_to, bool) or not isinstance(self.round_to, int | np.integer):
                raise TypeError("round_to must be a whole number or None.")
            if self.round_to < 1:
                raise ValueError("round_to must be a positive whole number (usually 5) or None.")
        if not isinstance(self.marker, str) or not self.marker:
            raise ValueError("marker must be a non-empty string such as '*'.")


#: Suppress 1-7, show exact counts otherwise (the package default).
DEFAULT_POLICY = SuppressionPolicy()
#: NHS Digital's sub-national rule: 1-7 withheld, other counts rounded to the nearest 5.
NHS_DIGITAL_SUBNATIONAL = SuppressionPolicy(threshold=7, round_to=5)


@dataclass(frozen=True)
class SumRule:
    """``total = sum(parts)`` holds in every row.

    Because of it, a reader who sees all but one of the cells can work the last one out, so a
    rule with exactly one withheld cell gets a second one withheld. A name that is not a shown
    count column is a *derived count*: it is worked out from the rule (at most one unknown per
    rule), protected like a shown count, and never output.

    Parameters
    ----------
    total : str
        The column (or derived count) that is the sum.
    parts : sequence of str
        The columns (or derived counts) that add up to ``total``.
    """

    total: str
    parts: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))
        if not self.parts:
            raise ValueError(f"SumRule for {self.total!r} needs at least one part.")
        names = (self.total, *self.parts)
        if len(set(names)) != len(names):
            raise ValueError(f"SumRule {self.total!r} = {' + '.join(self.parts)} repeats a name.")

    @property
    def names(self) -> tuple[str, ...]:
        """Parts first, then the total: the order in which secondary cells are chosen on ties."""
        return (*self.parts, self.total)


@dataclass(frozen=True)
class Rate:
    """A rate built on two counts: withheld when either count is withheld.

    Parameters
    ----------
    numerator, denominator : str
        Count columns (or derived counts) the rate is built on.
    kind : {"proportion", "wilson_low", "wilson_high"}, default "proportion"
        How the rate is recomputed from rounded counts: the proportion itself or a bound of its
        Wilson 95% interval (the interval of the product's compliance measure).
    scale : float, default 100.0
        Multiplier, 100 for percentages.
    decimals : int or None, default None
        Decimal places for a recomputed rate; None keeps full precision. Rates that are not
        recomputed (no rounding) are passed through as given.
    """

    numerator: str
    denominator: str
    kind: Literal["proportion", "wilson_low", "wilson_high"] = "proportion"
    scale: float = 100.0
    decimals: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("proportion", "wilson_low", "wilson_high"):
            raise ValueError(f"Unknown rate kind {self.kind!r}.")

    def compute(self, numerator: pd.Series, denominator: pd.Series) -> pd.Series:
        """Rate from (rounded) counts; NaN where the denominator is 0."""
        x = numerator.astype("float64")
        n = denominator.astype("float64").where(denominator > 0)
        p = x / n
        if self.kind == "proportion":
            value = p
        else:
            z2 = Z_95**2
            centre = (p + z2 / (2 * n)) / (1 + z2 / n)
            half = Z_95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n**2)) / (1 + z2 / n)
            value = centre - half if self.kind == "wilson_low" else centre + half
            value = value.clip(0.0, 1.0)
        value = value * self.scale
        return value.round(self.decimals) if self.decimals is not None else value


@dataclass(frozen=True)
class SuppressionSpec:
    """What the columns of a group-level table are, for :func:`suppress_table`.

    Every column of the table must be named here: an undeclared column raises an error rather
    than being published unchecked.

    Parameters
    ----------
    counts : sequence of str
        Count columns shown in the table (people or episodes). All must be present.
    sums : sequence of SumRule
        Additive relations between counts, including derived counts that are not shown.
    rates : mapping of str to Rate
        Rate columns and the counts they are built on. May name columns a given table lacks.
    statistics : mapping of str to str
        Statistic column (median, centile, mean) -> the count of people it summarises. Withheld
        when that count is 1 to ``threshold``. May name columns a given table lacks.
    labels : sequence of str
        Columns passed through unchanged (group names).
    """

    counts: tuple[str, ...]
    sums: tuple[SumRule, ...] = ()
    rates: Mapping[str, Rate] = field(default_factory=dict)
    statistics: Mapping[str, str] = field(default_factory=dict)
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("counts", "sums", "labels"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "rates", dict(self.rates))
        object.__setattr__(self, "statistics", dict(self.statistics))
        declared = [*self.counts, *self.rates, *self.statistics, *self.labels]
        dupes = sorted({c for c in declared if declared.count(c) > 1})
        if dupes:
            raise ValueError(f"Columns declared twice in the suppression spec: {dupes}.")
        known = set(self.all_counts)
        for column, rate in self.rates.items():
            missing = {rate.numerator, rate.denominator} - known
            if missing:
                raise ValueError(
                    f"Rate {column!r} is built on undeclared counts {sorted(missing)}."
                )
        for column, basis in self.statistics.items():
            if basis not in known:
                raise ValueError(f"Statistic {column!r} summarises undeclared count {basis!r}.")

    @property
    def derived_counts(self) -> tuple[str, ...]:
        """Counts named only in sum rules: worked out, protected, never output."""
        shown = set(self.counts)
        out: list[str] = []
        for rule in self.sums:
            out += [c for c in rule.names if c not in shown and c not in out]
        return tuple(out)

    @property
    def all_counts(self) -> tuple[str, ...]:
        """Shown counts followed by derived counts."""
        return (*self.counts, *self.derived_counts)


def timeliness_spec(
    not_within_target: str | None = "not_within_target", *, labels: Sequence[str] = ()
) -> SuppressionSpec:
    """Spec for the timeliness table and the ``summary.json`` timeliness entries.

    Counts: ``n`` episodes, ``within_target``, ``not_escalated`` and, if shown, the episodes not
    within target. Relations (product section 3, "Within target"):

    * ``n = within_target + not_within_target``;
    * ``not_within_target = escalated_late + not_escalated`` (no escalation counts as not within
      target);
    * ``n = escalated + not_escalated``.

    ``escalated_late`` and ``escalated`` (and ``not_within_target`` when not shown) are derived
    counts: protected but not output. ``within_target_pct`` and the Wilson bounds
    ``ci95_low_pct``/``ci95_high_pct`` are rates on ``within_target`` and ``n``; the delay median
    and 90th centile summarise the escalated episodes, so they are withheld when 1 to
    ``threshold`` episodes were escalated.

    Parameters
    ----------
    not_within_target : str or None, default "not_within_target"
        Name of the shown column ``n - within_target`` (e.g. ``"breaches"``), or None when the
        table does not show it (the ``summary.json`` entries).
    labels : sequence of str
        Columns to pass through unchanged, e.g. ``["team"]``.
    """
    complement = not_within_target or "not_within_target"
    counts = ["n", "within_target", "not_escalated"]
    if not_within_target:
        counts.insert(2, not_within_target)
    return SuppressionSpec(
        counts=tuple(counts),
        sums=(
            SumRule("n", ("within_target", complement)),
            SumRule(complement, ("escalated_late", "not_escalated")),
            SumRule("n", ("escalated", "not_escalated")),
        ),
        rates={
            "within_target_pct": Rate("within_target", "n"),
            "ci95_low_pct": Rate("within_target", "n", kind="wilson_low"),
            "ci95_high_pct": Rate("within_target", "n", kind="wilson_high"),
        },
        statistics={"median_delay_minutes": "escalated", "p90_delay_minutes": "escalated"},
        labels=tuple(labels),
    )


# --------------------------------------------------------------------------------------------
# Single counts


def suppress_count(value: int, policy: SuppressionPolicy = DEFAULT_POLICY) -> int | str:
    """Primary suppression (and rounding) of one stand-alone count.

    Use it only for a count that is not part of any sum published alongside it (for example
    the number of near misses in the period); otherwise use :func:`suppress_table`.

    Returns
    -------
    int or str
        0 for 0, ``policy.marker`` for 1 to ``threshold``, else the count (rounded if asked).
    """
    count = _whole_number(value, "count")
    if count == 0:
        return 0
    if count <= policy.threshold:
        return policy.marker
    return _round_counts(pd.Series([count]), policy.round_to).iloc[0].item()


# --------------------------------------------------------------------------------------------
# Tables


def suppress_table(
    table: pd.DataFrame,
    spec: SuppressionSpec,
    policy: SuppressionPolicy = DEFAULT_POLICY,
    *,
    total_row: Hashable | None = None,
    totals: Literal["sum"] | Mapping[str, int] | None = "sum",
) -> pd.DataFrame:
    """Suppress a group-level table (one row per group) for external output.

    Parameters
    ----------
    table : DataFrame
        One row per group. Every column must be declared in ``spec``. Not modified.
    spec : SuppressionSpec
        Which columns are counts, rates, statistics and labels, and how counts add up.
    policy : SuppressionPolicy
        Threshold, rounding and marker.
    total_row : hashable, optional
        Index label of a row holding the column totals of the other rows. It is suppressed along
        with them, and may itself be withheld to protect them.
    totals : "sum", mapping or None, default "sum"
        Only used without ``total_row``: the column totals a reader can know from elsewhere,
        typically an "overall" figure published next to a breakdown. ``"sum"`` (the safe
        default) assumes the column sums are published; a mapping gives them (one value per
        shown count column); None says no total of this table is published anywhere. Published
        totals are suppressed by the same rules but are never withheld to protect the table:
        the caller publishes them, so the table has to protect itself against them.

    Returns
    -------
    DataFrame
        Same index and columns, object dtype, JSON-ready values: counts are ``int`` or the
        marker; rates and statistics are ``float`` or ``None``; labels unchanged.

    Raises
    ------
    ValueError
        An undeclared column, a missing count column, a count that is negative, missing or not
        whole, or a sum rule that does not hold.
    """
    _check_columns(table, spec)
    if total_row is not None and totals not in (None, "sum"):
        raise ValueError("Give either total_row or totals, not both.")
    if total_row is not None and not (
        total_row in table.index and isinstance(table.index.get_loc(total_row), int | np.integer)
    ):
        raise ValueError(f"total_row {total_row!r} is not a single row of the table.")

    counts = _count_frame(table, spec)
    n_rows = len(counts)
    order = np.arange(n_rows)  # working row order: the total, if any, goes last
    external = None
    if total_row is not None:
        position = table.index.get_loc(total_row)
        order = np.r_[np.delete(order, position), position]
        counts = counts.iloc[order].reset_index(drop=True)
    elif totals is not None and n_rows:
        if isinstance(totals, str):
            if totals != "sum":
                raise ValueError("totals must be 'sum', a mapping of column totals, or None.")
            external = counts.sum()
        else:
            missing = [c for c in spec.counts if c not in totals]
            if missing:
                raise ValueError(f"totals lacks the count columns {missing}.")
            external = pd.Series({c: _whole_number(totals[c], c) for c in spec.counts})
        counts = pd.concat([counts, external.to_frame().T], ignore_index=True)
    values = _derive_counts(counts.astype("int64"), spec)

    hidden = _hide(
        values,
        spec,
        policy,
        column_sums=total_row is not None or external is not None,
        frozen_last_row=external is not None,
    )
    back = np.argsort(order)  # drops the published total row and restores the table's order
    values = values.iloc[back].set_axis(table.index)
    hidden = hidden.iloc[back].set_axis(table.index)
    return _render(table, spec, policy, values, hidden)


def _check_columns(table: pd.DataFrame, spec: SuppressionSpec) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError("suppress_table expects a pandas DataFrame.")
    if table.columns.has_duplicates:
        raise ValueError("The table has duplicate column names.")
    declared = {*spec.counts, *spec.rates, *spec.statistics, *spec.labels}
    undeclared = [c for c in table.columns if c not in declared]
    if undeclared:
        raise ValueError(
            f"Columns {undeclared} are not declared as counts, rates, statistics or labels, "
            "so they cannot be checked for small numbers."
        )
    clash = [c for c in spec.derived_counts if c in table.columns]
    if clash:
        raise ValueError(
            f"Columns {clash} are derived counts in the spec; declare them as counts."
        )
    missing = [c for c in spec.counts if c not in table.columns]
    if missing:
        raise ValueError(f"The table lacks the count columns {missing}.")


def _count_frame(table: pd.DataFrame, spec: SuppressionSpec) -> pd.DataFrame:
    """Shown counts as int64 with a RangeIndex, after checking they are whole and >= 0."""
    frame = table[list(spec.counts)].reset_index(drop=True)
    for column in spec.counts:
        series = frame[column]
        if series.dtype == bool or not pd.api.types.is_numeric_dtype(series):
            raise ValueError(f"Count column {column!r} is not numeric.")
        as_float = series.astype("float64")
        if as_float.isna().any():
            raise ValueError(f"Count column {column!r} has missing values.")
        if ((as_float < 0) | (as_float != np.floor(as_float))).any():
            raise ValueError(f"Count column {column!r} has negative or fractional values.")
        frame[column] = as_float.astype("int64")
    return frame


def _derive_counts(values: pd.DataFrame, spec: SuppressionSpec) -> pd.DataFrame:
    """Add the derived counts by solving sum rules with one unknown; check the others hold."""
    values = values.copy()
    pending = list(spec.sums)
    while pending:
        progress = False
        for rule in list(pending):
            unknown = [c for c in rule.names if c not in values.columns]
            if len(unknown) > 1:
                continue
            pending.remove(rule)
            progress = True
            parts_sum = values[[p for p in rule.parts if p not in unknown]].sum(axis=1)
            if not unknown:
                bad = values[rule.total] != parts_sum
                if bad.any():
                    raise ValueError(
                        f"{rule.total} = {' + '.join(rule.parts)} does not hold in "
                        f"{int(bad.sum())} row(s); the suppression would not protect them."
                    )
            elif unknown[0] == rule.total:
                values[rule.total] = parts_sum
            else:
                derived = values[rule.total] - parts_sum
                if (derived < 0).any():
                    raise ValueError(
                        f"Derived count {unknown[0]} = {rule.total} minus the other parts is "
                        "negative; the counts are inconsistent."
                    )
                values[unknown[0]] = derived
        if not progress:
            names = sorted({c for r in pending for c in r.names if c not in values.columns})
            raise ValueError(f"Derived counts {names} cannot be worked out from the sum rules.")
    return values[list(spec.all_counts)]


def _hide(
    values: pd.DataFrame,
    spec: SuppressionSpec,
    policy: SuppressionPolicy,
    *,
    column_sums: bool,
    frozen_last_row: bool,
) -> pd.DataFrame:
    """Which count cells to withhold: primary, then secondary until no small count is exposed.

    ``column_sums``: the last row holds the column totals of the other rows. ``frozen_last_row``:
    that total is published elsewhere, so it may not be withheld to protect the table.
    """
    v = values.to_numpy(dtype="int64")
    hidden = (v >= 1) & (v <= policy.threshold)
    eligible = v > 0  # zero stays 0: never withheld
    column_of = {c: i for i, c in enumerate(values.columns)}
    groups = [np.array([column_of[c] for c in rule.names]) for rule in spec.sums]
    derived = np.isin(values.columns, spec.derived_counts)

    def protect(rows: slice, with_columns: bool) -> None:
        args = (v[rows], hidden[rows], eligible[rows])
        _settle(*args, groups, column_sums=with_columns)
        _audit(*args, groups, derived, column_sums=with_columns, threshold=policy.threshold)

    if frozen_last_row and len(v):
        # The published total is suppressed on its own (as suppress_entry would), then fixed.
        protect(slice(len(v) - 1, len(v)), with_columns=False)
        eligible[-1] = False
    protect(slice(None), with_columns=column_sums)
    return pd.DataFrame(hidden, index=values.index, columns=values.columns)


def _audit(
    v: np.ndarray,
    hidden: np.ndarray,
    eligible: np.ndarray,
    groups: list[np.ndarray],
    derived: np.ndarray,
    *,
    column_sums: bool,
    threshold: int,
) -> None:
    """Withhold more cells (in place) until no small count can be solved for exactly.

    The sum rules and column totals form a linear system in the withheld and derived cells. A
    cell is exposed when the system fixes its value (its component is zero in every null-space
    vector). While a count of 1 to ``threshold`` is exposed, the smallest shown non-zero cell
    that shares an equation with it is withheld, and the sums are settled again. This catches
    what the one-sum-at-a-time rule misses, such as a withheld cell whose column partners are
    all 0 and whose total is published.
    """
    n_rows, n_cols = v.shape
    cell = np.arange(v.size).reshape(n_rows, n_cols)
    equations: list[tuple[np.ndarray, np.ndarray]] = []
    for cols in groups:  # parts then total
        for row in range(n_rows):
            coef = np.r_[-np.ones(len(cols) - 1), 1.0]
            equations.append((cell[row, cols], coef))
    if column_sums and n_rows > 1:
        for col in range(n_cols):
            coef = np.r_[-np.ones(n_rows - 1), 1.0]
            equations.append((cell[:, col], coef))
    if not equations:
        return
    system = np.zeros((len(equations), v.size))
    for k, (cells, coef) in enumerate(equations):
        system[k, cells] = coef
    small = ((v >= 1) & (v <= threshold)).ravel()
    given_up = np.zeros(v.size, dtype=bool)
    derived_cells = np.broadcast_to(derived, v.shape).ravel()
    for _ in range(2 * v.size):  # each pass withholds a cell or gives one up: this bounds it
        unknown = hidden.ravel() | derived_cells  # ravel copies when not C-ordered: read only
        exposed = unknown & small & ~given_up & _solvable(system, unknown)
        if not exposed.any():
            return
        target = int(np.flatnonzero(exposed)[0])
        partners = _connected_cells(system, target, unknown)
        # Only shown cells: a derived cell is never shown, so it cannot be withheld further.
        candidates = partners & ~hidden.ravel() & eligible.ravel() & ~derived_cells
        if not candidates.any():
            given_up[target] = True
            warnings.warn(
                "A small count could not be protected: its only partners are zeros or a "
                "published total. Check the totals passed to the suppression.",
                stacklevel=4,
            )
            continue
        pick = np.flatnonzero(candidates)[np.argmin(v.ravel()[candidates])]
        hidden[np.unravel_index(pick, v.shape)] = True
        _settle(v, hidden, eligible, groups, column_sums=column_sums)


def _connected_cells(system: np.ndarray, target: int, unknown: np.ndarray) -> np.ndarray:
    """Cells in any equation reachable from ``target`` through unknown cells.

    Withholding one of these can make the target unsolvable. Looking only at the target's own
    equations misses cases where it is pinned through a derived cell (e.g. escalated late =
    n - within target - not escalated, with not escalated fixed by a published total).
    """
    reached = np.zeros(system.shape[1], dtype=bool)
    reached[target] = True
    while True:
        rows = (system[:, reached] != 0).any(axis=1)
        cells = (system[rows] != 0).any(axis=0)
        grown = reached | (cells & unknown)
        if (grown == reached).all():
            return cells
        reached = grown


def _solvable(system: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Boolean per cell: unknown cells whose value the linear system determines."""
    result = np.zeros(unknown.shape, dtype=bool)
    sub = system[:, unknown]
    if sub.size == 0:
        return result
    _, singular, vt = np.linalg.svd(sub)
    rank = int((singular > 1e-9 * max(sub.shape)).sum())
    null_space = vt[rank:]
    result[unknown] = np.all(np.abs(null_space) < 1e-9, axis=0)
    return result


def _settle(
    v: np.ndarray,
    hidden: np.ndarray,
    eligible: np.ndarray,
    groups: list[np.ndarray],
    *,
    column_sums: bool,
) -> None:
    """Withhold more cells (in place) until no sum has exactly one withheld cell.

    Row sums are settled first; then one column at a time gets its second cell, and the rows
    are settled again before the next column. Fixing columns one by one avoids withholding a
    cell in a column that the rows are about to protect anyway.
    """
    while True:
        changed = True
        while changed:
            changed = False
            for cols in groups:
                changed |= _protect_lines(v[:, cols], hidden, eligible, cols=cols)
        if not (column_sums and _protect_lines(v.T, hidden.T, eligible.T, cols=None, first=True)):
            return


def _protect_lines(
    v: np.ndarray,
    hidden: np.ndarray,
    eligible: np.ndarray,
    *,
    cols: np.ndarray | None,
    first: bool = False,
) -> bool:
    """For each line (row of ``v``) with one withheld cell, withhold its smallest shown non-zero.

    ``cols`` selects the line's cells from the full ``hidden``/``eligible`` arrays; None means
    the line is a whole row of them. ``first`` fixes only the first such line. Returns whether
    anything changed.
    """
    sel = slice(None) if cols is None else cols
    line_hidden = hidden[:, sel]
    needs = line_hidden.sum(axis=1) == 1
    if not needs.any():
        return False
    none = np.iinfo(np.int64).max
    candidates = np.where(~line_hidden & eligible[:, sel], v, none)
    best = candidates.argmin(axis=1)  # first minimum: parts before the total, earlier rows first
    lines = np.flatnonzero(needs & (candidates.min(axis=1) < none))
    if not len(lines):
        return False
    if first:
        lines = lines[:1]
    picked = best[lines] if cols is None else cols[best[lines]]
    hidden[lines, picked] = True
    return True


def _round_counts(counts: _Counts, round_to: int | None) -> _Counts:
    """Round to the nearest multiple of ``round_to``, halves up (integers never tie for 5)."""
    if round_to is None:
        return counts
    return (np.floor(counts / round_to + 0.5) * round_to).astype("int64")


def _render(
    table: pd.DataFrame,
    spec: SuppressionSpec,
    policy: SuppressionPolicy,
    values: pd.DataFrame,
    hidden: pd.DataFrame,
) -> pd.DataFrame:
    """Build the object-dtype output from the counts and the withheld-cell mask."""
    shown_values = _round_counts(values, policy.round_to)
    out = pd.DataFrame(index=table.index)
    for column in table.columns:
        if column in spec.labels:
            result = table[column].astype(object)
        elif column in spec.counts:
            result = shown_values[column].astype(object)
            result[hidden[column]] = policy.marker
        elif column in spec.rates:
            rate = spec.rates[column]
            if policy.round_to is None:
                number = pd.to_numeric(table[column], errors="raise").astype("float64")
            else:
                number = rate.compute(shown_values[rate.numerator], shown_values[rate.denominator])
            withheld = hidden[rate.numerator] | hidden[rate.denominator]
            result = _floats(number.where(~withheld))
        else:
            basis = values[spec.statistics[column]]
            small = (basis >= 1) & (basis <= policy.threshold)
            number = pd.to_numeric(table[column], errors="raise").astype("float64")
            result = _floats(number.where(~small))
        out[column] = result.astype(object)
    return out


def _floats(series: pd.Series) -> pd.Series:
    """Float Series -> object Series of Python floats, with None for NaN and infinities."""
    finite = series.where(np.isfinite(series))
    return finite.astype(object).where(finite.notna(), None)


def _whole_number(value: Any, name: str) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be a whole number, not {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, not {value!r}.") from None
    if not math.isfinite(number) or number < 0 or number != int(number):
        raise ValueError(f"{name} must be a whole number of 0 or more, not {value!r}.")
    return int(number)


# --------------------------------------------------------------------------------------------
# summary.json group entries

_ENTRY_COUNTS = ("n", "within_target", "not_escalated")
_ENTRY_KEYS = (
    "n",
    "within_target",
    "within_target_pct",
    "ci95_pct",
    "not_escalated",
    "median_delay_minutes",
    "p90_delay_minutes",
)
_ENTRY_SPEC = timeliness_spec(not_within_target=None)


def suppress_entry(
    entry: Mapping[str, Any], policy: SuppressionPolicy = DEFAULT_POLICY
) -> dict[str, Any]:
    """Suppress one timeliness group entry shaped like ``summary.json``'s ``overall``.

    Keys: ``n``, ``within_target``, ``not_escalated`` (required counts) and optionally
    ``within_target_pct``, ``ci95_pct`` ([low, high]), ``median_delay_minutes``,
    ``p90_delay_minutes``. Rules are those of :func:`timeliness_spec`; a withheld CI is
    ``[None, None]`` so the shape stays the same. An empty entry is returned empty.

    Returns
    -------
    dict
        The same keys with JSON-ready values.
    """
    return _suppress_entries({"entry": entry}, policy, totals=None)["entry"]


def suppress_breakdown(
    entries: Mapping[str, Mapping[str, Any]],
    policy: SuppressionPolicy = DEFAULT_POLICY,
    *,
    overall: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Suppress the entries of one breakdown (``by_team``, ``by_band``...) together.

    Each entry is suppressed as in :func:`suppress_entry`, and across the entries so that no
    withheld count can be recovered by subtracting the shown groups from the overall figure.

    Parameters
    ----------
    entries : mapping of str to entry
        Group name -> entry.
    policy : SuppressionPolicy
    overall : entry, optional
        The published overall entry. Without it the overall is taken to be the sum of the
        entries, which is what a reader would assume; there is no "unpublished total" option
        because every report publishes its overall figure.

    Returns
    -------
    dict
        Group name -> suppressed entry, in the input order. The overall itself is not returned:
        suppress it with :func:`suppress_entry` and the same policy.
    """
    totals: Literal["sum"] | dict[str, int] = "sum"
    if overall:
        totals = {c: overall[c] for c in _ENTRY_COUNTS if c in overall}
    return _suppress_entries(entries, policy, totals=totals)


def suppress_timeliness(
    section: Mapping[str, Any], policy: SuppressionPolicy = DEFAULT_POLICY
) -> dict[str, Any]:
    """Suppress a whole ``timeliness`` section: ``overall`` and every ``by_*`` breakdown.

    Each breakdown is protected against the overall entry. Any other key raises, so a new
    figure cannot reach an external report without a suppression rule.

    Returns
    -------
    dict
        The same keys, suppressed.
    """
    unknown = [k for k in section if k != "overall" and not str(k).startswith("by_")]
    if unknown:
        raise ValueError(f"No suppression rule for timeliness keys {unknown}.")
    overall = section.get("overall")
    out: dict[str, Any] = {}
    for key, value in section.items():
        if key == "overall":
            out[key] = suppress_entry(value, policy)
        else:
            out[key] = suppress_breakdown(value, policy, overall=overall)
    return out


def _suppress_entries(
    entries: Mapping[str, Mapping[str, Any]],
    policy: SuppressionPolicy,
    *,
    totals: Literal["sum"] | Mapping[str, int] | None,
) -> dict[str, dict[str, Any]]:
    for name, entry in entries.items():
        unknown = [k for k in entry if k not in _ENTRY_KEYS]
        if unknown:
            raise ValueError(f"Entry {name!r} has keys {unknown} with no suppression rule.")
        missing = [k for k in _ENTRY_COUNTS if entry and k not in entry]
        if missing:
            raise ValueError(f"Entry {name!r} lacks the counts {missing}.")
    filled = {name: entry for name, entry in entries.items() if entry}
    if not filled:
        return {name: {} for name in entries}

    table = pd.DataFrame.from_records([_flatten(e) for e in filled.values()], index=list(filled))
    table = table.reindex(columns=[c for c in _FLAT_ORDER if c in table.columns])
    for column in table.columns:
        if column not in _ENTRY_COUNTS:
            table[column] = pd.to_numeric(table[column], errors="raise").astype("float64")
    suppressed = suppress_table(table, _ENTRY_SPEC, policy, totals=totals)

    out: dict[str, dict[str, Any]] = {}
    for name, entry in entries.items():
        if not entry:
            out[name] = {}
            continue
        row = suppressed.loc[name]
        result: dict[str, Any] = {}
        for key in entry:
            if key == "ci95_pct":
                result[key] = [row["ci95_low_pct"], row["ci95_high_pct"]]
            else:
                result[key] = row[key]
        out[name] = result
    return out


_FLAT_ORDER = (
    "n",
    "within_target",
    "not_escalated",
    "within_target_pct",
    "ci95_low_pct",
    "ci95_high_pct",
    "median_delay_minutes",
    "p90_delay_minutes",
)


def _flatten(entry: Mapping[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in entry.items() if k != "ci95_pct"}
    if "ci95_pct" in entry:
        ci = _pair(entry["ci95_pct"])
        flat["ci95_low_pct"], flat["ci95_high_pct"] = ci
    for key, value in flat.items():
        if value is None:
            flat[key] = np.nan
    return flat


def _pair(value: Iterable[Any] | None) -> tuple[Any, Any]:
    if value is None:
        return (None, None)
    pair = tuple(value)
    if len(pair) != 2:
        raise ValueError("ci95_pct must be a [low, high] pair.")
    return pair[0], pair[1]
