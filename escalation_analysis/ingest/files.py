"""Reading export files into a table of text cells, whatever their encoding or format.

Exports arrive as CSV (UTF-8, UTF-8 with a byte-order mark, Windows-1252 from older systems,
UTF-16 "Unicode text" from Excel) or as Excel workbooks. This module turns any of them into
a frame of strings with the spreadsheet row number of every record, plus the records that could
not be read at all (a row with the wrong number of cells), so that every row is accounted for.
Listing layouts are read too: the header may be lower down (``header_row``), and the lines
above it and the footer lines after the last record are set aside as skipped lines
(:mod:`~escalation_analysis.ingest.listing`), keeping every row number that of the original file.

Nothing here interprets values: dates, categories and identifiers are the job of
:mod:`escalation_analysis.ingest.export`.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import logging
import mmap
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import ExportError
from . import transcoding
from .listing import SCAN_ROWS, empty_skipped, is_footer_line, line_text, skipped_lines, trailing_footer
from .workbooks import DEFAULT_MAX_WORKBOOK_MB, Workbook, check_workbook_size

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
        Spreadsheet row number of each record in ``cells`` (the header is ``header_row``).
    malformed
        Records that could not be split into the header's columns: row number and detail.
    rows_read
        Every data record in the file, malformed ones included (skipped lines are not).
    encoding
        The text encoding used (``xlsx`` for workbooks, which have none).
    header_row
        The header's row number, as the spreadsheet shows it.
    skipped
        Lines that are not records: the title lines above the header and the footer lines
        after the last record (row, ``title`` or ``footer``, text).
    top
        The first rows of the file or sheet as text, header and titles included, for
        messages that say where the header seems to be.
    sheet, sheet_names
        For a workbook: the sheet read and every sheet's name.
    delimiter, path
        The CSV delimiter used, and the file read.
    sha256
        The SHA-256 of the bytes read, in hex: it names exactly which export a report was made from.
    """

    cells: pd.DataFrame
    rows: np.ndarray
    malformed: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"row": pd.Series(dtype="int64"), "detail": pd.Series(dtype="str")})
    )
    rows_read: int = 0
    encoding: str = "utf-8"
    header_row: int = 1
    skipped: pd.DataFrame = field(default_factory=empty_skipped)
    top: pd.DataFrame = field(default_factory=pd.DataFrame)
    sheet: str | None = None
    sheet_names: list[str] = field(default_factory=list)
    delimiter: str = ","
    path: Path | None = None
    sha256: str = ""


def read_export(
    path: str | Path,
    *,
    encoding: str = "auto",
    delimiter: str | None = None,
    sheet: str | int | None = None,
    header_row: int = 1,
    missing_values: tuple[str, ...] | list[str] = ("",),
    max_workbook_mb: float = DEFAULT_MAX_WORKBOOK_MB,
) -> RawTable:
    """Read a CSV or Excel export into text cells.

    ``header_row`` is the header's row as the spreadsheet shows it (1: the first line);
    the lines above it are title lines. Footer lines after the last record are recognised
    either way. Both are listed in ``skipped``, not counted as rows read.

    Raises
    ------
    ExportError
        When the file is missing, empty, binary or otherwise not a table, with one sentence
        saying what to do.
    """
    path = Path(path)
    data = _export_bytes(path)
    digest = _Digest(data)
    try:
        if _is_workbook(path, data):
            del data
            check_workbook_size(path, max_workbook_mb)
            table = _read_excel(path, sheet, header_row)
            table.cells = _blank_to_missing(table.cells, missing_values)
        else:  # the CSV parser marks exact blank-like cells itself, in its own threads
            table = _read_csv(path, data, encoding, delimiter, missing_values, header_row)
            table.cells = _blank_to_missing(table.cells, missing_values, trimmed_only=True)
            del data
    finally:  # the thread never outlives the read, whatever happens
        sha256 = digest.hexdigest()
    _set_footer_aside(table, missing_values)
    table.path = path
    table.sha256 = sha256
    logger.info("Read %d records from %s", table.rows_read, path.name)
    return table


