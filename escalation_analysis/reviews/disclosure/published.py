"""A plan's figures in the shapes external outputs need: JSON sections, CSV tables, series, words.

Every number an external or partner output prints comes through here from the
:class:`~escalation_analysis.reviews.disclosure.plan.DisclosurePlan`, never from the episodes:
``summary.json``'s sections, ``tables/*.csv``, the KPI values, the monthly SPC series and the
counts said in sentences. A withheld count is its mark (``*`` or ``[c]``), a withheld rate or
statistic is None (``null``), as ``docs/privacy.md`` says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ...measures.kpi_trends import IMPROVEMENT, KPI_UNITS, MIN_MONTHS, KpiTrend
from ...measures.spc import SPCResult, p_chart, xmr
from .engine import PROTECTED, SMALL, ControlledTable
from .plan import DisclosurePlan

ENTRY_KEYS = ("n", "within_target", "within_target_pct", "ci95_pct", "not_escalated", "median_delay_minutes",
              "p90_delay_minutes")
SUMMARY_BREAKDOWNS = ("band", "team", "trigger", "ooh_sub_band", "lone_worker", "quarter")
"""The ``by_*`` entries of ``summary.json``'s ``timeliness`` (as for internal readers)."""
CSV_TABLES = (
    "timeliness_overall", "timeliness_by_team", "timeliness_by_band", "timeliness_by_ooh_sub_band",
    "timeliness_by_trigger", "timeliness_by_lone_worker", "timeliness_by_quarter", "timeliness_by_month",
    "timeliness_by_agency", "timeliness_by_ethnicity", "timeliness_by_age_band", "timeliness_by_gender",
    "timeliness_by_training", "adherence", "agency_response", "handoffs",
)
"""Plan tables written as ``tables/<name>.csv`` beside an external report."""


def entry(record: dict[str, Any]) -> dict[str, Any]:
    """One timeliness group as ``summary.json`` shapes it."""
    return {
        "n": record["n"], "within_target": record["within_target"], "within_target_pct": record["within_target_pct"],
        "ci95_pct": [record["ci95_low_pct"], record["ci95_high_pct"]], "not_escalated": record["not_escalated"],
        "median_delay_minutes": record["median_delay_minutes"], "p90_delay_minutes": record["p90_delay_minutes"],
    }


def timeliness_section(plan: DisclosurePlan) -> dict[str, Any]:
    """``summary.json``'s ``timeliness``: overall and the standard breakdowns."""
    overall = plan.table("timeliness_overall").frame
    section: dict[str, Any] = {"overall": entry(overall.iloc[0].to_dict()) if len(overall) else {}}
    for by in SUMMARY_BREAKDOWNS:
        table = plan.table(f"timeliness_by_{by}").frame
        section[f"by_{by}"] = {str(r[by]): entry(r) for r in table.to_dict("records")}
    return section


def csv_tables(plan: DisclosurePlan) -> dict[str, pd.DataFrame]:
    """``tables/*.csv``: each plan table with withheld figures as their marks."""
    from ..labels import routes_for_readers

    tables = {name: plan.table(name).for_readers() for name in CSV_TABLES if name in plan.tables}
    if "handoffs" in tables and len(tables["handoffs"]):
        tables["handoffs"] = tables["handoffs"].assign(handoff=routes_for_readers(tables["handoffs"]["handoff"]))
    return tables


def counts_by(table: ControlledTable, label: str) -> dict[str, Any]:
    """Label -> first count column, as published (a number or a mark)."""
    count = table.frame.columns[len(_labels(table))]
    return {str(r[label]): r[count] for r in table.frame.to_dict("records")}


def _labels(table: ControlledTable) -> list[str]:
    return [c for c in table.frame.columns if c not in table.states.columns]


def near_misses(plan: DisclosurePlan) -> dict[str, Any]:
    """``summary.json``'s ``near_misses``: near misses and incidents, as published."""
    counts = counts_by(plan.table("near_misses"), "outcome")
    return {"n": counts.get("near_miss", 0), "incidents": counts.get("incident", 0)}


