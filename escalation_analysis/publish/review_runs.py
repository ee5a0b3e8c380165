"""The four review reports, their audiences, and running them end to end.

Each kind is a parameterised notebook in ``notebooks/`` with a fixed audience. The audience
is decided here, by the kind, never by a parameter a user can change, and it decides:

* the ``summary.json`` and ``tables/*.csv`` written beside the report (suppressed for
  external and partner audiences, by :func:`~escalation_analysis.reviews.summary.build_summary`);
* the privacy gate run on every output before it is published (:mod:`~escalation_analysis.publish.gate`);
* the permissions: internal reports are private to the user (folders 0700, files 0600).

``run_review`` checks the inputs in-process first (so a wrong path or a bad profile is one
clear sentence, before any kernel starts), runs the notebook through
:func:`~escalation_analysis.publish.one_report.run_report` into a private staging folder, writes
the summary there, runs the gate on exactly those files, and only then publishes them
(:mod:`~escalation_analysis.publish.outputs`). ``run_demo`` runs the four reports in parallel
worker processes, and each report's summary and gate run right after the report
(:class:`FinishReview`), in a fork of the kernel template, which has read the export and
analysed the report's period before it forked the report's kernel.

The analysis modules are imported where they are used, so the command line starts the
reports without first importing pandas itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EscalationAnalysisError
from ..ingest.inputs import InputFiles
from ..reviews.kinds import KINDS, ReviewKind
from ..reviews.kinds import kind as _kind
from .kernels import _warm_kernels
from .many_reports import ReportJob, run_alone, run_reports
from .one_report import ReportResult
from .outputs import (
    OutputFolderError,
    OutputsWithheld,
    Staging,
    check_out_dir,
    folder_lock,
    machine_folders,
    staged_outputs,
)
from .report_errors import ReportError, ReportsFailedError

if TYPE_CHECKING:
    from ..measures.analysis import Analysis
    from ..reviews.disclosure import AuditResult, DisclosurePlan, DisclosurePolicy

logger = logging.getLogger(__name__)


def notebooks_dir() -> Path:
    """Where the report notebooks live: ``ESCALATION_NOTEBOOKS`` or the repository's ``notebooks/``."""
    if os.environ.get("ESCALATION_NOTEBOOKS"):
        return Path(os.environ["ESCALATION_NOTEBOOKS"])
    here = Path(__file__).resolve().parents[1]
    for candidate in (here.parent / "notebooks", Path.cwd() / "notebooks"):
        if (candidate / KINDS["near-miss-review"].notebook).is_file():
            return candidate
    raise EscalationAnalysisError(
        "The report notebooks were not found; run from the escalation-analysis folder or set "
        "ESCALATION_NOTEBOOKS to its notebooks/ folder."
    )


@dataclass
class ReviewInputs:
    """The files and period a review is made from, and the kind's options (team, staff, disclosure)."""

    files: InputFiles
    start: dt.date
    end: dt.date
    options: dict[str, Any] = field(default_factory=dict)

    def input_files(self) -> dict[str, Path | None]:
        """The files read, by name (None for a log not given)."""
        return self.files.by_name()

    def parameters(self) -> dict[str, Any]:
        """Notebook parameters besides the files: the period as ISO dates.

        The files reach the notebook by name only, in its ``inputs`` parameter (the runner's
        ``input_files``).
        """
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    def analyse(self, key: bytes | None = None) -> Analysis:
        """The analysis of these inputs, made once per process while the files are unchanged
        (a run's summary, gate and disclosure audit share it: :mod:`~escalation_analysis.measures.analysis_cache`)."""
        from ..measures.analysis_cache import analyse_once

        return analyse_once(self.files, self.start, self.end, key=key)


