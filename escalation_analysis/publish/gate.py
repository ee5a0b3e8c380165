"""The privacy gate: check a run's outputs for anything that identifies a person.

Suppression and pseudonymisation happen in the analysis, but a report is only safe to send if
its files really contain none of the export's identifiers. Before anything is published the
runner hands the gate exactly the files the run wrote (its manifest,
:mod:`~escalation_analysis.publish.outputs`); the gate reads their text (HTML without the
embedded plotly.js, PDF text, the executed notebook, JSON, CSV) and looks for:

* always: raw service-user and staff identifiers (NHS numbers in any spacing, staff names),
  and the folders of this computer (a report names files, never where they are);
* for external and partner audiences also: incident references, pseudonyms, and the opening
  words of the free-text descriptions.

Identifiers are matched as whole tokens, so the Datix reference ``499766`` is not "found" in
``23.594997669880442``. All values are looked for in one pass over each text with an
Aho-Corasick automaton (``pyahocorasick``). A large export has hundreds of thousands of
distinct values and a run's outputs a few pages of text, so the automaton is built, for each
check, from only the values that could occur in that text: those whose opening characters
(the first 8, 6 or 4, as many as the value has: :data:`_OPENINGS`) appear in it somewhere,
picked out in Arrow (the openings present are found by listing the text's runs, or, when the
text is the larger, by looking for the values' openings in it). A value that occurs in a text
always has its opening in it, so the gate finds exactly what an automaton of every value would.

The values come from the loader (:class:`~escalation_analysis.ingest.identifiers.IdentifierValues`):
the gate never reads the export. A failing report is not published; its outputs are kept for
inspection (:class:`PrivacyError` says where) and the message names the kind of value and the
file, never the value.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import ahocorasick
import pyarrow as pa
import pyarrow.compute as pc

from ..ingest.identifiers import DESCRIPTION, INCIDENT, PSEUDONYM, SERVICE_USER, STAFF, IdentifierValues
from .outputs import OutputsWithheld

logger = logging.getLogger(__name__)

FOLDER = "folder of this computer"
INTERNAL_KINDS = (SERVICE_USER, STAFF, FOLDER)
EXTERNAL_KINDS = (*INTERNAL_KINDS, INCIDENT, PSEUDONYM, DESCRIPTION)
#: Kinds matched anywhere, not only as whole tokens (a description's opening may end mid-word).
_ANYWHERE = {DESCRIPTION, FOLDER}

_PLOTLY_BANNER = re.compile(rb"\* plotly\.js (?:\([^)\n]*\) )?v\d")  # the full or a partial bundle

_NEXT_STEP = {
    SERVICE_USER: "make sure no notebook cell shows the service-user column",
    STAFF: "make sure no notebook cell shows the staff column",
    INCIDENT: "make sure the external notebook shows no incident references",
    PSEUDONYM: "make sure the external notebook shows no pseudonyms",
    DESCRIPTION: "map free-text columns as 'description' in the mapping profile, so they are never shown to external readers",
    FOLDER: "give the notebook file names, not paths",
}


class PrivacyError(OutputsWithheld):
    """A report output contains an identifier or free text it must not.

    Attributes
    ----------
    leaks : list of (file, kind)
        Where each kind of value was found.
    """

    def __init__(self, message: str, leaks: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.leaks = list(leaks)


def kinds_for(audience: str) -> tuple[str, ...]:
    """The kinds of value an audience's outputs must not hold."""
    return INTERNAL_KINDS if audience == "internal" else EXTERNAL_KINDS


@dataclass
class PrivacyGate:
    """The values one audience's outputs must not hold, by kind, in the order a leak is reported.

    Identifiers stay Arrow text (each kind's distinct values, gathered once per export); this
    computer's folders are a few Python strings. ``allowed`` values are never looked for.
    """

    audience: str
    values: dict[str, pa.ChunkedArray | tuple[str, ...]]
    allowed: frozenset[str] = frozenset()

    @classmethod
    def build(cls, identifiers: IdentifierValues, audience: str, folders: Iterable[str] = (),
              *, allowed: Iterable[str] = ()) -> PrivacyGate:
        """The gate for ``audience``.

        ``allowed`` are values the person running the report typed themselves for this report
        (a supervisor's name for the practitioner whose pack it is): they may appear in it.
        """
        folders = tuple(folders)
        values = {kind: folders if kind == FOLDER else identifiers.of(kind) for kind in kinds_for(audience)}
        return cls(audience, values, frozenset(allowed))

    def leaks(self, texts: dict[str, str]) -> list[tuple[str, str]]:
        """(file, kind) for each kind of forbidden value found in each text."""
        found: list[tuple[str, str]] = []
        automaton = _automaton(self.values, self.allowed, texts.values())
        if automaton is None:
            return found
        for name, text in texts.items():
            kinds: set[str] = set()
            for end, (kind, length, whole) in automaton.iter(text):
                if kind not in kinds and (not whole or _whole_token(text, end + 1 - length, end + 1)):
                    kinds.add(kind)
            found += [(name, kind) for kind in kinds_for(self.audience) if kind in kinds]
        return found

    def check(self, folder: str | os.PathLike, names: Iterable[str], *, what: str = "report") -> None:
        """Raise :class:`PrivacyError` if any of the files ``names`` (relative to ``folder``) leaks."""
        started = time.perf_counter()
        texts = output_texts(folder, names)
        leaks = self.leaks(texts)
        logger.info("Privacy gate: %d file(s) read and checked in %.3f s", len(texts), time.perf_counter() - started)
        if not leaks:
            return
        where = "; ".join(f"{_a(kind)} {kind} in {name}" for name, kind in leaks)
        steps = "; ".join(dict.fromkeys(_NEXT_STEP[kind] for _, kind in leaks))
        audience = "internal" if self.audience == "internal" else self.audience
        raise PrivacyError(
            f"The {audience} {what} was not published because its outputs contain {where}. "
            f"To fix it: {steps}; or, if its readers may see these values, make an internal report instead.",
            leaks,
        )


