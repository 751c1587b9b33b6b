"""`wfdoctor troubleshoot` against the scripted server: what a real one cannot show on demand.

- An L1 action that makes things worse: with `--apply`, troubleshoot unloads an idle Ollama model through the
  recovery ladder; the scripted server then generates slower while a model is unloaded. Validation measures it
  worse, the unload is rolled back (the model loaded again through Ollama's API) and the incident says so.
- `--interactive`: the person is asked before an L1 action and after each L2-L4 action.
- Bad input: one line, exit 2, nothing stored.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import validate_document
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer

IN_USE, IDLE = "chat:1b", "idle:7b"
# The model measured is the one used last (latest expiry), so the idle unload picks the other. While it is
# unloaded, every token takes 25 ms more: an unload that makes generation 6x slower.
UNLOAD_HURTS = FakeConfig(implementation="ollama", ttft_s=0.02, itl_s=0.005, tokens=12, unloaded_itl_s=0.025, models=[
    {"name": IN_USE, "size": 1_000_000_000, "size_vram": 0, "expires_at": "2026-11-27T01:09:00Z", "loaded": True},
    {"name": IDLE, "size": 5_000_000_000, "size_vram": 0, "expires_at": "2026-11-27T01:05:00Z", "loaded": True}])


def memory_always_high(tmp_path: Path) -> Path:
    """A facts file whose memory warning is 1 %: the memory rule (HIGH_MEMORY, first action: unload inactive models,
    L1) matches on any machine. The CPU rules and causes are out of reach, so a busy test machine (other tests,
    other work) cannot put CPU contention above it."""
    path = tmp_path / "facts.yaml"
    tiers = "".join(f"  {tier}:\n    memory_percent: {{ warning: 1, critical: 100 }}\n"
                    f"    cpu_percent: {{ warning: 1000, critical: 1000 }}\n" for tier in ("low", "mid", "high"))
    path.write_text("thresholds:\n" + tiers + "limits:\n  tokens:\n    contention_other_cores: 1000\n"
                    "    cpu_bound_server_cores: 1000\n")
    return path


def keep_alive_bodies(server: FakeLLMServer) -> list[dict]:
    return [r["body"] for r in server.received() if r["path"] == "/api/generate" and "keep_alive" in r["body"]]


def test_an_applied_action_that_makes_things_worse_is_rolled_back_and_the_incident_says_so(wfdoctor,
                                                                                          tmp_path: Path) -> None:
    with FakeLLMServer(UNLOAD_HURTS) as server:
        result = wfdoctor("troubleshoot", "--backend", server.base_url, "--model", IN_USE, "--apply", "--json",
                          "--facts", str(memory_always_high(tmp_path)), "--memory-watch", "1", "--window", "0.5",
                          timeout=300)
        sent = keep_alive_bodies(server)
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout)
    validate_document(document)
    incident = document["incident"]
    assert incident["cause"] == "HIGH_MEMORY"
    assert sent[0] == {"model": IDLE, "keep_alive": 0}            # the unload, through the recovery ladder
    assert sent[1]["model"] == IDLE and sent[1]["keep_alive"] != 0  # the rollback: loaded again
    unload = next(a for a in incident["actions"] if a["action_id"] == "unload_inactive_models")
    assert unload["level"] == "L1" and unload["disposition"] == "rolled_back"
    assert unload["record"]["applied"] and "rolled back" in unload["detail"]
    decode = next(c for c in incident["validation"] if c["metric"] == "wf_llm_request_decode_tokens_per_second")
    assert decode["verdict"] == "worse" and decode["p_value"] < 0.01
    assert incident["verdict"] == "worse" and incident["status"] == "rolled_back"
    assert result.code == 1
    with sqlite3.connect(tmp_path / "wfdoctor.db") as db:
        kinds = [row[0] for row in db.execute("SELECT kind FROM actions ORDER BY id")]
    assert kinds == ["unload_idle_models", "preload"]              # both logged, with memory before and after


def test_without_apply_the_l1_action_is_a_logged_dry_run_and_the_incident_waits(wfdoctor, tmp_path: Path) -> None:
    with FakeLLMServer(UNLOAD_HURTS) as server:
        result = wfdoctor("troubleshoot", "--backend", server.base_url, "--model", IN_USE, "--json", "--facts",
                          str(memory_always_high(tmp_path)), "--memory-watch", "1", "--window", "0.5", timeout=300)
        sent = keep_alive_bodies(server)
    incident = json.loads(result.stdout)["incident"]
    assert sent == []
    unload = next(a for a in incident["actions"] if a["action_id"] == "unload_inactive_models")
    assert unload["disposition"] == "dry_run" and not unload["record"]["applied"]
    assert incident["status"] == "open" and incident["validation"] == []


def test_interactive_asks_before_an_l1_action_and_records_a_refusal(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = os.environ | {"WFDOCTOR_DB": str(tmp_path / "wf.db"), "XDG_CONFIG_HOME": str(tmp_path)}
    with FakeLLMServer(UNLOAD_HURTS) as server:
        proc = subprocess.run([sys.executable, "-m", "wfdoctor", "troubleshoot", "--backend", server.base_url,
                               "--model", IN_USE, "--apply", "--interactive", "--json", "--facts",
                               str(memory_always_high(tmp_path)), "--memory-watch", "1", "--window", "0.5"],
                              input="n\n" * 10, capture_output=True, text=True, env=env, timeout=300)
        sent = keep_alive_bodies(server)
    assert "Apply L1 'Unload inactive models'" in proc.stderr
    incident = json.loads(proc.stdout)["incident"]
    unload = next(a for a in incident["actions"] if a["action_id"] == "unload_inactive_models")
    assert unload["disposition"] == "declined" and sent == []
    assert incident["status"] == "open"


@pytest.mark.parametrize(("args", "message"), [
    (("--validate", "99"), "no incident 99"),
    (("--fixed-by", "disable_background_processes"), "--fixed-by goes with --validate"),
    (("--requests", "0"), "--requests"),
    (("--concurrency", "0"), "concurrency"),
])
def test_bad_input_is_one_line_and_exit_2(wfdoctor, args: tuple[str, ...], message: str) -> None:
    result = wfdoctor("troubleshoot", "--no-embedded", *args)
    assert result.code == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_configured_council_is_measured_in_rounds_and_validated_round_for_round(wfdoctor, tmp_path: Path) -> None:
    facts = str(memory_always_high(tmp_path))
    with FakeLLMServer(FakeConfig(implementation="ollama", tokens=8, itl_s=0.004)) as server:
        members = [arg for _ in range(2) for arg in ("--council-member", server.base_url)]
        first = wfdoctor("troubleshoot", "--backend", server.base_url, "--json", "--facts", facts, "--memory-watch",
                         "1", "--window", "0.5", "--requests", "5", "--council-rounds", "5", *members, timeout=300)
        incident = json.loads(first.stdout)["incident"]
        second = wfdoctor("troubleshoot", "--validate", str(incident["id"]), "--json", "--facts", facts,
                          "--fixed-by", incident["actions"][0]["action_id"], timeout=300)
    assert "Traceback" not in first.stderr + second.stderr
    history = {run["id"]: run["command"] for run in json.loads(wfdoctor("history", "--limit", "1000", "--json").stdout)}
    assert [history[run] for run in incident["before_runs"]].count("council") == 5
    validated = json.loads(second.stdout)
    validate_document(validated)
    efficiency = [c for c in validated["incident"]["validation"] if c["metric"] == "wf_council_efficiency_ratio"]
    assert efficiency and efficiency[0]["before_n"] == 5 and efficiency[0]["after_n"] == 5
    history = {run["id"]: run["command"] for run in json.loads(wfdoctor("history", "--limit", "1000", "--json").stdout)}
    assert [history[run] for run in validated["incident"]["after_runs"]].count("council") == 5


def test_diagnose_points_at_a_past_incident_like_its_findings_and_what_fixed_it(wfdoctor, closed_url,
                                                                               tmp_path: Path) -> None:
    from tests.builders import incident
    from wfdoctor.store.db import Store
    from wfdoctor.store.incidents import save_incident

    with Store.open(tmp_path / "wfdoctor.db") as store:
        past = incident(cause="NO_SERVER", codes=())
        save_incident(store, past)
    result = wfdoctor("diagnose", "--no-embedded", "--backend", closed_url, "--window", "0.3", "--json")
    notes = json.loads(result.stdout)["notes"]
    assert any(f"like past incident {past.id} (NO_SERVER, resolved" in n and "Stop or renice wf-cpu-hog (L2)" in n
               for n in notes), notes


def test_interactive_records_what_the_person_did_and_validates_at_once(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = os.environ | {"WFDOCTOR_DB": str(tmp_path / "wf.db"), "XDG_CONFIG_HOME": str(tmp_path)}
    with FakeLLMServer(UNLOAD_HURTS) as server:
        proc = subprocess.run([sys.executable, "-m", "wfdoctor", "troubleshoot", "--backend", server.base_url,
                               "--model", IN_USE, "--interactive", "--json", "--facts",
                               str(memory_always_high(tmp_path)), "--memory-watch", "1", "--window", "0.5",
                               "--requests", "5"], input="y\n" * 10, capture_output=True, text=True, env=env,
                              timeout=300)
    assert "Did you do it" in proc.stderr and "Traceback" not in proc.stderr
    incident = json.loads(proc.stdout)["incident"]
    dispositions = {a["action_id"]: a["disposition"] for a in incident["actions"]}
    assert dispositions["unload_inactive_models"] == "dry_run"       # L1 without --apply: never performed
    assert dispositions["enable_quantization"] == "done"             # L2: the person said they did it
    assert incident["validation"] and incident["after_runs"]         # so it was validated at once
    assert incident["status"] in ("resolved", "unresolved")