def _notebook_parameters(kind: ReviewKind, inputs: ReviewInputs, key: bytes,
                         earlier: Sequence[tuple[str, ReviewInputs]] = ()) -> dict[str, Any]:
    """The notebook's parameters; ``earlier``: the run's outside reports published before this
    one (see :func:`_earlier`), whose disclosure plans the report's plan is built alongside."""
    parameters = {**inputs.parameters(), "audience": kind.audience}
    if kind.audience != "internal":
        parameters["disclosure"] = inputs.options.get("disclosure") or ""
        if earlier:
            parameters["alongside"] = [f"{name} {i.start.isoformat()} {i.end.isoformat()}" for name, i in earlier]
    if kind.name == "supervision":
        team = inputs.options.get("team") or ""
        staff = inputs.options.get("staff") or ""
        parameters["team"] = team
        parameters["staff_pseudonym"] = _staff_pseudonym(staff, key) if staff else ""
        # The name the supervisor typed, to call the practitioner by on their own pack (internal):
        # the records in the pack still carry only the pseudonym.
        parameters["staff_name"] = staff
    return parameters


def _staff_pseudonym(staff: str, key: bytes) -> str:
    import pandas as pd

    from ..ingest.pseudonyms import pseudonymise

    return str(pseudonymise(pd.Series([staff], dtype="str"), "staff_id", key).iloc[0])


def run_review(kind_name: str, inputs: ReviewInputs, out_dir: str | Path, *, pdf: bool = True) -> ReportResult:
    """Make one review report in ``out_dir``: HTML, PDF, executed notebook, summary.json, tables.

    Nothing is published unless all of it is made and passes the privacy gate; ``out_dir`` may
    not be, or contain, one of the inputs (see :mod:`~escalation_analysis.publish.outputs`).
    The kernel template starts first and imports while the inputs are checked here; the report
    is then run as :func:`~escalation_analysis.publish.many_reports.run_alone` runs it.
    """
    from ..ingest.pseudonym_key import load_key

    kind = _kind(kind_name)
    check_out_dir(out_dir, inputs.input_files().values())  # before the work, not after it
    key = load_key()
    with _warm_kernels():  # the kernel template imports while this process checks the inputs
        analysis = inputs.analyse(key)  # fails fast, in one sentence, on bad inputs
        parameters = _notebook_parameters(kind, inputs, key)
        if kind.name == "supervision":
            _check_selection(analysis, parameters, inputs)
        return run_alone(ReportJob(
            notebooks_dir() / kind.notebook, out_dir, parameters, pdf=pdf, title=kind.title,
            **_publishing(kind, inputs, FinishReview(kind.name, inputs, key, parameters)),
        ))


def _publishing(kind: ReviewKind, inputs: ReviewInputs, finish: FinishReview) -> dict[str, Any]:
    """How a review is run and published: its files by name, its privacy, its gate."""
    return {"input_files": inputs.input_files(), "files_parameter": "inputs", "private": kind.audience == "internal",
            "report": kind.name, "before_publish": finish}


def _check_selection(analysis: Analysis, parameters: dict[str, Any], inputs: ReviewInputs) -> None:
    """A supervision pack about nobody is a mistake in --team or --staff, or the wrong period:
    say which before running."""
    from ..measures.timeliness import first_and_last_dates
    from ..reviews.supervision import select

    team, staff = parameters["team"], parameters["staff_pseudonym"]
    if not (team or staff) or not select(analysis.episodes, team=team, staff_pseudonym=staff).empty:
        return
    who = " and ".join(filter(None, [f"team '{team}'" if team else "", "that practitioner" if staff else ""]))
    period = f"between {inputs.start:%d/%m/%Y} and {inputs.end:%d/%m/%Y}"
    elsewhere = select(analysis.all_episodes, team=team, staff_pseudonym=staff)
    if not elsewhere.empty:  # spelt right: a quiet period, or the wrong one
        first, last = first_and_last_dates(elsewhere, analysis.pathway.timezone)
        raise EscalationAnalysisError(
            f"No episodes for {who} {period}; in this export they run from {first:%d/%m/%Y} to "
            f"{last:%d/%m/%Y}: choose a period with episodes to discuss.")
    teams = ", ".join(sorted(analysis.episodes["team"].unique())[:20])
    raise EscalationAnalysisError(
        f"No episodes for {who} {period}; write the name exactly as in the export (teams in this period: {teams})."
    )


