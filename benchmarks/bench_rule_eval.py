"""Rule evaluation: the default alert rules over the in-memory SampleWindow vs re-querying the store each tick.

Usage: PYTHONPATH=src .venv/bin/python benchmarks/bench_rule_eval.py

100 series (CPU and 16 cores, memory, swap, disk, 2 GPUs, 2 LLM servers, the token
canary, council, leak slope, UI frame time, 60 process RSS series no rule reads) fed at
1 Hz; 10 minutes of history first, then TICKS measured ticks. Each tick both paths take
the new samples and evaluate the default rules (tier mid) at that instant:
- window: `SampleWindow.add` + `AlertEngine.evaluate` (what the monitor does);
- store:  `Store.add_samples` into SQLite, then the run's samples read back with
  `samples_of` (those of the last 10 minutes kept) into a fresh window, then evaluate.
Throughput is rules x samples held per second (rules evaluated over the window's points).
Both are measured side by side in one run, REPEATS times; the ratio is printed with its range.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from wfdoctor.analyze.alerting import AlertEngine
from wfdoctor.analyze.window import SampleWindow
from wfdoctor.config.alerts import load_alert_rules
from wfdoctor.config.facts import load_facts
from wfdoctor.config.metrics import load_metrics
from wfdoctor.model import Run, Sample
from wfdoctor.store.db import Store

WINDOW_S = 600.0
TICKS = 20
REPEATS = 3
T0 = 1_700_000_000.0
SERIES: list[tuple[str, dict[str, str], float]] = [
    ("wf_cpu_utilization_ratio", {"window_s": "1"}, 0.5),
    *(("wf_cpu_core_utilization_ratio", {"core": str(c), "window_s": "1"}, 0.5) for c in range(16)),
    ("wf_memory_used_ratio", {}, 0.7),
    *(("wf_swap_bytes_per_second", {"direction": d, "window_s": "1"}, 1000.0) for d in ("in", "out")),
    *(("wf_disk_used_ratio", {"path": p, "role": r}, 0.6) for p, r in (("/", "database"), ("/models", "models"))),
    *(("wf_gpu_memory_used_ratio", {"gpu": str(g), "name": "H100"}, 0.8) for g in range(2)),
    *(("wf_gpu_temperature_celsius", {"gpu": str(g), "name": "H100"}, 70.0) for g in range(2)),
    *(("wf_llm_server_up", {"url": f"http://127.0.0.1:{p}", "kind": "ollama"}, 1.0) for p in (11434, 8080)),
    ("wf_llm_decode_tokens_per_second", {"concurrency": "1", "stat": "p50"}, 70.0),
    ("wf_llm_time_to_first_token_seconds", {"concurrency": "1", "stat": "p50"}, 0.8),
    ("wf_llm_failed_streams_ratio", {"concurrency": "1"}, 0.0),
    ("wf_council_efficiency_ratio", {"members": "2"}, 0.8),
    ("wf_council_sync_delay_seconds", {"members": "2"}, 0.05),
    ("wf_memory_growth_bytes_per_minute", {"pid": "42", "name": "ollama"}, 1e5),
    ("wf_ui_frame_time_seconds", {}, 0.015),
    *(("wf_process_resident_memory_bytes", {"pid": str(p), "name": f"proc{p}"}, 1e8) for p in range(65)),
]
BASELINES = {"wf_llm_decode_tokens_per_second": 75.0, "wf_llm_time_to_first_token_seconds": 0.7}


def tick_samples(second: int) -> list[Sample]:
    """One tick of every series: its level with a slow wave, so thresholds are crossed now and then."""
    registry = load_metrics()
    wave = 1.0 + 0.2 * math.sin(second / 30.0)
    return [Sample(metric, level * wave, registry.specs[metric].unit, "bench", labels, T0 + second)
            for metric, labels, level in SERIES]


def in_memory(engine: AlertEngine, window: SampleWindow) -> Callable[[list[Sample]], int]:
    def step(samples: list[Sample]) -> int:
        window.add(samples)
        engine.evaluate(window, samples[0].ts)
        return len(window)
    return step


def from_store(engine: AlertEngine, store: Store, run_id: int) -> Callable[[list[Sample]], int]:
    def step(samples: list[Sample]) -> int:
        now = samples[0].ts
        store.add_samples(run_id, samples)
        window = SampleWindow(WINDOW_S)
        window.add(s for s in store.samples_of(run_id) if s.ts > now - WINDOW_S)
        engine.evaluate(window, now)
        return len(window)
    return step


def measure(step: Callable[[list[Sample]], int], rules: int) -> tuple[float, float]:
    """(rules x samples held per second, seconds per tick) over TICKS ticks after the history."""
    ticks = [tick_samples(second) for second in range(int(WINDOW_S), int(WINDOW_S) + TICKS)]
    work, started = 0, time.perf_counter()
    for samples in ticks:
        work += rules * step(samples)
    elapsed = time.perf_counter() - started
    return work / elapsed, elapsed / TICKS


def one_round(directory: Path, index: int) -> tuple[tuple[float, float], tuple[float, float]]:
    rules = load_alert_rules(load_facts(), "mid")
    history = [tick_samples(second) for second in range(int(WINDOW_S))]
    window = SampleWindow(WINDOW_S)
    for samples in history:
        window.add(samples)
    with Store.open(directory / f"bench{index}.db") as store:
        run_id = store.begin_run(Run(command="bench", started_at=T0))
        store.add_samples(run_id, [s for samples in history for s in samples])
        fast = measure(in_memory(AlertEngine(rules, baselines=BASELINES), window), len(rules))
        slow = measure(from_store(AlertEngine(rules, baselines=BASELINES), store, run_id), len(rules))
    return fast, slow


def main() -> None:
    print(f"{len(load_alert_rules(load_facts(), 'mid'))} rules, {len(SERIES)} series at 1 Hz, "
          f"{WINDOW_S:.0f} s window, {TICKS} ticks per path, {REPEATS} rounds")
    ratios = []
    with tempfile.TemporaryDirectory() as directory:
        for index in range(REPEATS):
            (fast, fast_tick), (slow, slow_tick) = one_round(Path(directory), index)
            ratios.append(fast / slow)
            print(f"round {index + 1}: window {fast / 1e6:7.1f} M rule-samples/s ({fast_tick * 1e3:6.2f} ms/tick)   "
                  f"store re-query {slow / 1e6:5.2f} M rule-samples/s ({slow_tick * 1e3:6.1f} ms/tick)   "
                  f"ratio {fast / slow:5.0f}x")
    print(f"window / store re-query: {min(ratios):.1f}x - {max(ratios):.1f}x (median {sorted(ratios)[1]:.1f}x)")


if __name__ == "__main__":
    main()
