"""The local crisis escalation pathway: thresholds, targets, steps, contacts.

The pathway is the provider's own document turned into YAML (``docs/pathway.md``).
Every timeliness figure is measured against it, so it is validated strictly and an
error names the bad key, e.g. ``triggers.imminent_risk.target_minutes.out_of_hours``.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ..errors import PathwayError
from .contract import AGENCIES, TRIGGERS
from .mapping import known_timezone, read_validated

logger = logging.getLogger(__name__)

#: A target in minutes: a finite number above zero (``.inf`` or ``.nan`` would make every
#: episode within target, or none).
Minutes = Annotated[float, Field(gt=0, allow_inf_nan=False)]

Nation = Literal["england-and-wales", "scotland", "northern-ireland"]
Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InHours(_Strict):
    """The in-hours window: days of the week and a start and end time of day."""

    days: list[Weekday] = Field(default_factory=lambda: ["Mon", "Tue", "Wed", "Thu", "Fri"])
    start: dt.time = dt.time(9, 0)
    end: dt.time = dt.time(17, 0)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _unquoted_yaml_time(cls, value: object) -> object:
        """YAML reads an unquoted 9:00 as the number 540 (base 60): read it back as 09:00."""
        if isinstance(value, int) and not isinstance(value, bool):
            if 0 <= value < 24 * 60:
                return dt.time(value // 60, value % 60)
            raise ValueError('write the time of day in quotes, like "09:00"')
        return value

    @field_validator("start", "end")
    @classmethod
    def _wall_clock_time(cls, value: dt.time) -> dt.time:
        if value.tzinfo is not None:
            raise ValueError('give a local clock time such as "09:00", without a time zone')
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> InHours:
        if self.start >= self.end:
            raise ValueError("start must be earlier than end")
        return self


class BandTargets(_Strict):
    """A target in minutes that may differ in and out of hours."""

    in_hours: Minutes
    out_of_hours: Minutes


class BandSteps(_Strict):
    """Expected contacts, in order, in and out of hours."""

    in_hours: list[str]
    out_of_hours: list[str]


class Trigger(_Strict):
    """One escalation threshold: its label, target time to escalate and expected steps."""

    label: str
    target_minutes: Minutes | BandTargets
    steps: BandSteps | None = None

    def target_for(self, band: str) -> float:
        """The target in minutes for ``in_hours`` or ``out_of_hours``."""
        if isinstance(self.target_minutes, BandTargets):
            return float(getattr(self.target_minutes, band))
        return float(self.target_minutes)


class Contact(_Strict):
    """A named contact on the pathway (crisis team, duty senior, partner agency)."""

    name: str
    agency: str
    phone: str | None = None
    hours: str | None = None
    notes: str | None = None

    @field_validator("agency")
    @classmethod
    def _known_agency(cls, value: str) -> str:
        if value not in AGENCIES:
            raise ValueError(f"'{value}' is not one of {', '.join(AGENCIES)}")
        return value


class KpiTarget(_Strict):
    """A KPI's target and where it comes from (e.g. "Contract schedule 2, KPI 1")."""

    target: float = Field(ge=0)
    source: str | None = None


