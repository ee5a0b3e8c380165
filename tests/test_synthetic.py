"""The synthetic sample: reproducible from its seed, and its planted answers are right."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import SAMPLE, TEST_KEY

from escalation_analysis.ingest.export import load_export
from escalation_analysis.synthetic import make_sample, write_sample

TEXT_FILES = ("incidents.csv", "steps.csv", "learning_actions.csv", "training.csv",
              "mapping.yaml", "pathway.yaml", "truth.json")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    write_sample(out, 5000, 2025)
    return out


@pytest.mark.parametrize("name", TEXT_FILES)
def test_shipped_sample_is_reproduced_byte_for_byte(regenerated, name):
    assert (regenerated / name).read_bytes() == (SAMPLE / name).read_bytes()


@pytest.fixture(scope="module")
def workbook(regenerated) -> dict[str, pd.DataFrame]:
    return pd.read_excel(regenerated / "incidents.xlsx", sheet_name=None, engine="calamine")


def test_shipped_workbook_has_the_same_cells(workbook):
    shipped = pd.read_excel(SAMPLE / "incidents.xlsx", sheet_name=None, engine="calamine")

    assert list(shipped) == list(workbook) == ["Incidents"]
    pd.testing.assert_frame_equal(shipped["Incidents"], workbook["Incidents"])


def test_workbook_keeps_formula_like_text_as_text(workbook):
    descriptions = workbook["Incidents"]["Description"].dropna().astype(str)

    assert descriptions.str.startswith("=HYPERLINK").sum() == 1


@pytest.mark.parametrize("seed", [1, 7])
def test_planted_accounting_is_recovered_for_other_seeds(tmp_path, seed):
    sample = write_sample(tmp_path, 400, seed, xlsx=False, logs=False)

    accounting = load_export(tmp_path / "incidents.csv", tmp_path / "mapping.yaml", key=TEST_KEY).accounting

    assert accounting.rows_read == sample.truth["rows_read"] == 400
    assert accounting.rows_excluded == sample.truth["rows_excluded"]
    assert accounting.excluded_by_reason() == sample.truth["excluded_by_reason"]
    assert accounting.warnings_by_reason() == sample.truth["warnings"]


def test_same_seed_same_sample_different_seed_different_sample():
    first = make_sample(300, 11, logs=False).export
    again = make_sample(300, 11, logs=False).export
    other = make_sample(300, 12, logs=False).export

    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_too_few_rows_is_refused():
    with pytest.raises(ValueError, match="at least 200 rows"):
        make_sample(199, 1)


def test_small_team_has_the_planted_number_of_episodes(sample_csv, truth):
    counts = sample_csv.episodes["team"].value_counts()

    assert counts[truth["small_team"]] == truth["small_team_episodes"]
