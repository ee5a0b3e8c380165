"""papermill's notebook engine, saving the executed notebook when it matters and naming no folder.

Registered once per process under :data:`ENGINE_NAME`. Besides saving less often than
papermill's own engine, it leaves the folders of this computer out of the executed notebook
(:func:`hide_folders`): papermill's record of the input and output paths becomes file names,
and warnings or tracebacks naming Python's files lose their folders.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import PurePath
from typing import Any

__all__ = ["ENGINE_NAME", "hide_folders", "hiding_folders", "papermill_engine"]

logger = logging.getLogger(__name__)


ENGINE_NAME = "escalation-analysis"

#: jupyter_client's error when a kernel ends before it has answered at all, so before any cell.
KERNEL_DIED_AT_START = "Kernel died before replying to kernel_info"
#: How many kernels a report starts before giving up on that error. The usual cause is
#: momentary: jupyter_client picks a kernel's five TCP ports by asking the system for free ones
#: and letting them go; when another program (another report or kernel starting at the same
#: moment) takes one before the kernel binds it, the kernel stops with "Address already in use".
#: A new kernel gets new ports. No cell has run, so starting again changes nothing else.
KERNEL_START_ATTEMPTS = 3


@functools.cache
def papermill_engine() -> str:
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

        @contextlib.contextmanager
        def not_saving(self) -> Iterator[None]:
            """No save while papermill records a cell starting or completing."""
            self.saving = False
            try:
                yield
            finally:
                self.saving = True

        def cell_start(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
            with self.not_saving():
                super().cell_start(cell, cell_index, **kwargs)

        def cell_complete(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
            with self.not_saving():
                super().cell_complete(cell, cell_index, **kwargs)

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
            hide_folders(nb)
            nb_man = FewerSavesManager(
                nb,
                output_path=output_path,
                progress_bar=progress_bar,
                log_output=log_output,
                autosave_cell_every=autosave_cell_every,
            )
            nb_man.notebook_start()
            try:
                for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
                    try:
                        cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
                        break
                    except RuntimeError as exc:
                        if str(exc) != KERNEL_DIED_AT_START or attempt == KERNEL_START_ATTEMPTS:
                            raise
                        logger.warning("The report's kernel stopped as it started (attempt %d of %d); "
                                       "starting another.", attempt, KERNEL_START_ATTEMPTS)
            except BaseException:
                nb_man.cleanup_pbar()
                hide_folders(nb_man.nb)
                nb_man.notebook_complete()  # saves the partly executed notebook
                raise
            nb_man.cleanup_pbar()
            hide_folders(nb_man.nb)
            # papermill writes the finished notebook (or the one with the failing cell) next.
            nb_man.saving = False
            nb_man.notebook_complete()
            nb_man.saving = True
            return nb_man.nb

    papermill_engines.register(ENGINE_NAME, FewerSavesEngine)
    return ENGINE_NAME


#: Folders of this computer that the executed notebook must not name (see hiding_folders).
_folders_to_hide: tuple[str, ...] = ()


@contextlib.contextmanager
def hiding_folders(folders: Iterable[str]) -> Iterator[None]:
    """While a notebook runs in this process, leave ``folders`` out of its executed notebook."""
    global _folders_to_hide
    previous, _folders_to_hide = _folders_to_hide, tuple(folders)
    try:
        yield
    finally:
        _folders_to_hide = previous


def hide_folders(nb: Any) -> None:
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
