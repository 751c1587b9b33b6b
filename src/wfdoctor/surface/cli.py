"""The `wfdoctor` command line.

Exit codes (README): 0 healthy, 1 findings at or above --fail-on,
2 usage or input errors (bad flags, broken data files, unusable database),
130 interrupted (Ctrl-C; what was measured is kept).
User errors print one line on stderr, never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from datetime import datetime
from enum import Enum
from pathlib import Path
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, Optional

import typer
from rich.console import Console

from wfdoctor import __version__
from wfdoctor.model import Priority, Run, WfdoctorError
from wfdoctor.store.db import Store, default_db_path

app = typer.Typer(
    name="wfdoctor",
    help="The performance doctor for WIRTHFORGE and local LLM servers: measured evidence, a named cause, "
         "a priority and an action.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stdout = Console()
stderr = Console(stderr=True)

EXIT_HEALTHY, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class FailOn(str, Enum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"
    never = "never"


DbOption = Annotated[Optional[Path], typer.Option("--db", help="SQLite database (default: $WFDOCTOR_DB or "
                                                                "~/.local/share/wfdoctor/wfdoctor.db).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON (see docs/json-output.md).")]
FailOnOption = Annotated[FailOn, typer.Option("--fail-on", help="Exit 1 when a finding has this priority or higher.")]
FactsOption = Annotated[Optional[Path], typer.Option("--facts", help="YAML file merged over the packaged facts "
                                                     "(tiers, targets, thresholds).")]
RulesOption = Annotated[Optional[list[Path]], typer.Option("--rules", help="Extra rule file or folder (repeatable); "
                                                           "rules with the same id replace packaged ones.")]


def exit_code_for(priorities: list[Priority], fail_on: FailOn) -> int:
    """1 when any finding is at or above `fail_on`, else 0."""
    if fail_on is FailOn.never:
        return EXIT_HEALTHY
    threshold = Priority(fail_on.value)
    return EXIT_FINDINGS if any(p.at_least(threshold) for p in priorities) else EXIT_HEALTHY


@contextmanager
def _interruptible(store: Store) -> Iterator[None]:
    """Ctrl-C: one line saying the run is kept, and exit 130 (the store has marked it interrupted)."""
    try:
        yield
    except KeyboardInterrupt:
        stderr.print(f"wfdoctor: interrupted; the run is kept as interrupted in {store.path}")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _finish(as_json: bool, document: Callable[[], dict[str, Any]], render: Callable[[], None], run_id: int | None,
            db_path: Path, code: int) -> NoReturn:
    """Print the JSON document or the report, then exit with `code`."""
    if as_json:
        print(json.dumps(document(), indent=2))
    else:
        render()
        stdout.print(f"Saved as run {run_id} in {db_path}. Exit code {code}.", style="dim")
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        stdout.print(f"wfdoctor {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """wfdoctor: why is it slow, why did it get slower, what do I change?"""


@app.command()
def diagnose(
    window: Annotated[float, typer.Option("--window", min=0.2, max=600, help="Sampling window in seconds.")] = 2.0,
    backend: Annotated[Optional[list[str]], typer.Option("--backend", help="LLM server URL to probe (repeatable); "
                                                         "default: Ollama on 11434, OpenAI-compatible on "
                                                         "8080/8000/1234.")] = None,
    embedded: Annotated[bool, typer.Option("--embedded/--no-embedded",
                                           help="Start the embedded SmolLM2 engine when no server answers.")] = True,
    fail_on: FailOnOption = FailOn.high,
    facts: FactsOption = None,
    rules: RulesOption = None,
    top: Annotated[int, typer.Option("--top", min=1, max=50, help="Processes listed by CPU and by memory.")] = 5,
    token_runs: Annotated[int, typer.Option("--token-runs", min=0, max=100, help="Requests in the short token "
                                            "check against the first server that answers (0 skips it).")] = 3,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Snapshot the system, find LLM servers, classify the tier and run the triage matrix."""
    from wfdoctor.surface.diagnose import DiagnoseOptions, run_diagnose
    from wfdoctor.surface.json_doc import diagnosis_doc
    from wfdoctor.surface.report import render_diagnosis

    options = DiagnoseOptions(window_s=window, backend_urls=backend or [], embedded=embedded, facts_path=facts,
                              rules_paths=rules or [], top=top, token_runs=token_runs)
    with Store.open(db or default_db_path()) as store:
        with _interruptible(store), stderr.status("diagnosing...") as status:
            diagnosis = run_diagnose(options, store, report=lambda message: status.update(message))
    code = exit_code_for([f.priority for f in diagnosis.findings], fail_on)
    _finish(as_json, lambda: diagnosis_doc(diagnosis, fail_on.value, code),
            lambda: render_diagnosis(diagnosis, stdout), diagnosis.run.id, store.path, code)


