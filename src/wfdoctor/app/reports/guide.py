"""The troubleshooting guide as typed rows (`app/guide.py` gathers them from the data files, views show them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wfdoctor.model import Priority


@dataclass(frozen=True)
class GuideLevel:
    """A row of the escalation matrix: who acts at this level."""

    level: str
    who: str
    means: str


@dataclass(frozen=True)
class GuideRow:
    """A row of the spec's triage matrix, as written in the rules."""

    id: str
    symptom: str
    likely_cause: str
    priority: Priority
    action: str


@dataclass(frozen=True)
class GuideSetting:
    """The concrete setting of an action on one LLM server (the catalogue's `backends`)."""

    server: str
    setting: str


@dataclass(frozen=True)
class GuideAction:
    """An action of an entry: the catalogue's title and level, which servers' lists name it, their settings."""

    id: str
    title: str
    level: str
    servers: tuple[str, ...]                 # the entry's lists naming it: "default" first, then by name
    settings: tuple[GuideSetting, ...]       # by server


@dataclass(frozen=True)
class CatalogueAction:
    """An action of the catalogue, with the codes of the entries naming it (none: no rule or cause names it)."""

    id: str
    title: str
    level: str
    problem: str
    changes: str
    undo: str
    settings: tuple[GuideSetting, ...]
    used_by: tuple[str, ...]


@dataclass(frozen=True)
class GuideStep:
    """A recovery step an alert escalates to, with its level."""

    id: str
    level: str


@dataclass(frozen=True)
class GuideAlert:
    """An alert rule: what it watches (`expr` as written, placeholders unresolved) and where it escalates."""

    name: str
    group: str
    severity: str
    for_s: float
    expr: str
    metrics: tuple[str, ...]
    escalation: tuple[GuideStep, ...]


@dataclass(frozen=True)
class GuideEntry:
    """One symptom rule (`kind` rule) or one cause computed in code (`kind` cause, `id` its finding's rule id)."""

    kind: Literal["rule", "cause"]
    id: str
    code: str
    row: str
    symptom: str
    cause: str
    priority: Priority
    measured_by: str                   # a rule's `measured_by`; "" for a cause (its area says which command)
    actions: tuple[GuideAction, ...]
    explains: tuple[str, ...]          # a cause: the symptom rule ids it explains
    explained_by: tuple[str, ...]      # a rule: the cause codes that explain it
    alerts: tuple[str, ...]            # the alert rules watching its metrics, by name


@dataclass(frozen=True)
class GuideArea:
    id: str
    title: str
    entries: tuple[GuideEntry, ...]    # most urgent first, then by id


@dataclass(frozen=True)
class Guide:
    levels: tuple[GuideLevel, ...]
    rows: tuple[GuideRow, ...]
    areas: tuple[GuideArea, ...]       # in the order the rule files list them; empty areas left out
    alerts: tuple[GuideAlert, ...]     # in the order the alert files list them
    actions: tuple[CatalogueAction, ...]  # the whole catalogue, by id
