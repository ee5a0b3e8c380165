"""Drafting a mapping profile from an export nobody has mapped before.

``escalation-review profile EXPORT --out mapping.yaml`` finds the data (the sheet of a
workbook, and the header row below any title lines), reads the headers and a sample of the
values and writes a draft profile: columns matched to canonical fields by name and content
(a date column with a time column beside it as a ``[date, time]`` pair, whether dates are day
first when a date shows it, the encoding, Y/N flags, list separators), the distinct values of
each category field with a best guess or a clear TODO, and unmatched columns listed as
comments. ``escalation-review validate`` with the draft then says exactly what is left.

The draft is written with a YAML emitter (every value from the export a double-quoted
scalar), so a newline, colon or quote in a column name or category value can never add or
change a key; the comments are around those values, never made of them.

Matching is deliberately simple and explainable: a score from name patterns, confirmed or
rejected by what the values look like. Nothing here needs to be right every time; it needs to
save the first hour and never hide a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from . import datetimes
from .contract import FIELDS, LIST_FIELDS
from .files import RawTable, first_rows, read_export
from .listing import HeaderGuess, find_header
from .vocabulary import map_values

SAMPLE_ROWS = 2000

NAME_PATTERNS: dict[str, list[str]] = {
    "incident_id": [r"^ref(erence)?( no| number)?$", r"incident (id|ref|reference|number|no)", r"^id$",
                    r"inc ourref", r"record ?(id|no|number)", r"^datix", r"^(case|log|event) (id|ref|reference|no|number)$"],
    "risk_identified_at": [r"date risk identified", r"risk identified", r"incident date", r"date of incident",
                           r"identified", r"inc dincident", r"^date$", r"occurred", r"event date", r"date reported"],
    "escalated_at": [r"escalat\w* (date|time|at|on)", r"date escalated", r"date of escalation", r"escalation",
                     r"escalated"],
    "responded_at": [r"respon", r"attend", r"crisis response"],
    "team": [r"^team", r"team$", r"^service$", r"service$", r"^unit$", r"inc unit", r"directorate", r"locality",
             r"^ward$", r"specialty"],
    "trigger": [r"trigger", r"threshold", r"concern type", r"type of concern", r"escalation (type|reason|category)",
                r"reason for escalation", r"^category$", r"inc category", r"risk (type|category)", r"^concern$",
                r"^reason$"],
    "outcome": [r"^result$", r"outcome", r"near ?miss", r"inc result"],
    "harm": [r"severity", r"harm", r"inc severity", r"^impact$"],
    "lone_worker": [r"lone", r"alone", r"worked alone"],
    "escalated_to": [r"escalated to", r"contacted", r"agenc", r"referred to"],
    "barriers": [r"barrier", r"delay reason", r"obstacle", r"reason for delay"],
    "information_shared": [r"information", r"info shared", r"info\w* (passed|given|provided)", r"shared"],
    "approvals_before_action": [r"approval", r"sign.?off", r"authoris"],
    "description": [r"description", r"brief summary", r"summary", r"details", r"narrative", r"inc notes",
                    r"what happened", r"notes", r"free ?text", r"comments?$"],
    "service_user_id": [r"nhs ?(no|number)", r"patient", r"service user", r"client", r"^mrn", r"hospital number"],
    "staff_id": [r"reported by", r"reporter", r"^staff", r"inc repname", r"handler", r"practitioner", r"clinician"],
    "ethnicity": [r"ethnic"],
    "age_band": [r"^age"],
    "gender": [r"gender", r"^sex$"],
}
"""Column-name synonyms, one table: patterns (on lower-case names, '_' '-' '.' as spaces) in
order of preference for each canonical field. Content then confirms or rejects a match."""
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
    midnight_share: float = 0.0
    written_dates: int = 0
    dayfirst_example: str | None = None
    monthfirst_example: str | None = None


@dataclass
class Draft:
    """A drafted profile: matched columns, guesses and TODOs.

    ``dayfirst`` is ``None`` when no date shows whether the day or the month comes first;
    ``dayfirst_note`` says what the answer rests on.
    """

    source_name: str
    encoding: str
    dayfirst: bool | None
    dayfirst_note: str = ""
    sheet: str | None = None
    sheet_names: list[str] = field(default_factory=list)
    header_row: int = 1
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
        dates = dates.fillna(datetimes.parse_dates(values[dates.isna()], dayfirst=False))  # month-first dates too
        times = datetimes.parse_times(values)
        parts = values.str.extract(r"^(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}")
        first = pd.to_numeric(parts[0], errors="coerce")
        second = pd.to_numeric(parts[1], errors="coerce")
        read = dates.dropna()
        # a real date shows its order only when one number is above 12 and the other is a month
        day_shown = first.between(13, 31) & second.between(1, 12)
        month_shown = second.between(13, 31) & first.between(1, 12)
        separators = {sep: values.str.contains(re.escape(sep)).mean() for sep in (";", "|", ",")}
        separator = max(separators, key=separators.get) if values.size and max(separators.values()) > 0.05 else None
        facts[name] = ColumnFacts(
            name=name,
            filled=len(values) / max(len(sample), 1),
            unique=values.nunique() / n,
            date_share=float(dates.notna().mean()) if len(values) else 0.0,
            time_share=float((times.notna() & ~values.str.contains(r"[/-]")).mean()) if len(values) else 0.0,
            dayfirst_votes=int(day_shown.sum()),
            monthfirst_votes=int(month_shown.sum()),
            yes_no=bool(len(values)) and values.str.fullmatch(r"(?i)y|n|yes|no|true|false|1|0").mean() > 0.9,
            mean_length=float(values.str.len().mean()) if len(values) else 0.0,
            separator=separator,
            ten_digits=float(values.str.replace(r"[\s-]", "", regex=True).str.fullmatch(r"\d{10}").mean()) if len(values) else 0.0,
            midnight_share=float((read == read.dt.normalize()).mean()) if len(read) else 0.0,
            written_dates=int((first.between(1, 31) & second.between(1, 31)).sum()),
            dayfirst_example=_first_value(values, day_shown),
            monthfirst_example=_first_value(values, month_shown),
        )
    return facts


def _first_value(values: pd.Series, mask: pd.Series) -> str | None:
    hits = values[mask.fillna(False).to_numpy(dtype=bool)]
    return str(hits.iloc[0]) if len(hits) else None


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


def _time_partner(date_column: str, facts: dict[str, ColumnFacts], used: set[str]) -> str | None:
    """The time column that goes with a date column, if the date column holds no times itself.

    By name first ('Incident Date' -> 'Incident Time'); then the column beside it, when its
    values are times of day such as 14:22 ('Incident date', 'Time'); then the one time column
    sharing the date column's first word.
    """
    if facts[date_column].midnight_share < 0.9:
        return None  # the dates carry their own times
    order = list(facts)
    candidates = [c for c, f in facts.items() if c not in used and c != date_column
                  and f.time_share > 0.6 and f.date_share < 0.2]
    stem = DATE_PART.sub("", _norm(date_column)).strip()
    for candidate in candidates:
        if TIME_PART.search(_norm(candidate)) and TIME_PART.sub("", _norm(candidate)).strip() == stem:
            return candidate
    position = order.index(date_column)
    for neighbour in order[position + 1: position + 2] + order[max(position - 1, 0): position]:
        if neighbour in candidates:
            return neighbour
    first_word = stem.split()[0] if stem.split() else ""
    sharing = [c for c in candidates if first_word and TIME_PART.search(_norm(c)) and _norm(c).split()[0] == first_word]
    return sharing[0] if len(sharing) == 1 else None


def _dayfirst(facts: dict[str, ColumnFacts]) -> tuple[bool | None, str]:
    """Day or month first, only from dates that show it (a number above 12), and why."""
    dated = [f for f in facts.values() if f.date_share > 0.6]
    day = sum(f.dayfirst_votes for f in dated)
    month = sum(f.monthfirst_votes for f in dated)
    day_example = next((f.dayfirst_example for f in dated if f.dayfirst_example), None)
    month_example = next((f.monthfirst_example for f in dated if f.monthfirst_example), None)
    if day and month:
        answer = day >= month
        return answer, (f"mixed: {day:,} dates read day first (such as {_scalar(day_example)}) and {month:,} month "
                        f"first (such as {_scalar(month_example)}); {'day' if answer else 'month'} first is the "
                        "majority, check the export")
    if day:
        return True, f"day first: dates such as {_scalar(day_example)} ({day:,} in all) have a first number above 12"
    if month:
        return False, f"month first: dates such as {_scalar(month_example)} ({month:,} in all) have a second number above 12"
    if sum(f.written_dates for f in dated):
        return None, ("not claimed: no date has a number above 12 to show whether the day or the month comes "
                      "first; without this line dates are read day first (the UK order): check one you know")
    return None, ("not needed: no date is written as two numbers and a year (03/04/2025); they are year first, "
                  "have month names or are Excel date cells")


@dataclass(frozen=True)
class FoundLayout:
    """Where the data is: the sheet (``None`` for a CSV) and the header's row."""

    sheet: str | None
    header_row: int