def first_rows(
    path: str | Path,
    *,
    sheet: str | int | None = None,
    rows: int = SCAN_ROWS + 1,
    max_workbook_mb: float = DEFAULT_MAX_WORKBOOK_MB,
) -> dict[str | None, pd.DataFrame]:
    """The first ``rows`` rows of a CSV (under ``None``) or of each sheet of a workbook, as text.

    For finding the data sheet and the header row before the export is read: a CSV's first
    lines are decoded alone, split at the delimiter most used in them; only ``sheet`` is
    read when it is given.
    """
    path = Path(path)
    data = _export_bytes(path)
    if _is_workbook(path, data):
        del data
        check_workbook_size(path, max_workbook_mb)
        with Workbook(path) as book:
            names = book.sheet_names if sheet is None else [book.sheet_name(sheet)]
            return {name: book.cells(name, nrows=rows) for name in names}
    encoding = detect_encoding(data)
    size = 256 * 1024
    head = codecs.decode(bytes(data[:size]), encoding, errors="replace").lstrip("\ufeff")
    lines = re.split(r"\r\n|\r|\n", head)
    if len(data) > size:
        lines = lines[:-1]  # the last line may be cut short
    lines = lines[:rows]
    counts = {d: sum(line.count(d) for line in lines) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=counts.get) if max(counts.values()) else ","
    return {None: _lines_as_cells(lines, delimiter)}


class _Digest(threading.Thread):
    """The SHA-256 of the export's bytes, worked out in a thread of its own while they are parsed.

    ``hashlib`` lets go of the interpreter while it hashes, so the digest costs no time on a
    machine with a core to spare, and the file is not read a second time for it. The mapped
    pages are hashed a block at a time and let go of behind it, so that hashing a large export
    does not hold all of it in memory beside the table being parsed.
    """

    _BLOCK = 1 << 24  # 16 MiB, a whole number of pages

    def __init__(self, data: memoryview) -> None:
        super().__init__(name="export-sha256")
        self._data, self._hexdigest = data, ""
        self.start()

    def run(self) -> None:
        digest = hashlib.sha256()
        for start in range(0, self._data.nbytes, self._BLOCK):
            digest.update(self._data[start: start + self._BLOCK])
            _let_pages_go(self._data, start, self._BLOCK)
        self._hexdigest = digest.hexdigest()
        self._data = None

    def hexdigest(self) -> str:
        self.join()
        return self._hexdigest


def _export_bytes(path: Path) -> memoryview:
    """The export's bytes; a missing or empty file is refused in one sentence."""
    if not path.is_file():
        raise ExportError(f"The export '{path}' does not exist; check the path.")
    data = _file_bytes(path)
    if _is_blank(data):
        raise ExportError(f"The export '{path.name}' is empty; export the data again.")
    return data


def _is_workbook(path: Path, data: memoryview) -> bool:
    return bytes(data[:4]) == _ZIP_MAGIC or path.suffix.lower() in EXCEL_SUFFIXES


