"""System sampling in a separate process while a measurement runs.

Reading every process costs a millisecond or two of CPU; done inside the event
loop that timestamps token arrivals, it would delay those timestamps. The
sampler therefore runs as its own process, appending JSON lines to a file,
and stops (after one last reading) on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from wfdoctor.model import Sample
from wfdoctor.sense.gpu_nvml import NvmlSession, parse_gpus
from wfdoctor.sense.system import SystemProbe


class BackgroundSampler:
    """Start with `start()`, collect with `stop()`; `pid` is the sampler's own pid."""

    def __init__(self, interval_s: float = 0.5, top: int = 8) -> None:
        self.interval_s = interval_s
        self.top = top
        self._file = Path(tempfile.mkstemp(prefix="wfdoctor-samples-", suffix=".jsonl")[1])
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> BackgroundSampler:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "wfdoctor.measure.sampler", "--interval", str(self.interval_s),
             "--top", str(self.top), "--out", str(self._file)],
            stdin=subprocess.DEVNULL,
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
        samples = []
        for line in self._file.read_text(encoding="utf-8").splitlines():
            try:
                samples.append(Sample(**json.loads(line)))
            except (ValueError, TypeError):
                continue  # a line cut by a kill: the rest still counts
        self._file.unlink(missing_ok=True)
        return samples


def _loop(interval_s: float, top: int, out: Path) -> None:
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    probe = SystemProbe(top=top)
    nvml = NvmlSession()
    nvml.open()
    probe.read()
    next_at = time.monotonic() + interval_s
    with out.open("a", encoding="utf-8") as handle:
        while True:
            while not stopping and time.monotonic() < next_at:
                time.sleep(min(0.05, max(next_at - time.monotonic(), 0)))
            samples = probe.read() + parse_gpus(nvml.read())
            handle.write("".join(json.dumps(s.to_dict()) + "\n" for s in samples))
            handle.flush()
            if stopping:
                break
            next_at += interval_s
    nvml.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="wfdoctor's background system sampler.")
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    _loop(args.interval, args.top, args.out)


if __name__ == "__main__":
    main()
