"""`wfdoctor recover`: the recovery ladder against memory now; run one step (dry run unless --apply)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import wfdoctor
from wfdoctor.surface.options import DbOption, FactsOption, JsonOption
from wfdoctor.surface.terminal import EXIT_FINDINGS, EXIT_HEALTHY, finish, progress_on_stderr

DEFAULT_BACKEND = "http://127.0.0.1:11434"  # Ollama's: the one server with an unload call


def recover(
    apply: Annotated[Optional[str], typer.Option("--apply", metavar="STEP", help="Run this ladder step for real "
                                                 "and log it with memory before and after.")] = None,
    dry_run: Annotated[Optional[str], typer.Option("--dry-run", metavar="STEP", help="Rehearse this step: log "
                                                   "what it would do, change nothing (the default).")] = None,
    backend: Annotated[Optional[list[str]], typer.Option("--backend", help="LLM server URL whose models count "
                                                         f"(repeatable; default {DEFAULT_BACKEND}).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Monitor config whose `recovery:` section "
                                                   "applies (default ~/.config/wfdoctor/monitor.yaml).")] = None,
    ladder: Annotated[Optional[list[Path]], typer.Option("--ladder", help="Extra ladder file (repeatable); steps "
                                                         "with the same id replace shipped ones.")] = None,
    facts: FactsOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the recovery ladder (L1-L4) against RAM and GPU memory now, or run one step of it.

    Exit codes: 0 listed or done, 1 the step failed, 2 bad input (an unknown step, a broken config).
    """
    from wfdoctor.surface.views import recover as view

    if apply and dry_run:
        raise typer.BadParameter("give --apply STEP or --dry-run STEP, not both")
    options = wfdoctor.RecoverOptions(step=apply or dry_run, apply=apply is not None,
                             backend_urls=tuple(backend or [DEFAULT_BACKEND]), facts_path=facts, config_path=config,
                             ladder_paths=tuple(ladder or []))
    wfdoctor.check_recovery_inputs(options)  # a bad step or config is a one-line error before the database opens
    path = wfdoctor.database(db)
    with progress_on_stderr(path):
        report = wfdoctor.recover(options, db=path)
    code = EXIT_FINDINGS if report.action is not None and report.action.error else EXIT_HEALTHY
    finish(as_json, lambda: view.document(report, code), lambda out: view.render(report, out), report.run.id, path,
           code)