def _finish(kind: ReviewKind, inputs: ReviewInputs, analysis: Analysis, staging: Staging,
            parameters: dict[str, Any] | None = None, key: bytes | None = None,
            companions: tuple[tuple[str, ReviewInputs], ...] = (), plans: SharedPlans | None = None) -> None:
    """Write the review's summary.json and tables (the same builder as its pages) into the
    staging folder, for outside readers the disclosure audit (audit.json, over this report and
    its ``companions``: the run's other outside reports), then run the gate on everything the
    run wrote there. ``plans``, if given, holds the run's disclosure plans, built once for all
    its reports."""
    from .gate import PrivacyGate

    if kind.audience == "internal":
        _summary(kind, inputs, analysis, parameters).write(staging.folder / "summary.json")
    else:  # the summary takes the run's plan: built alongside those of the run's outside reports before it
        *alongside, own = _own_plans(kind, inputs, analysis, key, companions, plans)
        _summary(kind, inputs, analysis, parameters, alongside=tuple(alongside)).write(staging.folder / "summary.json")
        _disclosure_audit(kind, inputs, analysis, staging, key, companions, plans, own)
    # the name a supervisor typed for the practitioner is shown on their own (internal) pack
    typed = (parameters or {}).get("staff_name") or ""
    gate = PrivacyGate.build(analysis.identifiers, kind.audience,
                             machine_folders(*inputs.input_files().values(), staging.out),
                             allowed=(typed,) if typed else ())
    gate.check(staging.folder, staging.manifest())


#: Summaries the kernel template made while the kernel ran (:meth:`FinishReview.warm_later`), each
#: taken once by the finisher forked from it, by kind, options and the plans alongside (their
#: identities): (analysis, summary).
_summaries_made_ahead: dict[tuple[str, tuple, tuple], tuple[Analysis, Any]] = {}


def _summary(kind: ReviewKind, inputs: ReviewInputs, analysis: Analysis, parameters: dict[str, Any] | None,
             *, ahead: bool = False, alongside: tuple[DisclosurePlan, ...] = ()) -> Any:
    """The review's summary (summary.json and its tables), with the kind's audience and the
    report's options; one made ahead for this analysis if there is one. ``ahead``: make it
    now and keep it for the finisher. ``alongside``: the plans of the run's outside reports
    published before this one."""
    from .. import reviews

    options = {k: parameters[k] for k in ("team", "staff_pseudonym", "staff_name") if parameters and k in parameters}
    if kind.audience != "internal" and inputs.options.get("disclosure"):
        options["disclosure"] = inputs.options["disclosure"]
    key = (kind.name, tuple(sorted(options.items())), tuple(p.identity() for p in alongside))
    if alongside:
        options["alongside"] = alongside
    made = _summaries_made_ahead.pop(key, None)
    if made is None or made[0] is not analysis:
        made = (analysis, reviews.summarise(kind.name, analysis, kind.audience, **options))
    if ahead:
        _summaries_made_ahead[key] = made
    return made[1]


class DisclosureWithheld(OutputsWithheld):
    """An outside report withheld by the disclosure audit: a small count could be worked out.

    Its outputs, ``audit.json`` with every figure's range among them, are kept in the private
    ``withheld-...`` folder (as for the privacy gate), so its maker can see which figures to
    merge or which period to widen; nothing is published.
    """


def _policy(kind: ReviewKind, inputs: ReviewInputs) -> DisclosurePolicy:
    """The disclosure policy of an outside report: its audience's, or the one asked for."""
    from ..reviews.disclosure import policy_for

    return policy_for(kind.audience, inputs.options.get("disclosure") or None)


def _disclosure_audit(kind: ReviewKind, inputs: ReviewInputs, analysis: Analysis, staging: Staging,
                      key: bytes | None, companions: tuple[tuple[str, ReviewInputs], ...],
                      plans: SharedPlans | None = None, own: DisclosurePlan | None = None) -> None:
    """audit.json beside an outside report (of ``own``, its plan, if the caller has it), over
    every outside report of the run; an unsafe run withholds the report (:class:`DisclosureWithheld`)."""
    from ..reviews.disclosure import DisclosureError, write_audit

    result = _run_audit(kind, inputs, analysis, key, companions, plans)
    own = own if own is not None else _own_plans(kind, inputs, analysis, key, companions, plans)[-1]
    try:
        write_audit(staging.folder / "audit.json", result, own, report=kind.name)
    except DisclosureError as exc:
        raise DisclosureWithheld(str(exc)) from None


