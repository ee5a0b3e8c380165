"""The data contract: canonical fields, their vocabularies and the pandera schema.

Every export, whatever its local layout, is turned by :mod:`escalation_analysis.ingest.export` into one
frame of *episodes* with the canonical columns below. This module is the single place that says
what those columns are, which are required and which values they may hold
(``docs/data-dictionary.md``). Later modules trust these columns and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import pyarrow as pa_arrow

if TYPE_CHECKING:  # pandera is imported when a schema is made: see validate_episodes
    import pandera.pandas as pa

FieldKind = Literal["id", "datetime", "category", "bool", "list", "int", "text", "pseudonym"]

TRIGGERS = ("imminent_risk", "loss_of_contact", "deterioration", "other")
OUTCOMES = ("incident", "near_miss")
HARMS = ("none", "low", "moderate", "severe", "death")
AGENCIES = (
    "duty_senior",
    "crisis_team",
    "emergency_services",
    "police",
    "ambulance",
    "la_safeguarding",
    "gp",
    "other",
)
BANDS = ("in_hours", "out_of_hours")
OUT_OF_HOURS_SUB_BANDS = ("in_hours", "weekday_evening_night", "weekend", "bank_holiday")

NOT_RECORDED = "Not recorded"
"""What a blank team becomes: kept, counted and warned about, never dropped."""


@dataclass(frozen=True)
class CanonicalField:
    """One field of the contract: its kind, whether rows need it, and its allowed values."""

    name: str
    kind: FieldKind
    required: bool = False
    categories: tuple[str, ...] | None = None
    meaning: str = ""


FIELDS: dict[str, CanonicalField] = {
    f.name: f
    for f in (
        CanonicalField("incident_id", "id", True, meaning="the source system's reference"),
        CanonicalField(
            "risk_identified_at",
            "datetime",
            True,
            meaning="when staff judged an escalation threshold was met: the clock starts",
        ),
        CanonicalField("trigger", "category", True, TRIGGERS, "which threshold was met"),
        CanonicalField(
            "escalated_at",
            "datetime",
            meaning="first contact along the pathway; blank means no escalation recorded",
        ),
        CanonicalField(
            "responded_at", "datetime", meaning="when the receiving service responded"
        ),
        CanonicalField("team", "text", meaning="the team; blank becomes 'Not recorded'"),
        CanonicalField("outcome", "category", categories=OUTCOMES, meaning="incident or near miss"),
        CanonicalField("harm", "category", categories=HARMS, meaning="NRLS/LFPSE-style harm level"),
        CanonicalField("lone_worker", "bool", meaning="staff member working alone"),
        CanonicalField(
            "escalated_to", "list", categories=AGENCIES, meaning="who was contacted"
        ),
        CanonicalField("barriers", "list", meaning="what delayed or blocked escalation"),
        CanonicalField(
            "information_shared", "list", meaning="items of required information passed on"
        ),
        CanonicalField(
            "approvals_before_action", "int", meaning="sign-offs sought before acting"
        ),
        CanonicalField("service_user_id", "pseudonym", meaning="pseudonymised on load"),
        CanonicalField("staff_id", "pseudonym", meaning="pseudonymised on load"),
        CanonicalField("description", "text", meaning="free text: internal reports only"),
        CanonicalField("ethnicity", "text", meaning="for equity breakdowns (PCREF)"),
        CanonicalField("age_band", "text", meaning="for equity breakdowns"),
        CanonicalField("gender", "text", meaning="for equity breakdowns"),
    )
}

REQUIRED_FIELDS = tuple(name for name, f in FIELDS.items() if f.required)
DATETIME_FIELDS = tuple(name for name, f in FIELDS.items() if f.kind == "datetime")
LIST_FIELDS = tuple(name for name, f in FIELDS.items() if f.kind == "list")

LIST_DTYPE = pd.ArrowDtype(pa_arrow.list_(pa_arrow.string()))
"""Multi-valued cells are kept as Arrow lists of strings: vectorised and compact."""


def category_dtype(field: str) -> pd.CategoricalDtype:
    """The categorical dtype of a closed-vocabulary field."""
    categories = FIELDS[field].categories
    assert categories is not None, f"{field} has no fixed vocabulary"
    return pd.CategoricalDtype(list(categories))


def datetime_dtype(timezone: str) -> pd.DatetimeTZDtype:
    """Timestamps are kept timezone-aware in the pathway's zone, at microsecond resolution."""
    return pd.DatetimeTZDtype("us", timezone)


