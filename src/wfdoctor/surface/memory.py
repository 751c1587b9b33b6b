"""`wfdoctor memory watch`: a process's memory over time, and a leak verdict by statistics."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table
from rich.text import Text

from wfdoctor.act.models import loaded_state, preload_model, unload_model
from wfdoctor.analyze.models import EvictionPlan, lru_plan
from wfdoctor.analyze.leaks import LeakVerdict, leak_findings, leak_verdict
from wfdoctor.config.facts import Facts
from wfdoctor.config.rules import RuleBook
from wfdoctor.measure.memwatch import MemorySeries, watch_process
from wfdoctor.model import ActionRecord, Finding, Run, Sample, WfdoctorError
from wfdoctor.sense.backends.base import ModelInfo
from wfdoctor.store.db import Store
from wfdoctor.surface.datafiles import load_data_files
from wfdoctor.surface.json_doc import run_header
from wfdoctor.surface.report import findings_group
from wfdoctor.units import format_bytes

SCHEMA_ID = "wfdoctor.memory-watch/v1"
SERIES = {"rss": ("wf_process_resident_memory_bytes", "bytes"), "uss": ("wf_process_unique_memory_bytes", "bytes"),
          "pss": ("wf_process_proportional_memory_bytes", "bytes"), "swap": ("wf_process_swap_bytes", "bytes"),
          "open_files": ("wf_process_open_files", "files"), "threads": ("wf_process_threads", "threads")}


@dataclass
class WatchReport:
    run: Run
    series: MemorySeries
    verdict: LeakVerdict
    findings: list[Finding]
    rulebook: RuleBook


def series_samples(series: MemorySeries) -> list[Sample]:
    labels = {"pid": str(series.pid), "name": series.name}
    out = []
    for attribute, (metric, unit) in SERIES.items():
        for at, value in zip(series.times_s, getattr(series, attribute)):
            out.append(Sample(metric, value, unit, "psutil (/proc)", labels, series.started_at + at))
    return out


def run_memory_watch(pid: int, duration_s: float, interval_s: float, store: Store, facts_path: Path | None,
                     rules_paths: list[Path], progress: Callable[[float], None] = lambda elapsed: None) -> WatchReport:
    facts, rulebook = load_data_files(facts_path, rules_paths)
    run = Run(command="memory watch", started_at=time.time(),
              settings={"pid": pid, "duration_s": duration_s, "interval_s": interval_s})
    with store.recording(run):
        return _judge_watch(run, watch_process(pid, duration_s, interval_s, progress), facts, store, rulebook)


def _judge_watch(run: Run, series: MemorySeries, facts: Facts, store: Store, rulebook: RuleBook) -> WatchReport:
    pid = series.pid
    verdict = leak_verdict(series.times_s, series.rss, psutil.virtual_memory().available, limits=facts.limits.leaks,
                           floor_bytes_per_minute=float(facts.common["memory_leak_bytes_per_minute"]))
    findings = leak_findings(verdict, pid, series.name, rulebook.remedies)
    samples = series_samples(series)
    leak_rate = verdict.per_minute[0] if verdict.verdict == "leak" and verdict.per_minute else 0.0
    samples.append(Sample("wf_memory_leak_bytes_per_minute", leak_rate, "bytes", "wfdoctor memory watch "
                          "(leak verdict: 0 unless the statistics call it a leak)",
                          {"pid": str(pid), "name": series.name, "verdict": verdict.verdict}))
    run.samples, run.findings = samples, findings
    run.settings |= {"exited": series.exited, "samples": len(series.rss)}
    store.add_samples(run.id or 0, samples)
    store.add_findings(run.id or 0, findings)
    if series.interrupted:
        store.finish_run(run, status="interrupted")
    return WatchReport(run, series, verdict, findings, rulebook)


def render_watch(report: WatchReport, console: Console) -> None:
    series, verdict = report.series, report.verdict
    console.print(Text.assemble(("wfdoctor memory watch", "bold"), f"  run {report.run.id}: {series.name} "
                                f"(pid {series.pid}), {len(series.rss)} samples over {verdict.duration_s:.1f} s"))
    if series.exited or series.interrupted:
        why = "The process exited during the watch" if series.exited else "Interrupted"
        console.print(Text(f"{why}: the verdict covers what was sampled.", style="yellow"))
    if series.rss:
        console.print(f"RSS: first {format_bytes(series.rss[0])}, last {format_bytes(series.rss[-1])}, "
                      f"min {format_bytes(min(series.rss))}, max {format_bytes(max(series.rss))}; threads "
                      f"{series.threads[-1]:.0f}, open files {series.open_files[-1]:.0f}")
    style = {"leak": "bold red", "growth-then-plateau": "yellow", "stable": "green"}.get(verdict.verdict, "dim")
    console.print(Text.assemble(("Verdict: ", "bold"), (verdict.verdict.upper(), style), f" ({verdict.explanation})"))
    if verdict.analysed_from_s:
        console.print(Text(f"Warm-up excluded: the first {verdict.analysed_from_s:.0f} s", style="dim"))
    console.print(findings_group(report.findings, report.rulebook, healthy="No leak."))


def watch_doc(report: WatchReport, exit_code: int) -> dict[str, Any]:
    verdict = report.verdict
    per_minute = verdict.per_minute
    return run_header(SCHEMA_ID, report.run, exit_code) | {
        "pid": report.series.pid,
        "name": report.series.name,
        "exited": report.series.exited,
        "interrupted": report.series.interrupted,
        "verdict": verdict.verdict,
        "explanation": verdict.explanation,
        "samples": verdict.samples,
        "duration_s": verdict.duration_s,
        "slope_bytes_per_minute": {"estimate": per_minute[0], "ci_low": per_minute[1], "ci_high": per_minute[2]}
        if per_minute else None,
        "p_value": verdict.trend.p_value if verdict.trend else None,
        "autocorrelation_variance_factor": verdict.trend.variance_factor if verdict.trend else None,
        "analysed_from_s": verdict.analysed_from_s,
        "plateau_from_s": verdict.plateau_from_s,
        "growth_bytes": verdict.growth,
        "steps": [{"at_s": s.at_s, "bytes": s.size} for s in verdict.steps],
        "exhaustion_s": verdict.exhaustion_s,
        "series": {name: getattr(report.series, name) for name in ("times_s", *SERIES)},
        "findings": [f.to_dict() for f in report.findings],
    }


PROFILE_SCHEMA_ID = "wfdoctor.memory-profile/v1"
PYTHON_NAMES = ("python", "python3")


@dataclass
class ProfileReport:
    run: Run
    profile: dict[str, Any]
    exit_code_of_script: int


def run_memory_profile(command: list[str], frames: int, interval_s: float, top: int, store: Store) -> ProfileReport:
    """Run `python script.py args` under the profiler in a child interpreter; record the result."""
    if len(command) < 2 or Path(command[0]).name.split(".")[0] not in PYTHON_NAMES:
        raise WfdoctorError("memory profile runs Python programs: wfdoctor memory profile -- python script.py [args]")
    script, args = command[1], command[2:]
    if not Path(script).is_file():
        raise WfdoctorError(f"{script}: no such script")
    run = Run(command="memory profile", started_at=time.time(),
              settings={"command": command, "frames": frames, "interval_s": interval_s})
    with store.recording(run), tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "profile.json"
        child = subprocess.run([sys.executable, "-m", "wfdoctor.measure.pyprofile", "--out", str(out),
                                "--frames", str(frames), "--interval", str(interval_s), "--top", str(top),
                                script, *args])
        if not out.is_file():
            raise WfdoctorError(f"the profiled program ended without a profile (exit code {child.returncode})")
        profile = json.loads(out.read_text(encoding="utf-8"))
        samples = [Sample("wf_python_heap_growth_bytes", float(entry["size_diff_bytes"]), "bytes", "tracemalloc",
                          {"file": entry["file"], "line": str(entry["line"])}) for entry in profile["top_lines"]]
        samples += [Sample("wf_process_resident_memory_bytes", float(snap["rss_bytes"]), "bytes",
                           "psutil (profiled)", {"label": snap["label"]}) for snap in profile["snapshots"]]
        run.samples = samples
        store.add_samples(run.id or 0, samples)
        return ProfileReport(run, profile, child.returncode)


def render_profile(report: ProfileReport, console: Console) -> None:
    profile = report.profile
    console.print(Text.assemble(("wfdoctor memory profile", "bold"), f"  run {report.run.id}: {profile['script']} "
                                f"(frames {profile['frames']}, snapshot every {profile['interval_s']:g} s)"))
    console.print(f"Python heap grew {format_bytes(profile['python_heap_growth_bytes'])}, RSS grew "
                  f"{format_bytes(profile['rss_growth_bytes'])} between '{profile['between'][0]}' and "
                  f"'{profile['between'][1]}'")
    table = Table(title="Top growth by line", title_justify="left")
    for column in ("#", "where", "code", "grew", "objects"):
        table.add_column(column)
    for rank, entry in enumerate(profile["top_lines"], start=1):
        table.add_row(str(rank), f"{entry['file']}:{entry['line']}", entry.get("code", ""),
                      format_bytes(entry["size_diff_bytes"]), f"+{entry['count_diff']}")
    console.print(table)
    snapshots = Table(title="Snapshots", title_justify="left")
    for column in ("label", "at s", "Python heap", "RSS", "gc collected", "gc freed"):
        snapshots.add_column(column)
    for snap in profile["snapshots"][:3] + profile["snapshots"][-2:] if len(profile["snapshots"]) > 5 \
            else profile["snapshots"]:
        snapshots.add_row(snap["label"], f"{snap['at_s']:.1f}", format_bytes(snap["traced_bytes"]),
                          format_bytes(snap["rss_bytes"]), str(snap["gc_collected"]),
                          format_bytes(snap["gc_freed_rss_bytes"]))
    console.print(snapshots)
    if profile["hint"]:
        console.print(Text(profile["hint"], style="yellow"))
    if profile["error"]:
        console.print(Text(f"The program failed: {profile['error']}", style="red"))


def profile_doc(report: ProfileReport, exit_code: int) -> dict[str, Any]:
    return run_header(PROFILE_SCHEMA_ID, report.run, exit_code) | {"profile": report.profile,
                                                                   "script_exit_code": report.exit_code_of_script}


MODELS_SCHEMA_ID = "wfdoctor.memory-models/v1"


@dataclass
class ModelsReport:
    run: Run
    url: str
    state: dict[str, Any]
    actions: list[ActionRecord]
    plan: EvictionPlan | None


def run_model_action(verb: str, url: str, store: Store, model: str | None = None, budget_bytes: int | None = None,
                     apply: bool = False) -> ModelsReport:
    """`models` (list), `unload`/`preload` MODEL, or `evict` to a budget; every action logged."""
    run = Run(command=f"memory {verb}", started_at=time.time(),
              settings={"backend": url, "model": model, "budget_bytes": budget_bytes, "apply": apply})

    async def act() -> tuple[dict[str, Any], list[ActionRecord], EvictionPlan | None]:
        state = await loaded_state(url)
        plan = None
        actions: list[ActionRecord] = []
        if verb == "unload" and model:
            actions.append(await unload_model(url, model, apply))
        elif verb == "preload" and model:
            actions.append(await preload_model(url, model, apply))
        elif verb == "evict" and budget_bytes is not None:
            loaded = [ModelInfo(**m) for m in state["loaded"]]
            plan = lru_plan(loaded, budget_bytes)
            for name in plan.unload:
                actions.append(await unload_model(url, name, apply, reason=f"LRU eviction: {plan.explanation}"))
        return state, actions, plan

    with store.recording(run):
        state, actions, plan = asyncio.run(act())
        for action in actions:
            store.add_action(run.id or 0, action)
    return ModelsReport(run, url, state, actions, plan)


def render_models(report: ModelsReport, console: Console) -> None:
    table = Table(title=f"Loaded models at {report.url} (/api/ps)", title_justify="left")
    for column in ("model", "size", "in VRAM", "expires at"):
        table.add_column(column)
    for model in report.state["loaded"]:
        share = (model["vram_bytes"] or 0) / model["size_bytes"] if model["size_bytes"] else 0.0
        table.add_row(model["name"], format_bytes(model["size_bytes"] or 0), f"{share:.0%}",
                      model["expires_at"] or "")
    console.print(table)
    if report.plan is not None:
        console.print(f"LRU plan: unload {', '.join(report.plan.unload) or 'nothing'} ({report.plan.explanation})")
    for action in report.actions:
        done = "applied" if action.applied else "dry run (add --apply to do it)"
        change = (f": loaded {format_bytes(action.before['loaded_bytes'])} -> "
                  f"{format_bytes(action.after['loaded_bytes'])}" if action.applied else "")
        console.print(Text(f"{action.kind} {action.target} [{action.level}] {done}{change}"
                           + (f"; error: {action.error}" if action.error else ""),
                           style="red" if action.error else ""))


def models_doc(report: ModelsReport, exit_code: int) -> dict[str, Any]:
    return run_header(MODELS_SCHEMA_ID, report.run, exit_code) | {
        "backend": report.url, "state": report.state,
        "plan": dataclasses.asdict(report.plan) if report.plan else None,
        "actions": [dataclasses.asdict(action) for action in report.actions],
    }
