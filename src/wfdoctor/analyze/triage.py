"""The triage matrix: rules (data) applied to samples, giving findings.

Pure: samples, the rule book and the facts for the detected tier in, rule
results out. A rule whose input metric was not measured says so, with the
command that measures it, instead of passing silently.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any, Callable

from wfdoctor.config.facts import Facts
from wfdoctor.config.remedies import DEFAULT
from wfdoctor.config.rules import Condition, Rule, RuleBook, Threshold, ThresholdRef
from wfdoctor.model import Finding, Priority, RuleResult, RuleStatus, Sample, WfdoctorError
from wfdoctor.units import format_value, subject

COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
AGGREGATE: dict[str, Callable[[list[float]], float]] = {
    "max": max,
    "min": min,
    "mean": fmean,
    "sum": sum,
    "count": len,
}


def resolve_threshold(threshold: Threshold, facts: Facts, tier: str) -> float:
    """A literal, or the facts value a `ref` names for this tier, scaled."""
    if not isinstance(threshold, ThresholdRef):
        return float(threshold)
    root, *path = threshold.ref.split(".")
    node: Any
    if root == "thresholds":
        node = facts.thresholds[tier]
    elif root == "targets":
        node = facts.targets[tier]
    elif root == "common":
        node = facts.common
    else:
        raise WfdoctorError(f"threshold ref '{threshold.ref}': must start with thresholds., targets. or common.")
    for key in path:
        node = node.get(key) if isinstance(node, dict) else getattr(node, key, None)
        if node is None:
            raise WfdoctorError(f"threshold ref '{threshold.ref}': '{key}' is not in the facts file")
    if not isinstance(node, (int, float)):
        raise WfdoctorError(f"threshold ref '{threshold.ref}': names a group, not a number")
    return float(node) * threshold.scale


@dataclass(frozen=True)
class ConditionOutcome:
    value: float
    threshold: float
    passed: bool
    critical: bool
    unit: str
    witnesses: list[Sample]


def evaluate_condition(cond: Condition, samples: list[Sample], facts: Facts, tier: str) -> ConditionOutcome | None:
    """The condition's verdict, or None when no sample of its metric exists."""
    matching = [
        s for s in samples
        if s.metric == cond.metric and all(s.labels.get(k) == v for k, v in cond.labels.items())
    ]
    if not matching:
        return None
    compare = COMPARE[cond.op]
    value = float(AGGREGATE[cond.aggregate]([s.value for s in matching]))
    threshold = resolve_threshold(cond.threshold, facts, tier)
    passed = compare(value, threshold)
    critical = passed and cond.critical is not None and compare(value, resolve_threshold(cond.critical, facts, tier))
    if cond.aggregate in ("max", "min"):
        witnesses = [s for s in matching if compare(s.value, threshold)] or matching
        witnesses.sort(key=lambda s: s.value, reverse=cond.aggregate == "max")
    else:
        witnesses = matching
    return ConditionOutcome(value, threshold, passed, critical, matching[0].unit, witnesses)


def _culprits(rule: Rule, samples: list[Sample]) -> list[Sample]:
    if rule.culprits is None:
        return []
    ranked = sorted((s for s in samples if s.metric == rule.culprits.metric), key=lambda s: s.value, reverse=True)
    return ranked[: rule.culprits.top]


