"""Printing a report's HTML to an A4 PDF with a headless Chromium-family browser.

:func:`find_browser` finds Chromium, Chrome or Edge. :func:`print_pdf` starts one for a single
print (``--print-to-pdf``); while a process prints several reports, :func:`print_report_pdf`
keeps one browser open and drives it over its DevTools pipe (:class:`_KeptBrowser`), taking
the same steps with the page options in :data:`PDF_PAGE_OPTIONS`. Page headers and footers
belong there (Chromium's ``displayHeaderFooter`` with ``headerTemplate`` and
``footerTemplate``), which only the DevTools route can print.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .report_errors import BrowserError, ReportError

__all__ = [
    "BROWSER_ENV_VAR",
    "NO_BROWSER_NOTE",
    "PDF_PAGE_OPTIONS",
    "close_kept_browsers",
    "find_browser",
    "keeping_browser",
    "print_pdf",
    "print_report_pdf",
    "start_kept_browser",
]

logger = logging.getLogger(__name__)


#: Environment variable naming the browser used for PDFs (a path or a command name).
BROWSER_ENV_VAR = "ESCALATION_BROWSER"


NO_BROWSER_NOTE = (
    "No PDF was made because no Chrome, Chromium or Edge browser was found: install one "
    f"(or set {BROWSER_ENV_VAR} to its path), or open report.html and use Print, "
    "then Save as PDF."
)


_BROWSER_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "microsoft-edge",
    "microsoft-edge-stable",
    "msedge",
)


# Flags verified on Debian's Chromium (the PDF tests print with them): headless print with a narrow window so plotly sizes
# charts to fit A4, an own profile, nothing fetched in the background.
_BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=700,1000",
    "--no-pdf-header-footer",
    "--print-to-pdf-no-header",
)


#: Chromium's ``Page.printToPDF`` options for every report (the DevTools route): the page's CSS
#: size (A4) and backgrounds, a tagged (accessible) PDF. A running header and footer go here:
#: ``displayHeaderFooter: True`` with ``headerTemplate`` / ``footerTemplate`` (HTML using the
#: classes ``pageNumber``, ``totalPages``, ``title``, ``date``) and ``marginTop`` / ``marginBottom``.
PDF_PAGE_OPTIONS: dict[str, Any] = {
    "displayHeaderFooter": False,
    "generateTaggedPDF": True,
    "printBackground": True,
    "preferCSSPageSize": True,
}

#: Virtual time a report's scripts get to draw the charts, and wall-clock seconds to print it.
PDF_BUDGET_MS = 15000


PDF_TIMEOUT = 180


def _known_browser_paths() -> list[Path]:
    paths: list[Path] = []
    if sys.platform == "win32":
        roots = [os.environ.get(v) for v in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA")]
        for root in filter(None, roots):
            base = Path(root)
            paths += [
                base / "Google" / "Chrome" / "Application" / "chrome.exe",
                base / "Chromium" / "Application" / "chrome.exe",
                base / "Microsoft" / "Edge" / "Application" / "msedge.exe",
            ]
    elif sys.platform == "darwin":
        for app, exe in (
            ("Google Chrome", "Google Chrome"),
            ("Chromium", "Chromium"),
            ("Microsoft Edge", "Microsoft Edge"),
        ):
            for root in (Path("/Applications"), Path.home() / "Applications"):
                paths.append(root / f"{app}.app" / "Contents" / "MacOS" / exe)
    return paths


def find_browser() -> str | None:
    """Find a Chromium-family browser (Chromium, Chrome or Edge) for printing PDFs.

    Looks at ``ESCALATION_BROWSER`` first (a path or a command name), then on ``PATH`` for
    chromium, chromium-browser, google-chrome(-stable), chrome, microsoft-edge(-stable) and
    msedge, then in the usual install folders on Windows and macOS.

    Returns
    -------
    str or None
        The browser's path, or None when there is none.

    Raises
    ------
    BrowserError
        When ``ESCALATION_BROWSER`` is set but names nothing that can be run.
    """
    override = os.environ.get(BROWSER_ENV_VAR, "").strip()
    if override:
        candidate = Path(override).expanduser()
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        found = shutil.which(override)
        if found:
            return found
        raise BrowserError(
            f"{BROWSER_ENV_VAR} is set to {override!r}, but that is not a program that can be "
            "run; set it to the full path of Chrome, Chromium or Edge, or unset it."
        )
    for name in _BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    for path in _known_browser_paths():
        if path.is_file():
            return str(path)
    return None


def print_pdf(
    html_path: str | os.PathLike,
    pdf_path: str | os.PathLike,
    browser: str,
    *,
    budget_ms: int = PDF_BUDGET_MS,
    timeout: float = PDF_TIMEOUT,
) -> None:
    """Print an HTML report to an A4 PDF with a headless Chromium-family browser.

    Parameters
    ----------
    html_path, pdf_path : path
        The report and the PDF to write.
    browser : str
        Path of Chromium, Chrome or Edge (see :func:`find_browser`).
    budget_ms : int, default 15000
        Virtual time the page's scripts get to draw the charts before printing.
    timeout : float, default 180
        Wall-clock seconds before the browser is stopped.

    Raises
    ------
    ReportError
        When the browser fails, times out, or writes no PDF.
    """
    html_path = Path(html_path).resolve()
    pdf_path = Path(pdf_path).resolve()
    pdf_path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="escalation-browser-") as profile:
        command = [
            browser,
            *_BROWSER_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={int(budget_ms)}",
            f"--print-to-pdf={pdf_path}",
            html_path.as_uri(),
        ]
        popen_kwargs: dict[str, Any] = {}
        if os.name == "posix":
            popen_kwargs["start_new_session"] = True
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **popen_kwargs,
        )
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_process(proc)
            raise ReportError(
                f"The browser did not finish printing the PDF within {timeout:.0f} seconds."
            ) from None
    if proc.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] if stderr else []
        detail = f" ({last[0][:200]})" if last else ""
        pdf_path.unlink(missing_ok=True)
        raise ReportError(
            f"The browser exited with code {proc.returncode} without writing a PDF{detail}."
        )
    with pdf_path.open("rb") as fh:
        if fh.read(5) != b"%PDF-":
            pdf_path.unlink(missing_ok=True)
            raise ReportError("The browser wrote a file that is not a PDF.")


def _stop_process(proc: subprocess.Popen) -> None:
    """Stop a browser we started, with the helper processes in its session."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=10)


