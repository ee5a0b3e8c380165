"""Tests for the report runner (escalation_analysis.publish: one_report, many_reports, parameters,
html_export, pdf_printing, papermill_engine) and the notebook helpers
(escalation_analysis.reviews.display).

Fast tests check parameter handling, escaping and the HTML checks without a kernel.
Tests marked ``slow`` execute the fixture notebooks in tests/notebooks/ and, where a
Chromium-family browser is installed, print and render the report.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import papermill
import pytest
from conftest import browser, needs_browser, needs_poppler

from escalation_analysis.publish import html_export, kernels, pdf_printing
from escalation_analysis.publish.html_export import check_report_html
from escalation_analysis.publish.many_reports import ReportJob, run_alone, run_reports
from escalation_analysis.publish.one_report import ReportResult, run_report
from escalation_analysis.publish.parameters import check_parameters
from escalation_analysis.publish.pdf_printing import find_browser
from escalation_analysis.publish.report_errors import (
    BrowserError,
    ReportError,
    ReportExecutionError,
    ReportOutputError,
    ReportParameterError,
    ReportsFailedError,
)
from escalation_analysis.reviews import display
from escalation_analysis.reviews.kinds import kind

NOTEBOOKS = Path(__file__).parent / "notebooks"
FIXTURE = NOTEBOOKS / "report_fixture.ipynb"
FAILING = NOTEBOOKS / "failing.ipynb"
MINIMAL = NOTEBOOKS / "minimal.ipynb"

FIXTURE_FIGURES = 2  # display.show calls in report_fixture.ipynb

# A value that would run os.system if it were pasted into the notebook unquoted.
INJECTION = "x'); import os; os.system('touch {marker}'); ('"
INJECTION_DQ = (
    'y"); import os; os.system("touch {marker}"); ("\n__import__("os").system("touch {marker}")\\'
)


BROWSER = browser()


def _no_network_prefix() -> list[str]:
    """`unshare -n` (a network namespace with no interfaces) when we may use it."""
    unshare = shutil.which("unshare")
    if (
        unshare
        and subprocess.run([unshare, "-n", "true"], check=False, capture_output=True).returncode
        == 0
    ):
        return [unshare, "-n"]
    return []


# ------------------------------------------------------------------------------------------
# Parameters (no kernel)
# ------------------------------------------------------------------------------------------


class TestCheckParameters:
    def test_accepts_declared_names_and_plain_literals(self):
        params = {"site": "North", "note": "", "n_points": 3, "output_dir": None}
        assert check_parameters(FIXTURE, params) == params

    def test_refuses_an_unknown_name_and_lists_the_accepted_ones(self):
        with pytest.raises(ReportParameterError) as err:
            check_parameters(FIXTURE, {"site": "North", "stie": "typo"})
        message = str(err.value)
        assert "'stie'" in message
        assert "n_points, note, output_dir, site" in message

    def test_refuses_parameters_for_a_notebook_without_a_parameters_cell(self):
        with pytest.raises(ReportParameterError, match="no cell tagged 'parameters'"):
            check_parameters(FAILING, {"site": "North"})

    @pytest.mark.parametrize(
        "value",
        [
            {1: "a"},
            {"a": [1]},
            {type("SneakyKey", (str,), {"__repr__": lambda self: "__import__('os')"})("k"): 1},
            {1, 2},
            object(),
            b"bytes",
            [[1, 2]],
            float("nan"),
            float("inf"),
            type("Sneaky", (str,), {"__repr__": lambda self: "__import__('os')"})("x"),
        ],
        ids=["dict-with-number-keys", "list-in-dict", "str-subclass-key", "set", "object", "bytes", "nested-list", "nan", "inf", "str-subclass"],
    )
    def test_refuses_values_that_are_not_plain_literals(self, value):
        with pytest.raises(ReportParameterError, match="'site'"):
            check_parameters(FIXTURE, {"site": value})

    def test_accepts_a_mapping_of_plain_literals_such_as_the_review_notebooks_inputs(self):
        params = {"site": {"export": "export.csv", "steps": None, "n": 3}}
        assert check_parameters(FIXTURE, params) == params

    def test_error_message_does_not_echo_the_value(self):
        with pytest.raises(ReportParameterError) as err:
            check_parameters(FIXTURE, {"site": {"patient": ["Jane Doe"]}})
        assert "Jane Doe" not in str(err.value)

    def test_converts_paths_dates_and_numpy_scalars_to_builtins(self):
        params = check_parameters(
            FIXTURE,
            {
                "site": Path("data") / "x.csv",
                "note": dt.date(2025, 4, 1),
                "n_points": np.int64(4),
                "output_dir": [np.float64(1.5), np.bool_(True), "a"],
            },
        )
        assert params == {
            "site": str(Path("data") / "x.csv"),
            "note": "2025-04-01",
            "n_points": 4,
            "output_dir": [1.5, True, "a"],
        }
        assert type(params["n_points"]) is int
        assert [type(v) for v in params["output_dir"]] == [float, bool, str]

    def test_missing_notebook_is_a_clear_error(self, tmp_path):
        with pytest.raises(ReportError, match="does not exist"):
            check_parameters(tmp_path / "nope.ipynb", {"a": 1})

    @pytest.mark.parametrize(
        "value",
        [
            INJECTION.format(marker="/tmp/m"),
            INJECTION_DQ.format(marker="/tmp/m"),
            "line1\nline2\r\n\x00\t\\",
            "café – ü 🚑 \u2028",
            '"""',
            "'''",
            "\\",
            ["a'); os.system('x", 'b"); os.system("y'],
        ],
    )
    def test_values_are_written_into_the_notebook_as_one_literal_assignment(self, value):
        # What papermill will inject, without running a kernel.
        nb = papermill.execute_notebook(
            str(FIXTURE),
            None,
            parameters=check_parameters(FIXTURE, {"site": value}),
            prepare_only=True,
            progress_bar=False,
            kernel_name="python3",
            language="python",
        )
        injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1
        tree = ast.parse(injected[0].source)
        assert len(tree.body) == 1
        statement = tree.body[0]
        assert isinstance(statement, ast.Assign)
        assert [t.id for t in statement.targets] == ["site"]
        assert ast.literal_eval(statement.value) == value


# ------------------------------------------------------------------------------------------
# display helpers (no kernel)
# ------------------------------------------------------------------------------------------


