"""Whoever shows the monitor (JSON lines, a Rich view) is a `MonitorObserver`: it gets every event, and
on each tick a way to read a snapshot (taken only when the view will draw, not ten times a second)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from wfdoctor.app.reports.monitor import MonitorEvent, MonitorSnapshot


class MonitorObserver(Protocol):
    def event(self, event: MonitorEvent) -> None: ...

    def tick(self, snapshot: Callable[[], MonitorSnapshot]) -> None: ...


class QuietObserver:
    """Shows nothing (the Python API's default)."""

    def event(self, event: MonitorEvent) -> None:
        return None

    def tick(self, snapshot: Callable[[], MonitorSnapshot]) -> None:
        return None
