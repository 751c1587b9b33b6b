"""Silences as the router sees them: is this alert muted now?

Matchers are written `name="value"` (or `name=value`); an alert is silenced when some silence in
force has every matcher equal to the alert's label. The full matcher language (`!=`, `=~`, `!~`)
is `wfdoctor.config.matchers` (issue 11's routing slice); `parse_matcher` and `matches` are the
two places to switch to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from wfdoctor.model import Alert, WfdoctorError

if TYPE_CHECKING:
    from wfdoctor.store.monitoring import MonitorStore, Silence

MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^"]*?))\s*$')
REFRESH_S = 5.0  # how stale the router's view of the silences may be (a new silence mutes within this)


def parse_matcher(text: str) -> tuple[str, str]:
    """`name="value"` or `name=value` -> (name, value); anything else is a one-line error."""
    found = MATCHER.match(text)
    if found is None:
        raise WfdoctorError(f"matcher '{text}': expected name=\"value\" (e.g. alertname=\"HighMemory\")")
    quoted, bare = found.group(2), found.group(3)
    value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
    return found.group(1), value


def matches(matchers: Sequence[str], labels: dict[str, str]) -> bool:
    """Every matcher holds for `labels` (an absent label is the empty string, as in Alertmanager)."""
    return all(labels.get(name, "") == value for name, value in map(parse_matcher, matchers))


class SilenceCache:
    """The silences in force, read from the store at most every REFRESH_S (the router asks per alert)."""

    def __init__(self, store: MonitorStore, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._silences: list[Silence] = []
        self._read_at: float | None = None

    def is_silenced(self, alert: Alert) -> bool:
        now = self._clock()
        if self._read_at is None or now - self._read_at >= REFRESH_S:
            self._silences = self._store.silences(now)
            self._read_at = now
        return any(s.ends_at > now and matches(s.matchers, alert.labels) for s in self._silences)
