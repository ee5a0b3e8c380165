"""Output folders: a run touches only what it wrote, and publishes only what was checked.

A quality lead's ``--out`` folder may hold the export itself, backups, other reports: the only
copy of some of them. So a run never writes into ``--out`` directly:

1. **Rules first.** ``--out`` may not be, or contain, one of the run's inputs (export, logs,
   mapping, pathway); a file that would be replaced must be one escalation-review published
   there and nobody has changed since (the folder's record, :data:`RECORD_NAME`, holds each
   published file's SHA-256); nothing inside ``--out`` is ever reached through a symbolic link.
2. **A lock** (:data:`LOCK_NAME`) refuses a second run into the same folder while one runs.
3. **Staging.** Everything is written into a private folder (mode 0700) inside ``--out``, so
   on the same filesystem. What is in it is the run's *manifest*: exactly the files this run
   wrote, and the only files the privacy gate reads.
4. **Publishing** renames each manifest file into place (a reader never sees a half-written
   file), with Ctrl-C held back for those few milliseconds; the record is updated last.
5. **Otherwise nothing changes in** ``--out``: an interrupted, failed or full-disk run removes
   its staging folder and leaves the previous report as it was. Outputs withheld by the
   privacy gate, or a notebook that failed, are kept for inspection in a ``withheld-...``
   folder only the user can read.

Internal reports carry pseudonyms and free text, so their folders are created 0700 and their
files 0600 (``private=True``); other reports get the user's usual permissions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import logging
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import EscalationAnalysisError

__all__ = [
    "LOCK_NAME",
    "RECORD_NAME",
    "OutputFolderError",
    "OutputsWithheld",
    "Staging",
    "check_out_dir",
    "folder_lock",
    "machine_folders",
    "staged_outputs",
]

logger = logging.getLogger(__name__)

#: Lock file held while a run writes into a folder.
LOCK_NAME = ".escalation-review.lock"
#: What escalation-review published in a folder: file name -> SHA-256 and report.
RECORD_NAME = ".escalation-review.json"
STAGING_PREFIX = ".escalation-staging-"
WITHHELD_PREFIX = "withheld-"

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class OutputFolderError(EscalationAnalysisError):
    """The output folder cannot be used as given (holds an input, a link, someone else's file)."""


class OutputsWithheld(EscalationAnalysisError):
    """An error after which the run's outputs are kept for inspection instead of discarded.

    ``kept_in`` is the private folder they were moved to; the message says where it is.
    """

    kept_in: Path | None = None

    def keep(self, folder: Path) -> None:
        """Record where the outputs were kept (and say so in the message)."""
        self.kept_in = folder

    def __str__(self) -> str:
        text = super().__str__()
        if self.kept_in is not None:
            text += f" The outputs are kept, readable only by you, in {self.kept_in}: delete that folder when done."
        return text

    def __reduce__(self):  # keep kept_in across processes
        return _rebuild_withheld, (type(self), self.args, dict(self.__dict__))


def _rebuild_withheld(kind: type, args: tuple, state: dict) -> OutputsWithheld:
    error = kind.__new__(kind)
    error.args = args
    error.__dict__.update(state)
    return error


# --------------------------------------------------------------------------------------------
# Rules for --out
# --------------------------------------------------------------------------------------------


def check_out_dir(out_dir: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """The output folder, resolved, or a one-sentence refusal.

    Refused: a folder that is, or contains, one of ``inputs`` (a run would put its outputs
    among the files it reads, and a mistake there could cost the only copy of an export), and
    a path that exists but is not a folder.
    """
    out = Path(os.path.abspath(Path(out_dir).expanduser()))
    resolved = out.resolve()
    for given in inputs:
        if not given:
            continue
        source = Path(given).expanduser().resolve()
        if source == resolved or resolved in source.parents:
            what = "is" if source == resolved else "contains"
            raise OutputFolderError(
                f"The output folder '{out_dir}' {what} the input '{Path(given).name}'; "
                "choose an --out folder of its own, outside the folders holding your data."
            )
    if os.path.lexists(resolved) and not resolved.is_dir():
        raise OutputFolderError(f"'{out_dir}' is a file, not a folder; give --out a folder name.")
    return resolved


def machine_folders(*paths: str | os.PathLike | None) -> list[str]:
    """Absolute folders of this computer that no output may name.

    The home folder, Python's and this package's folders, and the folders of ``paths`` (the
    inputs, the output folder), as given and as resolved. One-level folders (``/tmp``) are too
    common a text to look for.
    """
    found = {str(Path.home()), sys.prefix, sys.base_prefix, str(Path(__file__).resolve().parents[2])}
    for path in filter(None, paths):
        given = Path(path).expanduser()
        for form in (given.absolute(), given.resolve()):
            found.add(str(form if form.is_dir() else form.parent))
    return sorted(f for f in found if len(Path(f).parts) >= 3)


# --------------------------------------------------------------------------------------------
# Lock
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder/.escalation-review.lock`` for the block, or refuse at once if another run does.

    The lock is an ``flock`` on the file, so a killed run never leaves a folder locked. The
    file is removed when the block ends; a lock taken on a file that was removed meanwhile is
    retried on the new one.
    """
    path = folder / LOCK_NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OutputFolderError(
                    f"'{path}' is a link; escalation-review never writes through links: remove it."
                ) from None
            raise
        try:
            _lock(fd)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise OutputFolderError(
                f"Another escalation-review run is writing into '{folder}'{holder}; "
                "wait for it to finish, or choose another --out folder."
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:  # the file we locked must still be the one at the path
            same = os.path.samestat(os.fstat(fd), os.lstat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {dt.datetime.now():%d/%m/%Y %H:%M}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: lock the first byte
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            raise BlockingIOError from None
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid, _, since = os.pread(fd, 100, 0).decode("ascii").strip().partition(" ")
        if pid.isdigit():
            return f" (process {pid}, since {since})"
    return ""


# --------------------------------------------------------------------------------------------
# Staging and publishing
# --------------------------------------------------------------------------------------------


@dataclass
class Staging:
    """A run's private staging folder inside ``out``, and what publishing it would replace.

    Attributes
    ----------
    out : Path
        The output folder (resolved).
    folder : Path
        Where the run writes; everything in it is the run's manifest.
    report : str
        Names this report in the folder's record (e.g. ``"report"`` or ``"summary:q3.json"``),
        so a later run of the same report replaces, and tidies, only its own earlier files.
    private : bool
        Internal audience: files 0600, folders 0700.
    renames : dict
        Staged file (relative to ``folder``) -> published name (relative to ``out``) when they
        differ (a summary named by the user).
    """

    out: Path
    folder: Path
    report: str
    private: bool
    renames: dict[str, str] = field(default_factory=dict)
    published: dict[str, Path] = field(default_factory=dict)

    def manifest(self) -> list[str]:
        """The files this run wrote (relative POSIX paths, sorted); refuses links and devices."""
        names = []
        for root, dirs, files in os.walk(self.folder):
            for name in sorted(dirs + files):
                path = Path(root, name)
                info = path.lstat()
                relative = path.relative_to(self.folder).as_posix()
                if stat.S_ISDIR(info.st_mode):
                    continue
                if not stat.S_ISREG(info.st_mode):
                    raise OutputFolderError(
                        f"The report wrote '{relative}', which is not a plain file (a link or a device); "
                        "nothing was published."
                    )
                names.append(relative)
        return sorted(names)

    def target(self, name: str) -> str:
        """Where a staged file is published, relative to ``out``."""
        return self.renames.get(name, name)

    def check_targets(self, names: Iterable[str]) -> dict[str, dict]:
        """Refuse to replace what escalation-review did not publish; return the folder's record.

        Every existing file a name would replace must be listed in the record with the same
        SHA-256 (published by an earlier run and unchanged since); no folder or file on the
        way may be a link.
        """
        record = _read_record(self.out)
        known = record.get("files", {})
        for name in names:
            parts = PurePosixPath(name).parts
            where = self.out
            for part in parts[:-1]:
                where = where / part
                if os.path.islink(where) or (os.path.lexists(where) and not where.is_dir()):
                    raise OutputFolderError(
                        f"'{where}' is a link or a file where the report's folder '{part}' goes; "
                        "escalation-review never writes through links: move it away or choose another --out."
                    )
            target = self.out / name
            if not os.path.lexists(target):
                continue
            if os.path.islink(target) or not target.is_file():
                raise OutputFolderError(
                    f"'{target}' is a link or not a plain file; escalation-review never writes through "
                    "links or replaces what it did not write: move it away or choose another --out."
                )
            entry = known.get(name)
            if entry is None or entry.get("sha256") != _sha256(target):
                raise OutputFolderError(
                    f"'{target}' was not written by escalation-review, or was changed since; it is never "
                    "replaced: move it away, or choose another --out folder."
                )
        return record

    def publish(self, names: list[str] | None = None) -> dict[str, Path]:
        """Move the manifest into ``out`` by renaming; update the record; return staged -> published."""
        names = self.manifest() if names is None else names
        record = self.check_targets([self.target(n) for n in names])
        mode = 0o600 if self.private else 0o666 & ~_umask()
        hashes = {}
        for name in names:
            staged = self.folder / name
            os.chmod(staged, mode, follow_symlinks=False)
            hashes[self.target(name)] = _sha256(staged)
        files = dict(record.get("files", {}))
        stale = [
            n for n, entry in files.items()
            if entry.get("report") == self.report and n not in hashes
            and _unchanged(self.out / n, entry.get("sha256"))
        ]
        now = dt.datetime.now().isoformat(timespec="seconds")
        for name in stale:
            files.pop(name)
        files.update({n: {"sha256": h, "report": self.report, "published": now} for n, h in hashes.items()})
        record_staged = self.folder.parent / f"{self.folder.name}.record"
        record_staged.write_text(json.dumps({"files": files}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.chmod(record_staged, mode)
        with _signals_held():
            for name in names:
                target = self.target(name)
                parent = self._make_parents(PurePosixPath(target).parent)
                os.replace(self.folder / name, parent / PurePosixPath(target).name)
                self.published[name] = self.out / target
            for name in stale:
                with contextlib.suppress(FileNotFoundError):
                    (self.out / name).unlink()
            os.replace(record_staged, self.out / RECORD_NAME)
        logger.info("Published %d file(s) into %s", len(names), self.out)
        return dict(self.published)

    def _make_parents(self, relative: PurePosixPath) -> Path:
        where = self.out
        for part in relative.parts:
            where = where / part
            try:
                os.mkdir(where, 0o700 if self.private else 0o777)
            except FileExistsError:
                if os.path.islink(where) or not where.is_dir():  # checked before, but not trusted
                    raise OutputFolderError(f"'{where}' is a link or a file; nothing more was published.") from None
        return where

    def withhold(self) -> Path:
        """Keep the staged outputs for inspection in ``out/withheld-<time>`` (0700, files 0600)."""
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        for n in range(100):
            kept = self.out / f"{WITHHELD_PREFIX}{stamp}{'' if n == 0 else f'-{n}'}"
            if not os.path.lexists(kept):
                break
        for root, dirs, files in os.walk(self.folder):
            for name in dirs:
                os.chmod(Path(root, name), 0o700, follow_symlinks=False)
            for name in files:
                with contextlib.suppress(NotImplementedError, OSError):
                    os.chmod(Path(root, name), 0o600, follow_symlinks=False)
        os.rename(self.folder, kept)
        os.chmod(kept, 0o700)
        return kept


@contextlib.contextmanager
def staged_outputs(
    out_dir: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike | None] = (),
    private: bool = False,
    report: str = "report",
    expected: Iterable[str] = (),
) -> Iterator[Staging]:
    """Lock ``out_dir`` and give the run a private staging folder inside it.

    Leaving the block normally does not publish: call :meth:`Staging.publish`. Leaving it with
    an :class:`OutputsWithheld` error keeps the staged outputs in a ``withheld-...`` folder
    (the error then says where); leaving it any other way (a failure, Ctrl-C, a full disk)
    removes them. ``expected`` names files the run will publish, checked against the folder's
    rules before any work is done.
    """
    out = check_out_dir(out_dir, inputs)
    out.mkdir(mode=0o700 if private else 0o777, parents=True, exist_ok=True)
    with folder_lock(out):
        _remove_abandoned_staging(out)
        folder = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
        staging = Staging(out, folder, report, private)
        try:
            staging.check_targets(expected)
            yield staging
        except OutputsWithheld as exc:
            if any(folder.iterdir()):
                exc.keep(staging.withhold())
            raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            Path(f"{folder}.record").unlink(missing_ok=True)


def _remove_abandoned_staging(out: Path) -> None:
    """Staging folders left by a run that was killed (we hold the lock, so none is in use)."""
    for entry in out.iterdir():
        if entry.name.startswith(STAGING_PREFIX) and not entry.is_symlink():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.endswith(".record"):
                entry.unlink(missing_ok=True)


def _read_record(out: Path) -> dict:
    path = out / RECORD_NAME
    if os.path.islink(path):
        raise OutputFolderError(f"'{path}' is a link; escalation-review never writes through links: remove it.")
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        logger.warning("The record of published files in %s cannot be read; treating the folder as new.", out)
        return {}
    return record if isinstance(record, dict) and isinstance(record.get("files", {}), dict) else {}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unchanged(path: Path, sha256: str | None) -> bool:
    """True for a plain file (not a link) whose content still has this SHA-256."""
    try:
        return not path.is_symlink() and path.is_file() and _sha256(path) == sha256
    except OSError:
        return False


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and termination back while files are renamed into place (milliseconds)."""
    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
