"""Time to build the HTML report of a run of 10,000 samples, and its size.

Two runs of 10,000 samples each, stored in a fresh database:
- monitor: 10 registered metrics x 1,000 points a second apart (10 plots), 20 alert transitions and 5 actions (each plot
  marks them);
- tokens: 10,000 per-request TTFTs over 4 concurrency levels, their ITL percentiles and throughput (a box
  plot per level with 200 requests drawn as dots, the percentiles, the sweep and its knee).
For each, `wfdoctor report RUN --format html` as a user runs it (a fresh process: start-up, the database
read, matplotlib's import and the drawing included) and, in this process, build_report (the store and the
analysis) and the HTML (the drawing), each timed apart. Ranges over RUNS runs; nothing is asserted.

Usage: .venv/bin/python benchmarks/bench_report.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wfdoctor.app.report import build_report
from wfdoctor.app.reports.report import ReportTarget
from wfdoctor.model import ActionRecord, Alert, AlertState, Run, Sample
from wfdoctor.store.db import Store
from wfdoctor.store.monitoring import MonitorStore
from wfdoctor.surface import plots, report_html

RUNS = 3
SAMPLES = 10_000
START = 1_790_000_000.0


def monitor_run(store: MonitorStore) -> int:
    metrics = ["wf_cpu_utilization_ratio", "wf_cpu_frequency_ratio", "wf_memory_used_ratio", "wf_disk_used_ratio",
               "wf_gpu_utilization_ratio", "wf_gpu_memory_used_ratio", "wf_cpu_core_utilization_ratio",
               "wf_llm_failed_streams_ratio", "wf_llm_model_vram_ratio", "wf_council_efficiency_ratio"]
    samples = [Sample(name, (i % 97) / 97, "ratio", "bench", {}, START + i)
               for name in metrics for i in range(SAMPLES // len(metrics))]
    run = Run("monitor", START)
    with store.recording(run):
        store.add_results(run.id, samples, [])  # type: ignore[arg-type]
    assert run.id is not None
    for n in range(20):
        alert = Alert("HighCPU", {"alertname": "HighCPU", "n": str(n)}, {}, AlertState.FIRING, 0.9, START + 40 * n)
        store.add_alert_events(run.id, [alert], START + 40 * n + 5)
    for n in range(5):
        store.add_action(run.id, ActionRecord("renice", f"pid {n}", "L1", True, "cpu", {}, {}, ts=START + 150 * n))
    return run.id


def tokens_run(store: Store) -> int:
    levels = (1, 2, 4, 8)
    samples = [Sample("wf_llm_request_ttft_seconds", 0.05 * c + (i % 50) / 1000, "s", "bench",
                      {"concurrency": str(c), "request": str(i)}, START)
               for c in levels for i in range(SAMPLES // len(levels))]
    samples += [Sample("wf_llm_inter_token_latency_seconds", 0.01 * c * k, "s", "bench",
                       {"concurrency": str(c), "stat": stat}, START)
                for c in levels for k, stat in enumerate(("p50", "p90", "p99"), start=1)]
    samples += [Sample("wf_llm_output_tokens_per_second", 20.0 * min(c, 4), "tokens/s", "bench",
                       {"concurrency": str(c)}, START) for c in levels]
    run = Run("tokens", START, settings={"model": "bench"})
    with store.recording(run):
        store.add_results(run.id, samples, [])  # type: ignore[arg-type]
    assert run.id is not None
    return run.id


def in_process(db: Path, run_id: int) -> tuple[float, float, int]:
    """(build_report s, HTML s, HTML bytes)."""
    started = time.perf_counter()
    with Store.open(db) as store:
        document = build_report(store, ReportTarget("run", run_id))
    built = time.perf_counter()
    html = report_html.render(document, plots.svg)
    return built - started, time.perf_counter() - built, len(html.encode("utf-8"))


def command(db: Path, run_id: int, out: Path) -> float:
    """Wall seconds of `wfdoctor report RUN --format html` in a fresh process."""
    env = os.environ | {"WFDOCTOR_DB": str(db)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "wfdoctor", "report", str(run_id), "--format", "html", "--out", str(out)],
                   check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def span(values: list[float], unit: str, scale: float = 1.0) -> str:
    return f"{min(values) * scale:.2f}-{max(values) * scale:.2f} {unit}"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        with MonitorStore.open(db) as store:
            runs = {"monitor": monitor_run(store), "tokens": tokens_run(store)}
        print(f"report of a run of {SAMPLES:,} samples, {RUNS} runs each (ranges: min-max)")
        for name, run_id in runs.items():
            timings = [in_process(db, run_id) for _ in range(RUNS)]
            walls = [command(db, run_id, Path(folder) / name) for _ in range(RUNS)]
            size = (Path(folder) / f"{name}.html").stat().st_size
            print(f"  {name:8} wfdoctor report (fresh process) {span(walls, 's')}; in process: build_report "
                  f"{span([t[0] for t in timings], 's')}, drawing + HTML {span([t[1] for t in timings], 's')}; "
                  f"HTML {size / 1e6:.2f} MB (sizes {span([t[2] for t in timings], 'MB', 1e-6)})")


if __name__ == "__main__":
    main()
