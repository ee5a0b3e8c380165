"""Loading an export through a mapping profile into checked, canonical episodes.

This is the one boundary that knows about local column names and values. It reads the file
(:mod:`~escalation_analysis.ingest.files`), renames columns to canonical fields, parses UK dates and
Europe/London times (:mod:`~escalation_analysis.ingest.datetimes`), maps local category values,
splits multi-valued cells, pseudonymises people (:mod:`~escalation_analysis.ingest.pseudonyms`) and
accounts for every row (:mod:`~escalation_analysis.ingest.accounting`). The result satisfies the
pandera schema in :mod:`~escalation_analysis.ingest.contract`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ExportError, MappingError, NothingUsableError
from . import datetimes, fitness
from .accounting import RowAccounting, concat_issues, make_issues
from .contract import FIELDS, LIST_DTYPE, NOT_RECORDED, category_dtype, validate_episodes
from .file_checks import require_regular_file
from .files import RawTable, arrow_text, keep_text_rows, read_export, take_text_rows, text_series
from .identifiers import IdentifierValues
from .listing import SCAN_ROWS, find_header, row_with
from .mapping import MappingProfile, normalise_value, read_mapping
from .pseudonyms import load_key, nhs_numbers_valid_distinct, pseudonyms_of_distinct
from .vocabulary import map_distinct, map_values
from .workbooks import Workbook

logger = logging.getLogger(__name__)

_MAX_COUNT = 2**31 - 1
"""Larger 'whole numbers' (1e308, inf) are typing errors, warned about and left blank."""

PEOPLE = ("service_user_id", "staff_id")
"""The fields pseudonymised on load, in the order the episodes hold them."""


@dataclass
class LoadedExport:
    """Canonical episodes plus the accounting of every row read.

    ``identifiers`` holds the export's identifiers, pseudonyms and free text (of excluded rows
    too), for the privacy gate: what a report must never show, found without reading again.
    ``sha256`` is the SHA-256 of the bytes read, in hex.
    """

    episodes: pd.DataFrame
    accounting: RowAccounting
    profile: MappingProfile
    identifiers: IdentifierValues = dataclasses.field(default_factory=IdentifierValues)
    sha256: str = ""


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
        Pseudonymisation key; by default :func:`~escalation_analysis.ingest.pseudonyms.load_key`.
    require_rows
        Raise :class:`NothingUsableError` when every row is excluded.

    Notes
    -----
    rows read = rows analysed + rows excluded, always. Exclusions and warnings are listed
    in ``accounting`` with reason, row number and incident reference.
    """
    profile = mapping if isinstance(mapping, MappingProfile) else read_mapping(mapping)
    require_regular_file(path, "export", ExportError)
    raw = read_profiled_export(path, profile)
    columns = _resolve_columns(raw, profile, Path(path).name)
    builder = _EpisodeBuilder(raw, columns, profile, key if key is not None else load_key())
    del raw  # the builder now owns the cells, and lets each column go once it has read it
    loaded = builder.build()
    if require_rows and loaded.accounting.rows_analysed == 0:
        raise NothingUsableError(
            f"No usable rows remain in '{Path(path).name}': all {loaded.accounting.rows_read} "
            "were excluded; run 'escalation-review validate' to see why."
        )
    return loaded


def read_profiled_export(path: str | Path, profile: MappingProfile) -> RawTable:
    """The export's text cells, read with the profile's settings (encoding, sheet, header row...)."""
    return read_export(
        path,
        encoding=profile.encoding,
        delimiter=profile.delimiter,
        sheet=profile.sheet,
        header_row=profile.header_row,
        missing_values=profile.missing_values,
        max_workbook_mb=profile.max_workbook_mb,
    )


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
                raise MappingError(_missing_column(raw, filename, local, field))
            names.append(actual)
        resolved[field] = names
    return resolved


