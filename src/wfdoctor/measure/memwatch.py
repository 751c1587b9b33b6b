"""Watch one process's memory over time, at almost no cost to it.

Every tick reads /proc through psutil: resident set, unique and proportional
set (where the kernel gives smaps_rollup to us), swap, open files, threads.
Nothing runs inside the target. A target that exits ends the watch early with
what was collected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from wfdoctor.model import Sample, WfdoctorError

# MemorySeries attribute -> (metric, unit) of its samples.
SERIES = {"rss": ("wf_process_resident_memory_bytes", "bytes"), "uss": ("wf_process_unique_memory_bytes", "bytes"),
          "pss": ("wf_process_proportional_memory_bytes", "bytes"), "swap": ("wf_process_swap_bytes", "bytes"),
          "open_files": ("wf_process_open_files", "files"), "threads": ("wf_process_threads", "threads")}


@dataclass
class MemorySeries:
    pid: int
    name: str
    times_s: list[float] = field(default_factory=list)      # monotonic seconds from the first sample
    rss: list[float] = field(default_factory=list)
    uss: list[float] = field(default_factory=list)
    pss: list[float] = field(default_factory=list)
    swap: list[float] = field(default_factory=list)
    open_files: list[float] = field(default_factory=list)
    threads: list[float] = field(default_factory=list)
    started_at: float = 0.0                                   # wall clock of the first sample
    exited: bool = False
    interrupted: bool = False                                 # Ctrl-C: what was sampled is kept

    def samples(self) -> list[Sample]:
        """Every reading as a Sample, stamped with its wall-clock time."""
        labels = {"pid": str(self.pid), "name": self.name}
        return [Sample(metric, value, unit, "psutil (/proc)", labels, self.started_at + at)
                for attribute, (metric, unit) in SERIES.items()
                for at, value in zip(self.times_s, getattr(self, attribute))]


def _read(proc: psutil.Process, series: MemorySeries, at_s: float, full: bool) -> bool:
    """Append one reading; False once detailed (smaps) reading is not allowed."""
    with proc.oneshot():
        if proc.status() == psutil.STATUS_ZOMBIE:  # exited, not yet reaped by its parent
            raise psutil.ZombieProcess(proc.pid)
        if full:
            try:
                info = proc.memory_full_info()
                series.uss.append(float(info.uss))
                series.pss.append(float(getattr(info, "pss", 0.0)))
                series.swap.append(float(getattr(info, "swap", 0.0)))
            except psutil.AccessDenied:
                full = False
        rss = proc.memory_info().rss
        try:
            files = proc.num_fds()
        except (psutil.AccessDenied, AttributeError):
            files = -1
        series.rss.append(float(rss))
        series.open_files.append(float(files))
        series.threads.append(float(proc.num_threads()))
    series.times_s.append(at_s)
    return full


def watch_process(pid: int, duration_s: float, interval_s: float,
                  progress: Callable[[float], None] = lambda elapsed: None) -> MemorySeries:
    """Sample `pid` every `interval_s` for `duration_s` (or until it exits)."""
    try:
        proc = psutil.Process(pid)
        series = MemorySeries(pid, proc.name(), started_at=time.time())
    except psutil.NoSuchProcess:
        raise WfdoctorError(f"no process with pid {pid}") from None
    except psutil.AccessDenied:
        raise WfdoctorError(f"not allowed to read process {pid}") from None
    try:
        _sample_until(proc, series, duration_s, interval_s, progress)
    except KeyboardInterrupt:
        series.interrupted = True
    return series


def _sample_until(proc: psutil.Process, series: MemorySeries, duration_s: float, interval_s: float,
                  progress: Callable[[float], None]) -> None:
    start = time.monotonic()
    full = True
    tick = 0
    while True:
        now = time.monotonic() - start
        try:
            full = _read(proc, series, now, full)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            series.exited = True
            return
        progress(now)
        tick += 1
        next_at = tick * interval_s
        if next_at > duration_s:
            return
        time.sleep(max(next_at - (time.monotonic() - start), 0.0))
