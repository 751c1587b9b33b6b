"""`wfdoctor memory ...`: watch a process for leaks, profile a Python program, act on Ollama's loaded models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import wfdoctor
from wfdoctor.surface.options import (ApplyOption, DbOption, FactsOption, FailOnOption, JsonOption, OllamaOption,
                                      RulesOption, finite)
from wfdoctor.surface.terminal import (EXIT_FINDINGS, EXIT_HEALTHY, FailOn, checked_options, exit_code_for, finish,
                                       interrupted_code, progress_on_stderr, say_interrupted)

memory_app = typer.Typer(help="Memory diagnostics: leaks, Python heap growth, Ollama's loaded models.",
                         no_args_is_help=True)
OLLAMA = "http://127.0.0.1:11434"


@memory_app.command("watch")
def memory_watch(
    pid: Annotated[int, typer.Option("--pid", min=1, help="Process to watch.")],
    duration: Annotated[float, typer.Option("--duration", min=1.0, callback=finite, help="Seconds to watch.")] = 60.0,
    interval: Annotated[float, typer.Option("--interval", min=0.05, callback=finite,
                                                    help="Seconds between samples.")] = 0.5,
    fail_on: FailOnOption = FailOn.high,
    facts: FactsOption = None,
    rules: RulesOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sample a process's memory and call leak / growth-then-plateau / stable by statistics."""
    from wfdoctor.surface.views import memory as view

    options = checked_options(lambda: wfdoctor.WatchOptions(pid=pid, duration_s=duration, interval_s=interval,
                                                            facts_path=facts, rules_paths=rules or []))
    path = wfdoctor.database(db)
    with progress_on_stderr(path) as progress:
        report = wfdoctor.watch_memory(options, db=path, progress=progress)
    code = interrupted_code() if report.series.interrupted else exit_code_for(
        [f.priority for f in report.findings], fail_on)
    if report.series.interrupted:
        say_interrupted(path, report.run.started_at)
    finish(as_json, lambda: view.watch_document(report, code), lambda out: view.render_watch(report, out),
           report.run.id, path, code)


@memory_app.command("profile")
def memory_profile(
    command: Annotated[list[str], typer.Argument(help="The Python program, after --: python script.py [args]")],
    frames: Annotated[int, typer.Option("--frames", min=1, max=100, help="Traceback depth kept per "
                                        "allocation (1 is cheapest).")] = 1,
    interval: Annotated[float, typer.Option("--interval", min=0.05, callback=finite,
                                                    help="Seconds between snapshots.")] = 1.0,
    top: Annotated[int, typer.Option("--top", min=1, max=100, help="Lines (and tracebacks) to list.")] = 10,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a Python program under tracemalloc and show where its memory grows, line by line.

    Exits with the program's exit code (0 when it succeeded; the profile is saved either way).
    """
    from wfdoctor.surface.views import memory as view

    options = checked_options(lambda: wfdoctor.ProfileOptions(command=command, frames=frames, interval_s=interval,
                                                              top=top, script_output_to_stderr=as_json))
    path = wfdoctor.database(db)
    with progress_on_stderr(path) as progress:
        report = wfdoctor.profile_memory(options, db=path, progress=progress)
    code = script_exit(report.script_exit_code)
    finish(as_json, lambda: view.profile_document(report, code),
           lambda out: view.render_profile(report, out), report.run.id, path, code)


def script_exit(returncode: int) -> int:
    """`memory profile` exits as the profiled script did, so a script that failed fails the command (the profile
    is still saved); a script killed by signal N gives 128 + N, as a shell reports it."""
    return 128 - returncode if returncode < 0 else returncode


def _models_command(verb: str, backend: str, db: Path | None, as_json: bool, **choice: object) -> None:
    """Every model command: the action (or listing), its log, the view; exit 1 when an action failed."""
    from wfdoctor.surface.views import memory as view

    options: wfdoctor.ModelsOptions = checked_options(lambda: wfdoctor.ModelsOptions(verb=verb, url=backend, **choice))
    path = wfdoctor.database(db)
    with progress_on_stderr(path) as progress:
        report = wfdoctor.model_action(options, db=path, progress=progress)
    code = EXIT_FINDINGS if any(action.error for action in report.actions) else EXIT_HEALTHY
    finish(as_json, lambda: view.models_document(report, code), lambda out: view.render_models(report, out),
           report.run.id, path, code)


@memory_app.command("models")
def memory_models(backend: OllamaOption = OLLAMA, db: DbOption = None, as_json: JsonOption = False) -> None:
    """List the models an Ollama server holds in memory: size, VRAM share, expiry."""
    _models_command("models", backend, db, as_json)


@memory_app.command("unload")
def memory_unload(model: Annotated[str, typer.Argument(help="Model to unload.")], backend: OllamaOption = OLLAMA,
                  apply: ApplyOption = False, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Unload a model (Ollama keep_alive 0); dry run unless --apply."""
    _models_command("unload", backend, db, as_json, model=model, apply=apply)


@memory_app.command("preload")
def memory_preload(model: Annotated[str, typer.Argument(help="Model to load.")], backend: OllamaOption = OLLAMA,
                   apply: ApplyOption = False, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Load a model ahead of its first request (keep_alive 30m); dry run unless --apply."""
    _models_command("preload", backend, db, as_json, model=model, apply=apply)


@memory_app.command("evict")
def memory_evict(budget: Annotated[str, typer.Option("--budget", help="Memory the loaded models may use, e.g. "
                                                     "8GiB.")],
                 backend: OllamaOption = OLLAMA, apply: ApplyOption = False, db: DbOption = None,
                 as_json: JsonOption = False) -> None:
    """Unload least recently used models until the rest fit --budget; dry run unless --apply."""
    from wfdoctor.units import parse_size

    try:
        budget_bytes = parse_size(budget)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    _models_command("evict", backend, db, as_json, budget_bytes=budget_bytes, apply=apply)
