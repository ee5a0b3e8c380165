"""Loading an export through a mapping profile into checked, canonical episodes.

This is the one boundary that knows about local column names and values. It reads the file
(:mod:`~escalation_analysis.read`), renames columns to canonical fields, parses UK dates and
Europe/London times (:mod:`~escalation_analysis.datetimes`), maps local category values,
splits multi-valued cells, pseudonymises people (:mod:`~escalation_analysis.pseudonym`) and
accounts for every row (:mod:`~escalation_analysis.accounting`). The result satisfies the
pandera schema in :mod:`~escalation_analysis.schema`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import datetimes
from .accounting import RowAccounting, concat_issues, make_issues
from .errors import MappingError, NothingUsableError
from .mapping import MappingProfile, normalise_value, read_mapping
from .pseudonym import load_key, nhs_number_is_valid, pseudonymise
from .read import RawTable, read_export
from .schema import FIELDS, LIST_DTYPE, NOT_RECORDED, category_dtype, episode_schema
from .vocabulary import map_values

logger = logging.getLogger(__name__)

_MAX_COUNT = 2**31 - 1
"""Larger 'whole numbers' (1e308, inf) are typing errors, warned about and left blank."""


@dataclass
class LoadedExport:
    """Canonical episodes plus the accounting of every row read."""

    episodes: pd.DataFrame
    accounting: RowAccounting
    profile: MappingProfile


def load_export(
    path: str | Path,
    mapping: MappingProfile | str | Path,
    *,
    key: bytes | None = None,
    require_rows: bool = False,
) -> LoadedExport:
    """Read an export, check it, and return canonical episodes with full row accounting.

    Parameters
    ----------
    path
        CSV or XLSX export.
    mapping
        A :class:`MappingProfile` or the path of its YAML file.
    key
        Pseudonymisation key; by default :func:`~escalation_analysis.pseudonym.load_key`.
    require_rows
        Raise :class:`NothingUsableError` when every row is excluded.

    Notes
    -----
    rows read = rows analysed + rows excluded, always. Exclusions and warnings are listed
    in ``accounting`` with reason, row number and incident reference.
    """
    profile = mapping if isinstance(mapping, MappingProfile) else read_mapping(mapping)
    raw = read_export(
        path,
        encoding=profile.encoding,
        delimiter=profile.delimiter,
        sheet=profile.sheet,
        missing_values=profile.missing_values,
    )
    columns = _resolve_columns(raw, profile, Path(path).name)
    builder = _EpisodeBuilder(raw, columns, profile, key if key is not None else load_key())
    loaded = builder.build()
    if require_rows and loaded.accounting.rows_analysed == 0:
        raise NothingUsableError(
            f"No usable rows remain in '{Path(path).name}': all {loaded.accounting.rows_read} "
            "were excluded; run 'escalation-review validate' to see why."
        )
    return loaded


def _resolve_columns(raw: RawTable, profile: MappingProfile, filename: str) -> dict[str, list[str]]:
    """Match the profile's local names to the file's headers (exact, then ignoring case)."""
    available = list(raw.cells.columns)
    folded = {normalise_value(c): c for c in available}
    resolved: dict[str, list[str]] = {}
    for field in profile.columns:
        names = []
        for local in profile.local_columns(field):
            actual = local if local in available else folded.get(normalise_value(local))
            if actual is None:
                shown = ", ".join(f"'{c}'" for c in available[:40])
                more = f" and {len(available) - 40} more" if len(available) > 40 else ""
                raise MappingError(
                    f"The export '{filename}' has no column '{local}' (mapped to {field}); "
                    f"its columns are {shown}{more}: fix 'columns' in the mapping profile."
                )
            names.append(actual)
        resolved[field] = names
    return resolved


class _EpisodeBuilder:
    """Builds the canonical frame column by column, collecting exclusions and warnings."""

    def __init__(self, raw: RawTable, columns: dict[str, list[str]], profile: MappingProfile, key: bytes):
        self.raw = raw
        self.columns = columns
        self.profile = profile
        self.key = key
        self.cells = raw.cells
        self.n = len(raw.cells)
        self.rows = raw.rows
        self.index = raw.cells.index
        self.incident_ids = self._text("incident_id")
        self.warnings: list[pd.DataFrame] = []
        self.unknown: dict[str, list[str]] = {}

    def _text(self, field: str) -> pd.Series:
        names = self.columns.get(field)
        if not names:
            return pd.Series(pd.NA, index=self.index, dtype="str")
        return self.cells[names[0]].astype("str")

    def _warn(self, mask, reason: str, field: str | None, detail) -> None:
        self.warnings.append(make_issues(mask, self.rows, self.incident_ids, reason, field, detail))

    # -- exclusions ---------------------------------------------------------------------

    def build(self) -> LoadedExport:
        risk = self._times("risk_identified_at")
        escalated = self._times("escalated_at")
        trigger_text = self._text("trigger")
        risk_local = datetimes.localise(risk.naive, self.profile.timezone)
        escalated_local = datetimes.localise(
            escalated.naive, self.profile.timezone, not_before=risk_local.instants
        )

        blank_row = self.cells.isna().all(axis=1).to_numpy()
        duplicate, first_copy = self._exact_duplicates()
        checks = [
            ("blank_row", None, blank_row, "every cell is blank"),
            ("duplicate_row", None, duplicate, "same as row " + pd.Series(first_copy, index=self.index).astype("str")),
            ("missing_incident_id", "incident_id", self.incident_ids.isna(), "incident reference is blank"),
            ("missing_risk_identified_at", "risk_identified_at", risk.blank, "date and time are blank"),
            ("unparseable_risk_identified_at", "risk_identified_at", risk.unreadable,
             "cannot read " + self._shown("risk_identified_at")),
            ("missing_trigger", "trigger", trigger_text.isna(), "trigger is blank"),
            ("unparseable_escalated_at", "escalated_at", escalated.unreadable,
             "cannot read " + self._shown("escalated_at")),
            ("escalated_before_identified", "escalated_at",
             (escalated_local.instants < risk_local.instants).fillna(False),
             "escalated " + self._shown("escalated_at") + ", identified " + self._shown("risk_identified_at")),
        ]
        excluded_mask = np.zeros(self.n, dtype=bool)
        excluded = [self.raw.malformed.assign(
            incident_id=pd.Series(pd.NA, index=self.raw.malformed.index, dtype="str"),
            reason="malformed_row", field=pd.Series(pd.NA, index=self.raw.malformed.index, dtype="str"),
        )[["row", "incident_id", "reason", "field", "detail"]]]
        for reason, field, mask, detail in checks:
            mask = np.asarray(mask, dtype=bool) & ~excluded_mask
            excluded.append(make_issues(mask, self.rows, self.incident_ids, reason, field, detail))
            excluded_mask |= mask
        keep = ~excluded_mask

        episodes = pd.DataFrame(index=self.index)
        episodes["row"] = self.rows.astype("int64")
        episodes["incident_id"] = self.incident_ids
        episodes["risk_identified_at"] = risk_local.instants
        episodes["trigger"] = self._category("trigger", keep)
        episodes["escalated_at"] = escalated_local.instants
        episodes["responded_at"] = self._responded(escalated_local.instants, keep)
        episodes["team"] = self._team(keep)
        episodes["outcome"] = self._category("outcome", keep)
        episodes["harm"] = self._category("harm", keep)
        episodes["lone_worker"] = self._boolean("lone_worker", keep)
        for field in ("escalated_to", "barriers", "information_shared"):
            episodes[field] = self._list(field, keep)
        episodes["approvals_before_action"] = self._integer("approvals_before_action", keep)
        for field in ("service_user_id", "staff_id"):
            episodes[field] = self._person(field, keep)
        for field in ("description", "ethnicity", "age_band", "gender"):
            episodes[field] = self._text(field)

        for reason, flags, field in (
            ("nonexistent_local_time", risk_local.nonexistent, "risk_identified_at"),
            ("ambiguous_local_time", risk_local.ambiguous, "risk_identified_at"),
            ("nonexistent_local_time", escalated_local.nonexistent, "escalated_at"),
            ("ambiguous_local_time", escalated_local.ambiguous, "escalated_at"),
        ):
            self._warn(np.asarray(flags, dtype=bool) & keep, reason, field, self._shown(field))
        self._repeated_ids(keep)

        episodes = episodes[keep].reset_index(drop=True)
        episodes = episode_schema(self.profile.timezone).validate(episodes, lazy=True)
        accounting = RowAccounting(
            rows_read=self.raw.rows_read,
            excluded=concat_issues(excluded),
            warnings=concat_issues(self.warnings),
            source=self.profile.source,
            encoding=self.raw.encoding,
            unknown_values=self.unknown,
        )
        assert accounting.rows_analysed == len(episodes), "row accounting does not balance"
        return LoadedExport(episodes, accounting, self.profile)

    def _shown(self, field: str) -> pd.Series:
        """The cell text of a (possibly two-column) field, for error details."""
        names = self.columns.get(field, [])
        if not names:
            return pd.Series("", index=self.index, dtype="str")
        shown = "'" + self.cells[names[0]].fillna("").astype("str")
        for name in names[1:]:
            shown = shown + " " + self.cells[name].fillna("").astype("str")
        return (shown.str.strip() + "'").astype("str")

    def _exact_duplicates(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows identical in every cell to an earlier row, and the row number they copy."""
        hashes = pd.util.hash_pandas_object(self.cells, index=False).to_numpy()
        codes, _ = pd.factorize(hashes)
        first_position = np.full(codes.max() + 1 if len(codes) else 0, -1, dtype=np.int64)
        order = np.arange(len(codes))[::-1]
        first_position[codes[order]] = order  # last write wins: the earliest position
        first = first_position[codes]
        duplicate = first != np.arange(len(codes))
        return duplicate, self.rows[first] if len(codes) else self.rows

    def _times(self, field: str) -> datetimes.LocalTimes:
        names = self.columns.get(field, [])
        if not names:
            empty = pd.Series(pd.NaT, index=self.index, dtype="datetime64[us]")
            flags = pd.Series(False, index=self.index)
            return datetimes.LocalTimes(empty, ~flags, flags)
        dates = self.cells[names[0]].astype("str")
        times = self.cells[names[1]].astype("str") if len(names) > 1 else None
        return datetimes.combine_date_time(
            dates,
            times,
            dayfirst=self.profile.dayfirst,
            fmt=self.profile.date_formats.get(field),
            timezone=self.profile.timezone,
        )

    # -- kept fields, with warnings --------------------------------------------------------

    def _map_values(self, values: pd.Series, field: str, keep: np.ndarray | None) -> tuple[pd.Series, pd.Series]:
        """Map local values to canonical ones, remembering unknown values for the statement."""
        mapped, unknown = map_values(values, field, self.profile.value_map(field))
        flagged = unknown if keep is None else unknown & keep
        if flagged.any():
            known = self.unknown.setdefault(field, [])
            known.extend(str(v) for v in pd.unique(values[flagged]) if str(v) not in known)
        return mapped, unknown

    def _category(self, field: str, keep: np.ndarray) -> pd.Series:
        values = self._text(field)
        mapped, unknown = self._map_values(values, field, keep)
        dtype = category_dtype(field)
        fallback = "other" if "other" in dtype.categories else None
        self._warn(
            unknown & keep, "unknown_value", field,
            f"{field} " + ("'" + values + "'") + (" kept as 'other'" if fallback else " left blank"),
        )
        mapped = mapped.where(~unknown, fallback)
        return mapped.astype(dtype)

    def _boolean(self, field: str, keep: np.ndarray) -> pd.Series:
        values = self._text(field)
        mapped, unknown = self._map_values(values, field, keep)
        self._warn(unknown & keep, "unknown_value", field, f"{field} '" + values + "' left blank")
        return mapped.where(~unknown).astype("boolean")

    def _team(self, keep: np.ndarray) -> pd.Series:
        team = self._text("team")
        self._warn(team.isna() & keep, "missing_team", "team", "team is blank")
        return team.fillna(NOT_RECORDED).astype("str")

    def _responded(self, escalated: pd.Series, keep: np.ndarray) -> pd.Series:
        responded = self._times("responded_at")
        local = datetimes.localise(responded.naive, self.profile.timezone, not_before=escalated)
        self._warn(responded.unreadable & keep, "unparseable_responded_at", "responded_at",
                   "cannot read " + self._shown("responded_at"))
        before = (local.instants < escalated).fillna(False)
        self._warn(before & keep, "responded_before_escalated", "responded_at",
                   "responded " + self._shown("responded_at") + ", escalated " + self._shown("escalated_at"))
        self._warn(local.nonexistent & keep, "nonexistent_local_time", "responded_at", self._shown("responded_at"))
        self._warn(local.ambiguous & keep, "ambiguous_local_time", "responded_at", self._shown("responded_at"))
        return local.instants

    def _integer(self, field: str, keep: np.ndarray) -> pd.Series:
        values = self._text(field)
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        whole = numbers.between(0, _MAX_COUNT) & (numbers == numbers.round())
        bad = values.notna() & ~whole
        self._warn(bad & keep, "unparseable_approvals", field, f"{field} '" + values + "'")
        return numbers.where(whole).astype("Int64")

    def _list(self, field: str, keep: np.ndarray) -> pd.Series:
        values = self._text(field)
        if values.isna().all():
            return pd.Series(pd.array([None] * self.n, dtype=LIST_DTYPE), index=self.index)
        separator = self.profile.lists.get(field, ";")
        arrow = pa.array(values.to_numpy(dtype=object, na_value=None), type=pa.string())
        split = pc.split_pattern(arrow, separator)
        flat = pc.utf8_trim_whitespace(pc.list_flatten(split))
        parents = pc.list_parent_indices(split).to_numpy()
        flat_series = pd.Series(flat.to_numpy(zero_copy_only=False), dtype="str")
        non_empty = (flat_series.str.len() > 0).to_numpy()
        if FIELDS[field].categories:
            mapped, unknown = self._map_values(flat_series, field, None)
            flagged_rows = np.zeros(self.n, dtype=bool)
            np.logical_or.at(flagged_rows, parents[unknown.to_numpy() & non_empty], True)
            unknown_text = pd.Series(pd.NA, index=self.index, dtype="str")
            if flagged_rows.any():
                unknown_text = values.astype("str")
                for value in pd.unique(flat_series[unknown & non_empty]):
                    self.unknown.setdefault(field, [])
                    if value not in self.unknown[field]:
                        self.unknown[field].append(str(value))
            self._warn(flagged_rows & keep, "unknown_value", field,
                       f"{field} '" + unknown_text + "' has values kept as 'other'")
            flat_series = mapped.where(~unknown, "other").astype("str")
        elif self.profile.value_map(field):  # open list: map what the profile names, keep the rest
            mapped, unknown = map_values(flat_series, field, self.profile.value_map(field))
            flat_series = mapped.where(~unknown, flat_series).astype("str")
        counts = np.bincount(parents[non_empty], minlength=self.n)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        list_array = pa.ListArray.from_arrays(
            pa.array(offsets),
            pa.array(flat_series[non_empty].to_numpy(dtype=object), type=pa.string()),
            mask=pa.array(values.isna().to_numpy()),
        )
        return pd.Series(pd.arrays.ArrowExtensionArray(list_array), index=self.index)

    def _person(self, field: str, keep: np.ndarray) -> pd.Series:
        values = self._text(field)
        if self.profile.nhs_number == field:
            invalid = ~nhs_number_is_valid(values)
            self._warn(invalid & keep, "invalid_nhs_number", field, "NHS number fails the check digit")
        return pseudonymise(values, field, self.key)

    def _repeated_ids(self, keep: np.ndarray) -> None:
        ids = self.incident_ids.where(keep)
        repeated = ids.notna() & ids.duplicated(keep=False)
        if repeated.any():
            first_row = pd.Series(self.rows, index=self.index).where(repeated).groupby(ids).transform("min")
            detail = "reference first appears on row " + first_row.astype("Int64").astype("str")
            self._warn(repeated, "repeated_incident_id", "incident_id", detail)