def _run_audit(kind: ReviewKind, inputs: ReviewInputs, analysis: Analysis, key: bytes | None,
               companions: tuple[tuple[str, ReviewInputs], ...], plans: SharedPlans | None = None,
               *, wait: bool = True) -> AuditResult | None:
    """The disclosure audit of an outside report together with the run's other outside reports.

    The run's reports are audited together in one order (that of :data:`KINDS`), whichever
    report's finisher asks, so every report of the run gets the same audit, and a run that
    shares its plans makes that audit once (:meth:`SharedPlans.audit`). Without ``wait``, None
    if another process of the run is making it at that moment."""
    from ..reviews.disclosure import plan_for

    policy = _policy(kind, inputs)
    if not companions:
        return plan_for(analysis, policy).audit()  # (made once per plan)
    run = _in_run_order(((kind.name, inputs), *companions))
    scope = [f"{name} {i.start:%d/%m/%Y} to {i.end:%d/%m/%Y}" for name, i in run]

    def audit_together() -> AuditResult:
        run_plans = _run_plans(run, key, policy, plans, known=(kind.name, analysis), wait=wait)
        if run_plans is None:  # (another process is making one: leave the audit to the finishers)
            raise _Busy
        return run_plans[0].audit(*run_plans[1:], scope=scope)

    if plans is not None and not wait:
        with contextlib.suppress(_Busy):
            return plans.audit(scope, policy, audit_together, wait=False)
        return None

    return plans.audit(scope, policy, audit_together) if plans is not None else audit_together()


class _Busy(Exception):
    """Another process of the run holds what this one would wait for."""


def _in_run_order(reports: Iterable[tuple[str, ReviewInputs]]) -> list[tuple[str, ReviewInputs]]:
    """A run's reports in the order they are published (that of :data:`KINDS`)."""
    return sorted(reports, key=lambda report: list(KINDS).index(report[0]))


def _earlier(kind_name: str, companions: Iterable[tuple[str, ReviewInputs]]) -> list[tuple[str, ReviewInputs]]:
    """The run's outside reports published before ``kind_name``'s: its disclosure plan is built
    alongside theirs, so that nothing their figures and its own give away together is shown."""
    order = list(KINDS)
    return [c for c in _in_run_order(companions) if order.index(c[0]) < order.index(kind_name)]


def _run_plans(reports: Sequence[tuple[str, ReviewInputs]], key: bytes | None, policy: DisclosurePolicy,
               plans: SharedPlans | None = None, *, known: tuple[str, Analysis] | None = None,
               wait: bool = True) -> list[DisclosurePlan] | None:
    """The disclosure plans of a run's outside ``reports`` (in the run's order), each built
    alongside those before it (:func:`~escalation_analysis.reviews.plans_alongside`, as a
    report's notebook builds them), through the run's shared ``plans`` when it has them.
    ``known``: a report's analysis at hand. Without ``wait``: None while another process is
    making one."""
    from ..reviews.disclosure import plan_for

    made: list[DisclosurePlan] = []
    for name, inputs in reports:
        analysis = known[1] if known is not None and known[0] == name else None
        if plans is None:
            plan = plan_for(analysis if analysis is not None else inputs.analyse(key), policy, tuple(made))
        else:
            plan = plans.plan(inputs, key, policy, analysis, alongside=tuple(made), wait=wait)
            if plan is None:
                return None
        made.append(plan)
    return made


def _own_plans(kind: ReviewKind, inputs: ReviewInputs, analysis: Analysis, key: bytes | None,
               companions: Iterable[tuple[str, ReviewInputs]], plans: SharedPlans | None = None) -> list[DisclosurePlan]:
    """The plans of the run's outside reports published before this one, then this report's own."""
    reports = [*_earlier(kind.name, companions), (kind.name, inputs)]
    return _run_plans(reports, key, _policy(kind, inputs), plans, known=(kind.name, analysis))  # type: ignore[return-value]


