"""What each use case returns: typed, frozen reports that views render and the API hands out.

Views import this module, never the pipelines; every field is named, so a view
reads `report.knee`, not `report["knee"]` or the 11th element of a tuple. The
types the reports carry from lower layers are importable from here too, so a
view never reaches into `sense/` or `measure/` itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wfdoctor.act.models import LoadedState
from wfdoctor.analyze.council import CouncilMetrics, SizeVerdict
from wfdoctor.analyze.leaks import LeakVerdict
from wfdoctor.analyze.models import EvictionPlan
from wfdoctor.analyze.regress_check import SeriesVerdict
from wfdoctor.analyze.roofline import Roofline
from wfdoctor.analyze.tiers import TierVerdict
from wfdoctor.analyze.tokens import Knee, LevelSummary, RequestMetrics
from wfdoctor.analyze.triage import RowStatus
from wfdoctor.config.facts import Facts
from wfdoctor.config.rules import RuleBook
from wfdoctor.measure.memwatch import MemorySeries
from wfdoctor.measure.pyprofile import PythonProfile
from wfdoctor.model import ActionRecord, Finding, Run
from wfdoctor.sense.backends.base import BackendStatus
from wfdoctor.sense.gpu_nvml import GpuReport
from wfdoctor.store.db import RunSummary


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


@dataclass(frozen=True)
class WatchReport:
    run: Run
    series: MemorySeries
    verdict: LeakVerdict
    findings: list[Finding]
    rulebook: RuleBook


@dataclass(frozen=True)
class ProfileReport:
    run: Run
    profile: PythonProfile
    script_exit_code: int


@dataclass(frozen=True)
class ModelsReport:
    run: Run
    url: str
    state: LoadedState
    actions: list[ActionRecord]
    plan: EvictionPlan | None


@dataclass(frozen=True)
class RecordReport:
    run: Run
    file: Path
    points: int


@dataclass(frozen=True)
class RegressReport:
    """`regress check` (a recorded run) and `regress show` (no run: `run` is None)."""

    run: Run | None
    verdicts: list[SeriesVerdict]
    min_points: int
    metrics: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HistoryReport:
    database: Path
    runs: list[RunSummary]
