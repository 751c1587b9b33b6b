"""Memory diagnostics, side by side in one run.

1. Leak analysis of 10,000 samples: wfdoctor's verdict (thinning to 1,000
   points, Mann-Kendall with Yue-Wang correction, Theil-Sen with Sen's interval,
   breakpoint search) against a plain SciPy implementation of the same two tests
   on all 10,000 points (scipy.stats.kendalltau for Mann-Kendall's S,
   scipy.stats.theilslopes for the slope): milliseconds and ratio.
2. Profiling overhead on an allocation-heavy workload: no profiling, wfdoctor's
   profiler at its default (1 frame), plain tracemalloc with 25 frames.
   Target: <= 1.5x no profiling at default settings.

Usage: .venv/bin/python benchmarks/bench_memory.py   (SciPy part needs `pip install scipy`)
"""

from __future__ import annotations

import statistics
import time
import tracemalloc

import numpy as np

from wfdoctor.analyze.leaks import leak_verdict
from wfdoctor.config.facts import load_facts
from wfdoctor.measure.pyprofile import MemoryProfiler

FACTS = load_facts()


def series(n: int = 10_000) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(0)
    t = np.arange(n, dtype=float)
    return list(t), list(500e6 + 1e3 * t + rng.normal(0, 3e6, n))


def best_ms(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def leak_analysis() -> None:
    t, y = series()
    ours = best_ms(lambda: leak_verdict(t, y, limits=FACTS.limits.leaks,
                                        floor_bytes_per_minute=FACTS.common["memory_leak_bytes_per_minute"]))
    print(f"1. leak verdict on 10,000 samples: wfdoctor {ours:.1f} ms")
    try:
        from scipy import stats
    except ImportError:
        print("   scipy not installed: no comparison")
        return

    def plain() -> None:
        stats.kendalltau(t, y)
        stats.theilslopes(y, t)

    theirs = best_ms(plain, repeats=1)
    print(f"   plain SciPy (kendalltau + theilslopes on all points) {theirs:.1f} ms: ratio {theirs / ours:.1f}x")


def workload() -> int:
    total = 0
    for i in range(200_000):
        item = [i, str(i), (i, i + 1)]
        total += len(item)
    return total


def profiling_overhead() -> None:
    def none() -> None:
        workload()

    def ours() -> None:
        with MemoryProfiler(collect=False):
            workload()

    def plain25() -> None:
        tracemalloc.start(25)
        workload()
        tracemalloc.stop()

    runs = {name: [] for name in ("no profiling", "wfdoctor (1 frame)", "tracemalloc (25 frames)")}
    for _ in range(5):
        for name, fn in zip(runs, (none, ours, plain25)):
            runs[name].append(best_ms(fn, repeats=1))
    base = statistics.median(runs["no profiling"])
    print("2. allocation-heavy workload (200,000 iterations, median of 5):")
    for name, values in runs.items():
        print(f"   {name:<25} {statistics.median(values):8.1f} ms  {statistics.median(values) / base:5.2f}x")


if __name__ == "__main__":
    leak_analysis()
    profiling_overhead()
