"""Page 1 of every report: the cover block, the findings in words and the Making Data Count table.

A board reads the first page and decides what to ask. So page 1 says, from the analysis:

* **the cover block**: service, pathway and its version, the period and the comparison period
  with their dates, the data source (file name, SHA-256 of the export, the row accounting),
  when the report was run and by which version of the package, and the protective marking;
* **the findings** (three to five), each a plain sentence with its numbers and a link to
  the section that shows it: the team whose timeliness shows special-cause concern and since
  when, the out-of-hours delay against in hours with its interval, the barriers lone workers
  meet that accompanied staff do not, the overdue learning actions by theme, and any
  data-quality caveat that changes how to read the figures;
* **the Making Data Count summary table** (:mod:`~escalation_analysis.reviews.mdc_summary`).

Findings respect the audience. Internal readers get exact figures; external and partner
readers get only figures the disclosure plan publishes
(:func:`~escalation_analysis.reviews.disclosure.plan_for`: rounded counts, rates from them,
marks for small numbers) and statistics that are not counts (ratios of medians, the months a
chart flags); a figure the plan withholds is left out of the sentence, never worked round.

The sheet also sets the printed page's running header (report title, period, marking), which
the report template's paged-media rules put at the top of every page.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from ..measures import headlines
from ..measures.analysis import Analysis
from ..measures.learning import action_status
from ..measures.near_misses import barrier_frequency, explode_barriers
from .disclosure import DisclosurePlan
from .display import Html, table_html
from .kpis import previous_period
from .labels import VALUES, interval_text
from .mdc_summary import MdcSummary, mdc_summary, outside_plan

__all__ = ["Finding", "FrontSheet", "actions_by_theme", "barriers_by_lone_working", "build_front_sheet",
           "episode_barriers", "front_sheet_html", "review_mdc_summary", "section_id"]

#: How many findings page 1 holds at most.
MAX_FINDINGS = 5


SECTION_WORDS: dict[str, str] = {
    "teams": "the teams compared",
    "out_of_hours": "in and out of hours",
    "barriers": "the barriers to escalation",
    "learning_actions": "the learning actions",
    "data_quality": "the data quality",
}
"""How a finding's link names the section it points to (a review may name its own)."""


def section_id(section: str) -> str:
    """The HTML id a review's section is shown under (the findings link to it)."""
    return f"ea-section-{section.replace('_', '-')}"


@dataclass(frozen=True)
class Finding:
    """One finding: a sentence with its numbers, and the review section that shows it."""

    key: str
    text: str
    section: str | None = None


@dataclass(frozen=True)
class FrontSheet:
    """Everything page 1 shows, for one audience; :meth:`html` draws it."""

    title: str
    audience: str
    marking: str
    cover: tuple[tuple[str, str], ...]
    findings: tuple[Finding, ...]
    mdc: MdcSummary
    period: str

    def html(self, link_words: Mapping[str, str] | None = None) -> Html:
        """The front sheet as HTML (every value escaped), with the running-header style.

        ``link_words`` gives each section's name for its link ("Teams compared fairly");
        a finding whose section has no name links as "See the section".
        """
        words = {**SECTION_WORDS, **(link_words or {})}
        e = html.escape
        cover = "".join(f"<div><dt>{e(label)}</dt><dd>{e(value)}</dd></div>" for label, value in self.cover)
        items = []
        for finding in self.findings:
            link = ""
            if finding.section:
                name = words.get(finding.section, "the section")
                link = f' <a href="#{section_id(finding.section)}">See {e(name)}.</a>'
            items.append(f"<li>{e(finding.text)}{link}</li>")
        notes = "".join(f"<li>{e(note)}</li>" for note in self.mdc.notes())
        month = self.mdc.latest_month()
        caption = "Key performance indicators: Making Data Count summary" + (
            f" (latest month: {month:%B %Y})" if month is not None else "")
        table = table_html(self.mdc.for_display(), caption=caption, readable=False)
        header = _css_string(f"{self.title} · {self.period}")
        marking = _css_string(self.marking)
        return Html(
            f'<section class="ea-front" aria-labelledby="ea-front-heading">'
            f'<p class="ea-marking">{e(self.marking)}</p>'
            f'<h2 id="ea-front-heading" class="ea-front-heading">At a glance</h2>'
            f'<dl class="ea-cover">{cover}</dl>'
            f'<h3 class="ea-front-subheading">What this report found</h3>'
            f'<ol class="ea-findings">{"".join(items)}</ol>'
            f"{table}"
            f'<ul class="ea-table-note ea-mdc-notes">{notes}</ul>'
            f"</section>"
            # the running header of every printed page (the template's @page rules lay it out)
            f"<style>@page {{ @top-left {{ content: {header}; }} @top-right {{ content: {marking}; }} }}</style>"
        )