# Switches that put Chromium in its one-command mode (print, then quit): a browser kept open to
# print several reports gets these settings with each print instead.
_ONE_SHOT_FLAGS = ("--no-pdf-header-footer", "--print-to-pdf-no-header")


#: The browser kept open in this process while it prints several reports (see print_report_pdf).
_kept_browsers: dict[str, _KeptBrowser] = {}


_keep_browser = False


class _BrowserGone(Exception):
    """The kept browser closed its DevTools pipe or answered with an error."""


class _KeptBrowser:
    """A headless browser kept open to print several reports, driven over its DevTools pipe.

    Each print takes the steps Chromium's own ``--print-to-pdf`` takes (its headless command
    handler): a new tab of the window size, load the page, give its scripts the virtual-time
    budget, then ``Page.printToPDF`` with the page's CSS page size and backgrounds, tagged, with
    no header or footer; so the PDF is the same. Starting the browser once per process instead
    of once per report saves about a second of CPU per report, and later pages reuse the
    compiled plotly.js. The browser has a profile of its own, deleted when it closes, and quits
    by itself if this process ends without closing it (its pipe closes).
    """

    def __init__(self, browser: str) -> None:
        import fcntl

        self.profile = tempfile.mkdtemp(prefix="escalation-browser-")
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()
        # The browser reads commands on fd 3 and writes replies on fd 4; numbers >= 10 here
        # keep the two from overwriting each other while they are moved there.
        commands = fcntl.fcntl(to_browser, fcntl.F_DUPFD_CLOEXEC, 10)
        replies = fcntl.fcntl(from_browser, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser)
        os.close(from_browser)
        flags = [flag for flag in _BROWSER_FLAGS if flag not in _ONE_SHOT_FLAGS]
        argv = [browser, *flags, f"--user-data-dir={self.profile}", "--remote-debugging-pipe"]
        try:
            self.pid = os.posix_spawn(
                browser,
                [*argv, "about:blank"],
                dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_DUP2, commands, 3),
                    (os.POSIX_SPAWN_DUP2, replies, 4),
                ],
                setsid=True,  # its helpers share its process group, to be stopped together
            )
        except OSError:
            for fd in (self._write, self._read):
                os.close(fd)
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        finally:
            os.close(commands)
            os.close(replies)
        self._buffer = b""
        self._last_id = 0
        self._events: list[dict] = []
        self.alive = True

    # DevTools protocol: JSON messages, each ended by a NUL byte --------------------------------

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self._read], [], [], left)
            if ready:
                data = os.read(self._read, 1 << 20)
                if not data:
                    raise _BrowserGone("the browser closed its DevTools pipe")
                self._buffer += data
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _call(self, method: str, params: dict | None, deadline: float, session: str | None = None):
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode("utf-8") + b"\0")
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise _BrowserGone(f"{method}: {reply['error'].get('message', 'error')}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def _wait_for(self, session: str, method: str, deadline: float, **params: Any) -> dict:
        def wanted(event: dict) -> bool:
            found = event.get("params", {})
            return (
                event.get("sessionId") == session
                and event.get("method") == method
                and all(found.get(k) == v for k, v in params.items())
            )

        for i, event in enumerate(self._events):
            if wanted(event):
                return self._events.pop(i)
        while True:
            event = self._receive(deadline)
            if wanted(event):
                return event
            if "method" in event:
                self._events.append(event)

    # Printing ----------------------------------------------------------------------------------

    def print_pdf(self, html_path: Path, pdf_path: Path, budget_ms: int, timeout: float) -> None:
        """Print one page; TimeoutError after ``timeout`` s, _BrowserGone if the browser fails."""
        import base64

        deadline = time.monotonic() + timeout
        target = self._call("Target.createTarget", {"url": "about:blank"}, deadline)["targetId"]
        try:
            session = self._call(
                "Target.attachToTarget", {"targetId": target, "flatten": True}, deadline
            )["sessionId"]
            self._call("Page.enable", None, deadline, session)
            self._call("Page.setLifecycleEventsEnabled", {"enabled": True}, deadline, session)
            loaded = self._call("Page.navigate", {"url": html_path.as_uri()}, deadline, session)
            if loaded.get("errorText"):
                raise _BrowserGone(f"the page did not load ({loaded['errorText']})")
            self._wait_for(
                session, "Page.lifecycleEvent", deadline, name="load", frameId=loaded["frameId"]
            )
            self._call(
                "Emulation.setVirtualTimePolicy",
                {
                    "budget": int(budget_ms),
                    "maxVirtualTimeTaskStarvationCount": 9999,
                    "policy": "pauseIfNetworkFetchesPending",
                },
                deadline,
                session,
            )
            self._wait_for(session, "Emulation.virtualTimeBudgetExpired", deadline)
            printed = self._call("Page.printToPDF", dict(PDF_PAGE_OPTIONS), deadline, session)
        finally:
            self._events.clear()
        data = base64.b64decode(printed["data"])
        if not data.startswith(b"%PDF-"):
            raise _BrowserGone("the browser printed something that is not a PDF")
        pdf_path.write_bytes(data)
        self._call("Target.closeTarget", {"targetId": target}, deadline)

    def close(self, *, kill: bool = False) -> None:
        """Quit the browser (kill it, with its helpers, if it does not quit at once)."""
        if not self.alive:
            return
        self.alive = False
        if not kill:
            with contextlib.suppress(_BrowserGone, TimeoutError, OSError, ValueError):
                self._call("Browser.close", None, time.monotonic() + 5)
        for fd in (self._write, self._read):
            with contextlib.suppress(OSError):
                os.close(fd)  # a browser that is still there quits when its pipe closes
        deadline = time.monotonic() + (0 if kill else 10)
        with contextlib.suppress(ChildProcessError):
            while not os.waitpid(self.pid, os.WNOHANG)[0]:
                if time.monotonic() >= deadline:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    break
                time.sleep(0.02)
        shutil.rmtree(self.profile, ignore_errors=True)


def close_kept_browsers() -> None:
    while _kept_browsers:
        _kept_browsers.popitem()[1].close()


@functools.cache
def _close_kept_browsers_at_exit() -> None:
    """Close the kept browsers when this process ends, a worker process too (which skips
    ``atexit`` but runs multiprocessing's finalizers)."""
    from multiprocessing.util import Finalize

    Finalize(None, close_kept_browsers, exitpriority=10)


@contextlib.contextmanager
def keeping_browser(keep: bool) -> Iterator[None]:
    """Inside the block, PDFs printed in this process share one kept browser (if ``keep``)."""
    global _keep_browser
    previous, _keep_browser = _keep_browser, keep
    try:
        yield
    finally:
        _keep_browser = previous


def start_kept_browser() -> None:
    """Start this process's kept browser now, if it keeps one and there is a browser.

    A worker calls this before it waits for its first kernel: the browser starts up (about
    0.7 s of CPU) on a core the analysis leaves idle, instead of on the first print's path.
    Nothing waits for it here; a browser that fails to start is replaced at the first print.
    """
    if not (_keep_browser and os.name == "posix" and hasattr(os, "posix_spawn")):
        return
    with contextlib.suppress(BrowserError, OSError):
        browser = find_browser()
        if browser and browser not in _kept_browsers:
            _kept_browsers[browser] = _KeptBrowser(browser)
            _close_kept_browsers_at_exit()


def print_report_pdf(html_path: Path, pdf_path: Path, browser: str) -> None:
    """:func:`print_pdf`, in the kept browser when this process prints several reports.

    If the kept browser cannot be started or fails, this report is printed the one-shot way
    (and the next one gets a new kept browser).
    """
    usable = _keep_browser and os.name == "posix" and hasattr(os, "posix_spawn")
    if not usable:
        print_pdf(html_path, pdf_path, browser)
        return
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    pdf_path.unlink(missing_ok=True)
    kept = _kept_browsers.get(browser)
    try:
        if kept is None:
            kept = _kept_browsers[browser] = _KeptBrowser(browser)
            _close_kept_browsers_at_exit()
        kept.print_pdf(html_path, pdf_path, budget_ms=PDF_BUDGET_MS, timeout=PDF_TIMEOUT)
    except TimeoutError:
        _kept_browsers.pop(browser).close(kill=True)
        raise ReportError(
            f"The browser did not finish printing the PDF within {PDF_TIMEOUT:.0f} seconds."
        ) from None
    except (_BrowserGone, OSError, ValueError, KeyError) as exc:
        if kept is not None:
            _kept_browsers.pop(browser, None)
            kept.close(kill=True)
        logger.info("The kept browser failed (%s); printing this report the one-shot way", exc)
        print_pdf(html_path, pdf_path, browser)