def find_layout(path: str | Path, sheet: str | int | None = None) -> FoundLayout:
    """The data sheet and header row: every sheet's first rows are scanned for a header.

    The header is the row of distinct text cells followed by data
    (:func:`~escalation_analysis.ingest.listing.find_header`); the sheet with the widest one
    holds the data (the first such sheet on a tie). Without any, the first row of the first
    (or given) sheet.
    """
    tops = first_rows(path, sheet=sheet)
    best: tuple[str | None, HeaderGuess] | None = None
    for name, top in tops.items():
        guess = find_header(top)
        if guess is not None and (best is None or guess.names > best[1].names):
            best = (name, guess)
    if best is None:
        return FoundLayout(next(iter(tops)), 1)
    return FoundLayout(best[0], best[1].row)


def draft_profile(path: str | Path, sheet: str | int | None = None) -> Draft:
    """Find the data in an export, read it and draft its mapping profile."""
    layout = find_layout(path, sheet)
    table = read_export(path, sheet=layout.sheet, header_row=layout.header_row)
    facts = column_facts(table)
    dayfirst, note = _dayfirst(facts)
    draft = Draft(source_name=Path(path).name, encoding=table.encoding, dayfirst=dayfirst, dayfirst_note=note,
                  sheet=table.sheet, sheet_names=table.sheet_names, header_row=layout.header_row)
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
            partner = _time_partner(best, facts, used)
            if partner is not None:
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