def _css_string(text: str) -> str:
    """Text as a CSS string literal: quotes and backslashes escaped, no markup-breaking characters."""
    cleaned = " ".join(str(text).split()).replace("<", "").replace(">", "")
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _date(day: dt.date) -> str:
    return f"{day:%d/%m/%Y}"


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("escalation-analysis")
    except Exception:  # pragma: no cover - the package is installed to run at all
        return "unknown"


def _shown_count(value: object) -> str | None:
    """A published count as text, or None when the plan withholds it (a mark)."""
    if isinstance(value, str) or value is None or pd.isna(value):
        return None
    return f"{int(value):,}"


# --------------------------------------------------------------------------------------------
# The cover block


def _accounting_line(analysis: Analysis, plan) -> str:
    if plan is None:
        accounting = analysis.accounting
        by_reason = accounting.excluded_by_reason()
        outside = by_reason.pop("outside_period", 0)
        return (f"{accounting.rows_read:,} rows read: {accounting.rows_analysed:,} episodes analysed, "
                f"{outside:,} outside the period, {sum(by_reason.values()):,} excluded for data problems")
    # Every row accounted for with published figures only: read = analysed + excluded, and of the
    # excluded those outside the period (the rest are under Data quality, by reason).
    quality = plan.data_quality
    read, analysed = _shown_count(quality.get("rows_read")), _shown_count(quality.get("rows_analysed"))
    excluded = _shown_count(quality.get("rows_excluded"))
    outside = _shown_count(quality.get("excluded_by_reason", {}).get("outside_period", 0))
    how = (f"counts rounded to the nearest {plan.policy.round_to}" if plan.policy.round_to
           else f"counts from 1 to {plan.policy.threshold} shown as *")
    parts = [f"{analysed} episodes analysed" if analysed else None,
             f"{excluded} excluded" if excluded else "the rest excluded" if analysed else None]
    shown = " and ".join(p for p in parts if p)
    if excluded and outside:
        shown += f", {outside} of them outside the period"
    return ((f"{read} rows read" if read else "Rows read withheld") + (f": {shown}" if shown else "")
            + f" ({how}; the reasons are under Data quality)")


def _cover(analysis: Analysis, audience: str, plan, run_at: dt.datetime) -> tuple[tuple[str, str], ...]:
    pathway = analysis.pathway
    prev_start, prev_end = previous_period(analysis.start, analysis.end)
    version = f", version {pathway.version}" if pathway.version else ""
    rows = [
        ("Service", pathway.service or "Not stated in the pathway file"),
        ("Pathway", f"{pathway.name}{version}"),
        ("Period", f"{_date(analysis.start)} to {_date(analysis.end)}"),
        ("Compared with", f"{_date(prev_start)} to {_date(prev_end)} (the previous period of the same length)"),
        ("Data source", analysis.sources.get("export", "export")),
        ("SHA-256 of the export", analysis.sources.get("export_sha256", "not recorded")),
        ("Rows", _accounting_line(analysis, plan)),
        ("Run", f"{_date(run_at)} at {run_at:%H:%M} with escalation-analysis {_package_version()}"),
        ("Readers", {"internal": "internal: contains pseudonyms and free text",
                     "external": "external: no identifiers, small numbers controlled",
                     "partners": "partner agencies: no identifiers, small numbers controlled"}.get(audience, audience)),
    ]
    return tuple(rows)


# --------------------------------------------------------------------------------------------
# The findings


def _team_finding(analysis: Analysis, history: pd.DataFrame, plan, team: str | None) -> Finding | None:
    target = analysis.pathway.kpi_targets.value("compliance_pct")
    groups = headlines.concerning_groups(history, analysis.start, target)
    if team is not None:
        groups = groups[groups["group"] == team]
    if groups.empty:
        said = (f"{team}'s monthly timeliness shows no special-cause concern" if team
                else "No team's monthly timeliness shows special-cause concern")
        return Finding("teams", f"{said} in the period.", "teams")
    sentences = []
    for row in groups.head(2).itertuples():
        since = f"{row.from_month:%B %Y}"
        months = f"since {since}" if row.from_month != row.to_month else f"in {since}"
        if plan is None:
            sentences.append(
                f"{row.group}: escalations within target fell to {row.latest_pct:.0f}% in {row.to_month:%B %Y} "
                f"against its usual {row.mean_pct:.0f}%, special cause of concern {months} "
                f"({row.months} month{'s' if row.months != 1 else ''})")
        else:
            published = plan.table("timeliness_by_team").frame
            match = published[published["team"].astype("str") == row.group]
            rate = match["within_target_pct"].iloc[0] if len(match) else None
            # the outside report has no chart of a team's months: say what the figures show, not where
            shown = f"{float(rate):.0f}% escalated within target in the period; its" if isinstance(rate, float) else "its"
            sentences.append(f"{row.group}: {shown} monthly figures show special cause of concern {months}")
    return Finding("teams", "; ".join(sentences) + ".", "teams")


