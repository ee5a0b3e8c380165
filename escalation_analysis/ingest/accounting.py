"""Row accounting: rows read = rows analysed + rows excluded, every exclusion explained.

A quality lead must be able to defend every figure: which rows went in, which were left out
and why. Each excluded row carries exactly one reason (the first that applies, in the order of
:data:`EXCLUSION_REASONS`), its spreadsheet row number and its incident reference. Warnings
flag rows that are kept but need a look; a row may carry several.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .files import take_text_rows
from .listing import empty_skipped

if TYPE_CHECKING:
    from .fitness import FitnessCheck

EXCLUSION_REASONS: dict[str, str] = {
    "malformed_row": "the row has the wrong number of cells",
    "blank_row": "the row is entirely blank",
    "duplicate_row": "the row is an exact duplicate of an earlier row (one copy kept)",
    "missing_incident_id": "there is no incident reference",
    "missing_risk_identified_at": "there is no date and time when risk was identified",
    "unparseable_risk_identified_at": "the date or time when risk was identified cannot be read",
    "missing_trigger": "there is no escalation trigger",
    "unparseable_escalated_at": "the escalation date or time cannot be read",
    "escalated_before_identified": "escalation is recorded before risk was identified",
    "outside_period": "risk was identified outside the reporting period",
}
"""Why a row can be excluded, in the order they are checked."""

WARNING_REASONS: dict[str, str] = {
    "missing_team": "the team is blank (counted as 'Not recorded')",
    "unknown_value": "a value is not in the mapping profile (kept as 'other' or blank)",
    "responded_before_escalated": "the response is recorded before the escalation",
    "unparseable_responded_at": "the response date or time cannot be read (treated as blank)",
    "unparseable_approvals": "approvals before action is not a whole number (treated as blank)",
    "invalid_nhs_number": "the NHS number fails its check digit",
    "nonexistent_local_time": "a time falls in the hour skipped when the clocks went forward "
    "(read as one hour later)",
    "ambiguous_local_time": "a time falls in the hour repeated when the clocks went back",
    "repeated_incident_id": "the incident reference appears on more than one row",
}

ISSUE_COLUMNS = ("row", "incident_id", "reason", "field", "detail")


def empty_issues() -> pd.DataFrame:
    """An issues table with no rows but the right columns and dtypes."""
    return pd.DataFrame(
        {
            "row": pd.Series(dtype="int64"),
            "incident_id": pd.Series(dtype="str"),
            "reason": pd.Series(dtype="str"),
            "field": pd.Series(dtype="str"),
            "detail": pd.Series(dtype="str"),
        }
    )


def make_issues(
    mask: pd.Series | np.ndarray,
    rows: pd.Series | np.ndarray,
    incident_ids: pd.Series,
    reason: str,
    field: str | None,
    detail: str | pd.Series | Callable[[np.ndarray], pd.Series],
) -> pd.DataFrame:
    """Issue records for the rows where ``mask`` is true (vectorised, no loops).

    ``detail`` is one text for every record, a Series aligned with ``mask``, or a function
    of the flagged positions returning their details: with a million rows and a handful
    flagged, only those few details are ever written.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return empty_issues()
    positions = np.flatnonzero(mask)
    if callable(detail):
        detail = pd.Series(np.asarray(detail(positions), dtype=object), dtype="str")
    elif isinstance(detail, pd.Series):
        detail = pd.Series(np.asarray(detail.iloc[positions], dtype=object), dtype="str")
    if isinstance(incident_ids, pd.Series):  # (text taken block by block: iloc would join the blocks first)
        ids = take_text_rows(incident_ids, positions) if incident_ids.dtype == "str" else incident_ids.iloc[positions]
    else:
        ids = np.asarray(incident_ids)[positions]
    return pd.DataFrame(
        {
            "row": np.asarray(rows)[positions].astype("int64"),
            "incident_id": pd.Series(np.asarray(ids, dtype=object), dtype="str"),
            "reason": reason,
            "field": field,
            "detail": detail,
        }
    ).astype({"reason": "str", "field": "str", "detail": "str"})