def _a(noun: str) -> str:
    """'a' or 'an' before a noun ('an incident reference', 'a pseudonym')."""
    return "an" if noun[:1].lower() in "aeiou" else "a"


#: How many opening characters of a value must appear in a text for the value to be looked for:
#: the longest of these no longer than the value (a value shorter than all of them always is).
#: Longer openings keep out nearly all of a million NHS numbers or references from a text full
#: of four-digit years and counts (a 1M-row export's external gate: 78,000 candidates with four
#: characters alone, 2,300 with these).
_OPENINGS = (4, 6, 8)


def _automaton(values: dict[str, pa.ChunkedArray | tuple[str, ...]], allowed: frozenset[str],
               texts: Iterable[str]) -> ahocorasick.Automaton | None:
    """An automaton of the values that could occur in ``texts`` (None when there are none).

    A value is kept when its opening (:data:`_OPENINGS`) occurs somewhere in the texts, or it
    is shorter than every opening: every value that occurs is kept. A value two kinds share
    is reported as the earlier kind.
    """
    texts = list(texts)
    exported = [v for v in values.values() if not isinstance(v, tuple)]
    openings = _openings_found(texts, exported)
    automaton = ahocorasick.Automaton()
    for kind, kind_values in values.items():
        whole = kind not in _ANYWHERE
        if isinstance(kind_values, tuple):
            candidates = kind_values
        else:
            candidates = kind_values.filter(_could_occur(kind_values, openings)).to_pylist()
        for value in candidates:
            if value and value not in allowed and value not in automaton:
                automaton.add_word(value, (kind, len(value), whole))
    if len(automaton) == 0:
        return None
    automaton.make_automaton()
    return automaton


def _could_occur(values: pa.ChunkedArray, openings: dict[int, pa.Array]) -> pa.ChunkedArray:
    """Whether each value's opening is among ``openings`` (by size), or it is shorter than all."""
    sizes = sorted(openings)
    lengths = pc.utf8_length(values)
    could = pc.less(lengths, sizes[0])
    for size, longer in zip(sizes, [*sizes[1:], None], strict=True):
        fits = pc.greater_equal(lengths, size)
        if longer is not None:
            fits = pc.and_(fits, pc.less(lengths, longer))
        found = pc.is_in(pc.utf8_slice_codeunits(values, 0, size), value_set=openings[size])
        could = pc.or_(could, pc.and_(fits, found))
    return could


def _openings_found(texts: list[str], values: list[pa.ChunkedArray]) -> dict[int, pa.Array]:
    """The runs of each size in :data:`_OPENINGS` that occur in the texts and could open a value.

    Found the cheaper of two ways, which give the same answer for the values: a report's
    outputs (megabytes of text, a few thousand values) by looking for the values' openings in
    the texts with one automaton; a summary of a large export (little text, a million values)
    by listing every run of the texts.
    """
    if sum(len(v) for v in values) < sum(len(text) for text in texts):
        return _value_openings_in(texts, values)
    return {size: _openings(texts, size) for size in _OPENINGS}


def _value_openings_in(texts: list[str], values: list[pa.ChunkedArray]) -> dict[int, pa.Array]:
    """Each size's openings of ``values`` that occur somewhere in the texts."""
    automaton = ahocorasick.Automaton()
    for kind_values in values:
        lengths = pc.utf8_length(kind_values)
        for size in _OPENINGS:
            longer = kind_values.filter(pc.greater_equal(lengths, size))
            for opening in pc.unique(pc.utf8_slice_codeunits(longer, 0, size)).to_pylist():
                automaton.add_word(opening, opening)
    found: dict[int, set[str]] = {size: set() for size in _OPENINGS}
    if len(automaton):
        automaton.make_automaton()
        for text in texts:
            for _, opening in automaton.iter(text):
                found[len(opening)].add(opening)
    return {size: pa.array(sorted(runs), type=pa.large_string()) for size, runs in found.items()}


