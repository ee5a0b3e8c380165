"""Mapping profiles: how one provider's export layout maps onto the canonical fields.

A new export layout needs only a new YAML profile, never new code. The format is the contract
in ``docs/bring-your-own-export.md``::

    source: Datix-style export
    encoding: auto            # or utf-8, cp1252, ...
    dayfirst: true            # 03/04/2025 is 3 April
    timezone: Europe/London
    columns:
      incident_id: Ref
      risk_identified_at: [Incident Date, Incident Time]
    values:
      trigger: {"Imminent risk": imminent_risk}
    lists:
      barriers: ";"
    sheet: Incidents          # a workbook's sheet (name, or position from 0); default the first
    header_row: 4             # the header's row as the spreadsheet shows it; default 1

Validation names the bad key and says what to do, in one sentence.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import MappingError
from .contract import DATETIME_FIELDS, FIELDS, LIST_FIELDS, REQUIRED_FIELDS
from .workbooks import DEFAULT_MAX_WORKBOOK_MB
from .yaml_files import read_yaml

DEFAULT_MISSING_VALUES = ("", "NULL", "null", "N/A", "n/a", "#N/A", "-", "--", "None")


def known_timezone(value: str) -> str:
    """Validator shared by profiles and pathways: an IANA zone name such as Europe/London."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"'{value}' is not a time zone name such as Europe/London") from exc
    return value


class LogMapping(BaseModel):
    """Columns (and value maps) of an optional log: step log, learning actions, training."""

    model_config = ConfigDict(extra="forbid")
    fields: ClassVar[tuple[str, ...]] = ()

    columns: dict[str, str] = Field(default_factory=dict)
    values: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = [f for f in columns if f not in cls.fields]
        if unknown:
            raise ValueError(f"'{unknown[0]}' is not one of {', '.join(cls.fields)}")
        return columns

    def column(self, field: str) -> str:
        """The log's column for a field (the canonical name unless mapped)."""
        return self.columns.get(field, field)

    def value_map(self, field: str) -> dict[str, Any]:
        return {normalise_value(str(k)): v for k, v in self.values.get(field, {}).items()}


class StepLogMapping(LogMapping):
    """One row per step: which episode, what happened (contacted/responded), who, when."""

    fields: ClassVar[tuple[str, ...]] = ("incident_id", "step", "agency", "at")


class ActionsLogMapping(LogMapping):
    """One row per learning action, optionally linked to an incident."""

    fields: ClassVar[tuple[str, ...]] = ("action", "owner", "raised", "due", "status", "incident_id")


class TrainingLogMapping(LogMapping):
    """One row per course completion; scenario courses are matched by these names."""

    fields: ClassVar[tuple[str, ...]] = ("staff_id", "course", "completed_on")
    scenario_courses: list[str] = Field(
        default_factory=lambda: ["Scenario-based escalation training"]
    )


