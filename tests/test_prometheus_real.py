"""A real Prometheus (Debian's package) scrapes the monitor's `/metrics` and answers queries over it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.monitoring_tools import get_json, wait_until_ready
from tests.prometheus_tools import StubView, prometheus, web_in_thread
from wfdoctor.model import Alert, AlertState, Sample
from wfdoctor.sense.backends.embedded import free_port
from wfdoctor.surface.grafana import grafana_dashboard

pytestmark = pytest.mark.slow
QUERY_DEADLINE_S = 60.0


def query(base: str, promql: str) -> list[dict[str, object]]:
    answer = get_json(f"{base}/api/v1/query?query={urllib.parse.quote(promql)}")
    assert isinstance(answer, dict) and answer["status"] == "success", answer
    return answer["data"]["result"]


def wait_for_series(base: str, promql: str) -> list[dict[str, object]]:
    """Query until the series appears (the first scrapes take a moment), bounded."""
    end = time.monotonic() + QUERY_DEADLINE_S
    while time.monotonic() < end:
        if found := query(base, promql):
            return found
        time.sleep(0.5)
    pytest.fail(f"Prometheus at {base} returned nothing for {promql} within {QUERY_DEADLINE_S:.0f} s")


def test_real_prometheus_scrapes_the_monitor_and_a_query_returns_its_series(tmp_path: Path) -> None:
    view = StubView(samples=[
        Sample("wf_cpu_utilization_ratio", 0.42, "ratio", "psutil", {"window_s": "1"}),
        Sample("wf_llm_model_loaded_bytes", 4.2e9, "bytes", "ollama",
               {"url": "http://127.0.0.1:11434", "kind": "ollama", "model": 'qwen "2.5"\n7b'})],
        alerts=[Alert("HighCpu", {"alertname": "HighCpu", "severity": "warning"}, {}, AlertState.FIRING, 0.42, 1.0)])
    with web_in_thread(view) as url, prometheus(tmp_path, [url.removeprefix("http://")]) as base:
        [cpu] = wait_for_series(base, "wf_cpu_utilization_ratio")
        assert cpu["metric"] == {"__name__": "wf_cpu_utilization_ratio", "window_s": "1", "job": "wfdoctor",
                                 "instance": url.removeprefix("http://")}
        assert float(cpu["value"][1]) == 0.42
        [model] = query(base, "wf_llm_model_loaded_bytes")
        assert model["metric"]["model"] == 'qwen "2.5"\n7b'
        [alert] = query(base, 'wf_monitor_alerts{alertstate="firing"}')
        assert alert["metric"]["alertname"] == "HighCpu"
        [up] = query(base, 'up{job="wfdoctor"}')
        assert up["value"][1] == "1"


def test_real_prometheus_accepts_every_query_of_the_shipped_dashboard(tmp_path: Path) -> None:
    view = StubView(samples=[Sample("wf_cpu_utilization_ratio", 0.42, "ratio", "psutil", {"window_s": "1"})])
    with web_in_thread(view) as url, prometheus(tmp_path, [url.removeprefix("http://")]) as base:
        wait_for_series(base, "wf_monitor_info")
        for panel in grafana_dashboard()["panels"]:
            for target in panel["targets"]:
                query(base, target["expr"].replace("$instance", ".*"))  # asserts status success
        [cpu] = query(base, 'wf_cpu_utilization_ratio{instance=~".*"}')
        assert float(cpu["value"][1]) == 0.42


def test_real_prometheus_scrapes_a_token_protected_monitor_with_its_credentials(tmp_path: Path) -> None:
    view = StubView(samples=[Sample("wf_cpu_utilization_ratio", 0.5, "ratio", "psutil")])
    with web_in_thread(view, token="s3cret") as url, \
            prometheus(tmp_path, [url.removeprefix("http://")], token="s3cret") as base:
        [cpu] = wait_for_series(base, "wf_cpu_utilization_ratio")
        assert float(cpu["value"][1]) == 0.5


def test_real_prometheus_scrapes_wfdoctor_monitor(tmp_path: Path) -> None:
    """The whole path: `wfdoctor monitor` probes the machine, serves /metrics, Prometheus stores its series."""
    listen = f"127.0.0.1:{free_port()}"
    env = os.environ | {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    monitor = subprocess.Popen([sys.executable, "-m", "wfdoctor", "monitor", "--headless", "--interval", "1",
                                "--canary", "off", "--db", str(tmp_path / "monitor.db"), "--listen", listen],
                               stdout=subprocess.DEVNULL, stderr=(tmp_path / "monitor.log").open("w"), env=env)
    try:
        wait_until_ready(f"http://{listen}/healthz", deadline_s=30)
        with prometheus(tmp_path, [listen]) as base:
            [cpu] = wait_for_series(base, "wf_cpu_utilization_ratio")
            assert 0.0 <= float(cpu["value"][1]) <= 1.0 and cpu["metric"]["instance"] == listen
            assert query(base, "wf_memory_used_ratio") and query(base, "wf_monitor_info")
    finally:
        monitor.terminate()
        assert monitor.wait(timeout=30) == 0, (tmp_path / "monitor.log").read_text()[-2000:]
