"""How a pipeline tells its caller what it is doing, without knowing who listens.

The CLI shows Rich spinners and bars, the Python API stays silent, the monitor
will log: each passes its own `Progress`. Pipelines only ever call these two methods.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def note(self, message: str) -> None:
        """A step starts, or something worth telling happened (a member retried, a server started)."""

    def advance(self, task: str, done: float, total: float | None = None) -> None:
        """`task` has reached `done` of `total` (requests, seconds): for bars."""


class Silent:
    """The default listener: hears everything, says nothing."""

    def note(self, message: str) -> None:
        pass

    def advance(self, task: str, done: float, total: float | None = None) -> None:
        pass


SILENT = Silent()
