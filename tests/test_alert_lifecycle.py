"""The alert lifecycle: pending -> firing after `for`, keep_firing_for, hysteresis, dedup, resolution."""

from __future__ import annotations

from wfdoctor.analyze.alerting import AlertEngine
from wfdoctor.analyze.window import SampleWindow
from wfdoctor.config.alerts import AlertRule
from wfdoctor.model import Alert, AlertState, Sample

METRIC = "wf_memory_used_ratio"


def rule(name: str = "MemoryHigh", expr: str = f"{METRIC} > 0.9", for_s: float = 0.0,
         keep_firing_for_s: float = 0.0, clear_expr: str | None = None, severity: str = "critical") -> AlertRule:
    return AlertRule(name=name, expr=expr, for_s=for_s, keep_firing_for_s=keep_firing_for_s, clear_expr=clear_expr,
                     labels={"severity": severity},
                     annotations={"summary": "Memory {{ $value | humanizePercentage }} used on {{ $labels.host }}"},
                     escalation=("clear_caches",), group="test", where="test.yaml:1")


class Feed:
    """Feeds one value per second per host and evaluates the engine after each, like the monitor at 1 Hz."""

    def __init__(self, engine: AlertEngine) -> None:
        self.engine, self.window, self.now = engine, SampleWindow(600.0), 1000.0

    def tick(self, **values: float) -> list[Alert]:
        self.now += 1.0
        self.window.add(Sample(METRIC, v, "ratio", "test", {"host": host}, self.now) for host, v in values.items())
        return self.engine.evaluate(self.window, self.now)

    def states(self, **values: float) -> list[tuple[str, AlertState]]:
        return [(a.labels["host"], a.state) for a in self.tick(**values)]


def test_an_alert_is_pending_until_for_has_passed_then_fires_once() -> None:
    feed = Feed(AlertEngine([rule(for_s=3.0)]))
    assert feed.states(a=0.95) == [("a", AlertState.PENDING)]
    assert feed.states(a=0.95) == [] and feed.states(a=0.95) == []
    fired = feed.tick(a=0.96)
    assert [(a.state, a.value, a.fired_at, a.active_at) for a in fired] == [
        (AlertState.FIRING, 0.96, feed.now, feed.now - 3.0)]
    assert feed.states(a=0.97) == []


def test_for_zero_fires_at_the_first_evaluation() -> None:
    feed = Feed(AlertEngine([rule()]))
    assert feed.states(a=0.95) == [("a", AlertState.FIRING)]


def test_a_pending_alert_that_ends_is_dropped_as_never_fired() -> None:
    feed = Feed(AlertEngine([rule(for_s=10.0)]))
    feed.tick(a=0.95)
    [ended] = feed.tick(a=0.5)
    assert ended.state is AlertState.RESOLVED and ended.fired_at is None
    assert feed.engine.active() == []


def test_a_firing_alert_resolves_when_the_expression_no_longer_returns_it() -> None:
    feed = Feed(AlertEngine([rule()]))
    feed.tick(a=0.95)
    [resolved] = feed.tick(a=0.5)
    assert resolved.state is AlertState.RESOLVED and resolved.resolved_at == feed.now
    assert resolved.value == 0.95   # the last value that matched


def test_keep_firing_for_holds_a_firing_alert_after_the_condition_ends() -> None:
    feed = Feed(AlertEngine([rule(keep_firing_for_s=3.0)]))
    feed.tick(a=0.95)
    assert feed.states(a=0.5) == [] and feed.states(a=0.5) == [] and feed.states(a=0.5) == []
    assert feed.states(a=0.5) == [("a", AlertState.RESOLVED)]


def test_keep_firing_for_restarts_when_the_condition_returns() -> None:
    feed = Feed(AlertEngine([rule(keep_firing_for_s=2.0)]))
    feed.tick(a=0.95)
    feed.tick(a=0.5)
    feed.tick(a=0.95)
    assert feed.states(a=0.5) == [] and feed.states(a=0.5) == []
    assert feed.states(a=0.5) == [("a", AlertState.RESOLVED)]


def test_without_hysteresis_a_value_oscillating_around_the_threshold_flaps() -> None:
    feed = Feed(AlertEngine([rule()]))
    transitions = [t for v in [0.91, 0.89] * 5 for t in feed.tick(a=v)]
    assert len(transitions) == 10


def test_with_clear_expr_an_oscillating_value_fires_once_and_resolves_once_below_the_clear_level() -> None:
    feed = Feed(AlertEngine([rule(clear_expr=f"{METRIC} < 0.85")]))
    transitions = [t for v in [0.91, 0.89] * 5 for t in feed.tick(a=v)]
    assert [t.state for t in transitions] == [AlertState.FIRING]
    assert feed.states(a=0.86) == []
    assert feed.states(a=0.84) == [("a", AlertState.RESOLVED)]


