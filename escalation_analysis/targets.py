"""Targets per episode: the pathway's time to escalate for each trigger and band."""

from __future__ import annotations

import pandas as pd

from .pathway import Pathway
from .schema import BANDS, TRIGGERS


def target_minutes(trigger: pd.Series, band: pd.Series, pathway: Pathway) -> pd.Series:
    """The target in minutes for each episode's trigger and band (missing band: missing).

    The pathway is looked up once per distinct (trigger, band) pair, never per row.
    """
    table = pd.Series(
        {(t, b): pathway.target_minutes(t, b) for t in TRIGGERS for b in BANDS}, dtype="float64"
    )
    keys = pd.MultiIndex.from_arrays([trigger.astype("str"), band.astype("str")])
    return pd.Series(table.reindex(keys).to_numpy(), index=trigger.index, dtype="float64")
