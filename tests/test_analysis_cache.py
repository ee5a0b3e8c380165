"""One analysis per export, period and key in a process (``measures.analysis_cache``), never stale.

The demo's summaries, privacy gates and disclosure audits share analyses through this cache;
these tests pin what makes that safe: an unchanged file is read once, and a changed file (even
one changed to the same size, within the file system's clock tick) is read again.

The tiny export (``tests/fixtures/analytics``, see ``tests/test_timeliness.py``) has three
episodes from 1 March to 30 April 2025, and T-001 on 30 March 2025.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import TEST_KEY

from escalation_analysis.ingest.inputs import InputFiles
from escalation_analysis.measures import analysis, analysis_cache
from escalation_analysis.measures.analysis_cache import analyse_once

FIXTURES = Path(__file__).parent / "fixtures" / "analytics"
PERIOD = ("2025-03-01", "2025-04-30")


@pytest.fixture(autouse=True)
def empty_cache():
    analysis_cache.forget()
    yield
    analysis_cache.forget()


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """A copy of the tiny export, mapping and pathway, written just now."""
    out = {}
    for name in ("export", "mapping", "pathway"):
        source = FIXTURES / f"tiny_{name}.{'csv' if name == 'export' else 'yaml'}"
        out[name] = Path(shutil.copy(source, tmp_path / source.name))
    return out


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The exports read, in order."""
    seen: list[str] = []
    real = analysis.load_export

    def counting(path, *args, **kwargs):
        seen.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(analysis, "load_export", counting)
    return seen


def settled(monkeypatch) -> None:
    """Treat files as settled at once (instead of a second after their last change)."""
    monkeypatch.setattr(analysis_cache, "SETTLED_NS", 0)


def test_unchanged_inputs_are_read_once_per_export_and_analysed_once_per_period(files, reads, monkeypatch):
    settled(monkeypatch)
    first = analyse_once(InputFiles(**files), *PERIOD, key=TEST_KEY)
    again = analyse_once(InputFiles(**files), *PERIOD, key=TEST_KEY)
    march = analyse_once(InputFiles(**files), "2025-03-01", "2025-03-31", key=TEST_KEY)
    assert again is first
    assert reads == ["tiny_export.csv"]  # the second period reused the export
    assert len(first.episodes) == 3 and list(march.episodes["incident_id"]) == ["T-001"]
    assert first.accounting.rows_read == march.accounting.rows_read == 6


def test_same_result_as_analysing_afresh(files, monkeypatch):
    settled(monkeypatch)
    cached = analyse_once(InputFiles(**files), *PERIOD, key=TEST_KEY)
    fresh = analysis.analyse(files["export"], files["mapping"], files["pathway"], *PERIOD, key=TEST_KEY)
    assert cached.episodes.equals(fresh.episodes) and cached.all_episodes.equals(fresh.all_episodes)
    assert cached.accounting.to_dict() == fresh.accounting.to_dict()
    assert cached.sources == fresh.sources


def test_a_changed_export_gives_the_new_result(files, reads, monkeypatch):
    settled(monkeypatch)
    before = analyse_once(InputFiles(**files), *PERIOD, key=TEST_KEY)
    lines = files["export"].read_bytes().splitlines(keepends=True)
    files["export"].write_bytes(b"".join(line for line in lines if not line.startswith(b"T-003;")))
    after = analyse_once(InputFiles(**files), *PERIOD, key=TEST_KEY)
    assert (before.accounting.rows_read, after.accounting.rows_read) == (6, 5)
    assert "T-003" in set(before.episodes["incident_id"]) and "T-003" not in set(after.episodes["incident_id"])
    assert before.sources["export_sha256"] != after.sources["export_sha256"]
    assert reads == ["tiny_export.csv", "tiny_export.csv"]


def test_a_changed_pathway_or_key_gives_the_new_result(files, monkeypatch):
    settled(monkeypatch)
    before = analyse_once(InputFiles(**files), *PERIOD, key=TEST_KEY)
    other_key = analyse_once(InputFiles(**files), *PERIOD, key=b"another-key-0123456789")
    assert set(before.episodes["staff_id"]).isdisjoint(other_key.episodes["staff_id"])
    text = files["pathway"].read_text(encoding="utf-8")
    assert "timezone: Europe/London" in text
    files["pathway"].write_text(text.replace("timezone: Europe/London", "timezone: UTC"), encoding="utf-8")
    after = analyse_once(InputFiles(**files), *PERIOD, key=TEST_KEY)
    assert (before.pathway.timezone, after.pathway.timezone) == ("Europe/London", "UTC")


