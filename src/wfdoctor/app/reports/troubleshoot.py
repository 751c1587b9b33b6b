"""`troubleshoot`: the five steps, where each ended, and the incident they documented."""

from __future__ import annotations

from dataclasses import dataclass

from wfdoctor.analyze.incidents import IncidentMatch
from wfdoctor.config.rules import RuleBook
from wfdoctor.model import Finding, Incident


@dataclass(frozen=True)
class WorkflowStep:
    """One of the spec's five steps, and what it did (one line)."""

    number: int
    name: str            # identify, classify, apply, validate, document
    outcome: str


@dataclass(frozen=True)
class TroubleshootReport:
    """A troubleshooting session (or a later validation of its incident).

    `incident` is None only when the measurements found nothing to troubleshoot; `matches` are the
    past incidents most like this one, with what fixed them.
    """

    steps: list[WorkflowStep]
    findings: list[Finding]          # ranked: causes first, each followed by the symptoms it explains
    incident: Incident | None
    matches: list[IncidentMatch]
    backend_url: str
    implementation: str
    model: str
    tier: str
    notes: list[str]
    rulebook: RuleBook               # the actions' titles, levels and settings, for the views
