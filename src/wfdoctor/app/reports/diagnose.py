"""The report `diagnose` returns: typed and frozen, what its view renders and the API hands out.

Views import their report module, never the pipelines; the types a report carries from
lower layers are importable from here too, so a view never reaches into `sense/` or `measure/`.
"""

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
