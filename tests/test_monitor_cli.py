"""`wfdoctor monitor` as a process: --duration, headless JSON lines, one monitor per database, SIGTERM during a
burst of pushed samples, and the token canary against a fake server that fails and a real one that answers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.monitoring_tools import wait_until_ready
from wfdoctor.sense.backends.embedded import free_port
from wfdoctor.store.monitoring import MonitorStore
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer, Fault

QUICK = ("--headless", "--interval", "0.1", "--server-interval", "0.5", "--listen", "127.0.0.1:0")


def events(stderr: str) -> list[dict]:
    """Every stderr line but the final summary is one JSON object."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("wfdoctor: monitor stopped:"), stderr[-2000:]
    return [json.loads(line) for line in lines[:-1]]


def monitor_samples(db: Path, metric: str) -> list:
    with MonitorStore.open(db) as store:
        run = next(r for r in store.list_runs() if r.command == "monitor")
        return [s for s in store.samples_of(run.id) if s.metric == metric]


def store_metrics(db: Path, run_id: int) -> list[str]:
    with MonitorStore.open(db) as store:
        return sorted({s.metric for s in store.samples_of(run_id)})


def test_headless_at_10_hz_for_a_duration_logs_json_and_stores_samples(wfdoctor, tmp_path: Path,
                                                                       closed_url: str) -> None:
    result = wfdoctor("monitor", *QUICK, "--duration", "2", "--canary", "off", "--backend", closed_url,
                      timeout=60)
    assert result.code == 0, result.stderr
    logged = events(result.stderr)
    assert [e["event"] for e in logged][0] == "start" and logged[-1]["event"] == "stop"
    assert any(e["event"] == "error" and "server http://127.0.0.1" in e["message"] for e in logged)
    assert "Traceback" not in result.stderr
    assert len(monitor_samples(tmp_path / "wfdoctor.db", "wf_cpu_utilization_ratio")) >= 10
    assert {s.value for s in monitor_samples(tmp_path / "wfdoctor.db", "wf_llm_server_up")} == {0.0}


