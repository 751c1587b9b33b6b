"""`memory`: watch a process for leaks, profile a Python program, act on Ollama's loaded models."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil

from wfdoctor.act.models import LoadedState, loaded_state, preload_model, unload_model
from wfdoctor.analyze.leaks import leak_findings, leak_rate_sample, leak_verdict
from wfdoctor.analyze.models import EvictionPlan, lru_plan
from wfdoctor.app.datafiles import load_data_files
from wfdoctor.app.judge import record
from wfdoctor.app.progress import SILENT, Progress
from wfdoctor.app.reports.memory import ModelsReport, ProfileReport, WatchReport
from wfdoctor.measure.memwatch import watch_process
from wfdoctor.measure.pyprofile import PythonProfile
from wfdoctor.model import ActionRecord, Run, WfdoctorError
from wfdoctor.sense.backends.discovery import checked_url
from wfdoctor.sense.lifeline import module_command
from wfdoctor.store.db import Store


@dataclass(frozen=True)
class WatchOptions:
    pid: int
    duration_s: float = 60.0
    interval_s: float = 0.5
    facts_path: Path | None = None
    rules_paths: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.pid < 1 or self.duration_s <= 0 or self.interval_s <= 0:
            raise WfdoctorError("pid must be a process id (1 or more), duration and interval above 0")


def run_memory_watch(options: WatchOptions, store: Store, progress: Progress = SILENT) -> WatchReport:
    """Sample one process's memory for a while and call leak / growth-then-plateau / stable by statistics."""
    data = load_data_files(options.facts_path, options.rules_paths)
    run = Run(command="memory watch", started_at=time.time(),
              settings={"pid": options.pid, "duration_s": options.duration_s, "interval_s": options.interval_s})
    with store.recording(run):
        series = watch_process(options.pid, options.duration_s, options.interval_s,
                               lambda elapsed: progress.advance(f"watching pid {options.pid}", elapsed,
                                                                options.duration_s))
        verdict = leak_verdict(series.times_s, series.rss, psutil.virtual_memory().available,
                               limits=data.facts.limits.leaks,
                               floor_bytes_per_minute=float(data.facts.common["memory_leak_bytes_per_minute"]))
        findings = leak_findings(verdict, series.pid, series.name, data.rulebook.remedies)
        samples = series.samples() + [leak_rate_sample(verdict, series.pid, series.name)]
        run.settings |= {"exited": series.exited, "samples": len(series.rss)}
        record(store, run, samples, findings, interrupted=series.interrupted)
    return WatchReport(run=run, series=series, verdict=verdict, findings=findings, rulebook=data.rulebook)


PYTHON_NAMES = ("python", "python3")


@dataclass(frozen=True)
class ProfileOptions:
    command: list[str]          # python script.py [args]
    frames: int = 1
    interval_s: float = 1.0
    top: int = 10
    script_output_to_stderr: bool = False  # keep stdout for the JSON document

    def __post_init__(self) -> None:
        if self.frames < 1 or self.interval_s <= 0 or self.top < 1:
            raise WfdoctorError("frames and top must be at least 1, the interval above 0")
        command = self.command
        if len(command) < 2 or Path(command[0]).name.split(".")[0] not in PYTHON_NAMES:
            raise WfdoctorError("memory profile runs Python programs: wfdoctor memory profile -- python script.py "
                                "[args]")


def script_of(options: ProfileOptions) -> str:
    """The script to profile; a missing one is a one-line error."""
    script = options.command[1]
    if not Path(script).is_file():
        raise WfdoctorError(f"{script}: no such script")
    return script


def run_memory_profile(options: ProfileOptions, store: Store, progress: Progress = SILENT) -> ProfileReport:
    """Run `python script.py args` under the profiler in a child interpreter; record the result."""
    command = options.command
    script, args = script_of(options), command[2:]
    run = Run(command="memory profile", started_at=time.time(),
              settings={"command": command, "frames": options.frames, "interval_s": options.interval_s})
    with store.recording(run), tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "profile.json"
        progress.note(f"profiling {script}")
        # tied to wfdoctor (sense.lifeline): the profiled program ends with it, even after a SIGKILL
        child = subprocess.run(module_command("wfdoctor.measure.pyprofile", [
                                   "--out", str(out), "--frames", str(options.frames),
                                   "--interval", str(options.interval_s), "--top", str(options.top), script, *args]),
                               stdout=sys.stderr if options.script_output_to_stderr else None)
        if not out.is_file():
            if child.returncode < 0:  # killed by a signal (it took the profiler, in its process, with it)
                raise WfdoctorError(f"the profiled program was killed by signal {-child.returncode} before its "
                                    "profile was written", exit_code=128 - child.returncode)
            raise WfdoctorError(f"the profiled program ended without a profile (exit code {child.returncode})")
        profile = PythonProfile.model_validate_json(out.read_text(encoding="utf-8"))
        record(store, run, profile.samples(), [])
    return ProfileReport(run=run, profile=profile, script_exit_code=child.returncode)


MODEL_VERBS = ("models", "unload", "preload", "evict")


@dataclass(frozen=True)
class ModelsOptions:
    verb: str                       # models (list), unload, preload, evict
    url: str = "http://127.0.0.1:11434"
    model: str | None = None        # for unload and preload
    budget_bytes: int | None = None  # for evict
    apply: bool = False             # dry run unless set

    def __post_init__(self) -> None:
        if self.verb not in MODEL_VERBS:
            raise WfdoctorError(f"unknown model action '{self.verb}': one of {', '.join(MODEL_VERBS)}")
        if self.verb in ("unload", "preload") and not self.model:
            raise WfdoctorError(f"{self.verb} needs a model name")
        if self.verb == "evict" and (self.budget_bytes is None or self.budget_bytes < 0):
            raise WfdoctorError("evict needs a budget of 0 bytes or more")
        checked_url(self.url)


async def _act(options: ModelsOptions) -> tuple[LoadedState, list[ActionRecord], EvictionPlan | None]:
    state = await loaded_state(options.url)
    plan = None
    actions: list[ActionRecord] = []
    if options.verb == "unload" and options.model:
        actions.append(await unload_model(options.url, options.model, options.apply))
    elif options.verb == "preload" and options.model:
        actions.append(await preload_model(options.url, options.model, options.apply))
    elif options.verb == "evict" and options.budget_bytes is not None:
        plan = lru_plan(state.loaded, options.budget_bytes)
        for name in plan.unload:
            actions.append(await unload_model(options.url, name, options.apply,
                                              reason=f"LRU eviction: {plan.explanation}"))
    return state, actions, plan


def run_model_action(options: ModelsOptions, store: Store, progress: Progress = SILENT) -> ModelsReport:
    """`models` (list), `unload`/`preload` MODEL, or `evict` to a budget; every action logged."""
    url = options.url.rstrip("/")
    run = Run(command=f"memory {options.verb}", started_at=time.time(),
              settings={"backend": url, "model": options.model, "budget_bytes": options.budget_bytes,
                        "apply": options.apply})
    with store.recording(run):
        state, actions, plan = asyncio.run(_act(replace(options, url=url)))
        for action in actions:
            store.add_action(run.id or 0, action)
    return ModelsReport(run=run, url=url, state=state, actions=actions, plan=plan)
