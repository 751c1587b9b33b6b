"""`wfdoctor troubleshoot` end to end on the real SmolLM2 server (llama-cpp-python's): identify, classify, apply,
validate, document, and the incident remembered the next time.

A CPU hog (six busy processes named wf-cpu-hog) competes with the server. Troubleshoot must name CPU contention
as the cause of the slow generation, with the hog as the culprit, and propose the catalogue's actions with their
escalation levels; nothing is applied for a person's action, so the incident stays open. The test then does what
a person would (it stops the hog) and validates the incident: the same token run measured again must be
significantly better. With the hog back, a new troubleshoot shows the first incident and what fixed it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import start_cpu_hogs, stop_cpu_hogs, validate_document


def troubleshoot(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "wfdoctor", "troubleshoot", "--json", *args], env=env,
                          capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr
    document = json.loads(proc.stdout)
    validate_document(document)
    return proc.returncode, document


def test_troubleshoot_names_the_cpu_hog_validates_the_fix_and_remembers_it(llm_server, cpu_hog,
                                                                           tmp_path: Path) -> None:
    env = os.environ | {"WFDOCTOR_DB": str(tmp_path / "wf.db"), "XDG_CONFIG_HOME": str(tmp_path)}
    url = llm_server.base_url

    code, first = troubleshoot(env, "--backend", url)
    incident = first["incident"]
    assert code == 1 and incident["status"] == "open"
    assert incident["cause"] == "CPU_CONTENTION"
    cause = first["findings"][0]
    assert cause["code"] == "CPU_CONTENTION" and cause["row"] == "slow_token_generation"
    assert "wf-cpu-hog" in cause["summary"]
    assert any(s["labels"].get("name") == "wf-cpu-hog" for s in cause["evidence"])
    levels = {a["action_id"]: (a["level"], a["disposition"]) for a in incident["actions"]}
    assert levels["disable_background_processes"] == ("L3", "instructions")
    assert levels["optimize_thread_allocation"] == ("L2", "command")
    assert [s["name"] for s in first["steps"]] == ["identify", "classify", "apply", "validate", "document"]

    stop_cpu_hogs(cpu_hog)  # the person's fix: the background processes stopped
    code, validated = troubleshoot(env, "--validate", str(incident["id"]), "--fixed-by",
                                   "disable_background_processes")
    resolved = validated["incident"]
    assert code == 0 and resolved["status"] == "resolved" and resolved["verdict"] == "improved"
    decode = [c for c in resolved["validation"] if c["metric"] == "wf_llm_request_decode_tokens_per_second"]
    assert decode and decode[0]["verdict"] == "improved"
    assert decode[0]["p_value"] < 0.01 and decode[0]["change"] > 0.05 and decode[0]["effect_size"] > 0.5
    assert decode[0]["change_low"] > 0  # the whole 95 % interval of the change is an improvement
    assert resolved["after_runs"] and resolved["before_runs"]

    hogs = start_cpu_hogs()
    try:
        code, again = troubleshoot(env, "--backend", url)
    finally:
        stop_cpu_hogs(hogs)
    match = again["matches"][0]
    assert match["incident_id"] == incident["id"] and match["status"] == "resolved"
    assert [a["action_id"] for a in match["fixed_by"]] == ["disable_background_processes"]
    assert any("wf-cpu-hog" in reason for reason in match["reasons"])
    assert again["incident"]["matched"] == [incident["id"]]
