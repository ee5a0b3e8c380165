"""Reading export files into a table of text cells, whatever their encoding or format.

Exports arrive as CSV (UTF-8, UTF-8 with a byte-order mark, Windows-1252 from older systems,
UTF-16 "Unicode text" from Excel) or as Excel workbooks. This module turns any of them into
a frame of strings with the spreadsheet row number of every record, plus the records that could
not be read at all (a row with the wrong number of cells), so that every row is accounted for.

Nothing here interprets values: dates, categories and identifiers are the job of
:mod:`escalation_analysis.load`.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from .errors import ExportError

logger = logging.getLogger(__name__)

EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
_ZIP_MAGIC = b"PK\x03\x04"
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


@dataclass
class RawTable:
    """An export as text cells, before any interpretation.

    Attributes
    ----------
    cells
        One column per export column, string dtype, blanks as missing.
    rows
        Spreadsheet row number of each record in ``cells`` (the header is row 1).
    malformed
        Records that could not be split into the header's columns: row number and detail.
    rows_read
        Every data record in the file, malformed ones included.
    encoding
        The text encoding used (``xlsx`` for workbooks).
    """

    cells: pd.DataFrame
    rows: np.ndarray
    malformed: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"row": pd.Series(dtype="int64"), "detail": pd.Series(dtype="str")})
    )
    rows_read: int = 0
    encoding: str = "utf-8"


def read_export(
    path: str | Path,
    *,
    encoding: str = "auto",
    delimiter: str | None = None,
    sheet: str | int | None = None,
    missing_values: tuple[str, ...] | list[str] = ("",),
) -> RawTable:
    """Read a CSV or Excel export into text cells.

    Raises
    ------
    ExportError
        When the file is missing, empty, binary or otherwise not a table, with one sentence
        saying what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"The export '{path}' does not exist; check the path.")
    data = path.read_bytes()
    if not data.strip():
        raise ExportError(f"The export '{path.name}' is empty; export the data again.")
    if data.startswith(_ZIP_MAGIC) or path.suffix.lower() in EXCEL_SUFFIXES:
        table = _read_excel(path, data, sheet)
    else:
        table = _read_csv(path, data, encoding, delimiter)
    table.cells = _blank_to_missing(table.cells, missing_values)
    logger.info("Read %d records from %s", table.rows_read, path.name)
    return table


def _blank_to_missing(cells: pd.DataFrame, missing_values) -> pd.DataFrame:
    """Trim whitespace and turn blank-like cells ('', 'NULL', 'N/A', ...) into missing."""
    out = {}
    missing = list(missing_values)
    for name in cells.columns:
        column = cells[name].astype("str").str.strip()
        out[name] = column.where(~column.isin(missing))
    return pd.DataFrame(out, index=cells.index)


def detect_encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 by BOM; otherwise Windows-1252.

    Strict UTF-8 decoding almost never succeeds on Windows-1252 text that has any
    non-ASCII character (a '£' is byte 0xA3, invalid on its own in UTF-8), so trying UTF-8
    first and falling back to Windows-1252 is deterministic and right for UK exports,
    where a statistical guesser can be fooled by short files.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def _to_utf8(path: Path, data: bytes, encoding: str) -> tuple[bytes, str]:
    name = detect_encoding(data) if encoding == "auto" else encoding
    if name == "utf-8" and encoding == "auto":  # detect_encoding has checked that it decodes
        return data, name
    try:
        text = data.decode(name)
    except UnicodeDecodeError as exc:
        raise ExportError(
            f"The export '{path.name}' is not valid {name} text (byte {exc.start}); "
            "set 'encoding: auto' in the mapping profile or name the right encoding."
        ) from None
    return text.encode("utf-8"), name


def _header(path: Path, text: bytes, delimiter: str | None) -> tuple[list[str], str]:
    first_line = text[: 64 * 1024].decode("utf-8", errors="replace").lstrip("\ufeff")
    first_line = first_line.splitlines()[0] if first_line.splitlines() else ""
    if "\x00" in first_line:
        raise ExportError(
            f"The export '{path.name}' contains binary data, not text; "
            "export it again as CSV or as an Excel .xlsx workbook."
        )
    if delimiter is None:
        counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
        delimiter = max(counts, key=counts.get) if max(counts.values()) else ","
    names = next(csv.reader([first_line], delimiter=delimiter), [])
    names = [n.strip() for n in names]
    if not any(names):
        raise ExportError(
            f"The export '{path.name}' has no header row; the first line must name the columns."
        )
    return _dedupe(names), delimiter


