"""``profile`` on exports in layouts nobody here designed: it finds the data and never misleads.

The Datix-Web-style listing of issue 15 (a criteria sheet first, the header on row 4, date and
time in two columns named "Incident date" and "Time") is profiled as a user would: the draft
names the sheet and the header row itself, pairs the date with its time, and once its TODO
lines are answered validates with the plain export's accounting. Then the drafting rules one
by one: time columns beside a date, ``dayfirst`` only with evidence, synonyms, and a YAML
emitter that no value from the export can break out of.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml
from test_cli_validate import run_in_process as run
from test_onboarding import fill_todos

from escalation_analysis.ingest.files import read_export
from escalation_analysis.ingest.profiling import draft_profile, render_profile

ANSWERS = {"Imminent risk – suicide/self-harm": "imminent_risk", "Loss of contact (high risk)": "loss_of_contact",
           "Other concern": "other", "Self-neglect": "other", "Street Triage": "other"}


@pytest.fixture
def listings(sample_listings) -> dict:
    """The sample as a Datix-Web listing workbook and a listing CSV (written once per run: tests/conftest.py)."""
    return sample_listings


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_profile_finds_the_sheet_and_header_row_and_the_answered_draft_gives_the_plain_accounting(
        listings, truth, tmp_path, kind):
    written = listings[kind]
    draft_path = tmp_path / "draft.yaml"

    code, stdout, stderr = run("profile", written.path, "--out", draft_path)

    assert code == 0, stderr
    draft = yaml.safe_load(draft_path.read_text(encoding="utf-8"))
    assert draft["header_row"] == written.header_row
    if kind == "xlsx":
        assert draft["sheet"] == "Listing"
        assert "The data is on sheet 'Listing'; its header is on row 4, below 3 title line(s)." in stdout
    else:
        assert "sheet" not in draft
    assert draft["columns"]["risk_identified_at"] == ["Incident date", "Time"]
    assert draft["columns"]["escalated_at"] == ["Date escalated", "Time escalated"]
    assert (draft["columns"]["trigger"], draft["columns"]["team"], draft["columns"]["description"]) == (
        "Concern Type", "Service", "Brief Summary")

    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(fill_todos(draft_path.read_text(encoding="utf-8"), ANSWERS, {}), encoding="utf-8")
    code, stdout, stderr = run("validate", written.path, "--mapping", mapping)

    assert code == 0, stderr
    assert f"{truth['rows_read']:,} rows read: {truth['rows_analysed']:,} analysed, {truth['rows_excluded']} excluded." in stdout
    assert "not in the mapping profile" not in stdout


def test_profile_reads_the_sheet_it_is_given(listings, tmp_path):
    code, _, stderr = run("profile", listings["xlsx"].path, "--out", tmp_path / "draft.yaml", "--sheet", "1")

    assert code == 0, stderr
    assert yaml.safe_load((tmp_path / "draft.yaml").read_text(encoding="utf-8"))["sheet"] == "Listing"

    code, _, stderr = run("profile", listings["xlsx"].path, "--out", tmp_path / "other.yaml", "--sheet", "Summary")
    assert code == 2
    assert stderr == ("escalation-review: The workbook 'listing.xlsx' has no sheet 'Summary'; its sheets are "
                      "'Criteria', 'Listing': fix 'sheet' in the mapping profile.\n")


def export_with(tmp_path, columns: dict[str, list]) -> str:
    path = tmp_path / "export.csv"
    pd.DataFrame(columns).to_csv(path, index=False)
    return render_profile(draft_profile(path))


def test_a_time_column_beside_a_date_is_paired_with_it_by_content(tmp_path):
    text = export_with(tmp_path, {
        "Ref": ["A1", "A2", "A3"], "Incident date": ["01/04/2025", "02/04/2025", "03/04/2025"],
        "Hour": ["14:22", "09:05", "23:59"], "Category": ["Imminent risk", "Other", "Other"]})

    assert yaml.safe_load(text)["columns"]["risk_identified_at"] == ["Incident date", "Hour"]


def test_a_date_column_that_holds_its_own_times_is_not_paired(tmp_path):
    text = export_with(tmp_path, {
        "Ref": ["A1", "A2", "A3"], "Incident date": ["01/04/2025 10:00", "02/04/2025 11:30", "03/04/2025 12:15"],
        "Time": ["14:22", "09:05", "23:59"], "Category": ["Imminent risk", "Other", "Other"]})

    assert yaml.safe_load(text)["columns"]["risk_identified_at"] == "Incident date"


@pytest.mark.parametrize(
    ("dates", "line"),
    [
        (["25/04/2025", "02/04/2025"], 'dayfirst: true   # day first: dates such as "25/04/2025" (1 in all) have a first number above 12'),
        (["04/25/2025", "04/02/2025"], 'dayfirst: false   # month first: dates such as "04/25/2025" (1 in all) have a second number above 12'),
        (["01/04/2025", "02/04/2025"], "# dayfirst: true   # not claimed: no date has a number above 12"),
        (["2025-04-25", "2025-04-02"], "# dayfirst: true   # not needed: no date is written as two numbers"),
        (["25-Apr-2025", "02-Apr-2025"], "# dayfirst: true   # not needed: no date is written as two numbers"),
    ],
)
def test_dayfirst_is_claimed_only_with_evidence_and_the_comment_says_which(tmp_path, dates, line):
    text = export_with(tmp_path, {"Ref": ["A1", "A2"], "Incident date": dates, "Category": ["Other", "Other"]})

    assert any(row.startswith(line) for row in text.splitlines()), text


@pytest.mark.parametrize(
    ("header", "field"),
    [("Concern Type", "trigger"), ("Brief Summary", "description"), ("Service", "team"),
     ("Date Risk Identified", "risk_identified_at"), ("Reason for escalation", "trigger")],
)
def test_common_column_names_are_matched(tmp_path, header, field):
    values = {"trigger": ["Imminent risk", "Other"], "description": ["A long free-text account of the episode"] * 2,
              "team": ["North CMHT", "South CMHT"], "risk_identified_at": ["01/04/2025 10:00", "02/04/2025 11:00"]}
    columns = {"Ref": ["A1", "A2"], "When": ["01/04/2025 10:00", "02/04/2025 11:00"], "Cat": ["Other", "Other"]}
    columns = {k: v for k, v in columns.items() if not (field == "risk_identified_at" and k == "When")}
    columns[header] = values[field]

    assert yaml.safe_load(export_with(tmp_path, columns))["columns"][field] == header


HOSTILE = ["Near miss\ntrigger: imminent_risk", "a: b", "# not a comment", '"quoted"', "x\\y", "- item",
           "{flow: map}", "Imminent\r\nrisk", "&anchor", "*alias", "TODO", "\u2028line", "yes"]


def test_the_draft_is_emitted_so_no_value_from_the_export_can_add_or_change_a_key(tmp_path):
    columns = {"Ref": [f"A{i}" for i in range(len(HOSTILE))],
               "Incident date": ["01/04/2025 10:00"] * len(HOSTILE),
               "Category": HOSTILE, "Result": ["Near Miss"] * (len(HOSTILE) - 1) + ["odd: value\noutcome: x"],
               "Odd\ncolumn: name": ["x"] * len(HOSTILE)}
    path = tmp_path / "export.xlsx"  # a workbook keeps every character of a cell
    pd.DataFrame(columns).to_excel(path, index=False)

    text = render_profile(draft_profile(path))
    draft = yaml.safe_load(text)

    assert set(draft) == {"source", "encoding", "sheet", "header_row", "timezone", "columns", "values"}
    assert set(draft["columns"]) == {"incident_id", "risk_identified_at", "trigger", "outcome"}
    assert set(draft["values"]) == {"trigger", "outcome"}
    trigger_section = text.split("  trigger:\n")[1].split("  outcome:\n")[0]
    commented = [yaml.safe_load(m[1]) for m in re.finditer(r'^    # ("(?:[^"\\]|\\.)*"): TODO', trigger_section,
                                                            re.MULTILINE)]
    guessed = set(draft["values"]["trigger"]) - {"<<"}
    as_read = set(read_export(path).cells["Category"])  # (the workbook keeps \n for \r\n; cells are trimmed)
    assert sorted(commented) + sorted(guessed) == sorted(as_read - guessed) + sorted(guessed)  # each once, as itself
    assert draft["values"]["outcome"] == {"Near Miss": "near_miss"}
    assert "odd: value\noutcome: x" in [yaml.safe_load(m[1]) for m in re.finditer(r'# ("(?:[^"\\]|\\.)*"): TODO', text)]
    unused = [yaml.safe_load(line.removeprefix("#   ")) for line in text.splitlines() if line.startswith("#   ")]
    assert unused == ["Odd\ncolumn: name"]
