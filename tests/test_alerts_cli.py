"""`wfdoctor alerts list|silence|unsilence`: what the monitor stored, and silences made and ended from the shell;
how the monitor itself is shown (the live panel, headless JSON lines)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from rich.console import Console

from wfdoctor.app.monitor_silences import matches
from wfdoctor.app.reports.monitor import MonitorEvent, MonitorSnapshot
from wfdoctor.model import ActionRecord, Alert, AlertState, Run, Sample
from wfdoctor.surface.views.monitor import HeadlessLog, panel
from wfdoctor.store.monitoring import MonitorStore


def alert(name: str, state: AlertState, **labels: str) -> Alert:
    return Alert(name, {"alertname": name, "severity": "warning", **labels}, {"summary": f"{name} summary"}, state,
                 0.93, time.time() - 60)


def test_silence_round_trip(wfdoctor) -> None:
    made = wfdoctor("alerts", "silence", 'alertname="HighMemory"', "severity=warning", "--for", "2h",
                    "--comment", "upgrading RAM", "--json")
    assert made.code == 0, made.stderr
    listed = wfdoctor("alerts", "list", "--json").json()
    assert [(s["matchers"], s["comment"]) for s in listed["silences"]] == [
        (['alertname="HighMemory"', "severity=warning"], "upgrading RAM")]
    silence_id = listed["silences"][0]["id"]
    ended = wfdoctor("alerts", "unsilence", str(silence_id))
    assert ended.code == 0 and f"silence {silence_id} ended" in ended.stdout
    assert wfdoctor("alerts", "list", "--json").json()["silences"] == []
    everything = wfdoctor("alerts", "list", "--all", "--json").json()
    assert everything["silences"][0]["expired_at"] is not None
    again = wfdoctor("alerts", "unsilence", str(silence_id))
    assert again.code == 2 and f"no silence {silence_id} in force" in again.stderr and "Traceback" not in again.stderr


def test_a_malformed_matcher_or_duration_is_a_usage_error(wfdoctor) -> None:
    bad = wfdoctor("alerts", "silence", "HighMemory")
    assert bad.code == 2 and "matcher 'HighMemory'" in bad.stderr and "Traceback" not in bad.stderr
    assert wfdoctor("alerts", "silence", "alertname=X", "--for", "soon").code == 2


def test_list_shows_pending_and_firing_alerts_and_history_every_transition(wfdoctor, tmp_path: Path) -> None:
    with MonitorStore.open(tmp_path / "wfdoctor.db") as store:
        run_id = store.begin_run(Run(command="monitor", started_at=time.time()))
        store.add_alert_events(run_id, [alert("HighMemory", AlertState.PENDING), alert("DiskFull", AlertState.PENDING)],
                               time.time() - 30)
        store.add_alert_events(run_id, [alert("HighMemory", AlertState.FIRING),
                                        alert("DiskFull", AlertState.RESOLVED)], time.time())
    current = wfdoctor("alerts", "list", "--json").json()
    assert [(a["name"], a["state"]) for a in current["alerts"]] == [("HighMemory", "firing")]
    every = wfdoctor("alerts", "list", "--all", "--json").json()
    assert sorted((a["name"], a["state"]) for a in every["alerts"]) == [("DiskFull", "resolved"),
                                                                        ("HighMemory", "firing")]
    history = wfdoctor("alerts", "list", "--history", "--json").json()
    assert len(history["alerts"]) == 4
    text = wfdoctor("alerts", "list")
    assert "firing" in text.stdout and "HighMemory" in text.stdout and "DiskFull" not in text.stdout


def test_silence_matchers_match_labels_as_alertmanager_does() -> None:
    labels = {"alertname": "HighMemory", "severity": "warning"}
    assert matches(['alertname=~"High.*"', 'severity!="critical"'], labels)
    assert matches(['alertname="HighMemory"', "severity=warning"], labels)
    assert not matches(['alertname="HighMemory"', "severity=critical"], labels)
    assert matches(['instance=""'], labels)  # an absent label is the empty string


def test_the_live_panel_shows_machine_servers_alerts_and_actions() -> None:
    snapshot = MonitorSnapshot(
        [Sample("wf_memory_used_ratio", 0.93, "ratio", "psutil"),
         Sample("wf_llm_server_up", 0.0, "bool", "http probe", {"url": "http://127.0.0.1:11434", "kind": "ollama"})],
        [alert("HighMemory", AlertState.FIRING)],
        [ActionRecord("unload_idle_models", "ollama", "L1", False, "HighMemory", {}, {}, outcome="dry run")])
    console = Console(file=io.StringIO(), width=160, record=True)
    console.print(panel(snapshot, [MonitorEvent("error", time.time(), "server down")]))
    text = console.export_text()
    for shown in ("memory used", "93", "DOWN", "HighMemory", "firing", "unload_idle_models", "dry run",
                  "error: server down"):
        assert shown in text, shown
    out = io.StringIO()
    HeadlessLog(out).event(MonitorEvent("alert", time.time(), "HighMemory firing", {"state": "firing"}))
    assert json.loads(out.getvalue())["state"] == "firing"
