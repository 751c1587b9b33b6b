"""Progressive recovery: give back what L1 lowered, one setting at a time, only while the machine stays calm.

A small state machine, driven by the monitor's clock (`now`, never `time.time()` here, so a
test scripts an hour in a millisecond). Settings lowered during an incident are kept as a
stack. Once none of the alerts that caused them is active and a full stability window has
passed quietly, the most recent one is restored and held for another window. If one of those
alerts comes back during a hold, that step is rolled back (the lowered value written again)
and restoring stops: the settings still lowered stay so until a person raises them (or the
monitor restarts), because a setting that brought the alert back once will do so again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from wfdoctor.act.recovery import Lowered
from wfdoctor.act.settings_file import SettingsFile
from wfdoctor.model import ActionRecord, WfdoctorError


@dataclass(frozen=True)
class Hold:
    lowered: Lowered
    until: float


Evidence = Callable[[], Awaitable[dict[str, object]]]  # memory now, read only when a step is taken


class ProgressiveRestore:
    def __init__(self, settings_file: SettingsFile | None, window_s: float) -> None:
        self.settings_file = settings_file
        self.window_s = window_s
        self.stack: list[Lowered] = []
        self.causes: dict[str, str] = {}     # fingerprint -> "name fingerprint" of the alerts that lowered settings
        self.hold: Hold | None = None
        self.quiet_since: float | None = None
        self.stopped = False

    def remember(self, lowered: Lowered, fingerprint: str, alert: str) -> None:
        """A setting an L1 step lowered (for real) for the alert `alert`."""
        if all(item.key != lowered.key for item in self.stack):
            self.stack.append(lowered)
        self.causes[fingerprint] = alert

    @property
    def state(self) -> str:
        """For views and logs: idle, lowered, holding or stopped."""
        if self.stopped:
            return "stopped"
        if self.hold is not None:
            return "holding"
        return "lowered" if self.stack else "idle"

    async def tick(self, now: float, active: set[str], evidence: Evidence) -> list[ActionRecord]:
        """Advance by one monitor tick; `active` holds the fingerprints of the alerts pending or firing now."""
        if self.settings_file is None or (not self.stack and self.hold is None):
            return []
        if self.hold is not None and now >= self.hold.until:
            self.hold = None                 # held a whole window: that step is stable
        back = sorted(self.causes[f] for f in active if f in self.causes)
        if back:
            self.quiet_since = None
            return [await self._roll_back(now, back[0], evidence)] if self.hold is not None else []
        if self.stopped:
            return []
        if self.quiet_since is None:
            self.quiet_since = now
        if self.hold is None and self.stack and now - self.quiet_since >= self.window_s:
            return [await self._restore_next(now, evidence)]
        return []

    async def _restore_next(self, now: float, evidence: Evidence) -> ActionRecord:
        lowered = self.stack.pop()
        before = await evidence()
        error = self._write(lambda f: f.restore(lowered.key, lowered.previous))
        if error:
            self.stack.append(lowered)
            self.stopped = True
        else:
            self.hold = Hold(lowered, now + self.window_s)
        restored = lowered.previous.value if lowered.previous.present else None
        return self._record("restore", lowered, now, "restored" if not error else "failed", error,
                            f"calm for {self.window_s:g} s: restoring '{lowered.key}', held {self.window_s:g} s",
                            before, {"setting": lowered.key, "from": lowered.value, "to": restored},
                            ", ".join(sorted(self.causes.values())))

    async def _roll_back(self, now: float, alert: str, evidence: Evidence) -> ActionRecord:
        assert self.hold is not None
        lowered = self.hold.lowered
        self.hold = None
        self.stopped = True
        before = await evidence()
        error = self._write(lambda f: f.set(lowered.key, lowered.value))
        if not error:
            self.stack.append(lowered)
        return self._record("rollback", lowered, now, "rolled back" if not error else "failed", error,
                            f"the alert came back while '{lowered.key}' was held: lowered again; restoring stopped "
                            f"({len(self.stack)} setting(s) stay lowered)", before,
                            {"setting": lowered.key, "to": lowered.value}, alert)

    def _write(self, change: Callable[[SettingsFile], object]) -> str:
        assert self.settings_file is not None
        try:
            change(self.settings_file)
        except WfdoctorError as exc:
            return str(exc)
        return ""

    def _record(self, kind: str, lowered: Lowered, now: float, outcome: str, error: str, reason: str,
                before: dict[str, object], detail: dict[str, object], alert: str) -> ActionRecord:
        return ActionRecord(kind=f"{kind}:{lowered.step_id}", target=f"{self.settings_file}#{lowered.key}",
                            level="L1", applied=not error, reason=reason, before=before, after=before | detail,
                            error=error, ts=now, alert=alert, outcome=outcome)