def _scalar(value: object) -> str:
    """A value from the export as one double-quoted YAML scalar, written by the YAML emitter.

    Newlines, colons, quotes and control characters are escaped inside the quotes, so the
    value stays one scalar on one line: it can never start a key or end a comment.
    """
    text = yaml.safe_dump(str(value), default_style='"', width=float("inf"), allow_unicode=True)
    return text.removesuffix("\n...\n").strip()


def render_profile(draft: Draft) -> str:
    """The draft as commented YAML, TODOs first in mind."""
    lines = [
        f"# Draft mapping profile for {_scalar(draft.source_name)}, written by 'escalation-review profile'.",
        "# Check every line: guesses are marked 'guessed'; lines that need your answer say TODO.",
        "# Then run: escalation-review validate EXPORT --mapping THIS_FILE",
        f"source: {_scalar(draft.source_name)}",
    ]
    if draft.sheet is not None:
        lines.append("encoding: auto   # a workbook holds text, not bytes: nothing to detect")
        others = [n for n in draft.sheet_names if n != draft.sheet]
        where = f" (its other sheets: {', '.join(_scalar(n) for n in others)})" if others else ""
        lines.append(f"sheet: {_scalar(draft.sheet)}   # found: the data is on this sheet of the workbook{where}")
    else:
        lines.append(f"encoding: {draft.encoding}   # detected")
    if draft.header_row == 1:
        lines.append("header_row: 1   # found: the header is the first row")
    else:
        titles = "row 1 above it is a title" if draft.header_row == 2 else f"rows 1 to {draft.header_row - 1} above it are titles"
        lines.append(f"header_row: {draft.header_row}   # found: {titles}, skipped")
    if draft.dayfirst is None:
        lines.append(f"# dayfirst: true   # {draft.dayfirst_note}")
    else:
        lines.append(f"dayfirst: {'true' if draft.dayfirst else 'false'}   # {draft.dayfirst_note}")
    lines += ["timezone: Europe/London", "columns:"]
    for field_name, spec in FIELDS.items():
        column = draft.columns.get(field_name)
        if column is None:
            if spec.required:
                lines.append(f"  {field_name}: TODO   # REQUIRED: which column holds {spec.meaning}?")
            else:
                lines.append(f"  # {field_name}:   # not found ({spec.meaning}); add it if the export has it")
        elif isinstance(column, list):
            lines.append(f"  {field_name}: [{_scalar(column[0])}, {_scalar(column[1])}]   # date column, time column")
        else:
            lines.append(f"  {field_name}: {_scalar(column)}")
    if draft.nhs_number:
        lines.append("nhs_number: service_user_id   # the values look like NHS numbers: checked and pseudonymised")
    if draft.lists:
        lines.append("lists:")
        lines += [f"  {f}: {_scalar(sep)}" for f, sep in draft.lists.items()]
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
                    lines.append(f"    # {_scalar(local)}: TODO   # one of {', '.join(map(str, choices))}")
                else:
                    value = str(guess).lower() if field_name == "lone_worker" else guess
                    lines.append(f"    {_scalar(local)}: {value}   # guessed")
    if draft.unmatched:
        lines.append("# Columns not used (add any that hold a canonical field):")
        lines += [f"#   {_scalar(c)}" for c in draft.unmatched]
    return "\n".join(lines) + "\n"


def todo_lines(text: str) -> list[str]:
    """The lines of a drafted profile that still need an answer."""
    return [line.strip() for line in text.splitlines() if ": TODO" in line]
