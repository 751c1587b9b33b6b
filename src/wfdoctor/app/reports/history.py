"""The report `history` returns: typed and frozen, what its view renders and the API hands out.

Views import their report module, never the pipelines; the types a report carries from
lower layers are importable from here too, so a view never reaches into `sense/` or `measure/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wfdoctor.store.db import RunSummary

__all__ = ["HistoryReport", "RunSummary"]


@dataclass(frozen=True)
class HistoryReport:
    database: Path
    runs: list[RunSummary]