def _ratio_finding(episodes: pd.DataFrame) -> Finding | None:
    ratio = headlines.delay_ratio(episodes)
    if ratio.ratio is None:
        return None
    interval = interval_text(ratio.ci_low, ratio.ci_high, 1, "")
    if ratio.ci_low > 1:
        verdict = "longer out of hours"
    elif ratio.ci_high < 1:
        verdict = "shorter out of hours"
    else:
        verdict = "no clear difference"
    return Finding(
        "out_of_hours",
        f"Out of hours, the median delay to escalate was {ratio.ratio:.1f} times that in hours "
        f"({ratio.median_out_of_hours:,.0f} against {ratio.median_in_hours:,.0f} minutes; 95% CI {interval}): "
        f"{verdict}.",
        "out_of_hours",
    )


def _barrier_words(barrier: str) -> str:
    return barrier[:1].lower() + barrier[1:] if barrier[1:2].islower() else barrier


def _lone_finding(episodes: pd.DataFrame, external: bool, frequency: pd.DataFrame | None = None) -> Finding | None:
    table = headlines.lone_working_barriers(episodes, frequency=frequency)
    if table.empty:
        return None
    only = bool((table["accompanied"] == 0).all())
    if external:
        names = [_barrier_words(b) for b in table["barrier"]]
        how = "and never for accompanied staff" if only else "far more often than for accompanied staff"
        return Finding("lone_working", f"Barriers recorded for lone workers {how}: {_list(names)}.", "barriers")
    parts = [f"{_barrier_words(r.barrier)} ({r.lone_pct:.0f}%"
             + ("" if only else f" against {r.accompanied_pct:.0f}% for accompanied staff") + ")"
             for r in table.itertuples()]
    how = "never did" if only else "rarely did"
    return Finding("lone_working",
                   f"Lone workers met barriers that accompanied staff {how}, in this share of lone workers' "
                   f"episodes: {_list(parts)}.", "barriers")


def _actions_finding(analysis: Analysis, plan) -> Finding | None:
    """Overdue learning actions, by the barrier theme of the episode each came from."""
    if analysis.actions is None:
        return None
    themes = headlines.overdue_in(actions_by_theme(analysis))
    when = _date(analysis.as_of)
    if themes.empty:
        return Finding("learning_actions", f"No learning action was overdue at {when}.", "learning_actions")
    named = themes[themes["theme"] != "no theme"].head(3)
    words = [VALUES.get(t, t).lower() for t in named["theme"]]
    if plan is None:
        total = int(_overdue_shown(analysis, None))
        counts = [f"{w} {n:,}" for w, n in zip(words, named["overdue"], strict=True)]
        by_theme = f"; by the theme of the episode they came from: {_list(counts)}" if counts else ""
        return Finding("learning_actions", f"{total:,} learning actions were overdue at {when}{by_theme}.",
                       "learning_actions")
    overdue = _shown_count(_overdue_shown(analysis, plan))
    lead = f"{overdue} learning actions were overdue" if overdue else "Learning actions were overdue"
    about = f", most often from episodes about {_list(words)}" if words else ""
    return Finding("learning_actions", f"{lead} at {when}{about}.", "learning_actions")


def _quality_finding(analysis: Analysis, external: bool) -> Finding | None:
    checks = list(getattr(analysis.accounting, "fitness", []) or [])
    if not checks:
        return None
    messages = [getattr(c, "public_message", c.message) if external else c.message for c in checks]
    return Finding("data_quality", "Check before relying on the figures: " + " ".join(
        m if m.endswith(".") else m + "." for m in messages[:2]), "data_quality")


