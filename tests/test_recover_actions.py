"""Recovery steps one by one: the settings file is never damaged, only named processes are signalled, and the
`recovery:` settings refuse what would let wfdoctor act beyond L1 on its own."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.test_recover_progressive import scripted_memory
from wfdoctor.act import recovery
from wfdoctor.act.recovery import StepContext, perform_step
from wfdoctor.act.settings_file import SettingsFile
from wfdoctor.config.facts import load_facts
from wfdoctor.config.recovery import load_ladder, parse_recovery_settings
from wfdoctor.app.recover import RecoverOptions, run_recover
from wfdoctor.model import Sample, WfdoctorError
from wfdoctor.sense.gpu_nvml import GpuReport, parse_gpus
from wfdoctor.store.db import Store


def context(apply: bool, **settings: object) -> StepContext:
    return StepContext(settings=parse_recovery_settings(settings, "monitor.yaml"), facts=load_facts(),
                       backend_urls=(), apply=apply, reason="test", sample=scripted_memory)


def run_step(step_id: str, ctx: StepContext):
    return asyncio.run(perform_step(load_ladder().step(step_id), ctx))


@pytest.mark.parametrize("broken", ['{"council_size": 4,', "[1, 2]", "\ufeff{oops}"])
def test_a_broken_settings_file_is_a_one_line_error_and_left_unchanged(tmp_path: Path, broken: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(broken, encoding="utf-8")
    before = path.read_bytes()
    result = run_step("lower_council_size", context(True, settings_file=str(path)))
    assert result.record.outcome == "failed" and not result.record.applied
    assert str(path) in result.record.error and "left unchanged" in result.record.error
    assert "\n" not in result.record.error
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]   # no temporary file left behind either


def test_setting_and_restoring_keeps_every_other_key_and_removes_a_key_that_was_absent(tmp_path: Path) -> None:
    settings = SettingsFile(tmp_path / "settings.json")
    (tmp_path / "settings.json").write_text(json.dumps({"theme": "dark", "council_size": 3}))
    council = settings.set("council_size", 1)
    quality = settings.set("ui_quality", "low")
    assert settings.read() == {"theme": "dark", "council_size": 1, "ui_quality": "low"}
    settings.restore("ui_quality", quality)
    settings.restore("council_size", council)
    assert settings.read() == {"theme": "dark", "council_size": 3}


def test_lowering_without_a_configured_settings_file_fails_with_the_reason() -> None:
    record = run_step("lower_ui_quality", context(True)).record
    assert record.outcome == "failed" and "recovery.settings_file is not configured" in record.error


def test_the_council_is_lowered_to_the_smallest_tiers_size_from_the_facts(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    result = run_step("lower_council_size", context(True, settings_file=str(path)))
    assert json.loads(path.read_text()) == {"council_size": load_facts().targets["low"].council_size}
    assert result.lowered is not None and not result.lowered.previous.present


def test_clear_caches_measures_what_it_freed(tmp_path: Path) -> None:
    record = run_step("clear_caches", context(True)).record
    assert record.applied and record.outcome in ("relieved", "no change")
    assert record.after["freed_bytes"] >= 0 and record.after["wfdoctor_rss_before_bytes"] > 0


@pytest.fixture
def two_sleepers(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    """Two processes with names no other program on this machine has: one to be allowed, one not."""
    tag = uuid.uuid4().hex[:6]
    names = (f"wfdallow{tag}", f"wfdother{tag}")
    for name in names:
        shutil.copy(shutil.which("sleep") or "/bin/sleep", tmp_path / name)
    allowed, other = (subprocess.Popen([str(tmp_path / name), "60"]) for name in names)
    yield names[0], allowed, other
    for process in (allowed, other):
        process.kill()
        process.wait()


def test_only_processes_named_in_the_config_are_ever_signalled(two_sleepers) -> None:
    allowed_name, allowed, other = two_sleepers
    record = run_step("stop_generation", context(True, processes=[allowed_name])).record
    assert record.after["pids"] == [allowed.pid]
    assert allowed.wait(timeout=10) == -15
    assert other.poll() is None          # never signalled
    assert os.getpid() not in record.after["pids"]


def test_with_no_process_named_nothing_is_signalled(two_sleepers) -> None:
    _, allowed, other = two_sleepers
    record = run_step("stop_generation", context(True)).record
    assert record.outcome == "failed" and "recovery.processes names no process" in record.error
    assert allowed.poll() is None and other.poll() is None


def test_a_dry_run_signals_nothing(two_sleepers) -> None:
    allowed_name, allowed, _ = two_sleepers
    record = run_step("stop_generation", context(False, processes=[allowed_name])).record
    assert record.outcome == "dry run" and record.after["pids"] == [allowed.pid]
    assert allowed.poll() is None


@pytest.mark.parametrize(("section", "message"), [
    ({"auto_apply": ["unload_all_models"]}, "'unload_all_models' is L2; only L1 steps run on their own"),
    ({"auto_apply": ["nope"]}, "unknown recovery step 'nope'"),
    ({"processes": "ollama"}, "recovery.processes: expected a list of names"),
    ({"stability_window": "-5s"}, "recovery.stability_window: expected a duration above 0"),
    ({"settings_flie": "x.json"}, "recovery.settings_flie: unknown key"),
])
def test_recovery_settings_refuse_what_they_cannot_honour(section: dict[str, object], message: str) -> None:
    with pytest.raises(WfdoctorError, match="^monitor.yaml: ") as caught:
        parse_recovery_settings(section, "monitor.yaml")
    assert message in str(caught.value)


def test_recovery_settings_defaults_and_durations() -> None:
    assert parse_recovery_settings(None, "m").stability_window_s == 60.0
    assert parse_recovery_settings({"stability_window": "5m"}, "m").stability_window_s == 300.0
    assert parse_recovery_settings({"stability_window": 90}, "m").stability_window_s == 90.0


@pytest.mark.parametrize(("step", "message"), [
    ("{id: nap, level: L1, kind: advice, description: d, reversible: true, instructions: [x]}",
     "L3 and L4 steps are advice"),
    ("{id: boot, level: L4, kind: clear_caches, description: d, reversible: false}", "L3 and L4 steps are advice"),
    ("{id: kill, level: L1, kind: signal_processes, description: d, reversible: false}", "must be reversible"),
    ("{id: low, level: L1, kind: lower_setting, description: d, reversible: true, setting: x}",
     "exactly one of `value` or `value_fact`"),
    ("{id: odd, level: L1, kind: clear_caches, description: d, reversible: true, when: [cpu_percent.warning]}",
     "when 'cpu_percent.warning'"),
])
def test_a_user_ladder_file_with_a_step_wfdoctor_cannot_honour_is_refused_with_file_and_line(
        tmp_path: Path, step: str, message: str) -> None:
    path = tmp_path / "ladder.yaml"
    path.write_text(f"version: 1\nsteps:\n  - {step}\n")
    with pytest.raises(WfdoctorError, match=f"^{path}:3: ") as caught:
        load_ladder([path])
    assert message in str(caught.value)


def test_a_user_ladder_step_replaces_the_shipped_one_with_the_same_id(tmp_path: Path) -> None:
    path = tmp_path / "ladder.yaml"
    path.write_text("version: 1\nsteps:\n  - {id: lower_ui_quality, level: L1, kind: lower_setting, description: d,"
                    " reversible: true, setting: ui_quality, value: minimal}\n")
    ladder = load_ladder([path])
    assert ladder.step("lower_ui_quality").value == "minimal"
    assert [s.id for s in ladder.steps] == [s.id for s in load_ladder().steps]


class HalfFullMachine:
    """The system probe of a machine with half its memory in use."""

    def __init__(self, top: int) -> None:
        pass

    def read(self, slow: bool) -> list[Sample]:
        return [Sample("wf_memory_used_ratio", 0.5, "ratio", "test"),
                Sample("wf_memory_available_bytes", 64 << 30, "bytes", "test")]


def test_gpu_memory_from_nvml_sets_the_level_by_the_facts_vram_thresholds(tmp_path: Path, monkeypatch) -> None:
    """A recorded H100 with 75.6 of 85.5 GB in use (88 %): past VRAM 85 % (L1 steps), short of 92 % and 97 %."""
    devices = json.loads((FIXTURES / "nvml_h100_loaded.json").read_text())["devices"]
    monkeypatch.setattr(recovery, "probe_gpus", lambda: GpuReport(samples=parse_gpus(devices), gpus=devices,
                                                                   status="1 NVIDIA GPU(s)"))
    monkeypatch.setattr(recovery, "SystemProbe", HalfFullMachine)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))    # no user facts or monitor config
    with Store.open(tmp_path / "wf.db") as store:
        report = run_recover(RecoverOptions(backend_urls=()), store)
    assert report.state.gpu_memory_used_bytes == 75609473024
    assert (report.ram_percent, report.vram_percent) == (50.0, pytest.approx(88.4, abs=0.1))
    applying = {s.step.id: s.because for s in report.steps if s.applies}
    assert report.level_now == "L1"
    assert set(applying) == {"clear_caches", "lower_ui_quality"}
    assert applying["clear_caches"] == "VRAM 88 % >= 85 % (vram_percent.warning)"
    unload = next(s for s in report.steps if s.step.id == "unload_idle_models")
    assert unload.because == "below RAM 90 %, below VRAM 92 %"
