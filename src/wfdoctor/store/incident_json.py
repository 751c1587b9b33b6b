"""An incident as JSON, and back: the knowledge base's one wire format (stored rows and shared files alike).

A team shares incidents as files (`wfdoctor incidents export` on one machine, `import` on another), so
what comes back is untrusted input: the models below refuse unknown fields, wrong types (no string read
as a number), NaN and the infinities, values and times no measurement has (model.MAX_MAGNITUDE,
PLAUSIBLE_TIMES), and strings and lists past generous bounds, so a hostile or broken file stops with one
line naming where and which field, and never fills the memory of whoever shows it. The same check runs
when an incident is saved, so a row is only ever written in the form it will be read back in.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, ValidationError, field_validator

from wfdoctor.model import (EARLIEST_TS, LATEST_TS, MAX_MAGNITUDE, ActionDisposition, ActionRecord, Finding, Incident,
                            IncidentAction, MetricComparison, Priority, Sample, Verdict, WfdoctorError)

FORMAT = "wfdoctor-incidents"
VERSION = 1
# Bounds far past any real incident (a troubleshooting session has a handful of findings, a few dozen
# evidence samples, under a hundred compared series) and far below what would hurt to hold or show.
MAX_NAME = 500            # characters: codes, ids, metric and label names, units, titles
MAX_TEXT = 20_000         # characters: summaries, notes, details, reasons
MAX_ITEMS = 1_000         # entries of any one list (findings, evidence, actions, comparisons, run ids)
MAX_LABELS = 64           # keys of a label set or fingerprint
MAX_RECORD_CHARS = 100_000   # an action record's before/after evidence, as JSON
MAX_INCIDENTS = 100_000   # incidents in one export file
MAX_FIELD_SHOWN = 160     # characters of a field's path in an error line
FIT_PASSES = 4            # passes that fit an incident made here to the bounds (lists first, then their items)
Status = Literal["open", "resolved", "unresolved", "rolled_back"]   # model.Incident's docstring

Name = Annotated[str, StringConstraints(max_length=MAX_NAME)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
Labels = Annotated[dict[Name, Name], Field(max_length=MAX_LABELS)]
Time = Annotated[float, Field(ge=EARLIEST_TS, le=LATEST_TS)]
Value = Annotated[float, Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]
RunIds = Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=MAX_ITEMS)]


class Wire(BaseModel):
    """Strict: unknown keys refused, no coercion between types, finite numbers only."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class SampleJson(Wire):
    metric: Name
    value: Value
    unit: Name
    source: Name
    labels: Labels = {}
    ts: Time


class FindingJson(Wire):
    rule_id: Name
    code: Name
    row: Name
    symptom: Text
    cause: Text
    priority: Annotated[Priority, Field(strict=False)]   # its value, as JSON has it
    actions: Annotated[list[Name], Field(max_length=MAX_ITEMS)]
    evidence: Annotated[list[SampleJson], Field(max_length=MAX_ITEMS)]
    summary: Text
    explained_by: Name = ""


