"""Listing layouts: title lines above the header, footer lines after the last record.

Incident systems print exports as "listing reports": a title, the run date and the search
criteria above the header row, and "Total records: 360" or "End of report" after the last
record, often on a sheet after a criteria sheet. The mapping profile names the header's row
(``header_row``, as the spreadsheet shows it); this module recognises the footer lines, and
finds the header row and the data sheet by looking, for ``profile`` and for error messages
that point at the right fix.

Lines above the header and footer lines are not records: they are listed in the
data-quality statement as skipped and never counted as rows read. A blank row *between*
records is still a row (excluded as blank), so row numbers stay those of the original file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

SCAN_ROWS = 30
"""How many rows from the top are looked at for the header row."""

FOOTER_TEXT = re.compile(
    r"^\s*(?:\**\s*)(?:total|grand total|count\b|number of|no\. of|records?\b|rows?\b|end of|report (?:run|generated|printed|produced|end)"
    r"|generated|printed|produced|run (?:on|by|date)|page \d|\d[\d,]* (?:records?|rows?|incidents?|items?|results?)\b"
    r"|\(\d[\d,]* (?:records?|rows?)\))",
    re.IGNORECASE,
)
"""The first cell of a line a reporting tool prints after the last record."""

SKIPPED_COLUMNS = ("row", "kind", "text")


def empty_skipped() -> pd.DataFrame:
    """A table of skipped lines with no rows: row number, ``title`` or ``footer``, its text."""
    return pd.DataFrame(
        {"row": pd.Series(dtype="int64"), "kind": pd.Series(dtype="str"), "text": pd.Series(dtype="str")}
    )


def skipped_lines(rows, kind: str, texts) -> pd.DataFrame:
    """Skipped lines of one kind as a table (see :func:`empty_skipped`)."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return empty_skipped()
    return pd.DataFrame(
        {"row": rows, "kind": pd.Series([kind] * len(rows), dtype="str"),
         "text": pd.Series([str(t) for t in texts], dtype="str")}
    )


def line_text(cells) -> str:
    """The non-blank cells of a line, joined for people to read ('' when all are blank)."""
    return " | ".join(str(c).strip() for c in cells if c is not None and not pd.isna(c) and str(c).strip())


def is_footer_line(cells: list) -> bool:
    """A blank line, or one or two filled cells of which the first reads like a report footer."""
    filled = [str(c).strip() for c in cells if c is not None and not pd.isna(c) and str(c).strip()]
    return not filled or (len(filled) <= 2 and bool(FOOTER_TEXT.match(filled[0])))


def trailing_footer(cells: pd.DataFrame) -> int:
    """How many rows at the end of ``cells`` are footer lines (blank rows included).

    Only the end is read: a window of rows from the bottom, doubled until a record is met,
    so a million-row export costs a few dozen rows' look.
    """
    n = len(cells)
    window = 64
    while True:
        start = max(n - window, 0)
        tail = cells.iloc[start:n]
        footer = _footer_flags(tail)
        records = np.flatnonzero(~footer)
        if len(records):
            return int(len(tail) - 1 - records[-1])
        if start == 0:
            return n
        window *= 4


def _footer_flags(tail: pd.DataFrame) -> np.ndarray:
    """Which rows of a (short) frame of text cells are footer lines (vectorised by column)."""
    count = np.zeros(len(tail), dtype=np.int64)
    first = pd.Series("", index=tail.index, dtype="str")
    for name in reversed(list(tail.columns)):  # the leftmost filled cell wins
        text = tail[name].astype("str").str.strip()
        filled = (text.str.len() > 0).fillna(False).to_numpy(dtype=bool)
        count += filled
        first = first.where(~filled, text)
    looks = first.str.match(FOOTER_TEXT).fillna(False).to_numpy(dtype=bool)
    return (count == 0) | ((count <= 2) & looks)


@dataclass(frozen=True)
class HeaderGuess:
    """Where the header of a table seems to be: 1-based row, and how many names it has."""

    row: int
    names: int


_NUMBER_OR_DATE = re.compile(r"^[\s\d.,:/\-+£%()]*$")


def find_header(top: pd.DataFrame, scan_rows: int = SCAN_ROWS) -> HeaderGuess | None:
    """The header row among the first ``scan_rows`` rows of a sheet or file (cells as text).

    The header is the row of distinct text cells followed by data: the widest row among the
    first ``scan_rows`` whose filled cells are all different, mostly not numbers or dates,
    with at least two of them, and followed by a row that fills a good part of its columns.
    Title lines (one cell), blank lines and criteria pairs ("Date from", "01/04/2025") lose to
    the real header because it is wider. ``None`` when no row qualifies.
    """
    rows = [[_text(c) for c in row] for row in top.itertuples(index=False, name=None)][: scan_rows + 1]
    best: HeaderGuess | None = None
    for i, row in enumerate(rows[:scan_rows]):
        filled = [c for c in row if c]
        if len(filled) < 2 or len(set(filled)) != len(filled):
            continue
        texts = sum(1 for c in filled if not _NUMBER_OR_DATE.match(c))
        if texts < max(2, 0.8 * len(filled)):
            continue
        following = rows[i + 1] if i + 1 < len(rows) else []
        positions = [j for j, c in enumerate(row) if c]
        below = sum(1 for j in positions if j < len(following) and following[j])
        if below < max(1, len(filled) // 3) or (len(filled) >= 3 and below < 2):
            continue
        if best is None or len(filled) > best.names:
            best = HeaderGuess(row=i + 1, names=len(filled))
    return best


def row_with(top: pd.DataFrame, name: str, normalise) -> int | None:
    """The first row (1-based) among ``top`` with a cell reading ``name`` (compared by ``normalise``)."""
    wanted = normalise(name)
    for i, row in enumerate(top.itertuples(index=False, name=None)):
        if any(normalise(_text(cell)) == wanted for cell in row):
            return i + 1
    return None


def _text(cell) -> str:
    if cell is None or (not isinstance(cell, str) and pd.isna(cell)):
        return ""
    return str(cell).strip()
