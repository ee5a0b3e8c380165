"""From an export the package has never seen to a first report, with the documented commands.

The issue "From my own export to my first report in ten minutes" as a test. The sample export is
rewritten into a layout nothing in the package knows: Datix-style ``inc_`` column names, the
date and time of identification in two columns but the other date-times in one, dates like
``03-Oct-2025``, ``;`` between cells, Windows-1252 text, ``|`` between list items and local codes
for the trigger and the outcome. Then, as docs/bring-your-own-export.md tells a user to:

1. ``escalation-review profile`` drafts a mapping profile;
2. the user answers the TODO lines the command printed;
3. ``escalation-review validate`` accounts for every row (exit 0, no unknown triggers);
4. ``escalation-review pathway init`` writes a pathway template that validates as it is;
5. ``escalation-review report near-miss-review ... --no-pdf`` makes the report.

Every command runs in a subprocess, as a user would run it, with the pseudonymisation key in a
temporary file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from escalation_analysis.ingest.mapping import read_mapping
from escalation_analysis.ingest.pathway import read_pathway
from escalation_analysis.ingest.profiling import todo_lines

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"

# The made-up local codes, and the answers a user who knows the export would give.
TRIGGER_CODES = {
    "Imminent risk – suicide/self-harm": "RISK-IMM",
    "Loss of contact (high risk)": "LOC-HR",
    "Sudden deterioration": "DETER",
    "Other concern": "OTHER-THR",
    "Self-neglect": "SELF-NEG",
}
OUTCOME_CODES = {"Near Miss": "NM", "Incident": "INC"}
ANSWERS = {
    "RISK-IMM": "imminent_risk",
    "LOC-HR": "loss_of_contact",
    "DETER": "deterioration",
    "OTHER-THR": "other",
    "SELF-NEG": "other",
    "NM": "near_miss",
    "INC": "incident",
    "Street Triage": "other",
}
# Required columns the draft could not find, and which column a user would name.
REQUIRED_ANSWERS = {"incident_id": "inc_ourref", "trigger": "inc_category"}

TODO_VALUE = re.compile(r'^(?P<indent>\s*)# "(?P<local>(?:[^"\\]|\\.)*)": TODO\b.*$', re.MULTILINE)
TODO_COLUMN = re.compile(r"^(?P<indent>\s*)(?P<field>\w+): TODO\b.*$", re.MULTILINE)


def _dates(dates: pd.Series, times: pd.Series | None = None) -> pd.Series:
    """dd/mm/yyyy -> dd-Mon-yyyy (unreadable cells such as 'TBC' kept as they are)."""
    parsed = pd.to_datetime(dates, format="%d/%m/%Y", errors="coerce")
    out = parsed.dt.strftime("%d-%b-%Y").where(parsed.notna(), dates)
    if times is not None:
        out = (out + " " + times).str.strip()
    return out


def write_unseen_export(path: Path) -> None:
    """The sample export, rewritten in a layout the package has never seen."""
    src = pd.read_csv(SAMPLE / "incidents.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    out = pd.DataFrame({
        "inc_ourref": src["Ref"],
        "inc_dincident": _dates(src["Incident Date"]),
        "inc_time": src["Incident Time"],
        "inc_escalated": _dates(src["Escalation Date"], src["Escalation Time"]),
        "crisis_attended": _dates(src["Crisis Response Date"], src["Crisis Response Time"]),
        "inc_unit": src["Team"],
        "inc_category": src["Category"].map(TRIGGER_CODES).fillna(src["Category"]),
        "inc_result": src["Result"].map(OUTCOME_CODES).fillna(src["Result"]),
        "inc_severity": src["Severity"],
        "lone_working": src["Lone Worker"].map({"Y": "Yes", "N": "No"}).fillna(src["Lone Worker"]),
        "agencies_contacted": src["Escalated To"].str.replace("; ", "|"),
        "delay_reasons": src["Barriers"].str.replace("; ", "|"),
        "info_passed_on": src["Information Shared"].str.replace("; ", "|"),
        "approvals_count": src["Approvals Sought"],
        "inc_notes": src["Description"],
        "nhs_no": src["NHS Number"],
        "inc_repname": src["Reported By"],
        "ethnic_group": src["Ethnicity"],
        "age_group": src["Age Band"],
        "sex": src["Gender"],
    })
    text = out.to_csv(sep=";", index=False, lineterminator="\r\n")
    # cp1252 has no emoji: the export system would have replaced them too.
    path.write_bytes(text.encode("cp1252", errors="replace"))


def fill_todos(text: str, values: dict[str, str], columns: dict[str, str]) -> str:
    """Answer a drafted profile's TODO lines, as the draft's comments tell a user to."""

    def value(match: re.Match) -> str:
        local = match["local"].replace('\\"', '"').replace("\\\\", "\\")
        if local not in values:
            raise AssertionError(f"the draft asks about {local!r}, which the test has no answer for")
        return f'{match["indent"]}"{match["local"]}": {values[local]}'

    def column(match: re.Match) -> str:
        if match["field"] not in columns:
            raise AssertionError(f"the draft could not find the required column for {match['field']}")
        return f'{match["indent"]}{match["field"]}: "{columns[match["field"]]}"'

    return TODO_COLUMN.sub(column, TODO_VALUE.sub(value, text))


def run_cli(*args: str | Path, key_file: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ESCALATION_ANALYSIS_KEY"}
    env["ESCALATION_ANALYSIS_KEY_FILE"] = str(key_file)
    return subprocess.run(
        [sys.executable, "-m", "escalation_analysis.cli", *map(str, args)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


@pytest.fixture(scope="module")
def onboarded(tmp_path_factory) -> dict:
    """Export, profile, answers and validation, done once for the module's tests."""
    base = tmp_path_factory.mktemp("onboarding")
    key = base / "pseudonym.key"
    export = base / "our-export.csv"
    write_unseen_export(export)
    draft = base / "draft-mapping.yaml"
    profiled = run_cli("profile", export, "--out", draft, key_file=key)
    assert profiled.returncode == 0, profiled.stderr
    printed_todos = [line.strip() for line in profiled.stdout.splitlines() if ": TODO" in line]
    mapping = base / "our-mapping.yaml"
    mapping.write_text(fill_todos(draft.read_text(encoding="utf-8"), ANSWERS, REQUIRED_ANSWERS), encoding="utf-8")
    quality = base / "quality.json"
    validated = run_cli("validate", export, "--mapping", mapping, "--json", quality, key_file=key)
    return {"base": base, "key": key, "export": export, "draft": draft, "mapping": mapping,
            "printed_todos": printed_todos, "validated": validated, "quality": quality}


