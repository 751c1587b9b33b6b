"""Hardware tier: low / mid / high from physical cores, RAM and the largest GPU.

The adopted rule: a machine reaches a tier only when all three limits hold, so
the tier is the lowest one any single resource allows, and the resources that
allow only that tier are the ones that decided it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wfdoctor.config.facts import Facts, Targets, Thresholds
from wfdoctor.model import Sample

GIB = 1024**3


@dataclass(frozen=True)
class Limit:
    """One resource compared with the next tier's requirement."""

    resource: str
    measured: float
    unit: str
    allows: str
    next_tier: str | None = None
    next_requires: float | None = None


@dataclass(frozen=True)
class TierVerdict:
    tier: str
    rule: str
    decided_by: list[Limit]
    limits: list[Limit]
    targets: Targets
    thresholds: Thresholds
    notes: list[str] = field(default_factory=list)

    def explanation(self) -> str:
        """Why this tier, in one sentence."""
        parts = []
        for limit in self.decided_by:
            if limit.next_tier is None:
                parts.append(f"{limit.resource} {limit.measured:g} {limit.unit} meets the top tier")
            else:
                parts.append(f"{limit.resource} {limit.measured:g} {limit.unit} < {limit.next_requires:g} "
                             f"{limit.unit} needed for {limit.next_tier}")
        return "; ".join(parts)


def _first(samples: list[Sample], metric: str) -> float | None:
    return next((s.value for s in samples if s.metric == metric), None)


def _allowed_tier(measured: float, requirement_of: dict[str, float], order: list[str]) -> tuple[str, str | None, float | None]:
    """The highest tier `measured` reaches, and the next tier with its requirement."""
    allowed = order[0]
    for tier in order[1:]:
        if measured >= requirement_of[tier]:
            allowed = tier
        else:
            return allowed, tier, requirement_of[tier]
    return allowed, None, None


def classify_tier(samples: list[Sample], facts: Facts) -> TierVerdict:
    """Classify the machine from its probe samples with the facts file's rule."""
    rule = facts.tier_rule
    order = rule.order
    notes: list[str] = []
    cores = _first(samples, "wf_cpu_physical_cores")
    if cores is None:
        cores = _first(samples, "wf_cpu_logical_cores") or 1.0
        notes.append("physical core count unknown: logical cores used")
    ram_total = _first(samples, "wf_memory_total_bytes") or 0.0
    vram = max((s.value for s in samples if s.metric == "wf_gpu_memory_total_bytes"), default=0.0)
    if vram == 0.0:
        notes.append("no GPU memory measured: VRAM counts as 0")
    # Installed RAM is larger than what the OS reports; compare in nominal GiB.
    ram_gib = round(ram_total / GIB / rule.reported_memory_factor, 1)
    measured = {
        "physical cores": (cores, "cores", "physical_cores"),
        "RAM": (ram_gib, "GiB", "ram_gib"),
        "largest GPU VRAM": (round(vram / GIB, 1), "GiB", "vram_gib"),
    }
    limits = []
    for resource, (value, unit, key) in measured.items():
        requirements = {tier: getattr(limits_of, key) for tier, limits_of in rule.limits.items()}
        allows, next_tier, needs = _allowed_tier(value, requirements, order)
        limits.append(Limit(resource, value, unit, allows, next_tier, needs))
    tier = min((limit.allows for limit in limits), key=order.index)
    decided_by = [limit for limit in limits if limit.allows == tier]
    return TierVerdict(
        tier=tier,
        rule=rule.name,
        decided_by=decided_by,
        limits=limits,
        targets=facts.targets[tier],
        thresholds=facts.thresholds[tier],
        notes=notes,
    )
