"""System sampling in a separate process while a measurement runs.

Reading every process costs a millisecond or two of CPU; done inside the event
loop that timestamps token arrivals, it would delay those timestamps. The
sampler therefore runs as its own process, appending JSON lines to a file,
and stops (after one last reading) on SIGTERM.

It must never outlive wfdoctor, nor leave its file behind, however wfdoctor
ends: the file has no name (an unlinked temporary file, which the sampler
inherits as an open descriptor, so the kernel frees it when both ends have
closed it), and the sampler stops when its parent dies (`sense.lifeline`). It
runs in its own session, so the Ctrl-C a terminal sends to wfdoctor's process
group does not kill it before wfdoctor has collected its samples.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from types import FrameType
from typing import IO

from wfdoctor.model import Sample
from wfdoctor.sense.gpu_nvml import NvmlSession, parse_gpus
from wfdoctor.sense.lifeline import tie_to_parent
from wfdoctor.sense.system import SystemProbe


class BackgroundSampler:
    """Start with `start()`, collect with `stop()`; `pid` is the sampler's own pid."""

    def __init__(self, interval_s: float = 0.5, top: int = 8) -> None:
        self.interval_s = interval_s
        self.top = top
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="wfdoctor-samples-", suffix=".jsonl")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> BackgroundSampler:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "wfdoctor.measure.sampler", "--interval", str(self.interval_s),
             "--top", str(self.top), "--fd", str(self._file.fileno()), "--parent", str(os.getpid())],
            stdin=subprocess.DEVNULL, pass_fds=[self._file.fileno()], start_new_session=True,
        )
        return self

    def stop(self) -> list[Sample]:
        """Stop the sampler and return every sample it took."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._file.seek(0)  # the sampler has exited: nothing moves the shared offset any more
        samples = []
        for line in self._file.read().decode("utf-8", errors="replace").splitlines():
            try:
                samples.append(Sample(**json.loads(line)))
            except (ValueError, TypeError):
                continue  # a line cut by a kill: the rest still counts
        self._file.close()
        return samples


def _loop(interval_s: float, top: int, out: IO[bytes], parent_pid: int) -> None:
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    tie_to_parent(parent_pid, signal.SIGTERM)
    probe = SystemProbe(top=top)
    nvml = NvmlSession()
    nvml.open()
    probe.read()
    next_at = time.monotonic() + interval_s
    with out as handle:
        while True:
            while not stopping and time.monotonic() < next_at:
                time.sleep(min(0.05, max(next_at - time.monotonic(), 0)))
            samples = probe.read() + parse_gpus(nvml.read())
            handle.write("".join(json.dumps(s.to_dict()) + "\n" for s in samples).encode("utf-8"))
            handle.flush()
            if stopping:
                break
            next_at += interval_s
    nvml.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="wfdoctor's background system sampler.")
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--fd", type=int, required=True, help="open file to append JSON lines to")
    parser.add_argument("--parent", type=int, required=True, help="pid of wfdoctor: the sampler stops when it dies")
    args = parser.parse_args()
    _loop(args.interval, args.top, os.fdopen(args.fd, "ab"), args.parent)


if __name__ == "__main__":
    main()
