"""The pseudonymisation key: from the environment, else a private key file made on first use.

Kept apart from the pseudonyms themselves (:mod:`.pseudonyms`), which need pandas, so that a
command that only needs the key (the report runner, before it starts the reports) does not
import it. The key is never written into any output.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import tempfile
from pathlib import Path

from ..errors import EscalationAnalysisError
from .file_checks import require_regular_file

logger = logging.getLogger(__name__)

KEY_ENV = "ESCALATION_ANALYSIS_KEY"
KEY_FILE_ENV = "ESCALATION_ANALYSIS_KEY_FILE"


def default_key_path() -> Path:
    """Where the key file lives unless ``ESCALATION_ANALYSIS_KEY_FILE`` says otherwise."""
    if os.environ.get(KEY_FILE_ENV):
        return Path(os.environ[KEY_FILE_ENV]).expanduser()
    if os.name == "nt" and os.environ.get("APPDATA"):
        base = Path(os.environ["APPDATA"])
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "escalation-analysis" / "pseudonym.key"


#: Shortest key accepted: 32 bytes (256 bits), the size of HMAC-SHA256's output.
MIN_KEY_BYTES = 32
#: A key file is a few dozen bytes; anything much larger is the wrong file.
MAX_KEY_FILE_BYTES = 64 * 1024
MAKE_A_KEY = 'make one with: python -c "import secrets; print(secrets.token_hex(32))"'


class PseudonymKeyError(EscalationAnalysisError):
    """The pseudonymisation key is missing, weak, or its file is unsafe."""


def load_key() -> bytes:
    """The pseudonymisation key: from the environment, else the key file (made on first use).

    Keep the key file safe and backed up: with a new key, every pseudonym changes, so
    reports from different runs can no longer be compared person by person.

    Rules (each refusal is one sentence saying what to do): at least :data:`MIN_KEY_BYTES`
    bytes; an empty or blank key is never used; the key file must be a plain file that only
    its owner can read (as ssh insists for private keys); it is read as bytes, so any key
    works and no decoding error can show part of it. Leading and trailing spaces and line
    ends are ignored.
    """
    from_env = os.environb.get(KEY_ENV.encode()) if os.name != "nt" else os.environ.get(KEY_ENV, "").encode("utf-8")
    if from_env is not None and from_env.strip():
        return _strong(from_env.strip(), f"the environment variable {KEY_ENV}")
    path = default_key_path()
    if require_regular_file(path, "key file", PseudonymKeyError) is None:
        _create_key_file(path)
    return _read_key_file(path)


def _strong(key: bytes, where: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise PseudonymKeyError(
            f"The pseudonymisation key in {where} is {len(key)} bytes, too short to keep pseudonyms "
            f"safe; use at least {MIN_KEY_BYTES} random bytes ({MAKE_A_KEY})."
        )
    return key


def _read_key_file(path: Path) -> bytes:
    info = path.stat()
    if os.name != "nt" and info.st_mode & 0o077:
        raise PseudonymKeyError(
            f"The key file {path} can be read by other users (permissions {stat.S_IMODE(info.st_mode):o}); "
            f"make it private with: chmod 600 '{path}'"
        )
    if info.st_size > MAX_KEY_FILE_BYTES:
        raise PseudonymKeyError(f"The key file {path} is {info.st_size:,} bytes, not a key; point {KEY_FILE_ENV} at the key file.")
    with open(path, "rb") as handle:
        key = handle.read(MAX_KEY_FILE_BYTES + 1).strip()
    if not key:
        raise PseudonymKeyError(
            f"The key file {path} is empty; restore the key from your backup (a new key changes every "
            f"pseudonym), or, for a first key, remove the empty file and run again."
        )
    return _strong(key, f"the key file {path}")


def _create_key_file(path: Path) -> None:
    """Write a new random key atomically: a private temporary file beside it, written, synced,
    then linked into place, so a full disk or a crash never leaves an empty or partial key, and
    two runs starting at once end up with the same key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_hex(32).encode("ascii"))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # never replaces a key another run made meanwhile
        except FileExistsError:
            return
        except OSError:  # no hard links here: rename (may replace a key made in the same instant)
            os.replace(temporary, path)
        _sync_folder(path.parent)
        logger.warning("Created a new pseudonymisation key at %s; keep it safe.", path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
