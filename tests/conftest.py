"""Shared fixtures: an isolated pseudonymisation key, the shipped sample, export builders.

Every test runs with ``ESCALATION_ANALYSIS_KEY_FILE`` pointing into its own temporary folder
(and ``ESCALATION_ANALYSIS_KEY`` unset), so no test reads or creates a key in the user's home.
The notebooks nbval runs are not Python tests and get no fixtures: the repository's root
``conftest.py`` gives the whole session a key file in a temporary folder for them.

Hypothesis profiles: "dev" (40 examples, random) by default; "ci" (100 examples, derandomised:
the same examples on every run, so CI cannot pass one day and fail the next) when ``CI=true``;
"thorough" (400) on request. ``HYPOTHESIS_PROFILE`` names one explicitly. None of them keeps
an example database: pytest writes nothing outside temporary folders, so a failure found at
random is pinned with ``@example`` beside its test.

Tests marked ``needs_browser`` (Chromium) or ``needs_poppler`` (pdftotext, pdftoppm) are
skipped on a developer's machine without them, and fail in CI, where they must run.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from escalation_analysis.ingest.export import LoadedExport, load_export
from escalation_analysis.ingest.mapping import MappingProfile

IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
"""Whether this run is CI's (``.ci/run`` sets ``CI=true``, as CI services do)."""

settings.register_profile(
    "dev",
    max_examples=40,
    deadline=None,
    database=None,  # nothing written into the repository: pin failures with @example
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the key-file fixture is the same for every example
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
settings.register_profile("ci", parent=settings.get_profile("dev"), max_examples=100, derandomize=True)
settings.register_profile("thorough", parent=settings.get_profile("dev"), max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if IN_CI else "dev"))

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
TEST_KEY = b"test-pseudonymisation-key-not-secret"

# The small layout most tests build their exports in; PROFILE maps it.
HEADER = ["Ref", "Date", "Time", "Escalated", "Responded", "Team", "Category", "Result",
          "Lone", "Contacted", "NHS Number", "Staff"]
