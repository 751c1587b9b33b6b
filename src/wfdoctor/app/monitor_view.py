"""What a running monitor shows to the surfaces that serve it (the web server, `/metrics`, the live view).

A Protocol, so the web server and the exposition can be built and tested against any object that
answers these questions, and the monitor's internals stay its own.
"""

from __future__ import annotations

from typing import Protocol

from wfdoctor.model import ActionRecord, Alert, Sample


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


class Overloaded(Exception):
    """The monitor's write queue is full: the caller should retry later (HTTP 429 / 503)."""
