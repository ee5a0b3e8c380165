"""Exports in layouts nobody here designed, made from the shipped sample for tests.

Real exports arrive as other systems print them: a listing report from a Datix-Web-style
system (a criteria sheet first, three title rows above the header on row 4, real Excel date
and time cells, "Total records: N" and "End of report" after the last record), a CSV with
title lines, another vendor's single ISO date-time columns, numeric references, a BOM or
Windows-1252 text, optional columns missing, one team only, or a quarter with no episodes.

:func:`write_export` rewrites the sample's cells (``data/sample/incidents.csv``, whose row
accounting is known: ``truth.json``) into a :class:`Layout` and returns the mapping profile
that reads it, so a test can check that the layout changes nothing but where rows are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"

DATETIME_COLUMNS = {  # the sample's date and time column pairs
    "risk_identified_at": ("Incident Date", "Incident Time"),
    "escalated_at": ("Escalation Date", "Escalation Time"),
    "responded_at": ("Crisis Response Date", "Crisis Response Time"),
}

DATIX_WEB_NAMES = {  # sample column -> a Datix-Web-style listing's column
    "Ref": "ID", "Incident Date": "Incident date", "Incident Time": "Time",
    "Escalation Date": "Date escalated", "Escalation Time": "Time escalated",
    "Crisis Response Date": "Crisis team response date", "Crisis Response Time": "Crisis team response time",
    "Team": "Service", "Category": "Concern Type", "Result": "Result", "Severity": "Severity",
    "Lone Worker": "Lone worker?", "Escalated To": "Escalated to", "Barriers": "Barriers",
    "Information Shared": "Information shared", "Approvals Sought": "Approvals sought",
    "Description": "Brief Summary", "NHS Number": "NHS No", "Reported By": "Reporter",
    "Ethnicity": "Ethnicity", "Age Band": "Age band", "Gender": "Gender",
}

ISO_VENDOR_NAMES = {  # sample column -> another vendor's single date-time columns
    "Ref": "Record ID", "Incident Date": "Date Risk Identified", "Escalation Date": "Escalated At",
    "Crisis Response Date": "Crisis Response At", "Team": "Team Name", "Category": "Escalation Reason",
    "Result": "Outcome", "Severity": "Harm Level", "Lone Worker": "Lone Working", "Escalated To": "Agencies",
    "Barriers": "Barriers", "Information Shared": "Information Shared", "Approvals Sought": "Approvals",
    "Description": "Summary", "NHS Number": "NHS Number", "Reported By": "Staff Member",
    "Ethnicity": "Ethnicity", "Age Band": "Age Band", "Gender": "Gender",
}


@dataclass
class Layout:
    """How an export is laid out; the defaults are the sample's own plain CSV."""

    name: str = "plain"
    format: str = "csv"  # csv or xlsx
    names: dict[str, str] = field(default_factory=dict)  # sample column -> local name (default: as is)
    title_lines: list[str] = field(default_factory=list)  # lines above the header
    footer_lines: list[str] = field(default_factory=list)  # after the last record; {n} is the count
    sheet: str = "Sheet1"
    sheets_before: dict[str, list[list]] = field(default_factory=dict)  # e.g. a criteria sheet
    datetimes: str = "split"  # split (date + time columns) or iso (one ISO 8601 column each)
    excel_cells: bool = True  # xlsx: dates, times and counts as real Excel cells, not text
    numeric_references: bool = False  # references as plain numbers (499766), not W100001
    drop: tuple[str, ...] = ()  # sample columns left out (optional fields)
    one_team: str | None = None  # keep only this team's rows
    empty_quarter: tuple[dt.date, dt.date] | None = None  # drop episodes identified in these dates
    encoding: str = "utf-8"  # csv only: utf-8, utf-8-sig (BOM) or cp1252
    delimiter: str = ","


DATIX_WEB_LISTING = Layout(
    name="datix-web listing",
    format="xlsx",
    names=DATIX_WEB_NAMES,
    title_lines=["Crisis escalation incidents - listing report", "Run on 01/04/2026 09:12 by QUALITY\\jsmith", ""],
    footer_lines=["", "Total records: {n}", "End of report"],
    sheet="Listing",
    sheets_before={"Criteria": [["Criteria"], ["Module", "Incidents"],
                                ["Incident date", "between 01/04/2024 and 31/03/2026"], ["Approval status", "All"]]},
)
"""The layout of issue 15: a criteria sheet first, the header on row 4 of the second sheet."""

LISTING_CSV = Layout(
    name="listing csv",
    names=DATIX_WEB_NAMES,
    title_lines=["Crisis escalation incidents - listing report", "Run on 01/04/2026 09:12"],
    footer_lines=["", "Total records: {n}", "End of report"],
    encoding="cp1252",
)
"""The same listing saved as CSV: two title lines (header on row 3), a footer, Windows-1252."""

ISO_VENDOR = Layout(
    name="iso vendor",
    names=ISO_VENDOR_NAMES,
    datetimes="iso",
    numeric_references=True,
    encoding="utf-8-sig",
)
"""Another vendor: single ISO date-time columns, numeric references, UTF-8 with a BOM."""


