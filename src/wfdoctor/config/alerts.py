"""Alert rules: the shipped `data/alerts/*.yaml` and the user's files, in Prometheus' rule-file shape.

A file is `groups: [{name, interval?, rules: [{alert, expr, for, keep_firing_for, labels,
annotations}]}]` plus our keys per rule: `clear_expr` (hysteresis: a firing alert resolves
only once this returns its label set) and `escalation` (recovery step ids, in order).
Thresholds are not written in the rules but taken from the facts: `${thresholds.x.y}` and
`${targets.x}` are the tier's values (and `${limits.x.y}`, the decision limits with the tier's
overrides), `${common.x.y}` the tier-independent ones, so a user
who changes a threshold in their facts file changes the alert too. Later files replace
earlier rules of the same alert name, so a user overrides one rule without copying the rest.
Every expression must parse and name only registered metrics: a typo is an error naming
file:line at load time, not an alert that silently never fires.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator

from wfdoctor.config.alert_templates import check_template, go_float
from wfdoctor.config.facts import Facts
from wfdoctor.config.metrics import PACKAGED_METRICS, load_metrics
from wfdoctor.config.durations import format_duration, parse_duration
from wfdoctor.config.promql import Call, PromQLError, Selector, metric_names, parse, returns_vector, walk
from wfdoctor.config.yamlfile import Strict, line_of, read_yaml, validate
from wfdoctor.model import WfdoctorError

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "data" / "alerts"
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
SEVERITIES = ("info", "warning", "critical")
# What a stored baseline is in Prometheus terms: the series' average over the last week, an hour back.
BASELINE_EXPORT = "avg_over_time({selector}[7d] offset 1h)"


class RuleModel(Strict):
    alert: str = Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    expr: str = Field(min_length=1)
    for_: str = Field("0s", alias="for")
    keep_firing_for: str = "0s"
    clear_expr: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    escalation: list[str] = Field(default_factory=list)

    @field_validator("for_", "keep_firing_for")
    @classmethod
    def _duration(cls, text: str) -> str:
        parse_duration(text)
        return text

    @field_validator("labels")
    @classmethod
    def _severity(cls, labels: dict[str, str]) -> dict[str, str]:
        if labels.get("severity", "info") not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
        return labels


class GroupModel(Strict):
    name: str = Field(min_length=1)
    interval: str | None = None   # accepted so a Prometheus file loads; the monitor evaluates every rule each tick
    rules: list[RuleModel] = Field(min_length=1)

    @field_validator("interval")
    @classmethod
    def _duration(cls, text: str | None) -> str | None:
        if text is not None:
            parse_duration(text)
        return text


class RuleFile(Strict):
    groups: list[GroupModel]


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule with its placeholders resolved; `where` is the file:line of its `alert:`."""

    name: str
    expr: str
    for_s: float
    keep_firing_for_s: float
    clear_expr: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    escalation: tuple[str, ...]
    group: str
    where: str
    written_expr: str = ""   # `expr` as written, placeholders unresolved: true for every tier (the guide shows it)


def placeholder_values(facts: Facts, tier: str) -> dict[str, Any]:
    """The namespaces a placeholder may name, for one tier."""
    return {"thresholds": facts.thresholds[tier].model_dump(), "targets": facts.targets[tier].model_dump(),
            "common": facts.common, "limits": facts.limits_for(tier).model_dump()}


def _lookup(values: dict[str, Any], name: str) -> str:
    found: Any = values
    for part in name.split("."):
        if not isinstance(found, dict) or part not in found:
            raise ValueError(f"unknown placeholder '${{{name}}}' (it names no value of the facts)")
        found = found[part]
    if isinstance(found, bool) or not isinstance(found, (int, float, str)):
        raise ValueError(f"placeholder '${{{name}}}' is not a single value in the facts")
    return go_float(float(found)) if isinstance(found, (int, float)) else found


def resolve(text: str, values: dict[str, Any]) -> str:
    """`text` with each `${a.b.c}` replaced by that value of the facts; ValueError naming an unknown one."""
    return PLACEHOLDER.sub(lambda match: _lookup(values, match.group(1).strip()), text)