@dataclass(frozen=True)
class SharedPlans:
    """The disclosure plans of one run's outside reports, and their joint audit, each made once
    for the whole run.

    Every outside report's finisher needs the plan of each outside report of the run (its own
    for the summary, all of them for the audit), and the finishers run in different worker
    processes: each used to build every plan again (about a second of CPU each). Here the first
    finisher to need a plan builds it and leaves it in ``folder``; the others wait for it, then
    read it. A plan is a function of the export, period and policy, so every report gets the
    plan it would have built; and it holds only what is published (no true count, no row).
    The audit of all the run's plans together is shared the same way (:meth:`audit`).

    ``folder`` is private to the run (0700, made and removed by :func:`run_demo`); only the
    run's processes write into it, one file at a time under a lock, each put in place whole.
    (An audit, made under its lock, may take plans under theirs; a plan never waits for an
    audit, so no two processes wait for each other.)
    """

    folder: Path

    def plan(self, inputs: ReviewInputs, key: bytes | None, policy: DisclosurePolicy,
             analysis: Analysis | None = None, *, alongside: tuple[DisclosurePlan, ...] = (),
             wait: bool = True) -> DisclosurePlan | None:
        """The run's plan of ``inputs``' period under ``policy`` (built ``alongside`` the plans of
        the run's reports before it); with ``analysis`` (of that period) it is also the plan
        :func:`~escalation_analysis.reviews.disclosure.plan_for` gives for it in this process.
        Without ``wait``: None while another process is making it."""
        from ..reviews.disclosure import adopt_plan, plan_for

        name = f"{inputs.start:%Y%m%d}-{inputs.end:%Y%m%d}-{policy.name}"
        if alongside:
            name += "-" + hashlib.sha256(repr([p.identity() for p in alongside]).encode("utf-8")).hexdigest()[:16]
        plan, read = self._made_once(
            name, lambda: plan_for(analysis if analysis is not None else inputs.analyse(key), policy, alongside),
            wait=wait)
        if read and analysis is not None:
            adopt_plan(analysis, plan)
        return plan

    def audit(self, scope: list[str], policy: DisclosurePolicy, make: Callable[[], AuditResult], *,
              wait: bool = True) -> AuditResult | None:
        """The run's disclosure audit of the reports named in ``scope`` (made by ``make`` once
        for the run): about a second of CPU that each outside report's finisher used to spend.
        Without ``wait``: None while another process is making it."""
        digest = hashlib.sha256("\n".join(scope).encode("utf-8")).hexdigest()[:16]
        return self._made_once(f"audit-{digest}-{policy.name}", make, wait=wait)[0]

    def _made_once(self, name: str, make: Callable[[], Any], *, wait: bool = True) -> tuple[Any, bool]:
        """What ``make`` makes, made by the first process of the run to ask and read by the
        others from ``folder``; and whether it was read. Without ``wait``: (None, False) while
        another process is making it."""
        import pickle

        path = self.folder / f"{name}.pickle"
        with _waiting_lock(path.with_suffix(".lock"), wait=wait) as held:
            if not held:
                return None, False
            if path.is_file():
                return pickle.loads(path.read_bytes()), True  # written by this run's own processes
            made = make()
            part = path.with_suffix(".part")
            part.write_bytes(pickle.dumps(made, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(part, path)  # whole or not at all: a reader never sees half of it
            return made, False


@contextlib.contextmanager
def _waiting_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created if needed), waiting for another holder
    (without ``wait``, give False at once instead); gives True once held.

    It waits by trying again every 20 ms, so Ctrl-C (or the run's end) stops the wait at once;
    the operating system lets go of a lock whose process ended.
    """
    from .outputs import _lock

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                _lock(fd)
                break
            except BlockingIOError:
                if not wait:
                    yield False
                    return
                time.sleep(0.02)
        yield True
    finally:
        os.close(fd)


@dataclass(frozen=True)
class FinishReview:
    """A report's summary.json, tables and privacy gate, run where the report was made.

    Given to :func:`~escalation_analysis.publish.one_report.run_report` (or a job of
    :func:`~escalation_analysis.publish.many_reports.run_reports`) as ``before_publish``: it analyses
    the inputs (unless ``analysis`` was made already), with the kind's audience rules (never the
    notebook's), writes the summary into the staging folder and runs the gate on every file the
    run wrote; a leak withholds the whole report.

    While the reports' kernels are forked from a template (:mod:`~escalation_analysis.publish.kernels`),
    the template analyses the report's period and makes an outside report's disclosure plan
    before it forks the kernel (:meth:`kernel_needs`), makes the run's joint disclosure audit
    while no kernel waits (:meth:`warm_later`), and the finisher runs in a fork of the template
    (a process that has never run a notebook's code), which inherits them: nothing is read or
    analysed twice. Elsewhere it runs in the report's own process.
    """

    kind: str
    inputs: ReviewInputs
    key: bytes
    parameters: dict[str, Any]
    analysis: Analysis | None = None
    companions: tuple[tuple[str, ReviewInputs], ...] = ()
    """The run's other outside reports (kind, inputs): the disclosure audit covers them all together."""
    plans: SharedPlans | None = None
    """Where the run's reports share their disclosure plans (each built once for the run), if they do."""

    def __call__(self, result: ReportResult, staging: Staging) -> None:
        if self.analysis is None:  # in a fork of the kernel template, which has the analysis already
            from .kernels import NOT_CALLED, call_in_template, warm_kernel_address

            if call_in_template(warm_kernel_address(), self.finish, staging) is not NOT_CALLED:
                return
        self.finish(staging)

    def finish(self, staging: Staging) -> None:
        """Write the summary (and audit) into ``staging`` and run the gate, here."""
        analysis = self.analysis if self.analysis is not None else self.inputs.analyse(self.key)
        _finish(KINDS[self.kind], self.inputs, analysis, staging, self.parameters, self.key, self.companions,
                self.plans)

    def kernel_needs(self) -> list[Callable[[], None]]:
        """What this report's kernel needs, for the kernel template to make before it forks it:
        the analysis of the report's period, then an outside report's disclosure plan. The
        kernel and this finisher (forked from the template too) inherit them."""
        needs = [self.analyse_period]
        if KINDS[self.kind].audience != "internal":
            needs.append(self.make_plan)
        return needs

    def analyse_period(self) -> None:
        """Analyse the report's period (in the kernel template; see :meth:`kernel_needs`)."""
        self.inputs.analyse(self.key)

    def make_plan(self) -> None:
        """An outside report's disclosure plan, with those of the run's outside reports before it
        (in the kernel template; see :meth:`kernel_needs`)."""
        _own_plans(KINDS[self.kind], self.inputs, self.inputs.analyse(self.key), self.key, self.companions)

    def warm_later(self) -> None:
        """In the kernel template, while no kernel waits: what this finisher would otherwise
        make before it can publish. An outside report's disclosure audit (of the run's outside
        reports together: about a second), left to the finisher if one of the run's processes
        is making it already (the template never waits for a report's process); and, for a
        report made alone, its summary (a quarter of a second), while its kernel runs."""
        kind = KINDS[self.kind]
        analysis = self.inputs.analyse(self.key)
        if kind.audience != "internal" and not self.companions:  # (kept with the plan, which the finisher inherits)
            _run_audit(kind, self.inputs, analysis, self.key, ())
        elif kind.audience != "internal" and self.plans is not None:
            _run_audit(kind, self.inputs, analysis, self.key, self.companions, self.plans, wait=False)
        if self.plans is None:  # (with the run's shared plans, the summary takes the run's plan: the finisher's)
            _summary(kind, self.inputs, analysis, self.parameters, ahead=True)


#: The order the demo's reports start in, longest first (seconds each, with its PDF and
#: finisher, measured on two cores: contract monitoring 9, near-miss review 7.5, pathway review
#: 4, supervision 3). With two at a time the one that ends first takes the pathway review, so
#: each worker makes about 12 s of reports, where in the order of KINDS the contract-monitoring
#: worker also made the pathway review (13 s against 10.5 s).
DEMO_START = ("contract-monitoring", "near-miss-review", "pathway-review", "supervision")


def run_demo(sample_dir: str | Path, out_dir: str | Path, *, pdf: bool = True, max_workers: int = 2,
             progress: bool = True, disclosure: str = "") -> list[ReportResult]:
    """All four reports from the sample data, two at a time, into ``out_dir/<kind>/``.

    Each report's summary and privacy gate run in the process that made it, right after it;
    the outside reports' disclosure plans are built once for the run (:class:`SharedPlans`).
    When a report cannot be made, :class:`~escalation_analysis.publish.report_errors.ReportsFailedError` says
    which; when only the summaries or gates failed, the first such error (in the order of
    :data:`KINDS`) is raised as it is, e.g. the gate's :class:`~escalation_analysis.publish.gate.PrivacyError`.
    """
    from ..ingest.pseudonym_key import load_key

    base = ReviewInputs(InputFiles.in_folder(sample_dir), dt.date(2025, 10, 1), dt.date(2025, 12, 31))
    periods = {"pathway-review": (dt.date(2025, 4, 1), dt.date(2026, 3, 31))}
    out = check_out_dir(out_dir, base.input_files().values())
    key = load_key()
    runs = []
    for name, kind in KINDS.items():
        start, end = periods.get(name, (base.start, base.end))
        options = {"team": "Riverside CMHT"} if name == "supervision" else {"disclosure": disclosure}
        runs.append((name, kind, ReviewInputs(base.files, start, end, options)))
    outside = [(name, inputs) for name, kind, inputs in runs if kind.audience != "internal"]
    planned = [(name, kind, inputs, _notebook_parameters(kind, inputs, key, _earlier(name, outside)))
               for name, kind, inputs in runs]
    out.mkdir(parents=True, exist_ok=True)
    plans = SharedPlans(Path(tempfile.mkdtemp(prefix="escalation-plans-")))  # private to this user (0700)
    jobs = [ReportJob(notebooks_dir() / kind.notebook, out / name, parameters, pdf=pdf, title=kind.title,
                      **_publishing(kind, inputs, FinishReview(
                          name, inputs, key, parameters, companions=tuple(o for o in outside if o[0] != name),
                          plans=plans)))
            for name, kind, inputs, parameters in planned]
    try:
        with folder_lock(out):  # one demo at a time into this folder
            return run_reports(jobs, max_workers=max_workers, progress=progress,
                               start_order=sorted(range(len(jobs)), key=lambda i: DEMO_START.index(planned[i][0])))
    except ReportsFailedError as exc:
        failed = [o for o in exc.results if isinstance(o, Exception)]
        if failed and not any(isinstance(o, ReportError) for o in failed):
            raise failed[0] from None
        raise
    finally:
        shutil.rmtree(plans.folder, ignore_errors=True)


def write_summary(
    inputs: ReviewInputs, out: str | Path, audience: str = "internal", *, key: bytes | None = None
) -> tuple[Analysis, dict[str, Any], list[Path]]:
    """Write ``out`` (summary.json) and ``tables/*.csv`` beside it, through staging and the gate.

    Refused before any work: ``out`` is one of the inputs, or its ``tables`` folder is or holds
    one. Returns the analysis, the summary's data and the files published.
    """
    from ..ingest.pseudonym_key import load_key
    from ..reviews.summary import build_summary
    from .gate import PrivacyGate

    out = Path(out)
    files = inputs.files.given_files()
    check_out_dir(out.parent / "tables", files)
    if any(Path(p).resolve() == out.resolve() for p in files):
        raise OutputFolderError(f"--out '{out}' is one of the inputs; give the summary a name of its own, such as summary.json.")
    key = key if key is not None else load_key()
    analysis = inputs.analyse(key)
    # The gate gathers the export's identifiers (Arrow work that lets go of the GIL) while the
    # summary is computed: on two cores its time is hidden behind the summary's.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gate") as pool:
        building = pool.submit(PrivacyGate.build, analysis.identifiers, audience, machine_folders(*files, out.parent))
        summary = build_summary(analysis, audience=audience, policy=inputs.options.get("disclosure") or None)
        if audience != "internal":  # an outside summary is published only if its own audit passes
            from ..reviews.disclosure import plan_for, policy_for

            plan_for(analysis, policy_for(audience, inputs.options.get("disclosure") or None)).audit().raise_if_unsafe(
                "summary")
        gate = building.result()
    with staged_outputs(out.parent, private=audience == "internal", report=f"summary:{out.name}",
                        expected=[out.name]) as staging:
        summary.write(staging.folder / "summary.json")
        staging.renames["summary.json"] = out.name
        gate.check(staging.folder, staging.manifest(), what="summary")
        published = staging.publish()
    return analysis, summary.data, sorted(published.values(), key=lambda p: (p.parent != out.parent, p))
