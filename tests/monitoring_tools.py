"""Real monitoring programs and a webhook sink for tests: Alertmanager, Prometheus, a local receiver.

The real programs start on free loopback ports in the test's tmp dir, are waited
for on `/-/ready`, are killed on exit, and leave their log in the tmp dir so a
failure message can quote it. Tests skip (not fail) only where the binary is absent.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from wfdoctor.sense.backends.embedded import LOOPBACK, free_port

ALERTMANAGER = "prometheus-alertmanager"
PROMETHEUS = "prometheus"
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RunningTool:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


def binary(name: str) -> str:
    """The program's path, or skip the test saying it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/install.sh --dev installs it)")
    return path


@contextmanager
def _running(argv: list[str], url: str, log: Path) -> Iterator[RunningTool]:
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    tool = RunningTool(url, log, process)
    try:
        _wait_ready(tool)
        yield tool
    finally:
        process.kill()
        process.wait(10)


def wait_until_ready(url: str, deadline_s: float, gone: Callable[[], str | None] = lambda: None) -> None:
    """Poll `url` until it answers 200, or fail the test naming what never came up (or, where `gone` says
    so, that the program exited while starting)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if (why := gone()) is not None:
            pytest.fail(why)
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {deadline_s:.0f} s")


def _wait_ready(tool: RunningTool) -> None:
    def gone() -> str | None:
        if tool.process.poll() is None:
            return None
        return f"{tool.log.name}: exited with {tool.process.returncode} while starting: {tool.log_tail()}"

    wait_until_ready(f"{tool.url}/-/ready", READY_TIMEOUT_S, gone)


@contextmanager
def alertmanager(tmp_path: Path, config: str = "route:\n  receiver: none\nreceivers:\n  - name: none\n"
                 ) -> Iterator[RunningTool]:
    """Debian's Alertmanager on a free port, clustering off, with `config` (default: one silent receiver)."""
    program = binary(ALERTMANAGER)
    port = free_port()
    (tmp_path / "alertmanager.yml").write_text(config)
    argv = [program, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address={LOOPBACK}:{port}", "--cluster.listen-address="]
    with _running(argv, f"http://{LOOPBACK}:{port}", tmp_path / "alertmanager.log") as tool:
        yield tool


@contextmanager
def prometheus(tmp_path: Path, config: str) -> Iterator[RunningTool]:
    """Debian's Prometheus on a free port with `config` (a prometheus.yml text) and its own TSDB dir."""
    program = binary(PROMETHEUS)
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(config)
    argv = [program, f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'prom-data'}", f"--web.listen-address={LOOPBACK}:{port}"]
    with _running(argv, f"http://{LOOPBACK}:{port}", tmp_path / "prometheus.log") as tool:
        yield tool


def get_json(url: str, timeout_s: float = 5.0) -> object:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.loads(response.read())


def dead_url() -> str:
    """A loopback URL nobody listens on: connecting is refused."""
    return f"http://{LOOPBACK}:{free_port()}/hook"


class WebhookSink:
    """A local HTTP receiver in its own thread that records every JSON body POSTed to it.

    `fail_first` answers the first N requests with HTTP 500; `hang` never answers.
    """

    def __init__(self, fail_first: int = 0, hang: bool = False) -> None:
        self.received: list[object] = []
        self.requests = 0
        self.url = ""
        self._fail_first = fail_first
        self._hang = hang
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self._hang:
            await asyncio.Event().wait()
        if self.requests <= self._fail_first:
            return web.Response(status=500, text="try again")
        self.received.append(await request.json())
        return web.Response(text="ok")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()
        if self._runner is not None:
            self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.add_routes([web.post("/{tail:.*}", self._handle)])
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, LOOPBACK, 0).start()
        self.url = f"http://{LOOPBACK}:{self._runner.addresses[0][1]}/hook"

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
