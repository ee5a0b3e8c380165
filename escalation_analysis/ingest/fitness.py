"""Fitness checks: signs the figures would be wrong although every row loads.

Row accounting proves nothing was lost; it cannot see a mapping that reads every row wrongly.
A date-only column mapped as the moment risk was identified puts every episode at midnight,
so all of them fall out of hours and every delay is hours too long, and validation still says
"360 rows read: 360 analysed". These checks look at the loaded episodes for such signs and
say what to change, first in ``validate``, in ``data_quality.fitness`` of ``summary.json``
and in every report's data-quality section; never silent.

Each check is a :class:`FitnessCheck`: a code, one sentence for the people who fix the export
(with figures and local values) and the number of rows concerned. External readers get
:meth:`FitnessCheck.public_message` instead: the same warning without counts or local values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .mapping import MappingProfile

FITNESS_CODES: dict[str, str] = {
    "times_missing": "half or more of the times are exactly 00:00, so the time is probably not mapped; "
    "in-hours and out-of-hours bands and delays would be wrong",
    "dates_in_future": "some dates are after the day the figures were made",
    "implausible_delay": "some delays to escalate are over seven days",
    "period_sparse": "fewer than 20 episodes: one episode moves a percentage by five points or more",
    "single_value": "a mapped field holds one value only",
    "unmapped_share": "over 10% of a field's values are not in the mapping profile",
}
"""Every fitness check, with what it means (for people, and the definitions register)."""

SPARSE_EPISODES = 20
LONGEST_PLAUSIBLE_DELAY = pd.Timedelta(days=7)
UNMAPPED_SHARE = 0.10
SINGLE_VALUE_MINIMUM = 10
"""A field with one value among fewer episodes than this is not remarked on."""

TIME_FIELDS = {"risk_identified_at": "identification", "escalated_at": "escalation"}
DATE_FIELDS = ("risk_identified_at", "escalated_at", "responded_at")
MAPPED_FIELDS = ("trigger", "outcome", "harm", "lone_worker", "escalated_to")
"""Fields whose local values are mapped to a vocabulary: checked for one value and unmapped values."""


@dataclass(frozen=True)
class FitnessCheck:
    """One sign that figures would be wrong: code, a sentence, the rows concerned."""

    code: str
    message: str
    rows: int
    field: str | None = None

    @property
    def public_message(self) -> str:
        """The warning for external readers: no counts, no local values."""
        about = f"{self.field}: " if self.field else ""
        text = FITNESS_CODES[self.code]
        return f"{about}{text[0].upper() + text[1:] if not about else text}."

    def to_dict(self, *, public: bool = False) -> dict:
        return {"code": self.code, "message": self.public_message if public else self.message, "rows": self.rows}


def assess(
    episodes: pd.DataFrame,
    warnings: pd.DataFrame,
    profile: MappingProfile,
    *,
    scope: str = "in the export",
    today: dt.date | None = None,
) -> list[FitnessCheck]:
    """Every fitness check on loaded (or prepared) episodes, in :data:`FITNESS_CODES` order.

    Parameters
    ----------
    episodes
        Canonical episodes (any extra columns are ignored).
    warnings
        The accounting's warnings for those episodes (unknown values are counted from them).
    profile
        The mapping profile that loaded them: which fields are mapped, and how.
    scope
        How the episodes are described: "in the export" or "in the period".
    today
        The day the figures are made (default: today on the profile's clock).
    """
    today = today or dt.datetime.now(ZoneInfo(profile.timezone)).date()
    checks: list[FitnessCheck] = []
    checks += _times_missing(episodes, profile)
    checks += _dates_in_future(episodes, profile.timezone, today)
    checks += _implausible_delays(episodes)
    checks += _sparse(len(episodes), scope)
    unknown_rows = _unknown_rows(episodes, warnings)
    checks += _single_values(episodes, profile, unknown_rows)
    checks += _unmapped_shares(episodes, profile, unknown_rows)
    return checks


def rescoped(checks: list[FitnessCheck], n: int, scope: str) -> list[FitnessCheck]:
    """The same checks said of the same ``n`` episodes under another name ("in the period")."""
    kept = [c for c in checks if c.code != "period_sparse"]
    at = next((i for i, c in enumerate(checks) if c.code == "period_sparse"), None)
    if at is None:
        return kept
    return kept[:at] + _sparse(n, scope) + kept[at:]


def _sparse(n: int, scope: str) -> list[FitnessCheck]:
    if n >= SPARSE_EPISODES:
        return []
    text = (f"No episodes {scope}: there is nothing to report on." if n == 0 else
            f"Only {n:,} episode{'' if n == 1 else 's'} {scope}: one episode moves a percentage by "
            f"{100 / n:.0f} points, so read every percentage with care.")
    return [FitnessCheck("period_sparse", text, n)]


def _wall_clock(instants: pd.Series, timezone: str) -> pd.Series:
    return instants.dt.tz_convert(timezone).dt.tz_localize(None)


def _at_midnight(instants: pd.Series, timezone: str) -> tuple[int, int]:
    """How many instants there are, and how many fall at exactly 00:00 on the local clock.

    Every time zone's offset is a whole number of quarter hours, so only instants on a quarter
    hour in UTC can be local midnight: only those few are put on the local clock.
    """
    present = instants.dropna()
    utc = present.array.asi8
    quarter_hour = pd.Timedelta(minutes=15) // pd.Timedelta(1, unit=present.dtype.unit)
    candidates = present[utc % quarter_hour == 0]
    if len(candidates) < 2 or len(candidates) < len(present) / 2:
        return len(present), 0  # too few could be at midnight to matter
    local = _wall_clock(candidates, timezone)
    return len(present), int((local == local.dt.normalize()).sum())


def _times_missing(episodes: pd.DataFrame, profile: MappingProfile) -> list[FitnessCheck]:
    checks = []
    for field, label in TIME_FIELDS.items():
        if field not in profile.columns or field not in episodes:
            continue
        n, midnight = _at_midnight(episodes[field], profile.timezone)
        if midnight < 2 or midnight < n / 2:
            continue
        columns = profile.local_columns(field)
        if len(columns) == 1:
            fix = (f"if the export has a time column, map {field} as [\"{columns[0]}\", time column] in the "
                   "profile")
        else:
            fix = f"check that \"{columns[1]}\" holds the time of day"
        checks.append(FitnessCheck(
            "times_missing",
            f"{midnight:,} of {n:,} {label} times ({100 * midnight / n:.0f}%) are exactly 00:00, so the time is "
            f"probably not mapped: {fix}; until then in-hours and out-of-hours bands and delays are wrong.",
            midnight, field))
    return checks


def _dates_in_future(episodes: pd.DataFrame, timezone: str, today: dt.date) -> list[FitnessCheck]:
    tomorrow = pd.Timestamp(today + dt.timedelta(days=1), tz=timezone)  # compared as instants: no conversion
    future = np.zeros(len(episodes), dtype=bool)
    latest = None
    for field in DATE_FIELDS:
        if field not in episodes:
            continue
        after = (episodes[field] >= tomorrow).fillna(False).to_numpy(dtype=bool)
        if after.any():
            future |= after
            top = episodes[field][after].max().tz_convert(timezone)
            latest = top if latest is None else max(latest, top)
    n = int(future.sum())
    if not n:
        return []
    return [FitnessCheck(
        "dates_in_future",
        f"{n:,} episode{'' if n == 1 else 's'} {'has' if n == 1 else 'have'} a date after today ({today:%d/%m/%Y}), "
        f"the latest {latest:%d/%m/%Y}: check those dates, and 'dayfirst' in the profile.",
        n)]


def _implausible_delays(episodes: pd.DataFrame) -> list[FitnessCheck]:
    if "escalated_at" not in episodes or "risk_identified_at" not in episodes:
        return []
    delays = episodes["escalated_at"] - episodes["risk_identified_at"]
    long = (delays > LONGEST_PLAUSIBLE_DELAY).fillna(False).to_numpy(dtype=bool)
    n = int(long.sum())
    if not n:
        return []
    longest = delays[long].max() / pd.Timedelta(days=1)
    return [FitnessCheck(
        "implausible_delay",
        f"{n:,} delay{'' if n == 1 else 's'} to escalate {'is' if n == 1 else 'are'} over seven days (the longest "
        f"{longest:,.0f} days): check those dates, and that the escalation column is the first contact.",
        n)]


def _unknown_rows(episodes: pd.DataFrame, warnings: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per field, which episodes had a value the profile did not map (from the warnings)."""
    unknown = warnings[warnings["reason"] == "unknown_value"]
    rows = episodes["row"].to_numpy() if "row" in episodes else np.zeros(0, dtype=np.int64)
    return {field: np.isin(rows, group["row"].to_numpy()) for field, group in unknown.groupby("field")}


def _distinct_values(values: pd.Series) -> tuple[int, list]:
    """How many non-blank values a mapped field holds (list fields: items) and which, once each.

    Read from the categories' codes or the Arrow list's items, never as text row by row.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        counts = np.bincount(codes[codes >= 0], minlength=len(values.cat.categories))
        return int(counts.sum()), [values.cat.categories[i] for i in np.flatnonzero(counts)]
    if isinstance(values.dtype, pd.ArrowDtype) and pa.types.is_list(values.dtype.pyarrow_dtype):
        items = pc.drop_null(pc.list_flatten(values.array.__arrow_array__()))
        return len(items), pc.unique(items).to_pylist()
    present = values.dropna()
    return len(present), list(pd.unique(present))


def _single_values(episodes: pd.DataFrame, profile: MappingProfile, unknown_rows: dict) -> list[FitnessCheck]:
    checks = []
    for field in MAPPED_FIELDS:
        if field not in profile.columns or field not in episodes:
            continue
        n, distinct = _distinct_values(episodes[field])
        if len(distinct) != 1 or n < SINGLE_VALUE_MINIMUM:
            continue
        value = str(distinct[0]).lower()
        why = (" (values not in the profile are kept as 'other')" if value == "other" and field in unknown_rows else "")
        checks.append(FitnessCheck(
            "single_value",
            f"Every {field} is '{value}' ({n:,} values){why}: check that \"{profile.local_columns(field)[0]}\" "
            f"is the right column and its values are mapped under 'values:'.",
            n, field))
    return checks


def _unmapped_shares(episodes: pd.DataFrame, profile: MappingProfile, unknown_rows: dict) -> list[FitnessCheck]:
    checks = []
    for field in MAPPED_FIELDS:
        unknown = unknown_rows.get(field)
        if unknown is None or field not in episodes:
            continue
        values = episodes[field]
        filled = (values.notna() if field != "escalated_to" else values.list.len().fillna(0) > 0).to_numpy(dtype=bool)
        filled = filled | unknown
        n, bad = int(filled.sum()), int(unknown.sum())
        if not n or bad <= UNMAPPED_SHARE * n:
            continue
        kept = "kept as 'other'" if field in ("trigger", "escalated_to") else "left blank"
        checks.append(FitnessCheck(
            "unmapped_share",
            f"{100 * bad / n:.0f}% of {field} values ({bad:,} of {n:,} rows) are not in the mapping profile and are "
            f"{kept}: add them under 'values:' in the profile.",
            bad, field))
    return checks