class _FileReader:
    """Reads one rule file into AlertRules, each error as 'file:line: field: what'."""

    def __init__(self, path: Path, values: dict[str, Any]) -> None:
        self.path, self.values = path, values
        data, self.node = read_yaml(path)
        self.parsed = validate(path, data, self.node, RuleFile)

    def fail(self, loc: tuple[Any, ...], message: str) -> WfdoctorError:
        field = ".".join(str(part) for part in loc)
        return WfdoctorError(f"{self.path}:{line_of(self.node, loc)}: field '{field}': {message}")

    def text(self, loc: tuple[Any, ...], raw: str) -> str:
        try:
            return resolve(raw, self.values)
        except ValueError as exc:
            raise self.fail(loc, str(exc)) from None

    def expression(self, loc: tuple[Any, ...], raw: str) -> str:
        text = self.text(loc, raw)
        try:
            node = parse(text)
        except PromQLError as exc:
            raise self.fail(loc, f"{exc} in '{text}'") from None
        registry = load_metrics()
        for metric in metric_names(node):
            if registry.spec(metric) is None:
                raise self.fail(loc, f"metric '{metric}' is not registered in {PACKAGED_METRICS}")
        if not returns_vector(node):
            raise self.fail(loc, "an alert expression must select series, not compute a single number")
        return text

    def rules(self) -> list[AlertRule]:
        out: dict[str, AlertRule] = {}
        for g, group in enumerate(self.parsed.groups):
            for r, rule in enumerate(group.rules):
                loc = ("groups", g, "rules", r)
                if rule.alert in out:
                    raise self.fail((*loc, "alert"), f"alert '{rule.alert}' is defined twice in this file "
                                                     f"(first at {out[rule.alert].where})")
                out[rule.alert] = self.rule(loc, group.name, rule)
        return list(out.values())

    def rule(self, loc: tuple[Any, ...], group: str, rule: RuleModel) -> AlertRule:
        for key, template in rule.annotations.items():
            problem = check_template(template)
            if problem:
                raise self.fail((*loc, "annotations", key), problem)
        clear = rule.clear_expr and self.expression((*loc, "clear_expr"), rule.clear_expr)
        return AlertRule(
            name=rule.alert, expr=self.expression((*loc, "expr"), rule.expr), for_s=parse_duration(rule.for_),
            keep_firing_for_s=parse_duration(rule.keep_firing_for), clear_expr=clear or None,
            labels={k: self.text((*loc, "labels", k), v) for k, v in rule.labels.items()},
            annotations={k: self.text((*loc, "annotations", k), v) for k, v in rule.annotations.items()},
            escalation=tuple(rule.escalation), group=group, where=f"{self.path}:{line_of(self.node, (*loc, 'alert'))}",
            written_expr=rule.expr)


def shipped_rule_files() -> list[Path]:
    return sorted(SHIPPED_DIR.glob("*.yaml"))


def load_alert_rules(facts: Facts, tier: str, paths: Sequence[Path] = ()) -> list[AlertRule]:
    """The shipped rules, then each user file in order (a rule replaces the one of the same name)."""
    if tier not in facts.thresholds:
        raise WfdoctorError(f"unknown tier '{tier}' (tiers: {', '.join(facts.tier_rule.order)})")
    values = placeholder_values(facts, tier)
    rules: dict[str, AlertRule] = {}
    for path in [*shipped_rule_files(), *paths]:
        for rule in _FileReader(path, values).rules():
            rules[rule.name] = rule
    return list(rules.values())


def prometheus_expr(expr: str) -> str:
    """`expr` with each `baseline(m)` replaced by the Prometheus expression of a stored baseline."""
    calls = sorted((n for n in walk(parse(expr)) if isinstance(n, Call) and n.name == "baseline"),
                   key=lambda call: call.span[0], reverse=True)
    for call in calls:
        start, end = call.span
        inner = expr[start:end]
        selector = inner[inner.index("(") + 1:-1].strip()
        expr = expr[:start] + BASELINE_EXPORT.format(selector=selector) + expr[end:]
    return expr


def _prometheus_rule(rule: AlertRule) -> dict[str, Any]:
    out: dict[str, Any] = {"alert": rule.name, "expr": prometheus_expr(rule.expr)}
    if rule.for_s:
        out["for"] = format_duration(rule.for_s)
    if rule.keep_firing_for_s:
        out["keep_firing_for"] = format_duration(rule.keep_firing_for_s)
    if rule.labels:
        out["labels"] = dict(rule.labels)
    if rule.annotations:
        out["annotations"] = dict(rule.annotations)
    return out


def prometheus_rules(rules: Sequence[AlertRule]) -> str:
    """A Prometheus rules file with the same alerts (our `clear_expr` and `escalation` have no equivalent)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        groups.setdefault(rule.group, []).append(_prometheus_rule(rule))
    document = {"groups": [{"name": name, "rules": members} for name, members in groups.items()]}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=4096)


def ranges_by_metric(rules: Sequence[AlertRule]) -> dict[str, float]:
    """The longest range each metric is read over by any rule (`m[10m]` -> {"m": 600.0})."""
    ranges: dict[str, float] = {}
    for rule in rules:
        for expr in (rule.expr, rule.clear_expr or ""):
            for node in walk(parse(expr)) if expr else ():
                if isinstance(node, Selector) and node.range_s:
                    ranges[node.metric] = max(ranges.get(node.metric, 0.0), node.range_s)
    return ranges
