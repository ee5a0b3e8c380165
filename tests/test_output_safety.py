"""Output safety: a run touches only what it wrote, and publishes only what the gate checked.

Facts a quality lead relies on: the export, its backups and anything else in or near ``--out``
survive every run byte for byte, whether it succeeds or is refused; an ``--out`` holding an
input is refused; a second run into the same folder is refused; Ctrl-C, a full disk or a
failing notebook leave the previous report as it was; links inside ``--out`` are never
followed; a withheld report is kept for inspection, readable only by the user; internal
reports are private; no output names a folder of this computer; a plain-number incident
reference does not stop an external report.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalation_analysis.cli import main
from escalation_analysis.ingest.identifiers import IdentifierValues
from escalation_analysis.publish import gate as gate_module
from escalation_analysis.publish.gate import PrivacyError, PrivacyGate
from escalation_analysis.publish.one_report import run_report
from escalation_analysis.publish.outputs import (
    LOCK_NAME,
    RECORD_NAME,
    STAGING_PREFIX,
    OutputFolderError,
    folder_lock,
    staged_outputs,
)
from escalation_analysis.publish.review_runs import KINDS

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
MINIMAL = ROOT / "tests" / "notebooks" / "minimal.ipynb"
PERIOD = ["--start", "2025-10-01", "--end", "2025-12-31"]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (links as their target's name), by relative path."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[key] = b"link to " + os.readlink(path).encode()
        elif path.is_file():
            found[key] = path.read_bytes()
    return found


@pytest.fixture
def our_data(tmp_path) -> Path:
    """A quality lead's folder: the export, a backup in a subfolder and an unrelated file."""
    folder = tmp_path / "our-data"
    (folder / "backup").mkdir(parents=True)
    shutil.copyfile(SAMPLE / "incidents.csv", folder / "export.csv")
    shutil.copyfile(SAMPLE / "incidents.csv", folder / "backup" / "export-2024.csv")
    (folder / "notes.txt").write_text("Board meeting 14/01: send the Q3 report.\n")
    return folder


def report_args(kind: str, export: Path, out: Path) -> list[str]:
    return ["report", kind, "--data", str(export), "--mapping", str(SAMPLE / "mapping.yaml"),
            "--pathway", str(SAMPLE / "pathway.yaml"), *PERIOD, "--out", str(out), "--no-pdf"]


def summary_args(export: Path, out: Path, *extra: str) -> list[str]:
    return ["summary", str(export), "--mapping", str(SAMPLE / "mapping.yaml"),
            "--pathway", str(SAMPLE / "pathway.yaml"), *PERIOD, "--out", str(out), *extra]


# --------------------------------------------------------------------------------------------
# Everything near --out survives, for every report kind
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_out_folder_holding_the_export_is_refused_and_nothing_changes(kind, our_data, capsys):
    before = snapshot(our_data)
    assert main(report_args(kind, our_data / "export.csv", our_data)) == 2
    message = capsys.readouterr().err
    assert "contains the input 'export.csv'" in message and message.count("\n") == 1
    assert snapshot(our_data) == before  # nothing read, changed, removed, or added (no lock left)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_file_in_and_near_out_survives_a_report_byte_for_byte(kind, our_data, capsys):
    """The export in --out's parent; a backup of it (identifiers and all) and a note inside --out."""
    out = our_data / "reports" / kind
    (out / "backup").mkdir(parents=True)
    shutil.copyfile(SAMPLE / "incidents.csv", out / "backup" / "old-export.csv")
    (out / "notes.txt").write_text("not escalation-review's\n")
    before_data, before_out = snapshot(our_data), snapshot(out)

    assert main(report_args(kind, our_data / "export.csv", out)) == 0, capsys.readouterr().err
    after = snapshot(our_data)
    assert {k: v for k, v in after.items() if k in before_data} == before_data
    assert {k: after[f"reports/{kind}/{k}"] for k in before_out} == before_out
    published = {"report.html", "report.ipynb", "summary.json", RECORD_NAME}
    assert published <= set(snapshot(out))
    assert not [p for p in out.iterdir() if p.name.startswith((STAGING_PREFIX, "withheld-")) or p.name == LOCK_NAME]

    # private by default: internal reports' folders 0700 (--out was the user's), files 0600;
    # no output names a folder of this computer
    if KINDS[kind].audience == "internal":
        assert (out / "tables").stat().st_mode & 0o777 == 0o700
        assert {(out / n).stat().st_mode & 0o777 for n in published} == {0o600}
    folders = {str(our_data.parent), str(Path.home()), sys.prefix, str(ROOT)}
    for name, content in snapshot(out).items():
        if name.startswith("backup/") or name == "notes.txt":
            continue
        text = content.decode("utf-8", "replace")
        assert not [f for f in folders if f in text], f"{kind}/{name} names a folder of this computer"
    parameters = json.loads((out / "report.ipynb").read_text())["metadata"]["papermill"]["parameters"]
    assert parameters["inputs"]["export"] == "export.csv" and parameters["inputs"]["mapping"] == "mapping.yaml"


