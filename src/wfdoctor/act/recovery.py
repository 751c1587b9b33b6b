"""Perform one recovery step (dry run unless asked), with the memory it was meant to free measured either side.

Every step returns an `ActionRecord` whose `before` and `after` hold the same evidence:
system memory (`wf_memory_used_ratio`, available bytes), GPU memory where NVML has it, and
the models each backend says it holds. The outcome is read from that evidence, not assumed:
an unload that left the models listed is "no change", however politely the server answered.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import psutil

from wfdoctor.act.settings_file import Previous, SettingsFile
from wfdoctor.config.facts import Facts
from wfdoctor.config.recovery import RecoverySettings, RecoveryStep, SettingValue, lowered_value
from wfdoctor.model import ActionRecord, WfdoctorError
from wfdoctor.sense.backends import ollama
from wfdoctor.sense.backends.discovery import discover
from wfdoctor.sense.backends.http import ANSWER_ERRORS, error_text, make_session
from wfdoctor.sense.gpu_nvml import probe_gpus
from wfdoctor.sense.system import SystemProbe

NO_UNLOAD_API = ("speaks the OpenAI API (llama.cpp, vLLM, LM Studio), which has no call to unload a model: "
                 "restart the server with a smaller model instead (L4)")


@dataclass(frozen=True)
class LoadedModel:
    url: str
    name: str
    size_bytes: int
    vram_bytes: int
    expires_at: str | None = None       # Ollama: last use + keep_alive, so the latest is the most recently used


@dataclass(frozen=True)
class MemoryState:
    """The evidence before and after a step."""

    ram_used_ratio: float
    ram_available_bytes: int
    gpu_memory_used_ratio: float | None      # the fullest GPU's; None where NVML has no GPU
    gpu_memory_used_bytes: int | None
    gpu_status: str
    models: tuple[LoadedModel, ...] = ()
    backends: dict[str, str] = field(default_factory=dict)  # url -> the protocol that answered, or why none did

    @property
    def model_bytes(self) -> int:
        return sum(model.size_bytes for model in self.models)


MemorySampler = Callable[[Sequence[str]], Awaitable[MemoryState]]


async def read_memory_state(urls: Sequence[str]) -> MemoryState:
    """System and GPU memory now, and the models each of `urls` holds."""
    system = {s.metric: s.value for s in SystemProbe(top=0).read(slow=False)}
    gpus = probe_gpus()
    used = [(s.value, s.labels["gpu"]) for s in gpus.samples if s.metric == "wf_gpu_memory_used_ratio"]
    fullest = max(used, default=None)
    used_bytes = {s.labels["gpu"]: s.value for s in gpus.samples if s.metric == "wf_gpu_memory_used_bytes"}
    statuses = await discover(list(urls), timeout_s=5.0) if urls else []
    models = tuple(LoadedModel(status.url, m.name, m.size_bytes or 0, m.vram_bytes or 0, m.expires_at)
                   for status in statuses if status.answered for m in status.models if m.loaded)
    return MemoryState(
        ram_used_ratio=system["wf_memory_used_ratio"], ram_available_bytes=int(system["wf_memory_available_bytes"]),
        gpu_memory_used_ratio=fullest[0] if fullest else None,
        gpu_memory_used_bytes=int(used_bytes[fullest[1]]) if fullest else None, gpu_status=gpus.status,
        models=models, backends={s.url: s.kind if s.answered else f"no answer: {s.error}" for s in statuses})


@dataclass(frozen=True)
class StepContext:
    """Everything a step needs besides itself; `sample` and `clock` are seams for tests."""

    settings: RecoverySettings
    facts: Facts
    backend_urls: tuple[str, ...]
    apply: bool
    reason: str
    alert: str = ""                     # "name fingerprint" of the alert that asked, empty when a person did
    sample: MemorySampler = read_memory_state
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Lowered:
    """A setting a step lowered, and what it replaced: what progressive recovery restores."""

    step_id: str
    key: str
    value: SettingValue
    previous: Previous


@dataclass(frozen=True)
class StepResult:
    record: ActionRecord
    lowered: Lowered | None = None


@dataclass(frozen=True)
class _Done:
    """What a step's own code reports back to `perform_step`."""

    target: str
    detail: dict[str, object]
    error: str = ""
    outcome: str = ""                   # empty: judged from memory before and after
    lowered: Lowered | None = None