def test_a_second_monitor_is_refused_with_the_first_ones_pid(wfdoctor, tmp_path: Path, closed_url: str) -> None:
    env = os.environ | {"WFDOCTOR_DB": str(tmp_path / "wfdoctor.db")}
    first = subprocess.Popen([sys.executable, "-m", "wfdoctor", "monitor", *QUICK, "--canary", "off",
                              "--backend", closed_url, "--duration", "20"], env=env, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert first.stderr is not None and '"event": "start"' in first.stderr.readline()
        second = wfdoctor("monitor", "--headless", "--duration", "1", timeout=30)
        assert second.code == 2
        assert second.stderr.strip() == (f"wfdoctor: error: a monitor is already running on "
                                         f"{tmp_path / 'wfdoctor.db'} (pid {first.pid})")
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0  # SIGTERM is how a service stops: exit 0


def test_listening_beyond_loopback_without_a_token_is_refused(wfdoctor) -> None:
    result = wfdoctor("monitor", "--headless", "--listen", "0.0.0.0:8471", "--duration", "1")
    assert result.code == 2 and "needs --token" in result.stderr and "Traceback" not in result.stderr


BURST = """
import sys, threading, time
from pathlib import Path
from wfdoctor.app.monitor import Monitor, MonitorOptions
from wfdoctor.app.monitor_view import Overloaded
from wfdoctor.model import Sample
from wfdoctor.surface.cli_monitor import run_until_stopped
from wfdoctor.surface.views.monitor import HeadlessLog

options = MonitorOptions(interval_s=0.1, canary_interval_s=None, backend_urls=[sys.argv[2]], queue_capacity=2000,
                         listen="127.0.0.1:0")
monitor = Monitor(options, Path(sys.argv[1]), observer=HeadlessLog())

def burst():
    while not monitor.started.is_set():
        time.sleep(0.01)
    print("ready", flush=True)
    sent = 0
    while True:
        batch = [Sample("wf_ui_frame_time_seconds", 0.016, "s", "burst", {"seq": str(sent + i)}) for i in range(50)]
        try:
            monitor.accept(batch)
        except Overloaded:
            time.sleep(0.001)
            continue
        sent += 50
        print(sent, flush=True)

threading.Thread(target=burst, daemon=True).start()
summary = run_until_stopped(monitor, options, None)
print("accepted", summary.accepted, flush=True)
"""


@pytest.mark.slow
def test_sigterm_during_a_burst_of_pushed_samples_loses_none_acknowledged(tmp_path: Path, closed_url: str) -> None:
    db = tmp_path / "w.db"
    proc = subprocess.Popen([sys.executable, "-c", BURST, str(db), closed_url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    lines = out.split()
    acknowledged = max(int(x) for x in lines if x.isdigit())
    accepted = int(out.rsplit("accepted", 1)[1])
    stored = monitor_samples(db, "wf_ui_frame_time_seconds")
    assert acknowledged >= 500  # the burst really was one
    assert len(stored) == accepted >= acknowledged
    assert len({s.labels["seq"] for s in stored}) == len(stored)


def test_a_failing_canary_is_a_probe_failure_and_the_monitor_goes_on(wfdoctor, tmp_path: Path) -> None:
    with FakeLLMServer(FakeConfig(tokens=8, fault=Fault("status"))) as server:
        result = wfdoctor("monitor", *QUICK, "--duration", "3", "--canary", "1s", "--backend", server.base_url,
                          timeout=60)
    assert result.code == 0, result.stderr
    logged = events(result.stderr)
    canary_errors = [e for e in logged if e["event"] == "error" and e["message"].startswith("canary ")]
    assert len(canary_errors) == 1, logged  # said once while it keeps failing
    ok = monitor_samples(tmp_path / "wfdoctor.db", "wf_monitor_probe_ok")
    assert {s.value for s in ok if s.labels == {"probe": "canary"}} == {0.0}
    assert len(monitor_samples(tmp_path / "wfdoctor.db", "wf_cpu_utilization_ratio")) >= 10


def test_the_canary_is_a_stored_tokens_run_against_a_real_server(wfdoctor, llm_server, tmp_path: Path) -> None:
    result = wfdoctor("monitor", *QUICK, "--duration", "8", "--canary", "1h", "--backend", llm_server.base_url,
                      timeout=120)
    assert result.code == 0, result.stderr
    db = tmp_path / "wfdoctor.db"
    with MonitorStore.open(db) as store:
        runs = store.list_runs()
        tokens_run = next(r for r in runs if r.command == "tokens")
        ttft = [s for s in store.samples_of(tokens_run.id) if s.metric == "wf_llm_time_to_first_token_seconds"]
    assert tokens_run.status == "finished" and ttft, (result.stderr[-3000:], store_metrics(db, tokens_run.id))
    assert {s.value for s in monitor_samples(db, "wf_monitor_probe_ok") if s.labels == {"probe": "canary"}} == {1.0}
    assert {s.value for s in monitor_samples(db, "wf_llm_server_up")} == {1.0}


def test_watching_a_llama_cpp_python_server_does_not_cut_its_users_answers(wfdoctor, llm_server,
                                                                          tmp_path: Path) -> None:
    """That server cuts a streaming answer when any request takes its model lock (/v1/models too)."""
    env = os.environ | {"WFDOCTOR_DB": str(tmp_path / "monitor.db")}
    watcher = subprocess.Popen([sys.executable, "-m", "wfdoctor", "monitor", "--headless", "--server-interval",
                                "0.2", "--canary", "off", "--listen", "127.0.0.1:0", "--backend", llm_server.base_url, "--duration", "60"],
                               env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert watcher.stderr is not None and '"event": "start"' in watcher.stderr.readline()
        doc = wfdoctor("tokens", "--json", "--backend", llm_server.base_url, "--runs", "3", "--warmup", "0",
                       "--max-tokens", "48", "--no-bandwidth", "--fail-on", "never", timeout=120).json()
    finally:
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(timeout=30) == 0
    level = doc["levels"][0]
    assert level["ok"] == level["requests"] == 3, level["errors"]
    assert {s.value for s in monitor_samples(tmp_path / "monitor.db", "wf_llm_server_up")} == {1.0}


def test_llama_cpp_servers_load_is_read_from_its_metrics_and_slots(wfdoctor, llama_server, tmp_path: Path) -> None:
    result = wfdoctor("monitor", *QUICK, "--duration", "2", "--canary", "off", "--backend", llama_server,
                      timeout=60)
    assert result.code == 0, result.stderr
    db = tmp_path / "wfdoctor.db"
    assert {s.value for s in monitor_samples(db, "wf_llm_server_slots_total")} == {3.0}  # the fixture's --parallel
    assert {s.value for s in monitor_samples(db, "wf_llm_server_requests_deferred")} == {0.0}
    assert monitor_samples(db, "wf_llm_server_requests_processing")


def test_the_config_file_sets_what_the_options_do_not(wfdoctor, tmp_path: Path, closed_url: str) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(f"monitor:\n  interval: 100ms\n  server_interval: 500ms\n  canary: off\n"
                      f"  backends: [{closed_url}]\n  listen: 127.0.0.1:0\n")
    result = wfdoctor("monitor", "--headless", "--config", str(config), "--duration", "1.5", timeout=60)
    assert result.code == 0, result.stderr
    assert events(result.stderr)[0]["interval_s"] == 0.1
    assert {s.labels["url"] for s in monitor_samples(tmp_path / "wfdoctor.db", "wf_llm_server_up")} == {closed_url}
    config.write_text("monitor:\n  interval: 1s\n  canery: off\n")
    bad = wfdoctor("monitor", "--headless", "--config", str(config), "--duration", "1")
    assert bad.code == 2 and f"{config}:3: field 'monitor.canery'" in bad.stderr and "Traceback" not in bad.stderr


def test_the_canary_never_makes_an_idle_ollama_load_a_model(wfdoctor, tmp_path: Path) -> None:
    installed_not_loaded = [{"name": "smollm2:135m", "size": 270_000_000, "size_vram": 0, "expires_at": "",
                             "loaded": False}]
    with FakeLLMServer(FakeConfig(tokens=8, models=installed_not_loaded)) as server:
        result = wfdoctor("monitor", *QUICK, "--duration", "2", "--canary", "1s", "--backend", server.base_url,
                          timeout=60)
    assert result.code == 0, result.stderr
    with MonitorStore.open(tmp_path / "wfdoctor.db") as store:
        assert [run.command for run in store.list_runs()] == ["monitor"]  # no canary ran (it records a run)
    assert {s.value for s in monitor_samples(tmp_path / "wfdoctor.db", "wf_llm_server_up")} == {1.0}


def push_until_refused(url: str, acknowledged: list[int], started: threading.Event) -> None:
    """POST batches of 50 numbered frame samples until the monitor stops answering; count the 202s."""
    sent = 0
    while True:
        batch = [{"metric": "wf_ui_frame_time_seconds", "value": 0.016, "unit": "s", "labels": {"seq": str(sent + i)}}
                 for i in range(50)]
        request = urllib.request.Request(f"{url}/api/samples", json.dumps(batch).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 202:
                    sent += 50
                    acknowledged.append(sent)
                    started.set()
        except urllib.error.HTTPError as refused:
            if refused.code != 429:  # 429: the queue is full, try again
                return
        except OSError:  # the monitor has closed its door
            return


@pytest.mark.slow
def test_sigterm_during_a_burst_of_http_pushes_loses_none_answered_202(tmp_path: Path, closed_url: str) -> None:
    db, port = tmp_path / "w.db", free_port()
    monitor = subprocess.Popen([sys.executable, "-m", "wfdoctor", "monitor", "--headless", "--interval", "0.1",
                                "--canary", "off", "--backend", closed_url, "--db", str(db),
                                "--listen", f"127.0.0.1:{port}"], stderr=subprocess.PIPE, text=True)
    acknowledged: list[int] = []
    started = threading.Event()
    try:
        assert monitor.stderr is not None and '"event": "start"' in monitor.stderr.readline()
        wait_until_ready(f"http://127.0.0.1:{port}/healthz", deadline_s=30)
        pusher = threading.Thread(target=push_until_refused, args=(f"http://127.0.0.1:{port}", acknowledged,
                                                                   started))
        pusher.start()
        assert started.wait(30)
        time.sleep(1.0)
        monitor.send_signal(signal.SIGTERM)
        _, err = monitor.communicate(timeout=60)
        pusher.join(30)
    finally:
        monitor.kill()  # a failed assertion must not leave the monitor running
        monitor.wait()
    assert monitor.returncode == 0, err[-2000:]
    stored = {s.labels["seq"] for s in monitor_samples(db, "wf_ui_frame_time_seconds")}
    assert acknowledged[-1] >= 500  # the burst really was one
    assert {str(seq) for seq in range(acknowledged[-1])} <= stored   # every sample answered 202 is stored
