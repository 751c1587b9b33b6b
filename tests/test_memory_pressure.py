"""Memory pressure by the packaged rule at the packaged thresholds of each tier (no replaced rule)."""

from __future__ import annotations

import pytest

from wfdoctor.analyze.triage import triage
from wfdoctor.config.facts import load_facts
from wfdoctor.config.rules import load_rulebook
from wfdoctor.model import Finding, Priority, Sample

FACTS = load_facts()
RULES = load_rulebook()
STEP = 0.001  # 0.1 percentage point either side of a threshold
HOG = Sample("wf_process_resident_memory_bytes", 6e9, "bytes", "test", {"pid": "4242", "name": "ollama"})


def memory_finding(used_ratio: float, tier: str) -> Finding | None:
    samples = [Sample("wf_memory_used_ratio", used_ratio, "ratio", "test"), HOG]
    [result] = [r for r in triage(samples, RULES, FACTS, tier) if r.rule_id == "memory.high"]
    return result.finding


def limits(tier: str) -> tuple[float, float]:
    """The tier's memory warning and critical thresholds from the facts file, as ratios."""
    memory = FACTS.thresholds[tier].memory_percent
    return memory.warning / 100, memory.critical / 100


@pytest.mark.parametrize("tier", FACTS.tier_rule.order)
def test_just_below_the_tiers_warning_is_no_finding(tier: str) -> None:
    warning, _ = limits(tier)
    assert memory_finding(warning - STEP, tier) is None


@pytest.mark.parametrize("tier", FACTS.tier_rule.order)
def test_just_above_the_tiers_warning_is_high_memory_naming_the_largest_process(tier: str) -> None:
    warning, _ = limits(tier)
    finding = memory_finding(warning + STEP, tier)
    assert finding is not None and finding.code == "HIGH_MEMORY" and finding.priority is Priority.HIGH
    assert f"(threshold {warning:.1%})" in finding.summary
    assert "pid 4242" in finding.summary and finding.evidence[-1] == HOG


@pytest.mark.parametrize("tier", FACTS.tier_rule.order)
def test_just_below_the_tiers_critical_stays_high(tier: str) -> None:
    _, critical = limits(tier)
    finding = memory_finding(critical - STEP, tier)
    assert finding is not None and finding.priority is Priority.HIGH


@pytest.mark.parametrize("tier", FACTS.tier_rule.order)
def test_just_above_the_tiers_critical_is_critical(tier: str) -> None:
    _, critical = limits(tier)
    finding = memory_finding(critical + STEP, tier)
    assert finding is not None and finding.priority is Priority.CRITICAL


def test_the_same_memory_use_is_pressure_on_a_low_tier_machine_and_not_on_a_high_tier_one() -> None:
    low_warning, _ = limits("low")
    high_warning, _ = limits("high")
    between = (low_warning + high_warning) / 2
    assert memory_finding(between, "low") is not None
    assert memory_finding(between, "high") is None