def evidence(state: MemoryState) -> dict[str, object]:
    return {"memory": dataclasses.asdict(state), "model_bytes": state.model_bytes}


async def perform_step(step: RecoveryStep, ctx: StepContext) -> StepResult:
    """Run `step` (for real only when `ctx.apply`), measuring memory before and after."""
    if step.kind == "advice":
        raise WfdoctorError(f"recovery step '{step.id}' is {step.level}: instructions for a person, nothing to run")
    before = await ctx.sample(ctx.backend_urls)
    try:
        done = await STEPS[step.kind](step, ctx, before)
    except WfdoctorError as exc:
        done = _Done(target=step.id, detail={}, error=str(exc))
    after = await ctx.sample(ctx.backend_urls) if ctx.apply and not done.error else before
    record = ActionRecord(kind=step.id, target=done.target, level=step.level, applied=ctx.apply and not done.error,
                          reason=ctx.reason, before=evidence(before), after=evidence(after) | done.detail,
                          error=done.error, ts=ctx.clock(), alert=ctx.alert,
                          outcome=_outcome(ctx.apply, done, before, after))
    return StepResult(record, done.lowered)


def _outcome(apply: bool, done: _Done, before: MemoryState, after: MemoryState) -> str:
    if done.error:
        return "failed"
    if done.outcome:
        return done.outcome
    if not apply:
        return "dry run"
    # the models' own bytes, not available RAM: that moves with everything else on the machine
    return "relieved" if after.model_bytes < before.model_bytes else "no change"


async def _clear_caches(step: RecoveryStep, ctx: StepContext, before: MemoryState) -> _Done:
    """wfdoctor keeps no caches of model data; what it can drop is its own garbage, measured in its own RSS."""
    me = psutil.Process()
    rss_before = me.memory_info().rss
    if ctx.apply:
        gc.collect()
    freed = max(rss_before - me.memory_info().rss, 0) if ctx.apply else 0
    return _Done(target=f"wfdoctor (pid {me.pid})", detail={"wfdoctor_rss_before_bytes": rss_before,
                                                            "freed_bytes": freed},
                 outcome=("relieved" if freed > 0 else "no change") if ctx.apply else "")


def _expiry(model: LoadedModel) -> datetime:
    try:
        expiry = datetime.fromisoformat(model.expires_at or "")
    except ValueError:
        expiry = datetime.min                  # no readable expiry: treated as the least recent
    return expiry if expiry.tzinfo else expiry.replace(tzinfo=timezone.utc)


def most_recently_used(models: Sequence[LoadedModel]) -> set[LoadedModel]:
    """Per server, the model with the latest expiry. Ollama does not say whether a model is serving a request
    right now; the one used last is the one most likely to be, so an "idle only" unload keeps it."""
    latest: dict[str, LoadedModel] = {}
    for model in models:
        if model.url not in latest or _expiry(model) > _expiry(latest[model.url]):
            latest[model.url] = model
    return set(latest.values())


async def _unload_models(step: RecoveryStep, ctx: StepContext, before: MemoryState) -> _Done:
    """Models an Ollama backend holds, unloaded with keep_alive 0 (with `idle_only`, all but each server's most
    recently used); other protocols have no unload call."""
    on_ollama = [m for m in before.models if before.backends.get(m.url) == ollama.KIND]
    kept = most_recently_used(on_ollama) if step.idle_only else set()
    targets = [m for m in on_ollama if m not in kept]
    others = {url: kind for url, kind in before.backends.items() if kind != ollama.KIND}
    notes = [f"{url}: {kind if kind.startswith('no answer') else NO_UNLOAD_API}" for url, kind in others.items()]
    errors: list[str] = []
    if ctx.apply:
        async with make_session(60.0) as session:
            for model in targets:
                try:
                    await ollama.set_keep_alive(session, model.url, model.name, 0)
                except ANSWER_ERRORS as exc:
                    errors.append(f"{model.url}#{model.name}: {error_text(exc)}")
    notes += [f"{m.url}#{m.name} kept: the most recently used model (it may be serving a request); "
              "`wfdoctor recover --apply unload_all_models` (L2) unloads it too" for m in kept]
    detail: dict[str, object] = {"unloading": [f"{m.url}#{m.name}" for m in targets],
                                 "kept": [f"{m.url}#{m.name}" for m in kept], "notes": notes}
    unsupported = ctx.apply and not targets and any(not k.startswith("no answer") for k in others.values())
    return _Done(target=", ".join(ctx.backend_urls) or "no backend", detail=detail, error="; ".join(errors),
                 outcome="unsupported" if unsupported else "")


