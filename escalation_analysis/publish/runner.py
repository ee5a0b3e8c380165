"""Run a parameterised report notebook and publish it as offline HTML (and PDF).

One runner for every report: the command line and any scripts call :func:`run_report`
(one report) or :func:`run_reports` (several, in parallel processes).

For each report the runner

1. checks the parameters against the notebook's ``parameters`` cell, accepting only plain
   literals (text, numbers, true/false, None, lists of those), so a value can never become code;
2. executes the notebook with papermill in a fresh kernel running this Python interpreter,
   in a private working folder that links the input files under their names, and saves the
   executed notebook (naming files, never the folders of this computer);
3. exports ``report.html`` with the ``offline`` template: no code, no prompts, no CDN
   scripts, plotly.js embedded once (by :func:`escalation_analysis.reviews.display.setup`);
4. prints ``report.pdf`` (A4) with a Chromium-family browser if one is installed.

All of it is written into a private staging folder and published into the output folder
only when complete and checked (:mod:`~escalation_analysis.publish.outputs`). If a cell fails,
the executed notebook (with the error in it) is kept for inspection and nothing is published.

:func:`run_reports` spends as little as it can around the notebooks themselves: each kernel
is forked from one process that has already imported ipykernel, pandas and the analysis
modules (a "warm" kernel: still a process of its own, started afresh for its report), each
worker process keeps one headless browser for all the PDFs it prints, and a job's
``before_publish`` step (a review's summary and privacy gate) runs in the worker right after
its report is made, before it is published.

Notes
-----
Logging goes to ``logging.getLogger(__name__)``. It records stages, timings, file names,
parameter *names* and counts; never parameter values or notebook output, which may hold
incident data.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import copy
import dataclasses
import datetime as _dt
import functools
import json
import logging
import math
import multiprocessing
import numbers
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from escalation_analysis.errors import EscalationAnalysisError
from escalation_analysis.publish.outputs import OutputsWithheld, Staging, machine_folders, staged_outputs
from escalation_analysis.publish.kernels import (
    _current_interpreter_kernel_manager_class,
    _using_warm_kernels,
    _warm_kernels,
    process_alive,
)

__all__ = [
    "BROWSER_ENV_VAR",
    "NO_BROWSER_NOTE",
    "TEMPLATE_DIR",
    "BrowserError",
    "ReportError",
    "ReportExecutionError",
    "ReportJob",
    "ReportOutputError",
    "ReportParameterError",
    "ReportResult",
    "ReportsFailedError",
    "check_report_html",
    "find_browser",
    "print_pdf",
    "run_report",
    "run_reports",
]

logger = logging.getLogger(__name__)

#: Folder holding the nbconvert templates shipped with the package.
TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"
TEMPLATE_NAME = "offline"

#: Environment variable naming the browser used for PDFs (a path or a command name).
BROWSER_ENV_VAR = "ESCALATION_BROWSER"

#: Parameter filled in with the output folder when the notebook declares it.
OUTPUT_DIR_PARAMETER = "output_dir"

HTML_NAME = "report.html"
PDF_NAME = "report.pdf"
NOTEBOOK_NAME = "report.ipynb"

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

# Flags verified in docs/toolchain.md: headless print with a narrow window so plotly sizes
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

#: Virtual time a report's scripts get to draw the charts, and wall-clock seconds to print it.
PDF_BUDGET_MS = 15000
PDF_TIMEOUT = 180

_PLOTLYJS_BANNER = re.compile(r"\*\s*plotly\.js v\d+\.\d+")
_EXTERNAL_RESOURCE = re.compile(
    r"<(?:script|img|iframe|embed|source|audio|video|link|object)\b[^>]*?"
    r"\b(?:src|href|data)\s*=\s*[\"']?\s*(?:https?:)?//",
    re.IGNORECASE,
)
_CODE_MARKUP = re.compile(r'class="[^"]*\b(?:jp-InputArea-editor|cm-editor|jp-InputPrompt)\b')

_ALLOWED_SCALARS = (str, int, float, bool, type(None))


# --------------------------------------------------------------------------------------------
# Errors and results
# --------------------------------------------------------------------------------------------


class ReportError(EscalationAnalysisError):
    """A report could not be produced."""


class ReportParameterError(ReportError):
    """A parameter name is not in the notebook, or a value is not a plain literal."""


class ReportExecutionError(ReportError, OutputsWithheld):
    """A notebook cell failed; the executed notebook, with the error, is kept for inspection.

    Attributes
    ----------
    executed_notebook : pathlib.Path or None
        The executed notebook holding the error output (in the private ``withheld-...``
        folder once the run has ended).
    cell_number : int or None
        1-based position of the failing cell in the source notebook.
    error_name : str or None
        The exception class raised in the notebook, e.g. ``"KeyError"``.
    """

    def __init__(
        self,
        message: str,
        executed_notebook: Path | None = None,
        cell_number: int | None = None,
        error_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.executed_notebook = executed_notebook
        self.cell_number = cell_number
        self.error_name = error_name

    def keep(self, folder: Path) -> None:
        super().keep(folder)
        if self.executed_notebook is not None:
            self.executed_notebook = folder / self.executed_notebook.name


class ReportOutputError(ReportError):
    """The exported HTML would not work offline (e.g. a CDN script, or no plotly.js)."""


class BrowserError(ReportError):
    """The browser named in ``ESCALATION_BROWSER`` cannot be used."""


class ReportsFailedError(ReportError):
    """Some reports in :func:`run_reports` failed; the others were still written.

    Attributes
    ----------
    results : list
        One entry per job, in job order: a :class:`ReportResult`, or the exception.
    """

    def __init__(self, message: str, results: list | None = None) -> None:
        super().__init__(message)
        self.results = results or []


@dataclass(frozen=True)
class ReportResult:
    """What one report run wrote.

    Attributes
    ----------
    notebook : Path
        The source notebook.
    out_dir : Path
        The output folder.
    executed_notebook : Path
        The executed notebook (``report.ipynb``).
    html : Path
        The offline HTML report (``report.html``).
    pdf : Path or None
        The PDF (``report.pdf``), or None when none was made.
    pdf_note : str or None
        When ``pdf`` is None although a PDF was asked for: one plain-English line saying
        why and how to get one.
    figures : int
        Number of charts in the report.
    timings : dict
        Seconds spent per stage: ``execute``, ``html``, ``pdf``, ``total``.
    """

    notebook: Path
    out_dir: Path
    executed_notebook: Path
    html: Path
    pdf: Path | None
    pdf_note: str | None
    figures: int
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportJob:
    """One report for :func:`run_reports` (the arguments of :func:`run_report`).

    ``before_publish``, if given, is called as ``before_publish(result, staging)`` in the
    process that made the report, before anything is published: ``result`` describes the files
    in the private staging folder (``staging.folder``), where it may write more (a summary) and
    check them all (the privacy gate), so that work runs in parallel too. An error it raises
    fails the job and publishes nothing. It must be picklable (a module-level function or an
    instance of a module-level class). The worker processes import its module, and the modules
    named in its ``preload`` attribute if it has one, before they start. ``input_files``,
    ``private`` and ``report`` are as in :func:`run_report`.
    """

    notebook_path: str | os.PathLike
    out_dir: str | os.PathLike
    parameters: Mapping[str, Any] = field(default_factory=dict)
    kernel_name: str | None = None
    pdf: bool = True
    title: str | None = None
    cell_timeout: int | None = 900
    input_files: Mapping[str, str | os.PathLike | None] = field(default_factory=dict)
    private: bool = False
    report: str = "report"
    before_publish: Callable[[ReportResult, Staging], Any] | None = None


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


def _pm_path(path: Path) -> str:
    """A path for papermill, which runs ``str.format(**parameters)`` on every path."""
    return str(path).replace("{", "{{").replace("}", "}}")


def _plain_value(name: str, value: Any, *, in_list: bool = False) -> Any:
    """Return ``value`` as an exact str/int/float/bool/None (or list of them), or raise."""
    kind = type(value)
    if kind in _ALLOWED_SCALARS:
        if kind is float and not math.isfinite(value):
            raise ReportParameterError(
                f"Parameter {name!r} is not a finite number; use a number, or None for no value."
            )
        return value
    # Harmless conveniences, converted to exact built-in types so that nothing but a plain
    # literal is ever written into the notebook.
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
        return bool(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real):
        return _plain_value(name, float(value))
    if isinstance(value, (list, tuple)) and not in_list:
        return [_plain_value(name, item, in_list=True) for item in value]
    what = (
        "a list inside a list" if in_list and isinstance(value, (list, tuple)) else kind.__name__
    )
    raise ReportParameterError(
        f"Parameter {name!r} must be text, a number, true/false, None or a list of those, "
        f"not {what}."
    )


def notebook_parameters(notebook_path: str | os.PathLike) -> dict[str, dict]:
    """Return the parameters declared in a notebook's ``parameters`` cell.

    Parameters
    ----------
    notebook_path : str or path
        The notebook.

    Returns
    -------
    dict
        ``{name: {"name", "inferred_type_name", "default", "help"}}`` as papermill reports it;
        empty when the notebook has no cell tagged ``parameters``.
    """
    import papermill

    path = Path(notebook_path).resolve()
    if not path.is_file():
        raise ReportError(f"The report notebook {path} does not exist.")
    return papermill.inspect_notebook(_pm_path(path))


def check_parameters(
    notebook_path: str | os.PathLike, parameters: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Check parameter names against the notebook and values against the allowed literals.

    Parameters
    ----------
    notebook_path : str or path
        The notebook whose ``parameters`` cell declares the accepted names.
    parameters : mapping
        Names to values. Values must be str, int, float, bool, None or a list of those.
        ``pathlib`` paths and dates are converted to text; numpy numbers to Python numbers.

    Returns
    -------
    dict
        The parameters, as exact built-in types.

    Raises
    ------
    ReportParameterError
        For an unknown name or a value of another type. The message names the parameter,
        never its value.
    """
    parameters = dict(parameters or {})
    if not parameters:
        return {}
    return _check_parameters(Path(notebook_path), parameters, notebook_parameters(notebook_path))


