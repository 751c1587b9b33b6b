"""The regress commands: imported points, and verdicts over stored series."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wfdoctor.analyze.regress_check import SeriesVerdict
from wfdoctor.model import Run


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
    invalid_points: int = 0  # stored rows skipped: a non-finite value or an impossible time (old or hand-made)