def learning_actions(plan: DisclosurePlan) -> dict[str, Any] | None:
    """``summary.json``'s ``learning_actions`` counts, or None without a learning-actions log."""
    if "learning_actions" not in plan.tables:
        return None
    frame = plan.table("learning_actions").frame.set_index("actions")
    every, linked = frame.loc["all actions"], frame.loc["linked to episodes"]
    return {"total": every["total"], "linked_to_episodes": linked["total"], "open": every["open"],
            "closed": every["closed"], "overdue": every["overdue"]}


def adherence(plan: DisclosurePlan) -> dict[str, Any] | None:
    if "adherence" not in plan.tables:
        return None
    return {r["check"]: {"checked": r["checked"], "passed": r["passed"], "passed_pct": r["passed_pct"]}
            for r in plan.table("adherence").frame.to_dict("records")}


def multi_agency(plan: DisclosurePlan) -> dict[str, Any]:
    keys = ("contacts", "responses_recorded", "median_minutes", "p90_minutes", "within_target_pct")
    return {r["agency"]: {k: r[k] for k in keys} for r in plan.table("agency_response").frame.to_dict("records")}


def disclosure_section(plan: DisclosurePlan) -> dict[str, Any]:
    """``summary.json``'s ``disclosure``: which policy, and the key to its marks."""
    return {"policy": plan.policy.name, "method": plan.policy.title, "key": plan.key()}


def shown(value: Any) -> bool:
    """Whether a published value is a number (not a mark, not withheld)."""
    return value is not None and not isinstance(value, str) and not (isinstance(value, float) and np.isnan(value))


def in_words(value: Any, plan: DisclosurePlan) -> str:
    """A published count for a sentence: '1,234', 'fewer than 8', or 'a number withheld'."""
    if value == plan.policy.marks.small:
        return f"fewer than {plan.policy.smallest_shown}"
    if value == plan.policy.marks.protected or not shown(value):
        return "a number withheld to protect small numbers"
    return f"{int(value):,}"


# -- monthly series for the SPC charts ----------------------------------------------------------


def compliance_p_chart(plan: DisclosurePlan, target_pct: float | None = None) -> SPCResult | None:
    """Monthly share within target as a p-chart from the published (rounded) counts; months
    whose counts are withheld are not points."""
    return kpi_trends(plan, {"compliance_pct": target_pct}, crisis_response=False)["compliance_pct"].result


def median_delay_xmr(plan: DisclosurePlan) -> SPCResult | None:
    """Monthly median delay as an XmR chart; months whose median is withheld are not points."""
    return kpi_trends(plan, {}, crisis_response=False)["median_delay_minutes"].result


# -- the KPI table -----------------------------------------------------------------------------


def kpi_values(plan: DisclosurePlan) -> dict[str, Any]:
    """Each KPI of a period as published: a number, a mark, or None (not defined).

    Read from the same tables as everything else, so the KPI table, ``summary.json`` and the
    charts agree figure for figure. A withheld rate or median is its mark (``[c]``), as in the
    tables, not a dash a reader would take for "no data".
    """
    def row(table: str, label: str, value: str) -> dict[str, Any] | None:
        if table not in plan.tables:
            return None
        frame = plan.table(table).for_readers()
        matches = frame[frame[label] == value]
        return None if matches.empty else matches.iloc[0].to_dict()

    overall = plan.table("timeliness_overall").for_readers()
    first = overall.iloc[0].to_dict() if len(overall) else {}
    imminent = row("timeliness_by_trigger", "trigger", "imminent_risk") or {}
    out_of_hours = row("timeliness_by_band", "band", "out_of_hours") or {}
    crisis = row("agency_response", "agency", "crisis_team")
    actions = row("learning_actions", "actions", "all actions")
    near = row("near_misses", "outcome", "near_miss") or {}
    values = {
        "compliance_pct": first.get("within_target_pct"),
        "imminent_risk_compliance_pct": imminent.get("within_target_pct"),
        "out_of_hours_compliance_pct": out_of_hours.get("within_target_pct"),
        "not_escalated": first.get("not_escalated"),
        "median_delay_minutes": first.get("median_delay_minutes"),
        "p90_delay_minutes": first.get("p90_delay_minutes"),
        "near_misses": near.get("n", 0),
    }
    if crisis is not None:
        values["crisis_team_response_pct"] = crisis.get("within_target_pct")
    if actions is not None:
        values["overdue_actions"] = actions.get("overdue")
    return values