def _concurrency_list(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"'{text}': expected comma-separated whole numbers, e.g. 1,2,4") from None
    if not levels or any(level < 1 or level > 1024 for level in levels):
        raise typer.BadParameter(f"'{text}': each level must be between 1 and 1024")
    return levels


@app.command()
def tokens(
    backend: Annotated[Optional[str], typer.Option("--backend", help="LLM server URL; default: discovery, then "
                                                   "the embedded SmolLM2 engine.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Model name (default: the first loaded).")] = None,
    prompt: Annotated[Optional[str], typer.Option("--prompt", help="Prompt text.")] = None,
    prompt_file: Annotated[Optional[Path], typer.Option("--prompt-file", help="Read the prompt from a file.")]
    = None,
    prompt_tokens: Annotated[Optional[int], typer.Option("--prompt-tokens", min=1, max=131072,
                                                         help="Use a synthetic prompt of about N tokens.")] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=2, max=32768, help="Output tokens per request.")]
    = 64,
    runs: Annotated[int, typer.Option("--runs", min=1, max=100000, help="Measured requests per concurrency "
                                      "level.")] = 10,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Unmeasured requests before each level.")] = 1,
    concurrency: Annotated[str, typer.Option("--concurrency", help="Concurrency levels to sweep, e.g. 1,2,4,8.")]
    = "1",
    arrival: Annotated[str, typer.Option("--arrival", help="closed (each stream sends its next request when the "
                                         "last ends) or poisson (open loop at --rate).")] = "closed",
    rate: Annotated[float, typer.Option("--rate", min=0.001, help="Poisson arrivals per second.")] = 1.0,
    api: Annotated[str, typer.Option("--api", help="chat or completion endpoint.")] = "chat",
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds without data before a request "
                                           "fails.")] = 60.0,
    model_file: Annotated[Optional[Path], typer.Option("--model-file", help="GGUF file of the model, for the "
                                                       "bandwidth roofline.")] = None,
    bandwidth: Annotated[bool, typer.Option("--bandwidth/--no-bandwidth", help="Measure memory bandwidth for the "
                                            "roofline (about 1 s).")] = True,
    fail_on: FailOnOption = FailOn.high,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", help="Write one row per request to this file.")]
    = None,
    facts: FactsOption = None,
    rules: RulesOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Measure token generation (TTFT, ITL, TPOT, throughput), find the bottleneck and the physical limit."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from wfdoctor.surface.tokens import DEFAULT_PROMPT, TokensOptions, run_tokens, synthetic_prompt
    from wfdoctor.surface.tokens_report import render_tokens, tokens_doc, write_csv

    if arrival not in ("closed", "poisson"):
        raise typer.BadParameter("--arrival must be closed or poisson")
    if api not in ("chat", "completion"):
        raise typer.BadParameter("--api must be chat or completion")
    if sum(x is not None for x in (prompt, prompt_file, prompt_tokens)) > 1:
        raise typer.BadParameter("use one of --prompt, --prompt-file, --prompt-tokens")
    if prompt_tokens is not None:
        prompt = synthetic_prompt(prompt_tokens)
    if prompt_file is not None:
        try:
            prompt = prompt_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise WfdoctorError(f"{prompt_file}: cannot read the prompt file: {exc.strerror}") from None
    levels = _concurrency_list(concurrency)
    options = TokensOptions(backend_url=backend, model=model, prompt=prompt or DEFAULT_PROMPT,
                            max_tokens=max_tokens, runs=runs, warmup=warmup, concurrency=levels, arrival=arrival,
                            rate_per_s=rate, api=api, timeout_s=timeout, model_file=model_file,
                            measure_bandwidth=bandwidth, facts_path=facts, rules_paths=rules or [])
    with Store.open(db or default_db_path()) as store, Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr, transient=True,
    ) as bars:
        tasks = {c: bars.add_task(f"concurrency {c}", total=runs) for c in levels}
        report = run_tokens(options, store, report=lambda message: bars.console.print(message, style="dim"),
                            progress=lambda c, done: bars.update(tasks[c], completed=done))
    code = exit_code_for([f.priority for f in report.findings], fail_on)
    if report.interrupted:
        code = EXIT_INTERRUPTED
    if csv_path is not None:
        write_csv(report, csv_path)
    _finish(as_json, lambda: tokens_doc(report, code), lambda: render_tokens(report, stdout), report.run.id,
            store.path, code)


