"""What `wfdoctor recover` shows: memory now, the level that applies, the ladder, and the step run (if any)."""

from __future__ import annotations

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from wfdoctor.app.reports.recover import MemoryState, RecoverReport, StepStatus
from wfdoctor.model import ActionRecord
from wfdoctor.surface.views.common import RunDocument, run_fields, schema_field
from wfdoctor.surface.views.safe import plain, shown
from wfdoctor.units import format_bytes

SCHEMA_ID = "wfdoctor.recover/v1"
LEVEL_STYLE = {"none": "green", "L1": "yellow", "L2": "bold yellow", "L3": "red", "L4": "bold red"}


def _memory_line(report: RecoverReport) -> str:
    state = report.state
    vram = (f"GPU memory {report.vram_percent:.0f} % in use" if report.vram_percent is not None
            else f"GPU memory not measured ({state.gpu_status})")
    models = ", ".join(f"{m.name} ({format_bytes(m.size_bytes)})" for m in state.models) or "none"
    return (f"RAM {report.ram_percent:.0f} % in use ({format_bytes(state.ram_available_bytes)} available); {vram}; "
            f"models loaded: {models}")


def _what_to_do(status: StepStatus) -> str:
    step = status.step
    if step.level == "L1":
        return "automatic (auto_apply)" if status.auto else "dry run unless listed in recovery.auto_apply"
    if step.level == "L2":
        return "run: " + " | ".join(" ".join(command) for command in status.commands)
    return "instructions for a person (listed when it applies)" if step.level == "L3" else "restart / reinstall"


def render(report: RecoverReport, console: Console) -> None:
    console.print(Text.assemble(("wfdoctor recover", "bold"), f"  run {report.run.id}"))
    console.print(shown(_memory_line(report)))
    if report.action is not None:   # what was asked for comes first; the ladder is the context
        render_action(report.action, console)
    console.print(Text.assemble(("Level now: ", "bold"), (report.level_now, LEVEL_STYLE[report.level_now])))
    table = Table(title="Recovery ladder (data/recovery.yaml; thresholds from the facts)", title_justify="left")
    table.add_column("step", no_wrap=True)
    for column in ("level", "applies now", "how"):
        table.add_column(column)
    for status in report.steps:
        table.add_row(shown(status.step.id), status.step.level,
                      Text(plain(("yes: " if status.applies else "no: ") + status.because),
                           style="bold" if status.applies else "dim"),
                      shown(_what_to_do(status)))
    console.print(table)
    for status in report.steps:
        if status.applies:
            console.print(Text.assemble((f"{status.step.id}: ", "bold"), plain(status.step.description)))
            for line in status.step.instructions:
                console.print(shown(f"  - {line}"))
    if report.settings_file is None:
        console.print(Text("recovery.settings_file is not configured: the settings steps have no file to lower.",
                           style="dim"))


def render_action(action: ActionRecord, console: Console) -> None:
    before, after = action.before.get("memory", {}), action.after.get("memory", {})
    done = "applied" if action.applied else "dry run (add --apply to do it)" if not action.error else "not done"
    line = f"{action.kind} [{action.level}] {done}: {action.outcome}"
    if action.applied and before and after:
        line += (f"; RAM available {format_bytes(before['ram_available_bytes'])} -> "
                 f"{format_bytes(after['ram_available_bytes'])}, models loaded "
                 f"{format_bytes(action.before['model_bytes'])} -> {format_bytes(action.after['model_bytes'])}")
    console.print(Text(plain(line + (f"; error: {action.error}" if action.error else "")),
                       style="red" if action.error else ""))
    for note in action.after.get("notes", []):
        console.print(Text(plain(str(note)), style="dim"))


class StepDocument(BaseModel):
    id: str
    level: str
    kind: str
    description: str
    reversible: bool
    applies: bool
    because: str
    auto_apply: bool
    commands: list[list[str]]
    instructions: list[str]


class RecoverDocument(RunDocument):
    schema_id: str = schema_field(SCHEMA_ID)
    ram_percent: float
    vram_percent: float | None
    level_now: str
    memory: MemoryState
    settings_file: str | None
    steps: list[StepDocument]
    action: ActionRecord | None


def document(report: RecoverReport, exit_code: int) -> RecoverDocument:
    steps = [StepDocument(id=s.step.id, level=s.step.level, kind=s.step.kind, description=s.step.description,
                          reversible=s.step.reversible, applies=s.applies, because=s.because, auto_apply=s.auto,
                          commands=s.commands, instructions=list(s.step.instructions)) for s in report.steps]
    return RecoverDocument(**run_fields(report.run, exit_code), ram_percent=report.ram_percent,
                           vram_percent=report.vram_percent, level_now=report.level_now, memory=report.state,
                           settings_file=str(report.settings_file) if report.settings_file else None,
                           steps=steps, action=report.action)