@dataclass(frozen=True)
class _MonthlySeries:
    """Where a KPI's published months are: a share (``column`` of ``denominator``, its rate in
    ``within_target_pct``) or a series of ``column``, whose withheld month is withheld for its
    outcome when ``outcome`` (a count) and for its size otherwise (a median of few values)."""

    table: str
    column: str
    denominator: str | None = None
    outcome: bool = True

    @property
    def shown_column(self) -> str:
        return "within_target_pct" if self.denominator else self.column


MONTHLY_SERIES: dict[str, _MonthlySeries] = {
    "compliance_pct": _MonthlySeries("trend_by_month", "within_target", "n"),
    "imminent_risk_compliance_pct": _MonthlySeries("trend_imminent_risk_by_month", "within_target", "n"),
    "out_of_hours_compliance_pct": _MonthlySeries("trend_out_of_hours_by_month", "within_target", "n"),
    "not_escalated": _MonthlySeries("trend_by_month", "not_escalated"),
    "median_delay_minutes": _MonthlySeries("trend_by_month", "median_delay_minutes", outcome=False),
    "p90_delay_minutes": _MonthlySeries("trend_by_month", "p90_delay_minutes", outcome=False),
    "near_misses": _MonthlySeries("trend_near_misses_by_month", "n"),
    "crisis_team_response_pct": _MonthlySeries("trend_crisis_response_by_month", "within_target", "responses_recorded"),
}
"""Each KPI with a monthly series, in the Making Data Count table's order (overdue actions have none)."""


def _monthly_series(crisis_response: bool) -> dict[str, _MonthlySeries]:
    """The KPIs charted by month: crisis-team responses only where the pathway sets their target."""
    return {k: v for k, v in MONTHLY_SERIES.items() if crisis_response or k != "crisis_team_response_pct"}


def kpi_trends(plan: DisclosurePlan, targets: dict[str, float | None], *,
               crisis_response: bool = True) -> dict[str, KpiTrend]:
    """Every KPI month by month as an SPC chart, from the published monthly figures.

    The external counterpart of :func:`~escalation_analysis.measures.kpi_trends.kpi_trends`:
    rates from the rounded counts, counts as rounded, medians as published. A month is left out
    when it is too small to show (a share's episodes, a median's values): that says nothing of
    its outcome. But when a month's outcome itself is withheld (a count from 1 to the threshold,
    or a share's numerator beside a shown denominator: a team whose timeliness collapsed), a
    chart of the other months would hide exactly the month that matters, and give a mean,
    limits and icons without it; that KPI gets no chart, with the reason.
    """
    trends: dict[str, KpiTrend] = {}
    for kpi, series in _monthly_series(crisis_response).items():
        months = _months(plan, series)
        drawn = months[months["drawn"]]
        hidden = months.loc[months["outcome_withheld"].astype(bool), "month_start"]
        result, reason = None, ""
        if len(hidden):
            reason = (f"{_months_named(hidden)} shown as {plan.policy.marks.small} or "
                      f"{plan.policy.marks.protected}, and a chart of the other months alone would mislead")
        elif drawn.empty:
            reason = "no month with figures that can be shown"
        elif len(drawn) < MIN_MONTHS:
            reason = f"fewer than {MIN_MONTHS} months with figures that can be shown"
        elif series.denominator:
            target = targets.get(kpi)
            result = p_chart(drawn[series.column].astype("int64").tolist(),
                             drawn[series.denominator].astype("int64").tolist(), drawn["month_start"].tolist(),
                             improvement=IMPROVEMENT[kpi], target=None if target is None else target / 100)
        else:
            result = xmr(drawn[series.column].astype(float).tolist(), drawn["month_start"].tolist(),
                         improvement=IMPROVEMENT[kpi], target=targets.get(kpi))
        left_out = len(months) - len(drawn)
        if result is not None and left_out:
            result.warnings.append(f"{left_out} month{'s' if left_out != 1 else ''} with too few episodes to show "
                                   "are not shown as points.")
        trends[kpi] = KpiTrend(kpi, result, targets.get(kpi), KPI_UNITS[kpi], reason)
    trends["overdue_actions"] = KpiTrend("overdue_actions", None, targets.get("overdue_actions"),
                                         KPI_UNITS["overdue_actions"],
                                         "a count on the last day of the period, not a monthly series")
    return trends