def episode_schema(timezone: str = "Europe/London") -> pa.DataFrameSchema:
    """The pandera schema every loaded episode frame satisfies.

    ``row`` is the row number in the source file as a spreadsheet shows it (the header is
    row 1), so every figure can be traced back to the export.
    """
    import pandera.pandas as pa

    ts = datetime_dtype(timezone)
    return pa.DataFrameSchema(
        {
            "row": pa.Column("int64", pa.Check.ge(2), unique=True),
            "incident_id": pa.Column(str, nullable=False),
            "risk_identified_at": pa.Column(ts, nullable=False),
            "trigger": pa.Column(category_dtype("trigger"), nullable=False),
            "escalated_at": pa.Column(ts, nullable=True),
            "responded_at": pa.Column(ts, nullable=True),
            "team": pa.Column(str, nullable=False),
            "outcome": pa.Column(category_dtype("outcome"), nullable=True),
            "harm": pa.Column(category_dtype("harm"), nullable=True),
            "lone_worker": pa.Column("boolean", nullable=True),
            "escalated_to": pa.Column(LIST_DTYPE, nullable=True),
            "barriers": pa.Column(LIST_DTYPE, nullable=True),
            "information_shared": pa.Column(LIST_DTYPE, nullable=True),
            "approvals_before_action": pa.Column("Int64", pa.Check.ge(0), nullable=True),
            "service_user_id": pa.Column(str, nullable=True),
            "staff_id": pa.Column(str, nullable=True),
            "description": pa.Column(str, nullable=True),
            "ethnicity": pa.Column(str, nullable=True),
            "age_band": pa.Column(str, nullable=True),
            "gender": pa.Column(str, nullable=True),
        },
        checks=[
            pa.Check(
                lambda df: df["escalated_at"].isna() | (df["escalated_at"] >= df["risk_identified_at"]),
                error="escalated_at must not be before risk_identified_at",
            )
        ],
        strict=True,
        ordered=True,
    )


EPISODE_COLUMNS = tuple(["row", *FIELDS])