class MappingProfile(BaseModel):
    """A validated mapping profile (see the module docstring for the YAML format)."""

    model_config = ConfigDict(extra="forbid")

    source: str = "Incident export"
    encoding: str = "auto"
    dayfirst: bool = True
    timezone: str = "Europe/London"
    delimiter: str | None = None
    sheet: str | int | None = None
    header_row: int = Field(default=1, ge=1, le=1_048_576)
    max_workbook_mb: float = Field(default=DEFAULT_MAX_WORKBOOK_MB, gt=0)
    columns: dict[str, str | list[str]]
    values: dict[str, dict[str | bool, Any]] = Field(default_factory=dict)
    lists: dict[str, str] = Field(default_factory=dict)
    missing_values: list[str] = Field(default_factory=lambda: list(DEFAULT_MISSING_VALUES))
    nhs_number: str | None = None
    date_formats: dict[str, str] = Field(default_factory=dict)
    step_log: StepLogMapping = Field(default_factory=StepLogMapping)
    learning_actions: ActionsLogMapping = Field(default_factory=ActionsLogMapping)
    training_log: TrainingLogMapping = Field(default_factory=TrainingLogMapping)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        if value != "auto":
            try:
                "a".encode(value)  # rot13, base64...: known codecs, but not text encodings
            except LookupError as exc:
                raise ValueError(
                    f"'{value}' is not a text encoding Python knows; use auto"
                ) from exc
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character_delimiter(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 1 or value in "\r\n\""):
            raise ValueError(
                f"the delimiter must be one character such as ',' or ';', not {value!r}"
            )
        return value

    @field_validator("date_formats")
    @classmethod
    def _date_formats_are_usable(cls, formats: dict[str, str]) -> dict[str, str]:
        for field, fmt in formats.items():
            if field not in DATETIME_FIELDS:
                raise ValueError(
                    f"'{field}' is not a date-time field; use {', '.join(DATETIME_FIELDS)}"
                )
            try:
                pd.to_datetime(pd.Series(["01/01/2025"]), format=fmt, errors="coerce")
            except ValueError as exc:
                raise ValueError(
                    f"{field} format '{fmt}' is not a date format such as %d/%m/%Y %H:%M"
                ) from exc
        return formats

    _known_timezone = field_validator("timezone")(known_timezone)

    @field_validator("columns", mode="before")
    @classmethod
    def _no_column_left_todo(cls, columns: Any) -> Any:
        if isinstance(columns, dict):
            for field, local in columns.items():
                if any(_is_todo(name) for name in (local if isinstance(local, list) else [local])):
                    spec = FIELDS.get(field)
                    otherwise = "; it is required" if spec is not None and spec.required else (
                        ", or delete the line if the export has none")
                    raise ValueError(
                        f"{field} is still TODO: write the name of the export's column for {field} there, "
                        f"in quotes{otherwise}"
                    )
        return columns

    @field_validator("columns")
    @classmethod
    def _columns_are_canonical(cls, columns: dict[str, str | list[str]]) -> dict:
        for field, local in columns.items():
            if field not in FIELDS:
                raise ValueError(
                    f"'{field}' is not a canonical field; choose from {', '.join(FIELDS)}"
                )
            if isinstance(local, list) and (field not in DATETIME_FIELDS or len(local) != 2):
                raise ValueError(
                    f"'{field}' takes one column name"
                    + (" or [date column, time column]" if field in DATETIME_FIELDS else "")
                )
        missing = [f for f in REQUIRED_FIELDS if f not in columns]
        if missing:
            raise ValueError(f"required field(s) {', '.join(missing)} must be mapped to a column")
        return columns

    @field_validator("values", mode="before")
    @classmethod
    def _local_values_as_written(cls, values: Any) -> Any:
        """YAML reads unquoted local values such as 999 as numbers: match them as text.

        Unquoted Yes/No stay booleans here; :meth:`value_map` matches them as those words.
        A value still marked TODO (a drafted line uncommented but not answered) is named.
        """
        if not isinstance(values, dict):
            return values
        for field, mapping in values.items():
            for local, value in (mapping.items() if isinstance(mapping, dict) else ()):
                if _is_todo(value):
                    spec = FIELDS.get(field)
                    choices = ", ".join(spec.categories) if spec is not None and spec.categories else "a value"
                    if spec is not None and spec.kind == "bool":
                        choices = "true, false"
                    raise ValueError(f"{field} '{local}' is still TODO: replace TODO with one of {choices}")
        return {
            field: {k if isinstance(k, bool) else str(k): v for k, v in mapping.items()}
            if isinstance(mapping, dict) else mapping
            for field, mapping in values.items()
        }

    @field_validator("values")
    @classmethod
    def _values_for_known_fields(cls, values: dict[str, dict[str | bool, Any]]) -> dict:
        for field, mapping in values.items():
            spec = FIELDS.get(field)
            if spec is None:
                raise ValueError(f"'{field}' is not a canonical field")
            if spec.categories is not None:
                bad = [v for v in mapping.values() if str(v) not in spec.categories]
                if bad:
                    raise ValueError(
                        f"{field} value '{bad[0]}' is not one of {', '.join(spec.categories)}"
                    )
            if spec.kind == "bool":
                bad = [v for v in mapping.values() if not isinstance(v, bool)]
                if bad:
                    raise ValueError(f"lone_worker values must be true or false, not '{bad[0]}'")
        return values

    @field_validator("lists")
    @classmethod
    def _lists_for_list_fields(cls, lists: dict[str, str]) -> dict:
        for field, sep in lists.items():
            if field not in LIST_FIELDS:
                raise ValueError(f"'{field}' is not a list field; lists apply to {LIST_FIELDS}")
            if not sep:
                raise ValueError(f"the separator for {field} is empty")
        return lists

    @model_validator(mode="after")
    def _nhs_number_field_is_mapped(self) -> MappingProfile:
        if self.nhs_number is not None and self.nhs_number not in self.columns:
            raise ValueError(f"nhs_number names '{self.nhs_number}', which is not mapped")
        return self

    def local_columns(self, field: str) -> list[str]:
        """The export column(s) a canonical field comes from (empty when not mapped)."""
        local = self.columns.get(field)
        if local is None:
            return []
        return list(local) if isinstance(local, list) else [local]

    def value_map(self, field: str) -> dict[str, Any]:
        """Local value -> canonical value, keys normalised for matching.

        YAML reads unquoted ``Yes``/``No`` keys as booleans; they are matched as the words
        they were written as.
        """
        normalised: dict[str, Any] = {}
        for key, value in self.values.get(field, {}).items():
            if isinstance(key, bool):
                words = ("true", "yes", "on") if key else ("false", "no", "off")
                normalised.update({w: value for w in words})
            else:
                normalised[normalise_value(str(key))] = value
        return normalised