def _file_bytes(path: Path) -> memoryview:
    """The file's bytes, memory-mapped: looked at in place (encoding, header), never copied whole.

    A multi-gigabyte export is not duplicated in memory; a UTF-8 one is then parsed from the
    file itself (:class:`_CsvSource`). The map is released when the last view of it goes.
    """
    with path.open("rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return memoryview(b"")
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_WILLNEED"):
            # Ask for the whole file up front (into the system's file cache): the encoding check,
            # the digest and the parse all read it through.
            mapped.madvise(mmap.MADV_WILLNEED)
        return memoryview(mapped)


def _let_pages_go(data: memoryview, start: int = 0, length: int = 0) -> None:
    """Drop a memory-mapped export's pages (from ``start``, ``length`` bytes; 0: to the end) from
    this process's memory. They stay in the system's file cache, and reading them again brings
    them back: this only stops bytes already looked at counting against the process's memory
    while the table is built (at ten million rows the file is 3.5 GB)."""
    mapped = data.obj if isinstance(data, memoryview) else None
    if isinstance(mapped, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED") and len(mapped):
        end = start + length if length else len(mapped)
        start -= start % mmap.PAGESIZE  # whole pages only (the one shared with the next bytes comes back if read)
        mapped.madvise(mmap.MADV_DONTNEED, start, end - start)


def _is_blank(data: memoryview) -> bool:
    """Empty or only whitespace (``bytes.strip()`` would copy the whole file to say so)."""
    if len(data) == 0:
        return True
    if not bytes(data[: 64 * 1024]).isspace():
        return False
    return bytes(data).isspace()


# -- text columns in Arrow ------------------------------------------------------------------
# pandas' "str" dtype is an Arrow large_string array underneath, so the loader works on the
# Arrow arrays directly (pyarrow.compute), and wraps the results back without copying.

_STR = pd.StringDtype("pyarrow", na_value=np.nan)
"""pandas' default string dtype ("str"): Arrow large_string with NaN as the missing value."""


def arrow_text(values: pd.Series | pd.Index) -> pa.ChunkedArray:
    """The Arrow large_string array behind a text column (zero-copy for "str" columns)."""
    if not isinstance(values.array, pd.arrays.ArrowStringArray) or values.dtype != _STR:
        values = values.astype("str")
    return values.array.__arrow_array__()


def text_isin(values: pd.Series, among: pd.Series | pd.Index) -> pd.Series:
    """``values.isin(among)``, in Arrow's time for two text columns (references, staff).

    pandas 3.1 makes a Python object of every one of ``among`` first: 2.5 s to look up a
    million references among half a million, where Arrow's ``is_in`` takes 0.14 s. The answer
    is pandas' (a blank matches a blank when ``among`` has one); anything but two text columns
    goes to pandas as it is.
    """
    if values.dtype != _STR or among.dtype != _STR:
        return values.isin(among)
    found = pc.is_in(arrow_text(values), value_set=arrow_text(among).combine_chunks())
    return pd.Series(np.asarray(found, dtype=bool), index=values.index, name=values.name)


def text_series(values: pa.Array | pa.ChunkedArray, index: pd.Index | None = None) -> pd.Series:
    """A pandas "str" Series over Arrow text, without copying large_string data."""
    if not isinstance(values, pa.ChunkedArray):
        values = pa.chunked_array([values])
    if values.type != pa.large_string():
        values = values.cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(values, dtype=_STR), index=index, copy=False)


def keep_text_rows(values: pd.Series, keep: np.ndarray) -> pd.Series:
    """The kept rows of a text column, renumbered from 0, sharing its text where it can.

    Excluded rows are usually a handful among millions: the kept rows are then a few long
    runs, taken as zero-copy slices instead of copying every cell (a free-text column can be
    hundreds of megabytes).
    """
    if keep.all():
        return values.reset_index(drop=True)
    edges = np.flatnonzero(np.diff(np.concatenate([[False], keep, [False]]).astype(np.int8)))
    if values.dtype != _STR or len(edges) > 2_000:
        return values[keep].reset_index(drop=True)
    arrow = arrow_text(values)
    pieces = [c for start, end in edges.reshape(-1, 2) for c in arrow.slice(start, end - start).chunks]
    return text_series(pa.chunked_array(pieces, type=pa.large_string()))


def take_text_rows(values: pd.Series, positions: np.ndarray) -> pd.Series:
    """Rows at ascending ``positions`` of a text column, gathered chunk by chunk.

    Taking a few rows from a column read in many blocks would otherwise join the blocks.
    """
    arrow = arrow_text(values)
    bounds = np.cumsum([0] + [len(c) for c in arrow.chunks])
    chunk = np.searchsorted(bounds, positions, side="right") - 1
    pieces = [
        arrow.chunk(int(i)).take(pa.array(positions[chunk == i] - bounds[i])) for i in np.unique(chunk)
    ]
    return text_series(pa.chunked_array(pieces, type=pa.large_string()) if pieces else pa.array([], pa.large_string()))


def _blank_to_missing(cells: pd.DataFrame, missing_values, *, trimmed_only: bool = False) -> pd.DataFrame:
    """Trim whitespace and turn blank-like cells ('', 'NULL', 'N/A', ...) into missing.

    Done in Arrow, on each whole column: whitespace is trimmed with the kernel behind
    pandas' ``str.strip`` (only in blocks where some cell starts or ends with a byte that can
    begin or end whitespace), and blank-like cells are marked missing in the validity
    bitmap of the blocks that have any, without copying the text. A column is a few hundred
    blocks at ten million rows, so per-block work is kept to a cheap look at the bytes.
    With ``trimmed_only`` (the CSV parser has already made exact blank-like cells missing)
    only the blocks that were trimmed are looked at again.
    """
    missing = pa.array([str(v) for v in missing_values], type=pa.large_string())
    out = {}
    for name in cells.columns:
        column = arrow_text(cells[name])
        chunks = []
        for chunk in column.chunks:
            if _may_need_trimming(chunk):
                trimmed = pa.chunked_array([pc.utf8_trim_whitespace(chunk)], type=pa.large_string())
                chunks.extend(_blank_like_missing(trimmed, missing).chunks if trimmed_only else trimmed.chunks)
            else:
                chunks.append(chunk)
        column = pa.chunked_array(chunks, type=pa.large_string())
        out[name] = text_series(column if trimmed_only else _blank_like_missing(column, missing), cells.index)
    return pd.DataFrame(out, index=cells.index, copy=False)


def _blank_like_missing(column: pa.ChunkedArray, missing: pa.Array) -> pa.ChunkedArray:
    """The column with cells found in ``missing`` made null (validity bitmaps only)."""
    blank = pc.is_in(column, value_set=missing)
    if not pc.any(blank).as_py():
        return column
    flags = blank.to_numpy(zero_copy_only=False)
    bounds = np.cumsum([0] + [len(c) for c in column.chunks])
    per_block = np.add.reduceat(flags, bounds[:-1]) if len(flags) else np.zeros(0)
    chunks = []
    for i, chunk in enumerate(column.chunks):
        if len(chunk) == 0 or not per_block[i]:
            chunks.append(chunk)
            continue
        valid = pa.array(~flags[bounds[i]: bounds[i + 1]])
        if chunk.offset:
            chunks.append(pc.if_else(valid, chunk, pa.scalar(None, pa.large_string())))
            continue
        if chunk.null_count:
            valid = pc.and_(valid, pc.is_valid(chunk))
        _, offsets, data = chunk.buffers()
        chunks.append(pa.Array.from_buffers(pa.large_string(), len(chunk), [valid.buffers()[1], offsets, data]))
    return pa.chunked_array(chunks, type=pa.large_string())


def _may_need_trimming(chunk: pa.Array) -> bool:
    """Whether any cell starts or ends with a byte that may be whitespace (cheap, conservative).

    Read as a signed byte, every byte that can begin or end whitespace is <= 32: ASCII
    whitespace (9-13, 28-32) and, negative, any byte of a multi-byte character (maybe Unicode
    whitespace). The other ASCII controls are caught too, which only trims a block for nothing.
    One comparison per cell end, where a lookup table took three steps: a column is a few
    hundred blocks at ten million rows.
    """
    if chunk.type != pa.large_string() or len(chunk) == 0:
        return True
    _, offset_buffer, data_buffer = chunk.buffers()
    offsets = np.frombuffer(offset_buffer, dtype=np.int64)[chunk.offset: chunk.offset + len(chunk) + 1]
    if data_buffer is None or offsets[-1] == offsets[0]:
        return False
    data = np.frombuffer(data_buffer, dtype=np.int8)[: offsets[-1]]
    # First byte of each cell and last byte of each cell; an empty cell reads a neighbour's
    # byte instead (clipped at the ends), which can only make the answer "yes" more often.
    return bool((data.take(offsets[:-1], mode="clip") <= 32).any() or (data.take(offsets[1:] - 1, mode="clip") <= 32).any())


def detect_encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 by BOM; otherwise Windows-1252.

    Strict UTF-8 decoding almost never succeeds on Windows-1252 text that has any
    non-ASCII character (a '£' is byte 0xA3, invalid on its own in UTF-8), so trying UTF-8
    first and falling back to Windows-1252 is deterministic and right for UK exports,
    where a statistical guesser can be fooled by short files.
    """
    head = bytes(memoryview(data)[:4])
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    if _is_utf8(data):
        return "utf-8"
    return "cp1252" if transcoding.first_undefined(data, "cp1252") is None else "latin-1"


def _is_utf8(data) -> bool:
    """Whether bytes are valid UTF-8, exactly as a strict ``bytes.decode("utf-8")`` decides.

    Arrow validates in place at gigabytes per second; decoding a large export into a Python
    string only to learn that it decodes would cost seconds and several times its size.
    """
    view = memoryview(data)
    offsets = np.array([0, view.nbytes], dtype=np.int64)
    try:
        pa.LargeStringArray.from_buffers(1, pa.py_buffer(offsets), pa.py_buffer(view)).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _to_utf8(path: Path, data: bytes, encoding: str) -> tuple[memoryview | bytes | transcoding.Utf8Text, str]:
    name = detect_encoding(data) if encoding == "auto" else encoding
    if name == "utf-8" and encoding == "auto":  # detect_encoding has checked that it decodes
        return data, name
    if _codec_name(name) in ("utf-8", "utf-8-sig"):
        # UTF-8 already: check it rather than decode and re-encode; the decoder's own
        # message (with the byte offset) is produced below only when the check fails.
        body = memoryview(data)
        if _codec_name(name) == "utf-8-sig" and body[:3] == b"\xef\xbb\xbf":
            body = body[3:]
        if _is_utf8(body):
            return body, name
    if transcoding.is_single_byte(name):  # such as Windows-1252: transcoded in numpy as the parser reads
        undefined = None if encoding == "auto" else transcoding.first_undefined(data, name)  # (auto: checked)
        if undefined is not None:
            raise ExportError(_not_valid(path, name, undefined))
        return transcoding.Utf8Text(data, name, done=lambda start, length: _let_pages_go(data, start, length)), name
    try:
        text = codecs.decode(data, name)
    except UnicodeDecodeError as exc:
        raise ExportError(_not_valid(path, name, exc.start)) from None
    return text.encode("utf-8"), name


def _not_valid(path: Path, encoding: str, byte: int) -> str:
    return (f"The export '{path.name}' is not valid {encoding} text (byte {byte}); "
            "set 'encoding: auto' in the mapping profile or name the right encoding.")


def _codec_name(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name


def _header(path: Path, text, delimiter: str | None, header_row: int = 1) -> tuple[list[str], str, list[str]]:
    """The column names on line ``header_row``, the delimiter, and the lines above the header."""
    lines = _first_lines(text, header_row + SCAN_ROWS)
    if header_row > len(lines):
        raise ExportError(
            f"The export '{path.name}' has only {len(lines)} line(s), so line {header_row} cannot be its header; "
            "fix 'header_row' in the mapping profile."
        )
    header_line = lines[header_row - 1]
    if "\x00" in header_line:
        raise ExportError(
            f"The export '{path.name}' contains binary data, not text; "
            "export it again as CSV or as an Excel .xlsx workbook."
        )
    if delimiter is None:
        counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
        delimiter = max(counts, key=counts.get) if max(counts.values()) else ","
    names, spans = _header_record(lines[header_row - 1:], delimiter)
    if spans > 1:  # a quoted header cell holding a line break ("Incident<newline>Date"): one record
        lines[header_row - 1: header_row - 1 + spans] = ["\n".join(lines[header_row - 1: header_row - 1 + spans])]
    names = [n.strip() for n in names]
    if not any(names):
        where = "the first line" if header_row == 1 else f"line {header_row} ('header_row' in the mapping profile)"
        raise ExportError(
            f"The export '{path.name}' has no header row: {where} must name the columns."
        )
    return _dedupe(names), delimiter, lines


def _header_record(lines: list[str], delimiter: str, most_lines: int = 10) -> tuple[list[str], int]:
    """The header's cells as the CSV module reads the first record, and how many lines it spans.

    A quoted cell may hold line breaks; a header that is not well-formed CSV within
    ``most_lines`` lines (an unclosed quote) is read as its first line alone.
    """
    reader = csv.reader([line + "\n" for line in lines[:most_lines]], delimiter=delimiter, strict=True)
    try:
        return next(reader), reader.line_num
    except (csv.Error, StopIteration):
        return next(csv.reader(lines[:1], delimiter=delimiter), []), 1


def _first_lines(text, count: int) -> list[str]:
    """The first ``count`` lines of UTF-8 text, split where the CSV parser splits records."""
    size = 64 * 1024
    while True:
        head, whole = text.prefix(size) if isinstance(text, transcoding.Utf8Text) else (bytes(text[:size]), size >= len(text))
        lines = re.split(r"\r\n|\r|\n", head.decode("utf-8", errors="replace").lstrip("\ufeff"))
        if len(lines) > count or whole:
            if not whole:
                lines = lines[:-1]  # the last one may be cut short
            elif lines and lines[-1] == "":
                lines = lines[:-1]  # the file's final line break
            return lines[:count]
        size *= 4


def _lines_as_cells(lines: list[str], delimiter: str) -> pd.DataFrame:
    """Lines split into cells (ragged lines padded with blanks), for the header finder.

    Each line is cut at 4,096 characters: enough to tell a header from a title or a record.
    """
    rows = [next(csv.reader([line[:4096]], delimiter=delimiter), []) for line in lines]
    width = max((len(r) for r in rows), default=0)
    return pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype="str")


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


def _read_csv(
    path: Path, data: bytes, encoding: str, delimiter: str | None, missing_values=("",), header_row: int = 1
) -> RawTable:
    text, used = _to_utf8(path, data, encoding)
    if not isinstance(text, transcoding.Utf8Text):
        text = memoryview(text)  # slices below share the file's bytes instead of copying them
        if text[:3] == b"\xef\xbb\xbf":
            text = text[3:]
    names, delimiter, lines = _header(path, text, delimiter, header_row)
    missing = [str(v) for v in missing_values]
    skip = header_row + lines[header_row - 1].count("\n")  # lines, not records: a header may span two
    source = _CsvSource(path, data, text)
    del text
    table, bad = _arrow_read(path, source, names, delimiter, missing, skip, use_threads=True)
    if any(number is None for number, _, _ in bad):
        table, bad = _arrow_read(path, source, names, delimiter, missing, skip, use_threads=False)
    malformed = pd.DataFrame(
        {
            "row": pd.Series([n for n, _, _ in bad], dtype="int64"),
            "detail": pd.Series([d for _, d, _ in bad], dtype="str"),
            "text": pd.Series([t for _, _, t in bad], dtype="str"),
        }
    )
    cells = pd.DataFrame({name: text_series(column) for name, column in zip(names, table.columns, strict=True)}, copy=False)
    rows_read = len(cells) + len(malformed)
    first = header_row + 1
    all_rows = np.arange(first, rows_read + first, dtype=np.int64)
    rows = np.setdiff1d(all_rows, malformed["row"].to_numpy(), assume_unique=True)
    if len(rows) != len(cells):  # pyarrow numbered differently (e.g. blank lines): fall back
        rows = np.arange(first, len(cells) + first, dtype=np.int64)
    titles = _lines_as_cells(lines[: header_row - 1], delimiter)
    skipped = skipped_lines(np.arange(1, header_row), "title", [line_text(r) for r in titles.itertuples(index=False)])
    return RawTable(cells, rows, malformed, rows_read, used, header_row=header_row, skipped=skipped,
                    top=_lines_as_cells(lines, delimiter), delimiter=delimiter)


class _CsvSource:
    """The UTF-8 text the CSV parser reads: the file itself when it is UTF-8 already, a single-byte
    one (Windows-1252) transcoded a block at a time as it is read, else the text in memory.

    A UTF-8 export is read by Arrow's own file reader a block at a time, from where the text
    starts (after a byte-order mark): only the table being built is held in memory, not the
    whole file beside it as when parsing the memory-mapped bytes. The mapped pages looked at so
    far (the encoding check, the header) are let go of before the parse starts, and those of a
    transcoded file behind the transcoding.
    """

    def __init__(self, path: Path, data: memoryview, text: memoryview | transcoding.Utf8Text) -> None:
        self._path, self._text, self._transcoded = path, None, None
        _let_pages_go(data)
        if isinstance(text, transcoding.Utf8Text):
            self.nbytes, self._transcoded = text.most_bytes, text
            return
        self.nbytes = text.nbytes
        in_file = isinstance(data, memoryview) and isinstance(text.obj, mmap.mmap) and text.obj is data.obj
        self._offset = data.nbytes - text.nbytes
        self._text = None if in_file else text

    def open(self) -> pa.NativeFile:
        """A fresh reader at the start of the text (the parse may need a second pass)."""
        if self._transcoded is not None:
            return pa.PythonFile(self._transcoded.stream(), mode="r")
        if self._text is not None:
            return pa.BufferReader(pa.py_buffer(self._text))
        handle = pa.OSFile(str(self._path))
        handle.seek(self._offset)
        return handle


def _arrow_read(
    path: Path, source: _CsvSource, names: list[str], delimiter: str, missing: list[str], header_row: int,
    use_threads: bool,
) -> tuple[pa.Table, list[tuple[int | None, str, str]]]:
    bad: list[tuple[int | None, str, str]] = []
    expected = len(names)

    def on_invalid(row) -> str:
        bad.append(
            (row.number, f"has {row.actual_columns} cells where the header has {expected}", row.text)
        )
        return "skip"

    block_size = 1 << 22
    while True:
        bad.clear()
        try:
            with source.open() as stream:
                table = pacsv.read_csv(
                    stream,
                    read_options=pacsv.ReadOptions(
                        column_names=[f"c{i}" for i in range(expected)],
                        skip_rows=header_row,  # the title lines and the header
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
                        column_types={f"c{i}": pa.large_string() for i in range(expected)},
                        null_values=missing,  # exact blank-like cells, quoted or not, are missing
                        strings_can_be_null=True,
                        quoted_strings_can_be_null=True,
                    ),
                )
            return table, list(bad)
        except pa.ArrowInvalid as exc:
            message = str(exc)
            whole = min(source.nbytes + 1, 2**31 - 1)  # one block for all the text (Arrow's limit: 2 GiB)
            if "straddling" in message and block_size < whole:
                block_size = whole
                continue
            if "Empty CSV file" in message:
                return pa.table({f"c{i}": pa.array([], pa.large_string()) for i in range(expected)}), []
            reason = message.splitlines()[0][:200]
            raise ExportError(
                f"The export '{path.name}' could not be read as CSV ({reason}); "
                "check it opens in a spreadsheet and export it again."
            ) from None


def _read_excel(path: Path, sheet: str | int | None, header_row: int) -> RawTable:
    with Workbook(path) as book:
        name = book.sheet_name(sheet)
        frame = book.cells(name)
        names_of_sheets = book.sheet_names
    if frame.empty:
        raise ExportError(f"The sheet '{name}' of '{path.name}' has no rows; export the data again.")
    if header_row > len(frame):
        raise ExportError(
            f"The sheet '{name}' of '{path.name}' has only {len(frame)} row(s), so row {header_row} cannot be "
            "its header; fix 'header_row' in the mapping profile."
        )
    top = frame.iloc[: header_row + SCAN_ROWS].reset_index(drop=True)
    titles = frame.iloc[: header_row - 1]
    skipped = skipped_lines(np.arange(1, header_row), "title", [line_text(r) for r in titles.itertuples(index=False)])
    names = _dedupe([str(v).strip() for v in frame.iloc[header_row - 1].tolist()])
    cells = frame.iloc[header_row:].reset_index(drop=True).astype("str")
    cells.columns = names
    rows = np.arange(header_row + 1, len(cells) + header_row + 1, dtype=np.int64)
    return RawTable(cells, rows, rows_read=len(cells), encoding="xlsx", header_row=header_row, skipped=skipped,
                    top=top, sheet=name, sheet_names=names_of_sheets)


def _set_footer_aside(table: RawTable, missing_values) -> None:
    """Move the footer lines after the last record from the records to ``skipped``.

    A footer line is blank, or has one or two filled cells of which the first reads like a
    report footer ("Total records: 360", "End of report"). Only lines after the last record
    count: a blank row between records stays a row. In a CSV a footer line usually has too
    few cells, so the malformed records at the end are looked at too.
    """
    footer = trailing_footer(table.cells)
    last_record = int(table.rows[len(table.cells) - footer - 1]) if footer < len(table.cells) else table.header_row
    malformed = table.malformed
    after = malformed[malformed["row"] > last_record].sort_values("row", ascending=False)
    blank_like = {str(v) for v in missing_values}
    footer_malformed: list[int] = []
    for number, text in zip(after["row"], after.get("text", pd.Series("", index=after.index)), strict=True):
        cells = next(csv.reader([text], delimiter=table.delimiter), []) if isinstance(text, str) else []
        if not is_footer_line([c for c in cells if c.strip() not in blank_like]):
            last_record = int(number)
            break
        footer_malformed.append(int(number))
    kept_footer = table.rows[len(table.cells) - footer:] if footer else np.zeros(0, dtype=np.int64)
    kept_footer = kept_footer[kept_footer > last_record]
    footer_malformed = [n for n in footer_malformed if n > last_record]
    if len(kept_footer) == 0 and not footer_malformed:
        table.malformed = malformed.drop(columns="text", errors="ignore")
        return
    drop = len(kept_footer)
    texts = [line_text(r) for r in table.cells.iloc[len(table.cells) - drop:].itertuples(index=False)] if drop else []
    lines = pd.concat([
        skipped_lines(kept_footer, "footer", texts),
        skipped_lines(footer_malformed, "footer",
                      [line_text(next(csv.reader([str(t)], delimiter=table.delimiter), [])) for t in
                       malformed.set_index("row").loc[footer_malformed, "text"]] if footer_malformed else []),
    ], ignore_index=True).sort_values("row", ignore_index=True)
    if drop:
        table.cells = table.cells.iloc[: len(table.cells) - drop]
        table.rows = table.rows[: len(table.rows) - drop]
    table.malformed = malformed[~malformed["row"].isin(footer_malformed)].drop(columns="text", errors="ignore")
    table.malformed = table.malformed.reset_index(drop=True)
    table.rows_read -= drop + len(footer_malformed)
    table.skipped = pd.concat([table.skipped, lines], ignore_index=True) if len(table.skipped) else lines
