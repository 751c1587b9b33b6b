"""Issue 11's first acceptance point, end to end with the real parts: the monitor at 10 Hz with a test rule
set; a child process allocates memory past a low threshold; the alert goes pending, fires after `for`, reaches
a local webhook receiver in Alertmanager's JSON shape, the L1 step it escalates to is logged as a dry run with
before/after samples, and the alert resolves once the child has exited."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.monitoring_tools import WebhookSink
from wfdoctor.store.monitoring import MonitorStore

ALLOCATED_MB = 600
CHILD = f"""
import sys
sys.stdin.readline()                            # allocate when told
held = bytearray(b"x") * ({ALLOCATED_MB} * 1024 * 1024)   # written, so resident
print("allocated", flush=True)
sys.stdin.readline()                            # exit when told
"""


class Lines:
    """A process's stderr read in a thread, so the test can wait for a line with a bound."""

    def __init__(self, stream: object) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line)

    def wait_for(self, wanted: Callable[[dict], bool], timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if wanted(event):
                return event
        raise AssertionError("not seen in time; the monitor said:\n" + "".join(self.seen[-40:]))


def alert_event(state: str) -> Callable[[dict], bool]:
    return lambda event: event.get("event") == "alert" and event.get("alert") == "ChildMemory" \
        and event.get("state") == state


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    yield process
    process.kill()
    process.wait()


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as receiver:
        yield receiver


def test_a_memory_alert_goes_pending_fires_notifies_logs_its_dry_run_and_resolves(
        tmp_path: Path, child: subprocess.Popen[str], sink: WebhookSink) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""
groups:
  - name: acceptance
    rules:
      - alert: ChildMemory
        expr: wf_process_resident_memory_bytes{{pid="{child.pid}"}} > {ALLOCATED_MB // 2} * 1024 * 1024
        for: 1s
        labels: {{ severity: warning }}
        annotations:
          summary: "{{{{ $labels.name }}}} holds {{{{ $value | humanize }}}}B"
        escalation: [clear_caches]
""")
    config = tmp_path / "monitor.yaml"
    config.write_text(f"""
routing:
  route: {{ receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h }}
  receivers:
    - name: hook
      webhook_configs: [{{ url: "{sink.url}" }}]
""")
    env = os.environ | {"WFDOCTOR_DB": str(tmp_path / "wfdoctor.db"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    monitor = subprocess.Popen(
        [sys.executable, "-m", "wfdoctor", "monitor", "--headless", "--interval", "0.1", "--canary", "off",
         "--server-interval", "60", "--backend", "http://127.0.0.1:9", "--rules", str(rules), "--config",
         str(config), "--listen", "127.0.0.1:0", "--duration", "120"],
        env=env, stderr=subprocess.PIPE, text=True)
    lines = Lines(monitor.stderr)
    try:
        lines.wait_for(lambda event: event.get("event") == "start", 30)
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "allocated"

        pending = lines.wait_for(alert_event("pending"), 30)
        firing = lines.wait_for(alert_event("firing"), 30)
        assert pending["fingerprint"] == firing["fingerprint"] and firing["value"] > ALLOCATED_MB / 2 * 2**20
        dry_run = lines.wait_for(lambda event: event.get("event") == "action", 10)
        assert (dry_run["kind"], dry_run["level"], dry_run["applied"]) == ("clear_caches", "L1", False)

        deadline = time.monotonic() + 15
        while not sink.received and time.monotonic() < deadline:
            time.sleep(0.1)
        [notification] = sink.received[:1]
        assert notification["version"] == "4" and notification["status"] == "firing"  # type: ignore[index]
        assert notification["alerts"][0]["labels"]["alertname"] == "ChildMemory"  # type: ignore[index]
        assert notification["alerts"][0]["labels"]["pid"] == str(child.pid)  # type: ignore[index]
        assert {"receiver", "groupKey", "groupLabels", "commonLabels", "commonAnnotations", "externalURL",
                "truncatedAlerts"} <= set(notification)  # type: ignore[arg-type]

        child.stdin.write("exit\n")
        child.stdin.flush()
        child.wait(timeout=10)
        lines.wait_for(alert_event("resolved"), 30)
        deadline = time.monotonic() + 15
        while not any(n["status"] == "resolved" for n in sink.received) and time.monotonic() < deadline:  # type: ignore[index]
            time.sleep(0.1)
        assert [n["status"] for n in sink.received] == ["firing", "resolved"]  # type: ignore[index]
    finally:
        monitor.send_signal(signal.SIGTERM)
        code = monitor.wait(timeout=30)
    assert code == 0

    with MonitorStore.open(tmp_path / "wfdoctor.db") as store:
        states = [event.state for event in reversed(store.alert_history(100)) if event.name == "ChildMemory"]
        [action] = store.actions(next(r.id for r in store.list_runs() if r.command == "monitor"))
    assert states == ["pending", "firing", "resolved"]
    assert (action.kind, action.level, action.applied, action.outcome) == ("clear_caches", "L1", False, "dry run")
    assert action.alert.startswith("ChildMemory ") and action.before and action.after
