"""Silences as the router sees them: is this alert muted now?

Matchers are Alertmanager's (`name="value"`, `!=`, `=~`, `!~`, see `wfdoctor.config.matchers`); an
alert is silenced when some silence in force has every matcher hold for the alert's labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from wfdoctor.config.matchers import MatcherSyntaxError, matches_all, parse_matchers
from wfdoctor.model import Alert, WfdoctorError

if TYPE_CHECKING:
    from wfdoctor.store.monitoring import MonitorStore, Silence

REFRESH_S = 5.0  # how stale the router's view of the silences may be (a new silence mutes within this)


def check_matcher(text: str) -> None:
    """A one-line error for a matcher Alertmanager would not take."""
    try:
        parse_matchers(text)
    except MatcherSyntaxError as exc:
        raise WfdoctorError(f"matcher '{text}': {exc} (e.g. alertname=\"HighMemory\")") from None


def matches(matchers: Sequence[str], labels: dict[str, str]) -> bool:
    """Every matcher holds for `labels` (an absent label is the empty string, as in Alertmanager)."""
    return all(matches_all(parse_matchers(text), labels) for text in matchers)


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
