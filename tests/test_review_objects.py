"""Review objects: one per report kind, built for an audience, safe by construction.

Facts a user relies on:
* every report kind builds from the sample, and its notebook shows exactly the review's sections;
* an external or partner review holds no row-level data: no episode rows, identifiers,
  pseudonyms or free text, in any table or chart input;
* a report on partial data (optional fields missing, one team, an empty period, no logs)
  still builds, each section saying in a sentence what it cannot show;
* the audience comes from the kind: an external report cannot be built with internal rules.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escalation_analysis import reviews
from escalation_analysis.measures.analysis import Analysis, analyse
from escalation_analysis.reviews.display import Html, table_html
from escalation_analysis.reviews.review import Chart, Review, Table, Text

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
NOTEBOOKS = ROOT / "notebooks"

#: Columns that only row-level data has: if a table holds one, it holds episodes.
ROW_LEVEL_COLUMNS = {"incident_id", "risk_identified_at", "escalated_at", "service_user_id", "staff_id",
                     "description", "Reference", "delay_minutes"}

PERIODS = {"pathway-review": ("2025-04-01", "2026-03-31")}


def sample_review(kind: str, **options) -> Review:
    start, end = PERIODS.get(kind, ("2025-10-01", "2025-12-31"))
    if kind == "supervision":
        options.setdefault("team", "Riverside CMHT")
    return reviews.open(kind, SAMPLE, start, end, **options)


def frames_in(value, depth: int = 0):
    """Every DataFrame or Series reachable from ``value`` (frames, result objects, containers).

    The kernel probe below runs this same function in a notebook's kernel (its source is sent).
    """
    import pandas

    if depth > 4:
        return
    if isinstance(value, (pandas.DataFrame, pandas.Series)):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from frames_in(item, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from frames_in(item, depth + 1)
    elif hasattr(value, "__dataclass_fields__") or hasattr(value, "__dict__"):
        for item in vars(value).values():
            yield from frames_in(item, depth + 1)


def column_names(frame) -> set[str]:
    """A frame's column names, or a Series' name."""
    return {str(c) for c in (frame.columns if frame.ndim == 2 else [frame.name])}


def held_objects(review: Review):
    """Every object a review's parts hold: table frames, chart inputs and options."""
    for _, part in review.parts():
        if isinstance(part, Table):
            yield part.frame
        elif isinstance(part, Chart):
            yield from part.inputs
            yield from part.options.values()


# ---------------------------------------------------------------------------------------------
# The four kinds on the sample


@pytest.mark.parametrize("kind", list(reviews.KINDS))
def test_every_kind_builds_with_its_own_audience(sample_reviews, kind):
    review = sample_reviews[kind]
    assert review.kind == kind and review.audience == reviews.KINDS[kind].audience
    assert review.summary().data["audience"] == review.audience
    assert review.summary().data["report"] == kind
    assert all(review.section(name) for name in review.sections), "an empty section shows nothing at all"