# --------------------------------------------------------------------------------------------
# Re-running, and what is never replaced
# --------------------------------------------------------------------------------------------


def test_a_second_run_replaces_its_own_report_and_tidies_its_old_files(tmp_path):
    out = tmp_path / "out"
    first = run_report(MINIMAL, out, pdf=False)
    (out / "extra.txt").write_text("mine")
    staged_pdf = out / "report.pdf"  # as if the first run had printed one (recorded, unchanged)
    record = json.loads((out / RECORD_NAME).read_text())
    staged_pdf.write_bytes(b"%PDF-1.7 old")
    import hashlib

    record["files"]["report.pdf"] = {"sha256": hashlib.sha256(b"%PDF-1.7 old").hexdigest(), "report": "report"}
    (out / RECORD_NAME).write_text(json.dumps(record))

    second = run_report(MINIMAL, out, pdf=False)
    assert second.html == first.html and second.html.is_file()
    assert not staged_pdf.exists()  # an old output of this report, unchanged since: removed
    assert (out / "extra.txt").read_text() == "mine"


def test_a_file_escalation_review_did_not_write_is_never_replaced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("my own page")
    with pytest.raises(OutputFolderError, match="was not written by escalation-review"):
        run_report(MINIMAL, out, pdf=False)
    assert (out / "report.html").read_text() == "my own page"
    run_report(MINIMAL, tmp_path / "again", pdf=False)
    (tmp_path / "again" / "report.html").write_text("edited by hand")
    with pytest.raises(OutputFolderError, match="or was changed since"):
        run_report(MINIMAL, tmp_path / "again", pdf=False)
    assert (tmp_path / "again" / "report.html").read_text() == "edited by hand"


# --------------------------------------------------------------------------------------------
# Links inside --out are never followed
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("placed", ["summary.json", "tables", "tables/timeliness_overall.csv", RECORD_NAME])
def test_links_placed_in_out_do_not_redirect_writes(placed, our_data, tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "timeliness_overall.csv").write_text("precious\n")
    (victim / "summary.json").write_text("precious\n")
    out = tmp_path / "out"
    (out / "tables").mkdir(parents=True) if "/" in placed else out.mkdir()
    target = victim if placed == "tables" else victim / Path(placed).name
    if placed == RECORD_NAME:
        target = victim / "summary.json"
    (out / placed).symlink_to(target)
    before_victim, before_out = snapshot(victim), snapshot(out)

    assert main(summary_args(our_data / "export.csv", out / "summary.json")) == 2
    assert "link" in capsys.readouterr().err
    assert snapshot(victim) == before_victim and snapshot(out) == before_out


# --------------------------------------------------------------------------------------------
# One run at a time; interrupted and failed runs leave the previous report
# --------------------------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from escalation_analysis.publish.outputs import folder_lock
with folder_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_second_run_into_the_same_out_is_refused_until_the_first_ends(our_data, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(summary_args(our_data / "export.csv", out / "summary.json")) == 2
        message = capsys.readouterr().err
        assert f"Another escalation-review run is writing into '{out.resolve()}' (process {holder.pid}" in message
        assert not (out / "summary.json").exists()
    finally:
        holder.kill()  # a killed run never leaves its folder locked
        holder.wait()
    assert main(summary_args(our_data / "export.csv", out / "summary.json")) == 0
    assert (out / "summary.json").is_file() and not (out / LOCK_NAME).exists()


@pytest.mark.slow
def test_two_report_processes_into_one_out_never_interleave(our_data, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "escalation_analysis.cli", *report_args("contract-monitoring", our_data / "export.csv", out)]
    first = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / LOCK_NAME).exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert second.returncode == 2 and "Another escalation-review run is writing into" in second.stderr
    assert json.loads((out / "summary.json").read_text())["report"] == "contract-monitoring"


def test_a_full_disk_leaves_the_previous_summary_as_it_was(our_data, tmp_path, monkeypatch, capsys):
    from escalation_analysis.reviews import summary

    out = tmp_path / "out"
    assert main(summary_args(our_data / "export.csv", out / "summary.json")) == 0
    before = snapshot(out)
    write = summary.Summary.write

    def disk_full(self, path):
        written = write(self, path)
        with open(written[-1], "ab") as handle:  # half-way through the last table
            handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(written[-1]))

    monkeypatch.setattr(summary.Summary, "write", disk_full)
    assert main(summary_args(our_data / "export.csv", out / "summary.json")) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert snapshot(out) == before


