"""Pathway adherence: were the right people contacted, in the right order, with the right
information, without more sign-offs than the pathway allows?

Declarative checks per episode (the simple alternative to process mining that a quality lead
can read directly, see ``docs/pathway.md``):

* ``first_contact_correct``: the first contact in the step log is the pathway's first
  expected step for the episode's trigger and band;
* ``steps_skipped``: expected steps that never appear;
* ``in_order``: the expected steps that do appear, appear in the expected order;
* ``approvals_exceeded``: approvals before action above the pathway's maximum;
* ``information_missing``: required information items not recorded as shared.

An episode is ``adherent`` when every check passes. Episodes without a step log entry are
marked ``no_steps_recorded`` and left out of the step checks (not counted as failures).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..ingest.contract import TRIGGERS
from ..ingest.datetimes import on_distinct
from ..ingest.files import text_isin
from ..ingest.pathway import Pathway
from .statistics import wilson_interval

CHECKS = ("first_contact_correct", "in_order", "no_steps_skipped", "approvals_within_limit", "information_complete")


def expected_steps_table(pathway: Pathway) -> pd.DataFrame:
    """The pathway's expected steps as rows: trigger, band, position, agency."""
    rows = [
        (trigger, band, position, agency)
        for trigger in TRIGGERS
        for band in ("in_hours", "out_of_hours")
        for position, agency in enumerate(pathway.expected_steps(trigger, band))
    ]
    return pd.DataFrame(rows, columns=["trigger", "band", "position", "agency"])


def episode_adherence(prepared: pd.DataFrame, steps: pd.DataFrame | None, pathway: Pathway) -> pd.DataFrame:
    """One row per episode with each adherence check (see the module docstring).

    Parameters
    ----------
    prepared
        Output of :func:`~escalation_analysis.measures.timeliness.prepare_episodes`.
    steps
        Step log frame (``incident_id``, ``step``, ``agency``, ``at``) or None.
    pathway
        Gives expected steps, the approvals limit and required information.
    """
    episodes = prepared[["incident_id", "team", "trigger", "band", "escalated"]].copy()
    episodes["trigger"] = episodes["trigger"].astype("str")
    episodes["band"] = episodes["band"].astype("str")
    expected = expected_steps_table(pathway)
    n_expected = expected.groupby(["trigger", "band"]).size().rename("n_expected")
    first_expected = expected[expected["position"] == 0].set_index(["trigger", "band"])["agency"].rename("first_expected")
    episodes = episodes.join(n_expected, on=["trigger", "band"]).join(first_expected, on=["trigger", "band"])
    episodes["n_expected"] = episodes["n_expected"].fillna(0).astype(int)

    if steps is not None and len(steps):
        contacts = steps[steps["step"] == "contacted"][["incident_id", "agency", "at"]]
        contacts = contacts.merge(episodes[["incident_id", "trigger", "band"]], on="incident_id", how="inner")
        contacts = contacts.sort_values(["incident_id", "at"], kind="stable")
        contacts["order"] = contacts.groupby("incident_id").cumcount()
        contacts = contacts.merge(expected, on=["trigger", "band", "agency"], how="left")
        first_actual = contacts[contacts["order"] == 0].set_index("incident_id")["agency"]
        seen_positions = contacts.dropna(subset=["position"]).drop_duplicates(["incident_id", "agency"])
        distinct_expected_seen = seen_positions.groupby("incident_id").size()
        backwards = seen_positions.groupby("incident_id")["position"].diff() < 0
        out_of_order = backwards.groupby(seen_positions["incident_id"]).any()
        episodes["first_contact"] = episodes["incident_id"].map(first_actual)
        episodes["steps_recorded"] = text_isin(episodes["incident_id"], first_actual.index)
        seen = episodes["incident_id"].map(distinct_expected_seen).fillna(0).astype(int)
        episodes["steps_skipped"] = (episodes["n_expected"] - seen).clip(lower=0)
        episodes["in_order"] = ~text_isin(episodes["incident_id"], out_of_order.index[out_of_order.to_numpy(bool)])
    else:
        episodes["first_contact"] = pd.Series(pd.NA, index=episodes.index, dtype="str")
        episodes["steps_recorded"] = False
        episodes["steps_skipped"] = 0
        episodes["in_order"] = True

    recorded = episodes["steps_recorded"]
    episodes["first_contact_correct"] = (episodes["first_contact"] == episodes["first_expected"]).fillna(False).astype(bool)
    episodes["no_steps_skipped"] = episodes["steps_skipped"] == 0
    for column in ("first_contact_correct", "in_order", "no_steps_skipped"):
        episodes[column] = episodes[column].astype("boolean").where(recorded)

    approvals = prepared["approvals_before_action"]
    episodes["approvals_before_action"] = approvals
    episodes["approvals_within_limit"] = (approvals <= pathway.max_approvals_before_action).astype("boolean")

    required = [_item_key(r) for r in pathway.required_information]
    if required and prepared["information_shared"].notna().any():
        shared = prepared["information_shared"]
        lengths = shared.list.len().fillna(0).astype(int).to_numpy()
        owner = np.repeat(np.arange(len(prepared)), lengths)
        items = _item_keys(pd.Series(shared.list.flatten().to_numpy(), dtype="str"))
        hits = pd.DataFrame({"owner": owner, "item": items})
        hits = hits[hits["item"].isin(required)].drop_duplicates()
        shared_count = np.bincount(hits["owner"].to_numpy(), minlength=len(prepared))
        episodes["information_missing"] = len(required) - shared_count
        episodes["information_complete"] = pd.array(shared_count == len(required), dtype="boolean")
        episodes.loc[shared.isna().to_numpy(), "information_complete"] = pd.NA
    else:
        episodes["information_missing"] = pd.NA
        episodes["information_complete"] = pd.array([pd.NA] * len(episodes), dtype="boolean")

    checks = episodes[list(CHECKS)]
    episodes["checks_known"] = checks.notna().sum(axis=1)
    episodes["adherent"] = checks.fillna(True).all(axis=1).astype("boolean").where(episodes["checks_known"] > 0)
    episodes["no_steps_recorded"] = ~recorded & episodes["escalated"]
    return episodes.drop(columns=["n_expected"])


