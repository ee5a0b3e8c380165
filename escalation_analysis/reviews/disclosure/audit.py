"""The disclosure audit: what an attacker can work out from everything a run publishes.

For every withheld figure, and every count a reader could derive without it being printed,
the audit finds the smallest and largest value consistent with *every* number published in
the run's external outputs, by linear programming (HiGHS, as :func:`scipy.optimize.linprog` runs it):

* the unknowns are counts of disjoint outcomes (within target, late, not escalated) per group
  and per stretch of time between the periods' boundaries;
* equalities are the additive structure: groups add up to the overall figure, finer groups
  to coarser ones (evening + weekend + bank holiday = out of hours), months to the quarter;
* each published number is a range: an exact count is itself, a count rounded to 15 is 13 to
  17, ``*`` is 1 to 7, a rate printed as 81.6% bounds within target against episodes.

A count of 1 to 7 (the policy's threshold) that can be narrowed to fewer than 4 possible
values (the policy's ``min_possible_values``), or a small group whose members can all be
shown to share an outcome (none, or every one, within target), makes the report unsafe:
:meth:`AuditResult.raise_if_unsafe` withholds it with a message naming the figure.

The audit sees only published figures, never the true counts: it is the attacker's view, and
its result (``audit.json``) is safe to publish beside the report.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from ...errors import EscalationAnalysisError
from .cells import ALL_TIME, Cell, Check, Family, Figure, Period
from .policy import DisclosurePolicy

_EPS = 1e-6
_MARGIN = 5e-7
"""How far an optimum found warm must be from a turning point of :attr:`Finding.possible` (a whole
number plus or minus ``_EPS``) to be trusted as the cold solve's: two optima of one programme
differ by far less (no difference at all in any solve of the demo's audits)."""


class DisclosureError(EscalationAnalysisError):
    """A report was withheld because a small count could be worked out from what it publishes."""


@dataclass(frozen=True)
class Finding:
    """What the published figures say about one checked count."""

    check: Check
    low: float
    high: float
    safe: bool
    reason: str = ""
    pinned_by: tuple[str, ...] = ()
    pinned_cells: tuple[Cell, ...] = ()
    """The published counts whose figures pin it down (candidates to withhold)."""

    @property
    def possible(self) -> tuple[int, int | None]:
        """The whole numbers the count could be: (lowest, highest or None for no limit)."""
        low = max(0, math.ceil(self.low - _EPS))
        high = None if math.isinf(self.high) else math.floor(self.high + _EPS)
        return low, high

    @property
    def values(self) -> int | None:
        """How many whole numbers the count could be (None: no upper limit)."""
        low, high = self.possible
        return None if high is None else max(0, high - low + 1)

    def to_dict(self) -> dict[str, Any]:
        low, high = self.possible
        out = {"figure": self.check.label, "table": self.check.table, "row": self.check.row,
               "column": self.check.column, "shown_as": self.check.shown_as,
               "interval": [low, high], "possible_values": self.values, "safe": self.safe}
        if not self.safe:
            out["reason"] = self.reason
            out["pinned_by"] = list(self.pinned_by)
        return out


@dataclass
class AuditResult:
    """Every finding of one audit, and whether the outputs are safe to publish."""

    policy: DisclosurePolicy
    findings: list[Finding]
    figures: int
    scope: list[str] = field(default_factory=list)

    @property
    def unsafe(self) -> list[Finding]:
        return [f for f in self.findings if not f.safe]

    @property
    def safe(self) -> bool:
        return not self.unsafe

    def message(self, report: str = "report") -> str:
        """One sentence naming the first figure that could be worked out."""
        if self.safe:
            return f"The {report} passed the disclosure audit."
        first = self.unsafe[0]
        more = len(self.unsafe) - 1
        extra = f" (and {more} other figure{'s' if more != 1 else ''})" if more else ""
        return (f"The {report} was withheld: {first.check.label} (shown as {first.check.shown_as}) "
                f"{first.reason}{extra}. Choose a longer period (a year rather than a quarter, say), over which "
                "small counts are rarer; audit.json lists every figure involved.")

    def raise_if_unsafe(self, report: str = "report") -> None:
        if not self.safe:
            raise DisclosureError(self.message(report))

    def to_dict(self, checks: Iterable[Check] | None = None) -> dict[str, Any]:
        """``audit.json``: the policy, the scope, and an interval for every withheld figure.

        ``checks`` limits the listed findings to one report's figures; the intervals still come
        from everything the run published.
        """
        chosen = None if checks is None else set(checks)
        listed = [f for f in self.findings if chosen is None or f.check in chosen]
        withheld = [f.to_dict() for f in listed if f.check.shown_as != "not shown"]
        derived = [f.to_dict() for f in listed if f.check.shown_as == "not shown" and (not f.safe or _may_be_small(f, self.policy))]
        return {
            "policy": {"name": self.policy.name, "title": self.policy.title,
                       "threshold": self.policy.threshold, "round_to": self.policy.round_to,
                       "min_possible_values": self.policy.min_possible_values,
                       "sources": list(self.policy.sources)},
            "method": ("Linear programming (HiGHS, as scipy.optimize.linprog runs it) over every figure published in this run's "
                       "external outputs: groups add up to totals, finer groups to coarser ones, months to periods; "
                       "rounded counts as ranges; rates at their printed precision."),
            "scope": self.scope,
            "figures_published": self.figures,
            "counts_checked": len(listed),
            "safe": not any(not f.safe for f in listed) and self.safe,
            "withheld_figures": withheld,
            "derived_counts_that_may_be_small": derived,
            "problems": [f.to_dict() for f in self.unsafe],
        }

    def statement(self) -> str:
        """The methods appendix's sentence about the audit."""
        withheld = sum(1 for f in self.findings if f.check.shown_as != "not shown")
        if self.safe:
            return (f"Disclosure audit: {withheld} withheld figure{'s' if withheld != 1 else ''} and "
                    f"{len(self.findings) - withheld} derived counts were checked against all {self.figures} figures "
                    "published from this data and period, by linear programming over how they add up; none of the "
                    f"counts from 1 to {self.policy.threshold} can be narrowed to fewer than "
                    f"{self.policy.min_possible_values} possible values (details in audit.json).")
        return self.message()


def _may_be_small(finding: Finding, policy: DisclosurePolicy) -> bool:
    low, high = finding.possible
    return low <= policy.threshold and (high is None or high >= 1)


def audit(families: Mapping[str, Family], figures: Sequence[Figure], checks: Sequence[Check],
          policy: DisclosurePolicy, *, scope: Iterable[str] = ()) -> AuditResult:
    """Bound every checked count by the published figures and judge it by ``policy``.

    Families linked by no figure are independent, so each linked set gets its own (smaller)
    programme. A count whose own row already keeps it out of 1 to the threshold needs no
    programme; nor does the upper bound of one that cannot be below the threshold + 1.
    """
    findings = []
    for names, component_figures, component_checks in _components(families, figures, checks):
        model = AttackModel({n: families[n] for n in names}, component_figures, [c.cell for c in component_checks])
        findings += _assess(model, component_checks, policy)
    return AuditResult(policy, findings, len(figures), list(scope))


def unsafe_findings(families: Mapping[str, Family], figures: Sequence[Figure], checks: Sequence[Check],
                    policy: DisclosurePolicy, settled: set[Cell]) -> list[Finding]:
    """The checks that are not safe, skipping ``settled`` cells and adding the safe ones to it.

    For secondary suppression: withholding a figure only widens what can be derived, so a
    check found safe stays safe and need not be solved again. The unsafe findings are those
    :func:`audit` would make of the same figures and checks (see :func:`_unsafe`), found in a
    fraction of its time: a plan needs the verdict, and only a run's joint audit is published.
    """
    out = []
    for names, component_figures, component_checks in _components(families, figures, checks):
        pending = [c for c in component_checks if c.cell not in settled]
        if not pending:
            continue
        model = AttackModel({n: families[n] for n in names}, component_figures, [c.cell for c in pending])
        unsafe = _unsafe(model, pending, policy)
        settled.update(c.cell for c in pending if c.cell not in {f.check.cell for f in unsafe})
        out += unsafe
    return out


def _components(families: Mapping[str, Family], figures: Sequence[Figure], checks: Sequence[Check]
                ) -> list[tuple[list[str], list[Figure], list[Check]]]:
    """The sets of families linked by some figure, each with its figures and checks.

    Each set's families keep the order of ``families`` (a list, not a set): the programme's
    unknowns are numbered in that order, and a set's order would change with Python's string
    hashing from one process to the next, and with it which of several optimal solutions the
    solver returns, so the intervals ``audit.json`` lists.
    """
    parent = {name: name for name in families}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for figure in figures:
        names = [cell.family for _, cell in figure.terms]
        for other in names[1:]:
            parent[root(other)] = root(names[0])
    groups: dict[str, tuple[list[str], list[Figure], list[Check]]] = {}
    for name in families:
        groups.setdefault(root(name), ([], [], []))[0].append(name)
    for figure in figures:
        groups[root(figure.terms[0][1].family)][1].append(figure)
    for check in checks:
        groups[root(check.cell.family)][2].append(check)
    return [g for g in groups.values() if g[2]]


def _assess(model: AttackModel, checks: Sequence[Check], policy: DisclosurePolicy, *,
            stop_at_unsafe: bool = False) -> list[Finding]:
    """Judge each check; withheld figures first, so their solutions can settle derived counts.

    Every solution the programme returns is a set of counts consistent with all published
    figures. A count whose values across those solutions already reach the bounds its own row
    gives, or (a derived count) span four whole numbers, needs no programme of its own.
    """
    findings = []
    solved: dict[Cell, tuple[float, float, tuple[int, ...]]] = {}
    ordered = sorted(checks, key=lambda c: c.shown_as == "not shown")
    bounded = [c.cell for c in ordered if c.shown_as != "not shown" and math.isfinite(c.high)]
    model.explore(bounded)
    for check in ordered:
        cannot_be_small = check.low >= policy.smallest_shown or check.high < 1
        if cannot_be_small and check.group is None:
            findings.append(Finding(check, check.low, check.high, True))
            continue
        if check.cell not in solved:
            seen_low, seen_high = model.seen(check.cell)
            if (seen_low <= check.low + _EPS and seen_high >= check.high - _EPS
                    and _judge(check, check.low, check.high, (), model, policy).safe):
                # solutions reach the (safe) bounds the row itself gives: nothing narrows it further
                solved[check.cell] = (check.low, check.high, ())
            elif check.shown_as == "not shown" and check.group is None and seen_low <= seen_high and (
                    math.floor(seen_high + _EPS) - math.ceil(seen_low - _EPS) + 1 >= policy.min_possible_values):
                findings.append(Finding(check, check.low, check.high, True))
                continue
        if check.cell not in solved:
            low, _, binding = model.bounds(check.cell, minimise_only=True)
            high = check.high
            if low < policy.smallest_shown - _EPS or check.shown_as != "not shown":
                _, high, more = model.bounds(check.cell, maximise_only=True)
                binding = binding + more
            solved[check.cell] = (low, high, binding)
        low, high, binding = solved[check.cell]
        finding = _judge(check, low, high, binding, model, policy)
        findings.append(finding)
        if finding.safe and check.group is not None and check.shown_as != "not shown":
            findings += _group_rule(model, check, policy)
        if stop_at_unsafe and not findings[-1].safe:
            return findings
    order = {id(c): i for i, c in enumerate(checks)}
    return sorted(findings, key=lambda f: order.get(id(f.check), len(order)))


def _unsafe(model: AttackModel, checks: Sequence[Check], policy: DisclosurePolicy) -> list[Finding]:
    """The unsafe findings of :func:`_assess`, the same in every detail and order, for far fewer
    cold solves.

    Whether a check is safe depends only on the smallest and largest values the published
    figures allow (the programme's optimum values, which are unique), never on which optimal
    solution or which binding figures a solve returns: :func:`_assess`'s short cuts from
    solutions seen only ever call a check safe when those bounds would too. So here safety is
    settled by any solutions at hand (warm-started primal simplex, several times faster than a
    cold start) and, when those do not settle it, by warm-started optima. An optimum within
    :data:`_MARGIN` of where the rounding to possible values turns (a whole number plus or
    minus ``_EPS``) is not trusted, nor is a check that looks unsafe: it is solved cold, as
    :func:`_assess` solves it, and an unsafe finding carries those bounds and binding figures.
    """
    found: list[Finding] = []
    verdicts: dict[Cell, Finding | None] = {}  # cell -> its unsafe finding (None: safe)
    ordered = sorted(checks, key=lambda c: c.shown_as == "not shown")
    model.explore([c.cell for c in ordered if c.shown_as != "not shown" and math.isfinite(c.high)], fast=True)
    for check in ordered:
        if (check.low >= policy.smallest_shown or check.high < 1) and check.group is None:
            continue
        if check.cell not in verdicts:
            verdicts[check.cell] = _unsafe_bounds(model, check, policy)
        unsafe = verdicts[check.cell]
        if unsafe is not None:
            found.append(Finding(check, unsafe.low, unsafe.high, False, unsafe.reason, unsafe.pinned_by,
                                 unsafe.pinned_cells))
        elif check.group is not None and check.shown_as != "not shown":
            found += _group_rule(model, check, policy, fast=True)
    order = {id(c): i for i, c in enumerate(checks)}
    return sorted(found, key=lambda f: order.get(id(f.check), len(order)))


def _unsafe_bounds(model: AttackModel, check: Check, policy: DisclosurePolicy) -> Finding | None:
    """:func:`_assess`'s finding for ``check``'s cell if it is unsafe, else None (see :func:`_unsafe`)."""
    seen_low, seen_high = model.seen(check.cell)
    if seen_low <= seen_high and _clear(seen_low) and _clear(seen_high) and (
            math.floor(seen_high + _EPS) - max(0, math.ceil(seen_low - _EPS)) + 1 >= policy.min_possible_values):
        return None  # the optimum values lie further apart than solutions already do
    low = model.bounds(check.cell, minimise_only=True, fast=True)[0]
    if _clear(low) and low >= policy.smallest_shown - _EPS:
        return None  # cannot be small
    high = model.bounds(check.cell, maximise_only=True, fast=True)[1]
    if _clear(low) and _clear(high) and _judge(check, low, high, (), model, policy).safe:
        return None
    # as _assess solves a cell it cannot settle (its maximum too, since the minimum is small)
    low, _, binding = model.bounds(check.cell, minimise_only=True)
    high = check.high
    if low < policy.smallest_shown - _EPS or check.shown_as != "not shown":
        _, high, more = model.bounds(check.cell, maximise_only=True)
        binding = binding + more
    finding = _judge(check, low, high, binding, model, policy)
    return None if finding.safe else finding


def _clear(value: float) -> bool:
    """``value`` is not within :data:`_MARGIN` of a point where :attr:`Finding.possible` turns."""
    if not math.isfinite(value):
        return True
    return abs(abs(value - round(value)) - _EPS) > _MARGIN


def _judge(check: Check, low: float, high: float, binding: tuple[int, ...], model: AttackModel,
           policy: DisclosurePolicy) -> Finding:
    finding = Finding(check, low, high, True)
    lowest, highest = finding.possible
    values = finding.values
    small_range = lowest <= policy.threshold and (highest is None or highest >= 1)
    if values is not None and values < policy.min_possible_values and small_range:
        span = f"{lowest}" if values == 1 else f"{lowest} to {highest}"
        reason = (f"can be worked out exactly ({span}) from the other published figures" if values == 1 else
                  f"can be narrowed to {span} ({values} possible values) from the other published figures")
        return Finding(check, low, high, False, reason, *model.pinned(binding))
    return finding


def _group_rule(model: AttackModel, check: Check, policy: DisclosurePolicy, *, fast: bool = False) -> list[Finding]:
    """A small group must not be shown to share one outcome: none of it, or all of it.

    Checked for the figures a table prints for the group (within target, not within target,
    no escalation), withheld as ``[c]``: a reader must not be able to fill in a 0 (or the whole
    group) for them. Unless a larger group it belongs to is shown to share the outcome too
    (every episode of the period, or the same group over a longer published period): that says
    nothing about the small group in particular.

    ``fast``: settle what can be settled by warm-started optima (see :func:`_unsafe`); the
    findings are the same.
    """
    out = []
    cell, size = check.cell, check.group
    wholes = [(Cell(cell.family, cell.period, cell.column), Cell(size.family, size.period, size.column))]
    for period in model.periods_containing(cell):
        wholes.append((Cell(cell.family, period, cell.column, cell.dimension, cell.groups),
                       Cell(size.family, period, size.column, size.dimension, size.groups)))
    for what in ("none", "all"):
        def terms(part: Cell, whole: Cell, what: str = what) -> list[tuple[float, Cell]]:
            return [(1.0, part)] if what == "none" else [(1.0, whole), (-1.0, part)]

        seen = model.seen_of(terms(cell, size))[1]
        if seen >= 1 - _EPS and (not fast or _clear(seen)):  # a solution already has some of it (or some not)
            continue
        if fast:
            high = model.bounds_of(terms(cell, size), maximise_only=True, fast=True)[1]
            if high >= 1 - _EPS and _clear(high):
                continue
        _, high, binding = model.bounds_of(terms(cell, size), maximise_only=True)
        if high >= 1 - _EPS:
            continue
        if any(_largest(model, terms(part, whole), fast) < 1 - _EPS for part, whole in wholes):
            continue  # shared by a larger group, as published: nothing particular to this one
        reason = (f"shows that {what} of a group of 1 to {policy.threshold} had this outcome, "
                  "from the other published figures")
        out.append(Finding(check, 0.0, 0.0, False, reason, *model.pinned(binding)))
    return out


def _largest(model: AttackModel, terms: Sequence[tuple[float, Cell]], fast: bool) -> float:
    """The largest value of ``terms``: found warm when ``fast`` and clear of 1 - ``_EPS``, else cold."""
    if fast:
        high = model.bounds_of(terms, maximise_only=True, fast=True)[1]
        if _clear(high):
            return high
    return model.bounds_of(terms, maximise_only=True)[1]


class AttackModel:
    """The linear programme: unknown outcome counts, the additive relations, the published ranges.

    Time is cut at every boundary of every period published (per family, and per breakdown at
    the boundaries of that breakdown's periods), so a quarter, its months and the year around
    it are sums of the same pieces.
    """

    def __init__(self, families: Mapping[str, Family], figures: Sequence[Figure], extra: Iterable[Cell] = ()):
        self.families = dict(families)
        self.figures = list(figures)
        cells = [cell for figure in self.figures for _, cell in figure.terms] + list(extra)
        for cell in cells:
            if cell.family not in self.families:
                raise ValueError(f"No family {cell.family!r} is declared for the audit.")
        self._variables: dict[tuple, int] = {}
        self._points: list[np.ndarray] = []
        self._stacked: np.ndarray | None = None  # _points as one array, made again only after a new point
        self._expressions: dict[tuple[tuple[float, Cell], ...], dict[int, float]] = {}
        self._atoms_of: dict[tuple[tuple[str, str | None], Period], list[int]] = {}
        self._periods: dict[tuple[str, str | None, tuple[str, ...]], set[Period]] | None = None
        self._atoms: dict[tuple[str, str | None], list[tuple[dt.date, dt.date]]] = {}
        self._lay_out_time(cells)
        eq_rows: list[dict[int, float]] = []
        ub_rows: list[dict[int, float]] = []
        self._relations(eq_rows, ub_rows)
        self._n_relations_ub = len(ub_rows)
        ub_rhs = [0.0] * len(ub_rows)
        self._figure_of_row: list[int] = [-1] * len(ub_rows)
        for index, figure in enumerate(self.figures):
            expression = self.expression(figure.terms)
            if math.isfinite(figure.high):
                ub_rows.append(expression)
                ub_rhs.append(figure.high)
                self._figure_of_row.append(index)
            if math.isfinite(figure.low):
                ub_rows.append({k: -v for k, v in expression.items()})
                ub_rhs.append(-figure.low)
                self._figure_of_row.append(index)
        n = len(self._variables)
        self._a_eq = _matrix(eq_rows, n)
        self._b_eq = np.zeros(len(eq_rows))
        self._a_ub = _matrix(ub_rows, n)
        self._b_ub = np.asarray(ub_rhs, dtype=float)
        self._programme: _Programme | None = None
        self._warm: _Programme | None = None

    # -- layout ---------------------------------------------------------------------------

    def family(self, name: str) -> Family:
        return self.families[name]

    def _lay_out_time(self, cells: Sequence[Cell]) -> None:
        cuts: dict[tuple[str, str | None], set[dt.date]] = defaultdict(set)
        linked: dict[tuple[str, str], str] = {}
        for family in self.families.values():
            for dimension in family.dimensions.values():
                root = dimension.coarsens or dimension.name
                linked[(family.name, dimension.name)] = root
                linked[(family.name, root)] = root
        for cell in cells:
            family = self.families[cell.family]
            if not family.timed or cell.period == ALL_TIME:
                continue
            points = {cell.period[0], _day_after(cell.period[1])}
            cuts[(cell.family, None)] |= points
            if cell.dimension is not None:
                cuts[(cell.family, linked.get((cell.family, cell.dimension), cell.dimension))] |= points
        used = {(c.family, c.dimension) for c in cells}
        for family in self.families.values():
            for dimension in family.dimensions.values():
                if dimension.coarsens and (family.name, dimension.name) in used:
                    used.add((family.name, dimension.coarsens))
            for key in [(family.name, None), *[(family.name, d) for d in family.dimensions]]:
                if key[1] is not None and key not in used:
                    continue
                root = key if key[1] is None else (family.name, linked.get(key, key[1]))
                points = sorted(cuts.get(root, set())) if family.timed else []
                # the overall figure runs over all time (rows read count every episode); a
                # breakdown only needs the stretch its published periods cover
                edges = [dt.date.min, *points, dt.date.max] if key[1] is None or not points else points
                self._atoms[key] = [(a, b) for a, b in itertools.pairwise(edges) if a < b]
        for (family_name, dimension), atoms in self._atoms.items():
            family = self.families[family_name]
            groups = [None] if dimension is None else list(family.dimension(dimension).groups)
            for group in groups:
                for atom in range(len(atoms)):
                    for outcome in family.outcomes:
                        self._variables[(family_name, dimension, group, atom, outcome)] = len(self._variables)

    def _atoms_in(self, key: tuple[str, str | None], period: Period) -> list[int]:
        """The atoms of ``key`` inside ``period`` (found once per breakdown and period: a plan's
        cells share a few dozen periods)."""
        found = self._atoms_of.get((key, period))
        if found is None:
            atoms = self._atoms[key]
            if period == ALL_TIME:
                found = list(range(len(atoms)))
            else:
                start, stop = period[0], _day_after(period[1])
                found = [i for i, (a, b) in enumerate(atoms) if a >= start and b <= stop]
            self._atoms_of[(key, period)] = found
        return found

    def _relations(self, eq_rows: list[dict[int, float]], ub_rows: list[dict[int, float]]) -> None:
        for (family_name, dimension_name), atoms in self._atoms.items():
            if dimension_name is None:
                continue
            family = self.families[family_name]
            dimension = family.dimension(dimension_name)
            overall = self._atoms[(family_name, None)]
            for atom, (start, stop) in enumerate(atoms):
                pieces = [i for i, (a, b) in enumerate(overall) if a >= start and b <= stop]
                for outcome in family.outcomes:
                    total = {self._variables[(family_name, None, None, t, outcome)]: -1.0 for t in pieces}
                    members = [self._variables[(family_name, dimension_name, g, atom, outcome)] for g in dimension.groups]
                    if dimension.partition:
                        eq_rows.append({**total, **{m: 1.0 for m in members}})
                    else:
                        ub_rows.extend({**total, m: 1.0} for m in members)
                    if dimension.coarsens and (family_name, dimension.coarsens) in self._atoms:
                        finer = family.dimension(dimension.coarsens)
                        for group in dimension.groups:
                            parts = [g for g in finer.groups if dimension.mapping.get(g) == group]
                            row = {self._variables[(family_name, dimension_name, group, atom, outcome)]: 1.0}
                            for part in parts:
                                row[self._variables[(family_name, finer.name, part, atom, outcome)]] = -1.0
                            eq_rows.append(row)

    # -- expressions and bounds ---------------------------------------------------------------

    def expression(self, terms: Iterable[tuple[float, Cell]]) -> dict[int, float]:
        """Coefficients over the unknowns of a linear combination of cells (worked out once per
        combination: an audit asks for a count's several times; not to be changed by the caller)."""
        terms = tuple(terms)
        known = self._expressions.get(terms)
        if known is None:
            known = self._expressions[terms] = self._expression(terms)
        return known

    def _expression(self, terms: tuple[tuple[float, Cell], ...]) -> dict[int, float]:
        out: dict[int, float] = defaultdict(float)
        for coefficient, cell in terms:
            family = self.families[cell.family]
            key = (cell.family, cell.dimension)
            atoms = self._atoms_in(key, cell.period if family.timed else ALL_TIME)
            groups = [None] if cell.dimension is None else list(cell.groups)
            unknown = [g for g in groups if g is not None and g not in family.dimension(cell.dimension).groups]
            if unknown:
                raise ValueError(f"{cell.family} has no {cell.dimension} group {unknown[0]!r}.")
            for group in groups:
                for atom in atoms:
                    for outcome in family.columns[cell.column]:
                        out[self._variables[(cell.family, cell.dimension, group, atom, outcome)]] += coefficient
        return dict(out)

    def periods_containing(self, cell: Cell) -> list[Period]:
        """Longer published periods of the same count of the same group (a month's quarter)."""
        if self._periods is None:  # published periods by count and group, gathered once
            self._periods = defaultdict(set)
            for figure in self.figures:
                for _, c in figure.terms:
                    self._periods[(c.family, c.dimension, c.groups)].add(c.period)
        start, end = cell.period
        published = self._periods.get((cell.family, cell.dimension, cell.groups), ())
        return sorted(p for p in published if p != cell.period and p[0] <= start and p[1] >= end)

    def pinned(self, binding: Iterable[int]) -> tuple[tuple[str, ...], tuple[Cell, ...]]:
        """Labels and count cells of the figures at the given positions."""
        figures = [self.figures[i] for i in dict.fromkeys(binding)]
        return (tuple(dict.fromkeys(f.label for f in figures)),
                tuple(dict.fromkeys(f.cell for f in figures if f.cell is not None)))

    def explore(self, cells: Sequence[Cell], rounds: int | None = None, *, fast: bool = False) -> None:
        """Solve for the smallest and the largest total of ``cells``: two solutions that put many
        of them at their extremes at once, so that most need no programme of their own
        (``fast``: warm-started, see :func:`_unsafe`)."""
        if not cells:
            return
        vectors = np.zeros((len(cells), len(self._variables)))
        for i, cell in enumerate(cells):
            for index, coefficient in self.expression([(1.0, cell)]).items():
                vectors[i, index] = coefficient
        # all low, all high, then mixed directions: cells tied together by a sum cannot all
        # reach the same extreme at once, but can in opposite ones
        rng = np.random.default_rng(0)  # fixed, so an audit always gives the same result
        rounds = min(6, len(cells) // 4) if rounds is None else rounds
        signs = [np.ones(len(cells)), -np.ones(len(cells))]
        signs += [rng.choice([-1.0, 1.0], size=len(cells)) for _ in range(rounds)]
        for weights in signs:
            result = self._solve(weights @ vectors, fast=fast)
            if result.status == 0:
                self._keep(result.x)

    def _solve(self, objective: np.ndarray, *, fast: bool = False) -> _Solution:
        """A cold solve, as linprog's; ``fast``: warm-started from the last fast one (a different
        optimal solution, perhaps, and other binding figures, but the same optimum value)."""
        if fast:
            if self._warm is None:
                self._warm = _Programme(len(self._variables), self._a_ub, self._b_ub, self._a_eq, warm=True)
            return self._warm.solve(objective)
        if self._programme is None:
            self._programme = _Programme(len(self._variables), self._a_ub, self._b_ub, self._a_eq)
        return self._programme.solve(objective)

    def _keep(self, point: np.ndarray) -> None:
        self._points.append(point)
        self._stacked = None

    def seen(self, cell: Cell) -> tuple[float, float]:
        """Lowest and highest value of ``cell`` among the solutions found so far (inf, -inf if none)."""
        return self.seen_of([(1.0, cell)])

    def seen_of(self, terms: Sequence[tuple[float, Cell]]) -> tuple[float, float]:
        """:meth:`seen` for a linear combination of cells."""
        if not self._points:
            return math.inf, -math.inf
        vector = np.zeros(len(self._variables))
        for index, coefficient in self.expression(terms).items():
            vector[index] = coefficient
        if self._stacked is None:
            self._stacked = np.asarray(self._points)
        values = self._stacked @ vector
        return float(values.min()), float(values.max())

    def bounds(self, cell: Cell, *, minimise_only: bool = False, maximise_only: bool = False, fast: bool = False
               ) -> tuple[float, float, tuple[int, ...]]:
        """Smallest and largest value of ``cell`` under every published figure, and the binding figures."""
        return self.bounds_of([(1.0, cell)], minimise_only=minimise_only, maximise_only=maximise_only, fast=fast)

    def bounds_of(self, terms: Sequence[tuple[float, Cell]], *, minimise_only: bool = False,
                  maximise_only: bool = False, fast: bool = False) -> tuple[float, float, tuple[int, ...]]:
        """Bounds of a linear combination of cells (one side only when asked: -inf or inf for the other).

        ``fast``: warm-started solves, for the bounds only (no binding figures); a side the warm
        solve does not find optimal is solved cold, as otherwise.
        """
        expression = self.expression(terms)
        objective = np.zeros(len(self._variables))
        for index, coefficient in expression.items():
            objective[index] = coefficient
        binding: list[int] = []
        results = []
        signs = (-1.0,) if maximise_only else (1.0,) if minimise_only else (1.0, -1.0)
        for sign in signs:
            result = self._solve(sign * objective, fast=fast)
            if fast:
                if result.status != 0:  # unbounded, or anything unusual: as a cold solve finds it
                    cold = self.bounds_of(terms, minimise_only=sign > 0, maximise_only=sign < 0)
                    results.append(cold[0] if sign > 0 else cold[1])
                    continue
                results.append(sign * result.fun)
                self._keep(result.x)
                continue
            if result.status == 3:  # unbounded: nothing limits it from this side
                results.append(math.inf * -sign)
                continue
            if result.status != 0:
                raise DisclosureError(
                    "The published figures contradict each other, so the disclosure audit cannot check them "
                    f"({result.message}); the tables were not all made from the same data.")
            results.append(sign * result.fun)
            self._keep(result.x)
            marginals = result.marginals
            if marginals is not None:
                binding += [self._figure_of_row[i] for i in np.flatnonzero(np.abs(marginals) > 1e-9)
                            if self._figure_of_row[i] >= 0]
        if maximise_only:
            return -math.inf, results[0], tuple(dict.fromkeys(binding))
        if minimise_only:
            return results[0], math.inf, tuple(dict.fromkeys(binding))
        return results[0], results[1], tuple(dict.fromkeys(binding))


@dataclass
class _Solution:
    """One solve, as :func:`scipy.optimize.linprog` reports it: ``status`` 0 optimal, 2 infeasible,
    3 unbounded, 4 anything else; ``marginals`` of the inequality rows."""

    status: int
    message: str
    fun: float | None = None
    x: np.ndarray | None = None
    marginals: np.ndarray | None = None


class _Programme:
    """The attack model's programme loaded once into HiGHS, solved for one objective after another.

    An audit solves the same constraints for hundreds of objectives. ``scipy.optimize.linprog``
    would check, convert and load them into a new HiGHS instance every time (more than half of
    each solve on an audit's small programmes). Here they are loaded once, into the HiGHS that
    SciPy ships, with linprog's options (presolve, dual simplex), and only the objective changes.
    Each solve starts cold, as linprog's do, so every answer (bounds, solutions, binding figures)
    is exactly linprog's: the withheld figures and ``audit.json`` are unchanged.

    ``warm``: no presolve, primal simplex, each solve from the last one's basis (only the
    objective changed, so that basis stays feasible): six to nine times faster on an audit's
    programmes, with the same optimum values but not always the same solution or binding
    figures, so only for verdicts (:func:`_unsafe`).
    """

    def __init__(self, n: int, a_ub: sparse.csr_matrix | None, b_ub: np.ndarray, a_eq: sparse.csr_matrix | None,
                 *, warm: bool = False):
        # imported here: scipy.optimize costs most of a second to import, and only an audit needs it
        from scipy.optimize._highspy import _core as highs

        self._highs_module = highs
        self._n_ub = 0 if a_ub is None else a_ub.shape[0]
        n_eq = 0 if a_eq is None else a_eq.shape[0]
        blocks = [m for m in (a_ub, a_eq) if m is not None]
        matrix = sparse.csc_array(sparse.vstack(blocks)) if blocks else sparse.csc_array((0, n))
        lp = highs.HighsLp()
        lp.num_col_ = lp.a_matrix_.num_col_ = n
        lp.num_row_ = lp.a_matrix_.num_row_ = self._n_ub + n_eq
        lp.a_matrix_.format_ = highs.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr
        lp.a_matrix_.index_ = matrix.indices
        lp.a_matrix_.value_ = matrix.data
        lp.col_cost_ = np.zeros(n)
        lp.col_lower_ = np.zeros(n)
        lp.col_upper_ = np.full(n, highs.kHighsInf)
        lp.row_lower_ = np.concatenate([np.full(self._n_ub, -highs.kHighsInf), np.zeros(n_eq)])
        lp.row_upper_ = np.concatenate([np.asarray(b_ub, dtype=float)[:self._n_ub], np.zeros(n_eq)])
        options = highs.HighsOptions()
        options.output_flag = False
        options.log_to_console = False
        strategy = highs.simplex_constants.SimplexStrategy
        options.presolve = "off" if warm else "on"
        options.simplex_strategy = int(strategy.kSimplexStrategyPrimal if warm else strategy.kSimplexStrategyDual)
        self._warm = warm
        self._highs = highs._Highs()
        self._highs.passOptions(options)
        self._highs.passModel(lp)
        self._columns = np.arange(n, dtype=np.int32)

    def solve(self, objective: np.ndarray) -> _Solution:
        """Minimise ``objective`` over the programme."""
        highs, status_of = self._highs, self._highs_module.HighsModelStatus
        highs.changeColsCost(len(self._columns), self._columns, np.asarray(objective, dtype=float))
        if not self._warm:
            highs.clearSolver()  # a cold start, as linprog's: the same answer whatever was solved before
        highs.run()
        status = highs.getModelStatus()
        message = highs.modelStatusToString(status)
        if status != status_of.kOptimal:
            if self._warm:
                highs.clearSolver()  # the next warm solve starts afresh
            code = {status_of.kInfeasible: 2, status_of.kUnbounded: 3}.get(status, 4)
            return _Solution(code, message)
        solution = highs.getSolution()
        return _Solution(0, message, highs.getInfo().objective_function_value, np.array(solution.col_value),
                         np.array(solution.row_dual)[:self._n_ub])


def _matrix(rows: list[dict[int, float]], n: int) -> sparse.csr_matrix:
    if not rows:
        return None
    data, indices, indptr = [], [], [0]
    for row in rows:
        items = [(k, v) for k, v in row.items() if v != 0.0]
        indices += [k for k, _ in items]
        data += [v for _, v in items]
        indptr.append(len(indices))
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), n))


@functools.lru_cache(maxsize=4096)
def _day_after(day: dt.date) -> dt.date:
    return dt.date.max if day >= dt.date.max - dt.timedelta(days=1) else day + dt.timedelta(days=1)
