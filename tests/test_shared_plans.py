"""The demo's outside reports share their disclosure plans (``review_runs.SharedPlans``).

Each outside report's finisher needs the plan of every outside report of the run, and the
finishers run in different worker processes; the first to need a plan builds it and the others
read it. These tests pin what makes that safe: a plan read from the run's folder is the plan the
reader would have built (same summary, same audit.json), a reader never builds it again, and a
reader waits while another process is building it instead of building it too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from conftest import SAMPLE, TEST_KEY

from escalation_analysis import reviews
from escalation_analysis.ingest.inputs import InputFiles
from escalation_analysis.measures import analysis_cache
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.publish.review_runs import ReviewInputs, SharedPlans, _waiting_lock
from escalation_analysis.reviews.disclosure import NHS_ROUNDED, adopt_plan, audit_run, plan_for
from escalation_analysis.reviews.disclosure import plan as plan_module

QUARTER = (dt.date(2025, 10, 1), dt.date(2025, 12, 31))
YEAR = (dt.date(2025, 4, 1), dt.date(2026, 3, 31))
TINY = Path(__file__).parent / "fixtures" / "analytics"


def _fresh(period: tuple[dt.date, dt.date]):
    """An analysis of the sample as another process would make it: a new object, no plan yet."""
    return analyse(SAMPLE / "incidents.csv", SAMPLE / "mapping.yaml", SAMPLE / "pathway.yaml", *period,
                   steps=SAMPLE / "steps.csv", actions=SAMPLE / "learning_actions.csv",
                   training=SAMPLE / "training.csv", key=TEST_KEY)


@pytest.mark.slow  # (a whole run's reviews, plans or audit: end to end)
def test_a_plan_read_from_the_run_is_the_plan_built_here_and_is_not_built_again(tmp_path, monkeypatch):
    plans = SharedPlans(tmp_path)
    quarter = ReviewInputs(InputFiles.in_folder(SAMPLE), *QUARTER)
    year = ReviewInputs(InputFiles.in_folder(SAMPLE), *YEAR)
    built_quarter = plans.plan(quarter, TEST_KEY, NHS_ROUNDED)  # the first finisher builds both
    built_year = plans.plan(year, TEST_KEY, NHS_ROUNDED)
    assert sorted(p.name for p in tmp_path.glob("*.pickle")) == [
        "20250401-20260331-nhs-rounded.pickle", "20251001-20251231-nhs-rounded.pickle"]

    # the summary of the analysis the plan was built on (this process's, kept by the cache)
    expected = reviews.summarise("contract-monitoring", quarter.analyse(TEST_KEY), "external").data
    # another finisher: its own analyses, and no plan may be built any more
    analysis_cache.forget()
    mine = _fresh(QUARTER)

    def no_building(*args, **kwargs):
        raise AssertionError("a plan of the run was built again")

    monkeypatch.setattr(plan_module, "build_plan", no_building)
    read_quarter = plans.plan(quarter, TEST_KEY, NHS_ROUNDED, mine)
    read_year = plans.plan(year, TEST_KEY, NHS_ROUNDED)
    assert plan_for(mine, NHS_ROUNDED) is read_quarter  # what the summary takes
    assert reviews.summarise("contract-monitoring", mine, "external").data == expected
    audit_run(tmp_path / "built.json", built_quarter, built_year, report="contract-monitoring", scope=["q", "y"])
    audit_run(tmp_path / "read.json", read_quarter, read_year, report="contract-monitoring", scope=["q", "y"])
    assert (tmp_path / "read.json").read_text(encoding="utf-8") == (tmp_path / "built.json").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "read.json").read_text(encoding="utf-8"))["safe"] is True
    with pytest.raises(ValueError, match="its own period"):
        adopt_plan(mine, read_year)


def test_a_finisher_waits_for_the_plan_another_is_building(tmp_path, monkeypatch):
    monkeypatch.setattr(analysis_cache, "SETTLED_NS", 0)
    folder = tmp_path / "inputs"
    folder.mkdir()
    files = InputFiles(*(shutil.copy(TINY / f"tiny_{name}.{'csv' if name == 'export' else 'yaml'}", folder)
                         for name in ("export", "mapping", "pathway")))
    inputs = ReviewInputs(files, dt.date(2025, 3, 1), dt.date(2025, 4, 30))
    plans = SharedPlans(tmp_path)
    built = []
    real = plan_module.build_plan

    def counting(analysis, policy, *, previous=True, alongside=()):
        built.append(previous)  # the plan, then (previous=False) that of the period before
        return real(analysis, policy, previous=previous, alongside=alongside)

    monkeypatch.setattr(plan_module, "build_plan", counting)
    result = []
    with _waiting_lock(tmp_path / "20250301-20250430-nhs-rounded.lock"):  # "another process" is building it
        reader = threading.Thread(target=lambda: result.append(plans.plan(inputs, TEST_KEY, NHS_ROUNDED)))
        reader.start()
        time.sleep(0.3)
        assert reader.is_alive() and not built and not result  # waiting, not building
    reader.join(timeout=60)
    assert result and result[0].period == (dt.date(2025, 3, 1), dt.date(2025, 4, 30)) and built == [True, False]


@pytest.mark.slow  # two runs' audits of the demo's outside reports
def test_the_run_s_outside_reports_share_one_audit_whichever_finishes_first(tmp_path, monkeypatch):
    """The joint audit of a run's outside reports is made once, by whichever finisher comes first;
    each report's audit.json is the same either way, and both list the same intervals."""
    from types import SimpleNamespace

    from escalation_analysis.publish import review_runs
    from escalation_analysis.reviews.kinds import KINDS

    quarter = ReviewInputs(InputFiles.in_folder(SAMPLE), *QUARTER, {"disclosure": ""})
    year = ReviewInputs(InputFiles.in_folder(SAMPLE), *YEAR, {"disclosure": ""})
    reports = {"contract-monitoring": quarter, "pathway-review": year}
    audits = []
    real = plan_module.audit_plans
    monkeypatch.setattr(plan_module, "audit_plans", lambda plans, **kw: audits.append(len(plans)) or real(plans, **kw))
    written = {}
    for run, order in (("cm-first", ["contract-monitoring", "pathway-review"]),
                       ("pr-first", ["pathway-review", "contract-monitoring"])):
        shared = SharedPlans(tmp_path / run)
        shared.folder.mkdir()
        for name in order:
            out = tmp_path / run / name
            out.mkdir()
            other = next((n, i) for n, i in reports.items() if n != name)
            review_runs._disclosure_audit(KINDS[name], reports[name], reports[name].analyse(TEST_KEY),
                                          SimpleNamespace(folder=out), TEST_KEY, (other,), shared)
            written[run, name] = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    assert audits == [2, 2]  # one audit of the two reports per run
    for name in reports:
        assert written["cm-first", name] == written["pr-first", name]
    quarter_audit, year_audit = written["cm-first", "contract-monitoring"], written["cm-first", "pathway-review"]
    assert quarter_audit["scope"] == year_audit["scope"] == [
        "contract-monitoring 01/10/2025 to 31/12/2025", "pathway-review 01/04/2025 to 31/03/2026"]
    intervals = {}
    for audit in (quarter_audit, year_audit):
        for finding in audit["withheld_figures"] + audit["derived_counts_that_may_be_small"]:
            assert intervals.setdefault(finding["figure"], finding["interval"]) == finding["interval"]


