"""Hardware tier: all three limits must hold; the limiting resources are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from wfdoctor.analyze.tiers import GIB, classify_tier
from wfdoctor.config.facts import load_facts
from wfdoctor.model import Sample, WfdoctorError


def machine(cores: float, ram_gib: float, vram_gib: float | None) -> list[Sample]:
    samples = [Sample("wf_cpu_physical_cores", cores, "cores", "test"),
               Sample("wf_memory_total_bytes", ram_gib * GIB, "bytes", "test")]
    if vram_gib is not None:
        samples.append(Sample("wf_gpu_memory_total_bytes", vram_gib * GIB, "bytes", "test", {"gpu": "0"}))
    return samples


@pytest.mark.parametrize("cores, ram, vram, tier, deciders", [
    (16, 64, 24, "high", ["physical cores", "RAM", "largest GPU VRAM"]),
    (16, 64, 8, "mid", ["largest GPU VRAM"]),
    (8, 15.5, 6, "mid", ["physical cores", "RAM", "largest GPU VRAM"]),  # a "16 GB" laptop reports 15.5 GiB
    (2, 23.5, None, "low", ["physical cores", "largest GPU VRAM"]),
    (12, 8, 24, "low", ["RAM"]),
])
def test_tier_is_the_lowest_any_resource_allows(cores, ram, vram, tier, deciders) -> None:
    verdict = classify_tier(machine(cores, ram, vram), load_facts())
    assert verdict.tier == tier
    assert [limit.resource for limit in verdict.decided_by] == deciders
    assert verdict.targets == load_facts().targets[tier]


def test_explanation_names_the_limit_and_the_next_tier_requirement() -> None:
    verdict = classify_tier(machine(4, 32, 16), load_facts())
    assert verdict.explanation() == "physical cores 4 cores < 6 cores needed for mid"


def test_missing_gpu_counts_as_zero_vram_and_says_so() -> None:
    verdict = classify_tier(machine(16, 64, None), load_facts())
    assert verdict.tier == "low"
    assert "no GPU memory measured: VRAM counts as 0" in verdict.notes


def test_user_facts_file_overrides_one_limit(tmp_path: Path) -> None:
    override = tmp_path / "facts.yaml"
    override.write_text("tier_rule:\n  limits:\n    mid: { physical_cores: 2, ram_gib: 12, vram_gib: 0 }\n")
    facts = load_facts(override)
    assert facts.tier_rule.limits["high"].physical_cores == 12  # untouched values stay
    assert classify_tier(machine(2, 16, None), facts).tier == "mid"


def test_malformed_facts_file_names_file_line_and_field(tmp_path: Path) -> None:
    override = tmp_path / "facts.yaml"
    override.write_text("thresholds:\n  low:\n    max_ttft_ms: soon\n")
    with pytest.raises(WfdoctorError) as error:
        load_facts(override)
    assert str(error.value).startswith(f"{override}:3: field 'thresholds.low.max_ttft_ms'")
