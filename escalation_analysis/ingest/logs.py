"""Optional logs that deepen the analysis: the step log, learning actions and training.

* **Step log**: one row per step (incident reference, ``contacted``/``responded``, agency,
  time). It gives the order of contacts for pathway adherence and the response of each
  receiving agency.
* **Learning actions**: action, owner, raised, due, status (open/closed), linked incident.
* **Training log**: staff member, course, completion date. Staff are pseudonymised with the
  same key as the export, so they match the episodes' ``staff_id``.

Each loader reads through the mapping profile's ``step_log`` / ``learning_actions`` /
``training_log`` section and accounts for its rows: rows it cannot use are counted by reason,
never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ExportError, MappingError
from . import datetimes
from .file_checks import require_regular_file
from .files import read_export
from .mapping import LogMapping, MappingProfile, normalise_value
from .pseudonyms import load_key, pseudonymise
from .vocabulary import map_values


@dataclass
class LoadedLog:
    """A loaded log with its accounting: rows read = rows used + rows excluded."""

    frame: pd.DataFrame
    rows_read: int
    excluded: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)

    @property
    def rows_used(self) -> int:
        return len(self.frame)

    def to_dict(self) -> dict:
        return {"rows_read": self.rows_read, "rows_used": self.rows_used, "excluded_by_reason": self.excluded,
                "warnings": self.warnings}


def _cells(path: str | Path, profile: MappingProfile, log: LogMapping, name: str) -> tuple[pd.DataFrame, int]:
    require_regular_file(path, name, ExportError)
    raw = read_export(path, missing_values=profile.missing_values)
    available = {normalise_value(c): c for c in raw.cells.columns}
    out = {}
    for wanted in log.fields:
        local = log.column(wanted)
        actual = local if local in raw.cells.columns else available.get(normalise_value(local))
        if actual is None:
            if wanted in ("incident_id", "staff_id", "at", "completed_on", "agency", "due", "status", "action"):
                raise MappingError(
                    f"The {name} '{Path(path).name}' has no column '{local}' (for {wanted}); its columns are "
                    + ", ".join(f"'{c}'" for c in raw.cells.columns) + f": fix '{_section(name)}' in the mapping profile."
                )
            out[wanted] = pd.Series(pd.NA, index=raw.cells.index, dtype="str")
        else:
            out[wanted] = raw.cells[actual].astype("str")
    return pd.DataFrame(out), raw.rows_read


def _section(name: str) -> str:
    return {"step log": "step_log", "learning-actions log": "learning_actions", "training log": "training_log"}[name]


def _dates(cells: pd.Series, profile: MappingProfile) -> pd.Series:
    return datetimes.parse_dates(cells, dayfirst=profile.dayfirst)


def load_step_log(path: str | Path, profile: MappingProfile) -> LoadedLog:
    """Read a step log: ``incident_id``, ``step`` (contacted/responded), ``agency``, ``at``."""
    cells, rows_read = _cells(path, profile, profile.step_log, "step log")
    at = datetimes.localise(_dates(cells["at"], profile), profile.timezone).instants
    agency, agency_unknown = map_values(cells["agency"], "escalated_to", profile.value_map("escalated_to"))
    agency = agency.where(~agency_unknown, "other")
    step, step_unknown = map_values(cells["step"], "step", profile.step_log.value_map("step"))
    step = step.fillna("contacted")  # a log without a step column lists contacts only
    reasons = {
        "missing_incident_id": cells["incident_id"].isna(),
        "unreadable_time": at.isna(),
        "missing_agency": cells["agency"].isna(),
    }
    frame = pd.DataFrame(
        {"incident_id": cells["incident_id"], "step": step.astype("str"), "agency": agency.astype("str"), "at": at}
    )
    log = _account(frame, rows_read, reasons)
    log.frame = log.frame.sort_values(["incident_id", "at"], kind="stable", ignore_index=True)
    if step_unknown.any():  # read as contacts, but say so: add the wording under step_log.values
        log.warnings["unknown_step_read_as_contact"] = int(step_unknown.sum())
    if agency_unknown.any():
        log.warnings["unknown_agency_read_as_other"] = int(agency_unknown.sum())
    return log


def load_actions(path: str | Path, profile: MappingProfile) -> LoadedLog:
    """Read learning actions: ``action``, ``owner``, ``raised``, ``due``, ``status``, ``incident_id``."""
    cells, rows_read = _cells(path, profile, profile.learning_actions, "learning-actions log")
    status, status_unknown = map_values(cells["status"], "status", profile.learning_actions.value_map("status"))
    frame = pd.DataFrame(
        {
            "action": cells["action"],
            "owner": cells["owner"],
            "raised": _dates(cells["raised"], profile),
            "due": _dates(cells["due"], profile),
            "status": status.where(~status_unknown, "open").astype("str"),
            "incident_id": cells["incident_id"],
        }
    )
    reasons = {"missing_action": cells["action"].isna(), "unreadable_due_date": frame["due"].isna()}
    return _account(frame, rows_read, reasons)


def load_training(path: str | Path, profile: MappingProfile, *, key: bytes | None = None) -> LoadedLog:
    """Read a training log; staff pseudonymised to match the episodes; scenario courses flagged."""
    cells, rows_read = _cells(path, profile, profile.training_log, "training log")
    scenario = {normalise_value(c) for c in profile.training_log.scenario_courses}
    course_key = cells["course"].fillna("").map(normalise_value) if len(cells) else cells["course"]
    frame = pd.DataFrame(
        {
            "staff_id": pseudonymise(cells["staff_id"], "staff_id", key if key is not None else load_key()),
            "course": cells["course"],
            "scenario": course_key.isin(scenario).astype(bool) if len(cells) else pd.Series(dtype=bool),
            "completed_on": _dates(cells["completed_on"], profile),
        }
    )
    reasons = {"missing_staff_id": cells["staff_id"].isna(), "unreadable_date": frame["completed_on"].isna()}
    return _account(frame, rows_read, reasons)


def _account(frame: pd.DataFrame, rows_read: int, reasons: dict[str, pd.Series]) -> LoadedLog:
    """Drop unusable rows, counting each under its first reason."""
    dropped = np.zeros(len(frame), dtype=bool)
    counts: dict[str, int] = {}
    for reason, mask in reasons.items():
        new = np.asarray(mask, dtype=bool) & ~dropped
        if new.any():
            counts[reason] = int(new.sum())
        dropped |= new
    malformed = rows_read - len(frame)
    if malformed:
        counts["malformed_row"] = malformed
    return LoadedLog(frame[~dropped].reset_index(drop=True), rows_read, counts)
