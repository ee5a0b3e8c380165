"""Canonical vocabularies and the common local spellings of them.

Local exports spell the same thing many ways ("Near Miss", "near-miss", "No harm (impact
prevented)"). The mapping profile's ``values:`` always wins; these synonyms only save writing
the obvious ones. Matching ignores case, repeated spaces and the kind of dash.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .contract import FIELDS
from .mapping import normalise_value

SYNONYMS: dict[str, dict[str, object]] = {
    "trigger": {
        "imminent risk": "imminent_risk",
        "imminent risk of suicide": "imminent_risk",
        "imminent risk of self-harm": "imminent_risk",
        "loss of contact": "loss_of_contact",
        "lost contact": "loss_of_contact",
        "deterioration": "deterioration",
        "sudden deterioration": "deterioration",
    },
    "outcome": {
        "near miss": "near_miss",
        "nearmiss": "near_miss",
        "near-miss": "near_miss",
        "no harm (impact prevented)": "near_miss",
        "incident": "incident",
        "adverse event": "incident",
    },
    "harm": {
        "no harm": "none",
        "nil": "none",
        "low harm": "low",
        "minor": "low",
        "moderate harm": "moderate",
        "severe harm": "severe",
        "major": "severe",
        "catastrophic": "death",
        "fatal": "death",
        "death": "death",
    },
    "lone_worker": {
        "y": True, "yes": True, "true": True, "1": True,
        "n": False, "no": False, "false": False, "0": False,
    },
    "step": {
        "contacted": "contacted", "contact": "contacted", "called": "contacted",
        "referred": "contacted", "referral": "contacted",
        "responded": "responded", "response": "responded", "attended": "responded",
    },
    "status": {
        "open": "open", "in progress": "open", "overdue": "open", "not started": "open",
        "completed": "closed", "complete": "closed", "closed": "closed", "done": "closed",
    },
    "escalated_to": {
        "duty senior": "duty_senior",
        "duty worker": "duty_senior",
        "crisis team": "crisis_team",
        "crisis resolution team": "crisis_team",
        "crhtt": "crisis_team",
        "999": "emergency_services",
        "emergency services": "emergency_services",
        "police": "police",
        "ambulance": "ambulance",
        "local authority safeguarding": "la_safeguarding",
        "la safeguarding": "la_safeguarding",
        "safeguarding": "la_safeguarding",
        "gp": "gp",
    },
}
"""Common local spellings understood without a profile entry; the profile always wins."""



EXTRA_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "step": ("contacted", "responded"),
    "status": ("open", "closed"),
}
"""Closed vocabularies of the optional logs (step log, learning actions)."""


def lookup_table(field: str, overrides: dict[str, object] | None = None) -> dict[str, object]:
    """Normalised local value -> canonical value: canonical names, then synonyms, then overrides.

    ``overrides`` is a profile's value map, already normalised
    (:meth:`MappingProfile.value_map`).
    """
    spec = FIELDS.get(field)
    categories = spec.categories if spec is not None else EXTRA_VOCABULARIES.get(field)
    table: dict[str, object] = {}
    if categories:
        table.update({normalise_value(c.replace("_", " ")): c for c in categories})
        table.update({c: c for c in categories})
    table.update(SYNONYMS.get(field, {}))
    table.update(overrides or {})
    return table


def map_values(
    values: pd.Series, field: str, overrides: dict[str, object] | None = None
) -> tuple[pd.Series, pd.Series]:
    """Canonical values for local ones, and a mask of values that matched nothing.

    Only distinct values are looked up (``pd.factorize``), so this is fast on millions of rows.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped_uniques = map_distinct(uniques, field, overrides)
    if len(uniques):
        mapped_values = np.where(codes >= 0, mapped_uniques[np.clip(codes, 0, None)], None)
    else:
        mapped_values = np.full(len(values), None, dtype=object)
    mapped = pd.Series(mapped_values, index=values.index, dtype=object)
    unknown = values.notna() & mapped.isna()
    return mapped, unknown


def map_distinct(uniques, field: str, overrides: dict[str, object] | None = None) -> np.ndarray:
    """The canonical value (or None) of each distinct local value, as an object array.

    The building block of :func:`map_values`: the loader keeps the factorize codes and
    spreads per-value results to rows itself, without an object array the length of the file.
    """
    table = lookup_table(field, overrides)
    return np.array([table.get(normalise_value(str(u))) for u in uniques], dtype=object)
