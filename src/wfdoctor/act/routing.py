"""The router: alert transitions in, grouped and paced notifications out, as Alertmanager does.

The monitor calls `submit` from its sampling tick, so `submit` only updates the
groups and wakes the delivery task; sending happens in tasks of their own, each
bounded by the retry policy's deadline, so a receiver that refuses or never answers
delays nothing but its own delivery. Timing follows Alertmanager: a new group waits
`group_wait` (to collect its siblings), changes go out at the next `group_interval`,
an unchanged firing group is repeated every `repeat_interval`, a resolved alert is
announced once to the receivers that heard it fire. A global rate limit caps the
noise of a flapping machine; what it drops is counted and retried at the group's
next interval.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp

from wfdoctor.act.payloads import Notification, group_key
from wfdoctor.act.receivers import (Delivery, Integration, RetryPolicy, deliver, integrations, record,
                                    resend_interval)
from wfdoctor.config.matchers import matches_all
from wfdoctor.config.routing import GROUP_BY_ALL, RouteNode, RoutingConfig, resolve_route
from wfdoctor.model import Alert, AlertState
from wfdoctor.sense.backends.http import make_session

HISTORY = 512          # deliveries kept for the views and the store
RATE_WINDOW_S = 60.0   # the rate limit is per minute
MAX_IDLE_S = 1.0       # the delivery task looks at the clock at least this often (a wall clock can jump)


def matching_routes(node: RouteNode, labels: Mapping[str, str]) -> list[RouteNode]:
    """Alertmanager's walk: the deepest matching routes, siblings tried in order until one without `continue`."""
    if not matches_all(node.matchers, labels):
        return []
    found: list[RouteNode] = []
    for child in node.routes:
        matched = matching_routes(child, labels)
        found += matched
        if matched and not child.continue_:
            break
    return found or [node]


def group_labels(node: RouteNode, labels: Mapping[str, str]) -> dict[str, str]:
    if GROUP_BY_ALL in node.group_by:
        return dict(labels)
    return {name: labels[name] for name in node.group_by if name in labels}


@dataclass
class _Group:
    """One alert group at one route: its alerts and what its receiver was last told."""

    route: RouteNode
    key: str
    labels: dict[str, str]
    integrations: list[Integration]
    interval_s: float
    repeat_s: float
    next_flush: float
    alerts: dict[str, Alert] = field(default_factory=dict)
    sent: dict[str, AlertState] = field(default_factory=dict)
    last_notified: float | None = None


