"""`wfdoctor recover`: the ladder against the memory state now, and the one step run (if any)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wfdoctor.act.recovery import LoadedModel, MemoryState
from wfdoctor.config.recovery import RecoveryStep, Threshold
from wfdoctor.model import ActionRecord, Run

__all__ = ["RecoverReport", "StepStatus", "MemoryState", "LoadedModel", "RecoveryStep", "Threshold"]


@dataclass(frozen=True)
class StepStatus:
    """One rung and whether the memory state calls for it now, with the threshold that says so."""

    step: RecoveryStep
    applies: bool
    because: str                        # "RAM 91 % >= 90 % (ram_ladder_percent.unload_models)", or why not
    thresholds: list[Threshold]
    commands: list[list[str]]           # L2: what a person runs; empty for other levels
    auto: bool                          # in the user's recovery.auto_apply


@dataclass(frozen=True)
class RecoverReport:
    run: Run
    state: MemoryState
    ram_percent: float
    vram_percent: float | None
    level_now: str                      # the highest level whose steps apply, "none" below every threshold
    steps: list[StepStatus]
    settings_file: Path | None
    action: ActionRecord | None         # the step run with --apply / --dry-run STEP
