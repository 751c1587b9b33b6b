"""The monitor runs `memory watch`'s leak verdict on its own readings of each process's resident memory:
`wf_memory_leak_bytes_per_minute` is the rate for a leak and 0 for anything else, which the MemoryGrowing
alert reads."""

from __future__ import annotations

from wfdoctor.app.monitor_leaks import LeakWatch
from wfdoctor.config.facts import load_facts
from wfdoctor.model import Sample

MB = 1e6


def rss(pid: str, value: float, ts: float) -> Sample:
    return Sample("wf_process_resident_memory_bytes", value, "bytes", "test", {"pid": pid, "name": f"p{pid}"}, ts)


def readings(watch: LeakWatch, pid: str, level: float, per_second: float, seconds: int, wobble: float = 0.0) -> None:
    watch.add(rss(pid, level + per_second * t + (wobble if t % 2 else -wobble), float(t)) for t in range(seconds))


def rates(watch: LeakWatch, now: float) -> dict[str, float]:
    return {s.labels["pid"]: s.value for s in watch.judge(now)}


def test_a_process_growing_20_mb_a_minute_leaks_at_that_rate() -> None:
    watch = LeakWatch(load_facts())
    readings(watch, "1", 500 * MB, 20 * MB / 60, 300, wobble=0.2 * MB)
    [rate] = rates(watch, 300.0).values()
    assert 19 * MB < rate < 21 * MB


def test_a_steady_process_and_a_sawtooth_do_not_leak() -> None:
    watch = LeakWatch(load_facts())
    readings(watch, "1", 500 * MB, 0.0, 300, wobble=5 * MB)
    watch.add(rss("2", 300 * MB + (t % 60) * 1 * MB, float(t)) for t in range(300))  # GC sawtooth
    assert rates(watch, 300.0) == {"1": 0.0, "2": 0.0}


def test_growth_below_the_facts_floor_is_not_a_leak() -> None:
    watch = LeakWatch(load_facts())
    readings(watch, "1", 500 * MB, 1 * MB / 60, 300)  # 1 MB/min, steady: real, but under 10 MB/min
    assert rates(watch, 300.0) == {"1": 0.0}


def test_only_the_last_window_counts_and_a_process_gone_is_forgotten() -> None:
    watch = LeakWatch(load_facts())
    readings(watch, "1", 500 * MB, 20 * MB / 60, 300)
    assert rates(watch, 300.0 + 300.0 + 1) == {}   # its readings are all older than the window
    assert watch.judge(2000.0) == []


def test_too_few_readings_give_no_verdict_rather_than_a_healthy_one() -> None:
    watch = LeakWatch(load_facts())
    readings(watch, "1", 500 * MB, 20 * MB / 60, 5)
    assert rates(watch, 5.0) == {}
