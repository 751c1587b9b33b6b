"""Test tools for the monitor's Prometheus side: a stand-in monitor and a real Prometheus on a free port.

`StubView` answers the `MonitorView` questions from plain lists, so the web server, the
exposition and the OTLP exporter are tested without the monitor's samplers. `prometheus` runs
Debian's Prometheus (monitoring_tools) against a scrape config for the test's lifetime.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tests.monitoring_tools import prometheus as running_prometheus
from wfdoctor.app.monitor_view import Overloaded
from wfdoctor.model import ActionRecord, Alert, Sample, WfdoctorError
from wfdoctor.surface.web import start_web

T = TypeVar("T")


@dataclass
class StubView:
    """A MonitorView over lists; `accepted` records pushed batches, `overloaded` makes `accept` refuse."""

    samples: list[Sample] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    actions: list[ActionRecord] = field(default_factory=list)
    accepted: list[list[Sample]] = field(default_factory=list)
    overloaded: bool = False
    refuse: str = ""

    def latest_samples(self) -> list[Sample]:
        return list(self.samples)

    def active_alerts(self) -> list[Alert]:
        return list(self.alerts)

    def recent_actions(self) -> list[ActionRecord]:
        return list(self.actions)

    def accept(self, samples: list[Sample]) -> None:
        if self.overloaded:
            raise Overloaded("write queue full")
        if self.refuse:
            raise WfdoctorError(self.refuse)
        self.accepted.append(samples)


@contextmanager
def prometheus(tmp_path: Path, targets: list[str], scrape_interval: str = "1s",
               rule_files: tuple[Path, ...] = (), token: str | None = None) -> Iterator[str]:
    """A real Prometheus (monitoring_tools.prometheus) scraping `targets` (host:port, with `token` as bearer
    credentials where given); yields its base URL."""
    config = json.dumps({  # JSON is YAML: no quoting surprises in paths
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [{"job_name": "wfdoctor", "static_configs": [{"targets": targets}],
                            **({"authorization": {"credentials": token}} if token else {})}],
    })
    with running_prometheus(tmp_path, config) as tool:
        yield tool.url


@contextmanager
def loop_in_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running on its own thread, so a test can block (on Prometheus, on a
    synchronous exporter) while servers in that loop keep answering; stopped on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def in_loop(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=10)


@contextmanager
def web_in_thread(view: StubView, token: str | None = None) -> Iterator[str]:
    """The monitor's web server on a free loopback port in a thread's loop; yields its URL."""
    with loop_in_thread() as loop:
        server = in_loop(loop, start_web(view, "127.0.0.1", 0, token))
        try:
            yield server.url
        finally:
            in_loop(loop, server.close())