def latest_month_values(plan: DisclosurePlan, *, crisis_response: bool = True) -> dict[str, Any]:
    """Each monthly KPI's figure for the period's last month, as published (a number or a mark).

    What an outside front sheet shows as "Latest" for a KPI without a chart: the month the
    report is about, never an earlier month that happens to be shown.
    """
    last = f"{plan.period[1]:%Y-%m}"
    values: dict[str, Any] = {}
    for kpi, series in _monthly_series(crisis_response).items():
        if series.table not in plan.tables:
            continue
        frame = plan.table(series.table).frame
        row = frame[frame["month"] == last]
        if row.empty:
            continue
        value, count = row.iloc[0][series.shown_column], row.iloc[0][series.column]
        # a rate on a withheld count is withheld (None): show the count's mark, which says why
        values[kpi] = value if shown(value) or isinstance(value, str) else (count if isinstance(count, str) else None)
    return values


def _months_named(months: pd.Series) -> str:
    """'the figure for Oct 2025 is', 'the figures for Oct 2025 and Nov 2025 are' (by name up to six)."""
    if len(months) > 6:
        return f"the figures for {len(months)} months are"
    names = [f"{m:%b %Y}" for m in months]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"the figure for {listed} is" if len(names) == 1 else f"the figures for {listed} are"


def _months(plan: DisclosurePlan, series: _MonthlySeries) -> pd.DataFrame:
    """A monthly table as published, with ``drawn`` (every figure the point needs is shown) and
    ``outcome_withheld`` (the month's outcome is a mark: a count itself, or a share's numerator
    beside a denominator that is shown and not 0)."""
    columns = [series.column, *([series.denominator] if series.denominator else [])]
    if series.table not in plan.tables:
        return pd.DataFrame({"month_start": [], "drawn": [], "outcome_withheld": [], **{c: [] for c in columns}})
    frame = plan.table(series.table).frame.copy()
    frame["month_start"] = pd.to_datetime(frame["month"] + "-01")
    drawn = np.ones(len(frame), dtype=bool)
    for column in columns:
        drawn &= np.array([shown(v) for v in frame[column]], dtype=bool)
    marked = np.array([isinstance(v, str) for v in frame[series.column]], dtype=bool)
    if series.denominator:  # a share: its denominator must be shown and not 0
        sized = np.array([shown(v) and v > 0 for v in frame[series.denominator]], dtype=bool)
        drawn &= sized
        marked &= sized
    frame["outcome_withheld"] = marked & series.outcome
    frame["drawn"] = drawn
    return frame


# -- summary.json for outside readers ----------------------------------------------------------------