PROFILE = {
    "source": "Test export",
    "columns": {
        "incident_id": "Ref",
        "risk_identified_at": ["Date", "Time"],
        "escalated_at": "Escalated",
        "responded_at": "Responded",
        "team": "Team",
        "trigger": "Category",
        "outcome": "Result",
        "lone_worker": "Lone",
        "escalated_to": "Contacted",
        "service_user_id": "NHS Number",
        "staff_id": "Staff",
    },
    "nhs_number": "service_user_id",
    "values": {"trigger": {"Imminent risk": "imminent_risk", "Lost contact": "loss_of_contact"}},
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_browser: runs Chromium (skipped without it, fails in CI)")
    config.addinivalue_line("markers", "needs_poppler: reads PDFs with poppler-utils (skipped without, fails in CI)")


needs_browser = pytest.mark.needs_browser
needs_poppler = pytest.mark.needs_poppler


@cache
def browser() -> str | None:
    """The Chromium-family browser the reports print with, or None."""
    from escalation_analysis.publish.pdf_printing import BrowserError, find_browser

    try:
        return find_browser()
    except BrowserError:
        return None


def have_poppler() -> bool:
    return bool(shutil.which("pdftotext") and shutil.which("pdftoppm"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test whose tool is missing, except in CI, where the missing tool fails it."""
    missing = []
    if item.get_closest_marker("needs_browser") and browser() is None:
        missing.append("Chromium (or ESCALATION_BROWSER)")
    if item.get_closest_marker("needs_poppler") and not have_poppler():
        missing.append("poppler-utils (pdftotext, pdftoppm)")
    if missing:
        reason = f"needs {' and '.join(missing)}"
        if IN_CI:
            pytest.fail(f"{reason}: CI must run it (.ci/run installs it)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def isolated_key(tmp_path_factory, monkeypatch) -> Path:
    """Point the key file at a fresh temporary folder and clear any key in the environment."""
    key_file = tmp_path_factory.mktemp("key") / "escalation-analysis" / "pseudonym.key"
    monkeypatch.setenv("ESCALATION_ANALYSIS_KEY_FILE", str(key_file))
    monkeypatch.delenv("ESCALATION_ANALYSIS_KEY", raising=False)
    return key_file


@pytest.fixture(scope="session")
def truth() -> dict:
    """The planted answers of the shipped sample."""
    return json.loads((SAMPLE / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def sample(truth):
    """The shipped sample, whole period, with every log, analysed once per test run."""
    from escalation_analysis.measures.analysis import analyse

    return analyse(
        SAMPLE / "incidents.csv", SAMPLE / "mapping.yaml", SAMPLE / "pathway.yaml",
        truth["period"]["start"], truth["period"]["end"],
        steps=SAMPLE / "steps.csv", actions=SAMPLE / "learning_actions.csv", training=SAMPLE / "training.csv",
        key=TEST_KEY,
    )


@pytest.fixture(scope="session")
def sample_quarter():
    """2025/26 Q3 of the shipped sample (the quarter its planted team deteriorates), every log,
    analysed once per test run.

    Shared read-only by the disclosure tests: its disclosure plans (``plan_for``) and their audit
    are then built once, not once per module. A test that changes an analysis makes its own.
    """
    from escalation_analysis.measures.analysis import analyse
    from escalation_analysis.synthetic import DETERIORATION_QUARTER

    return analyse(
        SAMPLE / "incidents.csv", SAMPLE / "mapping.yaml", SAMPLE / "pathway.yaml", *DETERIORATION_QUARTER,
        steps=SAMPLE / "steps.csv", actions=SAMPLE / "learning_actions.csv", training=SAMPLE / "training.csv",
        key=TEST_KEY,
    )


@pytest.fixture(scope="session")
def sample_reviews(tmp_path_factory) -> dict:
    """Every report kind's review of the sample as a notebook opens it (``reviews.open`` on the sample
    folder): 2025/26 Q3, the pathway review over 2025/26, supervision for Riverside CMHT.

    Built once per test run (each build makes its disclosure plan and audit: seven seconds of
    processor time) and shared read-only by test_review_objects.py and test_review_statistics.py,
    whichever pytest-xdist workers run them: the first builds and pickles them, the other unpickles.
    """
    import pickle

    from test_review_objects import sample_review

    from escalation_analysis import reviews

    def build(folder: Path) -> None:
        (folder / "reviews.pickle").write_bytes(pickle.dumps({kind: sample_review(kind) for kind in reviews.KINDS}))

    return pickle.loads((made_once_per_run(tmp_path_factory, "sample-reviews", build) / "reviews.pickle").read_bytes())


@pytest.fixture(scope="session")
def sample_listings(tmp_path_factory) -> dict:
    """The shipped sample rewritten as a Datix-Web-style listing workbook and as a listing CSV
    (``foreign_exports``), written once per test run for test_listing_layouts.py and
    test_profile_drafting.py, which only read them."""
    from foreign_exports import DATIX_WEB_LISTING, LISTING_CSV, write_export

    folder = tmp_path_factory.mktemp("listings")
    return {"xlsx": write_export(DATIX_WEB_LISTING, folder / "listing.xlsx"),
            "csv": write_export(LISTING_CSV, folder / "listing.csv")}


@pytest.fixture(scope="session")
def handworked():
    """The hand-worked export (tests/fixtures/handworked), 2025/26 Q3, analysed once per test run.

    Shared read-only by test_handworked.py and test_pathway_review.py, so its disclosure plan and
    audit are built once.
    """
    from test_handworked import analyse_handworked

    return analyse_handworked()


@pytest.fixture(scope="session")
def sample_csv() -> LoadedExport:
    """The shipped CSV sample, loaded once for the session (with a fixed test key)."""
    return load_export(SAMPLE / "incidents.csv", SAMPLE / "mapping.yaml", key=TEST_KEY)


@pytest.fixture(scope="session")
def sample_xlsx() -> LoadedExport:
    """The shipped Excel sample, loaded once for the session (with a fixed test key)."""
    return load_export(SAMPLE / "incidents.xlsx", SAMPLE / "mapping.yaml", key=TEST_KEY)


def csv_bytes(rows: list[list[str]], header: list[str] | None = None, *, delimiter: str = ",",
              encoding: str = "utf-8") -> bytes:
    """A CSV file's bytes, quoted as spreadsheet programs write them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADER if header is None else header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def row(ref: str = "R1", date: str = "03/04/2025", time: str = "10:00",
        escalated: str = "03/04/2025 10:30", responded: str = "", team: str = "North",
        category: str = "Imminent risk", result: str = "Near Miss", lone: str = "N",
        contacted: str = "Crisis Team", nhs: str = "943 476 5919", staff: str = "Sam Patel") -> list[str]:
    """One record of the test layout; every field can be overridden by name."""
    return [ref, date, time, escalated, responded, team, category, result, lone, contacted, nhs, staff]


@pytest.fixture
def profile() -> MappingProfile:
    """The mapping profile of the test layout."""
    return MappingProfile.model_validate(PROFILE)


@pytest.fixture
def export(tmp_path, profile) -> Callable[..., LoadedExport]:
    """Write records of the test layout to a CSV in tmp_path and load them."""

    def build(rows: list[list[str]], *, name: str = "export.csv", key: bytes = TEST_KEY,
              **options) -> LoadedExport:
        path = tmp_path / name
        path.write_bytes(csv_bytes(rows, **options))
        return load_export(path, profile, key=key)

    return build


def balanced(loaded: LoadedExport) -> bool:
    """rows read = rows analysed + rows excluded, and the episodes are the analysed rows."""
    accounting = loaded.accounting
    return (
        accounting.rows_read == accounting.rows_analysed + accounting.rows_excluded
        and len(loaded.episodes) == accounting.rows_analysed
    )


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Path:
    """Run the demo once per test run, as a user would, with a key file of its own.

    Shared by the end-to-end tests (test_reviews.py, test_report_pages.py, test_disclosure_reports.py,
    test_output_safety.py's Ctrl-C test, which interrupts a demo run over a copy of it): the four
    reports' folders are under the returned path. Under pytest-xdist the workers share one run
    (``made_once_per_run``) instead of each spending a minute of processor time on the same
    reports (and the demo's two kernels get both cores).
    """
    import subprocess
    import sys

    def run_demo(out: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "ESCALATION_ANALYSIS_KEY"}
        env["ESCALATION_ANALYSIS_KEY_FILE"] = str(out / "demo.key")
        result = subprocess.run(
            [sys.executable, "-m", "escalation_analysis.cli", "demo", "--out", str(out / "reports")],
            cwd=REPO, capture_output=True, text=True, env=env, timeout=900, check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]

    return made_once_per_run(tmp_path_factory, "demo", run_demo) / "reports"


def made_once_per_run(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder that ``make`` fills once per test run, however many pytest-xdist workers need it.

    The workers share the run's temporary folder (their own folders' common parent): the first
    to need the folder fills it while holding a lock there, and the others wait for it and read
    what it made, instead of each spending the same processor time. Without xdist the folder
    is the session's own.
    """
    from filelock import FileLock

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    folder = tmp_path_factory.getbasetemp().parent / f"shared-{name}" if worker else tmp_path_factory.mktemp(name)
    folder.mkdir(exist_ok=True)
    with FileLock(folder / "made.lock"):
        if not (folder / "made").is_file():
            make(folder)
            (folder / "made").touch()
    return folder
