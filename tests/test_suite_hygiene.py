"""The suite is honest: the same examples in every CI run, and nothing written outside temporary folders.

CI (``CI=true``) loads hypothesis's "ci" profile (``tests/conftest.py``): derandomised, so a
property test cannot pass one day and fail the next, with no example database to write.

The repository's ``conftest.py`` points every place a run would write (the key file, IPython,
Jupyter, Chromium's settings and caches, hypothesis) into a temporary folder, and fails the
session that creates or changes a file in the working tree. What it cannot see is the user's
home folder, which other programs on the machine write to at the same time. So here a part of
the suite that does everything the suite does (a report made through a notebook kernel and
printed by Chromium, the summary command, property tests) runs in a fresh pytest with an empty
home folder and no XDG settings: anything it writes outside a temporary folder lands there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import IN_CI, needs_browser
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]

PART = [
    "tests/test_report_known_answers.py::TestSupervision::test_the_pdf_says_the_same",  # CLI, kernels, Chromium
    "tests/test_handworked.py::TestSummaryJson::test_the_command_says_what_it_did",  # in-process command
    "tests/test_datetimes.py",  # hypothesis
]


def test_ci_draws_the_same_examples_every_run_and_keeps_no_database():
    profile = settings.get_profile("ci")
    assert profile.derandomize and profile.database is None and profile.max_examples >= 100
    assert settings.get_profile("dev").database is None  # a developer's run writes no .hypothesis/ either
    if IN_CI:
        assert settings.default.derandomize


@pytest.mark.slow
@needs_browser
def test_a_test_run_leaves_the_home_folder_empty_and_the_working_tree_as_it_was(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("XDG_") and k not in ("IPYTHONDIR", "ESCALATION_ANALYSIS_KEY_FILE", "HOME")}
    env["HOME"] = str(home)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *PART],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=1200, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "passed" in result.stdout and "skipped" not in result.stdout  # the part ran, browser included
    left = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert left == [], f"the run wrote into the home folder: {left[:20]}"
