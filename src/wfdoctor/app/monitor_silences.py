"""Silences as the router sees them: is this alert muted now?

Matchers are Alertmanager's (`name="value"`, `!=`, `=~`, `!~`, see `wfdoctor.config.matchers`); an
alert is silenced when some silence in force has every matcher hold for the alert's labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from wfdoctor.config.matchers import Matcher, MatcherSyntaxError, matches_all, parse_matchers
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
    """The silences in force, read from the store at most every REFRESH_S (the router asks per alert).

    It never raises into the router: a store that cannot be read (locked, torn) keeps the silences last
    read, and a stored silence whose matchers no longer parse is left out; each is told once through
    `on_problem` (the monitor's error events). Raised, either one ended the delivery task for good."""

    def __init__(self, store: MonitorStore, clock: Callable[[], float],
                 on_problem: Callable[[str], None] = lambda text: None) -> None:
        self._store = store
        self._clock = clock
        self._on_problem = on_problem
        self._told: set[str] = set()
        self._silences: list[tuple[Silence, tuple[Matcher, ...]]] = []
        self._read_at: float | None = None

    def is_silenced(self, alert: Alert) -> bool:
        now = self._clock()
        if self._read_at is None or now - self._read_at >= REFRESH_S:
            self._refresh(now)
        return any(s.ends_at > now and matches_all(parsed, alert.labels) for s, parsed in self._silences)

    def _refresh(self, now: float) -> None:
        self._read_at = now
        try:
            silences = self._store.silences(now)
        except WfdoctorError as exc:
            self._tell(f"silences: {exc}; the silences read last stay in force")
            return
        kept = []
        for silence in silences:
            try:
                kept.append((silence, tuple(m for text in silence.matchers for m in parse_matchers(text))))
            except MatcherSyntaxError as exc:
                self._tell(f"silence {silence.id} is left out: {exc}")
        self._silences = kept

    def _tell(self, problem: str) -> None:
        if problem not in self._told:
            self._told.add(problem)
            self._on_problem(problem)
