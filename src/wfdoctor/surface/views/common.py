"""What every view shares: the JSON document header, timestamps, and the findings panels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from wfdoctor.config.rules import Action, RuleBook
from wfdoctor.model import Finding, Priority, Run
from wfdoctor.surface.views.safe import plain
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


@dataclass(frozen=True)
class Variants:
    """Whose concrete settings an action shows: the measured servers' implementations, or every one.

    With no implementation measured (a memory watch) every variant is shown.
    """

    implementations: frozenset[str] = frozenset()
    every: bool = False        # --all-variants

    def of(self, action: Action) -> dict[str, str]:
        return dict(action.backends) if self.every or not self.implementations else \
            action.variants_for(self.implementations)


def print_conclusion(console: Console, findings: list[Finding], rulebook: RuleBook, notes: list[str],
                     healthy: str, variants: Variants = Variants()) -> None:
    """How every report ends: the findings (or that there are none), the actions once, then the notes."""
    console.print(findings_group(findings, rulebook, healthy=healthy, variants=variants))
    for note in notes:
        console.print(Text(plain(f"Note: {note}"), style="dim"))


def _numbers(findings: list[Finding]) -> dict[str, int]:
    """Each action id once, numbered in the order the findings first name it."""
    ids = list(dict.fromkeys(action for finding in findings for action in finding.actions))
    return {action: number for number, action in enumerate(ids, start=1)}


def _refs(finding: Finding, numbers: dict[str, int]) -> str:
    return ", ".join(str(numbers[action]) for action in finding.actions) or "none"


def _heading(finding: Finding) -> Text:
    return Text.assemble((f" {finding.priority.value.upper()} ", PRIORITY_STYLE[finding.priority]),
                         f" {finding.code} ({finding.symptom})")


def _panel(finding: Finding, explained: list[Finding], numbers: dict[str, int]) -> Panel:
    """A cause (or an unexplained symptom): summary, cause, evidence, the symptoms it explains, action numbers."""
    body = [Text(plain(finding.summary)), Text(plain(f"Cause: {finding.cause}")), Text("Evidence:", style="bold")]
    for sample in finding.evidence:  # summaries and labels may quote a server's or a file's text
        body.append(Text(plain(f"  {sample.metric}{'{' + subject(sample) + '}' if subject(sample) else ''} = "
                               f"{format_value(sample.value, sample.unit)}  [{sample.source}]"), style="dim"))
    if explained:
        body.append(Text("Explains:", style="bold"))
        body += [Text.assemble("  ", _heading(symptom), plain(f", explained by {symptom.explained_by}: {symptom.summary} "
                               f"(actions: {_refs(symptom, numbers)})")) for symptom in explained]
    body.append(Text(f"Actions: {_refs(finding, numbers)}", style="bold"))
    return Panel(Group(*body), title=_heading(finding), title_align="left")


def actions_panel(numbers: dict[str, int], rulebook: RuleBook, variants: Variants) -> Panel:
    """The report's actions, each once: what it changes, how to undo it, the setting for the measured server."""
    body = []
    hidden = False
    for action_id, number in numbers.items():
        action = rulebook.actions.get(action_id)
        if action is None:   # a stored incident's action that the rules in force no longer define (--rules then)
            body.append(Text(plain(f"{number}. {action_id}: not an action of the rules in force (a stored finding "
                                   "named it: the rule files it came from are not loaded now)")))
            continue
        body.append(Text(f"{number}. [{action.level}] {action.title}: {action.changes}. Undo: {action.undo}"))
        shown = variants.of(action)
        hidden = hidden or len(shown) < len(action.backends)
        body += [Text(f"      {backend}: {setting}", style="dim") for backend, setting in shown.items()]
    if hidden:
        body.append(Text("Settings for servers that were not measured: --all-variants (or --json).", style="dim"))
    return Panel(Group(*body), title="Actions", title_align="left")


def findings_group(findings: list[Finding], rulebook: RuleBook,
                   healthy: str = "Healthy: no rule matched what was measured.",
                   variants: Variants = Variants()) -> Group | Text:
    """Causes first, each with the symptoms it explains; then every action once, referenced by number."""
    if not findings:
        return Text(healthy, style="bold green")
    numbers = _numbers(findings)
    blocks = [_panel(finding, [f for f in findings if f.explained_by == finding.code], numbers)
              for finding in findings if not finding.explained_by]
    if numbers:
        blocks.append(actions_panel(numbers, rulebook, variants))
    return Group(*blocks)
