"""The reports the memory commands return: typed and frozen, what its view renders and the API hands out.

Views import their report module, never the pipelines; the types a report carries from
lower layers are importable from here too, so a view never reaches into `sense/` or `measure/`.
"""

from __future__ import annotations

from dataclasses import dataclass

from wfdoctor.act.models import LoadedState
from wfdoctor.analyze.leaks import LeakVerdict
from wfdoctor.analyze.models import EvictionPlan
from wfdoctor.config.rules import RuleBook
from wfdoctor.measure.memwatch import MemorySeries
from wfdoctor.measure.pyprofile import PythonProfile
from wfdoctor.model import ActionRecord, Finding, Run

__all__ = ["WatchReport", "ProfileReport", "ModelsReport", "LoadedState", "MemorySeries", "PythonProfile"]


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
