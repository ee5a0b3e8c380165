"""The documentation stays true: definitions, links and commands.

* Every figure in ``summary.json`` and its CSV tables has an entry in the definitions register
  (:mod:`escalation_analysis.reviews.definitions`), so a commissioner's "how exactly is this counted?"
  always has an answer. Only structural keys (report, period, group names...) are exempt.
* ``docs/definitions.md`` shows the whole register and the exclusion and warning reasons, as
  generated from the code. After adding to the register, regenerate it from the repository
  root with ``python tests/test_docs.py``.
* Every relative link in ``docs/*.md`` and ``README.md`` points at a file that exists.
* Every ``escalation-review`` command shown in the docs is accepted by the command's parser.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from escalation_analysis.ingest.accounting import EXCLUSION_REASONS, ISSUE_COLUMNS, WARNING_REASONS
from escalation_analysis.ingest.contract import AGENCIES, BANDS, FIELDS, TRIGGERS
from escalation_analysis.ingest.mapping import ActionsLogMapping
from escalation_analysis.ingest.pathway import KpiTargets
from escalation_analysis.reviews import kpis
from escalation_analysis.reviews.definitions import REGISTER

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"

# ------------------------------------------------------------------------------------------
# The register covers every figure in summary.json and tables/*.csv

STRUCTURAL = {
    "report", "audience", "period", "start", "end", "pathway", "generated_by",  # what and when
    "source", "encoding",  # data_quality: the export's label and text encoding
    "timeliness", "overall", "step_log", "effects",  # sections
    "test", "wording", "caveat",  # text beside a comparison
    "disclosure", "policy", "method", "key",  # outside readers: the disclosure policy and the key to its marks
}
"""Keys that name a section or carry text, not a figure."""

COMPARISONS = {"compliance", "delay", "time_to_escalate"}
"""The three views of one comparison (all described by the register's 'comparisons' entry)."""

LABELS: dict[tuple[str, ...], Callable[[str], bool]] = {
    ("timeliness", "by_*"): lambda label: bool(label),  # team names, bands, quarters...
    ("comparisons",): lambda factor: factor in REGISTER or factor in FIELDS,
    ("comparisons", "*"): lambda kind: kind in COMPARISONS,
    ("training",): lambda key: key in COMPARISONS or key == "caveat",
    ("multi_agency",): lambda agency: agency in AGENCIES or agency == "not recorded",
    ("time_to_escalation",): lambda key: key.count("|") == 1
    and key.split("|")[0] in TRIGGERS and key.split("|")[1] in BANDS,
    ("data_quality", "excluded_by_reason"): lambda reason: reason in EXCLUSION_REASONS,
    ("data_quality", "warnings"): lambda reason: reason in WARNING_REASONS,
    ("data_quality", "unknown_values"): lambda field: field in FIELDS,
    ("data_quality", "first_rows"): lambda kind: kind in ("excluded", "warnings"),
    ("data_quality", "first_rows", "excluded"): lambda reason: reason in EXCLUSION_REASONS,
    ("data_quality", "first_rows", "warnings"): lambda reason: reason in WARNING_REASONS,
    ("step_log", "excluded_by_reason"): lambda reason: bool(re.fullmatch(r"[a-z_]+", reason)),
}
"""Positions (parent key path, ``*`` for any one key) whose keys are group labels, with the
check each label must pass. The figures inside a labelled group are checked as usual."""

TABLE_LABELS = {"check", "agency", "group"}
"""Table columns that hold group names, beyond canonical fields and register entries."""
RECORD_TABLES = {"learning_actions": ActionsLogMapping.fields, "excluded_rows": ISSUE_COLUMNS,
                 "warnings": ISSUE_COLUMNS}
"""Tables of records (one row per action or row of the export), with their record columns."""


def _at(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    return len(pattern) == len(path) and all(fnmatch.fnmatchcase(p, q) for p, q in zip(path, pattern, strict=True))


def unregistered(data: object, path: tuple[str, ...] = ()) -> Iterator[str]:
    """Key paths in a summary whose key is neither a register entry nor allowed structurally."""
    if not isinstance(data, dict):
        return
    label_check = next((check for pattern, check in LABELS.items() if _at(pattern, path)), None)
    for key, value in data.items():
        key = str(key)
        here = "/".join((*path, key))
        if label_check is not None:
            if not label_check(key):
                yield f"{here} (not a known group label)"
        elif key.startswith("by_") and path == ("timeliness",):
            if key[3:] not in REGISTER and key[3:] not in FIELDS:
                yield f"{here} (breakdown by something undefined)"
        elif key not in REGISTER and key not in STRUCTURAL:
            yield here
        yield from unregistered(value, (*path, key))


def unregistered_columns(name: str, columns: list[str]) -> list[str]:
    allowed = set(REGISTER) | set(FIELDS) | TABLE_LABELS | set(RECORD_TABLES.get(name, ()))
    return [f"tables/{name}.csv: {column}" for column in columns if column not in allowed]


@pytest.fixture(scope="module")
def summaries(sample) -> dict:
    """The sample (conftest: whole period, every log) summarised for each audience."""
    from escalation_analysis.reviews.summary import build_summary

    return {audience: build_summary(sample, report="contract-monitoring", audience=audience)
            for audience in ("internal", "external", "partners")}


@pytest.mark.parametrize("audience", ["internal", "external", "partners"])
def test_register_covers_every_figure_in_summary_json(summaries, audience):
    data = summaries[audience].data
    # the walk reaches every section a full run produces
    assert {"timeliness", "adherence", "multi_agency", "learning_actions", "comparisons"} <= data.keys()
    assert list(unregistered(data)) == []


def test_register_covers_every_column_of_the_tables(summaries):
    problems = [p for name, table in summaries["internal"].tables.items()
                for p in unregistered_columns(name, list(table.columns))]
    assert problems == []


def test_register_covers_every_kpi_of_the_contract_report():
    assert [k for k in kpis.KPI_LABELS if k not in REGISTER] == []
    assert [f for f in KpiTargets.model_fields if f not in REGISTER] == []


def test_the_walk_catches_a_missing_definition():
    summary = {
        "report": "x",
        "timeliness": {"overall": {"n": 1, "mystery_pct": 2.0}, "by_team": {"Any team": {"n": 1}},
                       "by_nonsense": {}},
        "multi_agency": {"crisis_team": {"contacts": 1}, "martians": {}},
        "data_quality": {"excluded_by_reason": {"made_up": 1}},
    }
    assert list(unregistered(summary)) == [
        "timeliness/overall/mystery_pct",
        "timeliness/by_nonsense (breakdown by something undefined)",
        "multi_agency/martians (not a known group label)",
        "data_quality/excluded_by_reason/made_up (not a known group label)",
    ]
    assert unregistered_columns("timeliness_by_team", ["team", "n", "secret_sauce"]) == [
        "tables/timeliness_by_team.csv: secret_sauce"
    ]


# ------------------------------------------------------------------------------------------
# docs/definitions.md and docs/data-dictionary.md: tables generated from the code

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip() or "-"


def register_markdown() -> str:
    lines = ["| Key | Measure | Counted (numerator) | Out of (denominator) | Notes | Computed by |",
             "|---|---|---|---|---|---|"]
    lines += [f"| `{d.name}` | {_cell(d.label)} | {_cell(d.numerator)} | {_cell(d.denominator)} | {_cell(d.notes)} "
              f"| `{d.computed_by}` |" for d in REGISTER.values()]
    return "\n".join(lines)


def reasons_markdown() -> str:
    lines = ["| Key | Kind | Meaning |", "|---|---|---|"]
    lines += [f"| `{k}` | excluded | {_cell(v)} |" for k, v in EXCLUSION_REASONS.items()]
    lines += [f"| `{k}` | warning (row kept) | {_cell(v)} |" for k, v in WARNING_REASONS.items()]
    return "\n".join(lines)


KIND_WORDS = {"id": "text", "datetime": "date and time", "category": "one of a list", "bool": "yes or no",
              "list": "list", "int": "whole number", "text": "text", "pseudonym": "identifier (pseudonymised)"}


def fields_markdown() -> str:
    lines = ["| Field | Type | Required | Meaning | Values |", "|---|---|---|---|---|"]
    for f in FIELDS.values():
        values = ", ".join(f"`{c}`" for c in f.categories) if f.categories else (
            "`true`, `false`" if f.kind == "bool" else "-")
        lines.append(f"| `{f.name}` | {KIND_WORDS[f.kind]} | {'yes' if f.required else 'no'} | "
                     f"{_cell(f.meaning)} | {values} |")
    return "\n".join(lines)


def spellings_markdown() -> str:
    from escalation_analysis.ingest.vocabulary import SYNONYMS

    lines = ["| Field | Canonical value | Also understood (any case, spacing or dash) |", "|---|---|---|"]
    for field, synonyms in SYNONYMS.items():
        by_value: dict[str, list[str]] = {}
        for local, canonical in synonyms.items():
            value = str(canonical).lower()
            by_value.setdefault(value, [])
            if local != value:
                by_value[value].append(local)
        for value, locals_ in by_value.items():
            shown = ", ".join(f"`{s}`" for s in locals_) or "-"
            lines.append(f"| `{field}` | `{value}` | {shown} |")
    return "\n".join(lines)


DEFINITIONS_DOC = DOCS / "definitions.md"
DATA_DICTIONARY = DOCS / "data-dictionary.md"
GENERATED = {
    DEFINITIONS_DOC: {"register": register_markdown, "reasons": reasons_markdown},
    DATA_DICTIONARY: {"fields": fields_markdown, "spellings": spellings_markdown},
}


def _block(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- {name}:start[^>]*-->)(.*?)(<!-- {name}:end -->)", re.DOTALL)


def regenerate(path: Path, text: str) -> str:
    for name, make in GENERATED[path].items():
        text, found = _block(name).subn(lambda m, make=make: f"{m[1]}\n{make()}\n{m[3]}", text)
        assert found == 1, f"{path.name} needs one '<!-- {name}:start -->' ... '<!-- {name}:end -->' block"
    return text


def test_definitions_doc_lists_every_register_entry():
    text = DEFINITIONS_DOC.read_text(encoding="utf-8")
    missing = [name for name in REGISTER if f"| `{name}` |" not in text]
    assert missing == [], "run: python tests/test_docs.py"
    missing_reasons = [r for r in (*EXCLUSION_REASONS, *WARNING_REASONS) if f"| `{r}` |" not in text]
    assert missing_reasons == [], "run: python tests/test_docs.py"


@pytest.mark.parametrize("path", list(GENERATED), ids=lambda p: p.name)
def test_generated_tables_are_up_to_date(path):
    text = path.read_text(encoding="utf-8")
    assert regenerate(path, text) == text, f"{path.name} is out of date: run python tests/test_docs.py"


def test_generated_tables_notice_a_change():
    text = "Intro\n<!-- register:start -->\n| old |\n<!-- register:end -->\n<!-- reasons:start -->\n<!-- reasons:end -->\n"
    updated = regenerate(DEFINITIONS_DOC, text)
    assert updated != text and "| `within_target_pct` |" in updated and updated.startswith("Intro\n")


# ------------------------------------------------------------------------------------------
# Links

DOC_FILES = [*sorted(DOCS.glob("*.md")), REPO / "README.md"]
FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"""<(?:img|a)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""")


def relative_links(markdown: str) -> list[str]:
    """Link targets outside code blocks that point at files, not web pages or anchors."""
    prose = re.sub(r"`[^`\n]*`", "", FENCE.sub("", markdown))
    targets = LINK.findall(prose) + HTML_LINK.findall(prose)
    return [t for t in targets if not re.match(r"^([a-z][a-z0-9+.-]*:|#)", t, re.IGNORECASE)]


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors for a page's headings ("## 2. Answer the TODOs" -> "2-answer-the-todos")."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*$", FENCE.sub("", markdown), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.replace("`", "").lower()).replace(" ", "-") for h in headings}


def broken_links(path: Path) -> list[str]:
    """Links to files that do not exist, or to headings a page does not have."""
    broken = []
    text = path.read_text(encoding="utf-8")
    for target in relative_links(text) + [t for t in LINK.findall(FENCE.sub("", text)) if t.startswith("#")]:
        file, _, fragment = target.partition("#")
        linked = (path.parent / file) if file else path
        if not linked.exists():
            broken.append(f"{path.name} -> {target}")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked.read_text(encoding="utf-8")):
            broken.append(f"{path.name} -> {target} (no such heading)")
    return broken