@pytest.mark.parametrize("kind", list(reviews.KINDS))
def test_the_notebook_shows_exactly_the_reviews_sections(sample_reviews, kind):
    """Every section is shown once, in the review's order, and nothing else is computed in cells."""
    notebook = nbformat.read(NOTEBOOKS / reviews.KINDS[kind].notebook, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
    shown = []
    for cell in code:
        lines = [line for line in cell.source.splitlines() if line.strip()]
        assert len(lines) == 1, f"a code cell of {kind} is not a one-line call: {cell.source!r}"
        call = ast.parse(lines[0]).body[0]
        if isinstance(call, ast.Expr) and isinstance(call.value, ast.Call) and ast.unparse(call.value.func) == "review.show":
            shown.append(call.value.args[0].value)
    assert shown == list(sample_reviews[kind].sections)


def test_a_review_names_its_sections_when_asked_for_one_it_has_not(sample_reviews):
    review = sample_reviews["supervision"]
    with pytest.raises(KeyError, match="its sections are front_sheet, who, timeliness"):
        review.section("kpis")


def test_the_partners_response_time_chart_says_withheld_only_of_a_withheld_figure(sample_reviews):
    """An agency nobody contacted (or that never responded) has no median to withhold: the
    table lists it with its 0 and the chart leaves it out, instead of calling it withheld."""
    parts = sample_reviews["pathway-review"].section("agencies")
    listed = next(p.frame for p in parts if isinstance(p, Table) and p.caption == "Response by receiving agency")
    silent = set(listed.loc[listed["responses_recorded"].astype(str) == "0", "agency"])
    assert silent, "the sample has an agency with no response recorded"
    chart = next(p for p in parts if isinstance(p, Chart))
    assert not silent & set(chart.inputs[0]["agency"])
    assert not any("withheld" in str(t.text) for t in chart.figure().data if t.name == "Withheld")


@pytest.mark.parametrize("kind", ["contract-monitoring", "pathway-review"])
def test_an_outside_review_holds_no_row_level_data(sample_reviews, kind):
    review = sample_reviews[kind]
    for held in held_objects(review):
        assert not isinstance(held, Analysis)
        for frame in frames_in(held):
            leaked = ROW_LEVEL_COLUMNS & column_names(frame)
            assert not leaked, f"{kind} holds a frame with row-level columns {leaked}"
    assert not any(isinstance(v, Analysis) for v in vars(review).values())


@pytest.mark.parametrize("kind", ["contract-monitoring", "pathway-review"])
def test_an_outside_report_cannot_be_built_with_internal_rules(kind):
    with pytest.raises(ValueError, match="cannot be built with internal rules"):
        sample_review(kind, audience="internal")


def test_an_internal_report_for_outside_readers_is_refused_where_it_holds_free_text():
    with pytest.raises(ValueError, match="internal only"):
        sample_review("near-miss-review", audience="external")


@pytest.mark.parametrize("kind", list(reviews.KINDS))
def test_the_runners_summary_is_the_reviews_summary(sample_quarter, kind, tmp_path):
    """The summary.json and tables the runner writes beside a report (``reviews.summarise``, which
    builds no pages) are, file for file, those of the review the notebook shows."""
    options = {"team": "Riverside CMHT"} if kind == "supervision" else {}
    reviews.build(kind, sample_quarter, **options).summary().write(tmp_path / "review" / "summary.json")
    reviews.summarise(kind, sample_quarter, **options).write(tmp_path / "runner" / "summary.json")
    files = sorted(p.relative_to(tmp_path / "review") for p in (tmp_path / "review").rglob("*") if p.is_file())
    assert Path("summary.json") in files and len(files) > 10
    assert files == sorted(p.relative_to(tmp_path / "runner") for p in (tmp_path / "runner").rglob("*") if p.is_file())
    assert all((tmp_path / "review" / f).read_bytes() == (tmp_path / "runner" / f).read_bytes() for f in files)
    assert json.loads((tmp_path / "runner" / "summary.json").read_text())["period"] == {
        "start": "2025-10-01", "end": "2025-12-31"}


# ---------------------------------------------------------------------------------------------
# Partial data: every kind builds, and says what it cannot show

OPTIONAL = ["escalated_at", "responded_at", "team", "outcome", "harm", "lone_worker", "escalated_to", "barriers",
            "information_shared", "approvals_before_action", "service_user_id", "staff_id", "description"]
TRIGGERS = ["imminent_risk", "loss_of_contact", "deterioration", "other"]


def write_export(folder: Path, rows: pd.DataFrame, fields: list[str]) -> tuple[Path, Path]:
    """An export whose columns are canonical names, and its mapping profile."""
    export = folder / "export.csv"
    rows[["incident_id", "risk_identified_at", "trigger", *fields]].to_csv(export, index=False)
    mapping = {"source": "generated", "dayfirst": False, "timezone": "Europe/London",
               "columns": {c: c for c in ["incident_id", "risk_identified_at", "trigger", *fields]},
               "lists": {c: ";" for c in ("escalated_to", "barriers", "information_shared") if c in fields}}
    sample = yaml.safe_load((SAMPLE / "mapping.yaml").read_text(encoding="utf-8"))
    mapping.update({log: sample[log] for log in ("step_log", "learning_actions", "training_log")})
    (folder / "mapping.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")
    return export, folder / "mapping.yaml"


@st.composite
def exports(draw):
    """Episodes around a quarter: 0 to 30 inside it, a few before it, one or two teams."""
    inside = draw(st.integers(0, 30))
    before = draw(st.integers(1, 6))
    teams = draw(st.sampled_from([["North"], ["North", "South"]]))
    rows = []
    for i in range(inside + before):
        day = dt.datetime(2025, 10, 1, 8) + dt.timedelta(hours=draw(st.integers(0, 24 * 91 - 12)))
        if i >= inside:
            day -= dt.timedelta(days=120)
        delay = draw(st.one_of(st.none(), st.integers(0, 600)))
        rows.append({
            "incident_id": f"R{i:04d}", "risk_identified_at": f"{day:%Y-%m-%d %H:%M}",
            "trigger": draw(st.sampled_from(TRIGGERS)),
            "escalated_at": "" if delay is None else f"{day + dt.timedelta(minutes=delay):%Y-%m-%d %H:%M}",
            "responded_at": "" if delay is None else f"{day + dt.timedelta(minutes=delay + 30):%Y-%m-%d %H:%M}",
            "team": draw(st.sampled_from(teams)), "outcome": draw(st.sampled_from(["near_miss", "incident"])),
            "harm": "none", "lone_worker": draw(st.sampled_from(["true", "false"])),
            "escalated_to": draw(st.sampled_from(["crisis_team", "duty_senior;crisis_team", ""])),
            "barriers": draw(st.sampled_from(["", "no signal", "no signal;waiting for approval"])),
            "information_shared": "", "approvals_before_action": str(draw(st.integers(0, 3))),
            "service_user_id": f"P{draw(st.integers(1, 5))}", "staff_id": f"S{draw(st.integers(1, 3))}",
            "description": "text",
        })
    fields = draw(st.lists(st.sampled_from(OPTIONAL), unique=True).map(lambda drop: [f for f in OPTIONAL if f not in drop]))
    logs = draw(st.booleans())
    return pd.DataFrame(rows), fields, logs, teams


def render(review: Review) -> None:
    """Everything a notebook would put on the page: tables to HTML, charts to figures."""
    for _, part in review.parts():
        if isinstance(part, Table):
            table_html(part.frame, caption=part.caption)
        elif isinstance(part, Chart):
            part.figure().to_json()
        elif isinstance(part, Html):  # the front sheet
            assert part.markup.startswith('<section class="ea-front"')
        else:
            assert isinstance(part, Text) and part.markdown


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(generated=exports())
def test_every_review_builds_on_partial_data(tmp_path_factory, generated):
    rows, fields, logs, teams = generated
    folder = tmp_path_factory.mktemp("partial")
    export, mapping = write_export(folder, rows, fields)
    analysis = analyse(export, mapping, SAMPLE / "pathway.yaml", "2025-10-01", "2025-12-31",
                       steps=SAMPLE / "steps.csv" if logs else None, actions=SAMPLE / "learning_actions.csv" if logs else None,
                       training=SAMPLE / "training.csv" if logs else None, require_episodes=False)
    for kind in reviews.KINDS:
        options = {"team": teams[0] if "team" in fields else ""} if kind == "supervision" else {}
        render(reviews.build(kind, analysis, **options))


def test_an_export_without_escalation_times_gets_every_review(tmp_path):
    """No escalation column: nothing is within target, so no team can be compared for case mix."""
    rows = pd.DataFrame([{"incident_id": f"R{i}", "risk_identified_at": f"2025-10-{1 + i:02d} {9 + i % 12}:00",
                          "trigger": "imminent_risk", "team": "North" if i % 2 else "South"} for i in range(24)])
    export, mapping = write_export(tmp_path, rows, ["team"])
    analysis = analyse(export, mapping, SAMPLE / "pathway.yaml", "2025-10-01", "2025-12-31", require_episodes=False)
    for kind in reviews.KINDS:
        render(reviews.build(kind, analysis, **({"team": "North"} if kind == "supervision" else {})))
    words = " ".join(p.markdown for name, p in reviews.build("near-miss-review", analysis).parts()
                     if name == "teams" and isinstance(p, Text))
    assert "no team can be compared for its case mix" in words


def test_an_empty_period_says_so_in_every_report(tmp_path):
    rows = pd.DataFrame([{"incident_id": "R1", "risk_identified_at": "2025-06-01 10:00", "trigger": "imminent_risk"}])
    export, mapping = write_export(tmp_path, rows, [])
    analysis = analyse(export, mapping, SAMPLE / "pathway.yaml", "2025-10-01", "2025-12-31", require_episodes=False)
    for kind in reviews.KINDS:
        review = reviews.build(kind, analysis)
        render(review)
        words = " ".join(p.markdown for _, p in review.parts() if isinstance(p, Text))
        assert "No escalation episodes fall" in words or "0 escalation episodes" in words


# ---------------------------------------------------------------------------------------------
# The prepared-episodes contract and the definitions register


def test_prepared_episodes_keep_their_contract(sample):
    """Every measure reads band, delay and within target; the contract ties them together."""
    from pandera.errors import SchemaErrors

    from escalation_analysis.measures.prepared import prepared_schema, validate_prepared

    prepared_schema(sample.pathway.timezone).validate(sample.all_episodes)  # the full contract holds
    broken = sample.all_episodes.copy()
    late = broken.index[~broken["within_target"] & broken["escalated"]][0]
    broken.loc[late, "within_target"] = True  # "within target" although escalated after the target
    with pytest.raises(SchemaErrors, match="within target means escalated no later than the target"):
        validate_prepared(broken, sample.pathway.timezone)
    broken = sample.all_episodes.copy()
    broken.loc[broken.index[0], "delay_minutes"] = -5.0
    with pytest.raises(SchemaErrors):
        validate_prepared(broken, sample.pathway.timezone)
    for column, wrong in (("month", "2025-1"), ("quarter", "2025/26 Q5")):
        broken = sample.all_episodes.copy()
        broken.loc[broken.index[[3, 7]], column] = wrong  # checked once per distinct value, reported per row
        with pytest.raises(SchemaErrors) as failed:
            validate_prepared(broken, sample.pathway.timezone)
        cases = failed.value.failure_cases
        assert sorted(cases.loc[cases["column"] == column, "index"]) == sorted(broken.index[[3, 7]]), column


def test_prepared_checks_without_pandera_pass_what_pandera_passes(sample):
    """validate_prepared checks the rules in numpy and asks pandera only when one fails: each
    broken rule goes to pandera, which raises."""
    from pandera.errors import SchemaErrors

    from escalation_analysis.measures.prepared import prepared_hold, prepared_schema, validate_prepared

    prepared, timezone = sample.all_episodes, sample.pathway.timezone
    assert prepared_hold(prepared)
    prepared_schema(timezone, with_loaded=False).validate(prepared, lazy=True)
    escalated = prepared.index[prepared["escalated"]][0]
    not_escalated = prepared.index[~prepared["escalated"]][0]

    def at(position, column, value):
        frame = prepared.copy()
        frame.loc[position, column] = value
        return frame

    cases = {
        "missing band": at(0, "band", None),
        "missing sub-band": at(0, "ooh_sub_band", None),
        "target 0": at(0, "target_minutes", 0.0),
        "target missing": at(0, "target_minutes", float("nan")),
        "negative delay": at(escalated, "delay_minutes", -1.0),
        "delay without an escalation": at(not_escalated, "delay_minutes", 5.0),
        "escalation without a delay": at(escalated, "delay_minutes", float("nan")),
        "within target, not escalated": at(not_escalated, "within_target", True),
        "band and sub-band disagree": at(prepared.index[prepared["band"] == "in_hours"][0], "band", "out_of_hours"),
        "holiday name on a weekday": at(prepared.index[prepared["ooh_sub_band"] != "bank_holiday"][0],
                                        "bank_holiday", "Christmas Day"),
        "bad month": at(0, "month", "2025-1"),
        "missing quarter": at(0, "quarter", None),
        "unknown label": at(0, "lone_worker_label", "alone"),
        "another dtype": prepared.astype({"target_minutes": "float32"}),
        "a column missing": prepared.drop(columns="month"),
        "no escalation time": prepared.drop(columns="escalated_at"),
    }
    for name, frame in cases.items():
        assert not prepared_hold(frame), name
        with pytest.raises(SchemaErrors):
            validate_prepared(frame, timezone)


def test_every_definition_names_the_function_that_computes_it():
    from escalation_analysis.reviews.definitions import REGISTER

    for definition in REGISTER.values():
        assert definition.computed_by, f"'{definition.name}' does not say what computes it"
        assert callable(definition.function()) or isinstance(definition.function(), property), definition.name


def test_kpi_labels_are_the_registers_words():
    from escalation_analysis.reviews.definitions import REGISTER
    from escalation_analysis.reviews.kpis import KPI_LABELS

    assert all(label == REGISTER[key].label for key, label in KPI_LABELS.items())


# ---------------------------------------------------------------------------------------------
# In the kernel: what an outside report's notebook holds after it has run

NAMESPACE_PROBE = inspect.getsource(frames_in) + inspect.getsource(column_names) + '''
import json as _json
from escalation_analysis.measures.analysis import Analysis as _Analysis

_report = {"globals": {}, "analyses": 0, "row_columns": []}
for _name, _value in list(globals().items()):
    if _name.startswith("_") or _name in ("In", "Out", "get_ipython", "exit", "quit", "frames_in", "column_names"):
        continue
    _report["globals"][_name] = type(_value).__name__
    _report["analyses"] += isinstance(_value, _Analysis)
    for _frame in frames_in(_value):
        _report["row_columns"] += sorted(column_names(_frame) & set(ROW_LEVEL))
print(_json.dumps(_report))
'''


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["contract-monitoring", "pathway-review"])
def test_an_outside_notebook_holds_no_rows_after_it_has_run(kind, tmp_path):
    """Inspect the kernel's namespace: only the parameters and the review, and no episode rows in it."""
    import papermill as pm

    start, end = PERIODS.get(kind, ("2025-10-01", "2025-12-31"))
    notebook = nbformat.read(NOTEBOOKS / reviews.KINDS[kind].notebook, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(f"ROW_LEVEL = {sorted(ROW_LEVEL_COLUMNS)!r}\n" + NAMESPACE_PROBE))
    source = tmp_path / "probe.ipynb"
    nbformat.write(notebook, source)
    parameters = {"export": str(SAMPLE / "incidents.csv"), "mapping": str(SAMPLE / "mapping.yaml"),
                  "pathway": str(SAMPLE / "pathway.yaml"), "steps": str(SAMPLE / "steps.csv"),
                  "actions": str(SAMPLE / "learning_actions.csv"), "training": str(SAMPLE / "training.csv"),
                  "start": start, "end": end, "audience": reviews.KINDS[kind].audience}
    executed = pm.execute_notebook(str(source), str(tmp_path / "out.ipynb"), parameters=parameters,
                                   cwd=str(NOTEBOOKS), progress_bar=False, kernel_name="python3")
    output = executed.cells[-1].outputs[-1]["text"]
    report = json.loads(output.strip().splitlines()[-1])
    assert report["analyses"] == 0
    assert report["row_columns"] == []
    assert not {"DataFrame", "Series", "Analysis"} & set(report["globals"].values()), report["globals"]
    assert report["globals"]["review"] == "Review"


