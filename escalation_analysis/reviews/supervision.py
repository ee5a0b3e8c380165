"""Supervision preparation for one practitioner or one team.

A supervisor preparing for reflective supervision wants: this person's (or team's)
escalations, how their timeliness compares with their team and the service, the near misses
and barriers they met, the pathway's contacts to hand, and prompts for the conversation.
Practitioners are selected by pseudonym: the runner pseudonymises the name a supervisor types,
so the report never holds it.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from ..ingest.contract import lists_as_text
from ..ingest.pathway import Pathway
from ..measures import near_misses as patterns
from ..measures.analysis import Analysis
from ..measures.timeliness import compliance_table
from . import charts, labels, narrative
from .display import markdown_text
from .kinds import kind as kind_named
from .review import Review, Sections
from .summary import build_summary

KIND = "supervision"

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


def subject(team: str = "", staff_pseudonym: str = "") -> str:
    """Who the pack is about, in words."""
    if staff_pseudonym:
        return f"practitioner {staff_pseudonym}" + (f" ({team})" if team else "")
    return team or "the whole service"


def episode_list(selected: pd.DataFrame) -> pd.DataFrame:
    """The selected episodes, late or missed first and then newest first, in plain words.

    Supervision time is short: the episodes worth discussing (not within target) come first.
    """
    table = pd.DataFrame(
        {
            "Reference": selected["incident_id"],
            "Risk identified": selected["risk_identified_at"].dt.tz_localize(None),
            "Trigger": selected["trigger"].astype("str").str.replace("_", " "),
            "When": selected["ooh_sub_band"].astype("str").str.replace("_", " "),
            "Delay (minutes)": selected["delay_minutes"].round(0),
            "Target (minutes)": selected["target_minutes"],
            "Within target": selected["within_target"],
            "Outcome": selected["outcome"].astype("str").str.replace("_", " "),
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


def build(analysis: Analysis, audience: str = "internal", *, team: str = "", staff_pseudonym: str = "") -> Review:
    """The supervision pack for one team or one practitioner (by pseudonym); internal only.

    Its ``summary()`` covers the selection only, so the pack's JSON and its pages agree.
    """
    if audience != "internal":
        raise ValueError("The supervision pack lists episodes: it is internal only.")
    selected = select(analysis.episodes, team=team, staff_pseudonym=staff_pseudonym)
    s = Sections()
    s.text("who", markdown_text("This pack covers **{who}**, {period}: {n} escalation episodes.",
                                who=subject(team, staff_pseudonym),
                                period=narrative.period_text(analysis.start, analysis.end), n=len(selected)))
    s.table("timeliness", labels.timeliness_for_readers(
        compared_with_team(analysis.episodes, selected, team, staff_pseudonym), "group"),
        "Escalated within target", if_empty=narrative.NO_EPISODES)
    if not selected.empty:
        s.chart("timeliness", charts.compliance_by_group, compliance_table(selected, "trigger"), "trigger",
                title="Within target, by trigger")
    s.table("episodes", episode_list(selected), "Episodes in the period", max_rows=25,
            if_empty="No episodes for this selection in the period.")
    s.table("near_misses", patterns.near_miss_table(selected, "trigger"), "Near misses by trigger",
            if_empty="No episodes for this selection in the period.")
    s.table("near_misses", patterns.barrier_frequency(selected).head(10), "Barriers met",
            if_empty="No barriers were recorded for these episodes.")
    s.text("contacts", markdown_text("Pathway: **{name}**. The most approvals allowed before acting: {limit}.",
                                     name=analysis.pathway.name, limit=analysis.pathway.max_approvals_before_action))
    s.table("contacts", contacts_table(analysis.pathway), "Who to contact",
            if_empty="The pathway file names no contacts.")
    s.text("prompts", prompts_markdown(selected, analysis.pathway))
    chosen = dataclasses.replace(analysis, episodes=selected.reset_index(drop=True))
    return Review(KIND, audience, kind_named(KIND).title, analysis.start, analysis.end, s.result(),
                  build_summary(chosen, report=KIND, audience=audience))
