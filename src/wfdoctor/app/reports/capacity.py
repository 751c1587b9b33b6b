"""`tokens --capacity`: the levels the search measured, each judged against the tier's targets, and the answer."""

from __future__ import annotations

from dataclasses import dataclass

from wfdoctor.analyze.capacity import CapacityVerdict, LevelVerdict, Slo
from wfdoctor.analyze.tiers import TierVerdict
from wfdoctor.analyze.tokens import LevelSummary
from wfdoctor.config.limits import CapacityLimits
from wfdoctor.config.rules import RuleBook
from wfdoctor.model import Finding, Run


@dataclass(frozen=True)
class CapacityReport:
    run: Run
    backend_url: str
    implementation: str
    model: str
    embedded: bool
    tier: TierVerdict
    slo: Slo                       # the tier's targets each level was held to
    limits: CapacityLimits         # the statistics held to them and the search's start
    ceiling: int                   # the highest concurrency the search could try
    levels: list[LevelSummary]     # in the order measured
    verdicts: list[LevelVerdict]   # one per level, in the same order
    answer: CapacityVerdict
    findings: list[Finding]        # judged on the levels the answer rests on (level 1 when not even 1 passes)
    rulebook: RuleBook
    interrupted: bool
    notes: list[str]