async def _lower_setting(step: RecoveryStep, ctx: StepContext, before: MemoryState) -> _Done:
    path = ctx.settings.settings_file
    if path is None:
        raise WfdoctorError("recovery.settings_file is not configured: no WIRTHFORGE settings file to lower "
                            f"'{step.setting}' in")
    key, value = step.setting or "", lowered_value(step, ctx.facts)
    settings = SettingsFile(path)
    current = settings.read()
    detail: dict[str, object] = {"setting": key, "from": current.get(key), "to": value, "file": str(path)}
    if not ctx.apply:
        return _Done(target=f"{path}#{key}", detail=detail)
    if current.get(key) == value:
        return _Done(target=f"{path}#{key}", detail=detail, outcome="no change")
    previous = settings.set(key, value)
    return _Done(target=f"{path}#{key}", detail=detail, outcome="applied",
                 lowered=Lowered(step.id, key, value, previous))


def named_processes(names: Sequence[str]) -> list[psutil.Process]:
    """Processes whose name is exactly one of `names` (never wfdoctor itself): all a step may ever signal."""
    wanted = set(names)
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] in wanted and p.pid != os.getpid()]


async def _signal_processes(step: RecoveryStep, ctx: StepContext, before: MemoryState) -> _Done:
    if not ctx.settings.processes:
        raise WfdoctorError("recovery.processes names no process: wfdoctor signals only processes named there")
    found = named_processes(ctx.settings.processes)
    errors = []
    if ctx.apply:
        for process in found:
            try:
                process.send_signal(getattr(signal, step.signal))
            except psutil.Error as exc:
                errors.append(f"pid {process.pid}: {exc}")
    detail: dict[str, object] = {"signal": step.signal, "pids": [p.pid for p in found],
                                 "allowed": list(ctx.settings.processes)}
    outcome = "no change" if not found else "applied" if ctx.apply else ""
    return _Done(target=", ".join(ctx.settings.processes), detail=detail, error="; ".join(errors), outcome=outcome)


STEPS: dict[str, Callable[[RecoveryStep, StepContext, MemoryState], Awaitable[_Done]]] = {
    "clear_caches": _clear_caches, "unload_models": _unload_models, "lower_setting": _lower_setting,
    "signal_processes": _signal_processes,
}


def commands_of(step: RecoveryStep, state: MemoryState) -> list[list[str]]:
    """The exact commands a person can run for an L2 step: wfdoctor's own, then the native one per loaded model."""
    own = ["wfdoctor", "recover", "--apply", step.id]
    if not step.command:
        return [own]
    if not any("{model}" in part for part in step.command):
        return [own, list(step.command)]
    return [own] + [[part.replace("{model}", m.name) for part in step.command] for m in state.models]


def advice_record(step: RecoveryStep, ctx: StepContext, state: MemoryState) -> ActionRecord:
    """An L2-L4 step the monitor does not perform: logged with the command or the instructions for a person."""
    advice: dict[str, object] = ({"commands": commands_of(step, state)} if step.level == "L2"
                                 else {"instructions": list(step.instructions)})
    return ActionRecord(kind=step.id, target=step.description, level=step.level, applied=False, reason=ctx.reason,
                        before=evidence(state), after=advice, ts=ctx.clock(), alert=ctx.alert, outcome="advice")