class Router:
    def __init__(self, config: RoutingConfig, *, clock: Callable[[], float] = time.time,
                 is_silenced: Callable[[Alert], bool] = lambda alert: False,
                 on_delivery: Callable[[Delivery], None] = lambda delivery: None) -> None:
        """`on_delivery` hears every finished delivery: a receiver that fails must reach the monitor's log."""
        self._config = config
        self._on_delivery = on_delivery
        self._root = resolve_route(config.route)
        self._clock = clock
        self._is_silenced = is_silenced
        self._policy = RetryPolicy(config.retries, config.retry_backoff, config.delivery_timeout)
        self._groups: dict[tuple[int, str], _Group] = {}
        self._sent_times: deque[float] = deque()
        self._history: deque[Delivery] = deque(maxlen=HISTORY)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self._closing = False
        self.dropped = 0  # notifications over the rate limit

    @property
    def deliveries(self) -> list[Delivery]:
        return list(self._history)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def submit(self, alerts: Sequence[Alert]) -> None:
        """Put this tick's transitions into their groups; never waits.

        Pending alerts are not routed, nor is one that resolved without ever firing
        (`fired_at` None): nobody was told it started, so nobody is told it ended."""
        now = self._clock()
        for alert in alerts:
            if alert.state is AlertState.FIRING or (alert.state is AlertState.RESOLVED and alert.fired_at is not None):
                for node in matching_routes(self._root, alert.labels):
                    self._place(node, alert, now)
        self._wake.set()

    def _place(self, node: RouteNode, alert: Alert, now: float) -> None:
        labels = group_labels(node, alert.labels)
        key = group_key(node.key, labels)
        group = self._groups.get((id(node), key))  # id: sibling routes may share Alertmanager's key
        if group is None:
            if alert.state is AlertState.RESOLVED:
                return  # nobody was told it fired
            made = integrations(self._config.receiver(node.receiver))
            resend = resend_interval(made) or node.repeat_interval_s
            group = _Group(node, key, labels, made, min(node.group_interval_s, resend),
                           min(node.repeat_interval_s, resend), now + node.group_wait_s)
            self._groups[(id(node), key)] = group
        group.alerts[alert.fingerprint] = alert

    def flush_due(self) -> int:
        """Notify every group whose time has come; returns how many notifications were started."""
        now = self._clock()
        return sum(self._flush(slot, now) for slot, group in list(self._groups.items()) if group.next_flush <= now)

    def _flush(self, slot: tuple[int, str], now: float, closing: bool = False) -> bool:
        group = self._groups[slot]
        group.next_flush = now + group.interval_s
        visible = {fp: alert for fp, alert in group.alerts.items() if not self._is_silenced(alert)}
        for fp in [fp for fp, alert in group.alerts.items() if alert.state is AlertState.RESOLVED
                   and (fp not in visible or group.sent.get(fp) is not AlertState.FIRING)]:
            visible.pop(fp, None)  # over while silenced, or before anyone heard it fire: nothing to tell
            del group.alerts[fp]
        changed = any(group.sent.get(fp) is not alert.state for fp, alert in visible.items())
        firing = any(alert.state is AlertState.FIRING for alert in visible.values())
        repeat = firing and not closing and group.last_notified is not None and \
            now - group.last_notified >= group.repeat_s
        started = bool(visible) and (changed or repeat) and self._notify(group, visible, now)
        if not group.alerts:
            del self._groups[slot]
        return started

    def _notify(self, group: _Group, alerts: Mapping[str, Alert], now: float) -> bool:
        notification = Notification(group.route.receiver, group.key, group.labels,
                                    tuple(sorted(alerts.values(), key=lambda a: (a.name, sorted(a.labels.items())))), now,
                                    self._config.external_url)
        if not self._take_rate_slot(now):
            self.dropped += 1
            reason = f"over the rate limit of {self._config.rate_limit_per_minute} notifications a minute"
            self._history.extend(record(i, notification, "dropped", reason, 0) for i in group.integrations)
            return False
        group.sent = {fp: alert.state for fp, alert in alerts.items() if alert.state is AlertState.FIRING}
        for fp in [fp for fp, alert in alerts.items() if alert.state is AlertState.RESOLVED]:
            del group.alerts[fp]
        group.last_notified = now
        for integration in group.integrations:
            task = asyncio.get_running_loop().create_task(self._deliver(integration, notification))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return True

    def _take_rate_slot(self, now: float) -> bool:
        while self._sent_times and self._sent_times[0] <= now - RATE_WINDOW_S:
            self._sent_times.popleft()
        if len(self._sent_times) >= self._config.rate_limit_per_minute:
            return False
        self._sent_times.append(now)
        return True

    async def _deliver(self, integration: Integration, notification: Notification) -> None:
        try:
            done = await deliver(integration, notification, self._session(), self._policy)
        except asyncio.CancelledError:
            self._history.append(record(integration, notification, "failed", "cancelled at shutdown", 0))
            raise
        self._history.append(done)
        self._on_delivery(done)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = make_session(self._config.delivery_timeout)
        return self._http

    def _next_due(self) -> float | None:
        return min((group.next_flush for group in self._groups.values()), default=None)

    async def run(self) -> None:
        """Flush groups as they come due until `aclose`; `submit` wakes it early."""
        while not self._closing:
            self._wake.clear()
            self.flush_due()
            due = self._next_due()
            wait = MAX_IDLE_S if due is None else min(MAX_IDLE_S, max(0.0, due - self._clock()))
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass

    async def wait_idle(self) -> None:
        """Until every started delivery has finished (each is bounded by the delivery timeout)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Send what has changed and not been told yet, give deliveries `timeout_s`, cancel the rest."""
        self._closing = True
        self._wake.set()
        now = self._clock()
        for slot in list(self._groups):
            self._flush(slot, now, closing=True)
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None

    def groups(self) -> Iterator[tuple[str, str, int]]:
        """(receiver, group key, alerts) of the groups held now: for views and tests."""
        for group in self._groups.values():
            yield group.route.receiver, group.key, len(group.alerts)
