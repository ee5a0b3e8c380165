"""Drafting a mapping profile from an export nobody has mapped before.

``escalation-review profile EXPORT --out mapping.yaml`` reads the headers and a sample of the
values and writes a draft profile: columns matched to canonical fields by name and content
(dates and whether they are day first, the encoding, Y/N flags, list separators), the distinct
values of each category field with a best guess or a clear TODO, and unmatched columns listed
as comments. ``escalation-review validate`` with the draft then says exactly what is left.

Matching is deliberately simple and explainable: a score from name patterns, confirmed or
rejected by what the values look like. Nothing here needs to be right every time; it needs to
save the first hour and never hide a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import datetimes
from .contract import FIELDS, LIST_FIELDS
from .files import RawTable, read_export
from .vocabulary import map_values

SAMPLE_ROWS = 2000

NAME_PATTERNS: dict[str, list[str]] = {
    "incident_id": [r"^ref(erence)?( no| number)?$", r"incident (id|ref|reference|number)", r"^id$", r"inc ourref", r"record ?id", r"^datix"],
    "risk_identified_at": [r"incident date", r"date of incident", r"risk identified", r"identified", r"inc dincident", r"^date$", r"occurred", r"event date"],
    "escalated_at": [r"escalat\w* (date|time|at|on)", r"date escalated", r"escalation", r"escalated"],
    "responded_at": [r"respon", r"attend", r"crisis response"],
    "team": [r"^team", r"team$", r"service$", r"^unit$", r"inc unit", r"directorate", r"locality"],
    "trigger": [r"trigger", r"threshold", r"^category$", r"inc category", r"escalation (type|reason)", r"risk type"],
    "outcome": [r"^result$", r"outcome", r"near ?miss", r"inc result"],
    "harm": [r"severity", r"harm", r"inc severity"],
    "lone_worker": [r"lone", r"alone", r"worked alone"],
    "escalated_to": [r"escalated to", r"contacted", r"agenc", r"referred to"],
    "barriers": [r"barrier", r"delay reason", r"obstacle", r"reason for delay"],
    "information_shared": [r"information", r"info shared", r"info\w* (passed|given|provided)", r"shared"],
    "approvals_before_action": [r"approval", r"sign.?off", r"authoris"],
    "description": [r"description", r"details", r"narrative", r"inc notes", r"what happened", r"notes"],
    "service_user_id": [r"nhs ?(no|number)", r"patient", r"service user", r"client", r"^mrn", r"hospital number"],
    "staff_id": [r"reported by", r"reporter", r"^staff", r"inc repname", r"handler", r"practitioner", r"clinician"],
    "ethnicity": [r"ethnic"],
    "age_band": [r"^age"],
    "gender": [r"gender", r"^sex$"],
}
DATE_PART = re.compile(r"\b(date|dt|day)\b|^d", re.I)
TIME_PART = re.compile(r"\btime\b", re.I)


@dataclass
class ColumnFacts:
    """What a column's values look like."""

    name: str
    filled: float
    unique: float
    date_share: float
    time_share: float
    dayfirst_votes: int
    monthfirst_votes: int
    yes_no: bool
    mean_length: float
    separator: str | None
    ten_digits: float


@dataclass
class Draft:
    """A drafted profile: matched columns, guesses and TODOs."""

    source_name: str
    encoding: str
    dayfirst: bool
    columns: dict[str, str | list[str]] = field(default_factory=dict)
    lists: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str | None]] = field(default_factory=dict)
    nhs_number: bool = False
    unmatched: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)


def _norm(name: str) -> str:
    return " ".join(re.sub(r"[_\-.]", " ", name).split()).casefold()


def column_facts(table: RawTable) -> dict[str, ColumnFacts]:
    """Describe each column from a sample of its values (vectorised per column)."""
    sample = table.cells.head(SAMPLE_ROWS)
    facts = {}
    for name in sample.columns:
        values = sample[name].dropna().astype("str")
        n = max(len(values), 1)
        dates = datetimes.parse_dates(values, dayfirst=True)
        times = datetimes.parse_times(values)
        parts = values.str.extract(r"^(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}")
        first = pd.to_numeric(parts[0], errors="coerce")
        second = pd.to_numeric(parts[1], errors="coerce")
        separators = {sep: values.str.contains(re.escape(sep)).mean() for sep in (";", "|", ",")}
        separator = max(separators, key=separators.get) if values.size and max(separators.values()) > 0.05 else None
        facts[name] = ColumnFacts(
            name=name,
            filled=len(values) / max(len(sample), 1),
            unique=values.nunique() / n,
            date_share=float(dates.notna().mean()) if len(values) else 0.0,
            time_share=float((times.notna() & ~values.str.contains(r"[/-]")).mean()) if len(values) else 0.0,
            dayfirst_votes=int((first > 12).sum()),
            monthfirst_votes=int((second > 12).sum()),
            yes_no=bool(len(values)) and values.str.fullmatch(r"(?i)y|n|yes|no|true|false|1|0").mean() > 0.9,
            mean_length=float(values.str.len().mean()) if len(values) else 0.0,
            separator=separator,
            ten_digits=float(values.str.replace(r"[\s-]", "", regex=True).str.fullmatch(r"\d{10}").mean()) if len(values) else 0.0,
        )
    return facts


def _name_score(field_name: str, column: str) -> int:
    text = _norm(column)
    for rank, pattern in enumerate(NAME_PATTERNS.get(field_name, [])):
        if re.search(pattern, text):
            return 100 - rank
    return 0