@app.command()
def council(
    member: Annotated[Optional[list[str]], typer.Option("--member", help="URL[#MODEL] of a member (repeatable); "
                                                        "default: 3 members on the first server that answers.")]
    = None,
    members_file: Annotated[Optional[Path], typer.Option("--members-file", help="YAML list of {url, model, "
                                                         "name}.")] = None,
    prompt: Annotated[Optional[str], typer.Option("--prompt", help="Prompt every member answers.")] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=2, max=32768)] = 48,
    timeout: Annotated[Optional[float], typer.Option("--timeout", min=0.05, help="Seconds a member may stay "
                                                     "silent before it fails (facts: 5).")] = None,
    retries: Annotated[Optional[int], typer.Option("--retries", min=0, max=20, help="Retries of a failed member "
                                                   "(facts: 3).")] = None,
    quorum: Annotated[int, typer.Option("--quorum", min=0, help="Also run with early consensus: stop once K "
                                        "answers agree.")] = 0,
    agreement: Annotated[str, typer.Option("--agreement", help="exact or tokenset.")] = "exact",
    similarity: Annotated[float, typer.Option("--similarity", min=0.0, max=1.0, help="tokenset threshold.")] = 0.8,
    sweep: Annotated[bool, typer.Option("--sweep", help="Also run councils of 1..n members and recommend a "
                                        "size.")] = False,
    fail_on: FailOnOption = FailOn.high,
    facts: FactsOption = None,
    rules: RulesOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a council: stragglers, timeouts, serialisation vs parallelism (alpha), early consensus, right size."""
    from wfdoctor.surface.council import CouncilOptions, members_from_file, parse_member, run_council_command
    from wfdoctor.surface.council_report import council_doc, render_council
    from wfdoctor.surface.tokens import DEFAULT_PROMPT

    if agreement not in ("exact", "tokenset"):
        raise typer.BadParameter("--agreement must be exact or tokenset")
    specs = [parse_member(text, index) for index, text in enumerate(member or [])]
    if members_file is not None:
        specs += members_from_file(members_file)
    if quorum and specs and quorum > len(specs):
        raise typer.BadParameter(f"--quorum {quorum} exceeds the {len(specs)} members")
    options = CouncilOptions(members=specs, prompt=prompt or DEFAULT_PROMPT, max_tokens=max_tokens,
                             timeout_s=timeout, retries=retries, quorum=quorum, agreement=agreement,
                             similarity=similarity, sweep=sweep, facts_path=facts, rules_paths=rules or [])
    with Store.open(db or default_db_path()) as store:
        with _interruptible(store):
            report = run_council_command(
                options, store, report=lambda message: stderr.print(message, style="dim"),
                progress=lambda name, event: stderr.print(f"  {name}: {event}", style="dim", highlight=False))
    code = exit_code_for([f.priority for f in report.findings], fail_on)
    _finish(as_json, lambda: council_doc(report, code), lambda: render_council(report, stdout), report.run.id,
            store.path, code)


memory_app = typer.Typer(help="Memory diagnostics: watch a process for leaks.", no_args_is_help=True)
app.add_typer(memory_app, name="memory")


@memory_app.command("watch")
def memory_watch(
    pid: Annotated[int, typer.Option("--pid", help="Process to watch.")],
    duration: Annotated[float, typer.Option("--duration", min=1.0, help="Seconds to watch.")] = 60.0,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between samples.")] = 0.5,
    fail_on: FailOnOption = FailOn.high,
    facts: FactsOption = None,
    rules: RulesOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sample a process's memory and call leak / growth-then-plateau / stable by statistics."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from wfdoctor.surface.memory import render_watch, run_memory_watch, watch_doc

    with Store.open(db or default_db_path()) as store, Progress(
        TextColumn(f"watching pid {pid}"), BarColumn(), TimeElapsedColumn(), console=stderr, transient=True,
    ) as bars:
        task = bars.add_task("watch", total=duration)
        report = run_memory_watch(pid, duration, interval, store, facts, rules or [],
                                  progress=lambda elapsed: bars.update(task, completed=elapsed))
    code = EXIT_INTERRUPTED if report.series.interrupted else exit_code_for(
        [f.priority for f in report.findings], fail_on)
    _finish(as_json, lambda: watch_doc(report, code), lambda: render_watch(report, stdout), report.run.id,
            store.path, code)


@memory_app.command("profile")
def memory_profile(
    command: Annotated[list[str], typer.Argument(help="The Python program, after --: python script.py [args]")],
    frames: Annotated[int, typer.Option("--frames", min=1, max=100, help="Traceback depth kept per "
                                        "allocation (1 is cheapest).")] = 1,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between snapshots.")] = 1.0,
    top: Annotated[int, typer.Option("--top", min=1, max=100, help="Lines (and tracebacks) to list.")] = 10,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a Python program under tracemalloc and show where its memory grows, line by line."""
    from wfdoctor.surface.memory import profile_doc, render_profile, run_memory_profile

    with Store.open(db or default_db_path()) as store:
        with _interruptible(store):
            report = run_memory_profile(command, frames, interval, top, store)
    _finish(as_json, lambda: profile_doc(report, EXIT_HEALTHY), lambda: render_profile(report, stdout),
            report.run.id, store.path, EXIT_HEALTHY)


