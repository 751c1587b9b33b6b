"""Command-line options more than one command takes, declared once."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from wfdoctor.surface.terminal import FailOn

DbOption = Annotated[Optional[Path], typer.Option("--db", help="SQLite database (default: $WFDOCTOR_DB or "
                                                                "~/.local/share/wfdoctor/wfdoctor.db).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON (schemas in "
                                                           "wfdoctor/data/schemas, docs/json-output.md).")]
AllVariantsOption = Annotated[bool, typer.Option("--all-variants", help="Show every server's setting for each "
                                                              "action, not only the measured server's.")]
FailOnOption = Annotated[FailOn, typer.Option("--fail-on", help="Exit 1 when a finding has this priority or higher.")]
FactsOption = Annotated[Optional[Path], typer.Option("--facts", help="YAML file merged over the packaged facts "
                                                     "(tiers, targets, thresholds, limits).")]
RulesOption = Annotated[Optional[list[Path]], typer.Option("--rules", help="Extra rule file or folder (repeatable); "
                                                           "rules with the same id replace packaged ones.")]
OllamaOption = Annotated[str, typer.Option("--backend", help="Ollama server URL.")]
ApplyOption = Annotated[bool, typer.Option("--apply", help="Really do it (default: dry run, logged).")]


def concurrency_list(text: str) -> list[int]:
    """`1,2,4` -> [1, 2, 4] (their range is checked by the tokens options)."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"'{text}': expected comma-separated whole numbers, e.g. 1,2,4") from None


def finite(value: float | None) -> float | None:
    """An option callback: Click's `min=`/`max=` let NaN through (every comparison with it is false) and take
    `inf`; neither is a duration, rate or share anyone means."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def writable_file(path: Path | None) -> Path | None:
    """An option callback for an output file: checked before anything is measured, so a typo in the path
    costs a usage error, not the report at the end of a long run."""
    if path is None:
        return None
    folder = path.parent
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a folder; name a file in it")
    if not folder.is_dir():
        raise typer.BadParameter(f"{path}: folder {folder} does not exist")
    if not os.access(path if path.exists() else folder, os.W_OK):
        raise typer.BadParameter(f"{path}: not writable")
    return path
ClientOption = Annotated[Optional[str], typer.Option("--client", help="Stream reader: lean (the default: reads "
                                                     "the socket itself) or aiohttp; default $WFDOCTOR_CLIENT.")]
