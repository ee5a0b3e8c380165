"""One analysis per export, period and key in a process: :func:`analyse_once`.

A run that makes several reports from one export (the demo: four reports over two periods)
needs the same analysis for each report's summary, privacy gate and disclosure audit, and the
audit needs the other outside reports' analyses too. Analysing afresh for each took most of
the time spent after the notebooks ran; here each export is read once per process and each
period analysed once, and the disclosure plans (cached per analysis) follow.

An entry is found only while every file it was made from is unchanged: the key holds each
file's resolved path, device, inode, size, and modification and change times in nanoseconds,
with the mapping, pathway, logs, period and (a digest of) the pseudonym key. A file changed
within the last second is not cached at all, because a file system's clock may not move
between two writes that close together (the change time would not tell them apart).

The analyses handed out are shared, so read them and do not change them in place (as the
report builders already do: :func:`~escalation_analysis.reviews.disclosure.plan_for` keeps
one plan per analysis on the same understanding).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..ingest.inputs import KEPT_EXPORTS, InputFiles
from ..ingest.pseudonym_key import load_key
from .analysis import Analysis, LoadedInputs, analyse_period, check_period, load_inputs

#: How many analyses a process keeps (most recently used; of exports, ``KEPT_EXPORTS``).
KEPT_ANALYSES = 4

#: A file changed this recently is read afresh every time (see the module's docstring).
SETTLED_NS = 1_000_000_000

_analyses: OrderedDict[tuple, Analysis] = OrderedDict()
_exports: OrderedDict[tuple, LoadedInputs] = OrderedDict()


def analyse_once(files: InputFiles, start: dt.date | str, end: dt.date | str, *, key: bytes | None = None) -> Analysis:
    """:func:`~escalation_analysis.measures.analysis.analyse` of ``files``, done once per unchanged
    files and period in this process (a period with no usable episode is an error, as there)."""
    start, end = check_period(start, end)
    key = key if key is not None else load_key()
    export_key = _export_key(files, key)
    named = files.by_name()
    logs = _states(files.steps, files.actions, files.training)

    def load() -> LoadedInputs:
        return load_inputs(files.export, files.mapping, files.pathway, key=key)

    def for_period(inputs: LoadedInputs) -> Analysis:
        return analyse_period(inputs, start, end, named, key=key)

    if export_key is None or logs is None:  # a file missing or just changed: no caching (analyse says what is wrong)
        return for_period(load())
    return _remember(_analyses, _analysis_key(export_key, logs, files, start, end), KEPT_ANALYSES,
                     lambda: for_period(_remember(_exports, export_key, KEPT_EXPORTS, load)))


def keep_export(files: InputFiles, *, key: bytes | None = None) -> None:
    """Read ``files``' export (with its mapping and pathway) into this process's cache.

    The warm-kernel template does this before it forks the kernels of a run's reports
    (:mod:`~escalation_analysis.publish.kernels`): each kernel inherits the export as read
    instead of reading it again (:func:`analyse_kept`). A file missing or just changed is not
    read here at all; the kernels then read it themselves and say what is wrong.
    """
    key = key if key is not None else load_key()
    export_key = _export_key(files, key)
    if export_key is not None:
        _remember(_exports, export_key, KEPT_EXPORTS,
                  lambda: load_inputs(files.export, files.mapping, files.pathway, key=key))


def analyse_kept(files: InputFiles, start: dt.date | str, end: dt.date | str, *, key: bytes | None = None,
                 require_episodes: bool = True) -> Analysis:
    """:func:`~escalation_analysis.measures.analysis.analyse` of ``files``, from the export this
    process already keeps when it is unchanged (a warm kernel inherits the one its template
    read: :func:`keep_export`), else read as ``analyse`` reads it; nothing is added to the cache,
    so a notebook's process keeps no rows beyond the call.

    The result is the same either way: the kept export is the same read of the same file, and
    its name is the one given here (a report's kernel reads its files through links named for
    the report). When the process also keeps the period's analysis of files of the same names
    (the template analyses each report's period before it forks the kernel: a review's
    ``kernel_needs``), that analysis itself is handed out.
    """
    start, end = check_period(start, end)
    kept = None
    if _exports:  # (else exactly as analyse: a process that keeps nothing looks nothing up)
        export_key = _export_key(files, key if key is not None else load_key())
        kept = _exports.get(export_key) if export_key is not None else None
        logs = _states(files.steps, files.actions, files.training)
        if kept is not None and logs is not None:  # the period analysed already (by the template)
            analysed = _analyses.get(_analysis_key(export_key, logs, files, start, end))
            if analysed is not None:
                return analysed
    if kept is None:
        inputs = load_inputs(files.export, files.mapping, files.pathway, key=key)
    else:
        inputs = dataclasses.replace(kept, export=Path(files.export),
                                     sources={**kept.sources, "export": Path(files.export).name})
    return analyse_period(inputs, start, end, files.by_name(), key=key, require_episodes=require_episodes)


def forget() -> None:
    """Drop every cached analysis and export (e.g. to free their memory)."""
    _analyses.clear()
    _exports.clear()


def _remember(cache: OrderedDict[tuple, Any], key: tuple, kept: int, make: Any) -> Any:
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = make()
    cache[key] = value
    while len(cache) > kept:
        cache.popitem(last=False)
    return value


def _analysis_key(export_key: tuple, logs: tuple, files: InputFiles, start: dt.date, end: dt.date) -> tuple:
    """What an analysis is kept under: its files' states and names (an analysis records the
    names: a report's kernel reads its files through links, found here only when named as the
    files they link to), and the period."""
    names = tuple(Path(path).name if path else None for path in files.by_name().values())
    return (*export_key, logs, names, start, end)


def _export_key(files: InputFiles, key: bytes) -> tuple | None:
    """What a read export is kept under: its three files' states and a digest of the pseudonym
    key (None: a file missing or just changed, so not kept)."""
    whole = _states(files.export, files.mapping, files.pathway)
    return None if whole is None else (whole, hashlib.sha256(key).hexdigest())


def _states(*paths: str | Path | None) -> tuple | None:
    """Each file's identity and state, or None when one is missing or changed too recently to tell."""
    now = time.time_ns()
    states = []
    for path in paths:
        if path is None or path == "":
            states.append(None)
            continue
        try:
            resolved = Path(path).resolve()
            info = resolved.stat()
        except (OSError, RuntimeError):
            return None
        if now - max(info.st_mtime_ns, info.st_ctime_ns) < SETTLED_NS:
            return None
        states.append((str(resolved), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns))
    return tuple(states)
