"""Equity breakdowns: timeliness by ethnicity, age band and gender.

The Patient and Carer Race Equality Framework (PCREF) asks providers to show whether people
from different groups get the same response. These tables use the same definitions as every
other timeliness figure; external reports suppress them like any other breakdown, and
breakdowns by protected characteristic hit small numbers often.
"""

from __future__ import annotations

import pandas as pd

from .timeliness import compliance_table

EQUITY_FIELDS = ("ethnicity", "age_band", "gender")


def equity_table(prepared: pd.DataFrame, field: str) -> pd.DataFrame:
    """Timeliness by one equity field; blanks are grouped as "Not recorded"."""
    if field not in EQUITY_FIELDS:
        raise ValueError(f"field must be one of {EQUITY_FIELDS}")
    labelled = prepared.assign(**{field: prepared[field].fillna("Not recorded")})
    return compliance_table(labelled, field)


def available_equity_fields(prepared: pd.DataFrame) -> list[str]:
    """The equity fields the export actually holds (not entirely blank)."""
    return [f for f in EQUITY_FIELDS if prepared[f].notna().any()]
