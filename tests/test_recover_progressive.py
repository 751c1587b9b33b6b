"""The recovery responder the monitor calls: L1 steps on a firing alert, advice for L2-L4, progressive restore.

Time is the monitor's `now`, scripted here; memory comes from a scripted sampler, so each scenario is exact.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wfdoctor.act.recovery import LoadedModel, Lowered, MemoryState
from wfdoctor.act.restore import ProgressiveRestore
from wfdoctor.act.settings_file import SettingsFile
from wfdoctor.app.recover import RecoveryResponder
from wfdoctor.config.recovery import load_ladder, parse_recovery_settings
from wfdoctor.model import ActionRecord, Alert, AlertState, Run
from wfdoctor.store.db import Store

WINDOW_S = 60.0
STEPS = ("lower_ui_quality", "lower_council_size", "unload_all_models", "free_memory_by_hand")
ALERT = Alert(name="MemoryPressure", labels={"alertname": "MemoryPressure", "severity": "critical"},
              annotations={"summary": "memory 96 % in use"}, state=AlertState.FIRING, value=0.96, active_at=0.0,
              fired_at=10.0, escalation=STEPS)
RESOLVED = replace(ALERT, state=AlertState.RESOLVED, resolved_at=100.0)
PENDING_AGAIN = replace(ALERT, state=AlertState.PENDING, fired_at=None)


async def scripted_memory(urls: Sequence[str]) -> MemoryState:
    return MemoryState(ram_used_ratio=0.96, ram_available_bytes=1 << 30, gpu_memory_used_ratio=None,
                       gpu_memory_used_bytes=None, gpu_status="no GPU (scripted)",
                       models=(LoadedModel("http://127.0.0.1:11434", "big:70b", 40 << 30, 0),),
                       backends={"http://127.0.0.1:11434": "ollama"})


class Scenario:
    """A responder over a real store and settings file, driven tick by tick."""

    def __init__(self, tmp_path: Path, apply: bool = True, auto_apply: Sequence[str] = STEPS[:2]) -> None:
        self.settings_path = tmp_path / "wirthforge" / "settings.json"
        self.store = Store.open(tmp_path / "wf.db")
        self.run_id = self.store.begin_run(Run(command="monitor", started_at=0.0))
        settings = parse_recovery_settings({"settings_file": str(self.settings_path), "auto_apply": list(auto_apply),
                                            "stability_window": f"{WINDOW_S:g}s"}, "monitor.yaml")
        self.responder = RecoveryResponder(load_ladder(), settings, self.store, self.run_id, apply,
                                           ["http://127.0.0.1:11434"], sample=scripted_memory)

    def tick(self, now: float, transitions: Sequence[Alert] = (), active: Sequence[Alert] = ()) -> list[ActionRecord]:
        return asyncio.run(self.responder.on_alerts(transitions, active, now))

    def settings(self) -> dict[str, object]:
        return json.loads(self.settings_path.read_text())

    def stored(self) -> list[tuple[str, str, str]]:
        rows = self.store._db.execute("SELECT kind, outcome, alert FROM actions WHERE run_id = ? ORDER BY id",
                                      (self.run_id,))
        return [tuple(row) for row in rows]


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    (tmp_path / "wirthforge").mkdir()
    (tmp_path / "wirthforge" / "settings.json").write_text(json.dumps({"council_size": 4, "ui_quality": "high",
                                                                       "theme": "dark"}))
    return Scenario(tmp_path)


def test_a_firing_alert_runs_its_l1_steps_and_logs_l2_to_l4_as_advice(scenario: Scenario) -> None:
    records = scenario.tick(10.0, [ALERT], [ALERT])
    assert [(r.kind, r.level, r.outcome) for r in records] == [
        ("lower_ui_quality", "L1", "applied"), ("lower_council_size", "L1", "applied"),
        ("unload_all_models", "L2", "advice"), ("free_memory_by_hand", "L3", "advice")]
    assert scenario.settings() == {"council_size": 1, "ui_quality": "low", "theme": "dark"}
    assert all(r.alert == f"MemoryPressure {ALERT.fingerprint}" for r in records)
    assert records[0].reason == "MemoryPressure firing: memory 96 % in use"
    assert records[0].before["memory"]["ram_used_ratio"] == 0.96 and "memory" in records[0].after
    assert records[2].after["commands"] == [["wfdoctor", "recover", "--apply", "unload_all_models"],
                                            ["ollama", "stop", "big:70b"]]
    assert records[3].after["instructions"]
    assert [row[0] for row in scenario.stored()] == [r.kind for r in records]


def test_after_relief_settings_come_back_one_at_a_time_in_reverse_order(scenario: Scenario) -> None:
    scenario.tick(10.0, [ALERT], [ALERT])
    assert scenario.tick(100.0, [RESOLVED], []) == []
    assert scenario.tick(100.0 + WINDOW_S - 1) == []                  # calm, but not for a whole window yet
    [first] = scenario.tick(100.0 + WINDOW_S)
    assert (first.kind, first.outcome) == ("restore:lower_council_size", "restored")
    assert scenario.settings() == {"council_size": 4, "ui_quality": "low", "theme": "dark"}
    assert scenario.tick(100.0 + 2 * WINDOW_S - 1) == []              # held for the stability window
    [second] = scenario.tick(100.0 + 2 * WINDOW_S)
    assert (second.kind, second.outcome) == ("restore:lower_ui_quality", "restored")
    assert scenario.settings() == {"council_size": 4, "ui_quality": "high", "theme": "dark"}
    assert scenario.tick(100.0 + 10 * WINDOW_S) == []
    assert scenario.responder.restore.state == "idle"


def test_a_restored_setting_that_brings_the_alert_back_is_rolled_back_and_restoring_stops(scenario: Scenario) -> None:
    scenario.tick(10.0, [ALERT], [ALERT])
    scenario.tick(100.0, [RESOLVED], [])
    [restored] = scenario.tick(100.0 + WINDOW_S)
    assert restored.kind == "restore:lower_council_size"
    [rollback] = scenario.tick(100.0 + WINDOW_S + 5, [PENDING_AGAIN], [PENDING_AGAIN])
    assert (rollback.kind, rollback.outcome) == ("rollback:lower_council_size", "rolled back")
    assert rollback.alert == f"MemoryPressure {ALERT.fingerprint}"
    assert scenario.settings()["council_size"] == 1
    later = [scenario.tick(100.0 + WINDOW_S * n) for n in range(3, 20)]  # calm again, for a long time
    assert later == [[]] * len(later)
    assert scenario.settings() == {"council_size": 1, "ui_quality": "low", "theme": "dark"}
    assert scenario.responder.restore.state == "stopped"
    assert [kind for kind, _, _ in scenario.stored()][-2:] == ["restore:lower_council_size",
                                                               "rollback:lower_council_size"]


def test_an_alert_still_active_holds_the_lowered_settings(scenario: Scenario) -> None:
    scenario.tick(10.0, [ALERT], [ALERT])
    assert [scenario.tick(10.0 + WINDOW_S * n, [], [ALERT]) for n in range(1, 5)] == [[]] * 4
    assert scenario.settings()["council_size"] == 1


def test_dry_run_by_default_writes_nothing_to_the_settings_file(tmp_path: Path) -> None:
    settings_path = tmp_path / "wirthforge" / "settings.json"
    dry = Scenario(tmp_path, apply=False)
    records = dry.tick(10.0, [ALERT], [ALERT]) + dry.tick(100.0, [RESOLVED], []) + dry.tick(1000.0)
    assert [r.outcome for r in records if r.level == "L1"] == ["dry run", "dry run"]
    assert not any(r.applied for r in records)
    assert records[1].after["to"] == 1 and records[1].after["from"] is None
    assert not settings_path.exists()


def test_an_l1_step_not_in_auto_apply_stays_a_dry_run_even_with_apply(tmp_path: Path) -> None:
    (tmp_path / "wirthforge").mkdir()
    (tmp_path / "wirthforge" / "settings.json").write_text('{"council_size": 4}')
    partial = Scenario(tmp_path, apply=True, auto_apply=["lower_ui_quality"])
    records = partial.tick(10.0, [ALERT], [ALERT])
    assert [(r.kind, r.outcome) for r in records[:2]] == [("lower_ui_quality", "applied"),
                                                          ("lower_council_size", "dry run")]
    assert partial.settings() == {"council_size": 4, "ui_quality": "low"}


def test_an_unknown_step_in_an_escalation_is_a_failed_record_not_a_crash(scenario: Scenario) -> None:
    [record] = scenario.tick(10.0, [replace(ALERT, escalation=("reboot_the_moon",))], [ALERT])
    assert record.outcome == "failed" and "unknown recovery step 'reboot_the_moon'" in record.error


async def no_evidence() -> dict[str, object]:
    return {}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(min_value=0.0, max_value=3 * WINDOW_S), st.booleans()), max_size=40))
def test_restoring_is_calm_spaced_in_reverse_order_and_never_resumes_after_a_rollback(
        ticks: list[tuple[float, bool]]) -> None:
    """Whatever the alert does: nothing is restored while it is active, restores come a window apart in reverse
    order of lowering, a rollback only ever follows a restore within its hold, and nothing is restored after it."""
    with tempfile.TemporaryDirectory() as folder:
        settings = SettingsFile(Path(folder) / "settings.json")
        settings.set("council_size", 4)
        restore = ProgressiveRestore(settings, WINDOW_S)
        lowered = [Lowered(f"lower_{key}", key, 1, settings.set(key, 1)) for key in ("council_size", "ui_quality")]
        for item in lowered:
            restore.remember(item, "f00d", "MemoryPressure f00d")
        now, restored_at, events = 0.0, [], []
        for step, active in ticks:
            now += step
            for record in asyncio.run(restore.tick(now, {"f00d"} if active else set(), no_evidence)):
                events.append(record.outcome)
                if record.outcome == "restored":
                    assert not active
                    restored_at.append((now, record.after["setting"]))
                else:
                    assert record.outcome == "rolled back" and active
                    assert now < restored_at[-1][0] + WINDOW_S
        assert [key for _, key in restored_at] == ["ui_quality", "council_size"][:len(restored_at)]
        assert all(later - earlier >= WINDOW_S for (earlier, _), (later, _) in zip(restored_at, restored_at[1:]))
        assert "restored" not in events[events.index("rolled back"):] if "rolled back" in events else True
        assert settings.read().get("council_size") in (1, 4) and settings.read().get("ui_quality") in (1, None)
