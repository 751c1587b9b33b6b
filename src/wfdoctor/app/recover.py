"""Recovery: what the monitor does when an alert fires or resolves, and the one-shot `wfdoctor recover`.

Both go through the same `perform_step`, so a step a person runs by hand and the step the
monitor runs on its own leave the same evidence in the store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from wfdoctor.act.recovery import (MemorySampler, MemoryState, StepContext, advice_record, commands_of, evidence,
                                   perform_step, read_memory_state)
from wfdoctor.act.restore import ProgressiveRestore
from wfdoctor.act.settings_file import SettingsFile
from wfdoctor.app.reports.recover import RecoverReport, StepStatus
from wfdoctor.config import user_config_dir
from wfdoctor.config.facts import Facts, load_facts
from wfdoctor.config.recovery import (LEVELS, RecoveryLadder, RecoverySettings, RecoveryStep, load_ladder,
                                      parse_recovery_settings, thresholds_of)
from wfdoctor.config.yamlfile import read_yaml
from wfdoctor.model import ActionRecord, Alert, AlertState, Run, WfdoctorError
from wfdoctor.sense.backends.discovery import checked_url
from wfdoctor.store.db import Store

DEFAULT_BACKEND = "http://127.0.0.1:11434"


def monitor_config_path() -> Path:
    return user_config_dir() / "monitor.yaml"


def load_recovery_settings(config_path: Path | None, ladder: RecoveryLadder) -> RecoverySettings:
    """The `recovery:` section of the monitor config (the defaults when the default file does not exist)."""
    path = config_path or monitor_config_path()
    if config_path is None and not path.is_file():
        return RecoverySettings()
    data, _ = read_yaml(path)
    if data is not None and not isinstance(data, dict):
        raise WfdoctorError(f"{path}:1: the monitor config must be a mapping of sections")
    return parse_recovery_settings((data or {}).get("recovery"), str(path), ladder)


def _percent(ratio: float | None) -> float | None:
    return None if ratio is None else ratio * 100.0


def step_status(step: RecoveryStep, facts: Facts, state: MemoryState, settings: RecoverySettings) -> StepStatus:
    """Whether the memory in use now reaches one of the facts thresholds the step names."""
    used = {"ram": _percent(state.ram_used_ratio), "vram": _percent(state.gpu_memory_used_ratio)}
    thresholds = thresholds_of(step, facts)
    reached = [t for t in thresholds if (value := used[t.resource]) is not None and value >= t.percent]
    if reached:
        because = "; ".join(f"{t.resource.upper()} {used[t.resource]:.0f} % >= {t.percent:g} % ({t.ref})"
                            for t in reached)
    elif thresholds:
        because = ", ".join(f"{t.resource.upper()} not measured" if used[t.resource] is None
                            else f"below {t.resource.upper()} {t.percent:g} %" for t in thresholds)
    else:
        because = "only when an alert names it"
    return StepStatus(step=step, applies=bool(reached), because=because, thresholds=thresholds,
                      commands=commands_of(step, state) if step.level == "L2" else [],
                      auto=step.id in settings.auto_apply)


@dataclass(frozen=True)
class RecoverOptions:
    step: str | None = None             # the step to run; None: only list the ladder
    apply: bool = False                 # dry run unless set
    backend_urls: tuple[str, ...] = (DEFAULT_BACKEND,)
    facts_path: Path | None = None
    config_path: Path | None = None     # the monitor config whose `recovery:` section applies
    ladder_paths: tuple[Path, ...] = ()


async def _state_and_step(step: RecoveryStep | None, context: StepContext) -> tuple[MemoryState, ActionRecord | None]:
    """The memory state for the listing, then the step (which measures its own before and after)."""
    state = await context.sample(context.backend_urls)
    return state, (await perform_step(step, context)).record if step is not None else None


@dataclass(frozen=True)
class RecoverInputs:
    facts: Facts
    ladder: RecoveryLadder
    settings: RecoverySettings
    step: RecoveryStep | None


def recover_inputs(options: RecoverOptions) -> RecoverInputs:
    """Facts, ladder, the user's recovery settings and the step asked for, checked before anything is touched."""
    user_facts = user_config_dir() / "facts.yaml"   # as every command: the user's facts unless --facts names others
    facts = load_facts(options.facts_path or (user_facts if user_facts.is_file() else None))
    ladder = load_ladder(options.ladder_paths)
    settings = load_recovery_settings(options.config_path, ladder)
    step = ladder.step(options.step) if options.step else None
    for url in options.backend_urls:
        checked_url(url)
    if step is not None and step.kind == "advice":
        raise WfdoctorError(f"recovery step '{step.id}' is {step.level}: instructions for a person, nothing to run "
                            "(`wfdoctor recover` lists them)")
    return RecoverInputs(facts, ladder, settings, step)


