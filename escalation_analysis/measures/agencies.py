"""Multi-agency response: how fast each receiving service responded, and hand-off delays.

With a step log, each agency contacted in an episode has a contact time and (usually) a
response time: the response time is the first ``responded`` step of that agency at or after
its contact. Hand-off delays are the gaps between one contact and the next in the same
episode (e.g. duty senior -> crisis team). Without a step log, the export's own
``responded_at`` is used against the first agency contacted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..ingest.files import text_isin
from ..ingest.pathway import Pathway


def _quantiles(grouped: pd.core.groupby.SeriesGroupBy) -> pd.DataFrame:
    """Median and 90th percentile per group (both columns even when there are no groups)."""
    quantiles = grouped.quantile([0.5, 0.9]).unstack()
    return quantiles.reindex(columns=[0.5, 0.9]).rename(columns={0.5: "median_minutes", 0.9: "p90_minutes"})


def agency_responses(prepared: pd.DataFrame, steps: pd.DataFrame | None) -> pd.DataFrame:
    """One row per (episode, agency contacted): contacted_at, responded_at, response_minutes."""
    if steps is None or steps.empty:
        contacted = prepared["escalated_at"].notna().to_numpy()
        kept = prepared.loc[contacted, ["incident_id", "escalated_at", "responded_at", "team"]]
        frame = pd.DataFrame(
            {
                "incident_id": kept["incident_id"],
                "agency": first_agencies(prepared["escalated_to"], contacted, index=kept.index),
                "contacted_at": kept["escalated_at"],
                "responded_at": kept["responded_at"],
                "team": kept["team"],  # by position: no look-up by reference needed
            }
        )
    else:
        kept = steps[text_isin(steps["incident_id"], prepared["incident_id"])]
        contacted = kept[kept["step"] == "contacted"].groupby(["incident_id", "agency"], as_index=False)["at"].min()
        responded = kept[kept["step"] == "responded"][["incident_id", "agency", "at"]]
        first = contacted.rename(columns={"at": "contacted_at"})
        first["responded_at"] = _first_response(contacted, responded)
        teams = prepared[["incident_id", "team"]].drop_duplicates("incident_id")
        frame = first.merge(teams, on="incident_id", how="left")
    # Few distinct agencies: a categorical makes the grouping and target look-ups cheap.
    frame["agency"] = frame["agency"].astype("category")
    frame["response_minutes"] = (frame["responded_at"] - frame["contacted_at"]).dt.total_seconds() / 60
    return frame.reset_index(drop=True)


def first_agencies(lists: pd.Series, rows: np.ndarray, *, index: pd.Index | None = None,
                   missing: str = "not recorded") -> pd.Series:
    """The first agency contacted of each row in ``rows`` (a mask), ``missing`` for none, as
    categories sorted by name (those of these rows only, as ``astype("category")`` makes them).

    Worked on the few distinct agencies and spread by code: the agencies written out as a
    million strings, filled and read back into categories cost most of the table's time.
    """
    arrow = pa.array(lists.array)
    heads = pc.list_slice(arrow, 0, 1)
    encoded = pc.dictionary_encode(pc.list_flatten(heads))
    codes = np.full(len(lists), -1, dtype=np.int64)
    codes[pc.list_parent_indices(heads).to_numpy()] = pc.fill_null(encoded.indices.cast(pa.int64()), -1).to_numpy()
    names = encoded.dictionary.to_pylist()
    if missing not in names:
        names.append(missing)
    chosen = codes[rows]
    chosen[chosen < 0] = names.index(missing)  # an empty list, or a blank first agency
    agency = pd.Categorical.from_codes(chosen, categories=pd.Index(names, dtype="str"))
    used = sorted(agency.remove_unused_categories().categories)
    return pd.Series(agency.set_categories(pd.Index(used, dtype="str")), index=index)


def _first_response(contacted: pd.DataFrame, responded: pd.DataFrame) -> pd.api.extensions.ExtensionArray:
    """For each contact (one row per episode and agency), its agency's first response at or after it.

    Grouped by the contact's position rather than by episode and agency again: the two-key
    grouping cost most of the table on a quarter's few hundred contacts.
    """
    pairs = contacted.assign(contact=np.arange(len(contacted))).merge(
        responded, on=["incident_id", "agency"], how="left", suffixes=("_contact", "_response")
    )
    # A response logged before the contact is not its response, but the contact still counts.
    at_response = pairs["at_response"].where(pairs["at_response"] >= pairs["at_contact"])
    return at_response.groupby(pairs["contact"].to_numpy(), sort=True).min().array


def _agencies_as(agencies: pd.Series, named: set[str]) -> pd.Categorical:
    """Each row's agency as text, over the agencies named or seen, sorted (missing stays missing).

    Worked on the few distinct agencies and spread by code: writing a million rows out as
    text and reading them back into categories took most of the table's time.
    """
    present = agencies.astype("category").cat.remove_unused_categories()
    labels = [str(label) for label in present.cat.categories]
    categories = sorted(named | set(labels))
    position = {label: i for i, label in enumerate(categories)}
    recode = np.array([position[label] for label in labels] + [-1], dtype=np.int64)  # code -1 reads the final -1
    return pd.Categorical.from_codes(recode[present.cat.codes.to_numpy()], categories=categories)


def tally(codes: np.ndarray, groups: int, where: np.ndarray | None = None) -> np.ndarray:
    """Rows per group code (code -1, a missing group, left out), of those where ``where`` holds:
    on a table of a few groups, a named aggregation cost more than the rest of the table."""
    keep = codes >= 0 if where is None else (codes >= 0) & where
    return np.bincount(codes[keep], minlength=groups).astype(np.int64)


def response_by_agency(responses: pd.DataFrame, pathway: Pathway) -> pd.DataFrame:
    """Per agency: contacts, responses recorded, median and 90th-percentile response, share within target.

    Every agency the pathway names (as a contact or with a response target) has a row, so an
    agency nobody contacted shows as 0 contacts rather than not at all.
    """
    named = {*pathway.response_targets_minutes, *(c.agency for c in pathway.contacts.values())}
    agency = _agencies_as(responses["agency"], named)
    codes, groups = np.asarray(agency.codes, dtype=np.int64), len(agency.categories)
    minutes = responses["response_minutes"].to_numpy(dtype=float)
    index = pd.CategoricalIndex(pd.Categorical.from_codes(np.arange(groups), dtype=agency.dtype))  # as groupby's
    table = pd.DataFrame(
        {"contacts": tally(codes, groups), "responses_recorded": tally(codes, groups, ~np.isnan(minutes))}, index=index
    )
    table = table.join(_quantiles(responses.groupby(agency, sort=True, observed=False)["response_minutes"]))
    targets = pd.Series(pathway.response_targets_minutes, dtype="float64")
    table["target_minutes"] = table.index.map(targets)
    per_category = np.array([targets.get(c, np.nan) for c in agency.categories] + [np.nan])  # a few agencies
    agency_target = per_category[agency.codes]  # code -1 (missing) reads the final NaN
    table["within_target"] = tally(codes, groups, minutes <= agency_target)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["within_target_pct"] = np.where(
            table["target_minutes"].notna(), 100 * table["within_target"] / table["responses_recorded"], np.nan
        )
    table.index = table.index.astype("str")
    return table.rename_axis("agency").reset_index()


def handoff_delays(prepared: pd.DataFrame, steps: pd.DataFrame | None) -> pd.DataFrame:
    """Gaps between consecutive contacts in each episode: one row per hand-off."""
    columns = ["incident_id", "from_agency", "to_agency", "handoff", "minutes"]
    if steps is None or steps.empty:
        return pd.DataFrame(columns=columns)
    contacts = steps[(steps["step"] == "contacted") & text_isin(steps["incident_id"], prepared["incident_id"])]
    contacts = contacts.sort_values(["incident_id", "at"], kind="stable")
    previous = contacts.groupby("incident_id")[["agency", "at"]].shift(1)
    handoffs = pd.DataFrame(
        {
            "incident_id": contacts["incident_id"],
            "from_agency": previous["agency"],
            "to_agency": contacts["agency"],
            "minutes": (contacts["at"] - previous["at"]).dt.total_seconds() / 60,
        }
    ).dropna(subset=["from_agency"])
    handoffs["handoff"] = handoffs["from_agency"].astype("str") + " → " + handoffs["to_agency"].astype("str")
    return handoffs[columns].reset_index(drop=True)


def handoff_summary(handoffs: pd.DataFrame) -> pd.DataFrame:
    """Per hand-off type: count, median and 90th-percentile minutes."""
    if handoffs.empty:
        return pd.DataFrame(columns=["handoff", "n", "median_minutes", "p90_minutes"])
    grouped = handoffs.groupby("handoff", sort=False)
    table = grouped.agg(n=("minutes", "size")).join(_quantiles(grouped["minutes"]))
    return table.sort_values("n", ascending=False).reset_index()
