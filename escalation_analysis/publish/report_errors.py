"""What can go wrong making a report, as errors a user can act on (one sentence each).

Every runner module raises these; :class:`ReportExecutionError` is also an
:class:`~escalation_analysis.publish.outputs.OutputsWithheld`, so the notebook that failed is
kept for inspection rather than discarded.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EscalationAnalysisError
from .outputs import OutputsWithheld

__all__ = [
    "BrowserError",
    "ReportError",
    "ReportExecutionError",
    "ReportOutputError",
    "ReportParameterError",
    "ReportsFailedError",
]


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
