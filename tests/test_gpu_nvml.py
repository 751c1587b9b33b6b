"""GPU probe: recorded NVML values from a real H100 replay through the parsing path."""

from __future__ import annotations

import json

import pynvml
import pytest

from tests.conftest import FIXTURES
from wfdoctor.analyze.tiers import classify_tier
from wfdoctor.analyze.triage import findings_of, triage
from wfdoctor.config.facts import load_facts
from wfdoctor.config.rules import load_rulebook
from wfdoctor.model import Priority, Sample
from wfdoctor.sense import gpu_nvml
from wfdoctor.sense.gpu_nvml import parse_gpus, probe_gpus, throttle_names


def recorded(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text())["devices"]


def by_metric(samples: list[Sample]) -> dict[str, Sample]:
    return {s.metric: s for s in samples if s.labels.get("clock") in (None, "sm") and s.labels.get("kind") in
            (None, "current")}


def test_recorded_idle_h100_parses_into_samples_with_units() -> None:
    samples = parse_gpus(recorded("nvml_h100_idle.json"))
    metrics = by_metric(samples)
    assert metrics["wf_gpu_memory_total_bytes"].value == 85520809984
    assert metrics["wf_gpu_memory_total_bytes"].unit == "bytes"
    assert metrics["wf_gpu_utilization_ratio"].value == 0.0
    assert metrics["wf_gpu_power_watts"].value == pytest.approx(101.799)
    assert metrics["wf_gpu_clock_hertz"].value == 465e6
    assert metrics["wf_gpu_throttle_reasons"].labels["reasons"] == "gpu_idle"
    assert all(s.source == "nvml" and s.labels["name"] == "NVIDIA H100 80GB HBM3" for s in samples)


def test_recorded_loaded_h100_triggers_vram_and_utilisation_findings_naming_the_process() -> None:
    samples = parse_gpus(recorded("nvml_h100_loaded.json"), process_names={417: "python3"})
    samples += [Sample("wf_cpu_physical_cores", 16, "cores", "test"),
                Sample("wf_memory_total_bytes", 128 * 1024**3, "bytes", "test")]
    facts = load_facts()
    tier = classify_tier(samples, facts)
    assert tier.tier == "high"
    findings = {f.code: f for f in findings_of(triage(samples, load_rulebook(), facts, tier.tier))}
    assert findings["HIGH_GPU_UTILIZATION"].priority is Priority.CRITICAL  # 100 % >= 99 % critical (high tier)
    vram = findings["VRAM_EXHAUSTION"]
    assert vram.priority is Priority.HIGH  # 88.4 % used: over 85 %, under 92 %
    assert "python3 (pid 417)" in vram.summary


def test_throttle_bitmask_decodes_to_names() -> None:
    assert throttle_names(0) == []
    assert throttle_names(0x4 | 0x40) == ["sw_power_cap", "hw_thermal_slowdown"]


def test_unsupported_nvml_fields_are_skipped_not_zeroed() -> None:
    device = dict(recorded("nvml_h100_idle.json")[0], power_milliwatts=None, temperature_celsius=None)
    metrics = {s.metric for s in parse_gpus([device])}
    assert "wf_gpu_power_watts" not in metrics and "wf_gpu_temperature_celsius" not in metrics


def test_missing_driver_is_a_fact_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_library() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_library)
    report = probe_gpus()
    assert not report.found and report.samples == []
    assert report.status.startswith("no NVIDIA GPU found")


def test_probe_on_this_machine_never_raises() -> None:
    report = probe_gpus()
    assert report.found or report.status.startswith("no NVIDIA GPU found")


def test_one_nvml_session_serves_many_readings(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"init": 0}
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: calls.__setitem__("init", calls["init"] + 1))
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlSystemGetDriverVersion", lambda: "580.0")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: 0)
    session = gpu_nvml.NvmlSession()
    assert session.open()
    for _ in range(3):
        session.read()
    session.close()
    assert calls["init"] == 1
