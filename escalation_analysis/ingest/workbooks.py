"""Excel workbooks: sheets read as text cells through python-calamine, within a size bound.

Workbooks are read with python-calamine, the Rust reader behind pandas' ``calamine`` engine,
with the same text for every cell as that engine gives (dates as ``2025-04-03 00:00:00``,
times as ``14:05:00``, whole numbers without ``.0``), so dates, times and the row accounting
are read exactly as before. The cells are taken from calamine directly and each column's
*distinct* values turned into text, instead of through pandas, which converts every cell in
Python and then parses them again with its Python text parser: on a 100,000-row export that
was half the reading time. openpyxl is still what writes workbooks (the sample export,
tests): calamine only reads.

An ``.xlsx`` file is a zip archive of XML; a hostile or broken one can unpack to far more than
any export (a "zip bomb"). The sizes its archive declares are checked first, against a limit
set in the mapping profile (``max_workbook_mb``); calamine's zip reader refuses an entry that
unpacks to more than its declared size, so a file cannot understate its size to pass.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import python_calamine

from ..errors import ExportError

DEFAULT_MAX_WORKBOOK_MB = 4096
"""Uncompressed size allowed by default: a full sheet of Excel's 1,048,576 rows at about 4 KB of
cell XML a row (an export with 40 columns and long descriptions), with room to spare."""

_UNREADABLE = (
    python_calamine.CalamineError,
    zipfile.BadZipFile,
    OSError,
    KeyError,
    TypeError,
    ValueError,
    OverflowError,
    UnicodeDecodeError,
)


def check_workbook_size(path: Path, limit_mb: float = DEFAULT_MAX_WORKBOOK_MB) -> None:
    """Refuse a workbook whose archive says it unpacks to more than ``limit_mb`` megabytes.

    Only zip workbooks (``.xlsx``, ``.xlsm``) carry sizes; anything else is left to the reader.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(max(info.file_size, 0) for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return
    if unpacked > limit_mb * 1024 * 1024:
        raise ExportError(
            f"The workbook '{path.name}' unpacks to {unpacked / 1024 / 1024:,.0f} MB, more than the "
            f"{limit_mb:,.0f} MB allowed; check it is the right file, or raise 'max_workbook_mb' in the mapping profile."
        )


class Workbook:
    """An open workbook: its sheet names, and any sheet's cells as text (no header row)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._book = python_calamine.CalamineWorkbook.from_path(str(path))
        except _UNREADABLE as exc:
            raise _unreadable(path, exc) from None
        self.sheet_names: list[str] = [str(name) for name in self._book.sheet_names]

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, *exc) -> None:
        self._book.close()

    def sheet_name(self, sheet: str | int | None) -> str:
        """The name of a sheet given by name (exact, then ignoring case) or position from 0."""
        if sheet is None:
            if not self.sheet_names:
                raise ExportError(f"The workbook '{self.path.name}' has no sheets; export the data again.")
            return self.sheet_names[0]
        if isinstance(sheet, int):
            if 0 <= sheet < len(self.sheet_names):
                return self.sheet_names[sheet]
        elif sheet in self.sheet_names:
            return sheet
        else:
            folded = {name.casefold(): name for name in self.sheet_names}
            if str(sheet).strip().casefold() in folded:
                return folded[str(sheet).strip().casefold()]
        raise ExportError(
            f"The workbook '{self.path.name}' has no sheet {sheet!r}; its sheets are {self.listed()}: "
            "fix 'sheet' in the mapping profile."
        )

    def listed(self) -> str:
        """The sheet names, quoted, for messages."""
        return ", ".join(f"'{name}'" for name in self.sheet_names)

    def cells(self, sheet: str, nrows: int | None = None) -> pd.DataFrame:
        """A sheet's cells as text from row 1 (blank cells as ''), positions as column names."""
        try:
            rows = self._book.get_sheet_by_name(sheet).to_python(skip_empty_area=False, nrows=nrows)
        except _UNREADABLE as exc:
            raise _unreadable(self.path, exc) from None
        width = max((len(row) for row in rows), default=0)
        if any(len(row) != width for row in rows):  # calamine's rows are rectangular; be sure
            rows = [list(row) + [""] * (width - len(row)) for row in rows]
        grid = np.empty((len(rows), width), dtype=object)
        grid[:] = rows  # one copy into a grid of cells (never reads a cell holding a list as more cells)
        columns = {i: column_text(grid[:, i]) for i in range(width)}
        return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)), copy=False)


def column_text(values: np.ndarray) -> pd.Series:
    """A column of calamine cell values as pandas text, as pandas' calamine engine writes them.

    Values are grouped by type (so True, 1 and 1.0 stay apart) and each type's distinct values
    are written once: a column of dates holds a few hundred, however many rows there are.
    """
    try:  # most columns are text only: Arrow takes them as they are
        out = pa.array(values, type=pa.large_string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        kind_codes, kinds = pd.factorize(_type_of(values))
        out = np.empty(len(values), dtype=object)
        for number, kind in enumerate(kinds):
            at = kind_codes == number
            if kind is str:
                out[at] = values[at]
                continue
            codes, uniques = pd.factorize(values[at], use_na_sentinel=False)
            out[at] = np.array([cell_text(u) for u in uniques], dtype=object)[codes]
        out = pa.array(out, type=pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(out, dtype=pd.StringDtype("pyarrow", na_value=np.nan)), copy=False)


_type_of = np.frompyfunc(type, 1, 1)
"""Each cell's Python type, as an object array (a ufunc: one C loop over the cells)."""


def cell_text(value: object) -> str:
    """One cell as text: whole numbers without '.0', dates at midnight, times and durations as written."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return str(dt.datetime(value.year, value.month, value.day))
    return str(value)


def _unreadable(path: Path, exc: Exception) -> ExportError:
    reason = " ".join(str(exc).split())[:120] or type(exc).__name__
    return ExportError(
        f"The file '{path.name}' is not a readable Excel workbook ({reason}); "
        "save it again as .xlsx or export it as CSV."
    )