def _dedupe(names: list[str]) -> list[str]:
    """Blank or repeated headers get a position suffix, so every column can be named."""
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names, start=1):
        name = name or f"Column {i}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        out.append(name)
    return out


def _read_csv(path: Path, data: bytes, encoding: str, delimiter: str | None) -> RawTable:
    text, used = _to_utf8(path, data, encoding)
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:]
    names, delimiter = _header(path, text, delimiter)
    table, bad = _arrow_read(path, text, names, delimiter, use_threads=True)
    if any(number is None for number, _ in bad):
        table, bad = _arrow_read(path, text, names, delimiter, use_threads=False)
    malformed = pd.DataFrame(
        {
            "row": pd.Series([n for n, _ in bad], dtype="int64"),
            "detail": pd.Series([d for _, d in bad], dtype="str"),
        }
    )
    cells = table.to_pandas(types_mapper=lambda t: pd.StringDtype("pyarrow") if t == pa.string() else None)
    cells.columns = names
    rows_read = len(cells) + len(malformed)
    all_rows = np.arange(2, rows_read + 2, dtype=np.int64)
    rows = np.setdiff1d(all_rows, malformed["row"].to_numpy(), assume_unique=True)
    if len(rows) != len(cells):  # pyarrow numbered differently (e.g. blank lines): fall back
        rows = np.arange(2, len(cells) + 2, dtype=np.int64)
    return RawTable(cells, rows, malformed, rows_read, used)


def _arrow_read(
    path: Path, text: bytes, names: list[str], delimiter: str, use_threads: bool
) -> tuple[pa.Table, list[tuple[int | None, str]]]:
    bad: list[tuple[int | None, str]] = []
    expected = len(names)

    def on_invalid(row) -> str:
        bad.append(
            (row.number, f"has {row.actual_columns} cells where the header has {expected}")
        )
        return "skip"

    block_size = 1 << 22
    while True:
        bad.clear()
        try:
            table = pacsv.read_csv(
                io.BytesIO(text),
                read_options=pacsv.ReadOptions(
                    column_names=[f"c{i}" for i in range(expected)],
                    skip_rows=1,
                    use_threads=use_threads,
                    block_size=block_size,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter,
                    newlines_in_values=True,
                    ignore_empty_lines=False,  # a blank line is a row: excluded as blank, row numbers stay true
                    invalid_row_handler=on_invalid,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={f"c{i}": pa.string() for i in range(expected)},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            return table, list(bad)
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if "straddling" in message and block_size < len(text) + 1:
                block_size = len(text) + 1
                continue
            if "Empty CSV file" in message:
                return pa.table({f"c{i}": pa.array([], pa.string()) for i in range(expected)}), []
            reason = message.splitlines()[0][:200]
            raise ExportError(
                f"The export '{path.name}' could not be read as CSV ({reason}); "
                "check it opens in a spreadsheet and export it again."
            ) from None


def _read_excel(path: Path, data: bytes, sheet: str | int | None) -> RawTable:
    try:
        frame = pd.read_excel(
            io.BytesIO(data),
            sheet_name=0 if sheet is None else sheet,
            dtype=str,
            header=None,
            engine="openpyxl",
            na_filter=False,
        )
    except ValueError as exc:
        if sheet is not None and "not found" in str(exc).lower():
            raise ExportError(
                f"The workbook '{path.name}' has no sheet '{sheet}'; fix 'sheet' in the mapping."
            ) from None
        raise ExportError(f"The workbook '{path.name}' could not be read ({exc}).") from None
    except (zipfile.BadZipFile, OSError, KeyError, TypeError, OverflowError) as exc:
        raise ExportError(
            f"The file '{path.name}' is not a readable Excel workbook ({type(exc).__name__}); "
            "save it again as .xlsx or export it as CSV."
        ) from None
    if frame.empty:
        raise ExportError(f"The workbook '{path.name}' has no rows; export the data again.")
    names = _dedupe([str(v).strip() for v in frame.iloc[0].tolist()])
    cells = frame.iloc[1:].reset_index(drop=True).astype("str")
    cells.columns = names
    rows = np.arange(2, len(cells) + 2, dtype=np.int64)
    return RawTable(cells, rows, rows_read=len(cells), encoding="xlsx")