def test_an_interrupted_report_leaves_the_previous_one_and_no_staging(tmp_path):
    out = tmp_path / "out"
    run_report(MINIMAL, out, pdf=False)
    before = snapshot(out)

    def interrupted(result, staging):
        (staging.folder / "summary.json").write_text("{}")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_report(MINIMAL, out, pdf=False, before_publish=interrupted)
    assert snapshot(out) == before


@pytest.mark.slow
def test_ctrl_c_during_the_demo_keeps_the_previous_reports(demo, tmp_path):
    """The previous reports are a copy of the session's one demo run (tests/conftest.py)."""
    out = tmp_path / "demo"
    shutil.copytree(demo, out, symlinks=True)
    env = {**os.environ, "ESCALATION_ANALYSIS_KEY_FILE": str(tmp_path / "demo.key")}
    command = [sys.executable, "-m", "escalation_analysis.cli", "demo", "--out", str(out), "--no-pdf"]
    before = snapshot(out)
    assert {path.parent.name for path in out.glob("*/report.html")} == set(KINDS)
    started = time.monotonic()
    # As a command typed at a terminal starts: Ctrl-C not ignored, whatever this test run inherited
    # (a suite started in the background by a non-interactive shell ignores it, and so would the demo)
    demo = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = started + 300
    while not list(out.glob(f"*/{STAGING_PREFIX}*")) and time.monotonic() < deadline and demo.poll() is None:
        time.sleep(0.05)
    seen = time.monotonic() - started
    time.sleep(1.5)  # notebooks running
    # Which signals the demo ignores as it is interrupted (a bit mask: SIGINT is 0x2), for the message
    ignored = next((line.split()[1] for line in Path(f"/proc/{demo.pid}/status").read_text().splitlines()
                    if line.startswith("SigIgn:")), "?") if Path(f"/proc/{demo.pid}/status").exists() else "?"
    sent = time.monotonic() - started
    os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
    code = demo.wait(timeout=120)
    assert code == 130, (f"exit {code}; a staging folder seen after {seen:.1f} s, Ctrl-C sent after {sent:.1f} s, "
                         f"the demo ended after {time.monotonic() - started:.1f} s; signals it ignored: {ignored}\n"
                         + demo.stderr.read())
    time.sleep(1)  # workers end within a second of the demo
    assert snapshot(out) == before
    assert not list(out.rglob(f"{STAGING_PREFIX}*")) and not list(out.rglob(LOCK_NAME))


# --------------------------------------------------------------------------------------------
# The gate: whole tokens, kept for inspection
# --------------------------------------------------------------------------------------------


def gate_for(values: dict[str, list[str]], audience: str = "external") -> PrivacyGate:
    identifiers = IdentifierValues(**{k: pd.Series(v, dtype="str") for k, v in values.items()})
    return PrivacyGate.build(identifiers, audience)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Ref 499766 was late", True),
        ('"ref": "499766"', True),
        ("499766,North,12", True),
        ("23.594997669880442", False),  # inside a float's digits
        ("499766.5 minutes", False),
        ("1.499766", False),
        ("x499766", False),
        ("4997661", False),
        ("W499766", False),
    ],
)
def test_references_are_matched_as_whole_tokens(text, found):
    gate = gate_for({"incident_ids": ["499766"]})
    assert bool(gate.leaks({"t.csv": text})) is found


def test_names_and_nhs_numbers_in_any_spacing_are_found_for_every_audience():
    gate = gate_for({"service_user_ids": ["943 476 5919"], "staff_ids": ["Sam Patel"]}, audience="internal")
    assert gate.leaks({"a.html": "seen by Sam Patel."}) == [("a.html", "staff identifier")]
    assert gate.leaks({"a.html": "NHS 9434765919"}) == [("a.html", "service user identifier")]
    assert gate.leaks({"a.html": "Sam Patelson; 19434765919"}) == []


def _every_value_looked_for(gate: PrivacyGate, texts: dict[str, str]) -> list[tuple[str, str]]:
    """The gate's answer found the plain way: every value of every kind searched for in every text."""
    found, seen = [], {"", *gate.allowed}
    for kind, values in gate.values.items():
        kind_values = set(values if isinstance(values, tuple) else values.to_pylist())
        for value in kind_values - seen:
            for name, text in texts.items():
                at = text.find(value)
                while at >= 0:
                    if kind in gate_module._ANYWHERE or gate_module._whole_token(text, at, at + len(value)):
                        found.append((name, kind))
                        break
                    at = text.find(value, at + 1)
        seen |= kind_values
    order = list(gate.values)
    return sorted(set(found), key=lambda leak: (list(texts).index(leak[0]), order.index(leak[1])))


