"""Long tables written as CSV in Arrow: byte for byte what pandas' ``to_csv(index=False)`` writes.

pandas writes CSV through Python's csv module, a cell at a time: about 1.7 s of CPU for the
near-million excluded rows of a quarter's summary of a multi-year export, and minutes for the
ten-million-row benchmark export. Here each block of rows is put together in Arrow (cells
quoted as the csv module quotes them, joined into lines in one buffer) and written as it is.

Only whole-number columns (no missing value) and text columns are written this way; a frame
with any other column, or a single column (the csv module quotes a lone empty cell), is
written by pandas itself.
"""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["write_csv"]


def write_csv(frame: pd.DataFrame, path: str | os.PathLike, *, encoding: str = "utf-8",
              lineterminator: str = os.linesep, rows_per_block: int = 100_000) -> None:
    """``frame.to_csv(path, index=False, encoding=encoding, lineterminator=lineterminator)``.

    Quoting follows Python's csv writer (``QUOTE_MINIMAL``): a cell is quoted when it holds a
    comma, a double quote or a character of the line ending, and its quotes are doubled;
    missing text is written as nothing. Memory stays that of one block of rows.
    """
    special = sorted({",", '"', *lineterminator})  # (what makes the csv module quote a cell)
    if (frame.shape[1] < 2 or encoding.lower().replace("_", "-") not in ("utf-8", "utf-8-sig")
            or not lineterminator.isascii() or not all(_writable(frame[name]) for name in frame.columns)):
        frame.to_csv(path, index=False, encoding=encoding, lineterminator=lineterminator)
        return
    header = io.StringIO()
    csv.writer(header, lineterminator=lineterminator).writerow([str(c) for c in frame.columns])
    with open(path, "wb") as handle:
        handle.write(header.getvalue().encode(encoding))  # (utf-8-sig: the byte-order mark first)
        comma, end, nothing = (pa.scalar(t, pa.large_string()) for t in (",", lineterminator, ""))
        for start in range(0, len(frame), rows_per_block):
            block = frame.iloc[start: start + rows_per_block]
            cells = [_cells(block[name], special) for name in frame.columns]
            cells[-1] = pc.binary_join_element_wise(cells[-1], end, nothing)  # each line's terminator
            handle.write(_text_bytes(pc.binary_join_element_wise(*cells, comma)))


def _writable(column: pd.Series) -> bool:
    """Whole numbers without a missing value, or text (pandas' text, or Python strings)."""
    if column.dtype == np.int64:
        return True
    if pd.api.types.is_string_dtype(column) and column.dtype != object:
        return True
    return column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty")


def _cells(values: pd.Series, special: list[str]) -> pa.Array:
    """One column's cells as CSV text (missing values written as nothing, as pandas does);
    a cell holding one of the ``special`` (ASCII) characters is quoted."""
    if values.dtype == np.int64:
        return pa.array(values.to_numpy()).cast(pa.large_string())
    text = pa.chunked_array(values.astype("str").array.__arrow_array__()).combine_chunks().cast(pa.large_string())
    text = pc.fill_null(text, "")
    table = np.zeros(256, dtype=bool)
    table[[ord(c) for c in special]] = True
    if not table[np.frombuffer(_text_bytes(text), dtype=np.uint8)].any():
        return text  # (most columns: no cell needs quoting, checked on the raw bytes)
    needs = pc.match_substring_regex(text, "[" + "".join(f"\\x{{{ord(c):02x}}}" for c in special) + "]")
    quote, nothing = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())
    quoted = pc.binary_join_element_wise(quote, pc.replace_substring(text, '"', '""'), quote, nothing)
    return pc.if_else(needs, quoted, text)


def _text_bytes(lines: pa.Array) -> memoryview:
    """The UTF-8 bytes of all the strings of an Arrow text array, end to end."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset: lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0]: offsets[-1]] if len(lines) else memoryview(b"")
