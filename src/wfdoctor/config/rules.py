"""Triage rules, the actions catalogue and the remedies, as data validated on load.

A rule file may hold `rows` (the spec's triage matrix rows), `rules` (conditions
over samples that map a symptom to a cause, a priority and actions), `actions`
(what to do, what it changes, how to undo it), `remedies` (the actions of the
causes computed in code, per server implementation), `explanations` (which
symptom rules a measured cause explains), `causes` (what each cause computed in
code means and which remedy it names) and `areas` (the troubleshooting guide's
sections). Files are read in order,
packaged first; a later rule, action or remedy with the same id replaces the
earlier one, so a user file can tighten one threshold or add a rule without
any code change.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, field_validator

from wfdoctor.config.metrics import load_metrics
from wfdoctor.config.remedies import DEFAULT, Remedies, Remedy, Variants
from wfdoctor.config.yamlfile import Strict, line_of, read_yaml, validate
from wfdoctor.model import Priority, WfdoctorError

PACKAGED_RULES_DIR = Path(__file__).resolve().parent.parent / "data" / "rules"


class ThresholdRef(Strict):
    """A threshold taken from the facts file, e.g. `thresholds.cpu_percent.warning`.

    Paths starting with `thresholds.` or `targets.` are read from the detected
    tier; `common.` paths are tier-independent. `scale` converts units (0.01
    turns a percentage into a ratio).
    """

    ref: str
    scale: float = 1.0


Threshold = float | ThresholdRef


class Condition(Strict):
    metric: str
    aggregate: Literal["max", "min", "mean", "sum", "count"] = "max"
    op: Literal[">", ">=", "<", "<="]
    threshold: Threshold
    critical: Threshold | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class Culprits(Strict):
    """Samples attached as evidence to name who causes the symptom."""

    metric: str
    top: int = 3


class Row(Strict):
    """A row of the spec's Performance Triage Matrix."""

    id: str
    symptom: str
    likely_cause: str
    priority: Priority
    action: str


class Rule(Strict):
    id: str
    row: str
    code: str
    cause: str
    priority: Priority
    when: list[Condition] = Field(min_length=1)
    culprits: Culprits | None = None
    # A list for every server, or lists per server implementation with a `default` (like a remedy).
    actions: Variants = Field(default_factory=lambda: {DEFAULT: []})
    summary: str
    measured_by: str
    # Which commands' samples the rule judges: a busy CPU is a finding in a
    # snapshot, but expected while `tokens` makes the server generate.
    applies_to: list[Literal["diagnose", "tokens", "council"]] = Field(default_factory=lambda: ["diagnose"])

    @field_validator("summary")
    @classmethod
    def _summary_names_plain_fields(cls, summary: str) -> str:
        """`{value}`, `{threshold_2}`, `{culprit}`: plain names only (which ones exist is checked against the
        rule's conditions when the rules load, `check_references`); `{value.real}` or `{value[0]}` would reach
        into the formatted text."""
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(summary) if name is not None]
        except ValueError as exc:
            raise ValueError(f"summary template: {exc}") from None
        bad = next((name for name in names if not name.isidentifier()), None)
        if bad is not None:
            raise ValueError(f"summary template: field '{{{bad}}}' is not a plain name such as {{value}}")
        return summary

    def metric_fields(self) -> Iterator[tuple[tuple[Any, ...], str]]:
        """(location in the rule, metric name) for every metric the rule reads."""
        for index, condition in enumerate(self.when):
            yield ("when", index, "metric"), condition.metric
        if self.culprits is not None:
            yield ("culprits", "metric"), self.culprits.metric


# What a run can measure about the machine and the model, that decides whether an action can help:
# `gpu`: a GPU was found; `low_bit_model`: the model's weights are already at or below
# `limits.tokens.low_bit_weights` bits.
MeasuredFact = Literal["gpu", "low_bit_model"]


@dataclass(frozen=True)
class Circumstances:
    """What was measured about the server(s) and the machine: which actions, and which variants, fit.

    A fact missing from `known` was not measured: it rules no action out.
    """

    implementations: frozenset[str] = frozenset()
    known: dict[str, bool] = field(default_factory=dict)


