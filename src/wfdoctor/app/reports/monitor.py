"""What the monitor hands its views: events, a snapshot of what it holds, and `alerts list`'s report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wfdoctor.model import ActionRecord, Alert, Sample
from wfdoctor.store.monitoring import AlertEvent, Silence

__all__ = ["AlertEvent", "AlertsReport", "FieldValue", "MonitorEvent", "MonitorSnapshot", "Silence"]

FieldValue = str | float | int | bool | None


@dataclass(frozen=True)
class MonitorEvent:
    """One thing that happened; `kind` is start, tick, alert, action, error, note or stop."""

    kind: str
    ts: float
    message: str
    fields: dict[str, FieldValue] = field(default_factory=dict)


@dataclass(frozen=True)
class MonitorSnapshot:
    """What a live view draws: the newest sample of each series, active alerts, recent actions."""

    samples: list[Sample]
    alerts: list[Alert]
    actions: list[ActionRecord]


@dataclass(frozen=True)
class AlertsReport:
    """`scope` current: alerts pending or firing; all: every alert's last state; history: every transition.
    `silences`: those in force (every silence, ended ones too, with scope all)."""

    database: Path
    scope: str
    alerts: list[AlertEvent]
    silences: list[Silence]


@dataclass(frozen=True)
class MonitorSummary:
    """What one monitor session did, for the exit line."""

    run_id: int
    ticks: int
    samples_written: int
    accepted: int              # samples pushed through `accept` (all written)
    dropped: int               # the monitor's own probe samples refused by a full queue
    overruns: int              # machine ticks skipped because a read took longer than the interval
    errors: int
    alerts: int                # transitions seen
    note: str = ""             # what judges the samples ("12 alert rules", or why nothing does)


@dataclass
class Counts:
    """What the summary and the tick events report."""

    ticks: int = 0
    written: int = 0
    accepted: int = 0
    dropped: int = 0
    overruns: int = 0
    errors: int = 0
    alerts: int = 0