def _missing_column(raw: RawTable, filename: str, local: str, field: str) -> str:
    """One sentence: the column is not there, where it seems to be, or what columns there are."""
    available = list(raw.cells.columns)
    where = f"The export '{filename}'" if raw.sheet is None else f"The sheet '{raw.sheet}' of '{filename}'"
    header = "" if raw.header_row == 1 else f" (header on row {raw.header_row})"
    sheets = ""
    if len(raw.sheet_names) > 1:
        sheets = f" (the workbook's sheets are {', '.join(repr(n) for n in raw.sheet_names)})"
    found = row_with(raw.top, local, normalise_value)
    elsewhere = _sheet_with(raw, local) if found is None else None
    if found is not None and found != raw.header_row:
        fix = f"it is on row {found}, so the header looks to be there: set 'header_row: {found}' in the mapping profile"
    elif elsewhere is not None:
        sheet, row = elsewhere
        fix = (f"it is on sheet '{sheet}', row {row}: set 'sheet: {sheet}'"
               + (f" and 'header_row: {row}'" if row != 1 else "") + " in the mapping profile")
    else:
        shown = ", ".join(f"'{c}'" for c in available[:40])
        more = f" and {len(available) - 40} more" if len(available) > 40 else ""
        fix = f"its columns are {shown}{more}: fix 'columns' in the mapping profile"
        guess = find_header(raw.top)
        if guess is not None and guess.row > raw.header_row:
            fix += f", and the header looks to be on row {guess.row} ('header_row: {guess.row}')"
    return f"{where}{header} has no column '{local}' (mapped to {field}){sheets}; {fix}."


def _sheet_with(raw: RawTable, local: str) -> tuple[str, int] | None:
    """Another sheet of the workbook with a cell reading ``local`` near its top, and that row."""
    if raw.path is None or raw.sheet is None or len(raw.sheet_names) < 2:
        return None
    with Workbook(raw.path) as book:
        for name in raw.sheet_names:
            if name == raw.sheet:
                continue
            row = row_with(book.cells(name, nrows=SCAN_ROWS), local, normalise_value)
            if row is not None:
                return name, row
    return None


@dataclass
class _Distinct:
    """A text column as its distinct values plus, per row, which one it holds (-1: blank).

    Exports repeat a few values millions of times (teams, categories, dates, people), so
    every interpretation runs once per distinct value and is spread to the rows by position.
    The values keep the column's dtype, so each is read exactly as it would be on its own.
    """

    codes: np.ndarray
    values: pd.Series

    @classmethod
    def of(cls, column: pd.Series) -> _Distinct:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        return cls(np.asarray(codes, dtype=np.int64), pd.Series(uniques, dtype=column.dtype))

    def rows(self, per_value: np.ndarray, blank=False) -> np.ndarray:
        """A per-value array spread to the rows; blank rows get ``blank``."""
        return np.append(np.asarray(per_value), blank)[self.codes]

    def first_seen(self, mask: np.ndarray) -> pd.Series:
        """The values of the rows in ``mask``, once each, in order of first appearance."""
        return self.values.iloc[pd.unique(self.codes[mask & (self.codes >= 0)])]


def _kept(values: pd.Series, keep: np.ndarray) -> pd.Series:
    """The kept rows of a column, renumbered from 0 (text shared, not copied)."""
    if values.dtype == "str":
        return keep_text_rows(values, keep)
    return (values if keep.all() else values[keep]).reset_index(drop=True)


def _indices(codes: np.ndarray) -> pa.Array:
    """Codes as Arrow indices for ``take``: a blank row (-1) takes a missing value."""
    return pa.array(codes, mask=codes < 0, type=pa.int64())


