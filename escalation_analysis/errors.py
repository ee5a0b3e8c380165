"""Errors a user can act on.

Every error raised for bad input is an :class:`EscalationAnalysisError` whose message is one
plain-English sentence saying what to fix. The command line prints that sentence and exits
with the error's ``exit_code``; it never shows a traceback.

The sentence is one line whatever it quotes: a column name, a file name or a cell from the
export may hold a line break (a spreadsheet header cell often does), and it is shown escaped
(``'Incident\\nDate'``), as it would be written in the mapping profile.
"""

from __future__ import annotations

_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}
"""Every character ``str.splitlines`` breaks a line at, and how it is written escaped."""


def one_line(text: str) -> str:
    """``text`` with each line break written as its escape (``\\n``), so it prints as one line."""
    return text.translate(_LINE_BREAKS)


class EscalationAnalysisError(Exception):
    """Base class: a problem with the user's files or settings, not a bug."""

    exit_code: int = 2

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(one_line(str(message)), *args)


class ExportError(EscalationAnalysisError):
    """The export file cannot be read as a table (missing, empty, wrong format)."""


class MappingError(EscalationAnalysisError):
    """The mapping profile is invalid or does not fit the export."""


class PathwayError(EscalationAnalysisError):
    """The pathway definition is invalid."""


class NothingUsableError(EscalationAnalysisError):
    """Every row of the export was excluded, so there is nothing to analyse."""

    exit_code = 1
