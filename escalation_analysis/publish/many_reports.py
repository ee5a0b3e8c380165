"""Running several reports at once, in worker processes: :func:`run_reports`.

It spends as little as it can around the notebooks themselves: each kernel is forked from one
process that has already imported ipykernel, pandas and the analysis modules (a "warm" kernel,
:mod:`~escalation_analysis.publish.kernels`: still a process of its own, started afresh for its
report), each worker process keeps one headless browser for all the PDFs it prints (started
while the worker waits for its first kernel), and a job's ``before_publish`` step (a review's
summary and privacy gate) runs right after its report is made, before it is published (a
review's in a fork of the kernel template, which has its analysis already). Ctrl-C stops every
worker; each discards the report it was making, so no output folder changes.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import EscalationAnalysisError
from ..ingest.inputs import KEPT_EXPORTS
from .kernels import _using_warm_kernels, _warm_kernels, process_alive, read_export, warm_template_with
from .one_report import ReportResult, run_report
from .outputs import Staging
from .parameters import check_parameters
from .pdf_printing import close_kept_browsers, keeping_browser, start_kept_browser
from .report_errors import ReportError, ReportsFailedError

__all__ = ["ReportJob", "run_alone", "run_reports"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportJob:
    """One report for :func:`run_reports` (the arguments of :func:`run_report`).

    ``before_publish``, if given, is called as ``before_publish(result, staging)`` in the
    process that made the report, before anything is published: ``result`` describes the files
    in the private staging folder (``staging.folder``), where it may write more (a summary) and
    check them all (the privacy gate), so that work runs in parallel too. An error it raises
    fails the job and publishes nothing. It must be picklable (a module-level function or an
    instance of a module-level class). The worker processes import its module, and the modules
    named in its ``preload`` attribute if it has one, before they start. If it has methods
    ``kernel_needs()`` and ``warm_later()``, the kernel template makes what they ask for before it forks the kernels
    (see :func:`_warm_template_for`). ``input_files``, ``files_parameter``, ``private`` and ``report``
    are as in :func:`run_report`.
    """

    notebook_path: str | os.PathLike
    out_dir: str | os.PathLike
    parameters: Mapping[str, Any] = field(default_factory=dict)
    kernel_name: str | None = None
    pdf: bool = True
    title: str | None = None
    cell_timeout: int | None = 900
    input_files: Mapping[str, str | os.PathLike | None] = field(default_factory=dict)
    files_parameter: str | None = None
    private: bool = False
    report: str = "report"
    before_publish: Callable[[ReportResult, Staging], Any] | None = None


def run_reports(
    jobs: Iterable[ReportJob | Mapping[str, Any]],
    max_workers: int = 2,
    progress: bool = True,
    warm_kernels: bool = True,
    start_order: Sequence[int] | None = None,
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
    start_order : sequence of int, optional
        The jobs' positions in the order they are to start (default: as given), e.g. the
        longest first, so that the shorter ones fill in behind them. Results and errors are
        still given in job order.

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
    order = list(range(len(job_list))) if start_order is None else list(start_order)
    if sorted(order) != list(range(len(job_list))):
        raise ValueError("start_order must name every job once, by its position.")
    warm = warm_kernels and sum(job.kernel_name is None for job in job_list) >= 2
    # The kernel template imports while the parameters are checked and the workers start, then
    # reads the export that several reports read, and makes what the jobs' hooks ask it to make
    # (e.g. each review's analysis), before it forks their kernels.
    with _warm_kernels() if warm else contextlib.nullcontext() as address:
        kernel_needs = _warm_template_for(address, job_list, order)
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
                    for i in order:
                        outcomes[i] = _run_job_safely(job_list[i], address, keep_browser, after=kernel_needs[i])
                        bar.update(1)
                finally:
                    close_kept_browsers()
            else:
                preload = sorted({m for job in job_list for m in _hook_modules(job)})
                environ = dict(os.environ)
                context = _process_context(preload)
                with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                    futures = {
                        pool.submit(
                            _run_job_safely, job_list[i], address, keep_browser, environ, os.getpid(),
                            kernel_needs[i],
                        ): i
                        for i in order
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


def run_alone(job: ReportJob | Mapping[str, Any], warm_kernels: bool = True) -> ReportResult:
    """Run one report as :func:`run_reports` runs each, in this process, raising its error as
    :func:`run_report` does.

    Its kernel is forked from a kernel template (see ``warm_kernels`` there), after what the
    job's ``before_publish`` asks the template to make (its period's analysis, its disclosure
    plan), and its finisher runs in a fork of the template too; its PDF is printed by a browser
    started before the kernel. The template and the browser start up on the second core while
    this process and the kernel work on the first. Inside a :func:`~.kernels._warm_kernels`
    block (entered before this process reads and checks the inputs, say) it uses that block's
    template, which has imported meanwhile.
    """
    job = _job(job)
    check_parameters(job.notebook_path, job.parameters)
    warm = warm_kernels and job.kernel_name is None
    with _warm_kernels() if warm else contextlib.nullcontext() as address:
        after = _warm_template_for(address, [job], [0])[0]
        try:
            with _using_warm_kernels(address, after), keeping_browser(bool(job.pdf)):
                if job.pdf:
                    start_kept_browser()
                return _run_job(job)
        finally:
            close_kept_browsers()


def _warm_template_for(address: str | None, jobs: list[ReportJob], order: list[int]) -> list[tuple[str, ...]]:
    """Ask the kernel template to prepare what the jobs' kernels (and hooks) will use; return,
    for each job, the names of the preparations its kernel is to be forked after.

    The template reads at once the exports that two or more jobs read. A job's
    ``before_publish.kernel_needs()``, if it has one, lists what its kernel needs (e.g. the
    analysis of its period, then the disclosure plan of its pages): the template makes them
    while nothing waits, or as soon as the kernel asks for them, and forks the kernel after
    them, so that the kernel inherits them. They are queued step by step in the order the jobs
    start: every job's first step, then every second step, so that a kernel waiting for its
    first step is not kept behind another's last. ``before_publish.warm_later()``, if any, is
    made while no kernel waits.
    """
    needs: list[tuple[str, ...]] = [()] * len(jobs)
    if address is None:
        return needs
    for files in _shared_exports(jobs):
        warm_template_with(address, read_export, files)
    steps: list[tuple[float, int, str, Callable[[], Any]]] = []
    for position, i in enumerate(order):
        hook = jobs[i].before_publish
        if jobs[i].kernel_name is not None or hook is None:
            continue
        kernel_steps = list(hook.kernel_needs()) if callable(getattr(hook, "kernel_needs", None)) else []
        needs[i] = tuple(f"job {i} step {k}" for k in range(len(kernel_steps)))
        steps += [(k, position, name, step) for k, (name, step) in enumerate(zip(needs[i], kernel_steps, strict=True))]
        if callable(getattr(hook, "warm_later", None)):
            steps.append((float("inf"), position, f"job {i} later", hook.warm_later))
    for _, _, name, step in sorted(steps, key=lambda s: s[:2]):
        warm_template_with(address, step, name=name)
    return needs


def _shared_exports(jobs: list[ReportJob]) -> list[dict[str, str]]:
    """The exports (with their mapping and pathway) that two or more of ``jobs`` read, most
    read first, at most :data:`~escalation_analysis.ingest.inputs.KEPT_EXPORTS`: what the kernel template reads for them."""
    counts: dict[tuple[str, str, str], int] = {}
    for job in jobs:
        files = job.input_files or {}
        if job.kernel_name is None and all(files.get(name) for name in ("export", "mapping", "pathway")):
            triple = tuple(str(Path(files[name]).resolve()) for name in ("export", "mapping", "pathway"))
            counts[triple] = counts.get(triple, 0) + 1
    shared = sorted((t for t, n in counts.items() if n >= 2), key=lambda t: -counts[t])[:KEPT_EXPORTS]
    return [dict(zip(("export", "mapping", "pathway"), t, strict=True)) for t in shared]


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
    arguments = {item.name: getattr(job, item.name) for item in fields(job)}  # a job is run_report's arguments
    return run_report(**arguments, progress=False)


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
    after: Sequence[str] = (),
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
            _using_warm_kernels(warm_kernel_address, after),
            keeping_browser(keep_browser),
        ):
            if job.pdf:
                start_kept_browser()
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