class _EpisodeBuilder:
    """Builds the canonical frame column by column, collecting exclusions and warnings.

    Columns are read once, values interpreted once per distinct value, and the text of a
    warning or exclusion written only for the rows it is about.

    The builder takes the raw table's cells over and lets go of each export column (and of a
    field's per-row codes) as soon as no field still to be built reads it: at ten million rows
    the raw text is about as large as the episodes, and holding both at once set the peak memory.
    """

    def __init__(self, raw: RawTable, columns: dict[str, list[str]], profile: MappingProfile, key: bytes):
        self.cells = raw.cells
        self.raw = dataclasses.replace(raw, cells=raw.cells.iloc[:, :0])  # everything but the cells
        self.columns = columns
        self.profile = profile
        self.key = key
        self.n = len(self.cells)
        self.rows = raw.rows
        self.index = self.cells.index
        self.incident_ids = self._text("incident_id")
        self.warnings: list[pd.DataFrame] = []
        self.unknown: dict[str, list[str]] = {}
        self._distincts: dict[str, _Distinct] = {}
        self._distinct_values: dict[str, pd.Series] = {}  # of fields done with (their codes let go)
        self._pseudonyms: dict[str, pd.Series] = {}
        self._people: dict[str, Future] = {}
        self._readers = Counter(name for names in columns.values() for name in names)

    def _text(self, field: str) -> pd.Series:
        names = self.columns.get(field)
        if not names:
            return pd.Series(pd.NA, index=self.index, dtype="str")
        return self.cells[names[0]].astype("str")

    def _distinct(self, field: str) -> _Distinct:
        if field not in self._distincts:
            self._distincts[field] = _Distinct.of(self._text(field))
        return self._distincts[field]

    def _done(self, *fields: str) -> None:
        """Let go of the export columns no field still to be built reads, and of these fields' codes.

        With no fields: the columns no field reads at all (needed only to find blank and
        duplicate rows). A column read after this is a mistake in the builder (KeyError).
        """
        for field in fields:
            self._readers.subtract(self.columns.get(field, []))
            if field in self._distincts:
                self._distinct_values[field] = self._distincts.pop(field).values
        unread = [name for name in self.cells.columns if self._readers[name] <= 0]
        if unread:
            self.cells = self.cells.drop(columns=unread)

    def _warn(self, mask, reason: str, field: str | None, detail) -> None:
        self.warnings.append(make_issues(mask, self.rows, self.incident_ids, reason, field, detail))

    # -- exclusions ---------------------------------------------------------------------

    def build(self) -> LoadedExport:
        # People's pseudonyms depend on nothing but their own column, and hashing them is most of
        # the builder's single-threaded work: a second thread makes them while this one reads the
        # dates and times and finds the exclusions (mostly Arrow and numpy work, which lets go of
        # the GIL). Each person field is then finished here exactly as before.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pseudonyms") as pool:
            self._people = {field: pool.submit(self._pseudonymised, field, self._text(field)) for field in PEOPLE}
            episodes, excluded = self._episodes()
        identifiers = self._identifiers()
        self._done(*self.columns, *self._distincts)  # the cells and codes are not needed to check the frame
        frame = validate_episodes(pd.DataFrame(episodes, copy=False), self.profile.timezone)
        accounting = RowAccounting(
            rows_read=self.raw.rows_read,
            excluded=concat_issues(excluded),
            warnings=concat_issues(self.warnings),
            source=self.profile.source,
            encoding=self.raw.encoding,
            unknown_values=self.unknown,
            skipped=self.raw.skipped,
            sheet=self.raw.sheet,
        )
        accounting.fitness = fitness.assess(frame, accounting.warnings, self.profile)
        assert accounting.rows_analysed == len(frame), "row accounting does not balance"
        return LoadedExport(frame, accounting, self.profile, identifiers, self.raw.sha256)

    def _episodes(self) -> tuple[dict[str, pd.Series], list[pd.DataFrame]]:
        """The kept rows' canonical columns and the excluded rows' records, warnings collected."""
        risk = self._times("risk_identified_at")
        escalated = self._times("escalated_at")
        trigger_text = self._text("trigger")
        risk_local = datetimes.localise(risk.naive, self.profile.timezone)
        escalated_local = datetimes.localise(
            escalated.naive, self.profile.timezone, not_before=risk_local.instants
        )

        blank_row = self._blank_rows()
        duplicate, first_copy = self._exact_duplicates()
        self._done()  # columns outside the mapping were needed only for those two
        checks = [
            ("blank_row", None, blank_row, "every cell is blank"),
            ("duplicate_row", None, duplicate, lambda at: "same as row " + pd.Series(first_copy[at]).astype("str")),
            ("missing_incident_id", "incident_id", self.incident_ids.isna(), "incident reference is blank"),
            ("missing_risk_identified_at", "risk_identified_at", risk.blank, "date and time are blank"),
            ("unparseable_risk_identified_at", "risk_identified_at", risk.unreadable,
             self._cannot_read("risk_identified_at")),
            ("missing_trigger", "trigger", trigger_text.isna(), "trigger is blank"),
            ("unparseable_escalated_at", "escalated_at", escalated.unreadable, self._cannot_read("escalated_at")),
            ("escalated_before_identified", "escalated_at",
             (escalated_local.instants < risk_local.instants).fillna(False),
             lambda at: "escalated " + self._shown("escalated_at", at)
             + ", identified " + self._shown("risk_identified_at", at)),
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
        del trigger_text, checks

        # Only kept rows are materialised; warnings still look at every kept row.
        episodes: dict[str, pd.Series] = {}
        episodes["row"] = pd.Series(self.rows[keep].astype("int64"))
        episodes["incident_id"] = _kept(self.incident_ids, keep)
        episodes["risk_identified_at"] = _kept(risk_local.instants, keep)
        episodes["trigger"] = self._category("trigger", keep)
        self._done("trigger")
        episodes["escalated_at"] = _kept(escalated_local.instants, keep)
        episodes["responded_at"] = self._responded(escalated_local.instants, keep)
        episodes["team"] = self._team(keep)
        self._done("responded_at", "team")
        for field in ("outcome", "harm"):
            episodes[field] = self._category(field, keep)
            self._done(field)
        episodes["lone_worker"] = self._boolean("lone_worker", keep)
        self._done("lone_worker")
        for field in ("escalated_to", "barriers", "information_shared"):
            episodes[field] = self._list(field, keep)
            self._done(field)
        episodes["approvals_before_action"] = self._integer("approvals_before_action", keep)
        self._done("approvals_before_action")
        for field in PEOPLE:
            episodes[field] = self._person(field, keep)
            self._done(field)
        for field in ("description", "ethnicity", "age_band", "gender"):
            episodes[field] = _kept(self._text(field), keep)

        for reason, flags, field in (
            ("nonexistent_local_time", risk_local.nonexistent, "risk_identified_at"),
            ("ambiguous_local_time", risk_local.ambiguous, "risk_identified_at"),
            ("nonexistent_local_time", escalated_local.nonexistent, "escalated_at"),
            ("ambiguous_local_time", escalated_local.ambiguous, "escalated_at"),
        ):
            self._warn(np.asarray(flags, dtype=bool) & keep, reason, field, self._shown_at(field))
        self._repeated_ids(keep)
        return episodes, excluded

    def _identifiers(self) -> IdentifierValues:
        """What the privacy gate looks for, from every row read (distinct values, no copies)."""
        pseudonyms = [p for p in self._pseudonyms.values() if len(p)]
        return IdentifierValues(
            service_user_ids=self._values("service_user_id"),
            staff_ids=self._values("staff_id"),
            incident_ids=self._values("incident_id"),
            pseudonyms=pd.concat(pseudonyms, ignore_index=True) if pseudonyms else pd.Series([], dtype="str"),
            descriptions=self._text("description"),
        )

    def _values(self, field: str) -> pd.Series:
        """A field's distinct values, whether or not the builder is done with it."""
        return self._distinct_values[field] if field in self._distinct_values else self._distinct(field).values

    def _shown(self, field: str, at: np.ndarray) -> pd.Series:
        """The cell text of a (possibly two-column) field at positions ``at``, for details."""
        names = self.columns.get(field, [])
        if not names:
            return pd.Series("", index=range(len(at)), dtype="str")
        index = self.cells.index[at]
        shown = "'" + self._cells_at(names[0], at, index)
        for name in names[1:]:
            shown = shown + " " + self._cells_at(name, at, index)
        return (shown.str.strip() + "'").astype("str")

    def _cells_at(self, name: str, at: np.ndarray, index: pd.Index) -> pd.Series:
        """An export column's text at ascending positions ``at`` (blank: ""), labelled ``index``.

        Taken block by block (:func:`take_text_rows`): ``iloc`` would first join the column's
        blocks, copying a million cells to show a handful.
        """
        return take_text_rows(self.cells[name], at).fillna("").astype("str").set_axis(index)

    def _shown_at(self, field: str):
        return lambda at: self._shown(field, at)

    def _cannot_read(self, field: str):
        return lambda at: "cannot read " + self._shown(field, at)

    def _blank_rows(self) -> np.ndarray:
        """Rows in which every cell is blank (columns are checked until none can be)."""
        blank = np.ones(self.n, dtype=bool)
        for name in self.cells.columns:
            if not blank.any():
                break
            blank &= self.cells[name].isna().to_numpy()
        return blank

    def _exact_duplicates(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows identical in every cell to an earlier row, and the row number they copy.

        Rows are split into groups of equal cells one column at a time, starting with the
        incident reference, and only rows still sharing a group with another row go on to
        the next column; usually after the first column only a few dozen remain. Equality is
        exact (no hashing), blanks equal to blanks.
        """
        positions = np.arange(self.n)
        if self.n == 0:
            return np.zeros(0, dtype=bool), self.rows
        first_column = self.columns.get("incident_id", [])[:1]
        order = first_column + [c for c in self.cells.columns if c not in first_column]
        candidates, group = positions, None
        for name in order:
            if len(candidates) < 2:
                break
            if group is None and name in first_column:  # the references' codes, shared with _repeated_ids
                codes, size = self._distinct("incident_id").codes, len(self._distinct("incident_id").values)
            else:
                column = self.cells[name]
                codes, uniques = pd.factorize(column if len(candidates) == self.n else take_text_rows(column, candidates))
                size = len(uniques)
            codes = np.where(codes < 0, size, codes)  # blank: a value of its own
            group = codes if group is None else pd.factorize(group * (size + 1) + codes)[0]
            shared = np.bincount(group)[group] > 1
            candidates, group = candidates[shared], group[shared]
        first = positions.copy()
        if len(candidates) > 1:
            earliest = np.empty(group.max() + 1, dtype=np.int64)
            earliest[group[::-1]] = candidates[::-1]  # last write wins: the earliest position
            first[candidates] = earliest[group]
        return first != positions, self.rows[first]

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

    def _mapped(self, field: str, keep: np.ndarray | None) -> tuple[_Distinct, np.ndarray, np.ndarray]:
        """Canonical value of each distinct local value, which matched nothing, and the rows.

        Unknown values are remembered for the statement (from kept rows only, unless
        ``keep`` is None), in the order they first appear.
        """
        distinct = self._distinct(field)
        mapped = map_distinct(distinct.values.array, field, self.profile.value_map(field))
        unknown = pd.isna(mapped)
        rows = distinct.rows(unknown)
        flagged = rows if keep is None else rows & keep
        if flagged.any():
            known = self.unknown.setdefault(field, [])
            known.extend(str(v) for v in distinct.first_seen(flagged) if str(v) not in known)
        return distinct, mapped, unknown

    def _map_values(self, values: pd.Series, field: str, keep: np.ndarray | None) -> tuple[pd.Series, pd.Series]:
        """Map local values to canonical ones, remembering unknown values for the statement."""
        mapped, unknown = map_values(values, field, self.profile.value_map(field))
        flagged = unknown if keep is None else unknown & keep
        if flagged.any():
            known = self.unknown.setdefault(field, [])
            known.extend(str(v) for v in pd.unique(values[flagged]) if str(v) not in known)
        return mapped, unknown

    def _category(self, field: str, keep: np.ndarray) -> pd.Series:
        distinct, mapped, unknown = self._mapped(field, keep)
        dtype = category_dtype(field)
        fallback = "other" if "other" in dtype.categories else None
        suffix = " kept as 'other'" if fallback else " left blank"
        values = distinct.values
        self._warn(
            distinct.rows(unknown) & keep, "unknown_value", field,
            lambda at: f"{field} " + ("'" + values.iloc[distinct.codes[at]].reset_index(drop=True) + "'") + suffix,
        )
        codes = pd.Categorical(np.where(unknown, fallback, mapped), dtype=dtype).codes
        return pd.Series(pd.Categorical.from_codes(distinct.rows(codes, -1)[keep], dtype=dtype))

    def _boolean(self, field: str, keep: np.ndarray) -> pd.Series:
        distinct, mapped, unknown = self._mapped(field, keep)
        values = distinct.values
        self._warn(distinct.rows(unknown) & keep, "unknown_value", field,
                   lambda at: f"{field} '" + values.iloc[distinct.codes[at]].reset_index(drop=True) + "' left blank")
        flags = pd.Series(mapped, dtype=object).where(~unknown).astype("boolean")
        return pd.Series(flags.array.take(distinct.codes[keep], allow_fill=True))

    def _team(self, keep: np.ndarray) -> pd.Series:
        team = self._text("team")
        self._warn(team.isna() & keep, "missing_team", "team", "team is blank")
        return _kept(team, keep).fillna(NOT_RECORDED).astype("str")

    def _responded(self, escalated: pd.Series, keep: np.ndarray) -> pd.Series:
        responded = self._times("responded_at")
        local = datetimes.localise(responded.naive, self.profile.timezone, not_before=escalated)
        self._warn(responded.unreadable & keep, "unparseable_responded_at", "responded_at",
                   self._cannot_read("responded_at"))
        before = (local.instants < escalated).fillna(False)
        self._warn(before & keep, "responded_before_escalated", "responded_at",
                   lambda at: "responded " + self._shown("responded_at", at)
                   + ", escalated " + self._shown("escalated_at", at))
        self._warn(local.nonexistent & keep, "nonexistent_local_time", "responded_at", self._shown_at("responded_at"))
        self._warn(local.ambiguous & keep, "ambiguous_local_time", "responded_at", self._shown_at("responded_at"))
        return _kept(local.instants, keep)

    def _integer(self, field: str, keep: np.ndarray) -> pd.Series:
        distinct = self._distinct(field)
        values = distinct.values
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        whole = numbers.between(0, _MAX_COUNT) & (numbers == numbers.round())
        self._warn(distinct.rows(~whole.to_numpy()) & keep, "unparseable_approvals", field,
                   lambda at: f"{field} '" + values.iloc[distinct.codes[at]].reset_index(drop=True) + "'")
        counts = numbers.where(whole).astype("Int64")
        return pd.Series(counts.array.take(distinct.codes[keep], allow_fill=True))

    def _list(self, field: str, keep: np.ndarray) -> pd.Series:
        """Split multi-valued cells, trim and map each element, as an Arrow list column.

        Each distinct cell is split once; rows then take their cell's list by position.
        """
        kept_rows = int(keep.sum())
        values = self._text(field)
        if values.isna().all():
            return pd.Series(pd.array([None] * kept_rows, dtype=LIST_DTYPE))
        distinct = self._distinct(field)
        cells = distinct.values
        separator = self.profile.lists.get(field, ";")
        split = pc.split_pattern(arrow_text(cells).cast(pa.string()), separator)
        flat = pc.utf8_trim_whitespace(pc.list_flatten(split))
        parents = pc.list_parent_indices(split).to_numpy()
        flat_series = text_series(flat)
        non_empty = (flat_series.str.len() > 0).to_numpy()
        if FIELDS[field].categories:
            mapped, unknown = self._map_values(flat_series, field, None)
            flagged_cells = np.zeros(len(cells), dtype=bool)
            np.logical_or.at(flagged_cells, parents[unknown.to_numpy() & non_empty], True)
            flagged_rows = distinct.rows(flagged_cells)
            if flagged_rows.any():
                for value in pd.unique(flat_series[unknown & non_empty]):
                    self.unknown.setdefault(field, [])
                    if value not in self.unknown[field]:
                        self.unknown[field].append(str(value))
            self._warn(flagged_rows & keep, "unknown_value", field,
                       lambda at: f"{field} '" + cells.iloc[distinct.codes[at]].reset_index(drop=True)
                       + "' has values kept as 'other'")
            flat_series = mapped.where(~unknown, "other").astype("str")
        elif self.profile.value_map(field):  # open list: map what the profile names, keep the rest
            mapped, unknown = map_values(flat_series, field, self.profile.value_map(field))
            flat_series = mapped.where(~unknown, flat_series).astype("str")
        counts = np.bincount(parents[non_empty], minlength=len(cells))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        lists = pa.ListArray.from_arrays(
            pa.array(offsets),
            pa.array(flat_series[non_empty].to_numpy(dtype=object), type=pa.string()),
        )
        return pd.Series(pd.arrays.ArrowExtensionArray(lists.take(_indices(distinct.codes[keep]))))

    def _pseudonymised(self, field: str, text: pd.Series) -> tuple[_Distinct, np.ndarray | None, pa.Array]:
        """A person field's distinct values, which fail the NHS number check (if it is the NHS
        number), and their pseudonyms. Reads only ``text``, so it can run beside the builder."""
        distinct = _Distinct.of(text)
        invalid = ~nhs_numbers_valid_distinct(distinct.values) if self.profile.nhs_number == field else None
        return distinct, invalid, pseudonyms_of_distinct(distinct.values, field, self.key)

    def _person(self, field: str, keep: np.ndarray) -> pd.Series:
        distinct, invalid, pseudonyms = self._people.pop(field).result()  # started by build()
        self._distincts[field] = distinct
        if invalid is not None:
            self._warn(distinct.rows(invalid) & keep, "invalid_nhs_number", field, "NHS number fails the check digit")
        self._pseudonyms[field] = text_series(pseudonyms)
        return text_series(pseudonyms.take(_indices(distinct.codes[keep])))

    def _repeated_ids(self, keep: np.ndarray) -> None:
        distinct = self._distinct("incident_id")
        codes = np.where(keep, distinct.codes, -1)
        present = codes >= 0
        counts = np.bincount(codes[present], minlength=len(distinct.values))
        repeated = present & distinct.rows(counts > 1)
        if repeated.any():
            earliest = np.full(len(distinct.values), np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(earliest, codes[repeated], self.rows[repeated])
            self._warn(repeated, "repeated_incident_id", "incident_id",
                       lambda at: "reference first appears on row " + pd.Series(earliest[codes[at]]).astype("str"))