OllamaOption = Annotated[str, typer.Option("--backend", help="Ollama server URL.")]
ApplyOption = Annotated[bool, typer.Option("--apply", help="Really do it (default: dry run, logged).")]


def _models_command(verb: str, backend: str, db: Optional[Path], as_json: bool, model: Optional[str] = None,
                    budget: Optional[str] = None, apply: bool = False) -> None:
    from wfdoctor.surface.memory import models_doc, render_models, run_model_action
    from wfdoctor.units import parse_size

    try:
        budget_bytes = parse_size(budget) if budget is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    with Store.open(db or default_db_path()) as store:
        with _interruptible(store):
            report = run_model_action(verb, backend.rstrip("/"), store, model, budget_bytes, apply)
    failed = any(action.error for action in report.actions)
    code = EXIT_FINDINGS if failed else EXIT_HEALTHY
    _finish(as_json, lambda: models_doc(report, code), lambda: render_models(report, stdout), report.run.id,
            store.path, code)


@memory_app.command("models")
def memory_models(backend: OllamaOption = "http://127.0.0.1:11434", db: DbOption = None,
                  as_json: JsonOption = False) -> None:
    """List the models an Ollama server holds in memory: size, VRAM share, expiry."""
    _models_command("models", backend, db, as_json)


@memory_app.command("unload")
def memory_unload(model: Annotated[str, typer.Argument(help="Model to unload.")],
                  backend: OllamaOption = "http://127.0.0.1:11434", apply: ApplyOption = False,
                  db: DbOption = None, as_json: JsonOption = False) -> None:
    """Unload a model (Ollama keep_alive 0); dry run unless --apply."""
    _models_command("unload", backend, db, as_json, model=model, apply=apply)


@memory_app.command("preload")
def memory_preload(model: Annotated[str, typer.Argument(help="Model to load.")],
                   backend: OllamaOption = "http://127.0.0.1:11434", apply: ApplyOption = False,
                   db: DbOption = None, as_json: JsonOption = False) -> None:
    """Load a model ahead of its first request (keep_alive 30m); dry run unless --apply."""
    _models_command("preload", backend, db, as_json, model=model, apply=apply)


@memory_app.command("evict")
def memory_evict(budget: Annotated[str, typer.Option("--budget", help="Memory the loaded models may use, e.g. "
                                                     "8GiB.")],
                 backend: OllamaOption = "http://127.0.0.1:11434", apply: ApplyOption = False,
                 db: DbOption = None, as_json: JsonOption = False) -> None:
    """Unload least recently used models until the rest fit --budget; dry run unless --apply."""
    _models_command("evict", backend, db, as_json, budget=budget, apply=apply)


regress_app = typer.Typer(help="Regression detection over the stored history (and a CI gate).",
                          no_args_is_help=True)
app.add_typer(regress_app, name="regress")


@regress_app.command("record")
def regress_record(
    file: Annotated[Path, typer.Argument(help="pytest-benchmark JSON, or CSV/JSON of timestamp,metric,value,"
                                         "revision.")],
    db: DbOption = None,
) -> None:
    """Import external results into the history."""
    from wfdoctor.surface.regress import record

    with Store.open(db or default_db_path()) as store:
        count = record(file, store)
    stdout.print(f"Recorded {count} points from {file} in {store.path}.")


