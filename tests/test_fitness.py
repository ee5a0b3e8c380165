"""Fitness checks: signs that figures would be wrong although every row loads.

The silent wrong answer of issue 15: the Datix-Web-style listing with identification mapped to
its date column only. Every episode then sits at 00:00, all are out of hours, and the row
accounting is perfect. ``times_missing`` must say so in ``validate`` (first), in
``summary.json`` and in a report's data-quality section. Then each check on an export with the
problem planted, the shipped sample with none, and what external readers are shown.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import re

import pandas as pd
import pytest
from conftest import TEST_KEY
from foreign_exports import DATIX_WEB_LISTING, SAMPLE, Layout, sample_cells, write_export
from test_cli_validate import run_in_process as run

from escalation_analysis.ingest.export import load_export
from escalation_analysis.ingest.fitness import FITNESS_CODES, assess
from escalation_analysis.ingest.mapping import MappingProfile
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.reviews import narrative
from escalation_analysis.reviews.disclosure import NHS_ROUNDED
from escalation_analysis.reviews.summary import build_summary

PATHWAY = SAMPLE / "pathway.yaml"
PERIOD = ("2024-04-01", "2026-03-31")


@pytest.fixture(scope="module")
def date_only(tmp_path_factory):
    """The listing workbook, with identification mapped to its date column and not its time."""
    folder = tmp_path_factory.mktemp("date-only")
    written = write_export(DATIX_WEB_LISTING, folder / "listing.xlsx")
    written.mapping["columns"]["risk_identified_at"] = "Incident date"
    return written, written.mapping_file(folder)


def codes(checks) -> list[str]:
    return [c.code if hasattr(c, "code") else c["code"] for c in checks]


def test_a_date_only_mapping_is_named_first_by_validate(date_only):
    written, mapping = date_only

    code, stdout, _ = run("validate", written.path, "--mapping", mapping)

    assert code == 0
    first = stdout.splitlines()[:2]
    assert first[0] == "Check these before using the figures:"
    assert re.fullmatch(
        r"  - ([\d,]+) of \1 identification times \(100%\) are exactly 00:00, so the time is probably not mapped: "
        r"if the export has a time column, map risk_identified_at as \[\"Incident date\", time column\] in the "
        r"profile; until then in-hours and out-of-hours bands and delays are wrong\.", first[1])


def test_a_date_only_mapping_is_in_summary_json(date_only, tmp_path):
    written, mapping = date_only
    out = tmp_path / "summary" / "summary.json"

    code, _, stderr = run("summary", written.path, "--mapping", mapping, "--pathway", PATHWAY,
                          "--start", PERIOD[0], "--end", PERIOD[1], "--out", out)

    assert code == 0, stderr
    fitness = json.loads(out.read_text(encoding="utf-8"))["data_quality"]["fitness"]
    assert codes(fitness) == ["times_missing"]
    assert fitness[0]["rows"] > 4900 and "map risk_identified_at as" in fitness[0]["message"]


def test_a_date_only_mapping_is_in_the_reports_data_quality_section_for_every_audience(date_only):
    written, mapping = date_only
    analysis = analyse(written.path, mapping, PATHWAY, *PERIOD, key=TEST_KEY)

    internal = unescaped(narrative.data_quality(analysis))
    external = unescaped(narrative.data_quality(analysis, external=True))

    assert "**Check before relying on these figures:**" in internal
    assert "identification times (100%) are exactly 00:00" in internal
    assert "risk_identified_at: half or more of the times are exactly 00:00" in external
    assert not re.search(r"\d,\d{3}", external.split("**Check")[1])  # no counts for external readers


def unescaped(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def test_the_right_mapping_of_the_same_export_has_no_fitness_warning(date_only):
    written, _ = date_only
    mapping = copy.deepcopy(written.mapping)
    mapping["columns"]["risk_identified_at"] = ["Incident date", "Time"]

    loaded = load_export(written.path, MappingProfile.model_validate(mapping), key=TEST_KEY)

    assert loaded.accounting.fitness == []


def test_the_shipped_sample_raises_no_fitness_warning(sample_csv, sample):
    assert sample_csv.accounting.fitness == []
    assert sample.accounting.fitness == []


# -- each check, planted -----------------------------------------------------------------------

def load_cells(tmp_path, cells: pd.DataFrame, layout: Layout | None = None, change=None):
    written = write_export(layout or Layout(), tmp_path / "export.csv", cells)
    if change:
        change(written.mapping)
    return load_export(written.path, MappingProfile.model_validate(written.mapping), key=TEST_KEY)


def test_dates_after_today_are_counted(tmp_path):
    cells = sample_cells()
    cells.loc[[100, 200, 300], "Incident Date"] = "03/04/2099"  # escalations then come before: excluded
    cells.loc[[400, 500], ["Escalation Date", "Crisis Response Date"]] = "05/05/2099"

    loaded = load_cells(tmp_path, cells)
    future = [c for c in loaded.accounting.fitness if c.code == "dates_in_future"]

    assert codes(loaded.accounting.fitness) == ["dates_in_future", "implausible_delay"]
    assert future[0].rows == 2
    assert future[0].message.startswith(f"2 episodes have a date after today ({dt.date.today():%d/%m/%Y}), "
                                        "the latest 05/05/2099")


def test_delays_over_seven_days_are_counted(tmp_path):
    cells = sample_cells()
    dates = pd.to_datetime(cells["Escalation Date"], format="%d/%m/%Y", errors="coerce")
    late = dates.dropna().index[[10, 20, 30, 40]]
    cells.loc[late, "Escalation Date"] = (dates[late] + pd.Timedelta(days=9)).dt.strftime("%d/%m/%Y")

    checks = load_cells(tmp_path, cells).accounting.fitness

    assert [(c.code, c.rows) for c in checks] == [("implausible_delay", 4)]
    assert "4 delays to escalate are over seven days (the longest 9 days)" in checks[0].message


def test_one_small_team_is_a_sparse_period(tmp_path, truth):
    cells = sample_cells()
    one_team = dataclasses.replace(Layout(), one_team=truth["small_team"])

    checks = load_cells(tmp_path, cells, one_team).accounting.fitness

    assert [(c.code, c.rows) for c in checks] == [("period_sparse", truth["small_team_episodes"])]
    assert checks[0].message == ("Only 5 episodes in the export: one episode moves a percentage by 20 points, "
                                 "so read every percentage with care.")


def test_an_empty_quarter_says_there_is_nothing_to_report(tmp_path):
    layout = dataclasses.replace(Layout(), empty_quarter=(dt.date(2025, 10, 1), dt.date(2025, 12, 31)))
    loaded = load_cells(tmp_path, sample_cells(), layout)
    local = loaded.episodes["risk_identified_at"].dt.tz_convert("Europe/London")
    quarter = loaded.episodes[(local >= "2025-10-01") & (local < "2026-01-01")]

    checks = assess(quarter, loaded.accounting.warnings.iloc[0:0], loaded.profile, scope="in the period")

    assert [(c.code, c.rows, c.message) for c in checks] == [
        ("period_sparse", 0, "No episodes in the period: there is nothing to report on.")]


def test_a_trigger_column_whose_values_are_not_mapped_is_one_value_and_unmapped(tmp_path):
    def map_trigger_to_result(mapping):
        mapping["columns"]["trigger"] = "Result"  # the wrong column: 'Near Miss', 'Incident'
        mapping["values"].pop("trigger")

    checks = load_cells(tmp_path, sample_cells(), change=map_trigger_to_result).accounting.fitness

    assert codes(checks) == ["single_value", "unmapped_share"]
    single, unmapped = checks
    assert single.message.startswith("Every trigger is 'other' (")
    assert "(values not in the profile are kept as 'other'): check that \"Result\" is the right column" in single.message
    assert unmapped.message.startswith("100% of trigger values (")


def test_a_tenth_of_values_unmapped_is_named_with_the_share(tmp_path):
    cells = sample_cells()
    mapped = cells["Severity"] != ""
    rename = cells.index[mapped][: int(mapped.sum() * 0.12)]
    cells.loc[rename, "Severity"] = "Grade 2"

    loaded = load_cells(tmp_path, cells)
    checks = loaded.accounting.fitness

    assert [(c.code, c.field) for c in checks] == [("unmapped_share", "harm")]
    assert checks[0].rows == loaded.episodes["row"].isin(rename).sum() > 590  # the renamed rows analysed
    assert checks[0].message.startswith("12% of harm values (")
    assert checks[0].message.endswith("are not in the mapping profile and are left blank: add them under 'values:' "
                                      "in the profile.")


def test_external_summary_gives_each_check_without_counts_or_local_values(date_only):
    written, mapping = date_only
    analysis = analyse(written.path, mapping, PATHWAY, *PERIOD, key=TEST_KEY)

    external = build_summary(analysis, audience="external").data["data_quality"]["fitness"]
    internal = build_summary(analysis).data["data_quality"]["fitness"]

    assert external == [{"code": "times_missing",
                         "message": f"risk_identified_at: {FITNESS_CODES['times_missing']}.",
                         "rows": "*" if NHS_ROUNDED.is_small(internal[0]["rows"]) else NHS_ROUNDED.round(internal[0]["rows"])}]
    assert "Incident date" in internal[0]["message"]


def test_a_small_number_of_rows_is_suppressed_for_external_readers(tmp_path, truth):
    layout = dataclasses.replace(Layout(), one_team=truth["small_team"])
    written = write_export(layout, tmp_path / "export.csv")
    analysis = analyse(written.path, written.mapping_file(tmp_path), PATHWAY, *PERIOD, key=TEST_KEY)

    external = build_summary(analysis, audience="external").data["data_quality"]["fitness"]

    assert external == [{"code": "period_sparse", "message": f"{FITNESS_CODES['period_sparse'][0].upper()}"
                         f"{FITNESS_CODES['period_sparse'][1:]}.", "rows": NHS_ROUNDED.marks.small}]


@pytest.mark.slow
def test_a_published_report_shows_the_date_only_warning_in_its_data_quality_section(date_only, tmp_path):
    from escalation_analysis.ingest.inputs import InputFiles
    from escalation_analysis.publish.review_runs import ReviewInputs, run_review

    written, mapping = date_only
    inputs = ReviewInputs(InputFiles(written.path, mapping, PATHWAY), dt.date(2025, 4, 1), dt.date(2026, 3, 31))

    result = run_review("near-miss-review", inputs, tmp_path / "out", pdf=False)

    text = re.sub(r"<[^>]+>", "", result.html.read_text(encoding="utf-8"))
    assert "Check before relying on these figures:" in text
    assert "identification times (100%) are exactly 00:00, so the time is probably not mapped" in text