def concat_issues(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack issue tables, ordered by row number."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_issues()
    return pd.concat(frames, ignore_index=True).sort_values(["row", "reason"], kind="stable", ignore_index=True)


@dataclass
class RowAccounting:
    """Where every row of an export went.

    Attributes
    ----------
    rows_read
        Data rows in the file (the header is not counted).
    excluded
        One record per excluded row: row, incident_id, reason, field, detail.
    warnings
        Records for kept rows that need a look (a row may have several).
    source, encoding
        The profile's source label and the text encoding detected (``xlsx`` for a workbook).
    unknown_values
        Field -> local values not in the mapping, so the profile can be completed.
    skipped
        Lines that are not records (title lines above the header, footer lines after the
        last record): row, kind (``title`` or ``footer``) and text. Not counted in rows read.
    sheet
        The workbook sheet read (``None`` for CSV).
    fitness
        Signs that figures would be wrong although every row loads
        (:mod:`~escalation_analysis.ingest.fitness`), for the episodes analysed.
    """

    rows_read: int
    excluded: pd.DataFrame = field(default_factory=empty_issues)
    warnings: pd.DataFrame = field(default_factory=empty_issues)
    source: str = ""
    encoding: str = ""
    unknown_values: dict[str, list[str]] = field(default_factory=dict)
    skipped: pd.DataFrame = field(default_factory=empty_skipped)
    sheet: str | None = None
    fitness: list[FitnessCheck] = field(default_factory=list)

    @property
    def rows_excluded(self) -> int:
        return len(self.excluded)

    @property
    def rows_analysed(self) -> int:
        return self.rows_read - self.rows_excluded

    def excluded_by_reason(self) -> dict[str, int]:
        counts = self.excluded["reason"].value_counts()
        return {r: int(counts[r]) for r in EXCLUSION_REASONS if r in counts.index}

    def warnings_by_reason(self) -> dict[str, int]:
        counts = self.warnings["reason"].value_counts()
        return {r: int(counts[r]) for r in WARNING_REASONS if r in counts.index}

    def exclude(self, more: pd.DataFrame) -> RowAccounting:
        """A new accounting with more excluded rows (e.g. outside the reporting period).

        Warnings on newly excluded rows are dropped: they no longer describe analysed data.
        """
        kept_warnings = self.warnings[~self.warnings["row"].isin(more["row"])]
        return replace(self, excluded=concat_issues([self.excluded, more]), warnings=kept_warnings.reset_index(drop=True))

    def lines_skipped(self) -> dict[str, int]:
        """How many title lines above the header and footer lines after the last record were skipped."""
        kinds = self.skipped["kind"]
        return {"above_header": int((kinds == "title").sum()), "after_last_record": int((kinds == "footer").sum())}

    def to_dict(self, *, with_rows: bool = True, examples: int = 5) -> dict:
        """The ``data_quality`` object of summary.json (``docs/definitions.md``).

        With ``with_rows`` (internal use) the first row numbers of each reason are included
        so the export can be corrected; external reports leave them out.
        """
        result = {
            "source": self.source,
            "encoding": self.encoding,
            "rows_read": self.rows_read,
            "rows_analysed": self.rows_analysed,
            "rows_excluded": self.rows_excluded,
            "excluded_by_reason": self.excluded_by_reason(),
            "warnings": self.warnings_by_reason(),
            "unknown_values": self.unknown_values,
            "lines_skipped": self.lines_skipped(),
            "fitness": [check.to_dict(public=not with_rows) for check in self.fitness],
        }
        if with_rows:
            result["first_rows"] = {
                "excluded": _first_rows(self.excluded, examples),
                "warnings": _first_rows(self.warnings, examples),
            }
        return result

    def statement(self, examples: int = 5) -> str:
        """A plain-English data-quality statement for people, not machines."""
        stored = f"Excel workbook, sheet '{self.sheet}'" if self.sheet is not None else f"text encoding: {self.encoding}"
        lines = [
            f"Source: {self.source or 'export'} ({stored}).",
            f"{self.rows_read:,} rows read: {self.rows_analysed:,} analysed, "
            f"{self.rows_excluded:,} excluded.",
        ]
        if len(self.skipped):
            lines.append(self._skipped_statement(examples))
        first = _first_rows(self.excluded, examples)
        for reason, n in self.excluded_by_reason().items():
            lines.append(
                f"  Excluded {n:,} because {EXCLUSION_REASONS[reason]} "
                f"({_row_list(first[reason], n, examples)})."
            )
        warnings = self.warnings_by_reason()
        if warnings:
            first_w = _first_rows(self.warnings, examples)
            lines.append("Warnings (rows kept; a row can carry more than one):")
            for reason, n in warnings.items():
                rows = self.warnings.loc[self.warnings["reason"] == reason, "row"].nunique()
                times = f"{n:,} times in {rows:,} rows" if rows != n else f"{n:,} rows"
                lines.append(
                    f"  {times}: {WARNING_REASONS[reason]} "
                    f"({_row_list(first_w[reason], rows, examples)})."
                )
        for field_name, values in self.unknown_values.items():
            shown = ", ".join(f"'{v}'" for v in values[:10])
            more = f" and {len(values) - 10} more" if len(values) > 10 else ""
            lines.append(
                f"Values of {field_name} not in the mapping profile: {shown}{more}. "
                "Add them under 'values:' in the profile."
            )
        if self.rows_analysed == 0:
            lines.append("Nothing usable remains: fix the problems above and try again.")
        return "\n".join(lines)


    def fitness_statement(self) -> str:
        """The fitness checks as lines for people ('' when there are none): printed before the statement."""
        if not self.fitness:
            return ""
        return "\n".join(["Check these before using the figures:", *(f"  - {c.message}" for c in self.fitness)])

    def _skipped_statement(self, examples: int) -> str:
        """'Not counted as rows: 3 title lines above the header (rows 1, 2, 3) and ...'."""
        parts = []
        for kind, what in (("title", "above the header"), ("footer", "after the last record")):
            lines = self.skipped[self.skipped["kind"] == kind]
            if lines.empty:
                continue
            n = len(lines)
            noun = f"{'title' if kind == 'title' else 'footer'} line{'' if n == 1 else 's'}"
            texts = [t for t in lines["text"] if t]
            said = "; ".join(f"'{t if len(t) <= 60 else t[:57] + '...'}'" for t in texts[:2])
            said = f": {said}" + (" ..." if len(texts) > 2 else "") if said else ""
            parts.append(f"{n:,} {noun} {what} ({_row_list(lines['row'].head(examples).tolist(), n, examples)}{said})")
        return "  Not counted as rows: " + " and ".join(parts) + "."


def _first_rows(issues: pd.DataFrame, examples: int) -> dict[str, list[int]]:
    if issues.empty:
        return {}
    firsts = issues.sort_values("row").groupby("reason", sort=False)["row"].apply(
        lambda s: [int(r) for r in s.drop_duplicates().head(examples)]
    )
    return firsts.to_dict()


def _row_list(rows: list[int], n: int, examples: int) -> str:
    label = "row" if len(rows) == 1 else "rows"
    more = " and others" if n > examples else ""
    return f"{label} {', '.join(str(r) for r in rows)}{more}"
