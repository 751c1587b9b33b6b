"""The memory commands: a leak verdict over a watched series, a Python profile, Ollama model actions."""

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
