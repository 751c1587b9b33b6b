"""`history`: the stored runs, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wfdoctor.store.db import RunSummary

__all__ = ["HistoryReport", "RunSummary"]


@dataclass(frozen=True)
class HistoryReport:
    database: Path
    runs: list[RunSummary]
