"""The registry of report kinds: one line per kind.

A kind names its notebook, its audience (decided here, never by a parameter a user can
change), its title and readers, and the module in this package whose ``build(analysis,
audience, **options)`` makes its :class:`~escalation_analysis.reviews.review.Review`.
Adding a report kind is one module, one notebook and one line here
(``docs/architecture.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import EscalationAnalysisError


@dataclass(frozen=True)
class ReviewKind:
    """One kind of review report."""

    name: str
    notebook: str
    audience: str
    title: str
    reader: str
    module: str


KINDS: dict[str, ReviewKind] = {
    k.name: k
    for k in (
        ReviewKind("near-miss-review", "near-miss-review.ipynb", "internal",
                   "Near-miss learning review", "quality and patient-safety leads", "near_miss"),
        ReviewKind("contract-monitoring", "contract-monitoring.ipynb", "external",
                   "Crisis escalation: contract-monitoring report", "commissioners", "contract_monitoring"),
        ReviewKind("supervision", "supervision.ipynb", "internal",
                   "Supervision preparation pack", "team managers and clinical supervisors", "supervision"),
        ReviewKind("pathway-review", "pathway-review.ipynb", "partners",
                   "Crisis escalation pathway review", "the pathway owner and partner agencies", "pathway"),
    )
}


def kind(name: str) -> ReviewKind:
    """The kind called ``name``, or a one-sentence error listing the kinds there are."""
    if name not in KINDS:
        raise EscalationAnalysisError(f"'{name}' is not a report; choose one of {', '.join(KINDS)}.")
    return KINDS[name]