def comparisons(analysis: Any, plan: DisclosurePlan) -> dict[str, Any]:
    """Out of hours against in hours, lone workers against accompanied staff, for outside readers.

    The within-target comparison is made from the published (rounded) counts of the two
    groups, so its percentages are the tables' percentages; it is left out unless both groups'
    counts are shown and each has more than four times the threshold (a percentage difference
    on fewer could narrow a small count). The delay comparisons are statistics of many
    episodes (medians, tests), as NHS Digital's method allows.
    """
    from ...measures.comparisons import FACTORS, compare_factor
    from ...measures.statistics import compare_proportions

    out: dict[str, Any] = {}
    for factor, by in (("band", "band"), ("lone_worker", "lone_worker")):
        _, first, second, first_label, second_label = FACTORS[factor]
        rows = {str(r[by]): r for r in plan.table(f"timeliness_by_{by}").frame.to_dict("records")}
        pair = [rows.get(first), rows.get(second)]
        if any(r is None or not shown(r["n"]) or not shown(r["within_target"]) for r in pair):
            continue
        if min(r["n"] for r in pair) <= 4 * plan.policy.threshold:
            continue
        found = compare_factor(analysis.episodes, factor, analysis.as_of)
        found["compliance"] = compare_proportions(pair[0]["within_target"], pair[0]["n"], pair[1]["within_target"],
                                                  pair[1]["n"], first_label, second_label)
        out[factor] = {name: {"test": c.test, "p_value": c.p_value, "wording": c.wording,
                              "effects": {k: e.value for k, e in c.effects.items()}}
                       for name, c in found.items()}
    return out


def summary_sections(analysis: Any, plan: DisclosurePlan) -> dict[str, Any]:
    """Every section of an external ``summary.json`` after the header, from the plan."""
    quality = analysis.accounting.to_dict(with_rows=False)
    quality.pop("unknown_values", None)  # local spellings to fix in the profile: an internal matter
    quality.update(plan.data_quality)
    data: dict[str, Any] = {
        "disclosure": disclosure_section(plan),
        "data_quality": quality,
        "timeliness": timeliness_section(plan),
        "near_misses": near_misses(plan),
        "comparisons": comparisons(analysis, plan),
    }
    checks = adherence(plan)
    if checks is not None:
        data["adherence"] = checks
    data["multi_agency"] = multi_agency(plan)
    actions = learning_actions(plan)
    if actions is not None:
        data["learning_actions"] = actions
    if getattr(analysis, "training", None) is not None:
        from ...measures.learning import TRAINING_CAVEAT

        data["training"] = {"caveat": TRAINING_CAVEAT}
    return data


# -- words every external report prints ---------------------------------------------------------------


def key_lines(plan: DisclosurePlan) -> list[str]:
    """The key to the marks and the treatment of counts, for the report's first use of them."""
    return plan.key()


def key_markdown(plan: DisclosurePlan) -> str:
    """The key as a Markdown paragraph (the marks escaped, so ``*`` is shown, not emphasis)."""
    from ..display import markdown_text

    return markdown_text("**Key to the figures.** {key}", key=" ".join(plan.key()))


def methods_markdown(plan: DisclosurePlan) -> str:
    """:func:`methods_statement` as a Markdown paragraph."""
    from ..display import markdown_text

    return markdown_text("**Disclosure control.** {text}", text=methods_statement(plan))


def methods_statement(plan: DisclosurePlan) -> str:
    """The methods appendix's statement about disclosure control and its audit."""
    small = sum(int((t.states == SMALL).to_numpy().sum()) for t in plan.tables.values())
    protected = sum(int((t.states == PROTECTED).to_numpy().sum()) for t in plan.tables.values())
    policy = plan.policy
    ranges = ("rounded counts as ranges" if policy.round_to else
              f"each {policy.marks.small} as 1 to {policy.threshold}")  # (exact counts are not ranges)
    return (
        f"Small numbers follow {policy.title} ({'; '.join(policy.sources[:1])}). "
        f"In this report's figures {small:,} are shown as {policy.marks.small} and {protected:,} are withheld as "
        f"{policy.marks.protected}. Before the report was published, an audit used linear programming over how every "
        f"figure published from this export in the same run adds up (groups to totals, months to the period, {ranges}) "
        f"to find how far each withheld figure can be narrowed: no count from 1 to "
        f"{policy.threshold} can be narrowed to fewer than {policy.min_possible_values} possible values, or the report "
        "would have been withheld. The ranges are in audit.json beside the report."
    )
