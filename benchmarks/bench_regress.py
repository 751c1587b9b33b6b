"""Regression detection: speed, and the spec's detector side by side.

1. 20 metrics x 1,000 points through the detector (target: under 1 s in total),
   and one split scan of the rank statistic done straightforwardly (every split
   compares all left/right pairs: O(n^2) per split) against ours (prefix sums
   of ranks: O(n) for all splits), on the same 1,000 points.
2. The synthetic acceptance cases (300 series each, fixed seeds) through
   wfdoctor and through WF-TECH-010's detector (older half vs newer half as its
   24 h windows, >= 10 samples each, mean 15 % worse): how often each reports.

Usage: .venv/bin/python benchmarks/bench_regress.py
"""

from __future__ import annotations

import time

import numpy as np

from wfdoctor.analyze.regression import (Settings, _ranks, _split_z, detect_changes, regression_at_end,
                                         spec_window_detector)

HIGHER = Settings(higher_is_better=True)


def naive_scan(values: np.ndarray, min_size: int = 3) -> np.ndarray:
    """Mann-Whitney z for every split, counting pairs directly."""
    n = len(values)
    out = []
    for k in range(min_size, n - min_size + 1):
        left, right = values[:k], values[k:]
        u = np.sum(left[:, None] > right[None, :]) + 0.5 * np.sum(left[:, None] == right[None, :])
        n1, n2 = k, n - k
        out.append((u - n1 * n2 / 2) / np.sqrt(n1 * n2 * (n + 1) / 12))
    return np.asarray(out)


def speed() -> None:
    rng = np.random.default_rng(0)
    metrics = []
    for _ in range(20):
        values = 100 * (1 + 0.05 * rng.standard_normal(1000))
        values[500:] *= 0.9
        metrics.append(list(values))
    start = time.perf_counter()
    for values in metrics:
        detect_changes(values, HIGHER)
    total = time.perf_counter() - start
    print(f"1. 20 metrics x 1,000 points: {total:.2f} s in total (target < 1 s)")
    values = np.asarray(metrics[0])
    start = time.perf_counter()
    fast = np.abs(_split_z(_ranks(values), 3)[0])
    ours = time.perf_counter() - start
    start = time.perf_counter()
    slow = np.abs(naive_scan(values))
    naive = time.perf_counter() - start
    assert int(fast.argmax()) == int(slow.argmax())
    print(f"   one split scan of 1,000 points: ours {ours * 1000:.2f} ms, straightforward O(n^2)-per-split "
          f"{naive * 1000:.0f} ms: {naive / ours:.0f}x (same best split)")


def cases() -> None:
    def noisy(rng: np.random.Generator, n: int = 100) -> np.ndarray:
        return 100 * (1 + 0.05 * rng.standard_normal(n))

    def step(rng: np.random.Generator) -> np.ndarray:
        values = noisy(rng)
        values[50:] *= 0.9
        return values

    def outliers(rng: np.random.Generator) -> np.ndarray:
        values = noisy(rng)
        values[rng.random(100) < 0.03] *= 0.6  # -40 %: the bad direction for throughput
        return values

    def revert(rng: np.random.Generator) -> np.ndarray:
        values = noisy(rng)
        values[60:62] *= 0.85
        return values

    print("2. share of 300 series reported as a regression (wfdoctor | WF-TECH-010's 24 h / 15 % detector)")
    for name, make, seed in (("stationary noise, CV 5 % (want ~0)", noisy, 1), ("10 % step at 50 (want ~1)", step, 2),
                             ("3 % outliers at -40 % (want ~0)", outliers, 3),
                             ("step reverting after 2 points (want ~0)", revert, 4)):
        rng = np.random.default_rng(seed)
        ours = spec = 0
        for _ in range(300):
            values = make(rng)
            ours += regression_at_end(detect_changes(list(values), HIGHER), len(values)) is not None
            spec += spec_window_detector(list(values[:50]), list(values[50:]), higher_is_better=True)
        print(f"   {name:<42} {ours / 300:6.1%} | {spec / 300:6.1%}")


if __name__ == "__main__":
    speed()
    cases()
