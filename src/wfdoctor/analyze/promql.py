"""Evaluate the alert rules' PromQL subset over a `SampleWindow` at one instant, as Prometheus does.

Pure: the same window, time and baselines give the same result. The semantics follow
Prometheus so a rule means the same here and in the exported rules file:
- an instant selector takes each series' newest point within the lookback; an older
  series is absent (stale), never zero;
- a comparison filters (the left side's value and labels stay), or with `bool` gives 0/1;
- vector-vector operators match series on identical label sets, the metric name aside;
  arithmetic, `bool` and functions drop the metric name;
- `absent_over_time(m{a="x"}[w])` is {a="x"} 1 when no series has a point in the window.
Our extension `baseline(m)` is the stored baseline of each series of `m`: the mapping is
looked up by `baseline_key(metric, labels)` (`metric{a="x",b="y"}`, labels sorted, run-to-run labels
left out), then by
the bare metric name; a series with neither has no baseline (absent).
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wfdoctor.analyze.series import VOLATILE_LABELS
from wfdoctor.analyze.window import Labels, SampleWindow, Series
from wfdoctor.config.matchers import Matcher, MatchType, matches_all
from wfdoctor.config.promql import (
    COMPARISONS, Aggregate, Binary, Call, Node, Number, PromQLError, Selector, Unary, walk,
)

Vector = dict[Labels, float]
Value = float | Vector
NAME = "__name__"
# Prometheus extrapolates a rate to the window's edge when the gap there is within 110 % of the
# average spacing of the points (promql/functions.go, extrapolatedRate); an algorithm constant.
EXTRAPOLATION_SLACK = 1.1
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le,
}


def _divide(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1, b)
    return a / b


def _modulo(a: float, b: float) -> float:
    return math.nan if b == 0 else math.fmod(a, b)   # Go's math.Mod: the sign of the dividend


ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": _divide, "%": _modulo,
}


def series_key(metric: str, labels: Mapping[str, str] | Labels) -> str:
    """How a baseline of one series is named: `metric{a="x",b="y"}`, labels sorted."""
    items = sorted(labels.items() if isinstance(labels, Mapping) else labels)
    inner = ",".join(f'{key}="{value}"' for key, value in items if key != NAME)
    return f"{metric}{{{inner}}}" if inner else metric


def baseline_key(metric: str, labels: Mapping[str, str] | Labels) -> str:
    """How a series' stored baseline is named: its `series_key` without the labels that change from run to
    run (`VOLATILE_LABELS`: run ids, confidence bounds, ...), so the canary's next run finds the baseline
    its earlier runs made."""
    items = labels.items() if isinstance(labels, Mapping) else labels
    return series_key(metric, tuple((key, value) for key, value in items if key not in VOLATILE_LABELS))


def drop_name(labels: Labels) -> Labels:
    return tuple(item for item in labels if item[0] != NAME)


def _matches(labels: Labels, matchers: tuple[Matcher, ...]) -> bool:
    """Prometheus matchers: a missing label reads as "", regular expressions are anchored."""
    return matches_all(matchers, dict(labels))


def quantile(q: float, values: list[float]) -> float:
    """Prometheus' quantile: linear interpolation between the closest ranks."""
    if q < 0 or q > 1:
        return math.copysign(math.inf, q)
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    lower = math.floor(rank)
    upper = min(len(ordered) - 1, lower + 1)
    weight = rank - lower
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def rate(ts: list[float], values: list[float], start: float, end: float) -> float | None:
    """Per-second increase of a counter over (start, end], extrapolated like Prometheus' `rate`."""
    if len(ts) < 2:
        return None
    increase = values[-1] - values[0]
    increase += sum(prev for prev, cur in itertools.pairwise(values) if cur < prev)   # counter resets
    sampled = ts[-1] - ts[0]
    to_start, to_end = ts[0] - start, end - ts[-1]
    if increase > 0 and values[0] >= 0:
        to_start = min(to_start, sampled * values[0] / increase)   # a counter does not go below zero
    average_gap = sampled / (len(ts) - 1)
    interval = sampled
    for gap in (to_start, to_end):
        interval += gap if gap < average_gap * EXTRAPOLATION_SLACK else average_gap / 2
    return increase * interval / sampled / (end - start)


OVER_TIME: dict[str, Callable[[list[float]], float]] = {
    "avg_over_time": lambda v: math.fsum(v) / len(v), "min_over_time": min, "max_over_time": max,
    "sum_over_time": math.fsum, "count_over_time": lambda v: float(len(v)), "last_over_time": lambda v: v[-1],
}
AGGREGATE: dict[str, Callable[[list[float]], float]] = {
    "avg": OVER_TIME["avg_over_time"], "min": min, "max": max, "sum": math.fsum, "count": OVER_TIME["count_over_time"],
}