def _item_key(text: str) -> str:
    """'Risk summary', 'risk-summary' and 'risk_summary' are the same information item."""
    return re.sub(r"[\s\-_]+", "_", text.strip().casefold())


def _item_keys(items: pd.Series) -> pd.Series:
    """:func:`_item_key` of every item, worked out once per distinct item: a handful of names
    recur on every episode, and the regular expression runs in Python per value."""
    return on_distinct(items, lambda distinct: distinct.str.strip().str.casefold().str.replace(r"[\s_-]+", "_", regex=True))


def adherence_summary(adherence: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Share of episodes passing each check (of those where it could be checked), with Wilson CIs.

    Returns one row per (group, check): ``check``, ``checked`` (denominator), ``passed``,
    ``passed_pct``, ``ci95_low_pct``, ``ci95_high_pct``.
    """
    columns = [*list(CHECKS), "adherent"]
    keys = [by] if by else []
    long = adherence[keys + columns].melt(id_vars=keys, var_name="check", value_name="passed")
    long = long.dropna(subset=["passed"])
    long["passed"] = long["passed"].astype(int)
    table = long.groupby([*keys, "check"], sort=False, observed=True)["passed"].agg(checked="size", passed="sum").reset_index()
    low, high = wilson_interval(table["passed"].to_numpy(), table["checked"].to_numpy())
    table["passed_pct"] = 100 * table["passed"] / table["checked"]
    table["ci95_low_pct"] = 100 * np.asarray(low)
    table["ci95_high_pct"] = 100 * np.asarray(high)
    order = {c: i for i, c in enumerate(columns)}
    return table.sort_values([*keys, "check"], key=lambda s: s.map(order) if s.name == "check" else s, ignore_index=True)


def route_variants(adherence: pd.DataFrame, steps: pd.DataFrame | None, top: int = 10) -> pd.DataFrame:
    """The most common contact routes actually taken, as canonical agencies (e.g. ``duty_senior → crisis_team``)."""
    if steps is None or steps.empty:
        return pd.DataFrame(columns=["route", "episodes"])
    contacts = steps[steps["step"] == "contacted"].sort_values(["incident_id", "at"], kind="stable")
    contacts = contacts[text_isin(contacts["incident_id"], adherence["incident_id"])]
    if contacts.empty:  # a step log with no contact for this period's episodes
        return pd.DataFrame(columns=["route", "episodes"])
    position = contacts.groupby("incident_id").cumcount()
    wide = contacts.assign(position=position).pivot(index="incident_id", columns="position", values="agency")
    route = wide[0].astype("str")
    for column in wide.columns[1:]:
        route = route + (" → " + wide[column].astype("str")).fillna("")
    counts = route.value_counts().head(top)
    return pd.DataFrame({"route": counts.index.astype("str"), "episodes": counts.to_numpy()})