class TestTableHtml:
    def test_escapes_every_text_value(self):
        df = pd.DataFrame(
            {
                "<th>col": ["<script>alert(1)</script>", 'a "quoted" & <b>bold</b>'],
                "n": [1, 2],
            }
        )
        html = display.table_html(df, caption="<i>cap</i>")
        assert "<script>" not in html and "<b>" not in html and "<i>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&lt;th&gt;col" in html
        assert "&lt;i&gt;cap&lt;/i&gt;" in html
        assert "&quot;quoted&quot; &amp;" in html

    def test_uk_number_formatting_and_no_index_by_default(self):
        df = pd.DataFrame(
            {"count": [1234567, 2], "rate": [0.123, -0.04], "pct": [85.25, None]},
            index=["secret-index-a", "secret-index-b"],
        )
        html = display.table_html(df, decimals={"rate": 2}, percent=["pct"])
        assert "1,234,567" in html
        assert "0.12" in html and "-0.04" in html
        assert "85.2%" in html or "85.3%" in html
        assert display.MISSING in html
        assert "secret-index-a" not in html
        assert "secret-index-a" in display.table_html(df, index=True)

    def test_float_counts_with_gaps_show_without_decimals(self):
        html = display.table_html(pd.DataFrame({"n": [1200.0, None, 3.0]}))
        assert "1,200<" in html and "3<" in html and "1,200.0" not in html

    def test_dates_booleans_and_row_limit(self):
        df = pd.DataFrame(
            {
                "when": [pd.Timestamp("2025-04-01"), pd.Timestamp("2025-04-02 14:05")],
                "ok": [True, False],
            }
        )
        html = display.table_html(df, max_rows=1)
        assert "1 Apr 2025<" in html
        assert "Yes" in html and "No<" not in html
        assert "Showing the first 1 of 2 rows." in html

    def test_empty_table(self):
        html = display.table_html(pd.DataFrame({"a": []}), caption="Nothing")
        assert "No rows to show." in html


class TestMarkdownText:
    @pytest.mark.parametrize(
        "value",
        [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[click](javascript:alert(1))",
            "*not emphasis* _nor this_",
            "# not a heading",
            "$x$ not maths",
            "line one\n\n<script>alert(2)</script>",
        ],
    )
    def test_values_render_as_literal_text(self, value):
        from nbconvert.filters.markdown_mistune import markdown2html_mistune

        text = display.markdown_text("Team: {team}.", team=value)
        html = markdown2html_mistune(text)
        assert "<script" not in html and "<img" not in html and "<a " not in html
        assert "<em>" not in html and "<h1" not in html
        # the visible text is the value, with whitespace collapsed
        visible = re.sub(r"<[^>]+>", "", html)
        import html as html_lib

        assert html_lib.unescape(visible).strip() == f"Team: {' '.join(value.split())}."

    def test_numbers_and_format_specs(self):
        assert display.markdown_text("{n} and {r:.1f}%", n=12345, r=85.25) == "12,345 and 85\\.2%"
        assert display.markdown_text("{d}", d=dt.date(2025, 4, 1)) == "1 April 2025"

    def test_template_markdown_is_kept(self):
        assert display.markdown_text("**{n}** rows", n=3) == "**3** rows"


class TestCheckReportHtml:
    PLOTLYJS = "<script>/**\n* plotly.js v4.1.1\n*/ var Plotly = {};</script>"
    CHART = '<div id="f"></div><script>Plotly.newPlot("f", [], {})</script>'

    def test_counts_charts(self):
        assert check_report_html(self.PLOTLYJS + self.CHART + self.CHART) == 2

    def test_refuses_a_cdn_script(self):
        html = self.PLOTLYJS + '<script src="https://cdn.example.org/x.js"></script>'
        with pytest.raises(ReportOutputError, match="network"):
            check_report_html(html)

    def test_refuses_protocol_relative_and_remote_images(self):
        for tag in ('<script src="//cdn.example.org/x.js">', "<img src='http://x.org/a.png'>"):
            with pytest.raises(ReportOutputError, match="network"):
                check_report_html(tag)

    def test_refuses_plotlyjs_twice(self):
        with pytest.raises(ReportOutputError, match="2 times"):
            check_report_html(self.PLOTLYJS + self.CHART + self.PLOTLYJS)

    def test_refuses_charts_without_plotlyjs(self):
        with pytest.raises(ReportOutputError, match=r"no plotly\.js"):
            check_report_html(self.CHART)

    def test_refuses_visible_code(self):
        with pytest.raises(ReportOutputError, match="code cells"):
            check_report_html('<div class="jp-InputArea-editor">x = 1</div>')

    def test_allows_links_and_local_content(self):
        html = '<a href="https://www.nhs.uk">NHS</a><img src="data:image/png;base64,AAAA">'
        assert check_report_html(html) == 0


class TestFindBrowser:
    def test_override_that_does_not_exist_is_a_clear_error(self, monkeypatch, tmp_path):
        monkeypatch.setenv(pdf_printing.BROWSER_ENV_VAR, str(tmp_path / "no-such-browser"))
        with pytest.raises(BrowserError, match=pdf_printing.BROWSER_ENV_VAR):
            find_browser()

    def test_override_wins(self, monkeypatch, tmp_path):
        fake = tmp_path / "my-chrome"
        fake.write_text("#!/bin/sh\n")
        fake.chmod(0o755)
        monkeypatch.setenv(pdf_printing.BROWSER_ENV_VAR, str(fake))
        assert find_browser() == str(fake)

    def test_finds_a_browser_on_path(self, monkeypatch, tmp_path):
        fake = tmp_path / "msedge"
        fake.write_text("#!/bin/sh\n")
        fake.chmod(0o755)
        monkeypatch.delenv(pdf_printing.BROWSER_ENV_VAR, raising=False)
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.setattr(pdf_printing, "_known_browser_paths", list)
        assert find_browser() == str(fake)

    def test_none_when_there_is_no_browser(self, monkeypatch, tmp_path):
        monkeypatch.delenv(pdf_printing.BROWSER_ENV_VAR, raising=False)
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.setattr(pdf_printing, "_known_browser_paths", list)
        assert find_browser() is None


