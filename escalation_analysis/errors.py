"""Errors a user can act on.

Every error raised for bad input is an :class:`EscalationAnalysisError` whose message is one
plain-English sentence saying what to fix. The command line prints that sentence and exits
with the error's ``exit_code``; it never shows a traceback.
"""

from __future__ import annotations


class EscalationAnalysisError(Exception):
    """Base class: a problem with the user's files or settings, not a bug."""

    exit_code: int = 2


class ExportError(EscalationAnalysisError):
    """The export file cannot be read as a table (missing, empty, wrong format)."""


class MappingError(EscalationAnalysisError):
    """The mapping profile is invalid or does not fit the export."""


class PathwayError(EscalationAnalysisError):
    """The pathway definition is invalid."""


class NothingUsableError(EscalationAnalysisError):
    """Every row of the export was excluded, so there is nothing to analyse."""

    exit_code = 1