class RecordJson(Wire):
    kind: Name
    target: Name
    level: Name
    applied: bool
    reason: Text
    before: Annotated[dict[Name, JsonValue], Field(max_length=MAX_LABELS)]
    after: Annotated[dict[Name, JsonValue], Field(max_length=MAX_LABELS)]
    error: Text = ""
    ts: Time
    alert: Text = ""
    outcome: Text = ""

    @field_validator("before", "after")
    @classmethod
    def _bounded(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        if len(json.dumps(value)) > MAX_RECORD_CHARS:
            raise ValueError(f"over {MAX_RECORD_CHARS} characters as JSON")
        return value


class ActionJson(Wire):
    action_id: Name
    title: Text
    level: Name
    disposition: Annotated[ActionDisposition, Field(strict=False)]
    detail: Text = ""
    record: RecordJson | None = None


class ComparisonJson(Wire):
    metric: Name
    labels: Labels
    unit: Name
    higher_is_better: bool | None
    before_n: Annotated[int, Field(ge=0)]
    after_n: Annotated[int, Field(ge=0)]
    before_median: Value | None
    after_median: Value | None
    change: Value | None
    change_low: Value | None
    change_high: Value | None
    confidence: Annotated[float, Field(gt=0, le=1)]
    effect_size: Annotated[float, Field(ge=-1, le=1)] | None
    p_value: Annotated[float, Field(ge=0, le=1)] | None
    verdict: Annotated[Verdict, Field(strict=False)]
    reason: Text


class IncidentJson(Wire):
    """One incident, every field of model.Incident (those with a default in the model may be left out)."""

    id: Annotated[int, Field(ge=1)] | None = None   # its number where it was exported; a new one where imported
    created_at: Time
    status: Status
    cause: Name
    summary: Text
    symptoms: Annotated[list[Text], Field(max_length=MAX_ITEMS)]
    findings: Annotated[list[FindingJson], Field(max_length=MAX_ITEMS)]
    actions: Annotated[list[ActionJson], Field(max_length=MAX_ITEMS)]
    validation: Annotated[list[ComparisonJson], Field(max_length=MAX_ITEMS)]
    verdict: Annotated[Verdict, Field(strict=False)]
    fingerprint: Labels
    note: Text = ""
    before_runs: RunIds = []
    after_runs: RunIds = []
    matched: RunIds = []
    resolved_at: Time | None = None
    origin: Name = "local"


class ExportJson(Wire):
    """The file `wfdoctor incidents export` writes and `import` reads."""

    format: Literal["wfdoctor-incidents"]
    version: Literal[1]
    exported_at: str = Field(max_length=64)    # ISO 8601, UTC
    incidents: Annotated[list[IncidentJson], Field(max_length=MAX_INCIDENTS)]


def incident_to_json(incident: Incident) -> dict[str, object]:
    """The incident as a JSON-safe object: the export document's item and the stored row's document.

    Checked like an imported one (WfdoctorError naming the field): an incident that could not be read
    back (NaN in a comparison, an unknown status) is refused before it is written anywhere.
    """
    raw = json.loads(json.dumps(asdict(incident), default=str))   # enums as their values, NaN kept to be refused
    return dict(_validated(IncidentJson, _fitted(raw), f"incident {incident.id or '(new)'}").model_dump(mode="json"))


def _fitted(raw: dict[str, object]) -> dict[str, object]:
    """An incident made here with strings or lists past the bounds, clipped to them (marked "..."): a server may name
    its model in 10 KB, and the measured runs keep it whole; its incident is documented anyway, not refused. Only
    length is fitted (strings, then dict keys, then lists: each clip leaves the others' places valid); anything else
    wrong is refused by the check that follows."""
    order = {"string_too_long": 0, "too_long": 2}
    for _ in range(FIT_PASSES):     # a list too long hides its items' errors until it is cut
        try:
            IncidentJson.model_validate(raw)
            return raw
        except ValidationError as exc:
            errors = [e for e in exc.errors() if e["type"] in order]
            for error in sorted(errors, key=lambda e: order[e["type"]] + (e["loc"][-1:] == ("[key]",))):
                _clip(raw, error["loc"], int(error.get("ctx", {}).get("max_length", MAX_NAME)))
        except RecursionError:
            break
    return raw


def _clip(raw: object, loc: tuple[int | str, ...], limit: int) -> None:
    """The string or list (or a dict key, pydantic's "[key]") at `loc` cut to `limit` in place."""
    is_key = loc[-1:] == ("[key]",)
    *path, last = loc[:-1] if is_key else loc
    parent = raw
    try:
        for part in path:
            parent = parent[part]  # type: ignore[index]
        value = parent[last]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return
    if is_key and isinstance(parent, dict):
        parent[str(last)[:limit - 3] + "..."] = parent.pop(last)
    elif isinstance(value, str):
        parent[last] = value[:limit - 3] + "..."  # type: ignore[index]
    elif isinstance(value, list):
        parent[last] = value[:limit]  # type: ignore[index]
    elif isinstance(value, dict):
        parent[last] = dict(list(value.items())[:limit])  # type: ignore[index]


def incident_from_json(data: object, where: str) -> Incident:
    """The incident `data` holds; WfdoctorError with one line naming `where` and the field at fault."""
    return _incident(_validated(IncidentJson, data, where))


def export_from_json(data: object, where: str) -> list[Incident]:
    """The incidents of an export document (`ExportJson`), each checked; WfdoctorError names item and field."""
    return [_incident(item) for item in _validated(ExportJson, data, where).incidents]


def _incident(wire: IncidentJson) -> Incident:
    return Incident(
        created_at=wire.created_at, status=wire.status, cause=wire.cause, summary=wire.summary,
        symptoms=list(wire.symptoms), findings=[_finding(f) for f in wire.findings],
        actions=[_action(a) for a in wire.actions],
        validation=[MetricComparison(**{**c.model_dump(), "labels": dict(c.labels)}) for c in wire.validation],
        verdict=wire.verdict, fingerprint=dict(wire.fingerprint), note=wire.note, before_runs=list(wire.before_runs),
        after_runs=list(wire.after_runs), matched=list(wire.matched), resolved_at=wire.resolved_at, id=wire.id,
        origin=wire.origin)


def _finding(wire: FindingJson) -> Finding:
    return Finding(rule_id=wire.rule_id, code=wire.code, row=wire.row, symptom=wire.symptom, cause=wire.cause,
                   priority=wire.priority, actions=list(wire.actions), evidence=[_sample(s) for s in wire.evidence],
                   summary=wire.summary, explained_by=wire.explained_by)


def _sample(wire: SampleJson) -> Sample:
    return Sample(wire.metric, wire.value, wire.unit, wire.source, dict(wire.labels), wire.ts)


def _action(wire: ActionJson) -> IncidentAction:
    record = None if wire.record is None else ActionRecord(**wire.record.model_dump())
    return IncidentAction(action_id=wire.action_id, title=wire.title, level=wire.level,
                          disposition=wire.disposition, detail=wire.detail, record=record)


W = TypeVar("W", bound="Wire")


def _validated(model: type[W], data: object, where: str) -> W:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise WfdoctorError(f"{where}: {describe(exc)}") from None
    except RecursionError:   # nesting deeper than the interpreter's stack (a hostile before/after)
        raise WfdoctorError(f"{where}: nested too deeply to be an incident") from None


def describe(exc: ValidationError) -> str:
    """The first error as `field 'findings[0].evidence[2].value': <what is wrong>`, on one line."""
    first = exc.errors()[0]
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{_printable(part)}" for part in first["loc"])
    field = field.lstrip(".") or "(top level)"
    if len(field) > MAX_FIELD_SHOWN:   # a path down a hostile nesting: its start and end say where
        field = f"{field[:MAX_FIELD_SHOWN // 2]}...{field[-MAX_FIELD_SHOWN // 4:]}"
    return f"field '{field}': {' '.join(str(first['msg']).split())}"


def _printable(key: object) -> str:
    """A key of the untrusted input as it may appear in an error line: escaped and short."""
    text = str(key).encode("unicode_escape").decode("ascii")
    return text if len(text) <= 60 else text[:57] + "..."