def _openings(texts: list[str], size: int) -> pa.Array:
    """Every run of ``size`` characters in the texts, once, as Arrow text.

    A run holding a lone surrogate (a JSON escape such as ``\\ud800``) cannot open any value
    read from an export, so it is left out.
    """
    runs: set[str] = set()
    for text in texts:
        runs.update(text[i: i + size] for i in range(len(text) - size + 1))
    try:
        return pa.array(list(runs), type=pa.large_string())
    except UnicodeEncodeError:
        return pa.array([run for run in runs if _encodable(run)], type=pa.large_string())


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _whole_token(text: str, start: int, end: int) -> bool:
    """Is ``text[start:end]`` a token of its own, not part of a longer word or number?

    Next to a letter, digit or underscore it is part of a word; next to a decimal point between
    digits (``23.5949976``) it is part of a number.
    """
    if start > 0 and _word(text[start]):
        before = text[start - 1]
        if _word(before) or (before == "." and start > 1 and text[start - 2].isdigit() and text[start].isdigit()):
            return False
    if end < len(text) and _word(text[end - 1]):
        after = text[end]
        if _word(after) or (after == "." and end + 1 < len(text) and text[end + 1].isdigit() and text[end - 1].isdigit()):
            return False
    return True


# --------------------------------------------------------------------------------------------
# The readable text of each output
# --------------------------------------------------------------------------------------------


def output_texts(folder: str | os.PathLike, names: Iterable[str] | None = None) -> dict[str, str]:
    """The readable text of each output file (HTML without plotly.js, PDF text, notebook cells).

    ``names`` (paths relative to ``folder``) are the files to read: a run's manifest. Without
    it every file under ``folder`` is read (for tests and inspection).
    """
    folder = Path(folder)
    if names is None:
        names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    names = list(names)
    # PDF text comes from pdftotext, started first so it works while the other files are read.
    pdfs = {name: _pdf_text_process(folder / name) for name in names if name.lower().endswith(".pdf")}
    texts = {name: "" if name in pdfs else _text(folder / name) for name in names}
    for name, process in pdfs.items():
        if process is not None:
            texts[name] = process.communicate()[0].decode("utf-8", errors="replace")
    return texts


def _pdf_text_process(path: Path) -> subprocess.Popen | None:
    """``pdftotext -raw`` reading ``path`` (content order is enough to find words), or None."""
    if shutil.which("pdftotext") is None:
        logger.warning("pdftotext is not installed, so the text of %s was not checked.", path.name)
        return None
    return subprocess.Popen(["pdftotext", "-raw", str(path), "-"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _text(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".html":
        return html.unescape(_without_plotly_js(path.read_bytes()).decode("utf-8", errors="replace"))
    if suffix == ".ipynb":
        return _notebook_text(path)
    if suffix == ".json":
        raw = path.read_text(encoding="utf-8", errors="replace")
        try:
            return "\n".join(_json_strings(json.loads(raw)))
        except ValueError:
            return raw
    return path.read_text(encoding="utf-8", errors="replace")


def _json_strings(node) -> Iterable[str]:
    """Every key and value of a JSON document as text (escapes undone)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _json_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _json_strings(value)
    elif node is not None:
        yield str(node)


def _without_plotly_js(text: bytes) -> bytes:
    """The text without the ``<script>`` elements holding the plotly.js library (1.5 MB of code).

    Found by its banner and cut by plain string search: a regular expression over megabytes
    costs more than the rest of the gate. In a notebook's JSON the cut joins two pieces of one
    JSON string, so the document stays valid.
    """
    pieces = []
    done = 0
    while (banner := _PLOTLY_BANNER.search(text, done)) is not None:
        start = text.rfind(b"<script", done, banner.start())
        end = text.find(b"</script>", banner.end())
        if start < 0 or end < 0:
            break
        pieces.append(text[done:start])
        done = end + len(b"</script>")
    pieces.append(text[done:])
    return b"".join(pieces)


def _notebook_text(path: Path) -> str:
    """Sources, outputs and metadata of an executed notebook, leaving out the embedded plotly.js."""
    raw = path.read_bytes()
    try:
        notebook = json.loads(_without_plotly_js(raw))
    except ValueError:
        notebook = json.loads(raw)
    parts = [json.dumps(notebook.get("metadata", {}), ensure_ascii=False)]
    for cell in notebook.get("cells", []):
        parts.append("".join(cell.get("source", "")))
        for output in cell.get("outputs", []):
            for mime, value in output.get("data", {}).items():
                text = "".join(value) if isinstance(value, list) else str(value)
                if "plotly.js" in text[:2000]:
                    continue
                parts.append(html.unescape(text) if mime == "text/html" else text)
            parts.append("".join(output.get("text", "")))
            parts.append("".join(output.get("traceback", [])))
    return "\n".join(parts)