@dataclass
class Written:
    """An export written in a layout, with what a test needs to read it."""

    path: Path
    mapping: dict
    header_row: int
    rows: pd.Series  # the original row number of each sample row written (by sample row number)

    def mapping_file(self, folder: Path) -> Path:
        path = folder / f"{self.path.stem}-mapping.yaml"
        path.write_text(yaml.safe_dump(self.mapping, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path


def sample_cells() -> pd.DataFrame:
    """The shipped sample export as text cells (blank as ''), its rows numbered as in the file."""
    cells = pd.read_csv(SAMPLE / "incidents.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    cells.index = pd.RangeIndex(2, len(cells) + 2, name="row")
    return cells


def sample_mapping() -> dict:
    return yaml.safe_load((SAMPLE / "mapping.yaml").read_text(encoding="utf-8"))


def write_export(layout: Layout, path: Path, cells: pd.DataFrame | None = None) -> Written:
    """Write the sample (or ``cells`` in the sample's columns) in ``layout``; return its mapping."""
    cells = sample_cells() if cells is None else cells
    cells = _select(cells, layout)
    mapping = _mapping(layout)
    frame = _shaped(cells, layout)
    header_row = len(layout.title_lines) + 1
    footer = [line.format(n=len(frame)) for line in layout.footer_lines]
    if layout.format == "xlsx":
        _write_xlsx(frame, layout, footer, path)
        mapping["sheet"] = layout.sheet
    else:
        _write_csv(frame, layout, footer, path)
    if header_row != 1:
        mapping["header_row"] = header_row
    rows = pd.Series(range(header_row + 1, header_row + 1 + len(frame)), index=cells.index)
    return Written(path, mapping, header_row, rows)


def _select(cells: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    cells = cells.drop(columns=list(layout.drop))
    if layout.one_team is not None:
        cells = cells[cells["Team"] == layout.one_team]
    if layout.empty_quarter is not None:
        start, end = layout.empty_quarter
        dates = pd.to_datetime(cells["Incident Date"], format="%d/%m/%Y", errors="coerce").dt.date
        cells = cells[~((dates >= start) & (dates <= end)).fillna(False)]
    if layout.numeric_references:
        cells = cells.assign(Ref=cells["Ref"].str.replace(r"^W", "4", regex=True))
    return cells


def _mapping(layout: Layout) -> dict:
    mapping = sample_mapping()
    def name(column: str) -> str:
        return layout.names.get(column, column)

    columns = {}
    for canonical, column in mapping["columns"].items():
        parts = column if isinstance(column, list) else [column]
        if any(p in layout.drop for p in parts):
            continue
        if isinstance(column, list) and layout.datetimes == "iso":
            columns[canonical] = name(column[0])
        else:
            columns[canonical] = [name(p) for p in column] if isinstance(column, list) else name(column)
    mapping["columns"] = columns
    mapping["source"] = f"{layout.name} export"
    for log in ("step_log", "learning_actions", "training_log"):
        mapping.pop(log, None)
    if "service_user_id" not in columns:
        mapping.pop("nhs_number", None)
    for key in ("values", "lists"):
        mapping[key] = {f: v for f, v in mapping.get(key, {}).items() if f in columns}
    return mapping


def _shaped(cells: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """Columns renamed and date-times written the layout's way (cells as text or Excel values)."""
    frame = cells.copy()
    for date_column, time_column in DATETIME_COLUMNS.values():
        if date_column not in frame:
            continue
        if layout.datetimes == "iso":
            joined = (frame[date_column] + " " + frame[time_column]).str.strip()
            parsed = pd.to_datetime(joined, format="%d/%m/%Y %H:%M", errors="coerce")
            frame[date_column] = parsed.dt.strftime("%Y-%m-%dT%H:%M:%S").where(parsed.notna(), joined)
            frame = frame.drop(columns=time_column)
        elif layout.format == "xlsx" and layout.excel_cells:
            frame[date_column] = _excel_values(frame[date_column], "%d/%m/%Y", lambda t: t.to_pydatetime())
            frame[time_column] = _excel_values(frame[time_column], "%H:%M", lambda t: t.time())
    if layout.format == "xlsx" and layout.excel_cells and "Approvals Sought" in frame:
        counts = pd.to_numeric(frame["Approvals Sought"], errors="coerce")
        frame["Approvals Sought"] = [int(c) if pd.notna(c) and c == int(c) else t
                                     for c, t in zip(counts, frame["Approvals Sought"], strict=True)]
    if layout.numeric_references and layout.format == "xlsx":
        frame["Ref"] = [int(r) if r.isdigit() else r for r in frame["Ref"]]
    return frame.rename(columns=layout.names)


def _excel_values(text: pd.Series, fmt: str, convert) -> list:
    """Cells Excel would hold as dates or times; text it could not read stays text ('TBC')."""
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    return [convert(p) if pd.notna(p) else (t or None) for p, t in zip(parsed, text, strict=True)]


def _write_xlsx(frame: pd.DataFrame, layout: Layout, footer: list[str], path: Path) -> None:
    book = openpyxl.Workbook(write_only=True)
    for name, rows in layout.sheets_before.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    sheet = book.create_sheet(layout.sheet)
    for line in layout.title_lines:
        sheet.append([line or None])
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        sheet.append([None if v == "" else v for v in row])
    for line in footer:
        sheet.append([line or None])
    book.save(path)


def _write_csv(frame: pd.DataFrame, layout: Layout, footer: list[str], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=layout.delimiter, lineterminator="\r\n")
    for line in layout.title_lines:
        writer.writerow([line] if line else [])
    writer.writerow(list(frame.columns))
    writer.writerows(frame.itertuples(index=False, name=None))
    for line in footer:
        writer.writerow([line] if line else [])
    path.write_bytes(buffer.getvalue().encode(layout.encoding, errors="replace"))
