"""Model memory actions against the Ollama fake server: dry run by default, logged, measured."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from wfdoctor.analyze.models import lru_plan
from wfdoctor.sense.backends.base import ModelInfo
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer

GB = 1_000_000_000
MODELS = [
    {"name": "llama3.1:8b", "size": 6 * GB, "size_vram": 6 * GB, "expires_at": "2026-11-27T01:10:00Z", "loaded": True},
    {"name": "qwen2.5:7b", "size": 5 * GB, "size_vram": 2 * GB, "expires_at": "2026-11-27T01:02:00Z", "loaded": True},
    {"name": "phi3:mini", "size": 2 * GB, "size_vram": 2 * GB, "expires_at": "2026-11-27T01:05:00Z", "loaded": True},
    {"name": "gemma3:4b", "size": 3 * GB, "size_vram": 0, "expires_at": "", "loaded": False},
]


def loaded(wfdoctor, url: str) -> list[str]:
    return [m["name"] for m in wfdoctor("memory", "models", "--backend", url, "--json").json()["state"]["loaded"]]


def actions_logged(db: Path) -> list[tuple]:
    return sqlite3.connect(db).execute("SELECT kind, target, applied FROM actions ORDER BY id").fetchall()


def test_models_lists_size_vram_share_and_expiry(wfdoctor) -> None:
    with FakeLLMServer(FakeConfig(models=MODELS)) as server:
        doc = wfdoctor("memory", "models", "--backend", server.base_url, "--json").json()
    state = {m["name"]: m for m in doc["state"]["loaded"]}
    assert set(state) == {"llama3.1:8b", "qwen2.5:7b", "phi3:mini"}
    assert state["qwen2.5:7b"]["vram_bytes"] == 2 * GB
    assert state["qwen2.5:7b"]["expires_at"] == "2026-11-27T01:02:00Z"
    assert doc["state"]["loaded_bytes"] == 13 * GB


def test_unload_is_a_logged_dry_run_until_applied(wfdoctor, tmp_path: Path) -> None:
    with FakeLLMServer(FakeConfig(models=MODELS)) as server:
        dry = wfdoctor("memory", "unload", "phi3:mini", "--backend", server.base_url, "--json").json()
        assert "phi3:mini" in loaded(wfdoctor, server.base_url)
        real = wfdoctor("memory", "unload", "phi3:mini", "--backend", server.base_url, "--apply", "--json").json()
        assert "phi3:mini" not in loaded(wfdoctor, server.base_url)
    assert dry["actions"][0]["applied"] is False
    [action] = real["actions"]
    assert action["before"]["loaded_bytes"] == 13 * GB and action["after"]["loaded_bytes"] == 11 * GB
    logged = actions_logged(tmp_path / "wfdoctor.db")
    assert [(kind, applied) for kind, _, applied in logged] == [("unload", 0), ("unload", 1)]


def test_preload_loads_a_model(wfdoctor) -> None:
    with FakeLLMServer(FakeConfig(models=MODELS)) as server:
        wfdoctor("memory", "preload", "gemma3:4b", "--backend", server.base_url, "--apply")
        assert "gemma3:4b" in loaded(wfdoctor, server.base_url)


def test_lru_eviction_unloads_the_least_recently_used_first(wfdoctor) -> None:
    with FakeLLMServer(FakeConfig(models=MODELS)) as server:
        doc = wfdoctor("memory", "evict", "--budget", "7GB", "--backend", server.base_url, "--apply", "--json").json()
        assert loaded(wfdoctor, server.base_url) == ["llama3.1:8b"]
    assert doc["plan"]["unload"] == ["qwen2.5:7b", "phi3:mini"]
    assert all(action["applied"] and "LRU eviction" in action["reason"] for action in doc["actions"])


def test_lru_plan_stops_once_the_rest_fits() -> None:
    models = [ModelInfo(m["name"], True, m["size"], m["size_vram"], m["expires_at"]) for m in MODELS[:3]]
    assert lru_plan(models, 11 * GB).unload == ["qwen2.5:7b"]
    assert lru_plan(models, 20 * GB).unload == []


def test_model_actions_need_an_ollama_server(wfdoctor, llm_server) -> None:
    result = wfdoctor("memory", "models", "--backend", llm_server.base_url)
    assert result.code == 2 and "need Ollama's API" in result.stderr
