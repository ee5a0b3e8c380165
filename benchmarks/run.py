"""Benchmarks: the full pipeline against the I/O limit, at 100k, 1M and 10M rows.

Run from the repository root (one command)::

    python benchmarks/run.py                       # 100k, 1M and 10M rows
    python benchmarks/run.py --sizes 100000 1000000 --demo

For each size it generates a synthetic export with the sample generator (cached under
``benchmarks/data/``), then measures in fresh processes, side by side:

(a) reading the CSV with pandas' pyarrow engine alone;
(b) the full pipeline: load through the mapping profile, validate, account for every row,
    and compute every summary KPI (``analyse`` + ``build_summary``);
(c) the steps no version of the pipeline can skip, alone: reading the cells as text with
    blanks made missing, telling references apart (duplicates), pseudonymising service
    users, reading two dates and times, and one sort of the delays. Its ratio to (a) is a
    floor under (b)'s: what is left between (c) and (b) is what the analytics cost.

It reports b/a, peak resident memory and rows per second, and writes everything to
``benchmarks/results/latest.json``. With ``--xlsx`` it also times ``escalation-review validate``
on the same export as a CSV and as an Excel workbook, side by side (the workbook's target: at
most three times the CSV), and reading the workbook alone with pandas' openpyxl and calamine
engines and with the project's reader. With ``--demo`` it also times ``escalation-review demo``
against the kernel-start floor (the same number of empty notebooks through papermill, two at a
time, with the same HTML/PDF export), once with papermill's standard kernel launch and once
through the project's runner with its warm kernels, and checks each report.html is under 6 MB.
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

_READ = """
import resource, sys, time
import pandas as pd
t = time.perf_counter()
frame = pd.read_csv(sys.argv[1], engine="pyarrow")
seconds = time.perf_counter() - t
print({"seconds": seconds, "rows": len(frame), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
"""

_PIPELINE = """
import resource, sys, time
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.reviews.summary import build_summary
t = time.perf_counter()
analysis = analyse(sys.argv[1], sys.argv[2], sys.argv[3], "2024-04-01", "2026-03-31")
loaded = time.perf_counter() - t
summary = build_summary(analysis)
seconds = time.perf_counter() - t
quality = summary.data["data_quality"]
print({"seconds": seconds, "load_seconds": loaded, "rows": quality["rows_read"],
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
t = time.perf_counter()
cells = read_export(sys.argv[1], encoding=profile.encoding, delimiter=profile.delimiter,
                    missing_values=profile.missing_values).cells
read = time.perf_counter() - t
columns = lambda field: [cells[name] for name in profile.local_columns(field)]
pd.factorize(columns("incident_id")[0])
pseudonymise(columns("service_user_id")[0], "service_user_id", key)
instants = [combine_date_time(*columns(f), dayfirst=profile.dayfirst, fmt=None, timezone=profile.timezone).naive
            for f in ("risk_identified_at", "escalated_at")]
np.sort((instants[1] - instants[0]).dropna().to_numpy())
print({"seconds": time.perf_counter() - t, "read_seconds": read,
       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
"""


def _child(code: str, *args: str) -> dict:
    env = {**os.environ, "ESCALATION_ANALYSIS_KEY": os.environ.get("ESCALATION_ANALYSIS_KEY", "benchmark-key-not-secret-0123456789abcdef")}
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{result.stderr[-2000:]}")
    return eval(result.stdout.strip().splitlines()[-1], {})  # our own child's dict literal


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


def measure(rows: int, repeats: int) -> dict:
    folder, generated = generate(rows)
    export = str(folder / "incidents.csv")
    reads = [_child(_READ, export) for _ in range(repeats)]
    pipelines = [_child(_PIPELINE, export, str(folder / "mapping.yaml"), str(folder / "pathway.yaml")) for _ in range(repeats)]
    required = [_child(_REQUIRED, export, str(folder / "mapping.yaml")) for _ in range(repeats)]
    read = min(reads, key=lambda r: r["seconds"])
    pipeline = min(pipelines, key=lambda r: r["seconds"])
    floor = min(required, key=lambda r: r["seconds"])
    result = {
        "rows": rows,
        "file_mb": (folder / "incidents.csv").stat().st_size / 1e6,
        "pyarrow_read_seconds": read["seconds"],
        "pipeline_seconds": pipeline["seconds"],
        "pipeline_load_seconds": pipeline["load_seconds"],
        "ratio_pipeline_to_read": pipeline["seconds"] / read["seconds"],
        "required_steps_seconds": floor["seconds"],
        "required_steps_text_read_seconds": floor["read_seconds"],
        "ratio_required_steps_to_read": floor["seconds"] / read["seconds"],
        "rows_per_second": rows / pipeline["seconds"],
        "read_peak_rss_mb": read["peak_rss_mb"],
        "pipeline_peak_rss_mb": pipeline["peak_rss_mb"],
        "rows_analysed": pipeline["rows_analysed"],
        "rows_excluded": pipeline["rows_excluded"],
        "load_average_1min": os.getloadavg()[0],  # other work on the machine makes both measures noisy
    }
    if generated is not None:
        result["generator_seconds"] = generated["seconds"]
        result["generator_peak_rss_mb"] = generated["peak_rss_mb"]
    print(
        f"{rows:>12,} rows: read {read['seconds']:.2f} s, pipeline {pipeline['seconds']:.2f} s "
        f"(ratio {result['ratio_pipeline_to_read']:.2f}; steps no pipeline can skip {floor['seconds']:.2f} s, "
        f"ratio {result['ratio_required_steps_to_read']:.2f}), {result['rows_per_second']:,.0f} rows/s, "
        f"peak {pipeline['peak_rss_mb']:,.0f} MB",
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


def _validate(export: Path, mapping: Path) -> dict:
    """``escalation-review validate`` as a user types it, in a fresh process: wall and CPU seconds."""
    env = {**os.environ, "ESCALATION_ANALYSIS_KEY": os.environ.get("ESCALATION_ANALYSIS_KEY", "benchmark-key" * 3)}
    before = os.times()
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "escalation_analysis.cli", "validate", str(export), "--mapping", str(mapping)],
                   check=True, capture_output=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - t
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"seconds": seconds, "cpu_seconds": cpu}


def xlsx_against_csv(rows: int, repeats: int, engines: bool = True) -> dict:
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
            runs[kind].append(_validate(folder / f"incidents.{kind}", mapping))
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
        f"{rows:>12,} rows, validate: CSV {best['csv']['seconds']:.2f} s, workbook {best['xlsx']['seconds']:.2f} s "
        f"(ratio {result['ratio_xlsx_to_csv']:.2f}; CPU {cpu['csv']:.2f} s and {cpu['xlsx']:.2f} s, "
        f"ratio {result['ratio_xlsx_to_csv_cpu']:.2f})",
        flush=True,
    )
    if engines:
        reads = {engine: _child(_WORKBOOK_READ, str(folder / "incidents.xlsx"), engine)["seconds"]
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


def demo_timing(repeats: int = 1) -> dict:
    """``escalation-review demo`` against the kernel-start floor, best of ``repeats``.

    The floor is the same number of empty notebooks (four) through papermill, two at a time like the
    demo, with the same HTML and PDF export, timed twice: with papermill's standard kernel launch, and
    through the project's runner with its warm kernels (what the demo uses). Demo and floors each run in a
    fresh process (the demo as the command a user types), interleaved, so that both pay the same start-up
    and machine load.
    """
    results: dict = {"floors": _FLOORS}
    with tempfile.TemporaryDirectory() as tmp:
        for pdf in (False, True):
            label = "with_pdf" if pdf else "html_only"
            demos, floors = [], {name: [] for name in _FLOORS}
            for i in range(repeats):
                for name in _FLOORS:
                    floors[name].append(_child(_FLOOR, "pdf" if pdf else "html", name)["seconds"])
                out = Path(tmp) / f"demo-{label}-{i}"
                args = [sys.executable, "-m", "escalation_analysis.cli", "demo", "--out", str(out)]
                t = time.perf_counter()
                subprocess.run(args + ([] if pdf else ["--no-pdf"]), check=True, cwd=ROOT, capture_output=True)
                demos.append(time.perf_counter() - t)
            demo = min(demos)
            best = {name: min(values) for name, values in floors.items()}
            results[label] = {
                "demo_seconds": demo,
                "floor_standard_launch_seconds": best["standard_launch"],
                "floor_runner_seconds": best["runner"],
                "ratio_to_standard_launch_floor": demo / best["standard_launch"],
                "ratio_to_runner_floor": demo / best["runner"],
                "load_average_1min": os.getloadavg()[0],
            }
            print(
                f"demo ({label}): {demo:.1f} s; floor with the standard kernel launch {best['standard_launch']:.1f} s "
                f"(ratio {demo / best['standard_launch']:.2f}), floor through the runner {best['runner']:.1f} s "
                f"(ratio {demo / best['runner']:.2f})",
                flush=True,
            )
        sizes = {p.parent.name: p.stat().st_size / 1e6 for p in Path(tmp).glob("demo-with_pdf-0/*/report.html")}
        results["html_mb"] = sizes
        results["html_under_6_mb"] = bool(sizes) and all(mb < 6 for mb in sizes.values())
        print("report.html sizes: " + ", ".join(f"{k} {v:.1f} MB" for k, v in sorted(sizes.items()))
              + (" (each under 6 MB)" if results["html_under_6_mb"] else " (NOT all under 6 MB)"), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=2, help="best of N runs per measure")
    parser.add_argument("--demo", action="store_true", help="also time the demo reports")
    parser.add_argument("--xlsx", type=int, nargs="*", metavar="ROWS",
                        help="time validate on a workbook against the same CSV (default 100000 rows); "
                             "with --xlsx alone no other size is measured unless --sizes is given")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()
    sizes = args.sizes
    if args.xlsx is not None and "--sizes" not in sys.argv:
        sizes = []
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "sizes": [measure(rows, args.repeats if rows < 5_000_000 else 1) for rows in sizes],
    }
    if args.xlsx is not None:
        report["xlsx_against_csv"] = [xlsx_against_csv(rows, max(args.repeats, 3)) for rows in args.xlsx or [100_000]]
    if args.demo:
        report["demo"] = demo_timing(args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