_PIECES = ["943 476 5919", "9434765919", "Sam Patel", "W1234", "499766", "Discussed with Gareth's carer",
           "ab", "Sam", "4997", ".", " ", "-", "x", "\u00e9t\u00e9", "\U0001F642", "\n"]


@given(
    values=st.dictionaries(
        st.sampled_from(["service_user_ids", "staff_ids", "incident_ids", "pseudonyms", "descriptions"]),
        st.lists(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=4).map("".join), min_size=1, max_size=6),
        min_size=1,
    ),
    audience=st.sampled_from(["internal", "external"]),
    allow=st.booleans(),
    data=st.data(),
)
@pytest.mark.parametrize("find_openings", [
    gate_module._value_openings_in,  # a report: more text than values
    lambda texts, values: {size: gate_module._openings(texts, size) for size in gate_module._OPENINGS},  # a summary
], ids=["values' openings looked for in the text", "every run of the text listed"])
def test_the_gate_finds_exactly_what_looking_for_every_value_finds(find_openings, values, audience, allow, data):
    """The gate builds its automaton from the values whose opening occurs in the text: none is
    missed, whichever way the openings present are found."""
    words = st.sampled_from(_PIECES + [v for found in values.values() for v in found] + ["/home/user/reports/x"])
    texts = data.draw(st.lists(st.lists(words, max_size=8).map("".join), min_size=1, max_size=3))
    identifiers = IdentifierValues(**{k: pd.Series(v, dtype="str") for k, v in values.items()})
    allowed = ["Sam Patel"] if allow else []
    gate = PrivacyGate.build(identifiers, audience, ["/home/user/reports"], allowed=allowed)
    named = {f"{i}.txt": text for i, text in enumerate(texts)}
    with mock.patch.object(gate_module, "_openings_found", find_openings):
        assert gate.leaks(named) == _every_value_looked_for(gate, named)


def test_the_gate_reads_text_holding_a_lone_surrogate():
    """A JSON escape such as \\ud800 gives Python text no export value can hold; the rest is still checked."""
    gate = gate_for({"incident_ids": ["499766"]})
    assert gate.leaks({"s.json": "\ud800 ref 499766"}) == [("s.json", "incident reference")]


def test_a_withheld_report_is_kept_privately_and_the_message_says_what_to_do(tmp_path):
    out = tmp_path / "out"
    gate = gate_for({"descriptions": ["Discussed with Gareth's carer after the visit"]})

    def check(result, staging):
        (staging.folder / "summary.json").write_text(json.dumps({"note": "Discussed with Gareth's carer after the visit"}))
        gate.check(staging.folder, staging.manifest())

    with pytest.raises(PrivacyError) as err:
        run_report(MINIMAL, out, pdf=False, before_publish=check)
    message = str(err.value)
    assert "a description in summary.json" in message and "map free-text columns as 'description'" in message
    assert "internal report" in message and str(err.value.kept_in) in message
    assert sorted(p.name for p in err.value.kept_in.iterdir()) == ["report.html", "report.ipynb", "summary.json"]
    assert err.value.kept_in.stat().st_mode & 0o777 == 0o700
    assert not (out / "report.html").exists() and not (out / "summary.json").exists()


@pytest.mark.slow
def test_plain_number_references_do_not_stop_an_external_report(tmp_path, capsys):
    """Datix references are plain 6-digit numbers; floats in charts hold such digit runs."""
    export = pd.read_csv(SAMPLE / "incidents.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    export["Ref"] = [str(n) for n in range(400_000, 400_000 + 7 * len(export), 7)]
    path = tmp_path / "numeric.csv"
    export.to_csv(path, index=False)
    out = tmp_path / "out"
    assert main(report_args("contract-monitoring", path, out)) == 0, capsys.readouterr().err
    text = (out / "report.html").read_text(encoding="utf-8")
    refs = set(export["Ref"])
    inside_numbers = [r for r in refs if r in text]  # found as digits of longer numbers only
    assert inside_numbers, "the test no longer exercises digit runs inside numbers"


def test_staging_lives_inside_out_and_is_private(tmp_path):
    with staged_outputs(tmp_path / "out", private=False) as staging:
        assert staging.folder.parent == (tmp_path / "out").resolve()
        assert staging.folder.stat().st_mode & 0o777 == 0o700
        with pytest.raises(OutputFolderError, match="Another escalation-review run"), folder_lock(staging.out):
            pass
    assert list((tmp_path / "out").iterdir()) == []
