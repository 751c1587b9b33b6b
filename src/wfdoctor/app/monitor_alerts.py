"""`wfdoctor alerts list|silence|unsilence`: the stored alert history and the silences, read and
written through the database, so they work whether or not a monitor is running (a running monitor
picks up a new silence within a few seconds)."""

from __future__ import annotations

import getpass
import time
from collections.abc import Sequence
from pathlib import Path

from wfdoctor.app.monitor_silences import check_matcher
from wfdoctor.app.reports.monitor import AlertsReport
from wfdoctor.model import PLAUSIBLE_TIMES, WfdoctorError, plausible_time
from wfdoctor.store.monitoring import MonitorStore, Silence

SCOPES = ("current", "all", "history")
HISTORY_LIMIT = 1000


def list_alerts(db: Path, scope: str = "current") -> AlertsReport:
    if scope not in SCOPES:
        raise WfdoctorError(f"scope must be one of {', '.join(SCOPES)}, not '{scope}'")
    with MonitorStore.open(db) as store:
        alerts = (store.alert_history(HISTORY_LIMIT) if scope == "history"
                  else store.current_alerts(include_resolved=scope == "all", running_only=scope == "current"))
        return AlertsReport(db, scope, alerts, store.silences(time.time(), include_ended=scope == "all"))


def add_silence(db: Path, matchers: Sequence[str], duration_s: float, comment: str) -> Silence:
    """Mute notifications of alerts matching every matcher for `duration_s` (the alerts still fire and are
    stored: a silence mutes, it does not hide)."""
    if not matchers:
        raise WfdoctorError("give at least one matcher, e.g. alertname=\"HighMemory\"")
    for matcher in matchers:
        check_matcher(matcher)
    if not duration_s > 0:
        raise WfdoctorError("a silence must last more than 0 s")
    now = time.time()
    if not plausible_time(now + duration_s):  # a date no one can show would break `alerts list` for good
        raise WfdoctorError(f"a silence of {duration_s:g} s is too long: it must end {PLAUSIBLE_TIMES}")
    with MonitorStore.open(db) as store:
        silence_id = store.add_silence(list(matchers), now, now + duration_s, comment, _user())
        return next(s for s in store.silences(now) if s.id == silence_id)


def end_silence(db: Path, silence_id: int) -> None:
    with MonitorStore.open(db) as store:
        if not store.expire_silence(silence_id, time.time()):
            raise WfdoctorError(f"no silence {silence_id} in force in {db} (see `wfdoctor alerts list`)")


def _user() -> str:
    """Who made a silence, where the system can say (a container may have no user name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