class Action(Strict):
    """One entry of the actions catalogue (the spec's Common Solutions).

    `needs` names facts that must hold for the action to help (GPU offload needs a GPU);
    `not_when` facts that make it pointless (quantising a model that is already 4-bit).
    """

    id: str
    title: str
    problem: Literal["cpu_bottleneck", "gpu_memory", "model_loading", "memory", "ui", "council", "regression", "disk",
                     "server"]
    changes: str
    undo: str
    level: Literal["L1", "L2", "L3", "L4"]
    backends: dict[str, str] = Field(default_factory=dict)
    needs: list[MeasuredFact] = Field(default_factory=list)
    not_when: list[MeasuredFact] = Field(default_factory=list)
    # The recovery-ladder step (data/recovery.yaml) that performs this action: how `troubleshoot --apply`
    # applies an L1 action, through the same code as the monitor's recovery, logged the same way.
    recovery_step: str | None = None

    def fits(self, circumstances: Circumstances) -> bool:
        """False only when a measured fact rules the action out."""
        known = circumstances.known
        return not any(known.get(fact) is False for fact in self.needs) and \
            not any(known.get(fact) is True for fact in self.not_when)

    def variants_for(self, implementations: frozenset[str]) -> dict[str, str]:
        """The concrete settings for the measured servers' implementations (none when no variant fits)."""
        return {backend: setting for backend, setting in self.backends.items() if backend in implementations}


class Explanation(Strict):
    """A cause wfdoctor measures (its code) and the symptom rules it explains when both are found."""

    cause: str
    explains: list[str] = Field(min_length=1)


class Cause(Strict):
    """A cause wfdoctor computes in code: its one-line meaning, priority and remedy, for the guide.

    `rule` and `row` are what its finding carries; `priority` the highest it is given; `metrics`
    those whose alert rules watch for it where no symptom rule it explains does.
    """

    code: str
    remedy: str
    rule: str
    row: str
    priority: Priority
    description: str
    metrics: list[str] = Field(default_factory=list)


class Area(Strict):
    """A section of the troubleshooting guide: the rule ids starting with one of its prefixes."""

    id: str
    title: str
    prefixes: list[str] = Field(min_length=1)


class RuleFile(Strict):
    rows: list[Row] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    remedies: list[Remedy] = Field(default_factory=list)
    explanations: list[Explanation] = Field(default_factory=list)
    causes: list[Cause] = Field(default_factory=list)
    areas: list[Area] = Field(default_factory=list)


class RuleBook(BaseModel):
    """Every row, rule, action and remedy in force, with where each rule came from."""

    rows: dict[str, Row]
    rules: dict[str, Rule]
    actions: dict[str, Action]
    origins: dict[str, str]  # rule id -> "file:line" where it was defined
    remedies: Remedies
    explains: dict[str, list[str]] = Field(default_factory=dict)  # cause code -> the symptom rule ids it explains
    causes: dict[str, Cause] = Field(default_factory=dict)        # cause code -> what it means, its remedy
    areas: dict[str, Area] = Field(default_factory=dict)          # the guide's sections, in file order


def rule_files(extra: list[Path]) -> list[Path]:
    """Packaged rule files, then each extra path (a file, or a folder of *.yaml)."""
    files = sorted(PACKAGED_RULES_DIR.glob("*.yaml"))
    for path in extra:
        if path.is_dir():
            files.extend(sorted(path.glob("*.yaml")))
        elif path.exists():
            files.append(path)
        else:
            raise WfdoctorError(f"{path}: rules file not found")
    return files


def _check_metrics(path: Path, node: yaml.Node | None, index: int, rule: Rule) -> None:
    """A rule over an unregistered metric could never match: refuse it where it is written."""
    registry = load_metrics()
    for loc, metric in rule.metric_fields():
        if registry.spec(metric) is None:
            where = ("rules", index, *loc)
            field = ".".join(str(part) for part in where)
            raise WfdoctorError(f"{path}:{line_of(node, where)}: field '{field}': rule '{rule.id}' names "
                                f"unregistered metric '{metric}' (not in {registry.path})")


