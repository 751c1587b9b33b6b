"""`council`: the council against its members alone, early consensus, the size sweep and the causes."""

from __future__ import annotations

from dataclasses import dataclass

from wfdoctor.analyze.council import CouncilMetrics, SizeVerdict
from wfdoctor.analyze.tiers import TierVerdict
from wfdoctor.config.rules import RuleBook
from wfdoctor.model import Finding, Run


@dataclass(frozen=True)
class CouncilReport:
    run: Run
    council: CouncilMetrics
    answer: str
    answer_from: list[str]
    quorum: int
    early: CouncilMetrics | None
    saved_s: float | None
    sweep: list[CouncilMetrics]
    size: SizeVerdict | None
    findings: list[Finding]
    tier: TierVerdict
    rulebook: RuleBook
    implementation_of: dict[str, str]
    notes: list[str]
