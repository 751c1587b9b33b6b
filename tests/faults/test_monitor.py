"""The monitor when things go wrong around it: a canary stuck on a hung server, a monitor killed with
SIGKILL, a database it cannot create. Exit codes, one-line errors, no traceback, what the store kept,
and a time bound where a hang is possible."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wfdoctor.store.monitoring import MonitorStore
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer, Fault

pytestmark = pytest.mark.slow  # every case starts the monitor as a process
STOP_BOUND_S = 20.0  # generous on a shared 2-core machine; a canary waiting on the hung server would take 30 s+


def monitor(db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "wfdoctor", "monitor", "--headless", "--interval", "0.2",
                             "--listen", "127.0.0.1:0", "--db", str(db), *args], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def test_a_canary_stuck_on_a_hung_server_does_not_hold_the_monitors_exit(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    with FakeLLMServer(FakeConfig(fault=Fault("hang"))) as server:
        proc = monitor(db, "--canary", "1s", "--backend", server.base_url, "--duration", "3")
        started = time.monotonic()
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - started
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]
    assert took < STOP_BOUND_S
    with MonitorStore.open(db) as store:  # opening marks the canary's run of the dead process abandoned
        runs = {run.command: run.status for run in store.list_runs()}
    assert runs == {"monitor": "finished", "tokens": "abandoned"}


def test_a_killed_monitor_frees_the_database_for_the_next_one(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    first = monitor(db, "--canary", "off", "--backend", "http://127.0.0.1:9")
    assert first.stderr is not None and '"event": "start"' in first.stderr.readline()
    time.sleep(2.5)  # past the writer's first batches (one a second)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    second = monitor(db, "--canary", "off", "--backend", "http://127.0.0.1:9", "--duration", "1")
    _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err[-2000:]
    with MonitorStore.open(db) as store:
        statuses = [run.status for run in store.list_runs()]
        kept = store.samples_of(store.list_runs()[-1].id)
    assert statuses == ["finished", "abandoned"]  # newest first
    assert kept  # what the killed monitor had written stays


def test_a_database_it_cannot_create_is_one_line_and_exit_2(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    proc = monitor(blocked / "w.db", "--canary", "off", "--duration", "1")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().count("\n") == 0 and err.startswith("wfdoctor: error: ") and "Traceback" not in err
