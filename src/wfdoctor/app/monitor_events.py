"""What the monitor tells whoever shows it: events (start, tick summaries, alerts, actions, errors, stop)
and a "new tick" call for live views. The surface decides how they look (JSON lines, a Rich view)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from wfdoctor.app.monitor_view import MonitorView

FieldValue = str | float | int | bool | None


@dataclass(frozen=True)
class MonitorEvent:
    """One thing that happened; `kind` is start, tick, alert, action, error, note or stop."""

    kind: str
    ts: float
    message: str
    fields: dict[str, FieldValue] = field(default_factory=dict)


class MonitorObserver(Protocol):
    def event(self, event: MonitorEvent) -> None: ...

    def tick(self, view: MonitorView) -> None: ...


class QuietObserver:
    """Shows nothing (the Python API's default)."""

    def event(self, event: MonitorEvent) -> None:
        return None

    def tick(self, view: MonitorView) -> None:
        return None
