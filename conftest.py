"""A pytest session writes nothing outside a temporary folder.

nbval runs the report notebooks in kernels that inherit this process's environment and get no
fixtures, so the key file is set here, before any kernel starts, for every pytest run from the
repository (``pytest``, ``pytest notebooks/``, ``pytest tests/...``). Without it the notebooks
would create a real key in the user's configuration folder. The tests' own per-test key files
are in ``tests/conftest.py``. The same temporary folder takes what else a run would leave
behind (found by running the suite with an empty home folder): the kernels' IPython profile
and history (``IPYTHONDIR``), Chromium's crash-report settings and dconf cache (the XDG
configuration and cache folders), Jupyter's runtime files and notebook signatures (the XDG
data folder), and hypothesis's caches (``.hypothesis/`` in the working folder otherwise).

The home folder (``HOME``) is an empty folder inside that temporary folder too, so the user's
own home is never the target of anything the run (kernels and Chromium included) writes.

The session then checks itself: a file the run created or changed in the repository's working
tree fails the run, naming the file (Python's ``__pycache__`` and the ignored tool folders
aside); so does anything left in the run's home folder, which means a place the redirections
above missed (``tests/test_suite_hygiene.py`` proves the check fails).

The suite runs on every core (pytest-xdist, ``-n auto --dist loadfile`` in ``pyproject.toml``:
a file's tests go to one worker, so its fixtures are built once and nbval runs a notebook's cells
in order in one kernel). The temporary folder, home folder and checks belong to the controlling
process: each worker is given the same folder and points its environment there, so the one
check at the end covers every worker (a worker's own end-of-session status does not fail the run).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_SAVED: dict[str, str | None] = {}
REPO = Path(__file__).resolve().parent
_NOT_OURS = frozenset({".git", ".venv", "venv", "__pycache__", ".ruff_cache", "mutants", "node_modules"})
"""Folders of the working tree a test run does not answer for: git, the environment, bytecode."""
_FOOTPRINT = pytest.StashKey[dict[str, tuple[int, int]]]()
_TEMPORARY = pytest.StashKey[Path]()
_FOLDER_INPUT = "escalation_analysis_tests_folder"
"""The name under which a pytest-xdist worker is told the controller's temporary folder."""


def working_tree_files(root: Path = REPO) -> dict[str, tuple[int, int]]:
    """Every file of the working tree (but ``_NOT_OURS``) with its modification time and size."""
    found: dict[str, tuple[int, int]] = {}
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [d for d in subfolders if d not in _NOT_OURS and not d.endswith(".egg-info")]
        for name in files:
            path = Path(folder) / name
            try:
                stat = path.stat()
            except OSError:  # gone while we looked
                continue
            found[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size)
    return found


def _is_worker(config: pytest.Config) -> bool:
    """Whether this process is a pytest-xdist worker (the controller makes and checks the folders)."""
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if _is_worker(config):
        _redirect(Path(config.workerinput[_FOLDER_INPUT]))
        return
    config.stash[_FOOTPRINT] = working_tree_files()
    folder = tempfile.mkdtemp(prefix="escalation-analysis-tests-")
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    (Path(folder) / "home").mkdir()
    config.stash[_TEMPORARY] = Path(folder)
    _redirect(Path(folder))


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: the controller starting a worker
def pytest_configure_node(node) -> None:
    node.workerinput[_FOLDER_INPUT] = str(node.config.stash[_TEMPORARY])


def _redirect(folder: Path) -> None:
    """Point the key file, the home folder and every tool's settings and caches into ``folder``."""
    try:
        from hypothesis.configuration import set_hypothesis_home_dir
    except ImportError:  # hypothesis is a test extra
        pass
    else:
        set_hypothesis_home_dir(folder / "hypothesis")
    for name, value in (("HOME", str(folder / "home")),
                        ("ESCALATION_ANALYSIS_KEY_FILE", str(folder / "pseudonym.key")),
                        ("ESCALATION_ANALYSIS_KEY", None),
                        ("IPYTHONDIR", str(folder / "ipython")),
                        ("XDG_CONFIG_HOME", str(folder / "config")),
                        ("XDG_CACHE_HOME", str(folder / "cache")),
                        ("XDG_DATA_HOME", str(folder / "data"))):
        _SAVED[name] = os.environ.get(name)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _fail_session(session: pytest.Session, where: str, left: list[str]) -> None:
    shown = ", ".join(left[:10]) + (f" and {len(left) - 10} more" if len(left) > 10 else "")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"The test run wrote into {where} (tests must write only into temporary folders): {shown}",
                            red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(trylast=True)  # after the session's fixtures (kernels, browsers) have ended
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if it created or changed a file in the working tree or wrote into the home folder."""
    folder = session.config.stash.get(_TEMPORARY, None)  # the controller's (or the only) process
    if folder is not None:
        home = folder / "home"
        written = sorted(str(path.relative_to(home)) for path in home.rglob("*"))
        if written:
            _fail_session(session, "the home folder", written)
    before = session.config.stash.get(_FOOTPRINT, None)
    if before is None or REPO.name == "mutants" or "MUTANT_UNDER_TEST" in os.environ:  # mutmut writes beside the code
        return
    after = working_tree_files()
    left = sorted(name for name, seen in after.items() if before.get(name) != seen)
    if left:
        _fail_session(session, "the working tree", left)


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