def test_a_file_changed_within_the_last_second_is_read_again_even_at_the_same_size(files, reads):
    """Two writes within one tick of the file system's clock can leave the same times: a file
    that new is not cached at all, so a same-size change made at once is still seen."""
    first = analyse_once(InputFiles(**files), *PERIOD, key=TEST_KEY)
    unchanged = analyse_once(InputFiles(**files), *PERIOD, key=TEST_KEY)
    assert unchanged is not first and len(reads) == 2
    data = files["export"].read_bytes()
    modified = files["export"].stat().st_mtime_ns
    files["export"].write_bytes(data.replace(b"Jo Bloggs", b"Al Smiths"))  # the same size
    os.utime(files["export"], ns=(modified, modified))  # and the same modification time
    second = analyse_once(InputFiles(**files), *PERIOD, key=TEST_KEY)
    assert "Al Smiths" in set(second.identifiers.staff_ids) and "Al Smiths" not in set(first.identifiers.staff_ids)


def test_a_missing_file_is_the_usual_sentence(files):
    files["export"].unlink()
    with pytest.raises(Exception, match=r"tiny_export\.csv"):
        analyse_once(InputFiles(**files), *PERIOD, key=TEST_KEY)


def test_settled_files_are_cached_without_any_setting(files, reads):
    """The rule a user meets: inputs untouched for a second are read once."""
    old = time.time_ns() - 5_000_000_000
    for path in files.values():
        os.utime(path, ns=(old, old))
    time.sleep(1.1)  # the change time (set by utime just now) settles too
    analyse_once(InputFiles(**files), *PERIOD, key=TEST_KEY)
    analyse_once(InputFiles(**files), *PERIOD, key=TEST_KEY)
    assert reads == ["tiny_export.csv"]


def _linked(files: dict[str, Path], folder: Path) -> InputFiles:
    """The files as a report's kernel sees them: links, by name, in a folder of its own."""
    folder.mkdir()
    for path in files.values():
        (folder / path.name).symlink_to(path)
    return InputFiles(**{name: folder / path.name for name, path in files.items()})


def test_a_kept_export_is_analysed_without_reading_it_again_and_gives_the_same_result(files, reads, monkeypatch,
                                                                                        tmp_path):
    """What a warm kernel does with the export its template read (``keep_export``)."""
    settled(monkeypatch)
    analysis_cache.keep_export(InputFiles(**files), key=TEST_KEY)
    assert reads == ["tiny_export.csv"]
    kept = analysis_cache.analyse_kept(_linked(files, tmp_path / "kernel"), *PERIOD, key=TEST_KEY)
    assert reads == ["tiny_export.csv"]  # not read again
    fresh = analysis.analyse(files["export"], files["mapping"], files["pathway"], *PERIOD, key=TEST_KEY)
    assert kept.episodes.equals(fresh.episodes) and kept.accounting.to_dict() == fresh.accounting.to_dict()
    assert kept.sources == fresh.sources
    assert Path(kept.sources["export"]).name == "tiny_export.csv"


def test_a_process_that_keeps_no_export_reads_it_each_time_and_keeps_nothing(files, reads, monkeypatch):
    """A notebook's own kernel (not forked from a template that read the export) keeps no rows."""
    settled(monkeypatch)
    analysis_cache.analyse_kept(InputFiles(**files), *PERIOD, key=TEST_KEY)
    analysis_cache.analyse_kept(InputFiles(**files), *PERIOD, key=TEST_KEY)
    assert reads == ["tiny_export.csv", "tiny_export.csv"]
    assert not analysis_cache._exports


def test_a_kept_export_changed_since_is_read_again(files, reads, monkeypatch):
    settled(monkeypatch)
    analysis_cache.keep_export(InputFiles(**files), key=TEST_KEY)
    lines = files["export"].read_bytes().splitlines(keepends=True)
    files["export"].write_bytes(b"".join(line for line in lines if not line.startswith(b"T-003;")))
    after = analysis_cache.analyse_kept(InputFiles(**files), *PERIOD, key=TEST_KEY)
    assert reads == ["tiny_export.csv", "tiny_export.csv"] and after.accounting.rows_read == 5


def test_a_period_analysed_before_the_fork_is_handed_out_as_it_is(files, reads, monkeypatch, tmp_path):
    """A warm kernel whose template analysed its period (a review's ``warm``) gets that analysis
    itself, not made again; through links named otherwise it makes its own, with its names."""
    settled(monkeypatch)
    made = analyse_once(InputFiles(**files), *PERIOD, key=TEST_KEY)  # in the template
    assert analysis_cache.analyse_kept(_linked(files, tmp_path / "kernel"), *PERIOD, key=TEST_KEY) is made
    assert reads == ["tiny_export.csv"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "incidents.csv").symlink_to(files["export"])
    renamed = analysis_cache.analyse_kept(InputFiles(**{**files, "export": other / "incidents.csv"}), *PERIOD, key=TEST_KEY)
    assert renamed is not made and renamed.sources["export"] == "incidents.csv"
    assert renamed.episodes.equals(made.episodes) and reads == ["tiny_export.csv"]  # (the kept export, renamed)
    assert analysis_cache.analyse_kept(InputFiles(**files), "2025-03-01", "2025-03-31", key=TEST_KEY) is not made
