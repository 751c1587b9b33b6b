"""`wfdoctor tokens --capacity`: the tokens command's options, searched for the capacity instead of swept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import typer

import wfdoctor
from wfdoctor.surface.terminal import (
    FailOn,
    checked_options,
    exit_code_for,
    finish,
    interrupted_code,
    progress_on_stderr,
    say_interrupted,
)


@dataclass(frozen=True)
class Outputs:
    """How the command ends: the exit-code threshold and the output's form."""

    fail_on: FailOn
    as_json: bool
    all_variants: bool


def capacity_command(tokens: wfdoctor.TokensOptions, max_concurrency: int | None, csv_path: Path | None,
                     path: Path, outputs: Outputs) -> NoReturn:
    """Run the capacity search with the tokens options; exit codes as for `tokens` (0, 1 at --fail-on, 2, 130)."""
    from wfdoctor.surface.views import capacity as view

    if csv_path is not None:
        raise typer.BadParameter("--csv writes one row per request of a sweep; it does not apply to --capacity")
    options = checked_options(lambda: wfdoctor.CapacityOptions(tokens=tokens, max_concurrency=max_concurrency))
    with progress_on_stderr(path) as progress:
        report = wfdoctor.measure_capacity(options, db=path, progress=progress)
    code = interrupted_code() if report.interrupted else exit_code_for([f.priority for f in report.findings],
                                                                       outputs.fail_on)
    if report.interrupted:
        say_interrupted(path, report.run.started_at)
    finish(outputs.as_json, lambda: view.document(report, code),
           lambda out: view.render(report, out, outputs.all_variants), report.run.id, path, code)
