"""Leak verdicts: synthetic series by the hundred, then real child processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import numpy as np
import pytest

from wfdoctor.analyze.leaks import LeakVerdict, leak_verdict, trend_and_slope
from wfdoctor.config.facts import load_facts

MB = 1e6
FACTS = load_facts()


def verdict(times_s: list[float], values: list[float]) -> LeakVerdict:
    """The verdict under the packaged limits and leak floor."""
    return leak_verdict(times_s, values, limits=FACTS.limits.leaks,
                        floor_bytes_per_minute=FACTS.common["memory_leak_bytes_per_minute"])


def ar1_sawtooth(rng: np.random.Generator, growth: float = 0.0, n: int = 300, level: float = 500 * MB,
                 sd: float = 3 * MB, phi: float = 0.8, saw: float = 20 * MB, period: int = 30) -> tuple:
    """1 Hz series: AR(1) noise (phi 0.8) + a GC-like sawtooth + `growth` x level over the window."""
    shocks = rng.normal(0, sd * np.sqrt(1 - phi ** 2), n)
    noise = np.zeros(n)
    for i in range(1, n):
        noise[i] = phi * noise[i - 1] + shocks[i]
    sawtooth = saw * (np.arange(n) % period) / period
    trend = level * growth * np.arange(n) / (n - 1)
    return list(np.arange(n, dtype=float)), list(level + noise + sawtooth + trend)


def test_autocorrelated_noise_with_a_sawtooth_is_almost_never_a_leak() -> None:
    rng = np.random.default_rng(1)
    leaks = sum(verdict(*ar1_sawtooth(rng)).verdict == "leak" for _ in range(300))
    assert leaks / 300 <= 0.02


def test_a_12_percent_linear_growth_is_detected() -> None:
    rng = np.random.default_rng(2)
    found = sum(verdict(*ar1_sawtooth(rng, growth=0.12)).verdict == "leak" for _ in range(300))
    assert found / 300 >= 0.90


def test_the_autocorrelation_correction_widens_the_variance() -> None:
    rng = np.random.default_rng(3)
    t, y = ar1_sawtooth(rng, saw=0.0)
    trend, _ = trend_and_slope(np.asarray(t), np.asarray(y))
    assert trend.variance_factor > 2  # phi = 0.8: about 1 + 2 x 0.8 / 0.2 = 9 in theory


def test_too_few_samples_is_insufficient_data() -> None:
    assert verdict([0.0, 1.0, 2.0], [1.0, 2.0, 3.0]).verdict == "insufficient data"


@pytest.fixture
def child() -> Iterator:
    procs: list[subprocess.Popen[bytes]] = []

    def start(code: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)])
        procs.append(proc)
        time.sleep(0.3)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


LEAK_1MB_PER_S = """
    import time
    kept = []
    while True:
        kept.append(b"x" * 100_000)  # touched pages: RSS grows 1 MB/s
        time.sleep(0.1)
"""
GC_SAWTOOTH = """
    import time
    while True:
        for _ in range(20):
            junk = [b"y" * 1_000_000 for _ in range(1)]
            kept = junk
            time.sleep(0.05)
        kept = None
        time.sleep(0.2)
"""
RISE_THEN_PLATEAU = """
    import time
    kept = []
    for _ in range(80):
        kept.append(b"z" * 1_000_000)
        time.sleep(0.08)
    time.sleep(600)
"""


def watch(wfdoctor, pid: int, seconds: str) -> dict:
    result = wfdoctor("memory", "watch", "--pid", str(pid), "--duration", seconds, "--interval", "0.25", "--json",
                      "--fail-on", "never", timeout=120)
    assert result.code == 0, result.stderr
    return result.json()


def test_a_process_leaking_1_mb_per_second_is_a_leak_with_its_slope(wfdoctor, child) -> None:
    doc = watch(wfdoctor, child(LEAK_1MB_PER_S).pid, "24")
    assert doc["verdict"] == "leak", doc["explanation"]
    assert doc["slope_bytes_per_minute"]["estimate"] == pytest.approx(60 * MB, rel=0.2)
    assert doc["findings"][0]["code"] == "MEMORY_LEAK"


def test_a_steady_process_with_a_gc_sawtooth_is_not_a_leak(wfdoctor, child) -> None:
    doc = watch(wfdoctor, child(GC_SAWTOOTH).pid, "24")
    assert doc["verdict"] == "stable", doc["explanation"]


def test_a_rise_then_plateau_is_growth_then_plateau(wfdoctor, child) -> None:
    doc = watch(wfdoctor, child(RISE_THEN_PLATEAU).pid, "24")
    assert doc["verdict"] == "growth-then-plateau", doc["explanation"]
    assert 4 <= doc["plateau_from_s"] <= 12


def test_a_process_exiting_mid_watch_gives_a_partial_verdict_and_exit_0(wfdoctor, child) -> None:
    proc = child("import time; time.sleep(2)")
    doc = watch(wfdoctor, proc.pid, "20")
    assert doc["exited"] and doc["verdict"] == "insufficient data" and doc["exit_code"] == 0


def test_diagnose_reads_the_latest_leak_verdict_into_its_matrix(wfdoctor, child) -> None:
    watch(wfdoctor, child(LEAK_1MB_PER_S).pid, "22")
    doc = wfdoctor("diagnose", "--json", "--window", "0.2", "--no-embedded", "--backend", "http://127.0.0.1:9",
                   "--fail-on", "never").json()
    row = next(r for r in doc["rows"] if r["id"] == "high_memory")
    assert "memory.leak" in row["checked"] and "MEMORY_LEAK" in row["findings"]
