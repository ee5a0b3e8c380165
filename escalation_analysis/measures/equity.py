"""Equity breakdowns: timeliness by ethnicity, age band and gender.

The Patient and Carer Race Equality Framework (PCREF) asks providers to show whether people
from different groups get the same response. These tables use the same definitions as every
other timeliness figure; external reports suppress them like any other breakdown, and
breakdowns by protected characteristic hit small numbers often.
"""

from __future__ import annotations

import pandas as pd

from .timeliness import TimelinessTables, compliance_table

EQUITY_FIELDS = ("ethnicity", "age_band", "gender")


def equity_table(prepared: pd.DataFrame, field: str, *, tables: TimelinessTables | None = None) -> pd.DataFrame:
    """Timeliness by one equity field; blanks are grouped as "Not recorded".

    ``tables`` (built on ``prepared``) shares its sorted delays with the other tables.
    """
    if field not in EQUITY_FIELDS:
        raise ValueError(f"field must be one of {EQUITY_FIELDS}")
    labels = pd.DataFrame({field: prepared[field].fillna("Not recorded")}, index=prepared.index)
    if tables is None:
        return compliance_table(prepared.assign(**{field: labels[field]}), field)
    return tables.table(field, frame=labels)


def available_equity_fields(prepared: pd.DataFrame) -> list[str]:
    """The equity fields the export actually holds (not entirely blank)."""
    return [f for f in EQUITY_FIELDS if prepared[f].notna().any()]
