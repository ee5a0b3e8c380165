"""Layer 3: what each report shows, for its audience.

One module per report kind (:mod:`.near_miss`, :mod:`.contract_monitoring`,
:mod:`.supervision`, :mod:`.pathway`), each with ``build(analysis, audience, **options)``
returning a :class:`~escalation_analysis.reviews.review.Review` and ``summary(analysis, audience,
**options)`` returning the summary that review holds, and the modules they share
(summary, disclosure control, KPIs, narrative, labels, definitions, charts, display).

Notebooks start with :func:`open`; scripts that already hold an analysis use :func:`build`.
A run that publishes several outside reports builds each one's disclosure plan alongside those
of the reports before it (:func:`plans_alongside`).
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .kinds import KINDS, ReviewKind, kind

if TYPE_CHECKING:
    from ..ingest.inputs import InputFiles
    from ..measures.analysis import Analysis
    from .disclosure import DisclosurePlan
    from .review import Review
    from .summary import Summary

__all__ = ["KINDS", "ReviewKind", "build", "kind", "open", "plans_alongside", "summarise"]


def build(kind_name: str, analysis: Analysis, audience: str | None = None, **options: Any) -> Review:
    """The review of kind ``kind_name`` from an analysis, for the kind's audience (or a stricter one)."""
    module, audience = _module_for(kind_name, audience)
    return module.build(analysis, audience, **options)


def summarise(kind_name: str, analysis: Analysis, audience: str | None = None, **options: Any) -> Summary:
    """``build(...).summary()`` without building the pages: the same ``summary.json`` and tables,
    for the runner, which writes them beside a report the notebook made. (Not ``summary``: that
    name is the :mod:`.summary` module's.)"""
    module, audience = _module_for(kind_name, audience)
    return module.summary(analysis, audience, **options)


def _module_for(kind_name: str, audience: str | None) -> tuple[Any, str]:
    """The kind's module, and the audience checked against the kind's own (or a stricter one)."""
    from .review import check_audience

    chosen = kind(kind_name)
    return importlib.import_module(f".{chosen.module}", __name__), check_audience(chosen.audience, audience)


def open(
    kind_name: str,
    inputs: InputFiles | str | Path | Mapping[str, str | Path | None],
    start: dt.date | str,
    end: dt.date | str,
    *,
    audience: str | None = None,
    **options: Any,
) -> Review:
    """Load the inputs and build the review: the one call a report notebook makes.

    ``inputs`` is a notebook's ``inputs`` parameter: a folder laid out as ``escalation-review
    sample`` writes it, or the files by name (``export``, ``mapping``, ``pathway``, and optionally
    ``steps``, ``actions``, ``training``; "" or a missing name means not supplied). Blank
    options mean the kind's defaults (notebook parameters are literals). An outside report's
    ``alongside`` option names the outside reports its run publishes before it, from the same
    inputs, as ``"kind start end"`` texts (see :func:`plans_alongside`). Only the review is
    returned: the loaded rows stay inside this call, so an external notebook's namespace never
    holds them.
    """
    from ..ingest.inputs import InputFiles
    from ..measures.analysis_cache import analyse_kept

    files = InputFiles.given(inputs)
    # (a report's warm kernel inherits the export its template read: the same rows, not read again)
    analysis = analyse_kept(files, start, end, require_episodes=False)
    chosen = {k: v for k, v in options.items() if v != "" and k != "alongside"}
    if options.get("alongside"):
        chosen["alongside"] = plans_alongside(
            [report.split() for report in options["alongside"]],
            lambda first, last: analyse_kept(files, first, last, require_episodes=False),
            chosen.get("disclosure"))
    return build(kind_name, analysis, audience or None, **chosen)


def plans_alongside(reports: Sequence[Sequence[Any]], analyse: Callable[[Any, Any], Analysis],
                    disclosure: str | None = None) -> tuple[DisclosurePlan, ...]:
    """The disclosure plans of ``reports`` (``(kind, start, end)`` each, in the run's order), each
    built alongside those before it: what a report published after them is built alongside.

    ``analyse(start, end)`` gives the analysis of a period of the run's export; ``disclosure``
    is the run's policy name (blank: each audience's default).
    """
    from .disclosure import plan_for, policy_for

    plans: list[DisclosurePlan] = []
    for report in reports:
        if len(report) != 3:
            raise ValueError(f"{' '.join(map(str, report))!r} does not name a report published alongside: "
                             "write its kind, first day and last day, as 'contract-monitoring 2025-10-01 2025-12-31'.")
        kind_name, start, end = report
        if kind(kind_name).audience == "internal":
            raise ValueError(f"The {kind_name} report is internal: nothing of it is published outside, so no "
                             "outside report is planned alongside it.")
        policy = policy_for(kind(kind_name).audience, disclosure or None)
        plans.append(plan_for(analyse(start, end), policy, tuple(plans)))
    return tuple(plans)