@pytest.mark.slow
def test_all_four_reports_publish_from_an_export_with_only_the_required_fields(tmp_path):
    """Everything beyond incident reference, date-time identified and trigger is optional."""
    from escalation_analysis.ingest.inputs import InputFiles
    from escalation_analysis.publish.review_runs import ReviewInputs, run_review

    full = pd.read_csv(SAMPLE / "incidents.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    sample_profile = yaml.safe_load((SAMPLE / "mapping.yaml").read_text(encoding="utf-8"))
    required = {f: sample_profile["columns"][f] for f in ("incident_id", "risk_identified_at", "trigger")}
    columns = [c for value in required.values() for c in (value if isinstance(value, list) else [value])]
    full[columns].to_csv(tmp_path / "bare.csv", index=False)
    profile = {k: v for k, v in sample_profile.items() if k not in ("columns", "values", "lists", "nhs_number")}
    profile.update(columns=required, values={"trigger": sample_profile["values"]["trigger"]})
    (tmp_path / "bare.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    for kind in reviews.KINDS:
        start, end = (dt.date.fromisoformat(d) for d in PERIODS.get(kind, ("2025-10-01", "2025-12-31")))
        inputs = ReviewInputs(InputFiles(tmp_path / "bare.csv", tmp_path / "bare.yaml", SAMPLE / "pathway.yaml"), start, end)
        run_review(kind, inputs, tmp_path / "out" / kind, pdf=False)
        page = (tmp_path / "out" / kind / "report.html").read_text(encoding="utf-8")
        page = re.sub(r"<script.*?</script>", "", page, flags=re.S)  # plotly.js itself names errors
        assert "Traceback" not in page and not re.search(r"\b[A-Z]\w*Error\b", page), kind


def test_the_contract_monitoring_appendix_defines_each_measure_once(sample_reviews):
    [table] = [part.frame for name, part in sample_reviews["contract-monitoring"].parts()
               if name == "definitions" and isinstance(part, Table)]
    assert table["Measure"].is_unique
    assert "-" not in set(table["Out of"])  # a reader sees an en dash where there is no denominator
