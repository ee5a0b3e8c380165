"""Near-miss patterns: where, when and for whom escalation was late, and which barriers recur.

PSIRF asks providers to learn from no-harm and low-harm events through thematic review. These
functions give the patterns a quality lead looks for: near misses by team, trigger, band and
lone working; barrier frequency and co-occurrence; an hour-of-week heatmap of late
escalations; service users with repeated episodes (pseudonymised); the near-miss to incident
ratio over time (a reporting-culture signal); and themes pointing to pathway refinement.

"Late" means not within target, including no escalation recorded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .statistics import wilson_interval

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

THEMES: dict[str, tuple[str, str]] = {
    "unreachable_contacts": (
        r"not answered|could not reach|engaged|no answer|unreachable|voicemail",
        "Which contacts on the pathway could not be reached, and is there a named back-up for each?",
    ),
    "lone_working_conditions": (
        r"mobile signal|no signal|safe place|alone",
        "What should a lone worker do when they cannot call safely or have no signal?",
    ),
    "approvals_before_action": (
        r"approval|sign.?off|authoris",
        "Do staff need a manager's approval before escalating, and should the pathway say they do not?",
    ),
    "unclear_pathway": (
        r"unclear|which team|not sure|unsure",
        "Is it clear which team to contact for each threshold, in hours and out of hours?",
    ),
    "systems_and_information": (
        r"record unavailable|system|it failure|electronic",
        "What is the fallback when the electronic record or systems are unavailable?",
    ),
    "partner_response": (
        r"declined|police|rcrp|ambulance delay",
        "Where partners declined or delayed, is the Right Care, Right Person threshold understood by both sides?",
    ),
}
"""Theme -> (pattern matched in barrier text, question for the pathway owner)."""


def _late(prepared: pd.DataFrame) -> pd.Series:
    return ~prepared["within_target"]


def near_miss_table(prepared: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per group: episodes, near misses, incidents, late near misses and the late share."""
    column = "lone_worker_label" if by == "lone_worker" else by
    keys = prepared[column].astype("str")
    near = prepared["outcome"] == "near_miss"
    work = pd.DataFrame(
        {
            by: keys,
            "episodes": 1,
            "near_misses": near.astype(int),
            "incidents": (prepared["outcome"] == "incident").astype(int),
            "late": _late(prepared).astype(int),
            "late_near_misses": (near & _late(prepared)).astype(int),
        }
    )
    table = work.groupby(by, sort=True).sum().reset_index()
    table["late_pct"] = 100 * table["late"] / table["episodes"]
    return table


def explode_barriers(prepared: pd.DataFrame) -> pd.DataFrame:
    """One row per (episode, barrier), with the episode's team, band, lone working and lateness."""
    barriers = prepared["barriers"]
    lengths = barriers.list.len().fillna(0).astype(int).to_numpy()
    owner = np.repeat(np.arange(len(prepared)), lengths)
    flat = pd.Series(barriers.list.flatten().to_numpy(), dtype="str")
    base = prepared.iloc[owner]
    return pd.DataFrame(
        {
            "episode": owner,
            "barrier": flat.to_numpy(),
            "team": base["team"].to_numpy(),
            "band": base["band"].astype("str").to_numpy(),
            "lone_worker": base["lone_worker_label"].to_numpy(),
            "late": ~base["within_target"].to_numpy(),
        }
    ).drop_duplicates(["episode", "barrier"])


def barrier_frequency(prepared: pd.DataFrame, by: str | None = None, *,
                      exploded: pd.DataFrame | None = None) -> pd.DataFrame:
    """How many episodes met each barrier, and what share of the group's episodes that is.

    ``exploded`` is :func:`explode_barriers` of ``prepared`` when the caller has it already.
    """
    exploded = explode_barriers(prepared) if exploded is None else exploded
    keys = ["barrier"] + ([by] if by else [])
    # an episode meets a barrier once (explode_barriers drops repeats) and is in one group, so
    # counting a group's rows counts its episodes (what nunique counted, at a fraction of the cost)
    table = exploded.groupby(keys, sort=True).agg(episodes=("episode", "size"), late=("late", "sum")).reset_index()
    if by:
        column = "lone_worker_label" if by == "lone_worker" else by
        denominators = prepared[column].astype("str").value_counts()
        table["group_episodes"] = table[by].map(denominators)
    else:
        table["group_episodes"] = len(prepared)
    table["episodes_pct"] = 100 * table["episodes"] / table["group_episodes"]
    return table.sort_values("episodes", ascending=False, ignore_index=True)


def barrier_cooccurrence(prepared: pd.DataFrame, top: int = 10, *,
                         exploded: pd.DataFrame | None = None) -> pd.DataFrame:
    """Square table: episodes meeting both barriers (diagonal: episodes meeting that barrier)."""
    exploded = explode_barriers(prepared) if exploded is None else exploded
    leading = exploded["barrier"].value_counts().head(top).index
    exploded = exploded[exploded["barrier"].isin(leading)]
    onehot = pd.crosstab(exploded["episode"], exploded["barrier"]).clip(upper=1)
    matrix = onehot.T @ onehot
    order = list(leading[leading.isin(matrix.index)])
    return matrix.loc[order, order]