@regress_app.command("check")
def regress_check(
    metric: Annotated[Optional[list[str]], typer.Option("--metric", help="Only these metrics (repeatable).")]
    = None,
    min_effect: Annotated[float, typer.Option("--min-effect", min=0.0, help="Smallest change that counts "
                                              "(0.05 = 5 %).")] = 0.05,
    min_after: Annotated[int, typer.Option("--min-after", min=1, help="Points after a change before it counts "
                                           "at the end.")] = 3,
    markdown_path: Annotated[Optional[Path], typer.Option("--markdown", help="Write a pull-request comment "
                                                          "here.")] = None,
    mode: Annotated[str, typer.Option("--mode", help="changepoint (whole history) or window (the spec's: "
                                      "older vs the last --window-hours, >= 10 samples each, Mann-Whitney).")]
    = "changepoint",
    window_hours: Annotated[float, typer.Option("--window-hours", min=0.001, help="Recent window for "
                                                "--mode window.")] = 24.0,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Exit 1 when a series ends in a regression (change points, direction-aware, BH over series)."""
    from wfdoctor.surface.regress import check, check_doc, check_samples, markdown, render_check

    if mode not in ("changepoint", "window"):
        raise typer.BadParameter("--mode must be changepoint or window")
    with Store.open(db or default_db_path()) as store:
        verdicts = check(store, metric, min_effect, min_after, mode, window_hours * 3600)
        run = Run(command="regress check", started_at=time.time(), settings={"metrics": metric or [], "mode": mode})
        run.samples = check_samples(verdicts)
        store.save_run(run)
    code = EXIT_FINDINGS if any(v.discovery for v in verdicts) else EXIT_HEALTHY
    if markdown_path is not None:
        markdown_path.write_text(markdown(verdicts), encoding="utf-8")
    _finish(as_json, lambda: check_doc(run, verdicts, code), lambda: render_check(verdicts, stdout), run.id,
            store.path, code)


@regress_app.command("show")
def regress_show(
    metric: Annotated[str, typer.Argument(help="Metric name, e.g. wf_llm_decode_tokens_per_second.")],
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write an SVG plot here.")] = None,
    db: DbOption = None,
) -> None:
    """Print a metric's series with its change points (and plot them)."""
    from wfdoctor.surface.regress import check, svg_plot

    with Store.open(db or default_db_path()) as store:
        verdicts = check(store, [metric], 0.05, 3)
    if not verdicts:
        raise WfdoctorError(f"no series of {metric} with a known direction and enough points in the history")
    for verdict in verdicts:
        stdout.print(f"{verdict.series.name}: {len(verdict.series.values)} points "
                     f"({'higher' if verdict.higher_is_better else 'lower'} is better)")
        marks = {c.index: c for c in verdict.changes}
        for index, value in enumerate(verdict.series.values):
            change = marks.get(index)
            note = f"  <- {change.kind} {change.change_pct:+.1f} % (p {change.p_value:.3g})" if change else ""
            stdout.print(f"  {index:>4}  {verdict.series.revisions[index] or '-':<12} {value:12.5g}{note}",
                         highlight=False)
        if plot is not None:
            target = plot if len(verdicts) == 1 else plot.with_stem(f"{plot.stem}-{verdicts.index(verdict)}")
            target.write_text(svg_plot(verdict.series, verdict.changes), encoding="utf-8")
            stdout.print(f"plot: {target}")


@app.command()
def history(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs, newest first.")] = 20,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List stored runs: id, time, command, tier and findings by priority."""
    with Store.open(db or default_db_path()) as store:
        runs = store.list_runs(limit)
    if as_json:
        print(json.dumps([dataclasses.asdict(run) for run in runs], indent=2))
        return
    if not runs:
        stdout.print(f"No runs stored in {store.path} yet: run `wfdoctor diagnose`.")
        return
    for run in runs:
        when = datetime.fromtimestamp(run.started_at).strftime("%Y-%m-%d %H:%M:%S")
        counts = ", ".join(f"{run.findings_by_priority[p.value]} {p.value}" for p in Priority
                           if run.findings_by_priority.get(p.value)) or "no findings"
        state = "" if run.status == "finished" else f" [{run.status}]"
        print(f"{run.id:>5}  {when}  {run.command:<10} tier={run.tier or '?':<5} {counts}{state}")


def main() -> None:
    """Entry point: user errors become one line on stderr and exit 2."""
    try:
        app()
    except WfdoctorError as exc:
        stderr.print(f"wfdoctor: error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