def _list(items: list[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --------------------------------------------------------------------------------------------
# Building it


def build_front_sheet(
    analysis: Analysis,
    *,
    title: str,
    audience: str,
    episodes: pd.DataFrame | None = None,
    team: str | None = None,
    sections: Mapping[str, str] | None = None,
    run_at: dt.datetime | None = None,
    mdc: MdcSummary | None = None,
    plan: DisclosurePlan | None = None,
) -> FrontSheet:
    """Page 1 of a review of ``analysis`` for ``audience``.

    Parameters
    ----------
    title
        The report's title (the running header prints it).
    episodes, team
        A review of a selection (the supervision pack) passes its episodes and team: the
        findings are about them, and the team's monthly chart.
    sections
        Finding key (``teams``, ``out_of_hours``, ``lone_working``, ``learning_actions``,
        ``data_quality``) -> the review section that shows it; a finding whose key is not
        there gets no link (the review has no such section).
    run_at
        When the report is made (default now).
    mdc
        The review's Making Data Count summary, when it draws its trend charts from it too
        (:meth:`~escalation_analysis.reviews.mdc_summary.MdcSummary.chart_input`); built here
        otherwise.
    plan
        The review's disclosure plan (outside readers; the audience's default policy otherwise).
    """
    external = audience != "internal"
    plan = outside_plan(analysis, audience, plan)
    chosen = analysis.episodes if episodes is None else episodes
    history = analysis.history if team is None else analysis.history[analysis.history["team"] == team]
    candidates = [
        _team_finding(analysis, history, plan, team),
        _ratio_finding(chosen),
        _lone_finding(chosen, external, barriers_by_lone_working(analysis) if episodes is None else None),
        _actions_finding(analysis, plan) if team is None else None,
        _quality_finding(analysis, external),
    ]
    links = dict(sections or {})
    findings = tuple(Finding(f.key, f.text, links.get(f.key) or None) for f in candidates if f is not None)[:MAX_FINDINGS]
    marking = analysis.pathway.protective_marking.for_audience(audience)
    period = f"{_date(analysis.start)} to {_date(analysis.end)}"
    if mdc is None:
        mdc = review_mdc_summary(analysis, audience, team=team, plan=plan)
    return FrontSheet(title, audience, marking, _cover(analysis, audience, plan, run_at or dt.datetime.now()),
                      findings, mdc, period)


def review_mdc_summary(analysis: Analysis, audience: str, *, team: str | None = None,
                       plan: DisclosurePlan | None = None) -> MdcSummary:
    """The MDC summary a review shows on its front sheet (of one team's history for its pack)."""
    plan = outside_plan(analysis, audience, plan)
    history = analysis.history[analysis.history["team"] == team] if team else None
    latest = {"overdue_actions": _overdue_shown(analysis, plan)} if analysis.actions is not None else {}
    return mdc_summary(analysis, audience=audience, history=history, latest=latest, plan=plan)


def _overdue_shown(analysis: Analysis, plan) -> object:
    """Overdue learning actions at the end of the period, as this audience may see the count."""
    if plan is None:
        return analysis.kept("overdue_actions", lambda: int(
            action_status(analysis.actions_frame, analysis.all_episodes, analysis.as_of)["overdue"].sum()))
    published = plan.table("learning_actions").frame
    everything = published[published["actions"] == "all actions"]
    return everything["overdue"].iloc[0] if len(everything) else None


def actions_by_theme(analysis: Analysis) -> pd.DataFrame:
    """:func:`~escalation_analysis.measures.headlines.actions_by_theme` of the analysis, made once:
    the front sheet's finding and the near-miss review's table read the same one (shared: do
    not change it in place)."""
    return analysis.kept("actions_by_theme", lambda: headlines.actions_by_theme(
        analysis.actions_frame, analysis.all_episodes, analysis.as_of))


def episode_barriers(analysis: Analysis) -> pd.DataFrame:
    """:func:`~escalation_analysis.measures.near_misses.explode_barriers` of the period's episodes,
    made once for the front sheet and the near-miss review's barrier tables and charts (shared)."""
    return analysis.kept("episode_barriers", lambda: explode_barriers(analysis.episodes))


def barriers_by_lone_working(analysis: Analysis) -> pd.DataFrame:
    """``barrier_frequency(episodes, "lone_worker")`` of the period's episodes, made once: the front
    sheet's lone-working finding and the near-miss review's chart read the same table (shared)."""
    return analysis.kept("barriers_by_lone_working", lambda: barrier_frequency(
        analysis.episodes, "lone_worker", exploded=episode_barriers(analysis)))


def front_sheet_html(
    analysis: Analysis,
    title: str,
    audience: str,
    sections: Mapping[str, tuple[str, str]],
    *,
    episodes: pd.DataFrame | None = None,
    team: str | None = None,
    mdc: MdcSummary | None = None,
    plan: DisclosurePlan | None = None,
) -> Html:
    """A review's front sheet, ready to show: ``sections`` maps each finding key to the review
    section that shows it and that section's heading, ``(section, heading)``."""
    sheet = build_front_sheet(analysis, title=title, audience=audience, episodes=episodes, team=team,
                              sections={key: section for key, (section, _) in sections.items()}, mdc=mdc, plan=plan)
    return sheet.html({section: heading for section, heading in sections.values()})