def test_reports_start_in_the_order_asked_and_results_come_in_job_order(tmp_path, monkeypatch):
    from escalation_analysis.publish import many_reports

    notebook = _notebook(tmp_path / "n.ipynb", "x = 1")
    jobs = [ReportJob(notebook, tmp_path / f"r{i}", pdf=False) for i in range(3)]
    started = []

    def run(job, *args, **kwargs):
        started.append(Path(job.out_dir).name)
        return ReportResult(notebook, Path(job.out_dir), notebook, notebook, None, None, 0)

    monkeypatch.setattr(many_reports, "_run_job_safely", run)
    results = run_reports(jobs, max_workers=1, progress=False, warm_kernels=False, start_order=[2, 0, 1])
    assert started == ["r2", "r0", "r1"]
    assert [r.out_dir.name for r in results] == ["r0", "r1", "r2"]
    with pytest.raises(ValueError, match="every job once"):
        run_reports(jobs, max_workers=1, progress=False, warm_kernels=False, start_order=[2, 2, 1])


def test_errors_survive_a_trip_between_processes():
    import pickle

    err = ReportExecutionError("failed", executed_notebook=Path("x.ipynb"), cell_number=3)
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == "failed" and copy.cell_number == 3


# ------------------------------------------------------------------------------------------
# Running notebooks (slow)
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    """Run report_fixture.ipynb once with hostile parameter values."""
    out = tmp_path_factory.mktemp("fixture-report")
    marker = out / "PWNED"
    params = {
        "site": INJECTION.format(marker=marker),
        "note": INJECTION_DQ.format(marker=marker),
        "n_points": 5,
    }
    result = run_report(FIXTURE, out / "out", params, pdf=True)
    html = result.html.read_text(encoding="utf-8")
    kernel = json.loads((result.out_dir / "kernel.json").read_text(encoding="utf-8"))
    return {"result": result, "html": html, "kernel": kernel, "marker": marker, "params": params}