def late_heatmap(prepared: pd.DataFrame, timezone: str = "Europe/London") -> pd.DataFrame:
    """Hour of week when risk was identified: episodes, late escalations and the late share.

    Long format: ``weekday`` (Mon..Sun), ``hour`` (0-23), ``episodes``, ``late``, ``late_pct``.
    """
    local = prepared["risk_identified_at"].dt.tz_convert(timezone)
    work = pd.DataFrame({"weekday": local.dt.day_of_week, "hour": local.dt.hour, "late": _late(prepared).astype(int)})
    grid = pd.MultiIndex.from_product([range(7), range(24)], names=["weekday", "hour"])
    table = work.groupby(["weekday", "hour"]).agg(episodes=("late", "size"), late=("late", "sum")).reindex(grid, fill_value=0)
    table = table.reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        table["late_pct"] = np.where(table["episodes"] > 0, 100 * table["late"] / table["episodes"], np.nan)
    table["weekday"] = pd.Categorical(np.array(WEEKDAY_NAMES)[table["weekday"]], categories=WEEKDAY_NAMES, ordered=True)
    return table


def repeat_service_users(prepared: pd.DataFrame, min_episodes: int = 3) -> pd.DataFrame:
    """Service users (pseudonyms) with at least ``min_episodes`` episodes in the period."""
    people = prepared.dropna(subset=["service_user_id"])
    people = people.assign(
        near=(people["outcome"] == "near_miss").astype(int), late=(~people["within_target"]).astype(int)
    )
    grouped = people.groupby("service_user_id")
    table = grouped.agg(
        episodes=("incident_id", "size"),
        near_misses=("near", "sum"),
        late=("late", "sum"),
        first=("risk_identified_at", "min"),
        last=("risk_identified_at", "max"),
        teams=("team", "nunique"),
    )
    table = table[table["episodes"] >= min_episodes].sort_values(["episodes", "late"], ascending=False)
    return table.reset_index()


def near_miss_ratio(prepared: pd.DataFrame, freq: str = "quarter") -> pd.DataFrame:
    """Near misses per incident by period: a rising ratio usually means a healthier reporting culture."""
    key = "quarter" if freq == "quarter" else "month"
    work = pd.DataFrame(
        {key: prepared[key], "near_misses": (prepared["outcome"] == "near_miss").astype(int),
         "incidents": (prepared["outcome"] == "incident").astype(int)}
    )
    table = work.groupby(key, sort=True).sum().reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        table["ratio"] = np.where(table["incidents"] > 0, table["near_misses"] / table["incidents"], np.nan)
    return table


def pathway_themes(prepared: pd.DataFrame, adherence: pd.DataFrame | None = None, *,
                   exploded: pd.DataFrame | None = None) -> pd.DataFrame:
    """Barrier themes that point to refining the pathway, with a question for its owner.

    Columns: ``theme``, ``episodes`` (met the theme), ``late`` (of those, not within target),
    ``late_pct`` with Wilson interval, and ``question``. ``exploded`` as for
    :func:`barrier_frequency`.
    """
    exploded = explode_barriers(prepared) if exploded is None else exploded
    rows = []
    for theme, (pattern, question) in THEMES.items():  # six themes, each a vectorised match
        hit = exploded["barrier"].str.contains(pattern, case=False, regex=True)
        episodes = exploded.loc[hit, "episode"].unique()
        if theme == "approvals_before_action" and adherence is not None:
            exceeded = np.flatnonzero((adherence["approvals_within_limit"] == False).fillna(False).to_numpy())
            episodes = np.union1d(episodes, exceeded)
        late = int((~prepared["within_target"].to_numpy()[episodes]).sum()) if len(episodes) else 0
        rows.append({"theme": theme, "episodes": len(episodes), "late": late, "question": question})
    table = pd.DataFrame(rows)
    low, high = wilson_interval(table["late"].to_numpy(), table["episodes"].to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        table["late_pct"] = 100 * table["late"] / table["episodes"]
    table["ci95_low_pct"], table["ci95_high_pct"] = 100 * np.asarray(low), 100 * np.asarray(high)
    return table.sort_values("episodes", ascending=False, ignore_index=True)


def cases_to_review(prepared: pd.DataFrame, limit: int = 15) -> pd.DataFrame:
    """The late escalations most worth a case review: no escalation first, then harm, then delay.

    Internal use only: carries pseudonyms and free-text descriptions. Columns are ready to
    show: reference, when risk was identified, team, trigger, when (in/out of hours), the
    delay (or "not escalated"), target, outcome, harm (canonical values: the report puts them
    into words), service user pseudonym and the description.
    """
    late = prepared[~prepared["within_target"]]
    harm_rank = late["harm"].map({"death": 5, "severe": 4, "moderate": 3, "low": 2, "none": 1}).astype("float").fillna(0)
    order = pd.DataFrame(
        {"not_escalated": (~late["escalated"]).astype(int), "harm": harm_rank,
         "times_target": late["delay_minutes"] / late["target_minutes"]},
        index=late.index,
    ).sort_values(["not_escalated", "harm", "times_target"], ascending=False)
    chosen = late.loc[order.index[:limit]]
    delay = chosen["delay_minutes"].round(0).astype("Int64").astype("str").fillna("not escalated")
    return pd.DataFrame(
        {
            "Reference": chosen["incident_id"],
            "Risk identified": chosen["risk_identified_at"].dt.tz_localize(None),
            "Team": chosen["team"],
            "Trigger": chosen["trigger"].astype("str"),
            "When": chosen["ooh_sub_band"].astype("str"),
            "Delay (min)": delay,
            "Target (min)": chosen["target_minutes"],
            "Outcome": chosen["outcome"].astype("str"),
            "Harm": chosen["harm"].astype("object"),
            "Service user": chosen["service_user_id"],
            "Description": chosen["description"],
        }
    ).reset_index(drop=True)
