"""Supervision preparation for one practitioner or one team.

A supervisor preparing for reflective supervision wants: this person's (or team's)
escalations, how their timeliness compares with their team and the service, the near misses
and barriers they met, the pathway's contacts to hand, and prompts for the conversation.
Practitioners are selected by pseudonym: the runner pseudonymises the name a supervisor types
and passes both, so the pack calls the practitioner by the name the supervisor gave while every
record in it carries only the pseudonym.
"""

from __future__ import annotations

import dataclasses
import functools

import pandas as pd

from ..ingest.contract import lists_as_text
from ..ingest.files import text_isin
from ..ingest.pathway import Pathway
from ..measures import near_misses as patterns
from ..measures import trends
from ..measures.analysis import Analysis
from ..measures.statistics import compare_proportions
from ..measures.timeliness import compliance_table
from . import charts, labels, narrative
from .display import markdown_text
from .front_sheet import front_sheet_html
from .kinds import kind as kind_named
from .kpis import previous_period
from .review import Review, Sections
from .summary import Summary, build_summary

KIND = "supervision"

#: Late or missed episodes listed for discussion; every episode is in the appendix.
EPISODES_TO_DISCUSS = 12
#: Months a team needs for its monthly chart.
MIN_TREND_MONTHS = 6

#: Where each front-sheet finding is shown in this review: (section, its heading).
FRONT_SHEET_LINKS = {
    "teams": ("timeliness", "Timeliness against the team and the service"),
    "lone_working": ("near_misses", "Near misses and barriers met"),
}

PROMPTS = {
    "out_of_hours": (
        "Several out-of-hours escalations were late. Think of one: who did you try first, and what "
        "would have made the next step quicker?"
    ),
    "lone_worker": (
        "Some escalations happened while working alone. What do you do when you cannot make a call "
        "safely or have no signal, and does the pathway help?"
    ),
    "approvals": (
        "Approvals were sought before acting more often than the pathway allows. What made waiting "
        "for a sign-off feel necessary?"
    ),
    "not_escalated": (
        "Some episodes have no escalation recorded. Was escalation made and not recorded, or was "
        "it judged not needed? What would help next time?"
    ),
    "near_miss": (
        "Pick a near miss from the list: what went well that stopped harm, and what was luck?"
    ),
    "general": (
        "Which part of the escalation pathway do you find hardest to follow in practice, and why?"
    ),
}


def select(prepared: pd.DataFrame, *, team: str = "", staff_pseudonym: str = "") -> pd.DataFrame:
    """The episodes of one practitioner (by pseudonym) or one team; both empty selects all."""
    mask = pd.Series(True, index=prepared.index)
    if team:
        mask &= prepared["team"] == team
    if staff_pseudonym:
        mask &= prepared["staff_id"] == staff_pseudonym
    return prepared[mask]


def subject(team: str = "", staff_pseudonym: str = "", staff_name: str = "") -> str:
    """Who the pack is about, in words: the practitioner by the name the supervisor gave, with
    the pseudonym the records carry (so the two can be matched), or the team."""
    if staff_pseudonym:
        who = f"{staff_name} (pseudonym {staff_pseudonym})" if staff_name else f"practitioner {staff_pseudonym}"
        return who + (f", {team}" if team else "")
    return team or "the whole service"


def episode_list(selected: pd.DataFrame) -> pd.DataFrame:
    """The selected episodes, late or missed first and then newest first, in plain words.

    Supervision time is short: the episodes worth discussing (not within target) come first.
    """
    table = pd.DataFrame(
        {
            "Reference": selected["incident_id"],
            "Risk identified": selected["risk_identified_at"].dt.tz_localize(None),
            "Trigger": selected["trigger"].astype("str"),  # canonical: the table puts them into words
            "When": selected["ooh_sub_band"].astype("str"),
            "Delay (minutes)": selected["delay_minutes"].round(0),
            "Target (minutes)": selected["target_minutes"],
            "Within target": selected["within_target"],
            "Outcome": selected["outcome"].astype("str"),
            "Barriers": lists_as_text(selected["barriers"]),
        }
    )
    return table.sort_values(["Within target", "Risk identified"], ascending=[True, False], ignore_index=True)


