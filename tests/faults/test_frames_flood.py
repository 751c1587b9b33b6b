"""A flood of frame reports against a running monitor: the page door answers 429 past each tab's budget, stores
only what it answered 202, and the monitor's own machine ticks keep their pace."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.monitoring_tools import wait_until_ready
from tests.test_frames_ingest import REPORT
from tests.test_monitor_cli import monitor_samples
from wfdoctor.config.facts import load_facts
from wfdoctor.sense.backends.embedded import free_port

THREADS = 8
INTERVAL_S = 0.2
PHASE_S = 4.0


def flood(port: int, session: str, until: float, statuses: list[int], retry_after: list[str]) -> None:
    """POST one tab's report over one keep-alive connection as fast as the monitor answers, until `until`."""
    body = json.dumps({**REPORT, "session": session}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        while time.time() < until:
            connection.request("POST", "/api/frames", body, {"Content-Type": "text/plain"})
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
            if response.status == 429:
                retry_after.append(response.getheader("Retry-After", ""))
    finally:
        connection.close()


def ticks_between(db: Path, start: float, end: float) -> int:
    """Machine ticks stored with a timestamp in [start, end): one CPU reading each."""
    return len([s for s in monitor_samples(db, "wf_cpu_utilization_ratio") if start <= s.ts < end])


@pytest.mark.slow
def test_a_flood_of_reports_from_threads_gets_429s_and_the_machine_ticks_keep_their_rate(
        tmp_path: Path, closed_url: str) -> None:
    db, port = tmp_path / "w.db", free_port()
    monitor = subprocess.Popen([sys.executable, "-m", "wfdoctor", "monitor", "--headless", "--interval",
                                str(INTERVAL_S), "--canary", "off", "--backend", closed_url, "--db", str(db),
                                "--listen", f"127.0.0.1:{port}"], stderr=subprocess.PIPE, text=True)
    statuses: list[int] = []
    retry_after: list[str] = []
    try:
        assert monitor.stderr is not None and '"event": "start"' in monitor.stderr.readline()
        wait_until_ready(f"http://127.0.0.1:{port}/healthz", deadline_s=30)
        quiet = time.time()
        time.sleep(PHASE_S)
        flooded = time.time()
        threads = [threading.Thread(target=flood, args=(port, f"tab{n}", flooded + PHASE_S, statuses, retry_after))
                   for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(PHASE_S + 30)
        done = time.time()
        monitor.send_signal(signal.SIGTERM)
        _, err = monitor.communicate(timeout=60)
    finally:
        monitor.kill()  # a failed assertion must not leave the monitor running
        monitor.wait()
    assert monitor.returncode == 0 and "Traceback" not in err, err[-2000:]
    budget = load_facts().limits.ui.reports_per_page_per_minute
    assert len(statuses) >= 1000, len(statuses)                 # a flood: thousands of reports
    assert statuses.count(202) == THREADS * budget              # each tab its budget, no more
    assert statuses.count(429) == len(statuses) - THREADS * budget
    assert all(1 <= int(seconds) <= 60 for seconds in retry_after)
    stored = monitor_samples(db, "wf_ui_frames")
    assert len(stored) == THREADS * budget                      # the store kept exactly what was answered 202
    quiet_ticks = ticks_between(db, quiet, flooded)
    flood_ticks = ticks_between(db, flooded, done)
    assert quiet_ticks >= PHASE_S / INTERVAL_S / 2, quiet_ticks     # the machine ticks at all (loaded CI)
    assert flood_ticks / (done - flooded) >= 0.5 * quiet_ticks / (flooded - quiet), (quiet_ticks, flood_ticks)
