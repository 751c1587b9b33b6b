"""README claims from the commands table and "Verified against what" that no other test pinned down.

The fake server stands in for Ollama (the README says no real Ollama was measured).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

import wfdoctor as wfdoctor_api
from wfdoctor.sense.backends.discovery import discover
from wfdoctor.sense.system import SystemProbe
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer

GB = 1_000_000_000
MODELS = [
    {"name": "llama3.1:8b", "size": 6 * GB, "size_vram": 6 * GB, "expires_at": "2026-11-27T01:10:00Z", "loaded": True},
    {"name": "qwen2.5:7b", "size": 5 * GB, "size_vram": 2 * GB, "expires_at": "2026-11-27T01:02:00Z", "loaded": True},
    {"name": "gemma3:4b", "size": 3 * GB, "size_vram": 0, "expires_at": "", "loaded": False},
]


def test_the_cpu_clock_and_temperatures_are_sampled_where_the_os_reports_them(monkeypatch) -> None:
    """This VM reports no maximum clock and no temperatures: psutil's answers are scripted as on a machine
    that does."""
    monkeypatch.setattr(psutil, "cpu_freq", lambda: SimpleNamespace(current=1200.0, min=800.0, max=3000.0))
    monkeypatch.setattr(psutil, "sensors_temperatures", lambda: {
        "coretemp": [SimpleNamespace(label="Core 0", current=71.0, high=90.0, critical=100.0)]})
    samples = SystemProbe().read()
    clock = {s.labels.get("kind"): s.value for s in samples if s.metric == "wf_cpu_frequency_hertz"}
    assert clock == {"current": 1.2e9, "max": 3e9}
    assert [s.value for s in samples if s.metric == "wf_cpu_frequency_ratio"] == [pytest.approx(0.4)]
    [temperature] = [s for s in samples if s.metric == "wf_temperature_celsius"]
    assert (temperature.labels, temperature.value, temperature.unit) == (
        {"sensor": "coretemp", "label": "Core 0"}, 71.0, "°C")


def test_without_backend_discovery_probes_ollama_on_11434_then_openai_on_8080_8000_1234() -> None:
    statuses = asyncio.run(discover(timeout_s=0.3))
    assert [(s.url, s.kind) for s in statuses] == [
        ("http://127.0.0.1:11434", "ollama"), ("http://127.0.0.1:8080", "openai"),
        ("http://127.0.0.1:8000", "openai"), ("http://127.0.0.1:1234", "openai")]


def test_ollama_lists_installed_models_from_api_tags_beside_the_loaded_ones_from_api_ps() -> None:
    with FakeLLMServer(FakeConfig(models=MODELS)) as server:
        [status] = asyncio.run(discover([server.base_url]))
    models = {m.name: m for m in status.models}
    assert {name for name, m in models.items() if m.loaded} == {"llama3.1:8b", "qwen2.5:7b"}
    installed = models["gemma3:4b"]
    assert not installed.loaded and installed.size_bytes == 3 * GB


def test_ollama_api_generate_streams_with_the_servers_own_durations_in_ns(wfdoctor) -> None:
    config = FakeConfig(ttft_s=0.06, itl_s=0.005, tokens=9, prompt_tokens=30)
    with FakeLLMServer(config) as server:
        result = wfdoctor("tokens", "--json", "--backend", server.base_url, "--api", "completion", "--runs", "2",
                          "--warmup", "0", "--no-bandwidth", "--fail-on", "never")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["backend"]["implementation"] == "ollama" and doc["settings"]["api"] == "completion"
    for request in doc["requests"]["1"]:
        assert request["ok"] and request["output_tokens"] == 9
        assert request["output_tokens_source"] == "server eval_count"
        assert request["server"]["prefill_s"] == pytest.approx(0.06)   # prompt_eval_duration, ns -> s
        assert request["prefill_tps"] == pytest.approx(30 / 0.06)     # prompt_eval_count / its duration


def loaded(wfdoctor, url: str) -> list[str]:
    return [m["name"] for m in wfdoctor("memory", "models", "--backend", url, "--json").json()["state"]["loaded"]]


def test_preload_and_evict_are_logged_dry_runs_until_applied(wfdoctor, tmp_path: Path) -> None:
    with FakeLLMServer(FakeConfig(models=MODELS)) as server:
        before = loaded(wfdoctor, server.base_url)
        preload = wfdoctor("memory", "preload", "gemma3:4b", "--backend", server.base_url, "--json").json()
        evict = wfdoctor("memory", "evict", "--budget", "7GB", "--backend", server.base_url, "--json").json()
        assert loaded(wfdoctor, server.base_url) == before == ["llama3.1:8b", "qwen2.5:7b"]
    assert evict["plan"]["unload"] == ["qwen2.5:7b"]
    assert [a["applied"] for a in preload["actions"] + evict["actions"]] == [False, False]
    logged = sqlite3.connect(tmp_path / "wfdoctor.db").execute(
        "SELECT kind, target, applied FROM actions ORDER BY id").fetchall()
    assert logged == [("preload", f"{server.base_url}#gemma3:4b", 0), ("unload", f"{server.base_url}#qwen2.5:7b", 0)]


def test_regress_keeps_the_history_of_the_metrics_wfdoctor_measures(wfdoctor, tmp_path: Path) -> None:
    runs = 8  # the fewest points a series needs for a verdict
    with FakeLLMServer(FakeConfig(ttft_s=0.02, itl_s=0.002, tokens=8)) as server:
        options = wfdoctor_api.TokensOptions(backend_url=server.base_url, runs=2, warmup=0, max_tokens=8,
                                             measure_bandwidth=False)
        for _ in range(runs):
            wfdoctor_api.measure_tokens(options, db=tmp_path / "wfdoctor.db")  # the fixture's $WFDOCTOR_DB
    shown = wfdoctor("regress", "show", "wf_llm_decode_tokens_per_second")
    assert shown.code == 0, shown.stderr
    assert f"wf_llm_decode_tokens_per_second{{concurrency=1,stat=p50}}: {runs} points" in shown.stdout
    checked = wfdoctor("regress", "check", "--json").json()
    assert {"wf_llm_decode_tokens_per_second", "wf_llm_time_to_first_token_seconds"} <= {
        v["metric"] for v in checked["series"]}