def _text_categories(values: pd.Series) -> bool:
    """Whether ``values`` is a categorical of text labels (worked on by label, not by row)."""
    return isinstance(values.dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(values.cat.categories)


def as_text(values: pd.Series) -> pd.Series:
    """``values.astype("str")``, without converting a categorical column value by value.

    A categorical's labels are converted once and its rows take their label by code (in
    Arrow), which is what ``astype("str")`` means but hundreds of times faster on a million
    rows. Other columns are converted with ``astype`` as usual.
    """
    if not _text_categories(values):
        return values.astype("str")  # (numeric labels are written as astype writes them)
    from .files import text_series

    labels = pa_arrow.array(values.cat.categories.to_numpy(dtype=object), pa_arrow.large_string())
    codes = values.cat.codes.to_numpy()
    text = text_series(labels.take(pa_arrow.array(codes, mask=codes < 0, type=pa_arrow.int64())), values.index)
    return text.rename(values.name)


def text_is(values: pd.Series, text: str) -> pd.Series:
    """``as_text(values) == text`` (missing: False), for a categorical column compared once per
    label and spread to the rows by code, never written out as a million strings."""
    if not _text_categories(values):
        return values.astype("str") == text
    import numpy as np

    labels = np.asarray(values.cat.categories.to_numpy(dtype=object) == text, dtype=bool)
    codes = values.cat.codes.to_numpy()
    return pd.Series(np.append(labels, False)[codes], index=values.index, name=values.name)  # code -1 reads False


def lists_as_text(values: pd.Series, separator: str = "; ") -> pd.Series:
    """A list column as text ("a; b"), each value once, vectorised in Arrow; missing lists become "".

    A value recorded twice in one list (an export that lists a barrier twice) is written once,
    where it first appears, so a reader never sees "a; a".
    """
    import numpy as np
    import pyarrow.compute as pc

    arrow = pa_arrow.array(values.array)  # zero-copy via __arrow_array__
    items = pd.DataFrame({"row": pc.list_parent_indices(arrow).to_numpy(),
                          "item": pc.list_flatten(arrow).to_pandas(types_mapper=pd.ArrowDtype)})
    first = items.loc[~items.duplicated()]
    counts = np.bincount(first["row"].to_numpy(), minlength=len(values))
    offsets = pa_arrow.array(np.concatenate([[0], np.cumsum(counts)]), pa_arrow.int32())
    distinct = pa_arrow.ListArray.from_arrays(offsets, pa_arrow.array(first["item"].array, arrow.type.value_type))
    joined = pc.binary_join(distinct, pa_arrow.scalar(separator, arrow.type.value_type))
    text = pd.Series(joined.to_pandas(types_mapper=pd.ArrowDtype).to_numpy(), index=values.index, dtype="str")
    return text.where(~pd.Series(arrow.is_null().to_numpy(zero_copy_only=False), index=values.index), "").fillna("")


def validate_episodes(episodes: pd.DataFrame, timezone: str = "Europe/London") -> pd.DataFrame:
    """Check loaded episodes against the contract (:func:`episode_schema`), every row of it.

    The whole schema is kept: columns and their order, dtypes, missing values, unique row
    numbers, counts >= 0 and escalation not before identification. Each rule is checked here
    as one numpy operation per column (:func:`episodes_hold`); pandera is asked only when one
    fails, to say which rows break which rule. Importing pandera and building its schema and
    checks cost about half a second of a process that loads a million episodes, its checks a
    tenth more.
    """
    if episodes_hold(episodes, timezone):
        return episodes
    return episode_schema(timezone).validate(episodes, lazy=True)  # raises SchemaErrors, listing each failure


def same_dtype(actual, expected) -> bool:
    """Whether ``actual`` is exactly the dtype ``expected``: the same type, unit and time zone,
    a categorical's categories in the same order and of the same dtype."""
    if type(actual) is not type(expected) or actual != expected or str(actual) != str(expected):
        return False
    if isinstance(expected, pd.CategoricalDtype):
        return (actual.ordered == expected.ordered and actual.categories.dtype == expected.categories.dtype
                and actual.categories.equals(expected.categories))
    return True


def columns_have_dtypes(frame: pd.DataFrame, dtypes: dict[str, object]) -> bool:
    """Whether each named column is there, once, with exactly its dtype (:func:`same_dtype`)."""
    return frame.columns.is_unique and all(
        name in frame.columns and same_dtype(frame[name].dtype, dtype) for name, dtype in dtypes.items()
    )


def episode_dtypes(timezone: str = "Europe/London") -> dict[str, object]:
    """The dtype of each column of :func:`episode_schema`, as the loader makes it, in order."""
    text = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' "str"
    kinds = {"id": text, "text": text, "pseudonym": text, "datetime": datetime_dtype(timezone),
             "bool": pd.BooleanDtype(), "list": LIST_DTYPE, "int": pd.Int64Dtype()}
    return {"row": np.dtype("int64"),
            **{name: category_dtype(name) if f.kind == "category" else kinds[f.kind] for name, f in FIELDS.items()}}


def episodes_hold(episodes: pd.DataFrame, timezone: str = "Europe/London") -> bool:
    """Whether ``episodes`` satisfy :func:`episode_schema`, checked without pandera.

    True only when pandera would pass them too: the columns in order, each with the exact
    dtype the loader makes (pandera's dtype checks depend on the dtype alone for these), and
    every rule of the schema. Anything else (a rule broken, another dtype) is False, and
    pandera then judges, and says what is wrong.
    """
    if list(episodes.columns) != list(EPISODE_COLUMNS) or not columns_have_dtypes(episodes, episode_dtypes(timezone)):
        return False
    if any(episodes[name].hasnans for name in ("incident_id", "risk_identified_at", "trigger", "team")):
        return False
    row = episodes["row"].to_numpy()
    if len(row) and (row.min() < 2 or not (np.all(row[1:] > row[:-1]) or episodes["row"].is_unique)):
        return False
    approvals = episodes["approvals_before_action"]
    if (approvals.dropna() < 0).any():
        return False
    escalated, risk = episodes["escalated_at"], episodes["risk_identified_at"]
    return bool((escalated.isna() | (escalated >= risk)).all())