def test_hysteresis_is_per_series() -> None:
    feed = Feed(AlertEngine([rule(clear_expr=f"{METRIC} < 0.85")]))
    feed.tick(a=0.95, b=0.95)
    assert feed.states(a=0.80, b=0.88) == [("a", AlertState.RESOLVED)]
    assert [a.labels["host"] for a in feed.engine.active()] == ["b"]


def test_one_alert_per_label_set_however_often_it_is_seen() -> None:
    engine = AlertEngine([rule(for_s=5.0)])
    feed = Feed(engine)
    for _ in range(3):
        feed.tick(a=0.95, b=0.97)
    active = engine.active()
    assert sorted(a.labels["host"] for a in active) == ["a", "b"]
    assert len({a.fingerprint for a in active}) == 2


def test_labels_are_the_series_labels_with_the_rules_and_alertname_and_annotations_are_rendered() -> None:
    feed = Feed(AlertEngine([rule()]))
    [alert] = feed.tick(a=0.934)
    assert alert.labels == {"host": "a", "severity": "critical", "alertname": "MemoryHigh"}
    assert alert.annotations == {"summary": "Memory 93.4% used on a"}
    assert alert.escalation == ("clear_caches",) and alert.severity == "critical"


def test_annotations_follow_the_latest_value() -> None:
    feed = Feed(AlertEngine([rule(for_s=10.0)]))
    feed.tick(a=0.95)
    feed.tick(a=0.99)
    assert feed.engine.active()[0].annotations["summary"] == "Memory 99% used on a"


def test_active_lists_the_most_severe_first_then_firing_before_pending() -> None:
    rules = [rule("Info", severity="info"), rule("Pending", for_s=60.0), rule("Firing")]
    feed = Feed(AlertEngine(rules))
    feed.tick(a=0.95)
    assert [a.name for a in feed.engine.active()] == ["Firing", "Pending", "Info"]


def test_a_stale_series_resolves_its_alert() -> None:
    feed = Feed(AlertEngine([rule()], lookback_s=5.0))
    feed.tick(a=0.95)
    for _ in range(4):
        assert feed.tick() == []
    assert feed.states() == [("a", AlertState.RESOLVED)]


def test_a_rule_that_fails_to_evaluate_is_reported_and_the_others_still_run() -> None:
    feed = Feed(AlertEngine([rule(), rule("Broken", expr="quantile_over_time(wf_x, wf_memory_used_ratio[1m])")]))
    feed.tick(a=0.95)
    assert "expects a number" in feed.engine.errors["Broken"]
    assert [a.name for a in feed.engine.active()] == ["MemoryHigh"]


def test_a_held_alert_resolves_once_its_series_is_gone_even_if_never_cleared() -> None:
    feed = Feed(AlertEngine([rule(clear_expr=f"{METRIC} < 0.85")], lookback_s=5.0))
    feed.tick(a=0.95, b=0.95)
    assert feed.tick(a=0.88, b=0.88) == []               # in the band: held
    for _ in range(4):
        assert feed.tick(b=0.88) == []                   # a's last point is still within the lookback
    assert feed.states(b=0.88) == [("a", AlertState.RESOLVED)]
    assert [a.labels["host"] for a in feed.engine.active()] == ["b"]


def test_a_rule_whose_metrics_are_absent_is_skipped_yet_absence_rules_and_tracked_alerts_still_move() -> None:
    rules = [rule("Hot", "wf_gpu_temperature_celsius > 80"),
             rule("Gone", "absent_over_time(wf_gpu_temperature_celsius[1m])")]
    engine = AlertEngine(rules, lookback_s=60.0)
    window = SampleWindow(600.0)
    window.add([Sample("wf_memory_used_ratio", 0.5, "ratio", "test", {}, 0.0)])
    assert [(a.name, a.state) for a in engine.evaluate(window, 1.0)] == [("Gone", AlertState.FIRING)]
    window.add([Sample("wf_gpu_temperature_celsius", 90.0, "°C", "test", {"gpu": "0"}, 2.0)])
    assert {(a.name, a.state) for a in engine.evaluate(window, 2.0)} == {
        ("Hot", AlertState.FIRING), ("Gone", AlertState.RESOLVED)}
    assert {(a.name, a.state) for a in engine.evaluate(window, 100.0)} == {   # the sensor went quiet
        ("Hot", AlertState.RESOLVED), ("Gone", AlertState.FIRING)}
