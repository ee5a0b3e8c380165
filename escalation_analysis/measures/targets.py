"""Targets per episode: the pathway's time to escalate for each trigger and band."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..ingest.contract import BANDS, TRIGGERS
from ..ingest.pathway import Pathway


def target_minutes(trigger: pd.Series, band: pd.Series, pathway: Pathway) -> pd.Series:
    """The target in minutes for each episode's trigger and band (missing band: missing).

    The pathway is looked up once per distinct (trigger, band) pair, never per row: rows
    pick their target from that small table by position.
    """
    table = pd.Series(
        {(t, b): pathway.target_minutes(t, b) for t in TRIGGERS for b in BANDS}, dtype="float64"
    ).to_numpy().reshape(len(TRIGGERS), len(BANDS))
    table = np.pad(table, ((0, 1), (0, 1)), constant_values=np.nan)  # position -1: not found
    row = _positions(trigger, TRIGGERS)
    column = _positions(band, BANDS)
    return pd.Series(table[row, column], index=trigger.index, dtype="float64")


def _positions(values: pd.Series, labels: tuple[str, ...]) -> np.ndarray:
    """Where each value's text stands in ``labels`` (-1 when missing or not there)."""
    index = pd.Index(labels)
    if isinstance(values.dtype, pd.CategoricalDtype):
        per_category = index.get_indexer(values.cat.categories.astype("str"))
        return np.append(per_category, -1)[values.cat.codes.to_numpy()]
    return index.get_indexer(values.astype("str"))
