"""What a running monitor shows to the surfaces that serve it (the web server, `/metrics`, the live view).

A Protocol, so the web server and the exposition can be built and tested against any object that
answers these questions, and the monitor's internals stay its own.
"""

from __future__ import annotations

from typing import Protocol

from wfdoctor.app.reports.dashboard import ChartSeries, RunLine, UiSettings
from wfdoctor.model import ActionRecord, Alert, Finding, FrameReport, Sample


class MonitorView(Protocol):
    """The read side and the ingest door of `wfdoctor monitor`."""

    def latest_samples(self) -> list[Sample]:
        """The newest sample of every series the monitor holds (one per metric and label set)."""
        ...

    def active_alerts(self) -> list[Alert]:
        """Alerts pending or firing now, most severe first."""
        ...

    def recent_actions(self) -> list[ActionRecord]:
        """Recovery actions of this monitor, newest first (bounded)."""
        ...

    def accept(self, samples: list[Sample]) -> None:
        """Take samples pushed from outside (a page's frame reports, a script).

        Raises WfdoctorError for a sample the registry refuses, and `Overloaded` when
        the write queue is full. Once it returns, the samples are acknowledged: they reach
        the store before the monitor exits, SIGTERM included.
        """
        ...

    def accept_frames(self, report: FrameReport) -> None:
        """Take one page's frame report (POST /api/frames): stored as registered samples, judged with the
        machine's samples, and fed to the adaptive UI quality.

        Raises `RateLimited` past the per-page report budget, `Overloaded` when the write queue is
        full, WfdoctorError for a report the monitor refuses.
        """
        ...

    def ui_settings(self) -> UiSettings:
        """What a WIRTHFORGE page should render at now (GET /api/settings)."""
        ...

    def current_findings(self) -> list[Finding]:
        """What the monitor judges now (the UI row, from recent frame reports), causes first."""
        ...

    def recent_alerts(self) -> list[Alert]:
        """Alert transitions of this monitor, newest first (bounded): the dashboard's alert history."""
        ...

    def recent_runs(self) -> list[RunLine]:
        """The newest runs in the store (any command), newest first (bounded)."""
        ...

    def chart_series(self, since: float) -> list[ChartSeries]:
        """The dashboard's charts: each series' points newer than `since` (bounded per series)."""
        ...

    async def next_tick(self, seen: int, timeout_s: float) -> int:
        """Wait until the monitor has ticked past `seen` (or `timeout_s` passed); the tick number now."""
        ...


class Overloaded(Exception):
    """The monitor's write queue is full: the caller should retry later (HTTP 429 / 503)."""


class RateLimited(Exception):
    """A client pushed more than its budget (reports per page per minute): HTTP 429 with Retry-After."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