def _summary(rule: Rule, outcomes: list[ConditionOutcome], culprits: list[Sample]) -> str:
    fields: dict[str, str] = {}
    for index, outcome in enumerate(outcomes, start=1):
        suffix = "" if index == 1 else f"_{index}"
        fields[f"value{suffix}"] = format_value(outcome.value, outcome.unit)
        fields[f"threshold{suffix}"] = format_value(outcome.threshold, outcome.unit)
        fields[f"label{suffix}"] = subject(outcome.witnesses[0]) if outcome.witnesses else ""
    top = culprits[0] if culprits else None
    fields["culprit"] = f"{subject(top)} at {format_value(top.value, top.unit)}" if top else "none measured"
    try:
        return rule.summary.format_map(fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise WfdoctorError(f"rule '{rule.id}': summary template: unknown or bad field {exc}") from None


def evaluate_rule(rule: Rule, rulebook: RuleBook, samples: list[Sample], facts: Facts, tier: str) -> RuleResult:
    outcomes: list[ConditionOutcome] = []
    missing: list[str] = []
    for cond in rule.when:
        outcome = evaluate_condition(cond, samples, facts, tier)
        if outcome is None:
            missing.append(cond.metric)
        else:
            outcomes.append(outcome)
    if missing:
        return RuleResult(rule.id, rule.row, RuleStatus.NOT_MEASURED, missing_inputs=missing,
                          measured_by=rule.measured_by)
    if not all(outcome.passed for outcome in outcomes):
        return RuleResult(rule.id, rule.row, RuleStatus.OK, measured_by=rule.measured_by)
    escalate = any(outcome.critical for outcome in outcomes)
    culprits = _culprits(rule, samples)
    evidence = [outcome.witnesses[0] for outcome in outcomes] + culprits
    finding = Finding(
        rule_id=rule.id,
        code=rule.code,
        row=rule.row,
        symptom=rulebook.rows[rule.row].symptom,
        cause=rule.cause,
        priority=Priority.CRITICAL if escalate else rule.priority,
        actions=list(rule.actions[DEFAULT]),
        evidence=evidence,
        summary=_summary(rule, outcomes, culprits),
    )
    return RuleResult(rule.id, rule.row, RuleStatus.MATCHED, finding=finding, measured_by=rule.measured_by)


def check_references(rulebook: RuleBook, facts: Facts) -> None:
    """Fail early, naming file and line, when a rule's threshold ref or summary is wrong."""
    probe = Sample("check", 0.0, "ratio", "check")
    for rule_id, rule in rulebook.rules.items():
        try:
            for tier in facts.tier_rule.order:
                for cond in rule.when:
                    resolve_threshold(cond.threshold, facts, tier)
                    if cond.critical is not None:
                        resolve_threshold(cond.critical, facts, tier)
            outcome = ConditionOutcome(0.0, 0.0, True, False, "ratio", [probe])
            _summary(rule, [outcome] * len(rule.when), [])
        except WfdoctorError as exc:
            raise WfdoctorError(f"{rulebook.origins[rule_id]}: {exc}") from None


def triage(samples: list[Sample], rulebook: RuleBook, facts: Facts, tier: str,
           command: str = "diagnose") -> list[RuleResult]:
    """The result of every rule that applies to `command`, in rule-book order."""
    return [evaluate_rule(rule, rulebook, samples, facts, tier) for rule in rulebook.rules.values()
            if command in rule.applies_to]


def findings_of(results: list[RuleResult]) -> list[Finding]:
    """Matched findings, most urgent first."""
    found = [r.finding for r in results if r.finding is not None]
    return sorted(found, key=lambda f: f.priority.rank)


@dataclass(frozen=True)
class MissingInput:
    rule_id: str
    inputs: list[str]
    measured_by: str


@dataclass(frozen=True)
class RowStatus:
    """One row of the triage matrix: found, passed, or not measured (never `ok` on what was not measured)."""

    id: str
    symptom: str
    likely_cause: str
    priority: str
    action: str
    status: str                 # findings, ok, partial, not_measured, no_rules
    findings: list[str]         # codes of the findings in this row
    checked: list[str]          # rule ids that were measured
    not_measured: list[MissingInput]


def _row_status(results: list[RuleResult], found: list[str], missing: list[RuleResult]) -> str:
    if found:
        return "findings"
    if results and len(missing) == len(results):
        return "not_measured"
    if missing:
        return "partial"
    return "ok" if results else "no_rules"


def row_statuses(rulebook: RuleBook, results: list[RuleResult], causes: Sequence[Finding] = ()) -> list[RowStatus]:
    """Each triage-matrix row with what was found, passed, or not measured.

    `causes` are findings computed outside the rules (a failed measurement): a row
    holding one is never `ok`, whatever its rules passed.
    """
    rows = []
    for row in rulebook.rows.values():
        in_row = [r for r in results if r.row == row.id]
        found = [r.finding.code for r in in_row if r.finding is not None] + [f.code for f in causes if f.row == row.id]
        missing = [r for r in in_row if r.status is RuleStatus.NOT_MEASURED]
        rows.append(RowStatus(
            id=row.id, symptom=row.symptom, likely_cause=row.likely_cause, priority=row.priority.value,
            action=row.action, status=_row_status(in_row, found, missing), findings=found,
            checked=[r.rule_id for r in in_row if r.status is not RuleStatus.NOT_MEASURED],
            not_measured=[MissingInput(r.rule_id, r.missing_inputs, r.measured_by) for r in missing],
        ))
    return rows
