"""The stored baselines the alert rules' `baseline(m)` compares with: "slower than it used to be".

A baseline is the mean of a series' stored points (this monitor's run and earlier ones, the token
canary's own `tokens` runs among them) between a week and an hour ago: the same span as the Prometheus export's
`avg_over_time(m[7d] offset 1h)`, so one rule judges the same in both places. The last hour is
left out so that a degradation in progress does not become its own baseline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from wfdoctor.analyze.alerting import AlertEngine
from wfdoctor.analyze.promql import baseline_key
from wfdoctor.config.alerts import AlertRule
from wfdoctor.config.promql import Call, Selector, parse, walk
from wfdoctor.store.monitoring import MonitorStore

BASELINE_SPAN_S = 7 * 86400.0   # avg_over_time(m[7d] offset 1h) in the export: keep the two in step
BASELINE_OFFSET_S = 3600.0
REFRESH_EVERY_S = 600.0          # as often as the token canary runs by default


def baseline_metrics(rules: Iterable[AlertRule]) -> list[str]:
    """The metrics whose baselines the rules read, each once."""
    names: dict[str, None] = {}
    for rule in rules:
        for expr in (rule.expr, rule.clear_expr or ""):
            if not expr:
                continue
            for node in walk(parse(expr)):
                if isinstance(node, Call) and node.name == "baseline":
                    names.update({n.metric: None for n in walk(node) if isinstance(n, Selector)})
    return list(names)


def stored_baselines(store: MonitorStore, metrics: Sequence[str], now: float) -> dict[str, float]:
    """`baseline_key` -> mean of the stored points in [now - span - offset, now - offset)."""
    sums: dict[str, tuple[float, int]] = {}
    start, end = now - BASELINE_SPAN_S - BASELINE_OFFSET_S, now - BASELINE_OFFSET_S
    for metric in metrics:
        for sample in store.points_between(metric, start, end):
            key = baseline_key(metric, sample.labels)
            total, count = sums.get(key, (0.0, 0))
            sums[key] = (total + sample.value, count + 1)
    return {key: total / count for key, (total, count) in sums.items()}


class StoredBaselines:
    """Keeps the engine's baselines fresh: read from the store at the first tick, then every REFRESH_EVERY_S."""

    def __init__(self, store: MonitorStore, rules: Sequence[AlertRule], engine: AlertEngine) -> None:
        self._store, self._engine = store, engine
        self._metrics = baseline_metrics(rules)
        self._read_at = float("-inf")

    def refresh(self, now: float) -> None:
        if self._metrics and now - self._read_at >= REFRESH_EVERY_S:
            self._read_at = now
            self._engine.baselines = stored_baselines(self._store, self._metrics, now)