def _content_ok(field_name: str, facts: ColumnFacts) -> bool:
    kind = FIELDS[field_name].kind
    if kind == "datetime":
        return facts.date_share > 0.6
    if field_name == "incident_id":
        return facts.unique > 0.9 and facts.date_share < 0.5
    if kind == "bool":
        return facts.yes_no
    if field_name == "description":
        return facts.mean_length > 25
    if field_name == "approvals_before_action":
        return facts.date_share < 0.2
    return facts.date_share < 0.5


def _time_partner(date_column: str, facts: dict[str, ColumnFacts]) -> str | None:
    """The time column that goes with a date column ('Incident Date' -> 'Incident Time')."""
    stem = DATE_PART.sub("", _norm(date_column)).strip()
    candidates = [c for c, f in facts.items() if f.time_share > 0.6 and f.date_share < 0.2 and TIME_PART.search(_norm(c))]
    for candidate in candidates:
        if TIME_PART.sub("", _norm(candidate)).strip() == stem:
            return candidate
    first_word = stem.split()[0] if stem.split() else ""
    sharing = [c for c in candidates if first_word and _norm(c).split()[0] == first_word]
    return sharing[0] if len(sharing) == 1 else None


def draft_profile(path: str | Path) -> Draft:
    """Read an export and draft its mapping profile."""
    table = read_export(path)
    facts = column_facts(table)
    day_votes = sum(f.dayfirst_votes for f in facts.values())
    month_votes = sum(f.monthfirst_votes for f in facts.values())
    draft = Draft(source_name=Path(path).name, encoding=table.encoding, dayfirst=day_votes >= month_votes)
    used: set[str] = set()
    order = ["risk_identified_at", "escalated_at", "responded_at", *[f for f in FIELDS if FIELDS[f].kind != "datetime"]]
    for field_name in order:
        scored = sorted(
            ((_name_score(field_name, c), c) for c in facts if c not in used),
            reverse=True,
        )
        best = next((c for score, c in scored if score > 0 and _content_ok(field_name, facts[c])), None)
        if best is None:
            continue
        used.add(best)
        if FIELDS[field_name].kind == "datetime":
            partner = _time_partner(best, facts)
            if partner is not None and partner not in used:
                used.add(partner)
                draft.columns[field_name] = [best, partner]
                continue
        draft.columns[field_name] = best
        if field_name in LIST_FIELDS and facts[best].separator:
            draft.lists[field_name] = facts[best].separator
        if field_name == "service_user_id" and facts[best].ten_digits > 0.8:
            draft.nhs_number = True
    for field_name in ("trigger", "outcome", "harm", "lone_worker", "escalated_to"):
        column = draft.columns.get(field_name)
        if not isinstance(column, str):
            continue
        values = table.cells[column].dropna().astype("str")
        if field_name in draft.lists:
            values = values.str.split(re.escape(draft.lists[field_name])).explode().str.strip()
        distinct = pd.Series(values.value_counts().head(40).index.astype("str"), dtype="str")
        mapped, unknown = map_values(distinct, field_name)
        draft.values[field_name] = {
            value: (None if bad else str(guess)) for value, guess, bad in zip(distinct, mapped, unknown, strict=False)
        }
    draft.unmatched = [c for c in facts if c not in used]
    return draft


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_profile(draft: Draft) -> str:
    """The draft as commented YAML, TODOs first in mind."""
    lines = [
        f"# Draft mapping profile for {draft.source_name}, written by 'escalation-review profile'.",
        "# Check every line: guesses are marked 'guessed'; lines that need your answer say TODO.",
        "# Then run: escalation-review validate EXPORT --mapping THIS_FILE",
        f"source: {_quote(draft.source_name)}",
        f"encoding: {draft.encoding if draft.encoding not in ('xlsx',) else 'auto'}   # detected",
        f"dayfirst: {'true' if draft.dayfirst else 'false'}   # detected from dates such as 25/12 vs 12/25",
        "timezone: Europe/London",
        "columns:",
    ]
    for field_name, spec in FIELDS.items():
        column = draft.columns.get(field_name)
        if column is None:
            if spec.required:
                lines.append(f"  {field_name}: TODO   # REQUIRED: which column holds {spec.meaning}?")
            else:
                lines.append(f"  # {field_name}:   # not found ({spec.meaning}); add it if the export has it")
        elif isinstance(column, list):
            lines.append(f"  {field_name}: [{_quote(column[0])}, {_quote(column[1])}]")
        else:
            lines.append(f"  {field_name}: {_quote(column)}")
    if draft.nhs_number:
        lines.append("nhs_number: service_user_id   # the values look like NHS numbers: checked and pseudonymised")
    if draft.lists:
        lines.append("lists:")
        lines += [f"  {f}: {_quote(sep)}" for f, sep in draft.lists.items()]
    if draft.values:
        lines.append("values:")
        for field_name, mapping in draft.values.items():
            choices = FIELDS[field_name].categories or ("true", "false")
            guessed = any(guess is not None for guess in mapping.values())
            lines.append(f"  {field_name}:")
            if not guessed:  # a section of comments only would read as blank, and '{}' breaks once filled in
                lines.append("    <<: {}   # keeps this section valid while every line below is a TODO; leave it")
            for local, guess in mapping.items():
                if guess is None:
                    lines.append(f"    # {_quote(local)}: TODO   # one of {', '.join(map(str, choices))}")
                else:
                    value = str(guess).lower() if field_name == "lone_worker" else guess
                    lines.append(f"    {_quote(local)}: {value}   # guessed")
    if draft.unmatched:
        lines.append("# Columns not used (add any that hold a canonical field):")
        lines += [f"#   {_quote(c)}" for c in draft.unmatched]
    return "\n".join(lines) + "\n"


def todo_lines(text: str) -> list[str]:
    """The lines of a drafted profile that still need an answer."""
    return [line.strip() for line in text.splitlines() if ": TODO" in line]
