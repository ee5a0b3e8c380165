"""Hostile and careless inputs around the export: keys, settings files, pipes, terminals.

Facts users rely on: a weak, empty, shared or strange key is refused in one line saying how
to make a good one, and a new key file is never left empty; a settings file that is huge,
nested without end, or says one key twice is refused in one sentence naming what and where;
a pathway target must be a finite number above zero and a pathway must have triggers; a
named pipe or a device given as a file is refused at once, exit code 2; nothing the command
line prints can carry terminal control sequences; external figures are published as they are
displayed; ``summary`` and ``report`` answer any export with a complete result or one sentence.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import stat
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation_analysis import cli
from escalation_analysis.errors import MappingError, PathwayError
from escalation_analysis.ingest import mapping as mapping_module
from escalation_analysis.ingest import pseudonym_key
from escalation_analysis.ingest.mapping import read_mapping
from escalation_analysis.ingest.pathway import read_pathway
from escalation_analysis.ingest.pseudonyms import PseudonymKeyError, load_key
from escalation_analysis.ingest.yaml_files import read_yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
PERIOD = ["--start", "2025-10-01", "--end", "2025-12-31"]


def run_cli(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main([str(a) for a in argv])
    return code, stdout.getvalue(), stderr.getvalue()


def one_sentence(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("escalation-review: "), stderr
    assert "internal error" not in lines[0]
    return lines[0]


# --------------------------------------------------------------------------------------------
# The pseudonymisation key
# --------------------------------------------------------------------------------------------


class TestKeyRules:
    @pytest.mark.parametrize("key", ["hunter2", "x" * 31, "é" * 15])
    def test_a_key_under_32_bytes_in_the_environment_is_refused_with_how_to_make_one(self, key, monkeypatch):
        monkeypatch.setenv("ESCALATION_ANALYSIS_KEY", key)
        with pytest.raises(PseudonymKeyError, match="too short") as err:
            load_key()
        assert "secrets.token_hex(32)" in str(err.value) and key not in str(err.value)

    def test_a_32_byte_key_works_and_a_blank_one_falls_back_to_the_file(self, monkeypatch, isolated_key):
        monkeypatch.setenv("ESCALATION_ANALYSIS_KEY", "k" * 32)
        assert load_key() == b"k" * 32
        monkeypatch.setenv("ESCALATION_ANALYSIS_KEY", "   ")
        assert len(load_key()) == 64 and isolated_key.exists()

    @pytest.mark.parametrize("content", [b"", b"   \n\t\n"])
    def test_an_empty_or_blank_key_file_is_refused_never_used(self, isolated_key, content):
        isolated_key.parent.mkdir(parents=True)
        isolated_key.write_bytes(content)
        isolated_key.chmod(0o600)
        with pytest.raises(PseudonymKeyError, match="is empty; restore the key from your backup"):
            load_key()
        assert isolated_key.read_bytes() == content  # never replaced by a new key

    def test_a_short_key_file_is_refused(self, isolated_key):
        isolated_key.parent.mkdir(parents=True)
        isolated_key.write_bytes(b"guessable\n")
        isolated_key.chmod(0o600)
        with pytest.raises(PseudonymKeyError, match="9 bytes, too short"):
            load_key()

    @pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
    def test_a_key_file_others_can_read_is_refused_with_the_chmod_fix(self, isolated_key, mode):
        isolated_key.parent.mkdir(parents=True)
        isolated_key.write_bytes(b"a" * 64)
        isolated_key.chmod(mode)
        with pytest.raises(PseudonymKeyError, match=f"chmod 600 '{isolated_key}'"):
            load_key()

    def test_a_binary_key_is_read_as_bytes(self, isolated_key):
        key = bytes(range(256))[::-1][:200]  # not UTF-8 text at all
        isolated_key.parent.mkdir(parents=True)
        isolated_key.write_bytes(key)
        isolated_key.chmod(0o600)
        assert load_key() == key.strip()

    def test_a_pipe_or_device_as_key_file_is_refused_at_once(self, isolated_key, monkeypatch):
        isolated_key.parent.mkdir(parents=True)
        os.mkfifo(isolated_key)  # opening it would wait for a writer for ever
        with pytest.raises(PseudonymKeyError, match="is a named pipe"):
            load_key()
        monkeypatch.setenv("ESCALATION_ANALYSIS_KEY_FILE", "/dev/zero")
        with pytest.raises(PseudonymKeyError, match="is a device"):
            load_key()

    def test_a_full_disk_never_leaves_an_empty_key_behind(self, isolated_key, monkeypatch):
        def full(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(pseudonym_key.os, "fsync", full)
        with pytest.raises(OSError, match="No space left"):
            load_key()
        assert not isolated_key.exists() and list(isolated_key.parent.iterdir()) == []
        monkeypatch.undo()
        monkeypatch.setenv("ESCALATION_ANALYSIS_KEY_FILE", str(isolated_key))
        assert len(load_key()) == 64 and stat.S_IMODE(isolated_key.stat().st_mode) == 0o600

    def test_the_command_line_refuses_a_weak_key_in_one_line_exit_2(self, monkeypatch):
        monkeypatch.setenv("ESCALATION_ANALYSIS_KEY", "password123")
        code, _, stderr = run_cli("validate", SAMPLE / "incidents.csv", "--mapping", SAMPLE / "mapping.yaml")
        assert code == 2 and "too short" in one_sentence(stderr) and "password123" not in stderr


# --------------------------------------------------------------------------------------------
# Settings files and pathways
# --------------------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


class TestSettingsFiles:
    def test_a_file_over_1_mb_is_refused_before_it_is_read(self, tmp_path):
        big = write(tmp_path / "m.yaml", "columns: {}\n" + "# padding\n" * 120_000)
        with pytest.raises(MappingError, match=re.escape("m.yaml' is 1.2 MB; a mapping profile is a short text file")):
            read_mapping(big)

    def test_deep_nesting_is_refused(self, tmp_path):
        deep = write(tmp_path / "p.yaml", "name: x\ntriggers: " + "[" * 5000 + "]" * 5000 + "\n")
        with pytest.raises(PathwayError, match="nests deeper than 32 levels"):
            read_pathway(deep)

    def test_many_aliases_are_refused(self, tmp_path):
        lines = ["a: &a [1, 2]"] + [f"k{i}: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]" for i in range(12)]
        with pytest.raises(MappingError, match="more than 100 aliases"):
            read_mapping(write(tmp_path / "m.yaml", "\n".join(lines) + "\n"))

    def test_a_key_written_twice_is_refused_naming_the_key_and_both_lines(self, tmp_path):
        text = (SAMPLE / "pathway.yaml").read_text(encoding="utf-8") + "\nname: A second name\n"
        first = next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("name:"))
        last = len(text.splitlines())
        with pytest.raises(PathwayError, match=rf"has the key 'name' twice \(lines {first} and {last}\); keep one"):
            read_pathway(write(tmp_path / "p.yaml", text))

    def test_a_nested_duplicate_is_found_too_and_merge_keys_still_work(self, tmp_path):
        nested = "columns:\n  incident_id: Ref\n  team: Team\n  incident_id: Other\n"
        with pytest.raises(MappingError, match="the key 'incident_id' twice \\(lines 2 and 4\\)"):
            read_mapping(write(tmp_path / "m.yaml", nested))
        merged = write(tmp_path / "s.yaml", "base: &b {a: 1, b: 2}\nchild:\n  <<: *b\n  b: 3\n")
        assert read_yaml(merged, "settings file", MappingError)["child"] == {"a": 1, "b": 3}

    @pytest.mark.parametrize(
        ("target", "words"),
        [(".inf", "finite number"), (".nan", "finite number"), ("0", "greater than 0"), ("-5", "greater than 0")],
    )
    def test_a_pathway_target_must_be_a_finite_number_above_zero_naming_the_key(self, tmp_path, target, words):
        text = "name: P\ntriggers:\n  imminent_risk:\n    label: Imminent\n    target_minutes: " + target + "\n"
        with pytest.raises(PathwayError, match=rf"triggers\.imminent_risk\.target_minutes.*{words}"):
            read_pathway(write(tmp_path / "p.yaml", text))

    def test_a_pathway_without_triggers_is_refused(self, tmp_path):
        with pytest.raises(PathwayError, match=r"triggers.*no triggers: list at least one"):
            read_pathway(write(tmp_path / "p.yaml", "name: P\ntriggers: {}\n"))

    def test_a_profile_is_read_once_per_process_until_it_changes(self, tmp_path, monkeypatch):
        profile = write(tmp_path / "m.yaml", (SAMPLE / "mapping.yaml").read_text(encoding="utf-8"))
        reads = []
        original = mapping_module.read_validated
        monkeypatch.setattr(mapping_module, "read_validated", lambda *a: reads.append(a) or original(*a))
        first = read_mapping(profile)
        assert read_mapping(profile) is first and read_mapping(str(profile)) is first and len(reads) == 1
        write(profile, profile.read_text(encoding="utf-8").replace("Synthetic", "Changed") + "\n")
        assert read_mapping(profile).source.startswith("Changed") and len(reads) == 2


# --------------------------------------------------------------------------------------------
# Pipes and devices, through the command line
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["export", "mapping", "pathway", "steps"])
@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_a_pipe_device_or_folder_given_as_a_file_is_one_sentence_exit_2(tmp_path, what, kind):
    if kind == "fifo":
        special = tmp_path / "special.csv"
        os.mkfifo(special)
    elif kind == "device":
        special = Path("/dev/zero")
    else:
        special = tmp_path
    files = {"export": SAMPLE / "incidents.csv", "mapping": SAMPLE / "mapping.yaml",
             "pathway": SAMPLE / "pathway.yaml", "steps": SAMPLE / "steps.csv"} | {what: special}
    code, _, stderr = run_cli("summary", files["export"], "--mapping", files["mapping"], "--pathway", files["pathway"],
                              "--steps", files["steps"], *PERIOD, "--out", tmp_path / "out" / "summary.json")
    sentence = one_sentence(stderr)
    assert code == 2 and {"fifo": "named pipe", "device": "a device", "folder": "a folder"}[kind] in sentence
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# The terminal
# --------------------------------------------------------------------------------------------


def test_nothing_printed_carries_terminal_control_sequences(tmp_path):
    hostile = "\x1b]0;owned\x07\x1b[2J\x1b[31mRed\u202eevil\x0b"
    export = pd.read_csv(SAMPLE / "incidents.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    export.loc[:20, "Category"] = hostile  # an unknown value, listed in the statement
    path = tmp_path / f"export{hostile[:6]}.csv"
    export.to_csv(path, index=False)
    code, stdout, stderr = run_cli("validate", path, "--mapping", SAMPLE / "mapping.yaml")
    assert code == 0 and "\\x1b]0;owned\\x07" in stdout
    for text in (stdout, stderr):
        assert not any(c in text for c in "\x1b\x07\x0b\u202e"), repr(text[:300])
    code, _, stderr = run_cli("validate", tmp_path / f"missing{hostile}.csv", "--mapping", SAMPLE / "mapping.yaml")
    assert code == 2 and "\x1b" not in stderr and "\\x1b" in stderr


def test_terminal_safe_keeps_text_and_line_breaks():
    assert cli.terminal_safe("Crisis Team – 5 rows\n\tnext line café") == "Crisis Team – 5 rows\n\tnext line café"
    assert cli.terminal_safe("a\x1b[1mb\x9bc\u2066d") == "a\\x1b[1mb\\x9bc\\u2066d"


# --------------------------------------------------------------------------------------------
# External figures as displayed
# --------------------------------------------------------------------------------------------


def test_external_summary_and_tables_carry_numbers_as_displayed(tmp_path):
    out = tmp_path / "external" / "summary.json"
    code, _, stderr = run_cli("summary", SAMPLE / "incidents.csv", "--mapping", SAMPLE / "mapping.yaml",
                              "--pathway", SAMPLE / "pathway.yaml", *PERIOD, "--audience", "external", "--out", out)
    assert code == 0, stderr

    def decimals(text: str) -> int:
        return len(text.split(".")[1]) if "." in text else 0

    def numbers(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from numbers(v, k)
        elif isinstance(node, list):
            for v in node:
                yield from numbers(v, key)
        elif isinstance(node, float):
            yield key, node

    found = list(numbers(json.loads(out.read_text())))
    assert found
    for key, value in found:
        allowed = 3 if "p_value" in key else 2 if key.endswith("ratio") or key in ("relative_risk", "rank_biserial") else 1
        assert decimals(repr(value)) <= allowed, (key, value)
    for table in (out.parent / "tables").glob("*.csv"):
        cells = pd.read_csv(table, dtype=str).fillna("")
        for column in cells.columns:
            if "p_value" in column or column.endswith("ratio"):
                continue
            numeric = cells[column][cells[column].str.fullmatch(r"-?\d+\.\d+")]
            assert not numeric.map(decimals).gt(1).any(), f"{table.name}:{column}"


# --------------------------------------------------------------------------------------------
# summary and report answer any export: a complete result or one sentence
# --------------------------------------------------------------------------------------------

CELL = st.one_of(
    st.sampled_from(["", "01/10/2025", "15/11/2025 10:00", "31/02/2025", "25:99", "Imminent risk", "Near Miss",
                     "Crisis Team", "943 476 5919", "=cmd|' /C calc'!A0", "\x1b[2J", "1e308", "nan", "-"]),
    st.text(max_size=12),
)


def _hostile_export(path: Path, rows: list[list[str]]) -> Path:
    sample = pd.read_csv(SAMPLE / "incidents.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False, nrows=40)
    columns = ["Incident Date", "Incident Time", "Escalation Date", "Category", "NHS Number", "Reported By", "Ref"]
    for i, values in enumerate(rows):
        for column, value in zip(columns, values, strict=False):
            sample.loc[i % len(sample), column] = value
    sample.to_csv(path, index=False)
    return path


@settings(max_examples=max(3, settings.default.max_examples // 4))
@given(rows=st.lists(st.lists(CELL, min_size=1, max_size=7), max_size=12),
       audience=st.sampled_from(["internal", "external", "partners"]))
def test_summary_answers_any_export_with_a_complete_result_or_one_sentence(tmp_path_factory, rows, audience):
    folder = tmp_path_factory.mktemp("summary")
    export = _hostile_export(folder / "export.csv", rows)
    before = export.read_bytes()
    out = folder / "out" / "summary.json"
    code, stdout, stderr = run_cli("summary", export, "--mapping", SAMPLE / "mapping.yaml", "--pathway",
                                   SAMPLE / "pathway.yaml", *PERIOD, "--audience", audience, "--out", out)
    assert code in (0, 1, 2) and "\x1b" not in stdout + stderr
    assert export.read_bytes() == before
    if code == 0:
        data = json.loads(out.read_text(encoding="utf-8"))
        assert data["audience"] == audience and (out.parent / "tables").is_dir()
    else:
        one_sentence(stderr)
        assert not out.exists()
    leftovers = [p.name for p in out.parent.iterdir()] if out.parent.exists() else []
    assert not [n for n in leftovers if n.startswith(".escalation-staging") or n.endswith(".lock")]


@pytest.mark.slow
@settings(max_examples=3)
@given(rows=st.lists(st.lists(CELL, min_size=1, max_size=7), max_size=6))
def test_report_answers_any_export_with_a_complete_report_or_one_sentence(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("report")
    export = _hostile_export(folder / "export.csv", rows)
    before = export.read_bytes()
    out = folder / "out"
    code, _, stderr = run_cli("report", "contract-monitoring", "--data", export, "--mapping", SAMPLE / "mapping.yaml",
                              "--pathway", SAMPLE / "pathway.yaml", *PERIOD, "--out", out, "--no-pdf")
    assert code in (0, 1, 2) and export.read_bytes() == before
    if code == 0:
        assert {"report.html", "summary.json", "report.ipynb"} <= {p.name for p in out.iterdir()}
    else:
        one_sentence(stderr)
        assert not (out / "report.html").exists()