@pytest.mark.slow  # the demo's joint audit, made in the template's way
def test_the_template_makes_the_run_s_audit_before_the_finishers_but_never_waits_for_it(tmp_path, monkeypatch):
    """The kernel template makes the joint audit while no kernel waits (``FinishReview.warm_later``),
    so the contract-monitoring finisher only reads it; while a report's process is making it, the
    template leaves it (it never waits for a report's process), and the finisher's audit.json is
    the same either way."""
    from types import SimpleNamespace

    from escalation_analysis.publish import review_runs
    from escalation_analysis.reviews.kinds import KINDS

    quarter = ReviewInputs(InputFiles.in_folder(SAMPLE), *QUARTER, {"disclosure": ""})
    year = ReviewInputs(InputFiles.in_folder(SAMPLE), *YEAR, {"disclosure": ""})
    audits = []
    real = plan_module.audit_plans
    monkeypatch.setattr(plan_module, "audit_plans", lambda plans, **kw: audits.append(len(plans)) or real(plans, **kw))
    shared = SharedPlans(tmp_path / "run")
    shared.folder.mkdir()
    finisher = review_runs.FinishReview("contract-monitoring", quarter, TEST_KEY, {},
                                        companions=(("pathway-review", year),), plans=shared)
    # "a report's process" holds the audit's lock: the template goes on at once without it
    scope = "\n".join(["contract-monitoring 01/10/2025 to 31/12/2025", "pathway-review 01/04/2025 to 31/03/2026"])
    lock = shared.folder / f"audit-{hashlib.sha256(scope.encode('utf-8')).hexdigest()[:16]}-nhs-rounded.lock"
    with _waiting_lock(lock):
        started = time.monotonic()
        finisher.warm_later()
        assert time.monotonic() - started < 30 and audits == [] and not list(shared.folder.glob("audit-*.pickle"))
    finisher.warm_later()  # nothing holds it: made once, for the run
    assert audits == [2] and len(list(shared.folder.glob("audit-*.pickle"))) == 1
    out = tmp_path / "cm"
    out.mkdir()
    review_runs._disclosure_audit(KINDS["contract-monitoring"], quarter, quarter.analyse(TEST_KEY),
                                  SimpleNamespace(folder=out), TEST_KEY, (("pathway-review", year),), shared)
    assert audits == [2]  # the finisher read it
    expected = tmp_path / "expected"
    expected.mkdir()
    review_runs._disclosure_audit(KINDS["contract-monitoring"], quarter, quarter.analyse(TEST_KEY),
                                  SimpleNamespace(folder=expected), TEST_KEY, (("pathway-review", year),),
                                  SharedPlans(tmp_path))
    assert (out / "audit.json").read_text(encoding="utf-8") == (expected / "audit.json").read_text(encoding="utf-8")