def _check_parameters(
    path: Path, parameters: dict[str, Any], declared: Mapping[str, Any]
) -> dict[str, Any]:
    for name in parameters:
        if not isinstance(name, str) or not name.isidentifier():
            raise ReportParameterError(f"{name!r} is not a valid parameter name.")
    if not declared:
        raise ReportParameterError(
            f"{path.name} has no cell tagged 'parameters', so it takes no parameters "
            f"(given: {', '.join(sorted(parameters))})."
        )
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ReportParameterError(
            f"{path.name} has no parameter named {', '.join(repr(n) for n in unknown)}; "
            f"it accepts: {', '.join(sorted(declared))}."
        )
    return {name: _plain_value(name, value) for name, value in parameters.items()}


# --------------------------------------------------------------------------------------------
# Papermill engine: save the executed notebook when it matters, not around every cell
# --------------------------------------------------------------------------------------------

ENGINE_NAME = "escalation-analysis"


@functools.cache
def _papermill_engine() -> str:
    """Register (once) papermill's nbclient engine with fewer saves; return its name.

    The standard engine writes the whole executed notebook (with the embedded plotly.js, about
    5 MB) before and after every cell: some 60 writes and a second of work per report. This one
    writes it when execution starts, during a cell that runs for long (papermill's autosave),
    and when execution ends *however it ends*: papermill then writes the finished notebook, or
    the notebook with the failing cell's error; after a timeout or a dead kernel this engine
    saves the partly executed notebook itself before the error propagates.
    """
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class FewerSavesManager(NotebookExecutionManager):
        saving = True

        def save(self, **kwargs: Any) -> None:
            if self.saving:
                super().save(**kwargs)

        def cell_start(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
            self.saving = False
            try:
                super().cell_start(cell, cell_index, **kwargs)
            finally:
                self.saving = True

        def cell_complete(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
            self.saving = False
            try:
                super().cell_complete(cell, cell_index, **kwargs)
            finally:
                self.saving = True

    class FewerSavesEngine(NBClientEngine):
        @classmethod
        def execute_notebook(
            cls,
            nb: Any,
            kernel_name: str,
            output_path: str | None = None,
            progress_bar: bool = True,
            log_output: bool = False,
            autosave_cell_every: int = 30,
            **kwargs: Any,
        ) -> Any:
            _hide_folders(nb)
            nb_man = FewerSavesManager(
                nb,
                output_path=output_path,
                progress_bar=progress_bar,
                log_output=log_output,
                autosave_cell_every=autosave_cell_every,
            )
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            except BaseException:
                nb_man.cleanup_pbar()
                _hide_folders(nb_man.nb)
                nb_man.notebook_complete()  # saves the partly executed notebook
                raise
            nb_man.cleanup_pbar()
            _hide_folders(nb_man.nb)
            # papermill writes the finished notebook (or the one with the failing cell) next.
            nb_man.saving = False
            nb_man.notebook_complete()
            nb_man.saving = True
            return nb_man.nb

    papermill_engines.register(ENGINE_NAME, FewerSavesEngine)
    return ENGINE_NAME


#: Folders of this computer that the executed notebook must not name (set per report).
_folders_to_hide: tuple[str, ...] = ()


def _hide_folders(nb: Any) -> None:
    """Leave the folders of this computer out of an executed notebook.

    papermill records the notebook's and the output's paths: they become file names. Warnings
    and tracebacks name the files of Python packages: their folders become ``…``.
    """
    meta = nb.metadata.get("papermill", {})
    for name in ("input_path", "output_path"):
        if isinstance(meta.get(name), str):
            meta[name] = PurePath(meta[name]).name
    folders = sorted(_folders_to_hide, key=len, reverse=True)
    if not folders:
        return

    def hide(text: str) -> str:
        for folder in folders:
            if folder in text:
                text = text.replace(folder + os.sep, "…" + os.sep).replace(folder, "…")
        return text

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = hide("".join(output["text"]))
            if "traceback" in output:
                output["traceback"] = [hide(line) for line in output["traceback"]]
            if "evalue" in output:
                output["evalue"] = hide(output["evalue"])
            plain = output.get("data", {}).get("text/plain")
            if plain is not None:
                output["data"]["text/plain"] = hide("".join(plain))


# --------------------------------------------------------------------------------------------
# Browser and PDF
# --------------------------------------------------------------------------------------------


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

#: The browser kept open in this process while it prints several reports (see _print_pdf).
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
            printed = self._call(
                "Page.printToPDF",
                {
                    "displayHeaderFooter": False,
                    "generateTaggedPDF": True,
                    "printBackground": True,
                    "preferCSSPageSize": True,
                },
                deadline,
                session,
            )
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


def _close_kept_browsers() -> None:
    while _kept_browsers:
        _kept_browsers.popitem()[1].close()


@functools.cache
def _close_kept_browsers_at_exit() -> None:
    """Close the kept browsers when this process ends, a worker process too (which skips
    ``atexit`` but runs multiprocessing's finalizers)."""
    from multiprocessing.util import Finalize

    Finalize(None, _close_kept_browsers, exitpriority=10)


@contextlib.contextmanager
def _keeping_browser(keep: bool) -> Iterator[None]:
    """Inside the block, PDFs printed in this process share one kept browser (if ``keep``)."""
    global _keep_browser
    previous, _keep_browser = _keep_browser, keep
    try:
        yield
    finally:
        _keep_browser = previous


def _print_pdf(html_path: Path, pdf_path: Path, browser: str) -> None:
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


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def check_report_html(html: str) -> int:
    """Check that a report's HTML will work offline, and count its charts.

    Checks: plotly.js is embedded at most once, and before the first chart when there
    are charts; nothing is loaded from another site (``<script src="https://...">``,
    images, stylesheets, frames); no code cells are shown.

    Parameters
    ----------
    html : str
        The report HTML.

    Returns
    -------
    int
        The number of plotly charts (``Plotly.newPlot`` calls).

    Raises
    ------
    ReportOutputError
        Naming every problem found.
    """
    problems = []
    bundles = [m.start() for m in _PLOTLYJS_BANNER.finditer(html)]
    charts = [m.start() for m in re.finditer(r"Plotly\.newPlot\(", html)]
    if len(bundles) > 1:
        problems.append(
            f"plotly.js is embedded {len(bundles)} times (show figures with "
            "escalation_analysis.reviews.display.show, which does not repeat it)"
        )
    if charts and not bundles:
        problems.append(
            "the report has charts but no plotly.js (call escalation_analysis.reviews.display.setup() "
            "in the first code cell and keep its output)"
        )
    elif charts and bundles and bundles[0] > charts[0]:
        problems.append("plotly.js comes after the first chart, which would stay blank")
    external = sorted({m.group(0)[:80] for m in _EXTERNAL_RESOURCE.finditer(html)})
    if external:
        problems.append(
            "it loads files from the network, which fails offline: " + "; ".join(external[:5])
        )
    if _CODE_MARKUP.search(html):
        problems.append("it shows code cells")
    if problems:
        raise ReportOutputError(
            "The HTML report is not fit to publish: " + "; ".join(problems) + "."
        )
    return len(charts)


def _report_title(nb: Any, fallback: str) -> str:
    title = nb.metadata.get("title")
    if title:
        return str(title)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            match = re.match(r"^#\s+(.+?)\s*#*\s*$", line)
            if match:
                return re.sub(r"[*_`]", "", match.group(1))
    return fallback


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("escalation-analysis")
    except Exception:
        return "unknown version"


def _export_html(nb: Any, *, title: str, source_name: str) -> tuple[str, int]:
    """Export the executed notebook to offline HTML; return it with the stderr count."""
    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)
    dropped = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                dropped += 1
            else:
                kept.append(output)
        cell.outputs = kept
    nb.metadata["title"] = title
    version = _package_version()
    now = _dt.datetime.now()
    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    resources = {
        "metadata": {"name": title},
        "escalation": {
            "generator": f"escalation-analysis {version}",
            "footer": (
                f"Produced on {now.day} {now:%B %Y} at {now:%H:%M} by escalation-analysis "
                f"{version} from {source_name}."
            ),
        },
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body, dropped


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def _source_cell(source_nb: Any, failed_source: str | None, executed_index: int | None):
    """Return (1-based number, first line) of the failing cell in the source notebook."""
    cells = source_nb.cells
    if failed_source is not None:
        for number, cell in enumerate(cells, start=1):
            if cell.cell_type == "code" and cell.source == failed_source:
                return number, _first_line(cell.source)
    if executed_index is not None:
        return executed_index + 1, None
    return None, None


def _first_line(source: str) -> str | None:
    for line in source.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line if len(line) <= 70 else line[:67] + "..."
    return None


def run_report(
    notebook_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    parameters: Mapping[str, Any] | None = None,
    *,
    kernel_name: str | None = None,
    pdf: bool = True,
    progress: bool = False,
    title: str | None = None,
    cell_timeout: int | None = 900,
    input_files: Mapping[str, str | os.PathLike | None] | None = None,
    private: bool = False,
    report: str = "report",
    before_publish: Callable[[ReportResult, Staging], Any] | None = None,
) -> ReportResult:
    """Execute a report notebook and publish ``report.html`` (and ``report.pdf``).

    Everything is written into a private staging folder first and moved into ``out_dir`` only
    when it is complete and checked (see :mod:`~escalation_analysis.publish.outputs`): an
    interrupted or failed run leaves ``out_dir`` as it was, and nothing in it that this run did
    not write is ever read, replaced or removed.

    Parameters
    ----------
    notebook_path : str or path
        The report notebook (``.ipynb``).
    out_dir : str or path
        Output folder, created if needed. Receives ``report.ipynb`` (executed),
        ``report.html`` and ``report.pdf``, plus whatever the notebook writes into its
        ``output_dir``.
    parameters : mapping, optional
        Values for names declared in the notebook's ``parameters`` cell: str, int, float,
        bool, None, or lists of those. If the notebook declares ``output_dir`` it is set to
        ``"output"``, a link (in the kernel's working folder) to the staging folder.
    kernel_name : str, optional
        A Jupyter kernelspec name. By default a kernel is started on the Python running this
        function (``sys.executable``), whatever kernelspecs are installed.
    pdf : bool, default True
        Print ``report.pdf`` with a Chromium-family browser (see :func:`find_browser`).
        Without one, the HTML is still written and ``pdf_note`` says how to get one.
    progress : bool, default False
        Show papermill's cell-by-cell progress bar.
    title : str, optional
        Title of the HTML page. Default: the notebook's ``title`` metadata, else its first
        level-1 Markdown heading, else the file name.
    cell_timeout : int or None, default 900
        Seconds any one cell may run; None for no limit.
    input_files : mapping, optional
        Parameters that name files the notebook reads (export, mapping, ...), as paths. The
        kernel runs in a private working folder holding a link to each under its file name,
        and the parameter is given that *name*: the executed notebook never names a folder of
        this computer. ``out_dir`` may not be, or contain, one of them.
    private : bool, default False
        Internal report: folders created 0700, files 0600.
    report : str, default "report"
        Names this report in the output folder's record of what escalation-review published.
    before_publish : callable, optional
        ``before_publish(result, staging)``, called before anything is published (see
        :class:`ReportJob`); an error it raises publishes nothing.

    Returns
    -------
    ReportResult
        With the published paths.

    Raises
    ------
    ReportParameterError
        Unknown parameter names, or values that are not plain literals.
    ReportExecutionError
        A cell failed. The message names the cell; nothing is published, and the executed
        notebook is kept for inspection in a private ``withheld-...`` folder in ``out_dir``.
    ReportOutputError
        The HTML would not work offline (nothing is published).
    BrowserError
        ``ESCALATION_BROWSER`` names nothing that can be run (checked before executing).
    OutputFolderError
        ``out_dir`` holds an input, a link where an output goes, a file escalation-review did
        not write where an output goes, or another run is writing into it.

    Notes
    -----
    Do not call this from several threads at once: papermill changes the process's working
    directory while the notebook runs. :func:`run_reports` runs reports in parallel
    processes instead.
    """
    started = time.perf_counter()
    notebook = Path(notebook_path).resolve()
    if not notebook.is_file():
        raise ReportError(f"The report notebook {notebook.name} does not exist.")
    if notebook.suffix != ".ipynb":
        raise ReportError(f"{notebook.name} is not a .ipynb notebook.")

    declared = notebook_parameters(notebook)
    files = {name: Path(path) for name, path in (input_files or {}).items() if path}
    params = dict(parameters or {})
    params.update({name: "" for name in files})  # checked as names now, filled in below
    params = _check_parameters(notebook, params, declared) if params else {}
    browser = find_browser() if pdf else None

    with (
        staged_outputs(out_dir, inputs=files.values(), private=private, report=report,
                       expected=[NOTEBOOK_NAME, HTML_NAME, PDF_NAME]) as staging,
        _working_folder(files, staging.folder) as (work, names),
    ):
        params.update(names)
        if OUTPUT_DIR_PARAMETER in declared and OUTPUT_DIR_PARAMETER not in params:
            params[OUTPUT_DIR_PARAMETER] = _OUTPUT_LINK
        staged = _execute_and_export(
            notebook, staging.folder, params, work=work, kernel_name=kernel_name, browser=browser,
            pdf=pdf, progress=progress, title=title, cell_timeout=cell_timeout,
            hidden=(str(staging.folder), str(work), *machine_folders(*files.values(), staging.out)),
        )
        if before_publish is not None:
            before_publish(staged, staging)
        published = staging.publish()
    timings = dict(staged.timings, total=time.perf_counter() - started)
    return dataclasses.replace(
        staged,
        out_dir=staging.out,
        executed_notebook=published[NOTEBOOK_NAME],
        html=published[HTML_NAME],
        pdf=published.get(PDF_NAME) if staged.pdf else None,
        timings=timings,
    )


#: The name, in the kernel's working folder, of the link to the staging folder (``output_dir``).
_OUTPUT_LINK = "output"


@contextlib.contextmanager
def _working_folder(files: Mapping[str, Path], output: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A private folder (0700) for the kernel: a link to each input file under its own name,
    and ``output`` to the staging folder; yields it with each parameter's file name.

    Two inputs with the same file name get their parameter's name in front of the second.
    Where links cannot be made (Windows without the right), the file is copied instead.
    """
    folder = Path(tempfile.mkdtemp(prefix="escalation-kernel-"))
    try:
        names: dict[str, str] = {}
        for parameter, path in files.items():
            source = path.expanduser().resolve()
            name = source.name if source.name not in names.values() and source.name != _OUTPUT_LINK else f"{parameter}-{source.name}"
            _link(source, folder / name)
            names[parameter] = name
        _link(output, folder / _OUTPUT_LINK)
        yield folder, names
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _link(source: Path, link: Path) -> None:
    try:
        link.symlink_to(source, target_is_directory=source.is_dir())
    except OSError:
        if source.is_dir():
            raise
        shutil.copyfile(source, link)


def _execute_and_export(
    notebook: Path,
    folder: Path,
    params: dict[str, Any],
    *,
    work: Path,
    kernel_name: str | None,
    browser: str | None,
    pdf: bool,
    progress: bool,
    title: str | None,
    cell_timeout: int | None,
    hidden: Iterable[str],
) -> ReportResult:
    """Run the notebook in ``work``, writing the executed notebook, HTML and PDF into ``folder``."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    global _folders_to_hide
    executed_path = folder / NOTEBOOK_NAME
    html_path = folder / HTML_NAME
    pdf_path = folder / PDF_NAME
    source_nb = nbformat.read(notebook, as_version=4)
    engine_kwargs: dict[str, Any] = {}
    if kernel_name is None:
        engine_kwargs["kernel_manager_class"] = _current_interpreter_kernel_manager_class()
        # Keep ipykernel's routine log lines (e.g. "running over TCP without encryption" on
        # localhost, "KeyboardInterrupt caught in kernel" at shutdown) out of the terminal. A
        # failing cell is still reported, from the executed notebook, with its cell number.
        engine_kwargs["extra_arguments"] = ["--IPKernelApp.log_level=CRITICAL"]
        run_kernel, language = "python3", "python"
    else:
        run_kernel, language = kernel_name, None
    if cell_timeout is not None:
        engine_kwargs["execution_timeout"] = cell_timeout

    logger.info(
        "Running %s (parameters: %s; kernel: %s)",
        notebook.name,
        ", ".join(sorted(params)) or "none",
        kernel_name or "this Python",
    )
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    _folders_to_hide = tuple(hidden)
    try:
        executed = papermill.execute_notebook(
            _pm_path(notebook),
            _pm_path(executed_path),
            parameters=params or None,
            engine_name=_papermill_engine(),
            kernel_name=run_kernel,
            language=language,
            progress_bar=progress,
            log_output=False,
            cwd=str(work),
            **engine_kwargs,
        )
    except PapermillExecutionError as exc:
        if exc.ename == "KeyboardInterrupt":  # Ctrl-C reached the kernel: the run was stopped
            raise KeyboardInterrupt from None
        number, line = _source_cell(source_nb, exc.source, exc.cell_index)
        where = f"cell {number}" if number else "a cell"
        if line:
            where += f" (the code cell starting `{line}`)"
        evalue = " ".join(str(exc.evalue or "").split())
        evalue = evalue if len(evalue) <= 200 else evalue[:197] + "..."
        logger.error(
            "%s failed in cell %s with %s after %.1f s",
            notebook.name,
            number,
            exc.ename,
            time.perf_counter() - t0,
        )
        raise ReportExecutionError(
            f"{notebook.name} failed in {where}: {exc.ename}"
            + (f": {evalue}" if evalue else "")
            + ". No report was published.",
            executed_notebook=executed_path,
            cell_number=number,
            error_name=exc.ename,
        ) from None
    except Exception as exc:  # kernel died, timeout, could not start the kernel, ...
        logger.error("%s could not be run: %s", notebook.name, type(exc).__name__)
        kept = executed_path if executed_path.exists() else None
        raise ReportExecutionError(
            f"{notebook.name} could not be run ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}). No report was published.",
            executed_notebook=kept,
            error_name=type(exc).__name__,
        ) from exc
    finally:
        _folders_to_hide = ()
    timings["execute"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    page_title = title or _report_title(source_nb, notebook.stem)
    body, dropped = _export_html(executed, title=page_title, source_name=notebook.name)
    if dropped:
        logger.warning(
            "%d stderr output(s) (warnings) left out of %s; they are in %s",
            dropped,
            HTML_NAME,
            NOTEBOOK_NAME,
        )
    figures = check_report_html(body)
    html_path.write_text(body, encoding="utf-8")
    timings["html"] = time.perf_counter() - t0
    logger.info("Wrote %s: %d chart(s), %.1f MB", HTML_NAME, figures, len(body.encode("utf-8")) / 1e6)

    pdf_written: Path | None = None
    pdf_note: str | None = None
    if pdf:
        t0 = time.perf_counter()
        if browser is None:
            pdf_note = NO_BROWSER_NOTE
            logger.warning(NO_BROWSER_NOTE)
        else:
            try:
                _print_pdf(html_path, pdf_path, browser)
                pdf_written = pdf_path
                logger.info("Wrote %s with %s", PDF_NAME, Path(browser).name)
            except ReportError as exc:
                pdf_note = (
                    f"No PDF was made: {exc} Open report.html and use Print, then Save as PDF."
                )
                logger.warning(pdf_note)
        timings["pdf"] = time.perf_counter() - t0

    return ReportResult(
        notebook=notebook,
        out_dir=folder,
        executed_notebook=executed_path,
        html=html_path,
        pdf=pdf_written,
        pdf_note=pdf_note,
        figures=figures,
        timings=timings,
    )


def _process_context(preload: Iterable[str] = ()) -> multiprocessing.context.BaseContext:
    """Fresh worker processes: forkserver where there is one (POSIX), else spawn.

    Both start workers without copying this process's threads. The forkserver imports the
    runner (and ``preload``) once and forks each worker from it, which saves each worker the
    imports. Its preload list counts when it starts, at the first :func:`run_reports` of
    this process.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__, "papermill", "nbconvert", *preload])
        return context
    return multiprocessing.get_context("spawn")


def _job(job: ReportJob | Mapping[str, Any]) -> ReportJob:
    if isinstance(job, ReportJob):
        return job
    if isinstance(job, Mapping):
        return ReportJob(**job)
    raise TypeError(f"A report job must be a ReportJob or a mapping, not {type(job).__name__}.")


def _run_job(job: ReportJob) -> ReportResult:
    return run_report(
        job.notebook_path,
        job.out_dir,
        job.parameters,
        kernel_name=job.kernel_name,
        pdf=job.pdf,
        title=job.title,
        progress=False,
        cell_timeout=job.cell_timeout,
        input_files=job.input_files,
        private=job.private,
        report=job.report,
        before_publish=job.before_publish,
    )


@contextlib.contextmanager
def _environment(environ: Mapping[str, str] | None) -> Iterator[None]:
    """Run with the caller's environment variables.

    A worker is forked from the forkserver, which keeps the environment of the moment it
    started (the first :func:`run_reports` of the process); the kernel inherits the worker's.
    """
    if environ is None:
        yield
        return
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@functools.cache
def _end_with(caller: int) -> None:
    """Make this worker process stop within a second of the process that runs the reports.

    A pool worker otherwise waits for more work for ever once that process is killed, with its
    kept browser. It is interrupted as by Ctrl-C, so the report it is making is discarded (its
    staging folder removed), then ends; its browser and kernel follow (the browser when its
    pipe closes, a kernel when its parent or the template goes). SIGTERM (sent by
    :func:`run_reports` when it is stopped) interrupts it the same way.
    """
    import _thread
    import threading

    def watch() -> None:
        while process_alive(caller):
            time.sleep(0.5)
        _thread.interrupt_main()
        time.sleep(10)
        os._exit(1)

    threading.Thread(target=watch, name="escalation-watch-caller", daemon=True).start()
    signal.signal(signal.SIGTERM, _interrupted_by_signal)


def _interrupted_by_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


#: Set in a worker once it has been interrupted: the jobs still queued to it are not started.
_stopping = False


def _run_job_safely(
    job: ReportJob,
    warm_kernel_address: str | None = None,
    keep_browser: bool = False,
    environ: Mapping[str, str] | None = None,
    caller: int | None = None,
) -> ReportResult | EscalationAnalysisError:
    """Worker entry point: return the error instead of raising, so it crosses processes.

    A :class:`ReportError`, or an error a user can act on raised by ``job.before_publish`` (e.g. the
    privacy gate's), comes back as it is; anything else as a :class:`ReportError`.
    """
    global _stopping
    if caller is not None and caller != os.getpid():
        _end_with(caller)
    if _stopping:
        return ReportError("The report was not started: the run was stopped.")
    try:
        with (
            _environment(environ),
            _using_warm_kernels(warm_kernel_address),
            _keeping_browser(keep_browser),
        ):
            return _run_job(job)
    except EscalationAnalysisError as exc:
        return exc
    except KeyboardInterrupt:  # stopped: nothing was published; start nothing more
        _stopping = caller is not None and caller != os.getpid()
        return ReportError("The report was stopped before it was published.")
    except Exception as exc:
        return ReportError(f"{type(exc).__name__}: {exc}")


def _hook_modules(job: ReportJob) -> list[str]:
    """What a job's ``after`` hook imports, for the workers to import in advance.

    That is the module defining it, and the modules in its ``preload`` attribute, if any.
    """
    if job.before_publish is None:
        return []
    module = getattr(job.before_publish, "__module__", None) or type(job.before_publish).__module__
    modules = [module] if module and module != "__main__" else []
    return [*modules, *getattr(job.before_publish, "preload", ())]


def run_reports(
    jobs: Iterable[ReportJob | Mapping[str, Any]],
    max_workers: int = 2,
    progress: bool = True,
    warm_kernels: bool = True,
) -> list[ReportResult]:
    """Run several reports, in parallel processes, each with a fresh kernel.

    Parameters
    ----------
    jobs : iterable of ReportJob or mappings
        One per report; a mapping holds :class:`ReportJob` fields.
    max_workers : int, default 2
        Reports run at the same time (each uses about one core while executing).
    progress : bool, default True
        Show a progress bar of reports completed.
    warm_kernels : bool, default True
        On POSIX, when two or more reports use the default kernel, fork each of their
        kernels from one process that has already imported ipykernel, pandas and the
        analysis modules, instead of starting a new Python and importing them per report
        (about two seconds each). Each report still gets a kernel of its own. Reports
        with a ``kernel_name`` always start that kernelspec the standard way.

    Returns
    -------
    list of ReportResult
        In job order.

    Raises
    ------
    ReportParameterError
        Before anything runs, if any job has bad parameters.
    ReportsFailedError
        After every job has finished, if any failed; ``results`` holds each outcome.
    """
    from tqdm.auto import tqdm

    job_list = [_job(j) for j in jobs]
    out_dirs = [Path(job.out_dir).resolve() for job in job_list]
    repeated = sorted({str(d) for d in out_dirs if out_dirs.count(d) > 1})
    if repeated:
        raise ReportError(
            f"Two reports would write to the same folder ({', '.join(repeated)}); "
            "give each report its own output folder."
        )
    warm = warm_kernels and sum(job.kernel_name is None for job in job_list) >= 2
    # The kernel template imports while the parameters are checked and the workers start.
    with _warm_kernels() if warm else contextlib.nullcontext() as address:
        for job in job_list:
            check_parameters(job.notebook_path, job.parameters)
        outcomes: list[ReportResult | EscalationAnalysisError | None] = [None] * len(job_list)
        if not job_list:
            return []
        workers = max(1, min(int(max_workers), len(job_list)))
        logger.info(
            "Running %d report(s), %d at a time%s",
            len(job_list),
            workers,
            ", in warm kernels" if address else "",
        )
        # Several PDFs: each process keeps one browser open for all it prints.
        keep_browser = sum(bool(job.pdf) for job in job_list) >= 2
        with tqdm(total=len(job_list), desc="Reports", unit="report", disable=not progress) as bar:
            if workers == 1:
                try:
                    for i, job in enumerate(job_list):
                        outcomes[i] = _run_job_safely(job, address, keep_browser)
                        bar.update(1)
                finally:
                    _close_kept_browsers()
            else:
                preload = sorted({m for job in job_list for m in _hook_modules(job)})
                environ = dict(os.environ)
                context = _process_context(preload)
                with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                    futures = {
                        pool.submit(
                            _run_job_safely, job, address, keep_browser, environ, os.getpid()
                        ): i
                        for i, job in enumerate(job_list)
                    }
                    try:
                        for future in cf.as_completed(futures):
                            i = futures[future]
                            try:
                                outcomes[i] = future.result()
                            except Exception as exc:
                                outcomes[i] = ReportError(
                                    "The process running this report stopped "
                                    f"({type(exc).__name__})."
                                )
                            bar.update(1)
                    except BaseException:  # Ctrl-C: stop the workers, which discard their reports
                        workers_running = list((getattr(pool, "_processes", None) or {}).values())
                        pool.shutdown(wait=False, cancel_futures=True)
                        for process in workers_running:
                            with contextlib.suppress(OSError, AttributeError):
                                process.terminate()
                        raise

    failures = [(job, o) for job, o in zip(job_list, outcomes, strict=False) if not isinstance(o, ReportResult)]
    if failures:
        lines = "; ".join(
            f"{Path(job.out_dir).name or job.out_dir}: {err}" for job, err in failures
        )
        raise ReportsFailedError(
            f"{len(failures)} of {len(job_list)} reports failed. {lines}", results=list(outcomes)
        )
    return [o for o in outcomes if isinstance(o, ReportResult)]
