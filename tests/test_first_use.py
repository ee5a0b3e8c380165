"""What a new user reads on the way (issue 15, item 6): each slip they met, as a fact to keep.

``--help`` says what the tool does; the run summary counts charts and CSV files where they are;
messages use 'an' before a vowel and end with one full stop; the workbook is described as a
workbook, not as a text encoding; a pathway with TODOs is warned about once; and the ``[lab]``
extra installs jupytext, which keeps each notebook's ``.py`` twin in step when it is edited in
JupyterLab.
"""

from __future__ import annotations

import contextlib
import io
import json
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import SAMPLE

from escalation_analysis import cli
from escalation_analysis.publish.gate import PrivacyError, PrivacyGate
from escalation_analysis.publish.one_report import cell_failure

REPO = Path(__file__).resolve().parents[1]


def test_help_opens_with_what_the_tool_does():
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), pytest.raises(SystemExit):
        cli.main(["--help"])

    text = " ".join(stdout.getvalue().split())
    assert "Crisis escalation reviews for community mental health services: check an incident export" in text
    assert "thin layer" not in text


def test_the_run_summary_counts_charts_for_the_page_and_csv_files_for_the_tables(tmp_path):
    (tmp_path / "tables").mkdir()
    for i in range(20):
        (tmp_path / "tables" / f"t{i}.csv").write_text("a\n1\n")
    result = SimpleNamespace(out_dir=tmp_path, html=tmp_path / "report.html", pdf=tmp_path / "report.pdf", figures=11)

    assert cli.result_line(result) == (
        f"{tmp_path}: report.html (11 charts), report.pdf, summary.json, tables/ (20 CSV files).")


def test_a_leak_message_says_an_incident_reference(tmp_path):
    import pandas as pd

    from escalation_analysis.ingest.identifiers import IdentifierValues

    identifiers = IdentifierValues(incident_ids=pd.Series(["499766"], dtype="str"))
    gate = PrivacyGate.build(identifiers, "external")
    (tmp_path / "summary.json").write_text(json.dumps({"note": "see 499766"}), encoding="utf-8")

    with pytest.raises(PrivacyError) as raised:
        gate.check(tmp_path, ["summary.json"])

    assert "contain an incident reference in summary.json" in str(raised.value)
    assert " a incident" not in str(raised.value)


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ("The SPC result has no points to draw.", "r.ipynb failed in cell 4: ValueError: The SPC result has no points to draw."),
        ("no types given", "r.ipynb failed in cell 4: ValueError: no types given."),
        ("", "r.ipynb failed in cell 4: ValueError."),
        ("x" * 300, "r.ipynb failed in cell 4: ValueError: " + "x" * 197 + "..."),
    ],
)
def test_a_failed_cell_is_one_sentence_with_one_full_stop(detail, expected):
    assert cell_failure("r.ipynb", "cell 4", "ValueError", detail) == expected


def test_a_workbook_is_described_by_its_sheet_not_a_text_encoding(tmp_path):
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main(["validate", str(SAMPLE / "incidents.xlsx"), "--mapping", str(SAMPLE / "mapping.yaml")])

    assert code == 0
    first = stdout.getvalue().splitlines()[0]
    assert first == "Source: Synthetic Datix-style export (escalation-review sample) (Excel workbook, sheet 'Incidents')."


def test_the_lab_extra_installs_jupytext_and_every_notebook_is_paired_with_its_twin():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]

    assert any(requirement.startswith("jupytext") for requirement in extras["lab"])
    for notebook in sorted((REPO / "notebooks").glob("*.ipynb")):
        metadata = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]
        assert metadata["jupytext"]["formats"] == "ipynb,py:percent", notebook.name
        assert notebook.with_suffix(".py").is_file()


@pytest.mark.slow
def test_a_pathway_with_todos_is_warned_about_once(tmp_path):
    import subprocess
    import sys

    pathway = tmp_path / "pathway.yaml"
    assert cli.main(["pathway", "init", "--out", str(pathway)]) == 0
    env = {"ESCALATION_ANALYSIS_KEY_FILE": str(tmp_path / "key"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "escalation_analysis.cli", "report", "near-miss-review", "--data",
         str(SAMPLE / "incidents.csv"), "--mapping", str(SAMPLE / "mapping.yaml"), "--pathway", str(pathway),
         "--start", "2025-04-01", "--end", "2025-06-30", "--out", str(tmp_path / "out"), "--no-pdf"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=600, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("still has TODO values") == 1
    assert "stderr output" not in result.stderr
    assert "report.html (" in result.stdout and " CSV files)." in result.stdout
