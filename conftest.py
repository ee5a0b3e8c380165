"""A pytest session writes nothing outside a temporary folder.

nbval runs the report notebooks in kernels that inherit this process's environment and get no
fixtures, so the key file is set here, before any kernel starts, for every pytest run from the
repository (``pytest``, ``pytest notebooks/``, ``pytest tests/...``). Without it the notebooks
would create a real key in the user's configuration folder. The tests' own per-test key files
are in ``tests/conftest.py``. The same temporary folder takes what else a run would leave
behind (found by running the suite with an empty home folder): the kernels' IPython profile
and history (``IPYTHONDIR``), Chromium's crash-report settings and dconf cache (the XDG
configuration and cache folders), and hypothesis's caches (``.hypothesis/`` in the working
folder otherwise).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_SAVED: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    folder = tempfile.mkdtemp(prefix="escalation-analysis-tests-")
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    try:
        from hypothesis.configuration import set_hypothesis_home_dir
    except ImportError:  # hypothesis is a test extra
        pass
    else:
        set_hypothesis_home_dir(Path(folder) / "hypothesis")
    for name, value in (("ESCALATION_ANALYSIS_KEY_FILE", str(Path(folder) / "pseudonym.key")),
                        ("ESCALATION_ANALYSIS_KEY", None),
                        ("IPYTHONDIR", str(Path(folder) / "ipython")),
                        ("XDG_CONFIG_HOME", str(Path(folder) / "config")),
                        ("XDG_CACHE_HOME", str(Path(folder) / "cache"))):
        _SAVED[name] = os.environ.get(name)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _SAVED.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """nbval's notebook cells are slow tests: each notebook starts a kernel and runs a whole report.

    ``pytest`` runs them; ``pytest -m "not slow"`` (the quick run while developing) leaves them
    out, as it leaves out the demo, browser and PDF tests that run the same notebooks end to end.
    """
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)