def run_recover(options: RecoverOptions, store: Store, sample: MemorySampler = read_memory_state) -> RecoverReport:
    """List the ladder against the memory state now; with a step, run it (dry run unless `apply`) and log it."""
    inputs = recover_inputs(options)
    facts, ladder, settings, step = inputs.facts, inputs.ladder, inputs.settings, inputs.step
    urls = tuple(url.rstrip("/") for url in options.backend_urls)
    run = Run(command="recover", started_at=time.time(),
              settings={"step": options.step, "apply": options.apply, "backends": list(urls)})
    with store.recording(run):
        context = StepContext(settings=settings, facts=facts, backend_urls=urls, apply=options.apply,
                              reason="asked for (wfdoctor recover)", sample=sample)
        state, action = asyncio.run(_state_and_step(step, context))
        if action is not None:
            store.add_action(run.id or 0, action)
    statuses = [step_status(s, facts, state, settings) for s in ladder.steps]
    applying = [s.step.level for s in statuses if s.applies]
    return RecoverReport(run=run, state=state, ram_percent=state.ram_used_ratio * 100.0,
                         vram_percent=_percent(state.gpu_memory_used_ratio),
                         level_now=max(applying, key=LEVELS.index) if applying else "none", steps=statuses,
                         settings_file=settings.settings_file, action=action)


def alert_id(alert: Alert) -> str:
    """How an action names the alert that caused it: the rule's name and the label set's fingerprint."""
    return f"{alert.name} {alert.fingerprint}"


class RecoveryResponder:
    """What the monitor calls with every tick's alert transitions (an empty list is fine, and needed: a held
    setting is only confirmed or restored when the responder hears the clock).

    A firing alert's `escalation` steps run in order: L1 steps for real when the monitor runs with --apply
    and the user listed the step in `recovery.auto_apply`, as dry runs otherwise; L2-L4 steps are logged as
    advice (the command to run, or the instructions). Settings lowered for real are given back by
    `ProgressiveRestore` once the alerts that caused them have stayed away. Every record goes to the store.
    """

    def __init__(self, ladder: RecoveryLadder, settings: RecoverySettings, store: Store, run_id: int,
                 apply: bool, backend_urls: Sequence[str], *, facts: Facts | None = None,
                 sample: MemorySampler = read_memory_state) -> None:
        self.ladder = ladder
        self.settings = settings
        self.store = store
        self.run_id = run_id
        self.apply = apply
        self.facts = facts or load_facts()
        self.context = StepContext(settings=settings, facts=self.facts, backend_urls=tuple(backend_urls),
                                   apply=False, reason="", sample=sample)
        settings_file = SettingsFile(settings.settings_file) if settings.settings_file else None
        self.restore = ProgressiveRestore(settings_file, settings.stability_window_s)

    async def on_alerts(self, transitions: Sequence[Alert], active: Sequence[Alert], now: float) -> list[ActionRecord]:
        records: list[ActionRecord] = []
        for alert in transitions:
            if alert.state == AlertState.FIRING:
                records += await self._escalate(alert, now)
        records += await self.restore.tick(now, {a.fingerprint for a in active}, self._evidence)
        for record in records:
            self.store.add_action(self.run_id, record)
        return records

    async def _evidence(self) -> dict[str, object]:
        return evidence(await self.context.sample(self.context.backend_urls))

    async def _escalate(self, alert: Alert, now: float) -> list[ActionRecord]:
        summary = alert.annotations.get("summary", "")
        context = replace(self.context, reason=f"{alert.name} firing" + (f": {summary}" if summary else ""),
                          alert=alert_id(alert), clock=lambda: now)
        records = []
        for step_id in alert.escalation:
            try:
                step = self.ladder.step(step_id)
            except WfdoctorError as exc:
                records.append(ActionRecord(kind=step_id, target="", level="", applied=False, reason=context.reason,
                                            before={}, after={}, error=str(exc), ts=now, alert=context.alert,
                                            outcome="failed"))
                continue
            if step.level != "L1":
                records.append(advice_record(step, context, await context.sample(context.backend_urls)))
                continue
            result = await perform_step(step, replace(context, apply=self.apply and step.id in
                                                      self.settings.auto_apply))
            if result.lowered is not None:
                self.restore.remember(result.lowered, alert.fingerprint, context.alert)
            records.append(result.record)
        return records
