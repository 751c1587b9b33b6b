"""System probe: CPU, memory, swap, disk and processes as Samples.

Never blocks: every rate (CPU utilisation, swap and disk traffic, per-process
CPU) is the difference between two readings, the previous call's and this
one's, so a snapshot over a window is `probe.read()`, wait, `probe.read()`, and
a monitor loop is one `read()` per tick.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from wfdoctor.model import Sample, SampleBatch
from wfdoctor.sense.processes import PROCESS_SOURCE, ProcessScanner, ProcessStat, cpu_rates

BUSY_EXCLUDED = ("idle", "iowait")


def _busy_ratio(before: Any, after: Any) -> float:
    """Share of non-idle CPU time between two psutil cpu_times readings."""
    total = sum(after) - sum(before)
    if total <= 0:
        return 0.0
    idle = sum(getattr(after, name, 0.0) - getattr(before, name, 0.0) for name in BUSY_EXCLUDED)
    return min(max(1.0 - idle / total, 0.0), 1.0)


@dataclass
class Reading:
    """The cumulative counters one rate needs; kept between calls."""

    at_ns: int
    cpu_total: Any
    cpu_per_core: list[Any]
    swap: Any
    disk: dict[str, Any]
    processes: dict[int, ProcessStat] | None   # None: not scanned on this read (see `process_every`)


def _device_of(path: Path, partitions: list[Any]) -> str:
    """The block device name (for disk_io_counters) of the mount holding path."""
    best = ""
    device = ""
    resolved = str(path.resolve())
    for part in partitions:
        mount = part.mountpoint
        if (resolved == mount or resolved.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
            best, device = mount, part.device
    return os.path.basename(device)


@dataclass
class SystemProbe:
    """Reads the whole system; `paths` are the directories whose disks matter.

    `top` is how many processes are reported by CPU and by memory.
    """

    paths: dict[str, Path] = field(default_factory=dict)
    top: int = 5
    _last: Reading | None = None
    _devices: dict[str, str] = field(default_factory=dict)
    _cores: tuple[int, int | None] = (0, None)
    _has_sensors: bool = False
    _scanner: ProcessScanner = field(default_factory=ProcessScanner)
    # Slow-moving values (clock, disk usage, temperatures) are read on every
    # `slow_every`-th call only; the first call always reads them.
    slow_every: int = 5
    # The process list is scanned on every `process_every`-th call only (the monitor: every 5 s at 1 Hz);
    # it is most of a reading's cost, and a culprit or a leak shows over seconds, not one tick.
    process_every: int = 1
    _calls: int = 0
    _last_scan: Reading | None = None

    def __post_init__(self) -> None:
        # Facts that do not change while the machine runs are read once.
        partitions = psutil.disk_partitions(all=False)
        self._devices = {name: _device_of(path, partitions) for name, path in self.paths.items()}
        self._cores = (psutil.cpu_count(logical=True) or 1, psutil.cpu_count(logical=False))
        self._has_sensors = bool(getattr(psutil, "sensors_temperatures", dict)())

    def _read_counters(self) -> Reading:
        return Reading(
            at_ns=time.monotonic_ns(),
            cpu_total=psutil.cpu_times(),
            cpu_per_core=psutil.cpu_times(percpu=True),
            swap=psutil.swap_memory(),
            disk=psutil.disk_io_counters(perdisk=True) or {},
            processes=self._scanner.scan() if self._calls % self.process_every == 0 else None,
        )

    def read(self, slow: bool | None = None) -> list[Sample]:
        """Instant values, plus rates since the previous call (none on the first).

        `slow` forces (True) or skips (False) the slow-moving values; by default
        they come with every `slow_every`-th call.
        """
        now = self._read_counters()
        samples = self._instant(now, slow=self._calls % self.slow_every == 0 if slow is None else slow)
        self._calls += 1
        if self._last is not None:
            samples += self._rates(self._last, now)
        if now.processes is not None:
            last = self._last_scan
            if last is not None and last.processes is not None:
                samples += _process_rates(last.processes, now.processes, (now.at_ns - last.at_ns) / 1e9, self.top)
            self._last_scan = now
        self._last = now
        return samples

    def _instant(self, now: Reading, slow: bool) -> list[Sample]:
        batch = SampleBatch()
        add = batch.add
        logical, physical = self._cores
        add("wf_cpu_logical_cores", logical, "cores", "psutil.cpu_count")
        if physical:
            add("wf_cpu_physical_cores", physical, "cores", "psutil.cpu_count(logical=False)")
        for window, value in zip(("1m", "5m", "15m"), psutil.getloadavg()):
            add("wf_cpu_load_average", value, "tasks", "psutil.getloadavg", window=window)
        freq = psutil.cpu_freq() if slow else None
        if freq and freq.current:
            add("wf_cpu_frequency_hertz", freq.current * 1e6, "Hz", "psutil.cpu_freq", kind="current")
            if freq.max:
                add("wf_cpu_frequency_hertz", freq.max * 1e6, "Hz", "psutil.cpu_freq", kind="max")
                add("wf_cpu_frequency_ratio", freq.current / freq.max, "ratio", "psutil.cpu_freq")

        mem = psutil.virtual_memory()
        add("wf_memory_total_bytes", mem.total, "bytes", "psutil.virtual_memory")
        add("wf_memory_available_bytes", mem.available, "bytes", "psutil.virtual_memory")
        add("wf_memory_used_ratio", 1.0 - mem.available / mem.total, "ratio", "psutil.virtual_memory")
        swap = now.swap
        add("wf_swap_total_bytes", swap.total, "bytes", "psutil.swap_memory")
        add("wf_swap_used_bytes", swap.used, "bytes", "psutil.swap_memory")

        for name, path in self.paths.items() if slow else ():
            try:
                usage = psutil.disk_usage(str(path))
            except OSError:
                continue
            add("wf_disk_used_ratio", usage.percent / 100.0, "ratio", "psutil.disk_usage", path=str(path), role=name)
            add("wf_disk_free_bytes", usage.free, "bytes", "psutil.disk_usage", path=str(path), role=name)

        for chip, entries in (psutil.sensors_temperatures() if slow and self._has_sensors else {}).items():
            for index, entry in enumerate(entries):
                add("wf_temperature_celsius", entry.current, "°C", "psutil.sensors_temperatures",
                    sensor=chip, label=entry.label or str(index))

        biggest = sorted((now.processes or {}).values(), key=lambda p: p.rss_bytes, reverse=True)[: self.top]
        for proc in biggest:
            add("wf_process_resident_memory_bytes", proc.rss_bytes, "bytes", PROCESS_SOURCE,
                pid=str(proc.pid), name=proc.name)
        return batch.samples

    def _rates(self, then: Reading, now: Reading) -> list[Sample]:
        elapsed = (now.at_ns - then.at_ns) / 1e9
        batch = SampleBatch(common={"window_s": f"{elapsed:.3f}"})
        add = batch.add

        add("wf_cpu_utilization_ratio", _busy_ratio(then.cpu_total, now.cpu_total), "ratio", "psutil.cpu_times")
        for core, (before, after) in enumerate(zip(then.cpu_per_core, now.cpu_per_core)):
            add("wf_cpu_core_utilization_ratio", _busy_ratio(before, after), "ratio", "psutil.cpu_times(percpu)",
                core=str(core))
        if elapsed > 0:
            add("wf_swap_bytes_per_second", (now.swap.sin - then.swap.sin) / elapsed, "bytes/s", "psutil.swap_memory",
                direction="in")
            add("wf_swap_bytes_per_second", (now.swap.sout - then.swap.sout) / elapsed, "bytes/s", "psutil.swap_memory",
                direction="out")
            for role, device in self._devices.items():
                if device in now.disk and device in then.disk:
                    for direction, attr in (("read", "read_bytes"), ("write", "write_bytes")):
                        rate = (getattr(now.disk[device], attr) - getattr(then.disk[device], attr)) / elapsed
                        add("wf_disk_io_bytes_per_second", rate, "bytes/s", "psutil.disk_io_counters",
                            device=device, role=role, direction=direction)

        return batch.samples


def _process_rates(before: dict[int, ProcessStat], after: dict[int, ProcessStat], elapsed: float,
                   top: int) -> list[Sample]:
    """The `top` busiest processes' CPU between two scans `elapsed` seconds apart."""
    batch = SampleBatch(common={"window_s": f"{elapsed:.3f}"})
    rates = cpu_rates(before, after, elapsed)
    for pid, cores in sorted(rates.items(), key=lambda item: item[1], reverse=True)[:top]:
        batch.add("wf_process_cpu_utilization_ratio", cores, "cores", PROCESS_SOURCE, pid=str(pid),
                  name=after[pid].name)
    return batch.samples
