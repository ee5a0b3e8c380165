"""The prepared-episodes contract: the columns every measure reads, checked at the hand-over.

:func:`~escalation_analysis.measures.timeliness.prepare_episodes` adds to the loaded
episodes (:func:`~escalation_analysis.ingest.contract.episode_schema`) each episode's band,
target, delay and whether it was within target. Every measure trusts these columns, so
they are checked once, where ingest hands over to the measures
(:func:`~escalation_analysis.measures.analysis.analyse`), against the definitions in
``docs/definitions.md``: a delay exists exactly when an escalation does and is
never negative; within target means escalated with a delay no longer than the target; out
of hours is split into weekday evening or night, weekend and bank holiday.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..ingest.contract import BANDS, OUT_OF_HOURS_SUB_BANDS, columns_have_dtypes, episode_schema

if TYPE_CHECKING:  # pandera is imported when a schema is made: see validate_prepared
    import pandera.pandas as pa

#: Columns that :func:`~escalation_analysis.measures.timeliness.prepare_episodes` adds.
PREPARED_COLUMNS = ("band", "ooh_sub_band", "bank_holiday", "target_minutes", "escalated", "delay_minutes",
                    "within_target", "response_minutes", "month", "quarter", "lone_worker_label")


def prepared_schema(timezone: str = "Europe/London", *, with_loaded: bool = True) -> pa.DataFrameSchema:
    """The loaded-episode schema plus the prepared columns and the rules that tie them together.

    ``with_loaded=False`` checks only what preparing added (the loader has already checked
    the rest), which is what :func:`validate_prepared` does at the hand-over.
    """
    import pandera.pandas as pa

    loaded = episode_schema(timezone) if with_loaded else pa.DataFrameSchema({"escalated_at": pa.Column(nullable=True)})
    schema = loaded.add_columns(
        {
            "band": pa.Column(pd.CategoricalDtype(list(BANDS)), nullable=False),
            "ooh_sub_band": pa.Column(pd.CategoricalDtype(list(OUT_OF_HOURS_SUB_BANDS)), nullable=False),
            "bank_holiday": pa.Column(str, nullable=True),
            "target_minutes": pa.Column(float, pa.Check.gt(0), nullable=False),
            "escalated": pa.Column(bool, nullable=False),
            "delay_minutes": pa.Column(float, pa.Check.ge(0), nullable=True),
            "within_target": pa.Column(bool, nullable=False),
            "response_minutes": pa.Column(float, nullable=True),
            "month": pa.Column(str, _each_distinct_matches(_MONTH), nullable=False),
            "quarter": pa.Column(str, _each_distinct_matches(_QUARTER), nullable=False),
            "lone_worker_label": pa.Column(str, pa.Check.isin(_LONE_WORKER_LABELS)),
        }
    )
    schema.strict = with_loaded
    schema.checks = [
        *loaded.checks,
        pa.Check(lambda df: df["delay_minutes"].notna() == df["escalated"],
                 error="a delay is recorded exactly when an escalation is"),
        pa.Check(lambda df: ~df["within_target"] | (df["escalated"] & (df["delay_minutes"] <= df["target_minutes"])),
                 error="within target means escalated no later than the target"),
        pa.Check(lambda df: (df["band"] == "in_hours") == (df["ooh_sub_band"] == "in_hours"),
                 error="in hours in the band and in the out-of-hours split agree"),
        pa.Check(lambda df: df["bank_holiday"].isna() | (df["ooh_sub_band"] == "bank_holiday"),
                 error="a bank holiday's name is given only for bank-holiday episodes"),
    ]
    return schema


_MONTH, _QUARTER = r"^\d{4}-\d{2}$", r"^\d{4}/\d{2} Q[1-4]$"
_LONE_WORKER_LABELS = ["lone worker", "accompanied", "not recorded"]


def _each_distinct_matches(pattern: str) -> pa.Check:
    """pandera's ``str_matches`` (Python's ``re``, as pandas falls back to), read once per distinct
    value: a million episodes hold a few dozen months and quarters."""
    import pandera.pandas as pa

    compiled = re.compile(pattern)

    def matches(values: pd.Series) -> pd.Series:
        codes, distinct = pd.factorize(values, use_na_sentinel=True)
        ok = np.array([compiled.match(value) is not None for value in distinct] + [True], dtype=bool)
        return pd.Series(ok[codes], index=values.index)  # (a missing value is the nullable rule's)

    return pa.Check(matches, error=f"str_matches('{pattern}')")


def validate_prepared(prepared: pd.DataFrame, timezone: str = "Europe/London") -> pd.DataFrame:
    """Check the prepared columns and their rules (vectorised: one pass per rule).

    The loaded columns were checked by the loader against the same contract, so only what
    preparing added is checked again here: in numpy (:func:`prepared_hold`), and by pandera
    only when a rule fails, to say which rows break it.
    """
    if not prepared_hold(prepared):
        prepared_schema(timezone, with_loaded=False).validate(prepared, lazy=True)  # raises SchemaErrors
    return prepared


def prepared_hold(prepared: pd.DataFrame) -> bool:
    """Whether the prepared columns satisfy ``prepared_schema(with_loaded=False)``, checked without
    pandera: True only when pandera would pass them too (each column there, with exactly the
    dtype :func:`~escalation_analysis.measures.timeliness.prepare_episodes` makes, and every rule)."""
    text = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' "str"
    dtypes = {"band": pd.CategoricalDtype(list(BANDS)), "ooh_sub_band": pd.CategoricalDtype(list(OUT_OF_HOURS_SUB_BANDS)),
              "bank_holiday": text, "target_minutes": np.dtype("float64"), "escalated": np.dtype("bool"),
              "delay_minutes": np.dtype("float64"), "within_target": np.dtype("bool"),
              "response_minutes": np.dtype("float64"), "month": text, "quarter": text, "lone_worker_label": text}
    if "escalated_at" not in prepared.columns or not columns_have_dtypes(prepared, dtypes):
        return False
    if any(prepared[name].hasnans for name in ("band", "ooh_sub_band", "target_minutes", "month", "quarter",
                                               "lone_worker_label")):
        return False
    target, delay = prepared["target_minutes"].to_numpy(), prepared["delay_minutes"].to_numpy()
    escalated, within = prepared["escalated"].to_numpy(), prepared["within_target"].to_numpy()
    in_hours = (prepared["band"] == "in_hours").to_numpy()
    sub_band = prepared["ooh_sub_band"]
    return bool(
        (target > 0).all()
        and (np.isnan(delay) | (delay >= 0)).all()
        and all(_distinct_match(prepared[name], pattern) for name, pattern in (("month", _MONTH), ("quarter", _QUARTER)))
        and prepared["lone_worker_label"].isin(_LONE_WORKER_LABELS).all()
        and (~np.isnan(delay) == escalated).all()
        and (~within | (escalated & (delay <= target))).all()
        and (in_hours == (sub_band == "in_hours").to_numpy()).all()
        and (prepared["bank_holiday"].isna() | (sub_band == "bank_holiday")).all()
    )


def _distinct_match(values: pd.Series, pattern: str) -> bool:
    """Whether every value matches ``pattern`` (Python's ``re``, as pandera's check), read once per distinct value."""
    compiled = re.compile(pattern)
    return all(compiled.match(value) is not None for value in pd.unique(values))