def test_profile_maps_the_core_columns_without_help(onboarded):
    draft = yaml.safe_load(onboarded["draft"].read_text(encoding="utf-8"))
    columns = draft["columns"]
    assert columns["incident_id"] == "inc_ourref"
    assert columns["risk_identified_at"] == ["inc_dincident", "inc_time"]
    assert columns["team"] == "inc_unit"
    # and the rest of what a person would map at a glance
    assert columns["escalated_at"] == "inc_escalated"
    assert columns["responded_at"] == "crisis_attended"
    assert columns["trigger"] == "inc_category"
    assert columns["information_shared"] == "info_passed_on"
    assert draft["encoding"] == "cp1252"
    assert "dayfirst" not in draft  # 03-Oct-2025 needs no answer: the month is a name
    assert "# dayfirst: true   # not needed: no date is written as two numbers" in onboarded["draft"].read_text("utf-8")
    assert draft["lists"] == {"escalated_to": "|", "barriers": "|", "information_shared": "|"}
    assert draft["nhs_number"] == "service_user_id"


def test_profile_lists_what_it_could_not_guess_and_the_draft_loads(onboarded):
    asked = {re.match(r'# "(.*)": TODO', line)[1] for line in onboarded["printed_todos"]}
    assert asked == set(ANSWERS)  # the local codes: nothing a machine could know
    read_mapping(onboarded["draft"])  # the draft is a valid profile before any answer


def test_answered_draft_validates(onboarded):
    validated = onboarded["validated"]
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert todo_lines(onboarded["mapping"].read_text(encoding="utf-8")) == []
    quality = json.loads(onboarded["quality"].read_text(encoding="utf-8"))
    assert "trigger" not in quality["unknown_values"]
    assert quality["unknown_values"] == {}
    # The same rows as the sample in its own layout: 44 of 5,000 excluded, for the same reasons
    # (data/sample/README.md), so nothing was lost or invented by the new layout.
    assert quality["rows_read"] == 5000
    assert quality["excluded_by_reason"] == {
        "duplicate_row": 15, "missing_incident_id": 4, "missing_risk_identified_at": 5,
        "unparseable_risk_identified_at": 6, "missing_trigger": 3, "unparseable_escalated_at": 4,
        "escalated_before_identified": 7,
    }
    assert "Source: our-export.csv (text encoding: cp1252)." in validated.stdout


def test_pathway_template_validates_as_written(onboarded):
    pathway = onboarded["base"] / "our-pathway.yaml"
    made = run_cli("pathway", "init", "--out", pathway, key_file=onboarded["key"])
    assert made.returncode == 0, made.stderr
    assert "TODO" in pathway.read_text(encoding="utf-8")  # it asks for the user's own values
    read_pathway(pathway)
    again = run_cli("pathway", "init", "--out", pathway, key_file=onboarded["key"])
    assert again.returncode == 2 and "already exists" in again.stderr  # never overwrites


@pytest.mark.slow
def test_first_report_from_the_unseen_export(onboarded):
    base = onboarded["base"]
    pathway = base / "first-pathway.yaml"
    assert run_cli("pathway", "init", "--out", pathway, key_file=onboarded["key"]).returncode == 0
    out = base / "first-report"
    made = run_cli(
        "report", "near-miss-review", "--data", onboarded["export"], "--mapping", onboarded["mapping"],
        "--pathway", pathway, "--start", "2025-10-01", "--end", "2025-12-31", "--out", out, "--no-pdf",
        key_file=onboarded["key"],
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert (out / "report.html").is_file()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["report"] == "near-miss-review"
    assert summary["period"] == {"start": "2025-10-01", "end": "2025-12-31"}
    assert summary["timeliness"]["overall"]["n"] > 0
    assert not (out / "report.pdf").exists()
