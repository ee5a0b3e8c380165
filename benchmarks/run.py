"""Benchmarks: the full pipeline against the I/O limit, at 100k, 1M and 10M rows.

Run from the repository root (one command)::

    python benchmarks/run.py                       # 100k, 1M and 10M rows, the workbook, the demo
    python benchmarks/run.py --sizes 100000 1000000 --no-demo --no-xlsx
    python benchmarks/run.py --before /tmp/main    # also another checkout: each size round by round

For each size it generates a synthetic export with the sample generator (cached under
``benchmarks/data/``), then measures in fresh processes, side by side:

(a) reading the CSV with pandas' pyarrow engine alone, in a process of its own: its seconds
    inside the process, the whole process's wall-clock seconds, and the Arrow in-memory size
    of what it read;
(b) the full pipeline: ``escalation-review summary`` as a user types it (whole process), and
    in a process of its own, from the first import done, the load through the mapping profile,
    validation, the accounting of every row and every summary KPI (``analyse`` +
    ``build_summary``: in-process);
(c) the steps no version of the pipeline can skip, alone, each timed: reading the cells as text
    with blanks made missing, telling references apart (duplicates), pseudonymising service
    users, reading two dates and times, and one sort of the delays. Their sum over (a) is a
    floor under (b)'s ratio: what is left between (c) and (b) is what the analytics cost.

It reports the whole-process and in-process ratios to (a), the floor and its parts, peak
resident memory against the Arrow size, and rows per second. It times
``escalation-review validate`` on the same 100,000 rows as a CSV and as an Excel workbook,
side by side (the workbook's target: at most three times the CSV), and ``escalation-review
demo`` (four reports with PDFs) against its floors, with the time of each stage (kernel start,
cells, HTML, PDF, summary and privacy gate), the size of each report.html (target: 2 MB), and
one report made alone (``escalation-review report contract-monitoring``, the command users run
most), whole process.
A closing table puts the figures beside those of issue 17 (measured before this work).
Everything is written to ``benchmarks/results/latest.json``; the 1-minute load average beside
each measure says how busy the machine was (on a shared machine both sides of a ratio slow down).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
RESULTS = ROOT / "benchmarks" / "results"
PERIOD = ("2024-04-01", "2026-03-31")
HTML_LIMIT_MB = 2.0

#: Issue 17's figures, measured before this work on the same kind of machine (2 cores).
ISSUE_17 = {
    "1M whole-process ratio (summary / pyarrow read)": "6.2 (6.56 s / 1.05 s)",
    "1M peak RSS": "1.16 GB (read 0.89 GB)",
    "10M peak RSS": "10.3 GB",
    "report.html": "4.8-5.1 MB (plotly.js 3.5 MB)",
    "demo / runner's warm floor": "3.5",
    "validate XLSX / CSV, 100k rows": "about 10 (19.5 s / 2 s)",
}

_READ = """
import resource, sys, time
import pandas as pd
t, cpu = time.perf_counter(), time.process_time()
frame = pd.read_csv(sys.argv[1], engine="pyarrow")
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
import pyarrow as pa
arrow = pa.Table.from_pandas(frame, preserve_index=False).nbytes / 1e6  # the buffers pandas holds, shared
print({"seconds": seconds, "cpu_seconds": cpu, "rows": len(frame), "peak_rss_mb": peak, "arrow_mb": arrow})
"""

_PIPELINE = """
import resource, sys, time
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.reviews.summary import build_summary
t, cpu = time.perf_counter(), time.process_time()
analysis = analyse(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
loaded = time.perf_counter() - t
summary = build_summary(analysis)
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
quality = summary.data["data_quality"]
print({"seconds": seconds, "cpu_seconds": cpu, "load_seconds": loaded, "rows": quality["rows_read"],
       "rows_analysed": quality["rows_analysed"], "rows_excluded": quality["rows_excluded"],
       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
"""

_REQUIRED = """
import resource, sys, time
import numpy as np
import pandas as pd
from escalation_analysis.ingest.datetimes import combine_date_time
from escalation_analysis.ingest.mapping import read_mapping
from escalation_analysis.ingest.pseudonyms import load_key, pseudonymise
from escalation_analysis.ingest.files import read_export
profile = read_mapping(sys.argv[2])
key = load_key()
parts = {}
t = last = time.perf_counter()
def done(part):
    global last
    now = time.perf_counter()
    parts[part] = now - last
    last = now
cells = read_export(sys.argv[1], encoding=profile.encoding, delimiter=profile.delimiter,
                    missing_values=profile.missing_values).cells
done("read cells as text")
columns = lambda field: [cells[name] for name in profile.local_columns(field)]
pd.factorize(columns("incident_id")[0])
done("tell references apart")
pseudonymise(columns("service_user_id")[0], "service_user_id", key)
done("pseudonyms")
instants = [combine_date_time(*columns(f), dayfirst=profile.dayfirst, fmt=None, timezone=profile.timezone).naive
            for f in ("risk_identified_at", "escalated_at")]
done("two date-times")
np.sort((instants[1] - instants[0]).dropna().to_numpy())
done("sort the delays")
print({"seconds": time.perf_counter() - t, "parts": parts,
       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
"""


def _environment(code_root: Path | None) -> dict[str, str]:
    env = {**os.environ, "ESCALATION_ANALYSIS_KEY": os.environ.get("ESCALATION_ANALYSIS_KEY", "benchmark-key-not-secret-0123456789abcdef")}
    # Python's default: modules compiled once and kept (in __pycache__, which git ignores), as in
    # a user's install, not compiled from source in every timed process (about 0.1 s a start)
    # as under PYTHONDONTWRITEBYTECODE=1, which some machines set.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if code_root is not None:  # another checkout's package, imported before the installed one (run from there)
        env["PYTHONPATH"] = str(code_root)
    return env


def _process(args: list[str], code_root: Path | None = None) -> dict:
    """Run a whole process: its wall-clock and CPU seconds, its own peak resident memory, its output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        process = subprocess.Popen(args, stdout=out, stderr=err, env=_environment(code_root), cwd=code_root or ROOT)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage (maxrss in KB on Linux)
        seconds = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        output, errors = out.read().decode(), err.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(args[:4])} ...\n{errors[-2000:]}")
    lines = output.strip().splitlines()
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024, "last_line": lines[-1] if lines else ""}


def _child(code: str, *args: str, code_root: Path | None = None) -> dict:
    """Run ``code`` in a fresh Python; its printed dict, with the whole process's wall-clock seconds."""
    done = _process([sys.executable, "-c", code, *args], code_root)
    result = eval(done["last_line"], {})  # our own child's dict literal
    result["process_seconds"] = done["seconds"]
    result["process_cpu_seconds"] = done["cpu_seconds"]
    return result


def generate(rows: int, xlsx: bool = False) -> tuple[Path, dict | None]:
    """The export for a size, generated once and cached (with the generator's figures when made now)."""
    folder = DATA / (f"{rows}-xlsx" if xlsx else f"{rows}")
    info = None
    if not (folder / ("incidents.xlsx" if xlsx else "incidents.csv")).is_file():
        print(f"generating {rows:,} rows{' with a workbook' if xlsx else ''} ...", flush=True)
        t = time.perf_counter()
        code = (
            "import resource, sys; from escalation_analysis.synthetic import write_sample; "
            "write_sample(sys.argv[1], int(sys.argv[2]), 2025, xlsx=sys.argv[3] == 'xlsx', logs=False); "
            "print({'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})"
        )
        info = _child(code, str(folder), str(rows), "xlsx" if xlsx else "csv")
        info["seconds"] = time.perf_counter() - t
        print(f"  generated in {info['seconds']:.1f} s, peak {info['peak_rss_mb']:,.0f} MB", flush=True)
    return folder, info


def _summary_command(folder: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "escalation_analysis.cli", "summary", str(folder / "incidents.csv"),
            "--mapping", str(folder / "mapping.yaml"), "--pathway", str(folder / "pathway.yaml"),
            "--start", PERIOD[0], "--end", PERIOD[1], "--out", str(out)]


def measure(rows: int, repeats: int, sides: dict[str, Path | None]) -> dict[str, dict]:
    """Every measure of one export size for the code of each side (None: this checkout).

    Each round runs every measure once for each side in turn, so that both sides of a
    comparison, and both sides of each ratio, meet the same load; the best of the rounds counts.
    """
    folder, generated = generate(rows)
    export = str(folder / "incidents.csv")
    rounds: dict[str, dict[str, list]] = {side: {"reads": [], "commands": [], "pipelines": [], "required": []}
                                          for side in sides}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for side, code_root in sides.items():
                runs = rounds[side]
                runs["reads"].append(_child(_READ, export, code_root=code_root))
                runs["commands"].append(_process(_summary_command(folder, Path(tmp) / "summary.json"), code_root))
                runs["pipelines"].append(_child(_PIPELINE, export, str(folder / "mapping.yaml"),
                                                str(folder / "pathway.yaml"), *PERIOD, code_root=code_root))
                runs["required"].append(_child(_REQUIRED, export, str(folder / "mapping.yaml"), code_root=code_root))
    return {side: _size_result(rows, folder, generated, code_root, **rounds[side]) for side, code_root in sides.items()}


def _size_result(rows: int, folder: Path, generated: dict | None, code_root: Path | None, *,
                 reads: list[dict], commands: list[dict], pipelines: list[dict], required: list[dict]) -> dict:
    """One side's figures for one size, from its rounds, printed as one line."""
    read = min(reads, key=lambda r: r["seconds"])
    read_process = min(r["process_seconds"] for r in reads)
    cpu = {"read": min(r["cpu_seconds"] for r in reads), "read_process": min(r["process_cpu_seconds"] for r in reads),
           "summary_command": min(c["cpu_seconds"] for c in commands), "pipeline": min(p["cpu_seconds"] for p in pipelines)}
    command = min(commands, key=lambda r: r["seconds"])
    pipeline = min(pipelines, key=lambda r: r["seconds"])
    floor = min(required, key=lambda r: r["seconds"])
    result = {
        "rows": rows,
        "file_mb": (folder / "incidents.csv").stat().st_size / 1e6,
        "arrow_mb": read["arrow_mb"],
        "pyarrow_read_seconds": read["seconds"],
        "pyarrow_read_process_seconds": read_process,
        "summary_command_seconds": command["seconds"],
        "ratio_whole_process": command["seconds"] / read_process,
        "pipeline_seconds": pipeline["seconds"],
        "pipeline_load_seconds": pipeline["load_seconds"],
        "ratio_in_process": pipeline["seconds"] / read["seconds"],
        "floor_seconds": floor["seconds"],
        "floor_parts_seconds": floor["parts"],
        "ratio_floor": floor["seconds"] / read["seconds"],
        "rows_per_second": rows / pipeline["seconds"],
        "read_peak_rss_mb": read["peak_rss_mb"],
        "pipeline_peak_rss_mb": pipeline["peak_rss_mb"],
        "summary_command_peak_rss_mb": command["peak_rss_mb"],
        "ratio_peak_rss_to_arrow": command["peak_rss_mb"] / read["arrow_mb"],
        "rows_analysed": pipeline["rows_analysed"],
        "rows_excluded": pipeline["rows_excluded"],
        "cpu_seconds": cpu,
        "cpu_ratio_whole_process": cpu["summary_command"] / cpu["read_process"],
        "cpu_ratio_in_process": cpu["pipeline"] / cpu["read"],
        "load_average_1min": os.getloadavg()[0],
    }
    if generated is not None:
        result["generator_seconds"] = generated["seconds"]
        result["generator_peak_rss_mb"] = generated["peak_rss_mb"]
    parts = ", ".join(f"{k} {v:.2f}" for k, v in floor["parts"].items())
    print(
        f"{rows:>12,} rows{' (' + str(code_root) + ')' if code_root else ''}: pyarrow read {read['seconds']:.2f} s "
        f"({read_process:.2f} s as a process); `summary` {command['seconds']:.2f} s, whole-process ratio "
        f"{result['ratio_whole_process']:.2f}; in-process {pipeline['seconds']:.2f} s, ratio {result['ratio_in_process']:.2f}; "
        f"floor {floor['seconds']:.2f} s, ratio {result['ratio_floor']:.2f} ({parts}); "
        f"`summary` peak {command['peak_rss_mb']:,.0f} MB = {result['ratio_peak_rss_to_arrow']:.2f} x the Arrow size "
        f"({read['arrow_mb']:,.0f} MB); CPU-second ratios: whole-process {result['cpu_ratio_whole_process']:.2f}, "
        f"in-process {result['cpu_ratio_in_process']:.2f}; load {result['load_average_1min']:.1f}",
        flush=True,
    )
    return result


_WORKBOOK_READ = """
import resource, sys, time
from pathlib import Path
import pandas as pd
from escalation_analysis.ingest.workbooks import Workbook
t = time.perf_counter()
if sys.argv[2] == "project":
    with Workbook(Path(sys.argv[1])) as book:
        cells = book.cells(book.sheet_names[0])
else:
    cells = pd.read_excel(sys.argv[1], header=None, dtype=str, na_filter=False, engine=sys.argv[2])
print({"seconds": time.perf_counter() - t, "rows": len(cells),
       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
"""


def _validate(export: Path, mapping: Path, code_root: Path | None = None) -> dict:
    """``escalation-review validate`` as a user types it, in a fresh process: wall and CPU seconds."""
    return _process([sys.executable, "-m", "escalation_analysis.cli", "validate", str(export), "--mapping", str(mapping)],
                    code_root)


def xlsx_against_csv(rows: int, repeats: int, engines: bool = True, code_root: Path | None = None) -> dict:
    """``validate`` on the same export as CSV and as a workbook, interleaved, best of ``repeats``.

    Both files come from one generator run (``incidents.csv`` and ``incidents.xlsx`` hold the same
    cells). CPU seconds are reported beside wall-clock seconds: on a shared machine the wall clock
    also measures the other work. With ``engines``, reading the workbook alone is timed once each
    with pandas' openpyxl and calamine engines and with the project's reader.
    """
    folder, _ = generate(rows, xlsx=True)
    mapping = folder / "mapping.yaml"
    runs = {"csv": [], "xlsx": []}
    for _ in range(repeats):
        for kind in runs:
            runs[kind].append(_validate(folder / f"incidents.{kind}", mapping, code_root))
    best = {kind: min(values, key=lambda r: r["seconds"]) for kind, values in runs.items()}
    cpu = {kind: min(r["cpu_seconds"] for r in values) for kind, values in runs.items()}
    result = {
        "rows": rows,
        "csv_mb": (folder / "incidents.csv").stat().st_size / 1e6,
        "xlsx_mb": (folder / "incidents.xlsx").stat().st_size / 1e6,
        "validate_csv_seconds": best["csv"]["seconds"],
        "validate_xlsx_seconds": best["xlsx"]["seconds"],
        "ratio_xlsx_to_csv": best["xlsx"]["seconds"] / best["csv"]["seconds"],
        "validate_csv_cpu_seconds": cpu["csv"],
        "validate_xlsx_cpu_seconds": cpu["xlsx"],
        "ratio_xlsx_to_csv_cpu": cpu["xlsx"] / cpu["csv"],
        "load_average_1min": os.getloadavg()[0],
    }
    print(
        f"{rows:>12,} rows{' (' + str(code_root) + ')' if code_root else ''}, validate: CSV {best['csv']['seconds']:.2f} s, workbook {best['xlsx']['seconds']:.2f} s "
        f"(ratio {result['ratio_xlsx_to_csv']:.2f}; CPU {cpu['csv']:.2f} s and {cpu['xlsx']:.2f} s, "
        f"ratio {result['ratio_xlsx_to_csv_cpu']:.2f})",
        flush=True,
    )
    if engines:
        reads = {engine: _child(_WORKBOOK_READ, str(folder / "incidents.xlsx"), engine, code_root=code_root)["seconds"]
                 for engine in ("openpyxl", "calamine", "project")}
        result["read_workbook_seconds"] = reads
        print("  reading the workbook alone: " + ", ".join(
            f"{'pandas ' + k + ' engine' if k != 'project' else 'the project reader'} {v:.2f} s" for k, v in reads.items()),
            flush=True)
    return result


_FLOOR = """
import json, sys, tempfile, time
from pathlib import Path
from escalation_analysis.publish.many_reports import ReportJob, run_reports
if __name__ == "__main__":
    pdf, warm = sys.argv[1] == "pdf", sys.argv[2] == "runner"
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.ipynb"
        empty.write_text(json.dumps({
            "cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "x = 1",
                       "outputs": [], "execution_count": None}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5,
        }))
        t = time.perf_counter()
        run_reports([ReportJob(empty, Path(tmp) / f"r{i}", pdf=pdf) for i in range(4)], progress=False,
                    warm_kernels=warm)
        print({"seconds": time.perf_counter() - t})
"""

_FLOORS = {
    "standard_launch": "papermill's standard kernel launch: a new `python -m ipykernel_launcher` per notebook",
    "runner": "the project's runner, as the demo runs: kernels forked from one warm template",
}

_DEMO = """
import json, sys
from datetime import datetime
from pathlib import Path
from escalation_analysis.publish.review_runs import run_demo
if __name__ == "__main__":
    out = Path(sys.argv[2])
    stages = {}
    for result in run_demo(Path(sys.argv[1]), out, pdf=sys.argv[3] == "pdf", progress=False):
        notebook = json.loads(Path(result.executed_notebook).read_text(encoding="utf-8"))
        cells = [c["metadata"]["papermill"] for c in notebook["cells"] if c["metadata"].get("papermill", {}).get("start_time")]
        started = datetime.fromisoformat(notebook["metadata"]["papermill"]["start_time"])
        first = datetime.fromisoformat(cells[0]["start_time"]) if cells else started
        cell_seconds = sum(c["duration"] or 0 for c in cells)
        t = result.timings
        stages[Path(result.out_dir).name] = {
            "kernel": max(t["execute"] - cell_seconds, 0.0), "first_cell_after": (first - started).total_seconds(),
            "cells": cell_seconds, "html": t["html"], "pdf": t.get("pdf", 0.0),
            "summary_and_gate": t.get("publish", t["total"] - t["execute"] - t["html"] - t.get("pdf", 0.0)),
            "total": t["total"],
            "html_mb": Path(result.html).stat().st_size / 1e6}
    print(stages)
"""


def _one_report_command(sample: Path, out: Path) -> list[str]:
    """The commissioners' report of the demo's quarter, as a user makes one report."""
    files = [f"--{name}={sample / file}" for name, file in (
        ("data", "incidents.csv"), ("mapping", "mapping.yaml"), ("pathway", "pathway.yaml"), ("steps", "steps.csv"),
        ("actions", "learning_actions.csv"), ("training", "training.csv"))]
    return [sys.executable, "-m", "escalation_analysis.cli", "report", "contract-monitoring", *files,
            "--start", "2025-10-01", "--end", "2025-12-31", "--out", str(out)]


def demo_timing(repeats: int = 1, code_root: Path | None = None) -> dict:
    """The demo's four reports against the kernel-start floor, best of ``repeats``, with its stages.

    The demo runs as ``run_demo`` (what ``escalation-review demo`` calls) in a fresh process, timed
    whole. The floor is the same number of empty notebooks (four) through papermill, two at a time
    like the demo, with the same HTML and PDF export, timed twice: with papermill's standard kernel
    launch, and through the project's runner with its warm kernels (what the demo uses). Demo and
    floors alternate, so that both pay the same start-up and machine load. Each report's stages are
    read from its run: kernel start (the execute time not spent in cells), cells (papermill's own
    cell durations), HTML export, PDF printing, and the summary, audit and privacy gate.
    """
    results: dict = {"floors": _FLOORS}
    sample = ROOT / "data" / "sample"
    with tempfile.TemporaryDirectory() as tmp:
        for pdf in (False, True):
            label = "with_pdf" if pdf else "html_only"
            demos, floors = [], {name: [] for name in _FLOORS}
            for i in range(repeats):
                for name in _FLOORS:
                    floors[name].append(_child(_FLOOR, "pdf" if pdf else "html", name, code_root=code_root)["process_seconds"])
                stages = _child(_DEMO, str(sample), str(Path(tmp) / f"demo-{label}-{i}"), "pdf" if pdf else "html",
                                code_root=code_root)
                seconds = stages.pop("process_seconds")
                stages.pop("process_cpu_seconds")
                demos.append((seconds, stages))
            demo, stages = min(demos, key=lambda d: d[0])
            best = {name: min(values) for name, values in floors.items()}
            results[label] = {
                "demo_seconds": demo,
                "floor_standard_launch_seconds": best["standard_launch"],
                "floor_runner_seconds": best["runner"],
                "ratio_to_standard_launch_floor": demo / best["standard_launch"],
                "ratio_to_runner_floor": demo / best["runner"],
                # what the reports themselves add: unlike the ratio, it does not grow when the runner gets faster
                "seconds_over_runner_floor": demo - best["runner"],
                "stages": stages,
                "load_average_1min": os.getloadavg()[0],
            }
            print(
                f"demo ({label}{', ' + str(code_root) if code_root else ''}): {demo:.1f} s; floor with the standard "
                f"kernel launch {best['standard_launch']:.1f} s (ratio {demo / best['standard_launch']:.2f}), floor "
                f"through the runner {best['runner']:.1f} s (ratio {demo / best['runner']:.2f}, "
                f"{demo - best['runner']:.1f} s over it); load "
                f"{results[label]['load_average_1min']:.1f}",
                flush=True,
            )
            names = ("kernel", "cells", "html", "pdf", "summary_and_gate", "total")
            print(f"  {'seconds per report':<22}" + "".join(f"{n:>18}" for n in names), flush=True)
            for report, times in sorted(stages.items()):
                print(f"  {report:<22}" + "".join(f"{times[n]:>18.2f}" for n in names), flush=True)
        one = [_process(_one_report_command(sample, Path(tmp) / f"one-{i}"), code_root)["seconds"] for i in range(repeats)]
        results["one_report_seconds"] = min(one)
        print(f"one report, as `escalation-review report contract-monitoring` makes it (with its PDF): {min(one):.1f} s; "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
        sizes = {report: times["html_mb"] for report, times in results["with_pdf"]["stages"].items()}
        results["html_mb"] = sizes
        results["html_within_limit"] = bool(sizes) and all(mb <= HTML_LIMIT_MB for mb in sizes.values())
        print("report.html sizes: " + ", ".join(f"{k} {v:.2f} MB" for k, v in sorted(sizes.items()))
              + (f" (each at most {HTML_LIMIT_MB:g} MB)" if results["html_within_limit"]
                 else f" (NOT all at most {HTML_LIMIT_MB:g} MB)"), flush=True)
    return results


def closing_table(report: dict) -> list[str]:
    """Issue 17's figures beside this run's, one line each."""
    now: dict[str, str] = {}
    for size in report["sizes"]:
        label = f"{size['rows'] // 1_000_000}M" if size["rows"] >= 1_000_000 else f"{size['rows'] // 1000}k"
        if size["rows"] in (1_000_000, 10_000_000):
            now[f"{label} whole-process ratio (summary / pyarrow read)"] = (
                f"{size['ratio_whole_process']:.1f} ({size['summary_command_seconds']:.2f} s / "
                f"{size['pyarrow_read_process_seconds']:.2f} s); in-process {size['ratio_in_process']:.1f}, "
                f"floor {size['ratio_floor']:.1f}; CPU {size['cpu_ratio_whole_process']:.1f}")
            now[f"{label} peak RSS"] = (f"{size['summary_command_peak_rss_mb'] / 1000:.2f} GB = "
                                        f"{size['ratio_peak_rss_to_arrow']:.2f} x Arrow {size['arrow_mb'] / 1000:.2f} GB "
                                        f"(read {size['read_peak_rss_mb'] / 1000:.2f} GB)")
    if "demo" in report:
        sizes = report["demo"]["html_mb"].values()
        now["report.html"] = f"{min(sizes):.2f}-{max(sizes):.2f} MB"
        with_pdf = report["demo"]["with_pdf"]
        now["demo / runner's warm floor"] = (f"{with_pdf['ratio_to_runner_floor']:.1f} ({with_pdf['demo_seconds']:.1f} s / "
                                             f"{with_pdf['floor_runner_seconds']:.1f} s: "
                                             f"{with_pdf['seconds_over_runner_floor']:.1f} s over it)")
        now["one report (contract monitoring, with PDF)"] = f"{report['demo']['one_report_seconds']:.1f} s"
    for xlsx in report.get("xlsx_against_csv", []):
        if xlsx["rows"] == 100_000:
            now["validate XLSX / CSV, 100k rows"] = (f"{xlsx['ratio_xlsx_to_csv']:.1f} ({xlsx['validate_xlsx_seconds']:.1f} s / "
                                                     f"{xlsx['validate_csv_seconds']:.1f} s)")
    lines = [f"{'':<50}{'issue 17 (before)':<32}this run (load {os.getloadavg()[0]:.1f})"]
    for name in dict.fromkeys([*ISSUE_17, *now]):
        lines.append(f"{name:<50}{ISSUE_17.get(name, ''):<32}{now.get(name, 'not measured')}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000, 10_000_000],
                        help="export sizes to measure (none: only the workbook and the demo)")
    parser.add_argument("--repeats", type=int, default=2, help="best of N runs per measure")
    parser.add_argument("--xlsx", type=int, nargs="*", default=[100_000], metavar="ROWS",
                        help="sizes at which to time validate on a workbook against the same CSV (default 100000)")
    parser.add_argument("--no-xlsx", action="store_true", help="skip the workbook against CSV")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo reports")
    parser.add_argument("--before", type=Path, metavar="CHECKOUT",
                        help="also measure the package in another checkout (e.g. `git worktree add /tmp/before main`), "
                             "each size's rounds alternating between the two; the workbook and the demo one side after the other")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()
    sides = {"now": None} if args.before is None else {"before": args.before.resolve(), "now": None}
    reports = {side: {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                  "platform": platform.platform()}, "sizes": []} for side in sides}
    for rows in args.sizes:
        for side, result in measure(rows, args.repeats if rows < 5_000_000 else 1, sides).items():
            reports[side]["sizes"].append(result)
    if not args.no_xlsx:
        for rows in args.xlsx:
            for side, code in sides.items():
                reports[side].setdefault("xlsx_against_csv", []).append(xlsx_against_csv(rows, max(args.repeats, 3), code_root=code))
    if not args.no_demo:
        for side, code in sides.items():
            reports[side]["demo"] = demo_timing(args.repeats, code)
    print()
    for side, report in reports.items():
        report["closing_table"] = closing_table(report)
        print(f"{side} ({sides[side] or ROOT}):" if len(sides) > 1 else "")
        print("\n".join(report["closing_table"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(reports if len(sides) > 1 else reports["now"], indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