def compared_with_team(
    prepared: pd.DataFrame, selected: pd.DataFrame, team: str = "", staff_pseudonym: str = ""
) -> pd.DataFrame:
    """Timeliness of the practitioner (if chosen) beside their team and the whole service."""
    rows = {}
    if staff_pseudonym:
        rows[f"Practitioner {staff_pseudonym}"] = selected
    if team:
        rows[team] = prepared[prepared["team"] == team]
    rows["Whole service"] = prepared
    frames = []
    for label, frame in rows.items():  # three rows
        table = compliance_table(frame)
        table.insert(0, "group", label)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def contacts_table(pathway: Pathway) -> pd.DataFrame:
    """The pathway's named contacts, for the supervisor to have to hand."""
    return pd.DataFrame(
        [{"Contact": c.name, "Service": c.agency.replace("_", " "), "Phone": c.phone or "", "Hours": c.hours or ""}
         for c in pathway.contacts.values()]
    )


def reflective_prompts(selected: pd.DataFrame, pathway: Pathway) -> list[str]:
    """Prompts chosen from what this selection's episodes show (always at least one)."""
    prompts = []
    late = ~selected["within_target"]
    if (late & (selected["band"] == "out_of_hours")).sum() >= 2:
        prompts.append(PROMPTS["out_of_hours"])
    if (late & selected["lone_worker"].fillna(False).astype(bool)).sum() >= 1:
        prompts.append(PROMPTS["lone_worker"])
    if (selected["approvals_before_action"].fillna(0) > pathway.max_approvals_before_action).any():
        prompts.append(PROMPTS["approvals"])
    if (~selected["escalated"]).any():
        prompts.append(PROMPTS["not_escalated"])
    if (selected["outcome"] == "near_miss").any():
        prompts.append(PROMPTS["near_miss"])
    prompts.append(PROMPTS["general"])
    return prompts


def prompts_markdown(selected: pd.DataFrame, pathway: Pathway) -> str:
    """The reflective prompts as a Markdown list (fixed, trusted text)."""
    return "\n".join(f"- {prompt}" for prompt in reflective_prompts(selected, pathway))


def _internal(audience: str) -> None:
    if audience != "internal":
        raise ValueError("The supervision pack lists episodes: it is internal only.")


def _summary_of(analysis: Analysis, selected: pd.DataFrame, audience: str) -> Summary:
    return build_summary(dataclasses.replace(analysis, episodes=selected.reset_index(drop=True)), report=KIND,
                         audience=audience)


def summary(analysis: Analysis, audience: str = "internal", *, team: str = "", staff_pseudonym: str = "",
            staff_name: str = "") -> Summary:
    """The pack's ``summary.json`` and tables without its pages (what the runner writes beside it):
    the selection's figures only, as the pages show them."""
    _internal(audience)
    return _summary_of(analysis, select(analysis.episodes, team=team, staff_pseudonym=staff_pseudonym), audience)


def build(analysis: Analysis, audience: str = "internal", *, team: str = "", staff_pseudonym: str = "",
          staff_name: str = "") -> Review:
    """The supervision pack for one team or one practitioner (by pseudonym); internal only.

    ``staff_name`` is the name the supervisor gave for the practitioner (the runner passes
    it with its pseudonym): the pack calls them by it. Its ``summary()`` covers the selection
    only, so the pack's JSON and its pages agree.
    """
    _internal(audience)
    selected = select(analysis.episodes, team=team, staff_pseudonym=staff_pseudonym)
    s = Sections()
    s.add("front_sheet", front_sheet_html(analysis, kind_named(KIND).title, audience, FRONT_SHEET_LINKS,
                                          episodes=selected, team=team or None))
    s.text("who", markdown_text("This pack covers **{who}**, {period}: {n} escalation episodes.",
                                who=subject(team, staff_pseudonym, staff_name),
                                period=narrative.period_text(analysis.start, analysis.end), n=len(selected)))
    s.table("timeliness", labels.timeliness_for_readers(
        compared_with_team(analysis.episodes, selected, team, staff_pseudonym), "group"),
        "Escalated within target", if_empty=narrative.NO_EPISODES)
    s.text("timeliness", previous_period_sentence(analysis, team, staff_pseudonym))
    if team and analysis.history["team"].eq(team).any() and analysis.history.loc[
            analysis.history["team"] == team, "month"].nunique() >= MIN_TREND_MONTHS:
        s.chart("timeliness", charts.spc_chart, trends.compliance_p_chart(analysis.history, team=team),
                title=f"Escalated within target by month: {team}", y_title="Within target (%)", percent=True,
                changes=analysis.pathway.changes)  # a team's move or a pathway change explains a shift
    if not selected.empty:
        for by, title in (("trigger", "Within target, by trigger"), ("band", "Within target, in and out of hours"),
                          ("lone_worker", "Within target, lone working and accompanied")):
            s.chart("timeliness", charts.compliance_by_group, compliance_table(selected, by), by, title=title)
    late = episode_list(selected)
    late = late[~late["Within target"]].head(EPISODES_TO_DISCUSS)
    s.table("episodes", late, f"Late or missed escalations to discuss (up to {EPISODES_TO_DISCUSS}; every episode "
            "is in the appendix)", if_empty="Every episode in the period was escalated within target.")
    s.table("near_misses", patterns.near_miss_table(selected, "trigger"), "Near misses by trigger",
            if_empty="No episodes for this selection in the period.")
    s.table("near_misses", patterns.barrier_frequency(selected).head(10), "Barriers met",
            if_empty="No barriers were recorded for these episodes.")
    s.text("contacts", markdown_text("Pathway: **{name}**. The most approvals allowed before acting: {limit}.",
                                     name=analysis.pathway.name, limit=analysis.pathway.max_approvals_before_action))
    s.table("contacts", contacts_table(analysis.pathway), "Who to contact",
            if_empty="The pathway file names no contacts.")
    s.text("training", training_sentence(selected, analysis.training_frame, analysis.end))
    if analysis.training_frame is not None:
        s.table("training", training_table(selected, analysis.training_frame, analysis.end),
                "Escalation training of the practitioners in these episodes",
                if_empty="No practitioner is recorded for these episodes.")
    s.text("prompts", prompts_markdown(selected, analysis.pathway))
    s.table("appendix", episode_list(selected), "Every episode in the period",
            if_empty="No episodes for this selection in the period.")
    return Review(KIND, audience, kind_named(KIND).title, analysis.start, analysis.end, s.result(),
                  functools.partial(_summary_of, analysis, selected, audience))


