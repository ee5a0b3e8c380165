"""The suite is honest: the same examples in every CI run, and nothing written outside temporary folders.

CI (``CI=true``) loads hypothesis's "ci" profile (``tests/conftest.py``): derandomised, so a
property test cannot pass one day and fail the next, with no example database to write.

The repository's ``conftest.py`` points every place a run would write (the key file, IPython,
Jupyter, Chromium's settings and caches, hypothesis, and the home folder itself) into a
temporary folder, and fails the session that creates or changes a file in the working tree or
leaves anything in its home folder. Every ``pytest`` run is checked so, the whole suite included
(reports made through notebook kernels and printed by Chromium, the summary command, property
tests). Here a small pytest run in a child process writes into its home folder, to prove that
check fails the run and names the file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import IN_CI
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]

WRITES_HOME = '''
from pathlib import Path

def test_a_tool_that_keeps_its_settings_in_the_home_folder():
    (Path.home() / ".sometool").mkdir()
    (Path.home() / ".sometool" / "settings.ini").write_text("written by a test")
'''


def test_ci_draws_the_same_examples_every_run_and_keeps_no_database():
    profile = settings.get_profile("ci")
    assert profile.derandomize and profile.database is None and profile.max_examples >= 100
    assert settings.get_profile("dev").database is None  # a developer's run writes no .hypothesis/ either
    if IN_CI:
        assert settings.default.derandomize


@pytest.mark.slow  # starts a test run of its own (pytest, and its xdist worker): 4-8 s each
@pytest.mark.parametrize("workers", [[], ["-n", "1"]], ids=["one process", "a pytest-xdist worker"])
def test_a_test_run_that_writes_into_the_home_folder_fails_naming_the_file(tmp_path, workers):
    """Also when the test ran in a pytest-xdist worker (as the suite runs): the worker's write is
    found by the check in the process that started it, which sets the run's exit status."""
    test_file = tmp_path / "test_writes_home.py"
    test_file.write_text(WRITES_HOME)
    home = tmp_path / "home"  # the user's home as the child run starts; the run must give itself another
    home.mkdir()
    # -p conftest: the repository's root conftest.py (the working folder is on the path), as every run loads it
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider",
                             *workers, "--rootdir", str(tmp_path), str(test_file)],
                            cwd=REPO, env={**os.environ, "HOME": str(home)}, capture_output=True, text=True,
                            timeout=300, check=False)
    assert "1 passed" in result.stdout, result.stdout[-3000:] + result.stderr[-2000:]  # the test itself passed
    assert result.returncode == 1, result.stdout[-3000:]  # and the run failed
    assert ("The test run wrote into the home folder (tests must write only into temporary folders): "
            ".sometool, .sometool/settings.ini") in result.stdout
    assert list(home.iterdir()) == []  # it wrote into its own temporary home, not the user's