def test_docs_exist():
    expected = {"README.md", "getting-started.md", "bring-your-own-export.md", "pathway.md",
                "data-dictionary.md", "definitions.md", "privacy.md", "gallery.md"}
    assert expected <= {p.name for p in DOCS.glob("*.md")}
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    assert [name for name in sorted(expected - {"README.md"}) if name not in relative_links(index)] == []


def test_screenshots_are_small():
    """The gallery's pictures stay light enough for the repository (under 400 KB each)."""
    pictures = sorted((DOCS / "img").glob("*.png"))
    assert {p.stem for p in pictures} >= {"near-miss-review", "contract-monitoring", "supervision", "pathway-review"}
    assert [p.name for p in pictures if p.stat().st_size >= 400_000] == []


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(path):
    assert broken_links(path) == []


def test_link_check_can_fail(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("See [the guide](missing.md), [web](https://example.org) and [here](#top).\n"
                    '![shot](img/none.png) `[not a link](nowhere.md)`\n```\n[code](gone.md)\n```\n',
                    encoding="utf-8")
    assert relative_links(page.read_text(encoding="utf-8")) == ["missing.md", "img/none.png"]
    (tmp_path / "other.md").write_text("# Title\n\n## 2. Answer the `TODOs`\n", encoding="utf-8")
    page.write_text("[a](other.md#2-answer-the-todos) [b](other.md#nowhere) [c](#title)\n", encoding="utf-8")
    assert broken_links(page) == ["page.md -> other.md#nowhere (no such heading)",
                                  "page.md -> #title (no such heading)"]


# ------------------------------------------------------------------------------------------
# Commands

PLACEHOLDERS = {"KIND": "near-miss-review", "<kind>": "near-miss-review", "<report>": "near-miss-review"}


def commands_in(markdown: str) -> list[str]:
    """``escalation-review`` command lines shown in code blocks and inline code."""
    found = []
    for block in FENCE.finditer(markdown):
        text = re.sub(r"\s*\\\n\s*", " ", block[0])  # join continued lines
        for line in text.splitlines()[1:-1]:
            line = re.sub(r"^\s*(\$|>)\s+", "", line)  # console prompts
            found += _segments(line)
    for span in re.findall(r"`([^`\n]+)`", FENCE.sub("", markdown)):
        found += _segments(span)
    return found


def _segments(line: str) -> list[str]:
    parts = re.split(r"\s*(?:&&|\|\||;)\s*", line)
    return [p.strip() for p in parts if re.match(r"^escalation-review\s+[^\s#]", p.strip())]


def parse_problems(commands: list[str]) -> list[str]:
    """Commands the CLI parser rejects, with its message."""
    import contextlib
    import io

    from escalation_analysis.cli import build_parser

    problems, previous = [], {}
    for command in commands:
        for placeholder, value in PLACEHOLDERS.items():
            command = command.replace(placeholder, value)
        tokens = shlex.split(command, comments=True)[1:]
        if "..." in tokens:  # "the same arguments as the command above"
            sub = tokens[0]
            at = tokens.index("...")
            tokens = tokens[:at] + previous.get(sub, []) + tokens[at + 1:]
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                build_parser().parse_args(tokens)
        except SystemExit as exc:
            if exc.code:
                problems.append(f"{command}: {err.getvalue().strip()}")
                continue
        if tokens:
            previous[tokens[0]] = tokens[1:]
    return problems


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_commands_in_docs_parse(path):
    commands = commands_in(path.read_text(encoding="utf-8"))
    if path.relative_to(REPO).as_posix() in ("docs/getting-started.md", "docs/bring-your-own-export.md", "README.md"):
        assert commands, f"no escalation-review commands found in {path.name}"
    assert parse_problems(commands) == []


def test_command_check_can_fail():
    markdown = ("Run `escalation-review demo` then:\n```bash\n$ escalation-review report nonsense \\\n"
                "    --data x.csv\nescalation-review validate x.csv --mapping m.yaml  # ok\n```\n")
    commands = commands_in(markdown)
    assert commands == ["escalation-review report nonsense --data x.csv",
                        "escalation-review validate x.csv --mapping m.yaml  # ok",
                        "escalation-review demo"]
    problems = parse_problems(commands)
    assert len(problems) == 1 and problems[0].startswith("escalation-review report nonsense")


if __name__ == "__main__":  # python tests/test_docs.py: rewrite the generated tables in docs/
    for doc in GENERATED:
        doc.write_text(regenerate(doc, doc.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"Updated {doc.relative_to(REPO)}.", file=sys.stderr)
