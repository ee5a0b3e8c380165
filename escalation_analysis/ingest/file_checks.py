"""Refusing what is not a plain file before it is opened: pipes, devices, folders.

Opening a named pipe (FIFO) waits for a writer for ever, and a device such as ``/dev/zero`` or
``/dev/urandom`` never ends; neither is an export, a profile or a key. Each is refused at once,
with one sentence, by looking at the path without opening it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import EscalationAnalysisError


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def require_regular_file(
    path: str | os.PathLike, what: str, error: type[EscalationAnalysisError] = EscalationAnalysisError
) -> os.stat_result | None:
    """The file's ``stat`` when it is a plain file; None when it does not exist; else ``error``.

    ``what`` names the file for the user ("export", "mapping profile", "key file"). A path that
    does not exist is left to the reader, which says so in its own words.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise error(f"The {what} '{Path(path).name}' cannot be read ({exc.strerror}); check the path and its permissions.") from None
    kind = _kind(info.st_mode)
    if kind is not None:
        raise error(f"The {what} '{Path(path).name}' is {kind}, not a file; give the path of the {what} itself.")
    return info
