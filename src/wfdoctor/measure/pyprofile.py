"""Where Python memory grows: labelled tracemalloc snapshots and their differences.

Library use:

    with MemoryProfiler() as profiler:       # or @MemoryProfiler() on a function
        work()
        profiler.snapshot("after work")
    print(profiler.report()["top_lines"][0])

Command use (what `wfdoctor memory profile -- python script.py` runs):
`python -m wfdoctor.measure.pyprofile --out FILE -- script.py args`, which runs
the script under the profiler, takes a snapshot every `--interval` seconds
from a background thread, and writes the report as JSON.

Each snapshot also records RSS and what `gc.collect()` freed. When RSS grows
far more than the traced Python heap, the growth is native memory or allocator
retention, which tracemalloc cannot see: the report says so and points to memray.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import runpy
import sys
import threading
import time
import tracemalloc
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, TypeVar

import psutil
from pydantic import BaseModel

from wfdoctor.model import Sample

DEFAULT_FRAMES = 1
IGNORED_FILES = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>", "<unknown>",
                 tracemalloc.__file__, __file__)
NATIVE_RATIO = 2.0            # RSS grew this many times more than the Python heap...
NATIVE_MIN_BYTES = 10_000_000  # ...and by at least this much
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class SnapshotInfo:
    label: str
    at_s: float
    traced_bytes: int
    rss_bytes: int
    gc_collected: int
    gc_freed_rss_bytes: int


class FrameRef(BaseModel):
    file: str
    line: int


class AllocationGrowth(BaseModel):
    """Growth at one line (or traceback) between two snapshots."""

    file: str
    line: int
    size_diff_bytes: int
    size_bytes: int
    count_diff: int
    count: int
    traceback: list[FrameRef]
    code: str = ""              # the source line, for lines


class PythonProfile(BaseModel):
    """What `wfdoctor memory profile` found, as written by the profiled child process."""

    frames: int
    between: list[str]
    python_heap_growth_bytes: int
    rss_growth_bytes: int
    native_growth_suspected: bool
    hint: str
    top_lines: list[AllocationGrowth]
    top_tracebacks: list[AllocationGrowth]
    snapshots: list[SnapshotInfo]
    script: str
    args: list[str]
    error: str
    interval_s: float

    def samples(self) -> list[Sample]:
        """Growth by line and RSS by snapshot, for the history."""
        growth = [Sample("wf_python_heap_growth_bytes", float(entry.size_diff_bytes), "bytes", "tracemalloc",
                         {"file": entry.file, "line": str(entry.line)}) for entry in self.top_lines]
        return growth + [Sample("wf_process_resident_memory_bytes", float(snap.rss_bytes), "bytes",
                                "psutil (profiled)", {"label": snap.label}) for snap in self.snapshots]


class MemoryProfiler:
    """Labelled tracemalloc snapshots; a context manager and a decorator."""

    def __init__(self, frames: int = DEFAULT_FRAMES, collect: bool = True) -> None:
        self.frames = frames
        self.collect = collect
        self.snapshots: list[tuple[SnapshotInfo, tracemalloc.Snapshot]] = []
        self._started = 0.0
        self._owns_tracing = False
        self._lock = threading.Lock()

    def start(self) -> MemoryProfiler:
        if not tracemalloc.is_tracing():
            tracemalloc.start(self.frames)
            self._owns_tracing = True
        self._started = time.monotonic()
        self.snapshot("start")
        return self

    def stop(self) -> None:
        self.snapshot("end")
        if self._owns_tracing:
            tracemalloc.stop()

    def snapshot(self, label: str) -> SnapshotInfo:
        """Record the heap now, with RSS and (optionally) what a full collection frees."""
        process = psutil.Process()
        collected, freed = 0, 0
        if self.collect:
            before = process.memory_info().rss
            collected = gc.collect()
            freed = before - process.memory_info().rss
        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, f) for f in IGNORED_FILES])
        info = SnapshotInfo(label, time.monotonic() - self._started, tracemalloc.get_traced_memory()[0],
                            process.memory_info().rss, collected, freed)
        with self._lock:
            self.snapshots.append((info, snap))
        return info

    def __enter__(self) -> MemoryProfiler:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def report(self, top: int = 10, first: int = 0, last: int = -1) -> dict[str, Any]:
        """Growth between two snapshots (default: first and last), by line and by traceback."""
        with self._lock:
            (old_info, old), (new_info, new) = self.snapshots[first], self.snapshots[last]
            infos = [asdict(info) for info, _ in self.snapshots]
        lines = [_stat(stat) for stat in new.compare_to(old, "lineno") if stat.size_diff > 0][:top]
        stacks = [_stat(stat) for stat in new.compare_to(old, "traceback") if stat.size_diff > 0][:top] \
            if self.frames > 1 else []
        heap_growth = new_info.traced_bytes - old_info.traced_bytes
        rss_growth = new_info.rss_bytes - old_info.rss_bytes
        native = rss_growth >= NATIVE_MIN_BYTES and rss_growth > NATIVE_RATIO * max(heap_growth, 0)
        return {
            "frames": self.frames,
            "between": [old_info.label, new_info.label],
            "python_heap_growth_bytes": heap_growth,
            "rss_growth_bytes": rss_growth,
            "native_growth_suspected": native,
            "hint": ("RSS grew far more than Python objects: native memory or allocator retention, not Python "
                     "objects; profile native allocations with memray (memray run script.py)") if native else "",
            "top_lines": lines,
            "top_tracebacks": stacks,
            "snapshots": infos,
        }


def _stat(stat: tracemalloc.StatisticDiff) -> dict[str, Any]:
    frames = [{"file": frame.filename, "line": frame.lineno} for frame in stat.traceback]
    return {"file": frames[0]["file"], "line": frames[0]["line"], "size_diff_bytes": stat.size_diff,
            "size_bytes": stat.size, "count_diff": stat.count_diff, "count": stat.count, "traceback": frames}


def _source_line(path: str, line: int) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, start=1):
                if number == line:
                    return text.strip()
    except OSError:
        pass
    return ""


def script_exit_code(exc: BaseException | None) -> int:
    """The exit code `python script.py` would have given: SystemExit's code (text: 1, as Python prints it and
    exits 1), 130 for Ctrl-C, 1 for any other uncaught exception, 0 when the script ran to its end."""
    if exc is None:
        return 0
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 130 if isinstance(exc, KeyboardInterrupt) else 1


def profile_script(script: str, args: list[str], frames: int, interval_s: float,
                   top: int) -> tuple[dict[str, Any], int]:
    """Run a Python script under the profiler, snapshotting every `interval_s`; the report and the script's
    exit code."""
    profiler = MemoryProfiler(frames=frames, collect=False)
    done = threading.Event()

    def periodic() -> None:
        tick = 0
        while not done.wait(interval_s):
            tick += 1
            profiler.snapshot(f"t+{tick * interval_s:g}s")

    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as `python script.py` does
    error = ""
    failure: BaseException | None = None
    kept: dict[str, Any] = {}  # the script's globals, alive until the last snapshot (else its data is freed)
    profiler.start()
    sampler = threading.Thread(target=periodic, daemon=True)
    sampler.start()
    try:
        kept = runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        error = f"exited with {exc.code}" if exc.code not in (None, 0) else ""
        failure = exc
    except BaseException as exc:  # the script's own failure is reported, the profile is kept
        error = traceback.format_exc(limit=3)
        failure = exc
    finally:
        done.set()
        sampler.join()
        profiler.collect = True
        profiler.stop()
    report = profiler.report(top=top)
    kept.clear()
    for entry in report["top_lines"]:
        entry["code"] = _source_line(entry["file"], entry["line"])
    return report | {"script": script, "args": args, "error": error, "interval_s": interval_s}, \
        script_exit_code(failure)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a Python script under wfdoctor's memory profiler.")
    parser.add_argument("--out", required=True)
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    report, code = profile_script(options.script, options.args, options.frames, options.interval, options.top)
    with open(options.out, "w", encoding="utf-8") as handle:
        json.dump(report, handle)
    os._exit(code)  # the script's code; os._exit: its leftover threads must not keep the report from returning


if __name__ == "__main__":
    main()