def _is_todo(value: Any) -> bool:
    """A drafted answer left as it was: the text TODO (what ``profile`` writes for unknowns)."""
    return isinstance(value, str) and value.strip().upper().startswith("TODO")


def normalise_value(text: str) -> str:
    """Case-, space- and dash-insensitive form used to match local category values."""
    text = text.replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'")
    return " ".join(text.split()).casefold()


def read_mapping(path: str | Path) -> MappingProfile:
    """Read and validate a mapping profile YAML file, once per process while it is unchanged.

    A report reads its profile in several places (the export, each log); they share one
    validated profile. Treat it as read-only.

    Raises
    ------
    MappingError
        One sentence naming the bad key and what to do.
    """
    path = Path(path)
    try:
        info = path.stat()
    except OSError:
        return read_validated(path, "mapping profile", MappingProfile, MappingError)  # says what is wrong
    return _read_mapping_once(str(path.resolve()), info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=16)
def _read_mapping_once(path: str, mtime_ns: int, size: int) -> MappingProfile:
    """:func:`read_mapping` for one version of one file (the key changes when the file does)."""
    return read_validated(Path(path), "mapping profile", MappingProfile, MappingError)


def read_validated(path: Path, what: str, model: type[BaseModel], error: type[Exception]):
    """Read a YAML settings file into ``model``, turning problems into one-sentence ``error``s."""
    data = read_yaml(path, what, error)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(describe_validation_error(path, exc, data)) from None


def describe_validation_error(path: Path, exc: ValidationError, data: Any = None) -> str:
    """Turn pydantic's report into one sentence that names the first bad key.

    Given the ``data`` that was validated, locations are read against it: parts that are not
    keys of the file (pydantic's names for the alternatives of a setting that may take several
    forms, such as ``constrained-float`` or ``BandTargets``) are left out, and of those
    alternatives the one that got furthest into the file is reported, as one problem.
    """
    errors = exc.errors()
    problems: dict[tuple, tuple[list[str], dict]] = {}
    for number, error in enumerate(errors):
        if data is None:
            problems[(number,)] = ([str(part) for part in error["loc"]], error)
            continue
        keys, alternatives_at = _key_path(error["loc"], data, error["type"] == "missing")
        anchor = tuple(keys[:alternatives_at]) if alternatives_at is not None else (number,)
        if anchor not in problems or len(keys) > len(problems[anchor][0]):
            problems[anchor] = (keys, error)
    keys, first = next(iter(problems.values()))
    location = ".".join(keys) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "is not a setting this file understands; check its spelling"
    elif first["type"] == "missing":
        message = "is required but missing"
    extra = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    if message.startswith("is "):
        return f"{path.name}: '{location}' {message}{extra}."
    return f"{path.name}, {location}: {message}{extra}."


def _key_path(loc: tuple, data: Any, missing: bool) -> tuple[list[str], int | None]:
    """The parts of an error location that are keys in ``data``, and where the first
    alternative's name was skipped (``None`` when there was none)."""
    node, keys, alternatives_at = data, [], None
    for i, part in enumerate(loc):
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            keys.append(str(part))
        elif missing and i == len(loc) - 1:
            keys.append(str(part))
        elif alternatives_at is None:
            alternatives_at = len(keys)
    return keys, alternatives_at