def previous_period_sentence(analysis: Analysis, team: str = "", staff_pseudonym: str = "") -> str:
    """This selection's share within target against the same selection in the previous period."""
    prev_start, prev_end = previous_period(analysis.start, analysis.end)
    before = select(analysis.episodes_between(prev_start, prev_end), team=team, staff_pseudonym=staff_pseudonym)
    now = select(analysis.episodes, team=team, staff_pseudonym=staff_pseudonym)
    period = narrative.period_text(prev_start, prev_end)
    if before.empty or now.empty:
        return markdown_text("There are no episodes of this selection in the previous period ({period}) to "
                             "compare with.", period=period)
    result = compare_proportions(int(before["within_target"].sum()), len(before), int(now["within_target"].sum()),
                                 len(now), "in the previous period", "in this period")
    return markdown_text("{text} (Previous period: {period}.)", text=result.wording, period=period)


def training_table(selected: pd.DataFrame, training: pd.DataFrame, as_of) -> pd.DataFrame:
    """Per practitioner in the selection (by pseudonym): their episodes and their latest
    scenario-based escalation training, and whether it is within the year before ``as_of``."""
    staff = selected["staff_id"].dropna()
    if staff.empty:
        return pd.DataFrame(columns=["Practitioner (pseudonym)", "Episodes", "Latest escalation training",
                                     "Within the last year"])
    episodes = staff.value_counts().rename("Episodes")
    scenario = training[training["scenario"] & text_isin(training["staff_id"], episodes.index)]
    scenario = scenario[scenario["completed_on"] <= pd.Timestamp(as_of)]
    latest = scenario.groupby("staff_id")["completed_on"].max()
    table = episodes.to_frame().join(latest.rename("latest"))
    recent = (pd.Timestamp(as_of) - table["latest"]).dt.days <= 365
    out = pd.DataFrame({
        "Practitioner (pseudonym)": table.index.astype("str"),
        "Episodes": table["Episodes"].to_numpy(),
        "Latest escalation training": table["latest"].dt.strftime("%d/%m/%Y").fillna("None recorded").to_numpy(),
        "Within the last year": recent.map({True: "Yes", False: "No"}).to_numpy(),
    })
    return out.sort_values(["Within the last year", "Episodes"], ascending=[True, False], ignore_index=True)


def training_sentence(selected: pd.DataFrame, training: pd.DataFrame | None, as_of) -> str:
    """How many of the selection's practitioners completed escalation training in the last year."""
    if training is None:
        return "No training log was supplied, so escalation training cannot be shown."
    table = training_table(selected, training, as_of)
    if table.empty:
        return "No practitioner is recorded for these episodes, so training cannot be shown."
    trained = int((table["Within the last year"] == "Yes").sum())
    return markdown_text(
        "{trained} of the {n} practitioners in these episodes completed scenario-based escalation training in "
        "the year to {end}.", trained=trained, n=len(table), end=f"{pd.Timestamp(as_of):%d/%m/%Y}")
