"""What every view shares: the JSON document header, timestamps, and the findings panels."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from wfdoctor.config.rules import RuleBook
from wfdoctor.model import Finding, Priority, Run
from wfdoctor.units import format_value, subject

PRIORITY_STYLE = {
    Priority.CRITICAL: "bold white on red",
    Priority.HIGH: "bold red",
    Priority.MEDIUM: "yellow",
    Priority.LOW: "cyan",
    Priority.INFO: "dim",
}


def iso(ts: float | None) -> str | None:
    """Unix seconds as ISO 8601 in UTC, the form every JSON document uses."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat() if ts is not None else None


class Document(BaseModel):
    """A `--json` document: its schema id first. Field names are a public contract (add, never rename).

    Each document class fixes its id with `schema_field`; the JSON Schemas shipped in
    `wfdoctor/data/schemas` are generated from these classes (`scripts/gen_schemas.py`).
    """

    # Every field is always printed, so the schema requires every field (defaults included).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_serialization_defaults_required=True)
    schema_id: str = Field(alias="schema")


def schema_field(schema_id: str) -> Any:
    """The `schema` field of a document class: always `schema_id` (a `const` in its JSON Schema)."""
    return Field(schema_id, alias="schema", json_schema_extra={"const": schema_id})


class RunDocument(Document):
    """A document about one recorded run: which, when, and the exit code it gave."""

    run_id: int | None
    started_at: str | None
    finished_at: str | None
    exit_code: int


def run_fields(run: Run, exit_code: int) -> dict[str, Any]:
    """The header fields of a RunDocument for `run`."""
    return {"run_id": run.id, "started_at": iso(run.started_at), "finished_at": iso(run.finished_at),
            "exit_code": exit_code}


def print_conclusion(console: Console, findings: list[Finding], rulebook: RuleBook, notes: list[str],
                     healthy: str) -> None:
    """How every report ends: the findings (or that there are none), then the notes."""
    console.print(findings_group(findings, rulebook, healthy=healthy))
    for note in notes:
        console.print(Text(f"Note: {note}", style="dim"))


def findings_group(findings: list[Finding], rulebook: RuleBook,
                   healthy: str = "Healthy: no rule matched what was measured.") -> Group | Text:
    """Each finding as a panel: summary, cause, evidence with sources, actions with undo."""
    if not findings:
        return Text(healthy, style="bold green")
    blocks = []
    for finding in findings:
        body = [Text(finding.summary), Text(f"Cause: {finding.cause}")]
        body.append(Text("Evidence:", style="bold"))
        for sample in finding.evidence:
            body.append(Text(f"  {sample.metric}{'{' + subject(sample) + '}' if subject(sample) else ''} = "
                             f"{format_value(sample.value, sample.unit)}  [{sample.source}]", style="dim"))
        body.append(Text("Actions:", style="bold"))
        for action_id in finding.actions:
            action = rulebook.actions[action_id]
            body.append(Text(f"  [{action.level}] {action.title}: {action.changes}. Undo: {action.undo}"))
            for backend, setting in action.backends.items():
                body.append(Text(f"      {backend}: {setting}", style="dim"))
        title = Text.assemble((f" {finding.priority.value.upper()} ", PRIORITY_STYLE[finding.priority]),
                              f" {finding.code} ({finding.symptom})")
        blocks.append(Panel(Group(*body), title=title, title_align="left"))
    return Group(*blocks)