class KpiTargets(_Strict):
    """The targets the reports judge KPIs against; a KPI left out has no target.

    Each is a number, or ``{target: N, source: "..."}`` to say where it comes from. A KPI
    without a target shows no "target met" and no assurance icon: the package never supplies
    a target of its own.
    """

    compliance_pct: KpiTarget | None = None
    imminent_risk_compliance_pct: KpiTarget | None = None
    out_of_hours_compliance_pct: KpiTarget | None = None
    crisis_team_response_pct: KpiTarget | None = None
    not_escalated: KpiTarget | None = None
    median_delay_minutes: KpiTarget | None = None
    p90_delay_minutes: KpiTarget | None = None
    near_misses: KpiTarget | None = None
    overdue_actions: KpiTarget | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _number_alone(cls, value: object) -> object:
        """A bare number is the target with no stated source."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return {"target": value}
        return value

    @model_validator(mode="after")
    def _percentages_up_to_100(self) -> KpiTargets:
        for name in type(self).model_fields:
            spec = getattr(self, name)
            if name.endswith("_pct") and spec is not None and spec.target > 100:
                raise ValueError(f"{name} is a percentage: give a target from 0 to 100, not {spec.target:g}")
        return self

    def value(self, kpi: str) -> float | None:
        """The target for ``kpi``, or None when the pathway sets none."""
        spec = getattr(self, kpi, None)
        return None if spec is None else float(spec.target)

    def source(self, kpi: str) -> str | None:
        """Where the target for ``kpi`` comes from, as the pathway file says (None if unsaid)."""
        spec = getattr(self, kpi, None)
        return None if spec is None else spec.source


class ProtectiveMarking(_Strict):
    """The protective marking printed on every page, by audience.

    Internal reports hold pseudonyms and free text, so they default to OFFICIAL-SENSITIVE;
    external and partner reports hold only disclosure-controlled figures: OFFICIAL.
    """

    internal: str = Field(default="OFFICIAL-SENSITIVE", min_length=1, max_length=80)
    external: str = Field(default="OFFICIAL", min_length=1, max_length=80)
    partners: str | None = Field(default=None, min_length=1, max_length=80)

    def for_audience(self, audience: str) -> str:
        """The marking for ``internal``, ``external`` or ``partners`` (partners: as external unless set)."""
        if audience == "internal":
            return self.internal
        if audience == "partners" and self.partners:
            return self.partners
        return self.external


class PathwayChange(_Strict):
    """A change to the pathway or the service on a date, e.g. a new on-call rota.

    Every chart over time marks it, and SPC charts can recalculate their limits from it.
    """

    date: dt.date
    text: str = Field(min_length=1, max_length=80)

    @field_validator("date", mode="before")
    @classmethod
    def _a_day_not_a_time(cls, value: object) -> object:
        with_time = isinstance(value, str) and len(value.strip()) > 10 and value.strip()[10] in " T"
        if isinstance(value, dt.datetime) or with_time:
            raise ValueError("give the day only, like 2025-09-01, without a time")
        return value

    @field_validator("text")
    @classmethod
    def _one_short_line(cls, value: str) -> str:
        value = value.strip()
        if not value or "\n" in value:
            raise ValueError("give one short line of text, such as \"New on-call rota\"")
        return value


class Pathway(_Strict):
    """A validated crisis escalation pathway."""

    name: str
    owner: str | None = None
    version: str | None = None
    service: str | None = None
    timezone: str = "Europe/London"
    bank_holidays: Nation = "england-and-wales"
    in_hours: InHours = Field(default_factory=InHours)
    triggers: dict[str, Trigger]
    contacts: dict[str, Contact] = Field(default_factory=dict)
    required_information: list[str] = Field(default_factory=list)
    max_approvals_before_action: int = Field(default=1, ge=0)
    response_targets_minutes: dict[str, Minutes] = Field(default_factory=dict)
    kpi_targets: KpiTargets = Field(default_factory=KpiTargets)
    protective_marking: ProtectiveMarking = Field(default_factory=ProtectiveMarking)
    changes: list[PathwayChange] = Field(default_factory=list)

    _known_timezone = field_validator("timezone")(known_timezone)

    @field_validator("triggers")
    @classmethod
    def _triggers_are_canonical(cls, triggers: dict[str, Trigger]) -> dict[str, Trigger]:
        if not triggers:
            raise ValueError("the pathway has no triggers: list at least one, with its target_minutes")
        unknown = [t for t in triggers if t not in TRIGGERS]
        if unknown:
            raise ValueError(f"'{unknown[0]}' is not a trigger; use {', '.join(TRIGGERS)}")
        for name, trigger in triggers.items():
            for step in (trigger.steps.in_hours + trigger.steps.out_of_hours) if trigger.steps else []:
                if step not in AGENCIES:
                    raise ValueError(
                        f"{name} step '{step}' is not one of {', '.join(AGENCIES)}"
                    )
        return triggers

    @field_validator("changes")
    @classmethod
    def _changes_in_date_order(cls, changes: list[PathwayChange]) -> list[PathwayChange]:
        """Kept in date order; the same change twice is a copying slip."""
        seen = set()
        for change in changes:
            if (change.date, change.text) in seen:
                raise ValueError(f"the change on {change.date:%Y-%m-%d} ('{change.text}') is listed twice")
            seen.add((change.date, change.text))
        return sorted(changes, key=lambda change: change.date)

    @field_validator("response_targets_minutes")
    @classmethod
    def _response_agencies(cls, targets: dict[str, float]) -> dict[str, float]:
        unknown = [a for a in targets if a not in AGENCIES]
        if unknown:
            raise ValueError(f"'{unknown[0]}' is not one of {', '.join(AGENCIES)}")
        return targets

    def target_minutes(self, trigger: str, band: str) -> float | None:
        """Target for a trigger and band; ``other`` falls back to the strictest target."""
        if trigger in self.triggers:
            return self.triggers[trigger].target_for(band)
        if not self.triggers:
            return None
        return min(t.target_for(band) for t in self.triggers.values())

    def expected_steps(self, trigger: str, band: str) -> list[str]:
        """The expected contacts in order for a trigger and band (empty when not stated)."""
        spec = self.triggers.get(trigger)
        if spec is None or spec.steps is None:
            return []
        return list(getattr(spec.steps, band))


def read_pathway(path: str | Path) -> Pathway:
    """Read and validate a pathway YAML file.

    Raises
    ------
    PathwayError
        One sentence naming the bad key and what to do.
    """
    pathway = read_validated(Path(path), "pathway file", Pathway, PathwayError)
    if "TODO" in pathway.model_dump_json():
        logger.warning("The pathway file %s still has TODO values: fill them in before sending a report.", Path(path).name)
    return pathway