@dataclass(frozen=True)
class Evaluation:
    """One instant's evaluation context."""

    window: SampleWindow
    now: float
    lookback_s: float = 300.0
    baselines: Mapping[str, float] | None = None

    def __call__(self, node: Node) -> Value:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Selector):
            return self.instant(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Aggregate):
            return self.aggregate(node)
        if isinstance(node, Unary):
            inner = self(node.expr)
            return -inner if isinstance(inner, float) else {drop_name(k): -v for k, v in inner.items()}
        return self.binary(node)

    def selected(self, selector: Selector) -> list[Series]:
        return [s for s in self.window.series(selector.metric) if _matches(s.labels, selector.matchers)]

    def instant(self, selector: Selector) -> Vector:
        out: Vector = {}
        for series in self.selected(selector):
            point = series.newest(self.now, self.lookback_s)
            if point is not None:
                out[tuple(sorted(((NAME, series.metric), *series.labels)))] = point[1]
        return out

    def call(self, call: Call) -> Vector:
        selector = call.args[-1]
        assert isinstance(selector, Selector)   # the parser allows only a selector here
        if call.name == "baseline":
            return self.baseline(selector)
        start = self.now - (selector.range_s or 0.0)
        ranges = [(s.labels, *s.between(start, self.now)) for s in self.selected(selector)]
        ranges = [(labels, ts, values) for labels, ts, values in ranges if ts]
        if call.name == "absent_over_time":
            return {} if ranges else {tuple(sorted((m.name, m.value) for m in selector.matchers if m.op is MatchType.EQUAL)): 1.0}
        if call.name == "rate":
            rates = ((labels, rate(ts, values, start, self.now)) for labels, ts, values in ranges)
            return {labels: value for labels, value in rates if value is not None}
        if call.name == "quantile_over_time":
            q = self.scalar(call.args[0], call.name)
            return {labels: quantile(q, values) for labels, _, values in ranges}
        return {labels: OVER_TIME[call.name](values) for labels, _, values in ranges}

    def baseline(self, selector: Selector) -> Vector:
        baselines = self.baselines or {}
        out: Vector = {}
        for series in self.selected(selector):
            value = baselines.get(baseline_key(series.metric, series.labels), baselines.get(series.metric))
            if value is not None:
                out[series.labels] = value
        return out

    def scalar(self, node: Node, where: str) -> float:
        value = self(node)
        if not isinstance(value, float):
            raise PromQLError(f"{where} expects a number, not a vector")
        return value

    def vector(self, node: Node, where: str) -> Vector:
        value = self(node)
        if isinstance(value, float):
            raise PromQLError(f"{where} expects a vector, not a number")
        return value

    def aggregate(self, node: Aggregate) -> Vector:
        groups: dict[Labels, list[float]] = {}
        for labels, value in self.vector(node.expr, node.op).items():
            present = dict(labels)
            key = tuple(sorted((name, present[name]) for name in set(node.by or ()) if name in present))
            groups.setdefault(key, []).append(value)
        return {key: AGGREGATE[node.op](values) for key, values in groups.items()}

    def binary(self, node: Binary) -> Value:
        lhs, rhs = self(node.lhs), self(node.rhs)
        if node.op in ("and", "or", "unless"):
            if isinstance(lhs, float) or isinstance(rhs, float):
                raise PromQLError(f"'{node.op}' needs vectors on both sides")
            return set_operation(node.op, lhs, rhs)
        if isinstance(lhs, float) and isinstance(rhs, float):
            if node.op in COMPARISONS:
                return float(COMPARE[node.op](lhs, rhs))
            return ARITHMETIC[node.op](lhs, rhs)
        if isinstance(lhs, float) or isinstance(rhs, float):
            return vector_scalar(node, lhs, rhs)
        return vector_vector(node, lhs, rhs)


def _apply(node: Binary, labels: Labels, lv: float, rv: float, kept: float, out: Vector) -> None:
    """One element of a binary operation: filter (comparison), 0/1 (`bool`) or arithmetic."""
    if node.op not in COMPARISONS:
        out[drop_name(labels)] = ARITHMETIC[node.op](lv, rv)
    elif node.bool_modifier:
        out[drop_name(labels)] = float(COMPARE[node.op](lv, rv))
    elif COMPARE[node.op](lv, rv):
        out[labels] = kept


def vector_scalar(node: Binary, lhs: Value, rhs: Value) -> Vector:
    """A filter keeps the vector's own value, on whichever side it is (as Prometheus does)."""
    out: Vector = {}
    if isinstance(lhs, dict) and isinstance(rhs, float):
        for labels, value in lhs.items():
            _apply(node, labels, value, rhs, value, out)
    elif isinstance(lhs, float) and isinstance(rhs, dict):
        for labels, value in rhs.items():
            _apply(node, labels, lhs, value, value, out)
    return out


def vector_vector(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    """One-to-one matching on the label set without the metric name; the left side's labels stay.

    Every vector of this subset holds one series per such label set (`or` keeps the left
    side's where both have one), so Prometheus' many-to-many error cannot arise.
    """
    right = {drop_name(labels): value for labels, value in rhs.items()}
    out: Vector = {}
    for labels, value in lhs.items():
        signature = drop_name(labels)
        if signature in right:
            _apply(node, labels, value, right[signature], value, out)
    return out


def set_operation(op: str, lhs: Vector, rhs: Vector) -> Vector:
    right = {drop_name(labels) for labels in rhs}
    if op == "and":
        return {labels: v for labels, v in lhs.items() if drop_name(labels) in right}
    if op == "unless":
        return {labels: v for labels, v in lhs.items() if drop_name(labels) not in right}
    left = {drop_name(labels) for labels in lhs}
    return lhs | {labels: v for labels, v in rhs.items() if drop_name(labels) not in left}


def series_present(node: Node, window: SampleWindow, now: float, lookback_s: float, signature: Labels) -> bool:
    """Whether any series `node` selects, carrying all the labels of `signature`, still has a recent point
    (within its range, or the lookback for an instant selector): the data an alert was raised on is there."""
    wanted = set(signature)
    for selector in (inner for inner in walk(node) if isinstance(inner, Selector)):
        reach = selector.range_s or lookback_s
        for series in window.series(selector.metric):
            if wanted <= set(series.labels) and _matches(series.labels, selector.matchers) \
                    and series.newest(now, reach) is not None:
                return True
    return False


def evaluate(node: Node, window: SampleWindow, now: float, lookback_s: float = 300.0,
             baselines: Mapping[str, float] | None = None) -> Value:
    """The value of `node` at `now`: a number, or a vector (label set -> value)."""
    return Evaluation(window, now, lookback_s, baselines)(node)
