"""Single-byte text (Windows-1252, Latin-1, ...) turned into UTF-8 with numpy, not Python strings.

Older case-management systems (Datix among them) export Windows-1252. Arrow's CSV parser reads
UTF-8 only, so such a file must be transcoded first. Decoding it into a Python string and
encoding that again costs about a second per few hundred megabytes and twice the file's size in
memory. In a single-byte encoding every byte is one character, so the UTF-8 text is each byte's
UTF-8 bytes end to end: ASCII bytes (nearly all of an export) stay as they are, and the few others
become two or three bytes from a 256-entry table. This module does that a block at a time with
numpy, giving exactly the bytes ``codecs.decode(data, name).encode("utf-8")`` would, and the same
``UnicodeDecodeError`` (at the same byte) for a byte the encoding leaves undefined.
"""

from __future__ import annotations

import codecs
import functools
import io
import re
from collections.abc import Callable, Iterator

import numpy as np

_SINGLE_BYTE = re.compile(r"^(cp125[0-8]|iso8859-\d+|cp437|cp850|cp858|mac-roman|koi8-[ru])$")
_BLOCK = 1 << 22  # 4 MiB of input at a time: the temporary arrays stay small


def is_single_byte(encoding: str) -> bool:
    """Whether ``encoding`` maps every byte to at most one character (so this module applies)."""
    try:
        return bool(_SINGLE_BYTE.match(codecs.lookup(encoding).name))
    except LookupError:
        return False


@functools.cache
def _table(encoding: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per byte: its UTF-8 length (0: undefined in ``encoding``) and its UTF-8 bytes (3 columns)."""
    lengths = np.zeros(256, dtype=np.uint8)
    utf8 = np.zeros((256, 3), dtype=np.uint8)
    for byte in range(256):
        try:
            text = bytes([byte]).decode(encoding)
        except UnicodeDecodeError:
            continue
        encoded = text.encode("utf-8")
        if len(text) != 1 or len(encoded) > 3:  # pragma: no cover - not a single-byte encoding
            raise ValueError(f"{encoding} is not a single-byte encoding")
        lengths[byte] = len(encoded)
        utf8[byte, : len(encoded)] = list(encoded)
    return lengths, utf8, lengths == 0


def first_undefined(data, encoding: str) -> int | None:
    """The offset of the first byte ``encoding`` leaves undefined (cp1252: 0x81, 0x8D...), or None."""
    _, _, undefined = _table(codecs.lookup(encoding).name)
    if not undefined.any():
        return None
    view = np.frombuffer(data, dtype=np.uint8)
    for start in range(0, len(view), _BLOCK):
        block = view[start: start + _BLOCK]
        high = np.flatnonzero(block >= 0x80)
        bad = high[undefined[block[high]]]
        if len(bad):
            return start + int(bad[0])
    return None


def to_utf8(data, encoding: str) -> bytes:
    """``codecs.decode(data, encoding).encode("utf-8")`` for a single-byte ``encoding``, vectorised.

    Raises ``UnicodeDecodeError`` at the first byte ``encoding`` does not define, as the codec does.
    """
    return b"".join(utf8_blocks(data, encoding))


def utf8_blocks(data, encoding: str, done: Callable[[int, int], None] | None = None) -> Iterator[np.ndarray]:
    """:func:`to_utf8` a block at a time (4 MiB of input each), transcoded only when asked for.

    ``done(start, length)`` is told of each block of ``data`` once it has been transcoded.
    """
    name = codecs.lookup(encoding).name
    if not is_single_byte(name):
        raise ValueError(f"{encoding} is not a single-byte encoding")
    lengths, utf8, undefined = _table(name)
    view = np.frombuffer(data, dtype=np.uint8)
    for start in range(0, len(view), _BLOCK):
        block = view[start: start + _BLOCK]
        high = np.flatnonzero(block >= 0x80)
        if len(high) == 0:
            yield block  # plain ASCII: the same bytes in UTF-8 (let go of once read)
            if done:
                done(start, len(block))
            continue
        values = block[high]
        bad = high[undefined[values]]
        if len(bad):
            at = start + int(bad[0])
            raise UnicodeDecodeError(name, bytes(view[at: at + 1]), at, at + 1, "character maps to <undefined>")
        sizes = lengths[values].astype(np.int64)
        extra = np.cumsum(sizes - 1)
        where = high + np.concatenate([[0], extra[:-1]])  # each non-ASCII character's first output byte
        out = np.empty(len(block) + int(extra[-1]), dtype=np.uint8)
        original = np.ones(len(out), dtype=bool)  # output bytes that are an input byte's first
        for column in (1, 2):
            original[where[sizes > column] + column] = False
        out[original] = block  # every byte in its place, ASCII bytes done
        for column in range(3):
            wide = sizes > column
            out[where[wide] + column] = utf8[values[wide], column]
        if done:
            done(start, len(block))
        yield out


class Utf8Text:
    """Single-byte text as UTF-8, never all in memory at once: its first bytes when asked for,
    or a stream that transcodes a block at a time while the CSV parser reads it.

    Transcoding a 3.5 GB export whole would hold the file's UTF-8 text beside the table Arrow
    builds from it. ``data`` must hold no byte the encoding leaves undefined (check with
    :func:`first_undefined` first): the stream would raise ``UnicodeDecodeError`` part-way.
    ``done(start, length)`` is told of each block of ``data`` the stream has transcoded (the
    reader lets a memory-mapped file's pages go behind it).
    """

    def __init__(self, data, encoding: str, done: Callable[[int, int], None] | None = None) -> None:
        self.data, self.encoding, self._done = data, encoding, done
        self.most_bytes = 3 * len(memoryview(data).cast("B"))  # a bound on the UTF-8 length

    def prefix(self, size: int) -> tuple[bytes, bool]:
        """The first ``size`` bytes of the UTF-8 text, and whether that is all of it."""
        source = memoryview(self.data).cast("B")
        head = to_utf8(source[:size], self.encoding)  # at least one byte out per byte in
        return head[:size], size >= len(source) and size >= len(head)

    def stream(self) -> io.RawIOBase:
        """The UTF-8 text as a file-like object, from its start."""
        return _BlockReader(utf8_blocks(self.data, self.encoding, self._done))


class _BlockReader(io.RawIOBase):
    """A readable file over blocks of bytes, each let go of once read."""

    def __init__(self, blocks: Iterator[np.ndarray]) -> None:
        super().__init__()
        self._blocks, self._pending = blocks, memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        """Fill ``buffer`` whole (short only at the end of the text)."""
        out = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(out):
            if not len(self._pending):
                block = next(self._blocks, None)
                if block is None:
                    break
                self._pending = memoryview(block).cast("B")
            n = min(len(out) - filled, len(self._pending))
            out[filled: filled + n] = self._pending[:n]
            self._pending = self._pending[n:]
            filled += n
        return filled
