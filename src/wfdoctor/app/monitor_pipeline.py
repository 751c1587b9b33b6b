"""The monitor's "evaluate rules -> route -> recover" step, behind one small seam.

`Monitor` hands every tick's new samples to a `Watchers` and gets back the alert transitions and
the recovery actions of that tick; it never knows how they were decided. `AlertPipeline` is the
real one: `SampleWindow` + `AlertEngine` (rules), `Router` (notifications, muted by silences) and
`RecoveryResponder` (the L1-L4 ladder). `build_pipeline` assembles it from the options and the
monitor config, importing those parts when called so the monitor module stays cheap to import.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from wfdoctor.app.monitor_silences import SilenceCache
from wfdoctor.model import ActionRecord, Alert, Sample, WfdoctorError

if TYPE_CHECKING:
    from wfdoctor.act.receivers import Delivery
    from wfdoctor.config.facts import Facts
    from wfdoctor.config.monitor import MonitorConfig
    from wfdoctor.store.monitoring import MonitorStore


@dataclass(frozen=True)
class TickOutcome:
    """What one tick decided: alert transitions (pending, firing, resolved) and the actions taken or proposed;
    `failures`: notifications that did not reach their receiver since the last tick, one line each."""

    transitions: list[Alert] = field(default_factory=list)
    actions: list[ActionRecord] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class Watchers(Protocol):
    """What the monitor calls each tick; `run` is its background work (notification delivery);
    `note` says what judges the samples, for the start events."""

    note: str

    async def on_tick(self, samples: Sequence[Sample], now: float,
                      complete: Sequence[Sample] = ()) -> TickOutcome: ...

    def active(self) -> list[Alert]: ...

    async def run(self) -> None: ...

    async def aclose(self) -> None: ...


class NoWatchers:
    """Samples are kept and served, nothing is judged (no alert rules are loaded)."""

    def __init__(self, note: str = "") -> None:
        self.note = note

    async def on_tick(self, samples: Sequence[Sample], now: float,
                      complete: Sequence[Sample] = ()) -> TickOutcome:
        return TickOutcome()

    def active(self) -> list[Alert]:
        return []

    async def run(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class Window(Protocol):
    def add(self, samples: Sequence[Sample]) -> None: ...

    def end_missing(self, reading: Sequence[Sample], ts: float) -> None: ...


class Engine(Protocol):
    def evaluate(self, window: Window, now: float) -> list[Alert]: ...

    def active(self) -> list[Alert]: ...


class Notifier(Protocol):
    def submit(self, alerts: Sequence[Alert]) -> None: ...

    async def run(self) -> None: ...

    async def aclose(self, timeout_s: float = 5.0) -> None: ...


class Responder(Protocol):
    async def on_alerts(self, transitions: Sequence[Alert], active: Sequence[Alert],
                        now: float) -> list[ActionRecord]: ...


class AlertPipeline:
    """Window -> rules -> routing -> recovery, once per tick."""

    def __init__(self, window: Window, engine: Engine, router: Notifier | None, responder: Responder | None,
                 note: str = "", before_tick: Callable[[float], None] = lambda now: None,
                 failures: list[str] | None = None) -> None:
        """`failures` is the list the router's delivery callback appends to; each tick hands it over."""
        self.note = note
        self._failures = failures if failures is not None else []
        self._window = window
        self._engine = engine
        self._router = router
        self._responder = responder
        self._before_tick = before_tick

    async def on_tick(self, samples: Sequence[Sample], now: float,
                      complete: Sequence[Sample] = ()) -> TickOutcome:
        """`complete` is one probe's whole reading: a series of its metrics that it no longer has is stale
        from now on (an exited process), as Prometheus marks a series a scrape no longer has."""
        self._before_tick(now)
        self._window.add(samples)
        if complete:
            self._window.end_missing(complete, max(s.ts for s in complete))
        transitions = self._engine.evaluate(self._window, now)
        if transitions and self._router is not None:
            self._router.submit(transitions)  # never blocks: delivery is the router's own task
        actions = (await self._responder.on_alerts(transitions, self._engine.active(), now)
                   if self._responder is not None else [])
        failures = list(self._failures)
        self._failures.clear()
        return TickOutcome(transitions, actions, failures)

    def active(self) -> list[Alert]:
        return self._engine.active()

    async def run(self) -> None:
        if self._router is not None:
            await self._router.run()

    async def aclose(self) -> None:
        if self._router is not None:
            await self._router.aclose()


@dataclass(frozen=True)
class PipelineContext:
    """What assembling the pipeline needs from the monitor."""

    store: MonitorStore
    run_id: int
    facts: Facts
    tier: str
    config: MonitorConfig
    rules_paths: Sequence[Path]
    lookback_s: float
    apply: bool
    backend_urls: Sequence[str]
    clock: Callable[[], float] = time.time


PipelineFactory = Callable[[PipelineContext], Watchers]


def build_pipeline(context: PipelineContext) -> Watchers:
    """The alerting pipeline from the shipped and user rules, the `routing:` and `recovery:` sections.

    The window keeps each metric as long as the longest range any rule reads it over (and at least the
    lookback), so an `avg_over_time(m[15m])` sees fifteen minutes, not the five a lookback would keep.
    """
    from wfdoctor.act.routing import Router
    from wfdoctor.analyze.alerting import AlertEngine
    from wfdoctor.analyze.window import SampleWindow
    from wfdoctor.app.monitor_baselines import StoredBaselines
    from wfdoctor.app.recover import RecoveryResponder, load_ladder
    from wfdoctor.config.alerts import load_alert_rules, ranges_by_metric
    from wfdoctor.config.recovery import parse_recovery_settings
    from wfdoctor.config.routing import default_routing, parse_routing

    config = context.config
    rules = load_alert_rules(context.facts, context.tier, list(context.rules_paths))
    ladder = load_ladder()
    for rule in rules:
        for step in rule.escalation:
            try:
                ladder.step(step)
            except WfdoctorError as exc:
                raise WfdoctorError(f"{rule.where}: alert {rule.name}: escalation: {exc}") from None
    routing = (parse_routing(config.routing, config.routing_where) if config.routing is not None
               else default_routing())
    failures: list[str] = []  # what the router and the silences could not do, for the next tick's error events
    silences = SilenceCache(context.store, context.clock, failures.append)
    router = Router(routing, clock=context.clock, is_silenced=silences.is_silenced,
                    on_delivery=lambda d: failures.append(delivery_failure(d)) if d.outcome == "failed" else None)
    settings = parse_recovery_settings(config.recovery or {}, config.recovery_where, ladder)
    responder = RecoveryResponder(ladder, settings, context.store, context.run_id, context.apply,
                                  context.backend_urls, facts=context.facts)
    engine = AlertEngine(rules, lookback_s=context.lookback_s)
    baselines = StoredBaselines(context.store, rules, engine)
    window = SampleWindow(context.lookback_s, ranges_by_metric(rules))
    return AlertPipeline(window, engine, router, responder, f"{len(rules)} alert rules", baselines.refresh,
                         failures)


def delivery_failure(delivery: Delivery) -> str:
    """One line: which receiver, where, what it was told, and why it did not arrive."""
    names = ", ".join(sorted({alert.name for alert in delivery.alerts}))
    where = f" {delivery.target}" if delivery.target else ""
    return (f"receiver {delivery.receiver} ({delivery.integration}{where}): {delivery.status} {names} not delivered "
            f"after {delivery.attempts} attempt(s): {delivery.error}")
