"""`wfdoctor recover` end to end: the real command against the fake Ollama (and llama.cpp) server."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from wfdoctor.testing.fake_llm import MODEL, FakeConfig, FakeLLMServer


def keep_alive_requests(server: FakeLLMServer) -> list[dict]:
    return [r["body"] for r in server.received() if r["path"] == "/api/generate" and "keep_alive" in r["body"]]


def stored_actions(tmp_path: Path) -> list[dict]:
    with sqlite3.connect(tmp_path / "wfdoctor.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM actions ORDER BY id")]


def monitor_config(tmp_path: Path, **recovery: object) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(json.dumps({"recovery": recovery}))   # JSON is YAML
    return path


IDLE, IN_USE = "idle:7b", "in-use:7b"
TWO_MODELS = FakeConfig(implementation="ollama", models=[
    {"name": IDLE, "size": 5_000_000_000, "size_vram": 0, "expires_at": "2026-11-27T01:05:00Z", "loaded": True},
    {"name": IN_USE, "size": 6_000_000_000, "size_vram": 0, "expires_at": "2026-11-27T01:09:00Z", "loaded": True}])


def test_apply_unload_idle_models_unloads_through_ollamas_api_with_memory_before_and_after(wfdoctor,
                                                                                           tmp_path: Path) -> None:
    with FakeLLMServer(TWO_MODELS) as server:
        result = wfdoctor("recover", "--apply", "unload_idle_models", "--backend", server.base_url, "--json")
        sent = keep_alive_requests(server)
    assert result.code == 0, result.stderr
    assert sent == [{"model": IDLE, "keep_alive": 0}]     # the one used last (latest expiry) is kept
    action = result.json()["action"]
    assert (action["kind"], action["level"], action["applied"], action["outcome"]) == (
        "unload_idle_models", "L1", True, "relieved")
    assert [m["name"] for m in action["before"]["memory"]["models"]] == [IDLE, IN_USE]
    assert [m["name"] for m in action["after"]["memory"]["models"]] == [IN_USE]
    [stored] = stored_actions(tmp_path)
    before, after = json.loads(stored["before"]), json.loads(stored["after"])
    assert stored["outcome"] == "relieved" and stored["applied"] == 1
    for evidence in (before, after):
        assert 0 < evidence["memory"]["ram_used_ratio"] < 1 and evidence["memory"]["ram_available_bytes"] > 0
    assert (before["model_bytes"], after["model_bytes"]) == (11_000_000_000, 6_000_000_000)


def test_with_one_model_loaded_the_idle_unload_keeps_it_and_points_to_l2(wfdoctor) -> None:
    with FakeLLMServer(FakeConfig(implementation="ollama")) as server:
        idle = wfdoctor("recover", "--apply", "unload_idle_models", "--backend", server.base_url, "--json")
        assert keep_alive_requests(server) == []
        everything = wfdoctor("recover", "--apply", "unload_all_models", "--backend", server.base_url, "--json")
        sent = keep_alive_requests(server)
    assert idle.json()["action"]["outcome"] == "no change"
    assert "unload_all_models" in idle.json()["action"]["after"]["notes"][0]
    assert everything.json()["action"]["outcome"] == "relieved"
    assert sent == [{"model": MODEL, "keep_alive": 0}]


def test_by_default_a_step_is_a_dry_run_that_sends_and_writes_nothing(wfdoctor, tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    config = monitor_config(tmp_path, settings_file=str(settings))
    with FakeLLMServer(FakeConfig(implementation="ollama")) as server:
        unload = wfdoctor("recover", "--dry-run", "unload_all_models", "--backend", server.base_url, "--json")
        lower = wfdoctor("recover", "--dry-run", "lower_council_size", "--config", str(config), "--backend",
                         server.base_url)
        sent = keep_alive_requests(server)
    assert unload.code == lower.code == 0, unload.stderr + lower.stderr
    assert unload.json()["action"]["outcome"] == "dry run"
    assert unload.json()["action"]["after"]["unloading"] == [f"{server.base_url}#{MODEL}"]
    assert "dry run (add --apply to do it)" in lower.stdout
    assert sent == [] and not settings.exists()
    assert [row["outcome"] for row in stored_actions(tmp_path)] == ["dry run", "dry run"]


def test_apply_lowers_the_council_in_the_configured_settings_file(wfdoctor, tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"council_size": 4, "theme": "dark"}))
    config = monitor_config(tmp_path, settings_file=str(settings))
    result = wfdoctor("recover", "--apply", "lower_council_size", "--config", str(config), "--backend",
                      "http://127.0.0.1:1", "--json")
    assert result.code == 0, result.stderr
    assert json.loads(settings.read_text()) == {"council_size": 1, "theme": "dark"}
    assert result.json()["action"]["after"]["from"] == 4


def test_a_broken_settings_file_fails_the_step_in_one_line_and_is_left_unchanged(wfdoctor, tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text('{"council_size": 4,')
    config = monitor_config(tmp_path, settings_file=str(settings))
    result = wfdoctor("recover", "--apply", "lower_council_size", "--config", str(config), "--backend",
                      "http://127.0.0.1:1")
    assert result.code == 1
    assert settings.read_text() == '{"council_size": 4,'
    shown = " ".join(result.stdout.split())   # the terminal may wrap the line; the words are what count
    assert f"error: {settings}:1: the WIRTHFORGE settings file is not valid JSON" in shown
    assert shown.count("error:") == 1
    assert "Traceback" not in result.stdout + result.stderr


def test_a_llama_cpp_server_has_no_unload_call_and_the_step_says_so(wfdoctor) -> None:
    with FakeLLMServer(FakeConfig(implementation="llama.cpp")) as server:
        result = wfdoctor("recover", "--apply", "unload_idle_models", "--backend", server.base_url, "--json")
        posts = [r for r in server.received() if r["method"] == "POST"]
    assert result.code == 0, result.stderr
    action = result.json()["action"]
    assert action["outcome"] == "unsupported"
    assert "has no call to unload a model" in action["after"]["notes"][0]
    assert posts == []


@pytest.mark.parametrize(("args", "message"), [
    (("--apply", "reboot_the_moon"), "unknown recovery step 'reboot_the_moon'"),
    (("--apply", "restart_or_reinstall"), "is L4: instructions for a person, nothing to run"),
    (("--apply", "clear_caches", "--dry-run", "clear_caches"), "not both"),
])
def test_bad_input_is_exit_2_with_one_line(wfdoctor, args: tuple[str, ...], message: str) -> None:
    result = wfdoctor("recover", *args)
    assert result.code == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_an_l2_step_in_auto_apply_is_refused_naming_the_config(wfdoctor, tmp_path: Path) -> None:
    config = monitor_config(tmp_path, auto_apply=["stop_generation"])
    result = wfdoctor("recover", "--config", str(config))
    assert result.code == 2
    assert result.stderr.strip() == (f"wfdoctor: error: {config}: recovery.auto_apply: 'stop_generation' is L2; "
                                     "only L1 steps run on their own")


def test_the_listing_names_the_level_now_and_the_l2_commands(wfdoctor) -> None:
    with FakeLLMServer(FakeConfig(implementation="ollama")) as server:
        result = wfdoctor("recover", "--backend", server.base_url, "--json")
    assert result.code == 0, result.stderr
    document = result.json()
    assert document["level_now"] in ("none", "L1", "L2", "L3", "L4")
    steps = {step["id"]: step for step in document["steps"]}
    assert steps["unload_all_models"]["commands"] == [["wfdoctor", "recover", "--apply", "unload_all_models"],
                                                      ["ollama", "stop", MODEL]]
    assert steps["unload_idle_models"]["because"]   # the threshold it was compared with, or why not
