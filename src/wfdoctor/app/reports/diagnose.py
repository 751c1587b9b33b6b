"""`diagnose`: the machine, its tier, the servers that answered and the triage matrix, row by row."""

from __future__ import annotations

from dataclasses import dataclass

from wfdoctor.analyze.tiers import TierVerdict
from wfdoctor.analyze.triage import RowStatus
from wfdoctor.config.facts import Facts
from wfdoctor.config.rules import RuleBook
from wfdoctor.model import Finding, Run
from wfdoctor.sense.backends.base import BackendStatus
from wfdoctor.sense.gpu_nvml import GpuReport

__all__ = ["DiagnoseReport", "BackendStatus", "GpuReport"]


@dataclass(frozen=True)
class DiagnoseReport:
    run: Run
    window_s: float               # the sampling window actually measured
    gpu: GpuReport
    tier: TierVerdict
    rows: list[RowStatus]         # the triage matrix, row by row
    findings: list[Finding]
    backends: list[BackendStatus]
    rulebook: RuleBook
    facts: Facts
    notes: list[str]
