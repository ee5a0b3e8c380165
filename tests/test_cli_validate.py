"""`escalation-review validate`: the data-quality statement, its JSON, and one-line errors."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE, csv_bytes, row

from escalation_analysis import cli

ACCOUNTING_KEYS = ("rows_read", "rows_analysed", "rows_excluded", "excluded_by_reason", "warnings")


def run(*args: str | Path, timeout: int = 120) -> subprocess.CompletedProcess:
    """The command line as users run it, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "escalation_analysis.cli", *map(str, args)],
        check=False, capture_output=True, text=True, timeout=timeout,
    )


def run_in_process(*args: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as stop:  # argparse usage errors
            code = stop.code
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code: int, stderr: str, expected_code: int = 2) -> str:
    assert code == expected_code
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("escalation-review: ")
    return lines[0]


def test_validate_json_matches_the_planted_truth(tmp_path, truth):
    out = tmp_path / "reports" / "data_quality.json"

    result = run("validate", SAMPLE / "incidents.csv", "--mapping", SAMPLE / "mapping.yaml", "--json", out)

    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert {k: data[k] for k in ACCOUNTING_KEYS} == {k: truth[k] for k in ACCOUNTING_KEYS}
    assert data["unknown_values"] == {"trigger": ["Self-neglect"], "escalated_to": ["Street Triage"]}
    assert "5,000 rows read: 4,956 analysed, 44 excluded." in result.stdout
    assert "Excluded 15 because the row is an exact duplicate" in result.stdout


def test_missing_required_column_is_one_line_exit_2(tmp_path):
    export = tmp_path / "export.csv"
    export.write_bytes(csv_bytes([row()], header=["Ref", "Date", "Time", "Escalated", "Responded", "Team",
                                                  "Type", "Result", "Lone", "Contacted", "NHS", "Staff"]))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("columns: {incident_id: Ref, risk_identified_at: [Date, Time], trigger: Category}\n")

    script = Path(sys.executable).with_name("escalation-review")  # the installed console script
    assert script.exists()
    result = subprocess.run([str(script), "validate", str(export), "--mapping", str(mapping)],
                            check=False, capture_output=True, text=True, timeout=120)

    line = assert_one_line_error(result.returncode, result.stderr)
    assert "no column 'Category' (mapped to trigger)" in line
    assert "'Ref', 'Date', 'Time'" in line and "'Type'" in line
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("mapping_text", "named"),
    [
        ("columns: {incident_idd: Ref, risk_identified_at: Date, trigger: Cat}\n", "'incident_idd'"),
        ("columns: [unclosed\n", "not valid YAML"),
        ("just text\n", "must be a YAML mapping"),
    ],
)
def test_bad_mapping_is_one_line_exit_2(tmp_path, mapping_text, named):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(mapping_text)

    code, _, stderr = run_in_process("validate", SAMPLE / "incidents.csv", "--mapping", mapping)

    assert named in assert_one_line_error(code, stderr)


def test_missing_export_is_one_line_exit_2(tmp_path):
    code, _, stderr = run_in_process("validate", tmp_path / "nope.csv", "--mapping", SAMPLE / "mapping.yaml")

    assert "does not exist" in assert_one_line_error(code, stderr)


def test_usage_error_is_one_line_exit_2():
    code, _, stderr = run_in_process("validate", "x.csv")

    assert "--mapping" in assert_one_line_error(code, stderr)


def test_nothing_usable_exits_1_and_says_so(tmp_path):
    export = tmp_path / "export.csv"
    export.write_bytes(b"Ref,Date,Cat\r\n,03/04/2025 10:00,x\r\nR2,TBC,x\r\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("columns: {incident_id: Ref, risk_identified_at: Date, trigger: Cat}\n")
    out = tmp_path / "dq.json"

    code, stdout, stderr = run_in_process("validate", export, "--mapping", mapping, "--json", out)

    assert code == 1
    assert "Nothing usable remains" in stdout
    assert "Traceback" not in stderr
    data = json.loads(out.read_text())
    assert (data["rows_read"], data["rows_analysed"], data["rows_excluded"]) == (2, 0, 2)
    assert data["first_rows"]["excluded"] == {"missing_incident_id": [2], "unparseable_risk_identified_at": [3]}


def test_statement_lists_row_numbers_for_each_reason(tmp_path):
    export = tmp_path / "export.csv"
    export.write_bytes(csv_bytes([row(ref="A"), row(ref="A"), row(ref="B", team="")]))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("columns: {incident_id: Ref, risk_identified_at: [Date, Time], trigger: Category,"
                       " team: Team}\n")

    code, stdout, _ = run_in_process("validate", export, "--mapping", mapping)

    assert code == 0
    assert "3 rows read: 2 analysed, 1 excluded." in stdout
    assert "exact duplicate of an earlier row (one copy kept) (row 3)" in stdout
    assert "team is blank (counted as 'Not recorded') (row 4)" in stdout


def test_a_report_without_a_pdf_says_why(tmp_path, capsys):
    # a user on a machine without a browser must be told why report.pdf is missing, and what to do
    from types import SimpleNamespace

    from escalation_analysis.cli import _print_result
    from escalation_analysis.publish.pdf_printing import NO_BROWSER_NOTE

    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "kpis.csv").write_text("x\n1\n")
    result = SimpleNamespace(out_dir=tmp_path, html=tmp_path / "report.html", figures=1, pdf=None,
                             pdf_note=NO_BROWSER_NOTE)
    _print_result(result)
    printed = capsys.readouterr().out
    assert f"{tmp_path}: report.html (1 chart), summary.json, tables/ (1 CSV file)." in printed
    assert "No PDF was made because no Chrome, Chromium or Edge browser was found" in printed


@pytest.mark.parametrize("chosen", [None, "system"])
def test_a_command_reads_with_an_allocator_that_gives_freed_memory_back(chosen, monkeypatch):
    """The loader lets the export's text go once the episodes are built; Arrow's jemalloc hands
    those pages back to the system (the default mimalloc keeps them, which set the peak memory of
    `summary` at 10 million rows). A pool the user chose with ARROW_DEFAULT_MEMORY_POOL stands."""
    import pyarrow as pa

    if "jemalloc" not in pa.supported_memory_backends():
        pytest.skip("this pyarrow has no jemalloc (Windows): its default allocator is kept")
    if chosen is None:
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    else:
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", chosen)
    code = ("import sys, pyarrow as pa; from escalation_analysis import cli; cli.main(sys.argv[1:]); "
            "print(pa.default_memory_pool().backend_name)")
    done = subprocess.run([sys.executable, "-c", code, "validate", str(SAMPLE / "incidents.csv"),
                           "--mapping", str(SAMPLE / "mapping.yaml")], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == (chosen or "jemalloc"), done.stderr[-2000:]


def test_a_profiled_command_still_writes_its_profile(tmp_path):
    """The command ends without tearing down its modules, except under a profiler or tracer,
    whose results are written at the usual exit."""
    profile = tmp_path / "validate.prof"
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "escalation_analysis.cli", "validate",
         str(SAMPLE / "incidents.csv"), "--mapping", str(SAMPLE / "mapping.yaml")],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert profile.is_file() and profile.stat().st_size > 0
