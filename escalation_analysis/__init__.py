"""escalation-analysis: did we escalate crisis risk in time, and if not, why?

Load an incident export through a mapping profile, account for every row, and measure
escalation against the local crisis pathway::

    from escalation_analysis import analyse, build_summary
    analysis = analyse("export.csv", "mapping.yaml", "pathway.yaml", "2025-04-01", "2026-03-31")
    summary = build_summary(analysis, audience="external")

Names are imported lazily, so a report kernel that only needs
:mod:`escalation_analysis.reviews.display` does not pay for pandera and pydantic.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "EscalationAnalysisError": "errors",
    "LoadedExport": "ingest.export",
    "load_export": "ingest.export",
    "MappingProfile": "ingest.mapping",
    "read_mapping": "ingest.mapping",
    "Pathway": "ingest.pathway",
    "read_pathway": "ingest.pathway",
    "Analysis": "measures.analysis",
    "analyse": "measures.analysis",
    "Summary": "reviews.summary",
    "build_summary": "reviews.summary",
    "prepare_episodes": "measures.timeliness",
    "compliance_table": "measures.timeliness",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'escalation_analysis' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