def load_rulebook(extra: list[Path] | None = None) -> RuleBook:
    """Load and cross-check all rule files; errors name file, line and field."""
    rows: dict[str, Row] = {}
    rules: dict[str, Rule] = {}
    actions: dict[str, Action] = {}
    origins: dict[str, str] = {}
    remedies: dict[str, Remedy] = {}
    list_origins: dict[tuple[str, str], str] = {}  # (remedy id, implementation) -> "file:line"
    explains: dict[str, list[str]] = {}
    explain_origins: dict[str, str] = {}
    causes: dict[str, tuple[Cause, str]] = {}  # code -> the cause and "file:line" where it is defined
    areas: dict[str, Area] = {}
    for path in rule_files(extra or []):
        data, node = read_yaml(path)
        parsed = validate(path, data or {}, node, RuleFile)
        rows.update((row.id, row) for row in parsed.rows)
        actions.update((action.id, action) for action in parsed.actions)
        for index, rule in enumerate(parsed.rules):
            _check_metrics(path, node, index, rule)
            rules[rule.id] = rule
            origins[rule.id] = f"{path}:{line_of(node, ('rules', index))}"
        for index, remedy in enumerate(parsed.remedies):
            remedies[remedy.id] = remedy
            list_origins.update(((remedy.id, name), f"{path}:{line_of(node, ('remedies', index, 'actions', name))}")
                                for name in remedy.actions)
        for index, explanation in enumerate(parsed.explanations):
            explains[explanation.cause] = explanation.explains
            explain_origins[explanation.cause] = f"{path}:{line_of(node, ('explanations', index, 'explains'))}"
        causes.update((cause.code, (cause, f"{path}:{line_of(node, ('causes', index))}"))
                      for index, cause in enumerate(parsed.causes))
        areas.update((area.id, area) for area in parsed.areas)
    for rule_id, rule in rules.items():
        where = origins[rule_id]
        if rule.row not in rows:
            raise WfdoctorError(f"{where}: field 'row': rule '{rule_id}' names unknown row '{rule.row}'")
        for implementation, names in rule.actions.items():
            unknown = next((name for name in names if name not in actions), None)
            if unknown is not None:
                raise WfdoctorError(f"{where}: field 'actions.{implementation}': rule '{rule_id}' names unknown "
                                    f"action '{unknown}'")
    for cause, symptoms in explains.items():
        unknown = next((rule_id for rule_id in symptoms if rule_id not in rules), None)
        if unknown is not None:
            raise WfdoctorError(f"{explain_origins[cause]}: field 'explains': cause '{cause}' explains unknown rule "
                                f"'{unknown}'")
    for remedy_id, remedy in remedies.items():
        for implementation, names in remedy.actions.items():
            unknown = next((name for name in names if name not in actions), None)
            if unknown is not None:
                where = list_origins[remedy_id, implementation]
                raise WfdoctorError(f"{where}: field 'actions.{implementation}': remedy '{remedy_id}' names unknown "
                                    f"action '{unknown}'")
    _check_causes(causes.values(), rows, remedies)
    return RuleBook(rows=rows, rules=rules, actions=actions, origins=origins,
                    remedies=Remedies(by_id=remedies), explains=explains,
                    causes={code: cause for code, (cause, _) in causes.items()}, areas=areas)


def _check_causes(causes: Iterable[tuple[Cause, str]], rows: dict[str, Row], remedies: dict[str, Remedy]) -> None:
    """A cause names a known row, a defined remedy and registered metrics; errors name file and line."""
    registry = load_metrics()
    for cause, where in causes:
        if cause.row not in rows:
            raise WfdoctorError(f"{where}: field 'row': cause '{cause.code}' names unknown row '{cause.row}'")
        if cause.remedy not in remedies:
            raise WfdoctorError(f"{where}: field 'remedy': cause '{cause.code}' names unknown remedy "
                                f"'{cause.remedy}'")
        unknown = next((metric for metric in cause.metrics if registry.spec(metric) is None), None)
        if unknown is not None:
            raise WfdoctorError(f"{where}: field 'metrics': cause '{cause.code}' names unregistered metric "
                                f"'{unknown}' (not in {registry.path})")
