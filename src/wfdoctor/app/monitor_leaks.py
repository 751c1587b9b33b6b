"""The leak verdict running on the monitor's own series: is a process's memory growing, by statistics?

The monitor already reads the resident memory of the biggest processes every tick. `LeakWatch`
keeps each process's last `limits.leaks.monitor_window_s` of those readings and, every
`JUDGE_EVERY_S`, gives each one `memory watch`'s verdict (Mann-Kendall trend, Theil-Sen slope,
the facts' floor of 10 MB/min). The result is a sample the alert rules read:
`wf_memory_leak_bytes_per_minute{pid, name}`, the rate when the verdict is a leak and 0 otherwise,
so a sawtooth or a warm-up that levels off never fires the MemoryGrowing alert.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable

from wfdoctor.analyze.leaks import leak_verdict
from wfdoctor.config.facts import Facts
from wfdoctor.model import Sample

JUDGE_EVERY_S = 60.0      # a schedule, not a limit: the verdict needs minutes of data anyway
RSS = "wf_process_resident_memory_bytes"
SOURCE = "wfdoctor monitor (leak verdict on its own readings: 0 unless the statistics call it a leak)"


class LeakWatch:
    """Per process (pid, name): its recent resident-memory readings and the verdict on them."""

    def __init__(self, facts: Facts) -> None:
        self._limits = facts.limits.leaks
        self._floor = float(facts.common["memory_leak_bytes_per_minute"])
        self._readings: dict[tuple[str, str], deque[tuple[float, float]]] = {}

    def add(self, samples: Iterable[Sample]) -> None:
        for sample in samples:
            if sample.metric == RSS:
                key = (sample.label("pid"), sample.label("name"))
                self._readings.setdefault(key, deque()).append((sample.ts, sample.value))

    def judge(self, now: float | None = None) -> list[Sample]:
        """A verdict for every process seen within the window; processes gone from it are forgotten."""
        now = time.time() if now is None else now
        start = now - self._limits.monitor_window_s
        verdicts = []
        for key, readings in list(self._readings.items()):
            while readings and readings[0][0] < start:
                readings.popleft()
            if not readings:
                del self._readings[key]
                continue
            times, values = zip(*readings)
            verdict = leak_verdict(list(times), list(values), limits=self._limits,
                                   floor_bytes_per_minute=self._floor)
            if verdict.verdict == "insufficient data":
                continue
            rate = verdict.per_minute[0] if verdict.verdict == "leak" and verdict.per_minute else 0.0
            pid, name = key
            verdicts.append(Sample("wf_memory_leak_bytes_per_minute", rate, "bytes/min", SOURCE,
                                   {"pid": pid, "name": name}, now))
        return verdicts
