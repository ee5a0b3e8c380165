"""escalation-analysis: did we escalate crisis risk in time, and if not, why?

Load an incident export through a mapping profile, account for every row, and measure
escalation against the local crisis pathway.
"""

from .errors import EscalationAnalysisError
from .load import LoadedExport, load_export
from .mapping import MappingProfile, read_mapping
from .pathway import Pathway, read_pathway

__all__ = [
    "EscalationAnalysisError",
    "LoadedExport",
    "MappingProfile",
    "Pathway",
    "load_export",
    "read_mapping",
    "read_pathway",
]
__version__ = "0.1.0"
