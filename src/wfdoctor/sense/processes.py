"""Per-process CPU time and resident memory, cheaply.

Naming the process behind a symptom needs every process scanned at each
sample. psutil's `process_iter` costs about 5-7 ms of CPU for 60-80 processes here;
reading `/proc/PID/stat` directly costs about 1.4 ms, which keeps a 1 Hz
monitor under 0.2 % of a core. Other systems use psutil.
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple

import psutil

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ProcessStat(NamedTuple):
    """One process at one instant. `started` tells a reused pid apart.

    A NamedTuple, not a dataclass: hundreds are built per sample and tuples
    are the cheapest to build.
    """

    pid: int
    name: str
    cpu_seconds: float
    rss_bytes: int
    started: float


def _parse_stat(pid: int, raw: bytes) -> ProcessStat:
    # The name sits in parentheses and may itself contain spaces or ')'.
    close = raw.rfind(b")")
    name = raw[raw.find(b"(") + 1 : close].decode("utf-8", "replace")
    fields = raw[close + 2 :].split(maxsplit=22)
    # fields[k] is stat field k+3 (proc(5)): utime 14, stime 15, starttime 22, rss 24.
    return ProcessStat(
        pid=pid,
        name=name,
        cpu_seconds=(int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
        rss_bytes=int(fields[21]) * PAGE_SIZE,
        started=int(fields[19]) / CLOCK_TICKS,
    )


class ProcScanner:
    """Reads every /proc/PID/stat, keeping each file open between scans.

    Re-reading an open stat file with pread costs one system call instead of
    three (open, read, close); a monitor scanning hundreds of processes every
    second saves a fifth of its scan. A file whose process has gone fails to
    read and is closed; at most `max_open` stay open.
    """

    def __init__(self, max_open: int = 1024) -> None:
        self.max_open = max_open
        self._fds: dict[int, int] = {}

    def _read(self, pid: int) -> bytes | None:
        fd = self._fds.get(pid)
        keep = fd is not None or len(self._fds) < self.max_open
        if fd is None:
            try:
                fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
            except OSError:  # the process exited between listing and reading
                return None
        try:
            raw = os.pread(fd, 4096, 0)
        except OSError:
            raw = b""
        if raw and keep:
            self._fds[pid] = fd
        else:
            self._fds.pop(pid, None)
            os.close(fd)
        return raw or None

    def scan(self) -> dict[int, ProcessStat]:
        found: dict[int, ProcessStat] = {}
        for name in os.listdir("/proc"):
            if name.isdigit() and (raw := self._read(int(name))):
                found[int(name)] = _parse_stat(int(name), raw)
        for pid in set(self._fds) - set(found):  # gone without a failed read (not listed any more)
            os.close(self._fds.pop(pid))
        return found

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self) -> None:
        self.close()


def _scan_psutil() -> dict[int, ProcessStat]:
    found: dict[int, ProcessStat] = {}
    for proc in psutil.process_iter(["pid", "name", "cpu_times", "memory_info", "create_time"]):
        info = proc.info
        if info["cpu_times"] is None or info["memory_info"] is None:
            continue
        found[info["pid"]] = ProcessStat(
            pid=info["pid"],
            name=info["name"] or "?",
            cpu_seconds=info["cpu_times"].user + info["cpu_times"].system,
            rss_bytes=info["memory_info"].rss,
            started=info["create_time"] or 0.0,
        )
    return found


USE_PROC = sys.platform.startswith("linux") and os.path.isdir("/proc/self")
PROCESS_SOURCE = "/proc/PID/stat" if USE_PROC else "psutil.process_iter"


class ProcessScanner:
    """Every visible process, keyed by pid: /proc on Linux, psutil elsewhere."""

    def __init__(self) -> None:
        self._proc = ProcScanner() if USE_PROC else None

    def scan(self) -> dict[int, ProcessStat]:
        return self._proc.scan() if self._proc is not None else _scan_psutil()


def cpu_rates(before: dict[int, ProcessStat], after: dict[int, ProcessStat], elapsed_s: float) -> dict[int, float]:
    """CPU used by each process between two scans, in cores (1.0 = one full core).

    Processes that started in between count from zero; a reused pid (different
    start time) counts as new.
    """
    if elapsed_s <= 0:
        return {}
    rates: dict[int, float] = {}
    for pid, now in after.items():
        then = before.get(pid)
        used = now.cpu_seconds - then.cpu_seconds if then and then.started == now.started else now.cpu_seconds
        rates[pid] = max(used, 0.0) / elapsed_s
    return rates


def pid_listening_on(port: int) -> int | None:
    """The process listening on a local TCP port (needs the right to see it)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return int(conn.pid)
    return None


MODEL_FLAGS = ("--model", "-m")


def model_file_of(pid: int) -> str | None:
    """The model file a server process was started with (`--model`/`-m PATH`), if it exists.

    Only existing files count: `python -m llama_cpp.server` also has an `-m`.
    """
    try:
        args = psutil.Process(pid).cmdline()
    except (psutil.Error, OSError):
        return None
    values = [value for flag, value in zip(args, args[1:]) if flag in MODEL_FLAGS]
    values += [arg.split("=", 1)[1] for arg in args if arg.startswith("--model=")]
    return next((value for value in values if os.path.isfile(value)), None)


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) per thread id of a process; empty when it cannot be read.

    Two readings around a run say how many threads did the work: a server's OS thread count
    (psutil's `num_threads`) includes its idle HTTP and event-loop threads.
    """
    try:
        return {thread.id: thread.user_time + thread.system_time for thread in psutil.Process(pid).threads()}
    except (psutil.Error, OSError):
        return {}
