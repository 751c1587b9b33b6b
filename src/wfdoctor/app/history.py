"""`history`: the stored runs, newest first."""

from __future__ import annotations

from wfdoctor.app.reports.history import HistoryReport
from wfdoctor.store.db import Store


def list_history(store: Store, limit: int = 20) -> HistoryReport:
    return HistoryReport(database=store.path, runs=store.list_runs(limit))
