"""One disclosure plan per period: every figure external outputs may show, controlled once.

Contract monitoring, the pathway review and ``summary --audience external`` for the same
export and period all take their figures from one :class:`DisclosurePlan`, built by
:func:`plan_for` from the analysis and the policy. The plan holds every table any of them
shows (timeliness overall and by each breakdown, the monthly trend, near misses, pathway
checks, agency responses, hand-offs, routes, themes, learning actions, the data-quality
counts), each already through :func:`~escalation_analysis.reviews.disclosure.engine.control`,
plus the plan of the previous period for "this period against the last". Because it does not
depend on which report asks, each figure is shown the same way everywhere, and no comparison
between two reports recovers anything the audit has not already accounted for.

Under a policy with secondary suppression the plan asks the audit which published counts pin
a small count down and withholds the cheapest of them, until none does.

A run that publishes several outside reports of one export (the demo: contract monitoring for a
quarter, the pathway review for the year around it) builds their plans in the run's order, each
*alongside* the plans before it: their figures are published too, so a plan also withholds what
its own figures would give away together with theirs (a month the quarter's report withheld is
withheld in the year's report as well). The first report's plan is the one it has alone.

The plan keeps no true count: only what is published, how, and the audit's view of it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import weakref
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...ingest.accounting import EXCLUSION_REASONS, WARNING_REASONS
from ...ingest.contract import AGENCIES, OUT_OF_HOURS_SUB_BANDS, TRIGGERS
from ...ingest.files import text_isin
from ...measures.adherence import CHECKS, adherence_summary, episode_adherence, route_variants
from ...measures.agencies import agency_responses, handoff_delays, handoff_summary, response_by_agency, tally
from ...measures.equity import EQUITY_FIELDS, available_equity_fields
from ...measures.learning import action_status, trained_within_year
from ...measures.near_misses import pathway_themes
from ...measures.timeliness import TimelinessTables
from .audit import AuditResult, Finding, audit, unsafe_findings
from .cells import ALL_TIME, Cell, Check, Dimension, Family, Figure, Period
from .engine import PROTECTED, SHOWN, SMALL, ControlledTable, Draft, Rate, RowKey, TableSpec, control
from .policy import DisclosurePolicy

if TYPE_CHECKING:
    from ...measures.analysis import Analysis

_log = logging.getLogger(__name__)

# -- what is counted -----------------------------------------------------------------------

EPISODES = "episodes"
EPISODE_OUTCOMES = ("within_target", "escalated_late", "not_escalated")
EPISODE_COLUMNS = {
    "n": EPISODE_OUTCOMES,
    "within_target": ("within_target",),
    "not_within_target": ("escalated_late", "not_escalated"),
    "escalated_late": ("escalated_late",),
    "not_escalated": ("not_escalated",),
    "escalated": ("within_target", "escalated_late"),
}
TIMELINESS_BREAKDOWNS = {
    "team": "team", "band": "band", "ooh_sub_band": "ooh_sub_band", "trigger": "trigger",
    "lone_worker": "lone_worker", "agency": "escalated_to",
}
"""Table name suffix -> dimension (the column the compliance table names its groups by)."""
MERGEABLE = {"team": "teams", "ethnicity": "ethnic groups", "age_band": "age bands", "gender": "genders"}
"""Breakdowns whose small groups a merging policy adds together, with their plural noun."""
NOT_RECORDED = "Not recorded"

TIMELINESS_RATES = {
    "within_target_pct": Rate("within_target", "n"),
    "ci95_low_pct": Rate("within_target", "n", "wilson_low"),
    "ci95_high_pct": Rate("within_target", "n", "wilson_high"),
}
DELAY_STATISTICS = {"median_delay_minutes": "escalated", "p90_delay_minutes": "escalated"}


def _timeliness_spec(family: Family, label: str | None) -> TableSpec:
    return TableSpec(family, "n", ("n", "within_target", "not_within_target", "not_escalated"),
                     TIMELINESS_RATES, DELAY_STATISTICS, (label,) if label else (), ("n", "within_target"))


ADHERENCE_COLUMNS = {"checked": ("passed", "failed"), "passed": ("passed",)}
AGENCY_COLUMNS = {"contacts": ("within_target", "late", "no_response"),
                  "responses_recorded": ("within_target", "late"), "within_target": ("within_target",)}
THEME_COLUMNS = {"episodes": ("late", "on_time"), "late": ("late",)}
ACTION_COLUMNS = {"total": ("overdue", "open_on_time", "closed"), "open": ("overdue", "open_on_time"),
                  "overdue": ("overdue",), "closed": ("closed",)}


def episode_family(all_episodes: pd.DataFrame) -> Family:
    """Episodes and their breakdowns; group lists come from the whole export, so every plan of
    the same export shares them."""
    def groups(column: str) -> tuple[str, ...]:
        values = all_episodes[column].dropna().astype("str").unique().tolist() if column in all_episodes else []
        return tuple(sorted(set(values) | {NOT_RECORDED}))

    dimensions = [
        Dimension("team", groups("team")),
        Dimension("ooh_sub_band", OUT_OF_HOURS_SUB_BANDS),
        Dimension("band", ("in_hours", "out_of_hours"), coarsens="ooh_sub_band",
                  mapping={g: ("in_hours" if g == "in_hours" else "out_of_hours") for g in OUT_OF_HOURS_SUB_BANDS}),
        Dimension("trigger", TRIGGERS),
        Dimension("lone_worker", ("accompanied", "lone worker", "not recorded")),
        Dimension("escalated_to", AGENCIES, partition=False),
        Dimension("outcome", ("near_miss", "incident", NOT_RECORDED)),
        Dimension("training", ("trained", "not trained", "unknown")),
        *[Dimension(f, groups(f)) for f in EQUITY_FIELDS],
    ]
    return Family(EPISODES, EPISODE_OUTCOMES, EPISODE_COLUMNS, {d.name: d for d in dimensions})


def _side_families(teams: tuple[str, ...]) -> list[Family]:
    adherence = [Family(f"adherence:{check}", ("passed", "failed"), ADHERENCE_COLUMNS,
                        {"team": Dimension("team", teams)}) for check in (*CHECKS, "adherent")]
    agencies = Family("agency_contacts", ("within_target", "late", "no_response"), AGENCY_COLUMNS,
                      # without a step log the first contact stands in, "not recorded" when none is
                      {"agency": Dimension("agency", (*AGENCIES, "not recorded"), partition=False)})
    return [*adherence, agencies]


# -- the plan ------------------------------------------------------------------------------


@dataclass
class DisclosurePlan:
    """Every figure external outputs of one export and period may show, controlled once.

    Attributes
    ----------
    policy, period
        How and for when.
    tables
        Name -> :class:`ControlledTable` (names as ``tables/*.csv``).
    data_quality
        The row counts as published (``summary.json``'s ``data_quality`` numbers).
    previous
        The plan of the previous period of the same length (for comparisons), or None.
    """

    policy: DisclosurePolicy
    period: Period
    tables: dict[str, ControlledTable]
    data_quality: dict[str, Any]
    families: dict[str, Family]
    previous: DisclosurePlan | None = None
    extra_figures: tuple[Figure, ...] = ()
    extra_checks: tuple[Check, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)
    alongside: tuple[DisclosurePlan, ...] = ()
    """The plans of the run's outside reports published before this one, which it was built alongside."""
    _audit: AuditResult | None = field(default=None, repr=False)
    _audited: tuple[dict[str, Family], list[Figure], list[Check]] | None = field(default=None, repr=False, compare=False)
    """What the plan's own audit covers, as its build had it (families, figures, checks), when
    the build withheld nothing further: the audit, when asked for, is of exactly these."""

    def table(self, name: str) -> ControlledTable:
        if name not in self.tables:
            raise KeyError(f"The disclosure plan has no table {name!r}; it has {', '.join(sorted(self.tables))}.")
        return self.tables[name]

    def figures(self) -> list[Figure]:
        """Everything this plan (and its previous period's) publishes, as the audit reads it."""
        out = [f for t in self.tables.values() for f in t.figures] + list(self.extra_figures)
        return out + (self.previous.figures() if self.previous else [])

    def checks(self) -> list[Check]:
        out = [c for t in self.tables.values() for c in t.checks] + list(self.extra_checks)
        return out + (self.previous.checks() if self.previous else [])

    def all_families(self) -> dict[str, Family]:
        return merge_families(self.families, self.previous.all_families() if self.previous else {})

    def marks_used(self) -> set[str]:
        used = {m for t in self.tables.values() for m in t.marks_used()}
        values = [*self.data_quality.get("excluded_by_reason", {}).values(), *self.data_quality.get("warnings", {}).values(),
                  self.data_quality.get("rows_analysed"), self.data_quality.get("rows_excluded")]
        used |= {v for v in values if isinstance(v, str)}
        return used

    def identity(self) -> tuple:
        """What tells this plan from another plan of the same export: its period, its policy and
        the plans it was built alongside (the same after a plan is copied to another process)."""
        return (self.period, self.policy.name, self.sources.get("export_sha256"),
                tuple(p.identity() for p in self.alongside))

    def key(self) -> list[str]:
        """The key every report using this plan prints."""
        return self.policy.key(self.marks_used(), merged=any(t.merged for t in self.tables.values()),
                               whole_columns=any(t.whole_columns for t in self.tables.values()))

    def audit(self, *others: DisclosurePlan, scope: Iterable[str] = ()) -> AuditResult:
        """The disclosure audit of this plan together with other plans published in the same run
        (of this plan alone: computed once)."""
        if others:
            return audit_plans([self, *others], scope=scope)
        if self._audit is None:
            self._audit = audit(*self._audited, self.policy) if self._audited else audit_plans([self])
        return self._audit


def audit_run(path: str | Path, plan: DisclosurePlan, *others: DisclosurePlan, report: str = "report",
              scope: Iterable[str] = ()) -> AuditResult:
    """Audit everything a run publishes, write ``audit.json`` for ``plan``'s report, refuse if unsafe.

    ``others`` are the plans of the run's other external outputs (another period of the same
    export): the intervals in ``audit.json`` come from all of them together. Raises
    :class:`~escalation_analysis.reviews.disclosure.audit.DisclosureError` naming the first
    figure that can be narrowed too far; ``audit.json`` is written first, so the withheld
    report's staging folder says why.
    """
    return write_audit(path, plan.audit(*others, scope=scope), plan, report=report)


def write_audit(path: str | Path, result: AuditResult, plan: DisclosurePlan, *, report: str = "report") -> AuditResult:
    """:func:`audit_run` with the audit already made (``result``, an audit covering ``plan``):
    a run's outside reports share one audit of all of them, and each writes its own audit.json."""
    record = {"report": report, **result.to_dict(plan.checks())}
    Path(path).write_text(json.dumps(_plain(record), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    result.raise_if_unsafe(f"{report} report")
    return result


def _plain(value: Any) -> Any:
    """JSON-ready: numpy numbers as Python numbers, infinities as null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value


def audit_plans(plans: Sequence[DisclosurePlan], *, scope: Iterable[str] = ()) -> AuditResult:
    """One audit over everything several plans publish (one run's external outputs)."""
    if not plans:
        raise ValueError("Nothing to audit.")
    policy = plans[0].policy
    if any(p.policy != policy for p in plans):
        raise ValueError("The outputs of one run must share one disclosure policy.")
    families: dict[str, Family] = {}
    for plan in plans:
        families = merge_families(families, plan.all_families())
    figures = list(dict.fromkeys(f for p in plans for f in p.figures()))
    checks = list(dict.fromkeys(c for p in plans for c in p.checks()))
    return audit(families, figures, checks, policy, scope=scope)


def merge_families(*many: dict[str, Family]) -> dict[str, Family]:
    """Families of several plans: a breakdown whose groups depend on the period (routes taken)
    gets every group any plan has."""
    out: dict[str, Family] = {}
    for families in many:
        for name, family in families.items():
            if name not in out:
                out[name] = family
                continue
            known = out[name]
            dimensions = dict(known.dimensions)
            for key, dimension in family.dimensions.items():
                if key in dimensions and dimensions[key].groups != dimension.groups:
                    groups = tuple(dict.fromkeys((*dimensions[key].groups, *dimension.groups)))
                    dimensions[key] = Dimension(key, groups, dimension.partition, dimension.coarsens, dimension.mapping)
                else:
                    dimensions.setdefault(key, dimension)
            out[name] = Family(name, known.outcomes, known.columns, dimensions, known.timed)
    return out


_PLANS: dict[int, tuple[weakref.ref, dict[tuple, DisclosurePlan]]] = {}


def plan_for(analysis: Analysis, policy: DisclosurePolicy, alongside: Sequence[DisclosurePlan] = ()) -> DisclosurePlan:
    """The plan of ``analysis``'s export and period under ``policy``, built once per analysis;
    ``alongside``: the plans of the run's outside reports published before this one (see the
    module's docstring), in the run's order."""
    plans = _plans_of(analysis)
    key = _plan_key(policy, alongside)
    if key not in plans:
        plans[key] = build_plan(analysis, policy, alongside=tuple(alongside))
    return plans[key]


def adopt_plan(analysis: Analysis, plan: DisclosurePlan) -> None:
    """From now on :func:`plan_for` of ``analysis`` under ``plan``'s policy (alongside the plans
    it was built alongside) returns ``plan``.

    For a plan of the same export and period built by another process of the same run (the
    demo's report finishers share theirs), so that this process does not build it again; a
    plan is a function of the analysis, the policy and the plans alongside, so it is the plan
    this process would have built.
    """
    if plan.period != (analysis.start, analysis.end):
        raise ValueError("A disclosure plan can stand only for an analysis of its own period.")
    _plans_of(analysis).setdefault(_plan_key(plan.policy, plan.alongside), plan)


def _plan_key(policy: DisclosurePolicy, alongside: Sequence[DisclosurePlan]) -> tuple:
    return (policy.name, tuple(p.identity() for p in alongside))


def _plans_of(analysis: Analysis) -> dict[tuple, DisclosurePlan]:
    """The plans built for ``analysis`` by policy and plans alongside, kept while the analysis lives."""
    key = id(analysis)
    entry = _PLANS.get(key)
    if entry is None or entry[0]() is not analysis:
        def forget(_: object) -> None:
            _PLANS.pop(key, None)

        entry = (weakref.ref(analysis, forget), {})
        _PLANS[key] = entry
    return entry[1]


def build_plan(analysis: Analysis, policy: DisclosurePolicy, *, previous: bool = True,
               alongside: tuple[DisclosurePlan, ...] = ()) -> DisclosurePlan:
    """Build the plan (prefer :func:`plan_for`, which builds it once)."""
    from ..kpis import previous_period

    period = (analysis.start, analysis.end)
    family = episode_family(analysis.all_episodes)
    teams = family.dimension("team").groups
    families = {f.name: f for f in (family, *_side_families(teams))}
    builder = _Builder(analysis, analysis.episodes, period, family, families, policy)
    drafts = builder.all_tables() if previous else builder.comparison_tables()
    quality = builder.data_quality() if previous else None
    before = None
    if previous:
        prev_start, prev_end = previous_period(analysis.start, analysis.end)
        view = _PeriodView(analysis, prev_start, prev_end)
        before = build_plan(view, policy, previous=False)  # type: ignore[arg-type]
    # the audit's verdict drives further withholding, under every policy
    every_family = merge_families(families, builder.extra_families, before.all_families() if before else {},
                                  *(p.all_families() for p in alongside))
    outside = before.figures() if before else []
    outside_checks = before.checks() if before else []
    # the figures of the plans alongside are published too, and their small counts must stay
    # safe from this plan's figures; only this plan's own counts can be withheld
    published_alongside = list(dict.fromkeys(f for p in alongside for f in p.figures()))
    checked_alongside = list(dict.fromkeys(c for p in alongside for c in p.checks()))

    def figures() -> list[Figure]:
        return [*(f for d in drafts for f in d.figures()), *(quality.figures() if quality else []), *outside,
                *published_alongside]

    def checks() -> list[Check]:
        return [*(c for d in drafts for c in d.checks()), *(quality.checks() if quality else []), *outside_checks,
                *checked_alongside]

    # only the verdict: the plan's own audit is made when asked for (a run of several reports
    # publishes their joint audit instead)
    settled: set[Cell] = set()
    shown, checked = figures(), checks()
    unsafe = unsafe_findings(every_family, shown, checked, policy, settled)
    # (the plan's own audit is of its own figures: with plans alongside, made afresh when asked for)
    audited = (every_family, shown, checked) if previous and not unsafe and not alongside else None
    if unsafe:
        shown_alongside = {f.cell for f in published_alongside if f.cell is not None and np.isfinite(f.high)}
        _protect(drafts, quality, figures, checks, every_family, policy, unsafe, settled, fixed=shown_alongside)
    tables = {d.name: d.finish() for d in drafts}
    overall = tables["timeliness_overall"].frame if "timeliness_overall" in tables else pd.DataFrame()
    published_quality = quality.published(overall.iloc[0]["n"] if len(overall) else 0) if quality else {}
    plan = DisclosurePlan(policy, period, tables, published_quality, {**families, **builder.extra_families}, before,
                          tuple(quality.figures()) if quality else (), tuple(quality.checks()) if quality else (),
                          dict(analysis.sources), alongside)
    plan._audited = audited
    return plan


@dataclass
class _PeriodView:
    """The parts of an analysis a plan reads, for another period of the same export."""

    base: Any
    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        self.episodes = self.base.episodes_between(self.start, self.end)
        self.all_episodes = self.base.all_episodes
        self.pathway = self.base.pathway
        self.steps_frame = self.base.steps_frame
        self.actions_frame = self.base.actions_frame
        self.training_frame = self.base.training_frame
        self.accounting = None
        self.sources = self.base.sources

    def episodes_between(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        return self.base.episodes_between(start, end)


def period_label(period: Period) -> str:
    return "all dates" if period == ALL_TIME else f"{period[0]:%d/%m/%Y} to {period[1]:%d/%m/%Y}"


class _Builder:
    """Computes each table's true counts and hands them to the engine."""

    def __init__(self, analysis: Any, episodes: pd.DataFrame, period: Period, family: Family,
                 families: dict[str, Family], policy: DisclosurePolicy):
        self.analysis = analysis
        self.episodes = episodes
        self.period = period
        self.family = family
        self.families = families
        self.policy = policy
        self.tables = TimelinessTables(episodes)
        self.extra_families: dict[str, Family] = {}

    def name(self, table: str) -> str:
        return f"{table} ({period_label(self.period)})"

    # -- timeliness ------------------------------------------------------------------------

    def comparison_tables(self) -> list[Draft]:
        """What a report shows of the previous period: the KPI rows, nothing else."""
        rows = {"timeliness_by_trigger": ("imminent_risk",), "timeliness_by_band": ("out_of_hours",)}
        drafts = [self.timeliness(None, "timeliness_overall"), self.near_misses()]
        for name, dimension in (("timeliness_by_trigger", "trigger"), ("timeliness_by_band", "band")):
            draft = self.timeliness(dimension, name)
            drafts.append(draft.only(k.groups in [rows[name]] for k in draft.keys))
        steps = self.analysis.steps_frame
        responses = response_by_agency(agency_responses(self.episodes, steps), self.analysis.pathway)
        agencies = self.agency_response(responses)
        drafts.append(agencies.only(k.groups == ("crisis_team",) for k in agencies.keys))
        actions = self.actions()
        if actions is not None:
            drafts.append(actions.only(k.dimension is None for k in actions.keys))
        return drafts

    def all_tables(self) -> list[Draft]:
        drafts = [self.timeliness(None, "timeliness_overall")]
        for suffix, dimension in TIMELINESS_BREAKDOWNS.items():
            drafts.append(self.timeliness(dimension, f"timeliness_by_{suffix}"))
        for field_name in available_equity_fields(self.episodes):
            drafts.append(self.timeliness(field_name, f"timeliness_by_{field_name}"))
        drafts.append(self.by_time("month", "timeliness_by_month", self.episodes, self.period))
        drafts.append(self.by_time("quarter", "timeliness_by_quarter", self.episodes, self.period))
        drafts += self.kpi_trends()
        training = self.training()
        if training is not None:
            drafts.append(training)
        drafts.append(self.near_misses())
        drafts += self.pathway_tables()
        actions = self.actions()
        if actions is not None:
            drafts.append(actions)
        return drafts

    def _labels(self, dimension: str) -> pd.Series:
        column = {"lone_worker": "lone_worker_label"}.get(dimension, dimension)
        values = self.episodes[column]
        return values.astype("str").fillna(NOT_RECORDED) if dimension in EQUITY_FIELDS else values

    def timeliness(self, dimension: str | None, name: str) -> Draft:
        spec = _timeliness_spec(self.family, dimension)
        if dimension is None:
            table = self.tables.table(None)
            keys = [RowKey(self.period, None, (), "all episodes")]
            return control(name, table, spec, self.policy, keys, statistics=table[list(DELAY_STATISTICS)])
        if dimension in EQUITY_FIELDS:
            table = self.tables.table(dimension, frame=pd.DataFrame({dimension: self._labels(dimension)}))
        else:
            table = self.tables.table(dimension)
        group_column = table.columns[0]
        merged: dict[int, tuple[str, ...]] = {}
        if self.policy.merge_small_groups and dimension in MERGEABLE:
            small = table.loc[(table["n"] >= 1) & (table["n"] <= self.policy.threshold), group_column]
            small = tuple(str(g) for g in small if str(g) != NOT_RECORDED or dimension != "team")
            if small:
                label = self.policy.merged_label(MERGEABLE[dimension])
                relabelled = self._labels(dimension).astype("str").where(
                    ~self._labels(dimension).astype("str").isin(small), label)
                table = self.tables.table(dimension, frame=pd.DataFrame({dimension: relabelled}))
                order = [g for g in table[group_column] if g != label] + [label]
                table = table.set_index(group_column).loc[order].reset_index()
                merged[len(table) - 1] = small
        table[group_column] = table[group_column].astype("str")
        keys = [RowKey(self.period, dimension, merged.get(i, (g,)), g) for i, g in enumerate(table[group_column])]
        return control(name, table, spec, self.policy, keys, labels=table[[group_column]],
                       statistics=table[list(DELAY_STATISTICS)], merged_rows=merged, lists_every_group=True)

    def by_time(self, unit: str, name: str, episodes: pd.DataFrame, period: Period,
                group: tuple[str, str] | None = None) -> Draft:
        """Months (or quarters) of ``episodes``; ``group`` (dimension, group) when they are one
        group's (imminent risk by month), so the audit knows whose months they are."""
        spec = _timeliness_spec(self.family, unit)
        table = TimelinessTables(episodes).table(unit) if episodes is not self.episodes else self.tables.table(unit)
        table = table.dropna(subset=[unit]).sort_values(unit, ignore_index=True)
        table[unit] = table[unit].astype("str")
        dimension, groups = (group[0], (group[1],)) if group else (None, ())
        keys = [RowKey(_clip(_unit_period(unit, label), period), dimension, groups, label) for label in table[unit]]
        return control(name, table, spec, self.policy, keys, labels=table[[unit]],
                       statistics=table[list(DELAY_STATISTICS)])

    def kpi_trends(self) -> list[Draft]:
        """Each KPI month by month, from the start of the export to the end of the period: what the
        trend charts and the Making Data Count summary draw from."""
        history = self.analysis.episodes_between(dt.date.min, self.period[1])
        span = (dt.date.min, self.period[1])
        drafts = [self.by_time("month", "trend_by_month", history, span)]
        counted = history[["month", "within_target", "escalated", "delay_minutes"]]  # all a month table reads
        for name, (dimension, group) in (("trend_imminent_risk_by_month", ("trigger", "imminent_risk")),
                                         ("trend_out_of_hours_by_month", ("band", "out_of_hours"))):
            subset = counted[(history[dimension].astype("str") == group).to_numpy()]
            drafts.append(self.by_time("month", name, subset, span, (dimension, group)))
        near = counted[(history["outcome"].astype("str") == "near_miss").to_numpy()]
        months = TimelinessTables(near).table("month").dropna(subset=["month"]).sort_values("month", ignore_index=True)
        months["month"] = months["month"].astype("str")
        keys = [RowKey(_clip(_unit_period("month", m), span), "outcome", ("near_miss",), m) for m in months["month"]]
        drafts.append(control("trend_near_misses_by_month", months, TableSpec(self.family, "n", ("n",), labels=("month",)),
                              self.policy, keys, labels=months[["month"]]))
        drafts.append(self.crisis_response_by_month(history, span))
        return drafts

    def crisis_response_by_month(self, history: pd.DataFrame, span: Period) -> Draft:
        """Crisis-team contacts by month of the episode, with responses within the target."""
        target = self.analysis.pathway.response_targets_minutes.get("crisis_team")
        responses = agency_responses(history, self.analysis.steps_frame)
        crisis = responses[(responses["agency"].astype("str") == "crisis_team").to_numpy()]
        months = history.drop_duplicates("incident_id").set_index("incident_id")["month"]
        minutes = crisis["response_minutes"]
        within = (minutes <= target).to_numpy() if target is not None else np.zeros(len(crisis), dtype=bool)
        table = _contacts_by_month(crisis["incident_id"].map(months).astype("str"), minutes.notna().to_numpy(), within)
        spec = TableSpec(self.families["agency_contacts"], "contacts", ("contacts", "responses_recorded", "within_target"),
                         {"within_target_pct": Rate("within_target", "responses_recorded")}, labels=("month",),
                         headline=("contacts", "within_target"))
        keys = [RowKey(_clip(_unit_period("month", m), span), "agency", ("crisis_team",), m) for m in table["month"]]
        return control("trend_crisis_response_by_month", table, spec, self.policy, keys, labels=table[["month"]],
                       not_applicable={"within_target_pct": range(len(table))} if target is None else None)

    def training(self) -> Draft | None:
        training = self.analysis.training_frame
        if training is None or self.episodes.empty:
            return None
        trained = trained_within_year(self.episodes, training)
        unknown = trained.isna().to_numpy()
        labels = pd.Series(np.where(unknown, "unknown", np.where(trained.fillna(False).to_numpy(dtype=bool),
                                                                  "trained", "not trained")),
                           index=self.episodes.index, dtype="str")
        table = self.tables.table("training", frame=pd.DataFrame({"training": labels}))
        table = table[table["training"] != "unknown"].reset_index(drop=True)
        keys = [RowKey(self.period, "training", (g,), g) for g in table["training"]]
        return control("timeliness_by_training", table, _timeliness_spec(self.family, "training"), self.policy,
                       keys, labels=table[["training"]], statistics=table[list(DELAY_STATISTICS)],
                       lists_every_group=True, left_out=("unknown",))

    def near_misses(self) -> Draft:
        outcome = self.episodes["outcome"].astype("str").fillna(NOT_RECORDED)
        table = self.tables.table("outcome", frame=pd.DataFrame({"outcome": outcome}))
        table = table.set_index("outcome").reindex(["near_miss", "incident"]).fillna(0).reset_index()
        spec = TableSpec(self.family, "n", ("n",), labels=("outcome",))
        keys = [RowKey(self.period, "outcome", (g,), g) for g in table["outcome"]]
        return control("near_misses", table, spec, self.policy, keys, labels=table[["outcome"]],
                       lists_every_group=True, left_out=(NOT_RECORDED,))

    # -- the pathway, agencies, learning ---------------------------------------------------------

    def pathway_tables(self) -> list[Draft]:
        steps = self.analysis.steps_frame
        episodes = self.episodes
        drafts = []
        responses = response_by_agency(agency_responses(episodes, steps), self.analysis.pathway)
        drafts.append(self.agency_response(responses))
        if steps is None:
            return drafts
        adherence = episode_adherence(episodes, steps, self.analysis.pathway)
        checks = adherence_summary(adherence)
        drafts.append(self.adherence(checks))
        drafts.append(self.approvals_by_team(adherence))
        contacted = (steps["step"] == "contacted") & text_isin(steps["incident_id"], adherence["incident_id"])
        # (route_variants needs at least one contact: a period without any has no routes)
        routes = route_variants(adherence, steps) if contacted.any() else pd.DataFrame({"route": [], "episodes": []})
        drafts.append(self.simple("routes", routes, "route", "episodes", _single_family("routes", "route", "episodes")))
        handoffs = handoff_summary(handoff_delays(episodes, steps))
        drafts.append(self.simple("handoffs", handoffs, "handoff", "n", _single_family("handoffs", "handoff", "n"),
                                  statistics={"median_minutes": "n", "p90_minutes": "n"}))
        themes = pathway_themes(episodes, adherence)[["theme", "episodes", "late", "question"]]
        family = Family("themes", ("late", "on_time"), THEME_COLUMNS,
                        {"theme": Dimension("theme", tuple(themes["theme"]), partition=False)})
        self.extra_families[family.name] = family
        truth = themes.assign(on_time=themes["episodes"] - themes["late"])
        spec = TableSpec(family, "episodes", ("episodes", "late"), {"late_pct": Rate("late", "episodes")},
                         labels=("theme", "question"), headline=("episodes", "late"))
        keys = [RowKey(self.period, "theme", (t,), t) for t in themes["theme"]]
        drafts.append(control("themes", truth, spec, self.policy, keys, labels=themes[["theme", "question"]]))
        return drafts

    def adherence(self, checks: pd.DataFrame) -> Draft:
        family = self.families["adherence:adherent"]
        spec = TableSpec(family, "checked", ("checked", "passed"),
                         {"passed_pct": Rate("passed", "checked"), "ci95_low_pct": Rate("passed", "checked", "wilson_low"),
                          "ci95_high_pct": Rate("passed", "checked", "wilson_high")},
                         labels=("check",), headline=("checked", "passed"))
        truth = checks.assign(failed=checks["checked"] - checks["passed"])
        keys = [RowKey(self.period, None, (), c, family=f"adherence:{c}") for c in checks["check"]]
        return control("adherence", truth, spec, self.policy, keys, labels=checks[["check"]])

    def approvals_by_team(self, adherence: pd.DataFrame) -> Draft:
        family = self.families["adherence:approvals_within_limit"]
        teams = adherence["team"].astype("str")
        merged: dict[int, tuple[str, ...]] = {}
        table = self._approvals(adherence, teams)
        if self.policy.merge_small_groups:
            small = tuple(table.loc[(table["checked"] >= 1) & (table["checked"] <= self.policy.threshold), "team"])
            if small:
                label = self.policy.merged_label("teams")
                table = self._approvals(adherence, teams.where(~teams.isin(small), label))
                order = [t for t in table["team"] if t != label] + [label]
                table = table.set_index("team").loc[order].reset_index()
                merged[len(table) - 1] = small
        spec = TableSpec(family, "checked", ("checked", "passed"), {"passed_pct": Rate("passed", "checked")},
                         labels=("team",), headline=("checked", "passed"))
        published = table[table["team"] != NOT_RECORDED].reset_index(drop=True)
        merged = {list(published["team"]).index(table["team"].iloc[i]): g for i, g in merged.items()}
        keys = [RowKey(self.period, "team", merged.get(i, (t,)), t) for i, t in enumerate(published["team"])]
        truth = published.assign(failed=published["checked"] - published["passed"])
        return control("approvals_by_team", truth, spec, self.policy, keys, labels=published[["team"]],
                       merged_rows=merged, lists_every_group=True, left_out=(NOT_RECORDED,))

    @staticmethod
    def _approvals(adherence: pd.DataFrame, teams: pd.Series) -> pd.DataFrame:
        """Episodes checked and passing the approvals check per team (as adherence_summary by
        team gives them, without working out the other checks)."""
        frame = pd.DataFrame({"team": teams, "passed": adherence["approvals_within_limit"]}).dropna(subset=["passed"])
        frame["passed"] = frame["passed"].astype(int)
        return frame.groupby("team", sort=True)["passed"].agg(checked="size", passed="sum").reset_index()

    def agency_response(self, responses: pd.DataFrame) -> Draft:
        family = self.families["agency_contacts"]
        columns = ["agency", "contacts", "responses_recorded", "median_minutes", "p90_minutes", "target_minutes",
                   "within_target", "within_target_pct"]
        responses = responses.reindex(columns=columns)
        for count in ("contacts", "responses_recorded", "within_target"):
            responses[count] = responses[count].fillna(0).astype("int64")
        truth = responses.assign(late=responses["responses_recorded"] - responses["within_target"],
                                 no_response=responses["contacts"] - responses["responses_recorded"])
        spec = TableSpec(family, "contacts", ("contacts", "responses_recorded", "within_target"),
                         {"within_target_pct": Rate("within_target", "responses_recorded")},
                         {"median_minutes": "responses_recorded", "p90_minutes": "responses_recorded"},
                         labels=("agency", "target_minutes"), headline=("contacts", "within_target"))
        keys = [RowKey(self.period, "agency", (a,), a) for a in responses["agency"].astype("str")]
        labels = responses[["agency", "target_minutes"]].astype(object)
        no_target = np.flatnonzero(responses["target_minutes"].isna().to_numpy())
        return control("agency_response", truth, spec, self.policy, keys, labels=labels,
                       statistics=responses[["median_minutes", "p90_minutes"]],
                       not_applicable={"within_target_pct": no_target}, lists_every_group=True)

    def simple(self, name: str, table: pd.DataFrame, label: str, count: str, family: Family,
               statistics: dict[str, str] | None = None) -> Draft:
        """A table of stand-alone counts (routes, hand-offs): no total is published."""
        table = table.reset_index(drop=True)
        family = Family(family.name, family.outcomes, family.columns,
                        {label: Dimension(label, tuple(table[label].astype("str")), partition=False)})
        self.extra_families[family.name] = family
        spec = TableSpec(family, count, (count,), statistics=statistics or {}, labels=(label,), headline=(count,))
        keys = [RowKey(self.period, label, (g,), g) for g in table[label].astype("str")]
        truth = table[[count]].astype("int64")
        stats = table[list(statistics)] if statistics else None
        return control(name, truth, spec, self.policy, keys, labels=table[[label]], statistics=stats)

    def actions(self) -> Draft | None:
        actions = self.analysis.actions_frame
        if actions is None:
            return None
        status = action_status(actions, self.episodes, self.period[1])
        rows = []
        for part in (status, status[status["linked"].to_numpy(dtype=bool)]):
            open_ = (part["status"] == "open").to_numpy()
            overdue = part["overdue"].to_numpy(dtype=bool)
            rows.append({"overdue": int(overdue.sum()), "open_on_time": int((open_ & ~overdue).sum()),
                         "closed": int((part["status"] == "closed").sum())})
        truth = pd.DataFrame(rows)
        truth["total"] = truth[["overdue", "open_on_time", "closed"]].sum(axis=1)
        truth["open"] = truth["overdue"] + truth["open_on_time"]
        # a snapshot on the last day, not a flow over the period: one family per day
        family = Family(f"actions on {self.period[1]:%d/%m/%Y}", ("overdue", "open_on_time", "closed"), ACTION_COLUMNS,
                        {"linked": Dimension("linked", ("linked", "not linked"))}, timed=False)
        self.extra_families[family.name] = family
        spec = TableSpec(family, "total", ("total", "open", "closed", "overdue"), labels=("actions",),
                         headline=("total", "overdue"))
        keys = [RowKey(self.period, None, (), "all actions"), RowKey(self.period, "linked", ("linked",), "linked to episodes")]
        labels = pd.DataFrame({"actions": ["all actions", "linked to episodes"]})
        return control("learning_actions", truth, spec, self.policy, keys, labels=labels)

    # -- data quality ----------------------------------------------------------------------

    def data_quality(self) -> _DataQuality:
        accounting = self.analysis.accounting
        reasons = [r for r in EXCLUSION_REASONS if r != "outside_period"]
        rows = Family("rows", ("valid", *reasons), {"read": ("valid", *reasons), "valid": ("valid",),
                                                     **{r: (r,) for r in reasons}}, timed=False)
        warnings = Family("warnings", ("rows",), {"rows": ("rows",)},
                          {"reason": Dimension("reason", tuple(WARNING_REASONS), partition=False)})
        self.extra_families.update({rows.name: rows, warnings.name: warnings})
        return _DataQuality(accounting, self.period, self.policy)


@dataclass
class _Count:
    """One data-quality count: what it adds up, its true value, how it is published."""

    key: tuple[str, ...]
    label: str
    terms: tuple[tuple[float, Cell], ...]
    value: int
    state: str


class _DataQuality:
    """The row counts of the data-quality statement, as published: rows read, excluded (by
    reason, outside the period apart), kept with a warning. Rows analysed is the period's
    episode count, published once, in the timeliness tables."""

    def __init__(self, accounting: Any, period: Period, policy: DisclosurePolicy):
        self.policy = policy
        self.accounting = accounting
        self.period = period
        analysed = Cell(EPISODES, period, "n")
        read, valid = Cell("rows", ALL_TIME, "read"), Cell("rows", ALL_TIME, "valid")
        label = f"data quality ({period_label(period)})"
        self.counts: list[_Count] = []

        def add(key: tuple[str, ...], what: str, terms: tuple[tuple[float, Cell], ...], value: int) -> None:
            state = SMALL if policy.is_small(int(value)) else SHOWN
            self.counts.append(_Count(key, f"{label}: {what}", terms, int(value), state))

        add(("rows_read",), "rows read", ((1.0, read),), accounting.rows_read)
        add(("rows_excluded",), "rows excluded", ((1.0, read), (-1.0, analysed)), accounting.rows_excluded)
        for reason, value in accounting.excluded_by_reason().items():
            if reason == "outside_period":
                add(("excluded_by_reason", reason), "outside the period", ((1.0, valid), (-1.0, analysed)), value)
            else:
                add(("excluded_by_reason", reason), reason, ((1.0, Cell("rows", ALL_TIME, reason)),), value)
        for reason, value in accounting.warnings_by_reason().items():
            add(("warnings", reason), f"warning {reason}",
                ((1.0, Cell("warnings", period, "rows", "reason", (reason,))),), value)

    def figures(self) -> list[Figure]:
        # every analysable row is an episode of the export: a relation, not a published number
        out = [Figure(((1.0, Cell("rows", ALL_TIME, "valid")), (-1.0, Cell(EPISODES, ALL_TIME, "n"))), 0, 0,
                      "rows that load are the export's episodes")]
        for count in self.counts:
            cell = count.terms[0][1] if len(count.terms) == 1 else None
            if count.state == SHOWN:
                low, high = self.policy.possible_counts(self.policy.round(count.value))
            elif count.state == SMALL:
                low, high = 1, self.policy.threshold
            else:
                low, high = self.policy.smallest_shown, float("inf")
            out.append(Figure(count.terms, low, high, count.label, cell))
        return out

    def checks(self) -> list[Check]:
        marks = {SMALL: self.policy.marks.small, PROTECTED: self.policy.marks.protected}
        return [Check(c.terms[0][1], c.label, marks[c.state], "data_quality", c.label.split(": ", 1)[1], "rows",
                      1.0 if c.state == SMALL else self.policy.smallest_shown,
                      self.policy.threshold if c.state == SMALL else float("inf"))
                for c in self.counts if c.state != SHOWN and len(c.terms) == 1]

    def hiders(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        """Figure label -> (cost, withhold) for every count secondary suppression may withhold."""
        out = {}
        for count in self.counts:
            if count.state == SHOWN and count.value > self.policy.threshold:
                def hide(count: _Count = count) -> None:
                    count.state = PROTECTED
                out[count.label] = ((0, 0, count.value, count.value), hide)
        return out

    def published(self, analysed: Any) -> dict[str, Any]:
        """``summary.json``'s data-quality numbers; ``analysed`` as the timeliness tables publish it."""
        marks = {SMALL: self.policy.marks.small, PROTECTED: self.policy.marks.protected}
        quality: dict[str, Any] = {"rows_analysed": analysed, "excluded_by_reason": {}, "warnings": {}}
        for count in self.counts:
            value = self.policy.round(count.value) if count.state == SHOWN else marks[count.state]
            if len(count.key) == 1:
                quality[count.key[0]] = value
            else:
                quality[count.key[0]][count.key[1]] = value
        # fitness checks count rows with a property of the data (times at midnight...): stand-alone counts
        quality["fitness"] = [{**check.to_dict(public=True), "rows": _shown(check.rows, self.policy)}
                              for check in getattr(self.accounting, "fitness", [])]
        return {k: quality[k] for k in ("rows_read", "rows_analysed", "rows_excluded", "excluded_by_reason",
                                        "warnings", "fitness")}


def _shown(value: int, policy: DisclosurePolicy) -> int | str:
    if policy.is_small(int(value)):
        return policy.marks.small
    return policy.round(int(value))


def _contacts_by_month(month: pd.Series, responded: np.ndarray, within: np.ndarray) -> pd.DataFrame:
    """Contacts, responses recorded and responses within target per month (sorted), contacts
    without a month left out, as a groupby would: counted with numpy, since a groupby of three
    named sums cost more than the rest of the table."""
    codes, months = pd.factorize(month, sort=True)
    contacts, recorded = tally(codes, len(months)), tally(codes, len(months), responded)
    in_target = tally(codes, len(months), within)
    return pd.DataFrame({"month": pd.Series(np.asarray(months, dtype=object), dtype="str"), "contacts": contacts,
                         "responses_recorded": recorded, "within_target": in_target,
                         "late": recorded - in_target, "no_response": contacts - recorded})


def _single_family(name: str, dimension: str, column: str) -> Family:
    return Family(name, (column,), {column: (column,)}, {dimension: Dimension(dimension, (), partition=False)})


def _unit_period(unit: str, label: str) -> Period:
    """The dates of a month (``2025-10``) or an NHS financial quarter (``2025/26 Q3``)."""
    if unit == "month":
        year, month = (int(p) for p in label.split("-"))
        start = dt.date(year, month, 1)
        end = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
        return start, end
    first_year = int(label[:4])
    quarter = int(label[-1])
    month = 3 * quarter + 1
    year = first_year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    start = dt.date(year, month, 1)
    end_month = month + 2
    end = dt.date(year + end_month // 12, end_month % 12 + 1, 1) - dt.timedelta(days=1)
    return start, end


def _clip(period: Period, within: Period) -> Period:
    return max(period[0], within[0]), min(period[1], within[1])


# -- secondary suppression (policies with exact counts) ------------------------------------------


def _protect(drafts: list[Draft], quality: _DataQuality | None, figures: Any, checks: Any,
             families: dict[str, Family], policy: DisclosurePolicy, findings: list[Finding], settled: set[Cell], *,
             fixed: set[Cell] = frozenset(), limit: int = 200) -> None:
    """Withhold published counts until the audit finds nothing: each time the cheapest that pins one.

    Candidates are the published counts whose figures bind the unsafe count's bounds; the
    cheapest by :meth:`Draft.headline_cost` is withheld (``[c]``), so a big group's headline
    figures go only when nothing else would do. A count withheld on its own is never 0 and never
    1 to the threshold (those keep their own marks), so such a ``[c]`` outside a small group
    means at least ``threshold + 1``, which the audit takes into account.

    When only small counts pin it (a total of 6 or 7 split over six age bands, each ``*``), no
    one count would free it: the breakdown column holding most of them is withheld as a whole
    (:func:`_whole_columns`), and the audit then takes each of its cells as any count from 0.

    Checks found safe stay safe, since withholding only widens what can be derived. ``figures``
    and ``checks`` give the current figures and checks of everything published with the
    drafts; ``findings`` and ``settled`` are the first pass of :func:`unsafe_findings` over them
    as they are. ``fixed``: counts another report of the run shows, which withholding them here
    would not hide.
    """
    def hiders(places_of: dict[Cell, list[tuple[Draft, int, str]]]) -> dict[str, tuple[tuple[int, ...], Any]]:
        out = dict(quality.hiders()) if quality is not None else {}
        for cell, places in places_of.items():
            if cell in fixed:
                continue
            draft, row, column = places[0]
            j = draft.col(column)
            if draft.state[row, j] != SHOWN or int(draft.truth[row, j]) <= policy.threshold:
                continue

            def hide(places: list[tuple[Draft, int, str]] = places) -> None:
                for d, r, c in places:  # the same count is withheld in every table showing it
                    d.hide(r, c)
            for d, r, c in places:
                out[d.cell_label(r, c)] = (draft.headline_cost(row, column), hide)
        return out

    for attempt in range(limit):
        if attempt:
            findings = unsafe_findings(families, figures(), checks(), policy, settled)
        if not findings:
            return
        places_of = _places_of(drafts)
        available = hiders(places_of)
        columns: dict[str, _WholeColumn] | None = None  # made when a finding needs them (rarely)
        used: set[str] = set()
        for finding in findings:  # one count for each unsafe one, unless this pass already helped it
            if used & set(finding.pinned_by):
                continue
            candidates = [(available[label][0], label) for label in finding.pinned_by if label in available]
            if candidates:
                _, label = min(candidates)
                available[label][1]()
                used.add(label)
                _log.debug("withheld %s to protect %s", label, finding.check.label)
                continue
            columns = columns if columns is not None else _whole_columns(drafts, places_of)
            pinning = Counter(columns[label] for label in finding.pinned_by if label in columns)
            if not pinning:
                settled.add(finding.check.cell)  # nothing left to withhold: the audit will withhold the report
                continue
            column = max(pinning, key=lambda c: (not c.headline, pinning[c], -c.rows, c.name))
            column.withhold()
            used.update(column.labels)
            _log.debug("withheld the column %s of %s to protect %s", column.column, column.draft.name,
                       finding.check.label)


def _places_of(drafts: list[Draft]) -> dict[Cell, list[tuple[Draft, int, str]]]:
    """Every place a count is published: the same count is withheld in every table showing it."""
    by_cell: dict[Cell, list[tuple[Draft, int, str]]] = defaultdict(list)
    for draft in drafts:
        for row in range(len(draft.keys)):
            for column in draft.spec.counts:
                by_cell[draft.cell(row, column)].append((draft, row, column))
    return by_cell


@dataclass(frozen=True, eq=False)
class _WholeColumn:
    """A count column of a breakdown that may be withheld as a whole (for :func:`_protect`)."""

    draft: Draft
    column: str
    places: tuple[tuple[Draft, int, str], ...]
    labels: frozenset[str]

    @property
    def name(self) -> tuple[str, str]:
        return (self.draft.name, self.column)

    @property
    def rows(self) -> int:
        return len(self.draft.keys)

    @property
    def headline(self) -> bool:
        return self.column in self.draft.spec.headline

    def withhold(self) -> None:
        for draft, row, column in self.places:
            draft.hide_whatever_value(row, column)


def _whole_columns(drafts: list[Draft], places_of: dict[Cell, list[tuple[Draft, int, str]]]
                   ) -> dict[str, _WholeColumn]:
    """Label of each small count in a breakdown -> its column, to withhold as a whole.

    Breakdowns only (a table of groups, not one total), and never the column of the groups'
    sizes: a ``*`` there says the group is small, and its other figures are ``[c]`` already.
    """
    out: dict[str, _WholeColumn] = {}
    for draft in drafts:
        if not any(key.dimension is not None for key in draft.keys):
            continue
        for column in draft.spec.counts:
            j = draft.col(column)
            small = np.flatnonzero(draft.state[:, j] == SMALL)
            if column == draft.spec.size or not len(small):
                continue
            places = tuple(p for row in range(len(draft.keys)) for p in places_of[draft.cell(row, column)])
            labels = frozenset(d.cell_label(r, c) for d, r, c in places)
            whole = _WholeColumn(draft, column, places, labels)
            for row in small:
                out[draft.cell_label(int(row), column)] = whole
    return out