@pytest.mark.slow
class TestFixtureReport:
    def test_writes_the_executed_notebook_and_html(self, fixture_run):
        result = fixture_run["result"]
        assert isinstance(result, ReportResult)
        assert result.executed_notebook.is_file()
        assert result.html.is_file() and result.html.name == "report.html"
        assert result.figures == FIXTURE_FIGURES

    def test_plotlyjs_is_embedded_exactly_once(self, fixture_run):
        html = fixture_run["html"]
        assert len(re.findall(r"\* plotly\.js \(cartesian - minified\) v\d", html)) == 1  # the partial bundle
        assert html.count('data-escalation="plotlyjs"') == 1

    def test_every_figure_is_an_offline_div(self, fixture_run):
        html = fixture_run["html"]
        assert html.count("Plotly.newPlot(") == FIXTURE_FIGURES
        assert html.count('class="plotly-graph-div"') == FIXTURE_FIGURES
        assert "application/vnd.plotly.v1+json" not in html
        assert not re.search(
            r"<script[^>]*\bsrc\s*=", html, re.IGNORECASE
        )  # no script files at all

    def test_nothing_is_loaded_from_the_network(self, fixture_run):
        html = fixture_run["html"]
        assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", html, re.IGNORECASE)
        assert not re.search(r"<link[^>]+href=[\"']?(https?:)?//", html, re.IGNORECASE)
        assert "require.js" not in html and "cdnjs" not in html

    def test_free_text_script_is_escaped_and_inert(self, fixture_run):
        html = fixture_run["html"]
        assert "<script>alert(1)</script>" not in html
        assert "North &lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<img src=x" not in html
        assert "Caption for &lt;the trend&gt;" in html

    def test_code_is_not_shown(self, fixture_run):
        html = fixture_run["html"]
        for code in ("display.show_table(", "px.bar(", "import plotly", "display.setup()"):
            assert code not in html
        assert "In&nbsp;[" not in html and "Out[" not in html

    def test_parameter_injection_is_harmless(self, fixture_run):
        kernel, params = fixture_run["kernel"], fixture_run["params"]
        assert not fixture_run["marker"].exists()
        assert kernel["site"] == params["site"]
        assert kernel["note"] == params["note"]

    def test_kernel_runs_this_python_in_a_private_working_folder(self, fixture_run):
        kernel = fixture_run["kernel"]
        assert Path(kernel["executable"]).resolve() == Path(sys.executable).resolve()
        assert Path(kernel["cwd"]).name.startswith("escalation-kernel-")  # removed after the run
        assert not Path(kernel["cwd"]).exists()

    def test_kernel_does_not_import_nbformat_or_jsonschema(self, fixture_run):
        assert fixture_run["kernel"]["heavy_modules"] == []

    def test_output_dir_parameter_is_filled_in(self, fixture_run):
        result = fixture_run["result"]
        assert (result.out_dir / "kernel.json").is_file()

    def test_page_is_titled_and_marked_british_english(self, fixture_run):
        html = fixture_run["html"]
        assert "<title>Fixture report</title>" in html
        assert '<html lang="en-GB">' in html

    @needs_browser
    @needs_poppler
    def test_pdf_is_written_on_a4(self, fixture_run):
        result = fixture_run["result"]
        assert result.pdf is not None and result.pdf_note is None
        assert result.pdf.read_bytes()[:5] == b"%PDF-"
        info = subprocess.run(["pdfinfo", str(result.pdf)], capture_output=True, text=True, check=True).stdout
        assert "(A4)" in info
        text = subprocess.run(["pdftotext", str(result.pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "Fixture report" in text
        assert "<script>alert(1)" in text  # printed as text, not run

    @needs_browser
    def test_browser_draws_every_chart_with_no_network(self, fixture_run, tmp_path):
        result = fixture_run["result"]
        command = [
            *_no_network_prefix(),
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--proxy-server=http://127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            result.html.as_uri(),
        ]
        dom = subprocess.run(
            command, check=False, capture_output=True, text=True, timeout=180
        ).stdout
        assert dom.count("plotly-graph-div js-plotly-plot") == FIXTURE_FIGURES
        assert dom.count('class="main-svg"') >= FIXTURE_FIGURES
        assert 'data-pwned="1"' not in dom


@pytest.mark.slow
def test_a_failing_cell_raises_a_clear_error_and_keeps_the_previous_report(tmp_path):
    out = tmp_path / "failed"
    run_report(MINIMAL, out, pdf=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(ReportExecutionError) as err:
        run_report(FAILING, out, pdf=True)
    message = str(err.value)
    assert "failing.ipynb failed in cell 3" in message
    assert "values = [1, 2, 3]" in message
    assert "IndexError" in message
    assert err.value.cell_number == 3
    kept = err.value.executed_notebook
    assert kept.is_file() and kept.parent.name.startswith("withheld-") and kept.parent.parent == out.resolve()
    assert str(kept.parent) in message and (kept.parent.stat().st_mode & 0o777) == 0o700
    assert not (kept.parent / "report.html").exists()
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # the previous report, as it was


@pytest.mark.slow
def test_unknown_parameter_is_refused_before_running(tmp_path):
    with pytest.raises(ReportParameterError, match="'colour'"):
        run_report(FIXTURE, tmp_path / "never", {"colour": "blue"})
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_without_a_browser_the_html_is_written_with_a_plain_note(tmp_path, monkeypatch):
    monkeypatch.delenv(pdf_printing.BROWSER_ENV_VAR, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pdf_printing, "_known_browser_paths", list)
    result = run_report(MINIMAL, tmp_path / "out", pdf=True)
    assert result.html.is_file()
    assert result.pdf is None and not (tmp_path / "out" / "report.pdf").exists()
    assert result.pdf_note == pdf_printing.NO_BROWSER_NOTE
    assert "\n" not in result.pdf_note and "Save as PDF" in result.pdf_note


@pytest.mark.slow
def test_default_kernel_ignores_a_python3_kernelspec_for_another_python(tmp_path, monkeypatch):
    # A user-level "python3" kernelspec pointing elsewhere, found first on the Jupyter path.
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    "/nonexistent/python",
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "Some other Python",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    from jupyter_client.kernelspec import KernelSpecManager

    assert KernelSpecManager().get_kernel_spec("python3").argv[0] == "/nonexistent/python"

    result = run_report(MINIMAL, tmp_path / "out", pdf=False)
    import nbformat

    nb = nbformat.read(result.executed_notebook, as_version=4)
    printed = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    executable, cwd = printed.split()[:2]
    # This Python, its folder left out of the executed notebook like every folder of this computer.
    assert executable == "…" + sys.executable[len(sys.prefix):] and "nonexistent" not in printed
    assert cwd == "…"  # the private working folder, named nowhere


@pytest.mark.slow
def test_run_reports_runs_in_parallel_and_reports_every_failure(tmp_path, capsys):
    jobs = [
        ReportJob(FIXTURE, tmp_path / "a", {"site": "North"}, pdf=False),
        {"notebook_path": FAILING, "out_dir": tmp_path / "b", "pdf": False},
        ReportJob(MINIMAL, tmp_path / "c", pdf=False),
    ]
    with pytest.raises(ReportsFailedError) as err:
        run_reports(jobs, max_workers=2, progress=True)
    results = err.value.results
    assert isinstance(results[0], ReportResult) and results[0].figures == FIXTURE_FIGURES
    assert isinstance(results[1], ReportExecutionError) and results[1].cell_number == 3
    assert isinstance(results[2], ReportResult)
    assert "1 of 3 reports failed" in str(err.value)
    assert (tmp_path / "a" / "report.html").is_file()
    assert (tmp_path / "c" / "report.html").is_file()
    assert not (tmp_path / "b" / "report.html").exists()
    assert "3/3" in capsys.readouterr().err


@pytest.mark.slow
def test_run_reports_returns_results_in_job_order(tmp_path):
    jobs = [ReportJob(MINIMAL, tmp_path / name, pdf=False) for name in ("x", "y")]
    results = run_reports(jobs, max_workers=2, progress=False)
    assert [r.out_dir.name for r in results] == ["x", "y"]


def test_run_reports_refuses_bad_parameters_before_running_anything(tmp_path):
    jobs = [
        ReportJob(MINIMAL, tmp_path / "ok"),
        ReportJob(FIXTURE, tmp_path / "bad", {"nope": 1}),
    ]
    with pytest.raises(ReportParameterError, match="'nope'"):
        run_reports(jobs, progress=False)
    assert not (tmp_path / "ok").exists()


def test_template_ships_inside_the_package():
    template = html_export.TEMPLATE_DIR / html_export.TEMPLATE_NAME
    assert (template / "conf.json").is_file()
    assert (template / "index.html.j2").is_file()
    text = (template / "index.html.j2").read_text()
    assert "size: A4" in text and "#005EB8" in text


def test_export_html_writes_the_page_nbconvert_s_own_html_exporter_writes():
    # export_html keeps one exporter per process and marks elements up without CSS selectors:
    # the page must stay nbconvert's, byte for byte, report after report.
    import nbformat
    from nbconvert import HTMLExporter

    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[
        v4.new_markdown_cell("# A title\n\nText & <b>bold</b> ![no alt](data:image/png;base64," + png + ")"
                             ' <img src="data:image/png;base64,' + png + '" alt="has alt">'),
        v4.new_code_cell("x", outputs=[
            v4.new_output("display_data", data={"image/png": png, "text/plain": "img"}),
            v4.new_output("display_data", data={"text/html": '<div class="jp-OutputArea-output">&#182; '
                                                             '<img src="a.png"></div>', "text/plain": "h"}),
            v4.new_output("stream", name="stdout", text="out\n"),
            v4.new_output("stream", name="stderr", text="warning\n"),
        ]),
        v4.new_code_cell("y", outputs=[v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=1)]),
    ])
    for cell_id, cell in enumerate(nb.cells):
        cell.id = f"cell-{cell_id}"
    stock = HTMLExporter(template_name=html_export.TEMPLATE_NAME,
                         extra_template_basedirs=[str(html_export.TEMPLATE_DIR)], exclude_input=True,
                         exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True)
    for title in ("First report", "Second report"):
        body, dropped = html_export.export_html(nb, title=title, source_name="x.ipynb")
        expected_nb = nbformat.from_dict(json.loads(json.dumps(nb)))
        expected_nb.cells[1].outputs.pop(3)
        expected_nb.metadata["title"] = title
        footer = re.search(r"Produced on [^<]*", body).group(0)
        resources = {"metadata": {"name": title}, "escalation": {
            "generator": "escalation-analysis " + html_export._package_version(), "footer": footer}}
        expected, _ = stock.from_notebook_node(expected_nb, resources=resources)
        assert dropped == 1
        assert body == expected
        assert body.count('tabindex="0"') >= 3 and body.count("No description has been provided") == 2


def test_display_helpers_do_not_import_nbformat_or_jsonschema():
    # Touching plotly.io.renderers imports nbformat (and jsonschema): seconds per kernel.
    code = (
        "import sys\n"
        "import pandas as pd, plotly.express as px\n"
        "from escalation_analysis.reviews import display\n"
        "display._publish = lambda *a: None\n"
        "display.setup()\n"
        "display.show(px.bar(x=[1, 2], y=[3, 4]))\n"
        "display.table_html(pd.DataFrame({'a': [1]}))\n"
        "display.markdown_text('{x}', x=1)\n"
        "print(sorted(m for m in ('nbformat', 'jsonschema', 'plotly.io._renderers')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_run_reports_refuses_two_reports_in_one_folder(tmp_path):
    jobs = [
        ReportJob(MINIMAL, tmp_path / "same"),
        ReportJob(MINIMAL, tmp_path / "same"),
    ]
    with pytest.raises(ReportError, match="same folder"):
        run_reports(jobs, progress=False)


# ------------------------------------------------------------------------------------------
# Warm kernels, fewer notebook saves, one browser for several PDFs (slow)
# ------------------------------------------------------------------------------------------


def _notebook(path: Path, *sources: str, parameters: str = 'output_dir = ""') -> Path:
    """A notebook with a parameters cell and the given code cells."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)
    return path


# What a kernel found when the notebook started, written to probe.json in the output folder.
PROBE = """
import sys
warm = "pandas" in sys.modules
import json, os
from pathlib import Path
from escalation_analysis.reviews import display
seen = getattr(display, "_left_by_another_report", None)
display._left_by_another_report = os.getpid()
Path(output_dir, "probe.json").write_text(json.dumps({
    "pid": os.getpid(), "parent": os.getppid(), "seen": seen, "warm": warm,
    "executable": sys.executable, "cwd": os.getcwd(), "mark": os.environ.get("ESCALATION_TEST_MARK"),
    "heavy_modules": sorted(m for m in ("nbformat", "jsonschema", "plotly.io._renderers") if m in sys.modules),
}))
"""


def _gone(pids, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while any(kernels.process_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(kernels.process_alive(p) for p in pids)


posix_only = pytest.mark.skipif(sys.platform == "win32", reason="warm kernels are POSIX-only")


@pytest.mark.slow
@posix_only
def test_each_report_gets_a_fresh_kernel_and_none_is_left_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("ESCALATION_TEST_MARK", "set by the caller")
    probe = _notebook(tmp_path / "probe.ipynb", PROBE)
    jobs = [ReportJob(probe, tmp_path / f"r{i}", pdf=False) for i in range(3)]
    results = run_reports(jobs, max_workers=2, progress=False)
    found = [json.loads((r.out_dir / "probe.json").read_text()) for r in results]
    assert len({f["pid"] for f in found}) == 3
    assert all(f["seen"] is None for f in found)  # nothing left over from another report
    assert all(f["warm"] for f in found)  # forked from the template, imports done
    for f in found:
        assert Path(f["executable"]).resolve() == Path(sys.executable).resolve()
        assert Path(f["cwd"]).name.startswith("escalation-kernel-")
        assert f["mark"] == "set by the caller"
        assert f["heavy_modules"] == []
    kernels_and_template = {f["pid"] for f in found} | {f["parent"] for f in found}
    assert _gone(kernels_and_template)
    for result in results:  # the executed notebook is complete
        nb = json.loads(result.executed_notebook.read_text())
        assert nb["metadata"]["papermill"]["end_time"]
        assert all(c["execution_count"] for c in nb["cells"] if c["cell_type"] == "code")


# What a kernel found of the export its reports share (the tiny export, analysed as reviews.open does).
KEPT_PROBE = """
import json
from pathlib import Path
from escalation_analysis.ingest.inputs import InputFiles
from escalation_analysis.measures import analysis, analysis_cache
kept = len(analysis_cache._exports)
reads = []
real = analysis.load_export
analysis.load_export = lambda *a, **k: reads.append(1) or real(*a, **k)
found = {"kept": kept}
if inputs:  # (a report without files only says what it found)
    result = analysis_cache.analyse_kept(InputFiles.given(inputs), "2025-03-01", "2025-04-30")
    found.update(reads=len(reads), episodes=len(result.episodes), export=result.sources["export"])
Path(output_dir, "kept.json").write_text(json.dumps(found))
"""


@pytest.mark.slow
@posix_only
def test_the_template_reads_an_export_several_reports_share_once_for_their_kernels(tmp_path):
    tiny = Path(__file__).parent / "fixtures" / "analytics"
    files = {name: tiny / f"tiny_{name}.{'csv' if name == 'export' else 'yaml'}" for name in ("export", "mapping", "pathway")}
    probe = _notebook(tmp_path / "probe.ipynb", KEPT_PROBE, parameters='output_dir = ""\ninputs = {}')
    jobs = [ReportJob(probe, tmp_path / f"r{i}", pdf=False, input_files=files, files_parameter="inputs")
            for i in range(3)]
    found = [json.loads((r.out_dir / "kept.json").read_text()) for r in run_reports(jobs, max_workers=2, progress=False)]
    assert found == [{"kept": 1, "reads": 0, "episodes": 3, "export": "tiny_export.csv"}] * 3
    # an export only one report reads is left to its kernel
    alone = run_reports([jobs[0], ReportJob(probe, tmp_path / "other", pdf=False)], max_workers=2, progress=False)
    assert [json.loads((r.out_dir / "kept.json").read_text()) for r in alone] == [
        {"kept": 0, "reads": 1, "episodes": 3, "export": "tiny_export.csv"}, {"kept": 0}]


# What a kernel found of the period its template analysed (a review's ``warm``).
ANALYSED_PROBE = """
import json
from pathlib import Path
from escalation_analysis.ingest.inputs import InputFiles
from escalation_analysis.measures import analysis, analysis_cache
analysed = list(analysis_cache._analyses.values())
reads = []
real = analysis.load_export
analysis.load_export = lambda *a, **k: reads.append(1) or real(*a, **k)
result = analysis_cache.analyse_kept(InputFiles.given(inputs), start, end)
from escalation_analysis.reviews.disclosure import plan
Path(output_dir, "analysed.json").write_text(json.dumps({
    "analysed": len(analysed), "inherited": any(result is a for a in analysed), "reads": len(reads),
    "plans": sorted(policy for policy, alongside in plan._plans_of(result) if not alongside)}))
"""


@pytest.mark.slow
@posix_only
@pytest.mark.parametrize(("report", "plans"), [("near-miss-review", []), ("contract-monitoring", ["nhs-rounded"])])
@pytest.mark.parametrize("alone", [False, True], ids=["several", "alone"])
def test_a_review_s_period_is_analysed_once_in_the_template_for_its_kernel_and_finisher(tmp_path, report, plans, alone):
    """The demo's way, and a single report's (``escalation-review report``, :func:`run_alone`):
    each review's kernel inherits its period's analysis (and an outside report's disclosure
    plan), and its summary and privacy gate run in a fork of the template that has them too."""
    import datetime

    from escalation_analysis.ingest.inputs import InputFiles
    from escalation_analysis.ingest.pseudonym_key import load_key
    from escalation_analysis.publish.review_runs import FinishReview, ReviewInputs

    if plans:  # (an outside report the disclosure audit lets through: the demo's quarter)
        files, start, end = InputFiles.in_folder(Path(__file__).parents[1] / "data" / "sample").by_name(), "2025-10-01", "2025-12-31"
        files = {name: files[name] for name in ("export", "mapping", "pathway")}
    else:
        tiny = Path(__file__).parent / "fixtures" / "analytics"
        files = {name: tiny / f"tiny_{name}.{'csv' if name == 'export' else 'yaml'}" for name in ("export", "mapping", "pathway")}
        start, end = "2025-03-01", "2025-04-30"
    inputs = ReviewInputs(InputFiles(**files), datetime.date.fromisoformat(start), datetime.date.fromisoformat(end))
    probe = _notebook(tmp_path / "probe.ipynb", ANALYSED_PROBE,
                      parameters=f'output_dir = ""\ninputs = {{}}\nstart = "{start}"\nend = "{end}"')
    jobs = [ReportJob(probe, tmp_path / f"r{i}", pdf=False, input_files=files, files_parameter="inputs", private=not plans,
                      report=report, before_publish=FinishReview(report, inputs, load_key(), {})) for i in range(2)]
    results = [run_alone(jobs[0])] if alone else run_reports(jobs, max_workers=2, progress=False)
    found = [json.loads((r.out_dir / "analysed.json").read_text()) for r in results]
    assert found == [{"analysed": 1, "inherited": True, "reads": 0, "plans": plans}] * len(results)
    for result in results:  # each finisher wrote the review's summary (and an outside one's audit) beside its report
        assert json.loads((result.out_dir / "summary.json").read_text())["report"] == report
        assert (result.out_dir / "audit.json").is_file() == bool(plans)


@pytest.mark.slow
@posix_only
def test_warm_kernels_inside_warm_kernels_use_the_template_already_started():
    # (a single report starts the template before it checks its inputs, then runs the report)
    with kernels._warm_kernels() as outer:
        assert outer is not None
        with kernels._warm_kernels() as inner:
            assert inner == outer
        assert kernels.call_in_template(outer, os.getpid) not in (None, kernels.NOT_CALLED)  # still there
    assert kernels._warm_kernel_address is None


@pytest.mark.slow
@posix_only
def test_a_fork_asked_for_after_a_preparation_is_forked_once_it_is_made_before_the_queue_before_it(tmp_path):
    """A kernel that needs what the template prepares (its period's analysis, its disclosure
    plan) inherits it; what it does not need, queued before, waits until nothing waits."""
    with kernels._warm_kernels() as address:
        # (the template is still importing: the three requests queue, in this order)
        kernels.warm_template_with(address, os.umask, 0o077, name="first")
        kernels.warm_template_with(address, os.umask, 0o027, name="needed")
        with kernels._using_warm_kernels(address, after=["needed"]):
            assert kernels.call_in_template(address, os.umask, 0) == 0o027  # made for it, "first" not yet
        deadline = time.monotonic() + 10
        while kernels.call_in_template(address, os.umask, 0) != 0o077 and time.monotonic() < deadline:
            time.sleep(0.05)  # "first" is made once nothing waits
        assert kernels.call_in_template(address, os.umask, 0) == 0o077
        with kernels._using_warm_kernels(address, after=["made before", "never asked for"]):
            assert kernels.call_in_template(address, os.getpid) not in (None, kernels.NOT_CALLED)  # no wait for those


def _children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry.name))
    return found


def _without_children(pid: int, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while _children_of(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _children_of(pid)


@pytest.mark.slow
@posix_only
def test_a_call_in_the_template_runs_in_a_fork_of_it_and_gives_back_its_result_or_its_error():
    """A review's finisher runs this way: in a process that inherits what the template read."""
    from escalation_analysis.errors import EscalationAnalysisError

    assert kernels.call_in_template(None, os.getpid) is kernels.NOT_CALLED  # no template: the caller calls it
    with kernels._warm_kernels() as address:
        template = next(p for p in _children_of(os.getpid()) if "_template_main" in Path(f"/proc/{p}/cmdline").read_text())
        child = kernels.call_in_template(address, os.getpid)
        assert child not in (os.getpid(), template)
        assert kernels.call_in_template(address, os.getcwd) == os.getcwd()  # in the caller's folder
        with pytest.raises(EscalationAnalysisError, match="no-such-report"):  # the error itself, raised here
            kernels.call_in_template(address, kind, "no-such-report")
        assert _without_children(template)  # each fork has ended, and been waited for


@pytest.mark.slow
@posix_only
def test_a_call_in_the_template_is_stopped_with_its_caller():
    """Ctrl-C while a finisher runs in a fork of the template stops the fork too."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with kernels._warm_kernels() as address:
            template = next(p for p in _children_of(os.getpid()) if "_template_main" in Path(f"/proc/{p}/cmdline").read_text())
            assert kernels.call_in_template(address, os.getpid)  # (the template has started: the next call forks at once)
            signal.alarm(2)
            with pytest.raises(KeyboardInterrupt):
                kernels.call_in_template(address, time.sleep, 120)
            # ended before the interrupt goes on (so nothing it does lands after the caller's clean-up)
            assert not any(kernels.process_alive(p) for p in _children_of(template))
            assert _without_children(template)  # and waited for by the template
            assert kernels.call_in_template(address, os.getpid) not in (None, kernels.NOT_CALLED)  # the template goes on
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.slow
@posix_only
def test_a_chosen_kernelspec_is_started_the_standard_way(tmp_path):
    probe = _notebook(tmp_path / "probe.ipynb", PROBE)
    jobs = [ReportJob(probe, tmp_path / f"r{i}", pdf=False, kernel_name="python3") for i in range(2)]
    results = run_reports(jobs, max_workers=2, progress=False)
    found = [json.loads((r.out_dir / "probe.json").read_text()) for r in results]
    assert not any(f["warm"] for f in found)
    assert _gone({f["pid"] for f in found})


@pytest.mark.slow
@posix_only
def test_a_failing_cell_in_a_warm_kernel_is_reported_with_its_cell_number(tmp_path):
    jobs = [ReportJob(FAILING, tmp_path / "failed", pdf=False),
            ReportJob(MINIMAL, tmp_path / "ok", pdf=False)]
    with pytest.raises(ReportsFailedError) as err:
        run_reports(jobs, max_workers=2, progress=False)
    failed = err.value.results[0]
    assert isinstance(failed, ReportExecutionError)
    assert failed.cell_number == 3 and failed.error_name == "IndexError"
    assert "failing.ipynb failed in cell 3" in str(failed)
    nb = json.loads(failed.executed_notebook.read_text())
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"] if o["output_type"] == "error"]
    assert [e["ename"] for e in errors] == ["IndexError"]
    assert not (tmp_path / "failed" / "report.html").exists()
    assert isinstance(err.value.results[1], ReportResult)


@pytest.mark.slow
@posix_only
def test_a_cell_over_its_time_limit_stops_the_warm_kernel_and_keeps_the_notebook(tmp_path):
    sleepy = _notebook(
        tmp_path / "sleepy.ipynb",
        'import os\nfrom pathlib import Path\nPath(output_dir, "pid").write_text(str(os.getpid()))',
        "import time\ntime.sleep(120)",
    )
    jobs = [ReportJob(sleepy, tmp_path / "slow", pdf=False, cell_timeout=3),
            ReportJob(MINIMAL, tmp_path / "ok", pdf=False)]
    started = time.monotonic()
    with pytest.raises(ReportsFailedError) as err:
        run_reports(jobs, max_workers=2, progress=False)
    assert time.monotonic() - started < 60  # interrupted, not waited out
    failed = err.value.results[0]
    assert isinstance(failed, ReportExecutionError) and "Timeout" in str(failed)
    kept = failed.executed_notebook
    assert kept.name == "report.ipynb" and kept.parent.parent == (tmp_path / "slow").resolve()
    nb = json.loads(kept.read_text())
    assert nb["cells"][1]["execution_count"]  # the cells that ran are in the kept notebook
    assert _gone([int((kept.parent / "pid").read_text())])


@pytest.mark.slow
@posix_only
def test_a_warm_kernel_can_be_interrupted_and_killed(tmp_path):
    import asyncio

    async def scenario():
        manager = kernels._current_interpreter_kernel_manager_class()(kernel_name="python3")
        await manager.start_kernel(cwd=str(tmp_path))
        assert isinstance(manager.provisioner.process, kernels._ForkedKernel)
        client = manager.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)
            msg_id = client.execute("import time; time.sleep(120)")
            await asyncio.sleep(1)
            await manager.interrupt_kernel()
            while True:
                reply = await client.get_shell_msg(timeout=30)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            assert reply["content"]["status"] == "error"
            assert reply["content"]["ename"] == "KeyboardInterrupt"
            pid = manager.provisioner.pid
            await manager.shutdown_kernel(now=True)
            return pid
        finally:
            client.stop_channels()

    with kernels._warm_kernels() as address:
        assert address is not None
        pid = asyncio.run(scenario())
    assert _gone([pid])


@pytest.mark.slow
@posix_only
def test_warm_kernels_shut_down_promptly(tmp_path):
    """A report's kernel ends as soon as its last cell has run. (ipykernel's own exit can wait on
    itself for seconds: its control thread flushing output through the IOPub thread it stops.)"""
    import datetime as dt

    empty = _notebook(tmp_path / "empty.ipynb", "x = 1")
    waits = []
    jobs = [ReportJob(empty, tmp_path / str(i), pdf=False) for i in range(12)]  # (one run: one template, twelve kernels)
    for result in run_reports(jobs, max_workers=2, progress=False):
        nb = json.loads(result.executed_notebook.read_text())
        last_cell = dt.datetime.fromisoformat(nb["cells"][-1]["metadata"]["papermill"]["end_time"])
        ended = dt.datetime.fromisoformat(nb["metadata"]["papermill"]["end_time"])
        waits.append((ended - last_cell).total_seconds())
    assert len(waits) == 12 and max(waits) < 2  # jupyter_client would have had to SIGTERM the kernel at 2.5 s


@pytest.mark.slow
@needs_browser
@needs_poppler
@posix_only
def test_a_kept_browser_prints_the_same_pdf_as_a_browser_started_for_it(fixture_run, tmp_path):
    html = fixture_run["result"].html
    one_shot, kept = tmp_path / "one-shot.pdf", tmp_path / "kept.pdf"
    pdf_printing.print_pdf(html, one_shot, BROWSER)
    with pdf_printing.keeping_browser(True):
        pdf_printing.print_report_pdf(html, tmp_path / "first.pdf", BROWSER)
        pdf_printing.print_report_pdf(html, kept, BROWSER)  # the second print in the same browser
    browsers = [b.pid for b in pdf_printing._kept_browsers.values()]
    pdf_printing.close_kept_browsers()
    assert browsers and _gone(browsers)

    def pages(pdf: Path) -> list[bytes]:
        prefix = tmp_path / pdf.stem
        subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(prefix)], check=True)
        return [p.read_bytes() for p in sorted(tmp_path.glob(f"{pdf.stem}-*.png"))]

    def text(pdf: Path) -> str:
        return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout

    assert text(kept) == text(one_shot)
    assert pages(kept) == pages(one_shot) != []


@needs_browser
@posix_only
def test_a_worker_starts_its_kept_browser_before_its_first_print_and_the_print_uses_it(fixture_run, tmp_path):
    # A worker starts its browser while it waits for its kernel; the first PDF is printed in it.
    pdf_printing.start_kept_browser()  # not keeping a browser: nothing starts
    assert pdf_printing._kept_browsers == {}
    try:
        with pdf_printing.keeping_browser(True):
            pdf_printing.start_kept_browser()
            started = {path: b.pid for path, b in pdf_printing._kept_browsers.items()}
            pdf_printing.start_kept_browser()  # already started: the same one
            assert {path: b.pid for path, b in pdf_printing._kept_browsers.items()} == started
            pdf_printing.print_report_pdf(fixture_run["result"].html, tmp_path / "r.pdf", BROWSER)
            assert list(started) == [BROWSER]
            assert pdf_printing._kept_browsers[BROWSER].pid == started[BROWSER]
        assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")
    finally:
        pdf_printing.close_kept_browsers()
    assert _gone(list(started.values()))


@posix_only
def test_starting_a_kept_browser_with_a_wrong_browser_setting_starts_nothing_and_says_nothing(monkeypatch):
    # The error belongs to the report's own PDF step, which names the setting.
    monkeypatch.setenv(pdf_printing.BROWSER_ENV_VAR, "/no/such/browser")
    with pdf_printing.keeping_browser(True):
        pdf_printing.start_kept_browser()
    assert pdf_printing._kept_browsers == {}


@pytest.mark.slow
@needs_browser
@posix_only
def test_several_pdfs_leave_no_browser_behind(tmp_path, monkeypatch):
    # The workers' temporary folder, where the browsers' profiles go (short: Chromium puts
    # sockets under it).
    temp = Path(tempfile.mkdtemp(prefix="t", dir="/tmp" if Path("/tmp").is_dir() else None))
    monkeypatch.setenv("TMPDIR", str(temp))
    before = temp.stat().st_mtime_ns
    try:
        jobs = [ReportJob(MINIMAL, tmp_path / f"r{i}", pdf=True) for i in range(3)]
        results = run_reports(jobs, max_workers=2, progress=False)
        assert all(r.pdf is not None and r.pdf.read_bytes().startswith(b"%PDF-") for r in results)
        assert temp.stat().st_mtime_ns != before  # the browsers' profiles were made here...
        assert list(temp.glob("escalation-browser-*")) == []  # ...and removed, each browser closed
        running = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
        assert str(temp) not in running
    finally:
        shutil.rmtree(temp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# A kernel that stops as it starts (a port another program took at the same moment)


def _kernel_stopping_at_start(times: int):
    """papermill's execution, whose first ``times`` kernels stop before answering (as a kernel
    does when another program bound one of its ports first); the calls made are counted."""
    from papermill.engines import NBClientEngine

    from escalation_analysis.publish.papermill_engine import KERNEL_DIED_AT_START

    original = NBClientEngine.execute_managed_notebook.__func__
    calls: list[int] = []

    def execute(cls, *args, **kwargs):
        calls.append(1)
        if len(calls) <= times:
            raise RuntimeError(KERNEL_DIED_AT_START)
        return original(cls, *args, **kwargs)

    return mock.patch.object(NBClientEngine, "execute_managed_notebook", classmethod(execute)), calls


def _connection_file_with_a_taken_port(folder: Path, port_name: str):
    """A kernel connection file one of whose ports another program is listening on (the socket)."""
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    names = ["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"]
    free = []
    for _ in names:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        free.append(s)
    info = {name: s.getsockname()[1] for name, s in zip(names, free, strict=True)}
    for s in free:
        s.close()
    info[port_name] = taken.getsockname()[1]
    info.update(ip="127.0.0.1", key="a-key", transport="tcp", signature_scheme="hmac-sha256", kernel_name="")
    path = folder / "kernel.json"
    path.write_text(json.dumps(info))
    return path, taken


def _ends_within(process, seconds: float) -> int | None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        return process.wait(timeout=seconds)
    process.kill()
    process.wait()
    return None


@pytest.mark.slow
@pytest.mark.parametrize("port_name", ["iopub_port", "shell_port"])
def test_a_kernel_whose_port_another_program_took_ends_at_once(tmp_path, port_name):
    # ipykernel's own launcher waits for ever once it has failed to bind IOPub or heartbeat; the
    # report would wait 60 s and fail, where a kernel that ends is started again on other ports.
    from jupyter_client.kernelspec import KernelSpecManager

    manager = kernels._current_interpreter_kernel_manager_class()().kernel_spec_manager
    assert isinstance(manager, KernelSpecManager)
    connection, taken = _connection_file_with_a_taken_port(tmp_path, port_name)
    argv = [a.replace("{connection_file}", str(connection)) for a in manager.get_kernel_spec("python3").argv]
    try:
        kernel = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
        assert _ends_within(kernel, 20) == 1
        assert "Address already in use" in kernel.stderr.read().decode()
    finally:
        taken.close()


@pytest.mark.slow
@posix_only
def test_a_warm_kernel_whose_port_another_program_took_ends_at_once(tmp_path):
    connection, taken = _connection_file_with_a_taken_port(tmp_path, "iopub_port")
    prefix = kernels._kernel_launch_prefix()
    try:
        with kernels._warm_kernels() as address:
            kernel = kernels._fork_warm_kernel(address, [*prefix, *kernels._LAUNCHER, "-f", str(connection)],
                                               {"cwd": str(tmp_path)})
            assert kernel is not None  # forked from the template, not started the standard way
            assert _ends_within(kernel, 20) == 1
    finally:
        taken.close()


@pytest.mark.slow
def test_a_report_whose_kernel_stops_as_it_starts_is_made_with_another(tmp_path, caplog):
    patch, calls = _kernel_stopping_at_start(times=1)
    with patch, caplog.at_level("WARNING"):
        result = run_report(MINIMAL, tmp_path / "out", pdf=False)
    assert len(calls) == 2 and Path(result.html).is_file()
    assert "The report's kernel stopped as it started (attempt 1 of 3); starting another." in caplog.text


def test_a_kernel_that_never_starts_fails_the_report_after_three_tries(tmp_path):
    patch, calls = _kernel_stopping_at_start(times=99)
    with patch, pytest.raises(ReportError, match="could not be run"):
        run_report(MINIMAL, tmp_path / "out", pdf=False)
    assert len(calls) == 3 and not (tmp_path / "out" / "report.html").exists()
