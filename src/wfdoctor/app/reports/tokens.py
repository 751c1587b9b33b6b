"""`tokens`: every concurrency level measured, the saturation knee, the causes and the bandwidth roofline."""

from __future__ import annotations

from dataclasses import dataclass, field

from wfdoctor.analyze.roofline import Roofline
from wfdoctor.analyze.server_view import ServerLevel
from wfdoctor.analyze.tiers import TierVerdict
from wfdoctor.analyze.tokens import Knee, LevelSummary, RequestMetrics
from wfdoctor.config.rules import RuleBook
from wfdoctor.model import Finding, Run


@dataclass(frozen=True)
class TokensReport:
    run: Run
    backend_url: str
    implementation: str
    protocol: str
    model: str
    embedded: bool
    levels: list[LevelSummary]
    requests: dict[int, list[RequestMetrics]]
    knee: Knee
    findings: list[Finding]
    roofline: Roofline | None
    roofline_note: str
    tier: TierVerdict
    rulebook: RuleBook
    interrupted: bool
    notes: list[str]
    server_slots: int | None = None  # requests the server generates at once, where it says
    server_view: list[ServerLevel] = field(default_factory=list)  # each level as the server counted it
