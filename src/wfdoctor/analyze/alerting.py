"""The alert lifecycle, as Prometheus runs it, plus hysteresis.

Each tick every rule's expression is evaluated over the window; each series it returns
is one alert, identified by its labels (the series' labels without the metric name, the
rule's labels, `alertname`), so the same condition on the same series is one alert however
often it is seen. A new alert is pending; it fires once it has been returned for the
rule's `for`; a pending alert that is no longer returned is dropped (reported resolved
with `fired_at` None: it was never notified); a firing one resolves when it has not been
returned for `keep_firing_for`. Our addition: when the rule has a `clear_expr`, a firing
alert resolves only once `clear_expr` returns its series too, so a value oscillating
around the threshold does not fire and resolve at every crossing; or once the series it
was raised on has no recent point (a process that exited, a GPU gone), so an alert never
stays firing on data that no longer exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from wfdoctor.analyze.promql import NAME, Vector, drop_name, evaluate, series_present
from wfdoctor.analyze.window import Labels, SampleWindow
from wfdoctor.config.alert_templates import render
from wfdoctor.config.alerts import SEVERITIES, AlertRule
from wfdoctor.config.promql import Call, Node, PromQLError, metric_names, parse, walk
from wfdoctor.model import Alert, AlertState


@dataclass(frozen=True)
class _Tracked:
    alert: Alert
    series: Labels                      # the series' labels without the metric name (matched with clear_expr)
    missing_since: float | None = None  # first tick the expression stopped returning it


@dataclass(frozen=True)
class _Compiled:
    rule: AlertRule
    expr: Node
    clear: Node | None
    metrics: tuple[str, ...]   # what `expr` reads: with none of them in the window it returns nothing...
    reads_absence: bool        # ...unless it asks whether a series is absent


def _compile(rule: AlertRule) -> _Compiled:
    expr = parse(rule.expr)
    absence = any(isinstance(node, Call) and node.name.startswith("absent") for node in walk(expr))
    return _Compiled(rule, expr, parse(rule.clear_expr) if rule.clear_expr else None, tuple(metric_names(expr)),
                     absence)


def _rank(alert: Alert) -> tuple[int, int, float]:
    severity = SEVERITIES.index(alert.severity) if alert.severity in SEVERITIES else -1
    return -severity, 0 if alert.state is AlertState.FIRING else 1, alert.active_at


class AlertEngine:
    """Holds the pending and firing alerts between ticks; `evaluate` returns what changed."""

    def __init__(self, rules: Sequence[AlertRule], lookback_s: float = 300.0,
                 baselines: Mapping[str, float] | None = None) -> None:
        self.lookback_s = lookback_s
        self.baselines = baselines   # replaceable: the monitor refreshes baselines as history grows
        self._rules = [_compile(rule) for rule in rules]
        self._active: dict[str, _Tracked] = {}
        self.errors: dict[str, str] = {}   # rule name -> why its last evaluation failed (its alerts hold)

    def _vector(self, node: Node, window: SampleWindow, now: float) -> Vector:
        value = evaluate(node, window, now, self.lookback_s, self.baselines)
        if isinstance(value, float):
            raise PromQLError("the expression gives a number, not series")
        return value

    def evaluate(self, window: SampleWindow, now: float) -> list[Alert]:
        """One tick: the alerts that became pending, fired or resolved at `now`."""
        transitions: list[Alert] = []
        tracked_rules = {tracked.alert.name for tracked in self._active.values()}
        for compiled in self._rules:
            if not (compiled.reads_absence or compiled.rule.name in tracked_rules
                    or any(window.has(metric) for metric in compiled.metrics)):
                continue  # nothing to read and nothing to resolve: the result is known to be empty
            try:
                found = self._vector(compiled.expr, window, now)
                cleared = self._vector(compiled.clear, window, now) if compiled.clear else None
            except PromQLError as exc:
                self.errors[compiled.rule.name] = str(exc)
                continue
            self.errors.pop(compiled.rule.name, None)
            transitions += self._step(compiled, found, cleared, window, now)
        return transitions

    def _step(self, compiled: _Compiled, found: Vector, cleared: Vector | None, window: SampleWindow,
              now: float) -> list[Alert]:
        rule = compiled.rule
        transitions: list[Alert] = []
        seen: set[str] = set()
        for labels, value in found.items():
            tracked = self._seen(rule, labels, value, now)
            if tracked.alert.state is AlertState.PENDING and now - tracked.alert.active_at >= rule.for_s:
                tracked = replace(tracked, alert=replace(tracked.alert, state=AlertState.FIRING, fired_at=now))
                transitions.append(tracked.alert)
            elif tracked.alert.fingerprint not in self._active:
                transitions.append(tracked.alert)
            self._active[tracked.alert.fingerprint] = tracked
            seen.add(tracked.alert.fingerprint)
        clear_set = None if cleared is None else {drop_name(labels) for labels in cleared}
        for fingerprint, tracked in list(self._active.items()):
            if tracked.alert.name != rule.name or fingerprint in seen:
                continue
            tracked = replace(tracked, missing_since=tracked.missing_since if tracked.missing_since is not None else now)
            if self._holds(compiled, tracked, clear_set, window, now):
                self._active[fingerprint] = tracked
                continue
            del self._active[fingerprint]
            transitions.append(replace(tracked.alert, state=AlertState.RESOLVED, resolved_at=now))
        return transitions

    def _seen(self, rule: AlertRule, labels: Labels, value: float, now: float) -> _Tracked:
        """The alert for one returned series: the tracked one with this tick's value, or a new pending one."""
        series = dict(labels)
        alert_labels = {k: v for k, v in series.items() if k != NAME} | rule.labels | {"alertname": rule.name}
        annotations = {key: render(text, series, value) for key, text in rule.annotations.items()}
        alert = Alert(rule.name, alert_labels, annotations, AlertState.PENDING, value, active_at=now,
                      escalation=rule.escalation)
        tracked = self._active.get(alert.fingerprint)
        if tracked is None:
            return _Tracked(alert, drop_name(labels))
        return replace(tracked, alert=replace(tracked.alert, value=value, annotations=annotations), missing_since=None)

    def _holds(self, compiled: _Compiled, tracked: _Tracked, clear_set: set[Labels] | None, window: SampleWindow,
               now: float) -> bool:
        """Whether a firing alert the expression no longer returns stays firing (pending ones never do):
        within `keep_firing_for`, or while `clear_expr` does not return it and its series is still there."""
        if tracked.alert.state is not AlertState.FIRING:
            return False
        if tracked.missing_since is not None and now - tracked.missing_since < compiled.rule.keep_firing_for_s:
            return True
        return (clear_set is not None and tracked.series not in clear_set
                and series_present(compiled.expr, window, now, self.lookback_s, tracked.series))

    def active(self) -> list[Alert]:
        """Pending and firing alerts, most severe first, firing before pending, oldest first."""
        return sorted((tracked.alert for tracked in self._active.values()), key=_rank)
