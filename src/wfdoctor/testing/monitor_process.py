"""`wfdoctor monitor` as a child process on a free loopback port, for browser tests and benchmarks.

The dashboard is only real when served by the real command (its flags, its event loop, its shutdown), so
tests and benchmarks start it the way a user does, with its own database and no canary, and stop it the
way a service manager does (SIGTERM).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from wfdoctor.sense.backends.embedded import free_port

START_TIMEOUT_S = 60.0


@contextmanager
def running_monitor(db: Path, interval_s: float, token: str | None = None, options: Sequence[str] = (),
                    backend: str | None = None, canary: str = "off") -> Iterator[str]:
    """The monitor at `interval_s` on `db` (watching `backend`, else a port where no server is to be found; its
    token canary every `canary`, off by default; `--token` where given; more `options` of the command) until the
    block ends: its base URL."""
    port = free_port()
    env = os.environ | {"WFDOCTOR_DB": str(db), "XDG_CONFIG_HOME": str(db.parent / "config")}
    process = subprocess.Popen([sys.executable, "-m", "wfdoctor", "monitor", "--headless", "--interval",
                                str(interval_s), "--canary", canary, "--backend", backend or f"http://127.0.0.1:{free_port()}",
                                "--listen", f"127.0.0.1:{port}", *(["--token", token] if token else []), *options],
                               env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(url + "/", timeout=2).close()   # the page needs no token
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"wfdoctor monitor did not answer on {url} (exit {process.poll()})") from None
                time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
