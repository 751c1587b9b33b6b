"""Cost of one full wfdoctor sample vs the spec's psutil snippet, side by side.

One full sample = SystemProbe.read() (CPU per core, load, clock, memory, swap
rates, disks, temperatures, every process scanned for top-N by CPU and RSS)
plus an NVML reading of every GPU when one is present (session kept open).
The spec's snippet is its diagnose_performance() with `interval=1` replaced
by the non-blocking `interval=None`, without GPUtil (not installed; it shells
out to nvidia-smi per call). Also shown: the same process scan done with
psutil.process_iter, which the probe avoids.

CPU time (time.process_time_ns) is measured, in interleaved rounds so that
machine noise hits all variants alike; medians are printed with the ratio and
the share of one core a 1 Hz monitor would use. Target: < 0.2 % of one core.

Usage: .venv/bin/python benchmarks/bench_sample_cost.py [--rounds 30] [--per-round 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from wfdoctor.sense.gpu_nvml import NvmlSession, parse_gpus
from wfdoctor.sense.system import SystemProbe


def spec_snippet() -> dict[str, float]:
    """WF-TECH-010's diagnostic script, non-blocking, minus GPUtil."""
    return {
        "cpu_percent": psutil.cpu_percent(interval=None),
        "memory_percent": psutil.virtual_memory().percent,
        "disk_usage": psutil.disk_usage("/").percent,
    }


def psutil_process_scan() -> int:
    return len(list(psutil.process_iter(["pid", "name", "cpu_times", "memory_info"])))


def cpu_ms_per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.process_time_ns()
    for _ in range(calls):
        fn()
    return (time.process_time_ns() - start) / calls / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--per-round", type=int, default=20)
    args = parser.parse_args()

    probe = SystemProbe(paths={"data": Path.home(), "root": Path("/")}, top=5)
    nvml = NvmlSession()
    has_gpu = nvml.open() and bool(nvml.read())

    def full_sample() -> None:
        probe.read()
        if has_gpu:
            parse_gpus(nvml.read())

    variants: dict[str, Callable[[], object]] = {
        "wfdoctor full sample": full_sample,
        "spec snippet (non-blocking)": spec_snippet,
        "psutil.process_iter scan alone": psutil_process_scan,
    }
    for fn in variants.values():  # warm caches and psutil's internal state
        fn()
    costs: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            costs[name].append(cpu_ms_per_call(fn, args.per_round))
    nvml.close()

    processes = len(psutil.pids())
    print(f"machine: {psutil.cpu_count()} logical CPUs, {processes} processes, GPU: "
          f"{nvml.status or 'none'}")
    print(f"{'variant':<34} {'median CPU ms':>14} {'p90 CPU ms':>11} {'1 Hz core share':>16}")
    medians = {}
    for name, values in costs.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        medians[name] = median
        print(f"{name:<34} {median:>14.3f} {p90:>11.3f} {median / 1000:>15.3%}")
    full, spec = medians["wfdoctor full sample"], medians["spec snippet (non-blocking)"]
    print(f"ratio wfdoctor full sample / spec snippet: {full / spec:.1f}x "
          f"(the snippet reads 3 numbers; the full sample reads every core, process and disk)")
    print(f"ratio psutil.process_iter scan / wfdoctor full sample: "
          f"{medians['psutil.process_iter scan alone'] / full:.2f}x")
    share = full / 1000
    print(f"target: full sample at 1 Hz < 0.200% of one core -> {share:.3%} "
          f"({'met' if share < 0.002 else 'NOT met'})")


if __name__ == "__main__":
    main()
