"""Reading the YAML settings files (mapping profiles, pathways) within bounds, and strictly.

A settings file is a page or two written by a person, so anything else is refused in one
sentence before it can cost memory or time, or be read in a way its author did not mean:

* a file over 1 MB, or something that is not a plain file (a pipe, a device);
* nesting deeper than :data:`MAX_DEPTH` levels, or more than :data:`MAX_ALIASES` aliases
  (``*name``), which can make a small file expand without limit;
* a key written twice in one mapping: YAML would silently keep the last one, so a pathway's
  second ``target_minutes`` could override the first unseen. The message names the key and
  both lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .file_checks import require_regular_file

MAX_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_ALIASES = 100


class _Refused(Exception):
    """The file is readable YAML but outside the bounds; ``str`` says why, ``line`` where."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.line = line


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting depth and aliases and refusing duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(f"uses more than {MAX_ALIASES} aliases (*name)", self.peek_event().start_mark.line + 1)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nests deeper than {MAX_DEPTH} levels", self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *defaults" may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the safe loader refuses it itself
                continue
            if first != key_node.start_mark.line + 1:
                raise _Refused(
                    f"has the key '{key}' twice (lines {first} and {key_node.start_mark.line + 1}); keep one",
                    key_node.start_mark.line + 1,
                )
        return super().construct_mapping(node, deep)


def read_yaml(path: Path, what: str, error: type[Exception]) -> dict:
    """A settings file's top-level mapping, or ``error`` with one sentence saying what to fix."""
    info = require_regular_file(path, what, error)
    if info is None:
        raise error(f"The {what} '{path}' does not exist; check the path.")
    if info.st_size > MAX_BYTES:
        raise error(f"The {what} '{path.name}' is {info.st_size / 1e6:.1f} MB; a {what} is a short text "
                    f"file (under {MAX_BYTES // 1_000_000} MB): check you gave the right file.")
    with open(path, "rb") as handle:
        raw = handle.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise error(f"The {what} '{path.name}' is over {MAX_BYTES // 1_000_000} MB; check you gave the right file.")
    try:
        data = yaml.load(raw.decode("utf-8-sig"), Loader=_BoundedLoader)
    except _Refused as exc:
        raise error(f"The {what} '{path.name}' {exc}.") from None
    except UnicodeDecodeError:
        raise error(f"The {what} '{path.name}' is not UTF-8 text; save it as UTF-8.") from None
    except (yaml.YAMLError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise error(f"The {what} '{path.name}' is not valid YAML{where}; fix its syntax.") from None
    if not isinstance(data, dict):
        raise error(f"The {what} '{path.name}' must be a YAML mapping of keys to values.")
    return data
