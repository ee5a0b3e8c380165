"""The files a review is made from: what a notebook's ``inputs`` parameter may say."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from escalation_analysis import reviews
from escalation_analysis.errors import EscalationAnalysisError
from escalation_analysis.ingest.inputs import FOLDER_NAMES, InputFiles

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def test_a_folder_laid_out_like_the_sample_gives_all_six_files():
    files = InputFiles.given(SAMPLE)
    assert files.by_name() == {name: SAMPLE / file for name, file in FOLDER_NAMES.items()}


def test_a_log_the_folder_does_not_hold_counts_as_not_given(tmp_path):
    for name in ("incidents.csv", "mapping.yaml", "pathway.yaml", "training.csv"):
        shutil.copyfile(SAMPLE / name, tmp_path / name)
    files = InputFiles.in_folder(tmp_path)
    assert (files.steps, files.actions, files.training) == (None, None, tmp_path / "training.csv")


def test_files_by_name_with_blank_or_missing_logs():
    files = InputFiles.given({"export": "a.csv", "mapping": "m.yaml", "pathway": "p.yaml", "steps": ""})
    assert files.given_files() == [Path("a.csv"), Path("m.yaml"), Path("p.yaml")]
    assert files.steps is None and files.training is None


def test_a_misspelt_input_is_named_with_the_names_there_are():
    with pytest.raises(EscalationAnalysisError, match=r"'exprot' is not an input; name the files as export, mapping"):
        InputFiles.given({"exprot": "a.csv", "mapping": "m.yaml", "pathway": "p.yaml"})


def test_a_review_needs_the_export_the_mapping_and_the_pathway():
    with pytest.raises(EscalationAnalysisError, match="No mapping or pathway file was given"):
        InputFiles.given({"export": "a.csv"})


def test_a_folder_that_is_not_there_is_said_in_one_sentence(tmp_path):
    with pytest.raises(EscalationAnalysisError, match="is not a folder"):
        InputFiles.given(tmp_path / "nowhere")


@pytest.mark.slow  # (a whole run's reviews, plans or audit: end to end)
def test_the_same_review_from_the_folder_or_the_files_by_name():
    """What a notebook run by hand (the sample folder) and the runner (files by name) build agree."""
    by_name = {name: str(SAMPLE / file) for name, file in FOLDER_NAMES.items()}
    from_folder = reviews.open("contract-monitoring", SAMPLE, "2025-10-01", "2025-12-31")
    from_names = reviews.open("contract-monitoring", by_name, "2025-10-01", "2025-12-31")
    assert from_folder.summary().data == from_names.summary().data
