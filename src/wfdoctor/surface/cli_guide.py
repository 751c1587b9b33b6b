"""`wfdoctor guide`: the troubleshooting guide of the rules in force, as Markdown or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import wfdoctor
from wfdoctor.config.textfile import write_text
from wfdoctor.surface.options import FactsOption, JsonOption, RulesOption, writable_file
from wfdoctor.surface.terminal import stderr
from wfdoctor.surface.views.safe import plain


def guide(
    facts: FactsOption = None,
    rules: RulesOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", callback=writable_file, help="Write the guide to this "
                                                "file instead of printing it.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the troubleshooting guide: symptom, cause, priority, actions and levels, from the rules in force.

    Your own --rules files (and ~/.config/wfdoctor/rules) are in it. Exit codes: 0 printed, 2 bad input.
    """
    from wfdoctor.surface.guide import render_markdown
    from wfdoctor.surface.views.guide import document

    built = wfdoctor.troubleshooting_guide(facts_path=facts, rules_paths=rules or [])
    text = document(built).model_dump_json(indent=2, by_alias=True) + "\n" if as_json else render_markdown(built)
    if out is None:
        print(text, end="")
    else:
        write_text(out, text, "guide")
        stderr.print(f"wrote {plain(out)}", markup=False, highlight=False)
