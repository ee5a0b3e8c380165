"""Running one report notebook into a published, checked report: :func:`run_report`.

For each report the runner

1. checks the parameters against the notebook's ``parameters`` cell
   (:mod:`~escalation_analysis.publish.parameters`), so a value can never become code;
2. locks the output folder and opens a private staging folder in it
   (:mod:`~escalation_analysis.publish.outputs`);
3. executes the notebook with papermill (:mod:`~escalation_analysis.publish.papermill_engine`)
   in a fresh kernel running this Python (:mod:`~escalation_analysis.publish.kernels`), in a
   private working folder that links the input files under their names, so the executed
   notebook names files, never the folders of this computer;
4. exports ``report.html`` (:mod:`~escalation_analysis.publish.html_export`) and prints
   ``report.pdf`` if a browser is installed (:mod:`~escalation_analysis.publish.pdf_printing`);
5. runs the caller's ``before_publish`` step (a review's summary and privacy gate) on the
   staged files, and only then moves them into the output folder.

If a cell fails, the executed notebook (with the error in it) is kept for inspection and
nothing is published. Logging records stages, timings, file names, parameter *names* and
counts; never parameter values or notebook output, which may hold incident data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .html_export import check_report_html, export_html, report_title
from .kernels import _current_interpreter_kernel_manager_class
from .outputs import Staging, machine_folders, staged_outputs
from .papermill_engine import hiding_folders, papermill_engine
from .parameters import OUTPUT_DIR_PARAMETER, check_declared_parameters, notebook_parameters, papermill_path
from .pdf_printing import NO_BROWSER_NOTE, find_browser, print_report_pdf
from .report_errors import ReportError, ReportExecutionError

__all__ = ["HTML_NAME", "NOTEBOOK_NAME", "PDF_NAME", "ReportResult", "run_report"]

logger = logging.getLogger(__name__)


HTML_NAME = "report.html"


PDF_NAME = "report.pdf"


NOTEBOOK_NAME = "report.ipynb"


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
        Seconds spent per stage: ``execute`` (kernel start and cells), ``html``, ``pdf``,
        ``publish`` (the caller's ``before_publish``, e.g. summary and privacy gate, then moving
        the files into place) and ``total``.
    """

    notebook: Path
    out_dir: Path
    executed_notebook: Path
    html: Path
    pdf: Path | None
    pdf_note: str | None
    figures: int
    timings: dict[str, float] = field(default_factory=dict)


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
    files_parameter: str | None = None,
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
    files_parameter : str, optional
        Give the notebook the input files' names as one mapping in this parameter (the review
        notebooks' ``inputs``) rather than one parameter per file.
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
    if files_parameter:  # checked as names now, filled in below
        params[files_parameter] = {}
    else:
        params.update({name: "" for name in files})
    params = check_declared_parameters(notebook, params, declared) if params else {}
    browser = find_browser() if pdf else None

    with (
        staged_outputs(out_dir, inputs=files.values(), private=private, report=report,
                       expected=[NOTEBOOK_NAME, HTML_NAME, PDF_NAME]) as staging,
        _working_folder(files, staging.folder) as (work, names),
    ):
        params.update({files_parameter: names} if files_parameter else names)
        if OUTPUT_DIR_PARAMETER in declared and OUTPUT_DIR_PARAMETER not in params:
            params[OUTPUT_DIR_PARAMETER] = _OUTPUT_LINK
        staged = _execute_and_export(
            notebook, staging.folder, params, work=work, kernel_name=kernel_name, browser=browser,
            pdf=pdf, progress=progress, title=title, cell_timeout=cell_timeout,
            hidden=(str(staging.folder), str(work), *machine_folders(*files.values(), staging.out)),
        )
        finishing = time.perf_counter()
        if before_publish is not None:
            before_publish(staged, staging)
        published = staging.publish()
        finished = time.perf_counter() - finishing
    timings = dict(staged.timings, publish=finished, total=time.perf_counter() - started)
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
    try:
        with hiding_folders(hidden):
            executed = papermill.execute_notebook(
                papermill_path(notebook),
                papermill_path(executed_path),
                parameters=params or None,
                engine_name=papermill_engine(),
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
        logger.error(
            "%s failed in cell %s with %s after %.1f s",
            notebook.name,
            number,
            exc.ename,
            time.perf_counter() - t0,
        )
        raise ReportExecutionError(
            cell_failure(notebook.name, where, exc.ename, exc.evalue) + " No report was published.",
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
    timings["execute"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    page_title = title or report_title(source_nb, notebook.stem)
    body, dropped = export_html(executed, title=page_title, source_name=notebook.name)
    if dropped:  # warnings the command has shown already (a pathway with TODOs): kept for developers only
        logger.info(
            "%d stderr output(s) left out of %s; they are in %s",
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
                print_report_pdf(html_path, pdf_path, browser)
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


def cell_failure(notebook: str, where: str, error: str, detail: object) -> str:
    """'x.ipynb failed in cell 3: ValueError: what it said.' as one sentence, one full stop."""
    text = " ".join(str(detail or "").split())
    if len(text) > 200:
        text = text[:197] + "..."  # cut short: the ellipsis ends the sentence
    elif text:
        text = text.rstrip(".") + "."
    return f"{notebook} failed in {where}: {error}" + (f": {text}" if text else ".")
