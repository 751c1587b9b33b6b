"""The router groups, paces and delivers alerts as Alertmanager does, and a bad receiver never stalls it.

Timing specs drive an injected clock and call `flush_due` (what the delivery task
does when a group comes due); notifications land in a JSON-lines file receiver,
one webhook document a line.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from tests.monitoring_tools import WebhookSink, dead_url
from wfdoctor.act.routing import Router
from wfdoctor.config.routing import RoutingConfig, parse_routing
from wfdoctor.model import Alert, AlertState


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def alert(name: str, state: AlertState = AlertState.FIRING, severity: str = "warning", at: float = 1_700_000_000.0,
          **labels: str) -> Alert:
    return Alert(name, {"alertname": name, "severity": severity, **labels}, {"summary": f"{name} is up"}, state,
                 1.0, at - 10, fired_at=at, resolved_at=at + 60 if state is AlertState.RESOLVED else None)


def config(text: str, **receivers: str) -> RoutingConfig:
    data = yaml.safe_load(text)
    data.setdefault("receivers", [{"name": name, "file_configs": [{"path": path}]}
                                  for name, path in receivers.items()])
    return parse_routing(data, "test.yaml")


def file_config(path: Path, route: str = "", **settings: Any) -> RoutingConfig:
    text = ("route: {receiver: file, group_by: [alertname], group_wait: 30s, group_interval: 5m, "
            f"repeat_interval: 4h{route}}}")
    return parse_routing({**yaml.safe_load(text), **settings,
                          "receivers": [{"name": "file", "file_configs": [{"path": str(path)}]}]}, "test.yaml")


def sent(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


async def flushed(router: Router) -> None:
    router.flush_due()
    await router.wait_idle()


def test_a_new_group_waits_group_wait_and_collects_its_siblings_into_one_notification(tmp_path: Path) -> None:
    out, clock = tmp_path / "alerts.jsonl", Clock()

    async def scenario() -> None:
        router = Router(file_config(out), clock=clock)
        router.submit([alert("HighMemory", instance="a")])
        clock.advance(10)
        router.submit([alert("HighMemory", instance="b")])
        await flushed(router)
        assert sent(out) == []
        clock.advance(20)
        await flushed(router)
        await router.aclose()

    run(scenario)
    [notification] = sent(out)
    assert [a["labels"]["instance"] for a in notification["alerts"]] == ["a", "b"]
    assert notification["groupLabels"] == {"alertname": "HighMemory"}


def test_alerts_of_different_groups_are_notified_separately(tmp_path: Path) -> None:
    out, clock = tmp_path / "alerts.jsonl", Clock()

    async def scenario() -> None:
        router = Router(file_config(out), clock=clock)
        router.submit([alert("HighMemory"), alert("HighCpu")])
        clock.advance(30)
        await flushed(router)
        await router.aclose()

    run(scenario)
    assert sorted(n["groupLabels"]["alertname"] for n in sent(out)) == ["HighCpu", "HighMemory"]


def test_a_change_waits_for_group_interval_and_an_unchanged_group_repeats_after_repeat_interval(
        tmp_path: Path) -> None:
    out, clock = tmp_path / "alerts.jsonl", Clock()

    async def scenario() -> None:
        router = Router(file_config(out), clock=clock)
        router.submit([alert("HighMemory", instance="a")])
        clock.advance(30)
        await flushed(router)
        router.submit([alert("HighMemory", instance="b")])
        clock.advance(60)
        await flushed(router)
        assert len(sent(out)) == 1, "a change is held until the group interval"
        clock.advance(240)
        await flushed(router)
        assert len(sent(out)) == 2
        for _ in range(3):  # unchanged: nothing at each group interval until four hours have passed
            clock.advance(300)
            await flushed(router)
        assert len(sent(out)) == 2
        clock.advance(4 * 3600)
        await flushed(router)
        await router.aclose()

    run(scenario)
    assert [len(n["alerts"]) for n in sent(out)] == [1, 2, 2]


def test_a_resolved_alert_is_announced_once_and_only_to_those_who_heard_it_fire(tmp_path: Path) -> None:
    out, clock = tmp_path / "alerts.jsonl", Clock()

    async def scenario() -> None:
        router = Router(file_config(out), clock=clock)
        router.submit([alert("HighMemory")])
        clock.advance(30)
        await flushed(router)
        router.submit([alert("HighMemory", AlertState.RESOLVED)])
        router.submit([alert("Flash"), alert("Flash", AlertState.RESOLVED)])  # over before its group_wait
        for _ in range(3):
            clock.advance(300)
            await flushed(router)
        await router.aclose()

    run(scenario)
    firing, resolved = sent(out)
    assert (firing["status"], resolved["status"]) == ("firing", "resolved")
    assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"


def test_pending_alerts_are_not_routed(tmp_path: Path) -> None:
    out, clock = tmp_path / "alerts.jsonl", Clock()

    async def scenario() -> None:
        router = Router(file_config(out), clock=clock)
        router.submit([alert("HighMemory", AlertState.PENDING)])
        clock.advance(3600)
        await flushed(router)
        await router.aclose()

    run(scenario)
    assert sent(out) == []


ROUTE_TREE = """
route:
  receiver: default
  group_wait: 0s
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      {continue_line}
    - matchers: ['alertname=~"High.*"']
      receiver: team
"""


def routed(tmp_path: Path, continue_line: str) -> dict[str, list[str]]:
    paths = {name: tmp_path / f"{name}.jsonl" for name in ("default", "pager", "team")}
    clock = Clock()

    async def scenario() -> None:
        router = Router(config(ROUTE_TREE.format(continue_line=continue_line),
                               **{name: str(path) for name, path in paths.items()}), clock=clock)
        router.submit([alert("HighMemory", severity="critical"), alert("HighCpu"), alert("DiskFull")])
        await flushed(router)
        await router.aclose()

    run(scenario)
    return {name: sorted(a["labels"]["alertname"] for n in sent(path) for a in n["alerts"])
            for name, path in paths.items()}


def test_the_first_matching_route_takes_an_alert_and_the_root_takes_the_unmatched(tmp_path: Path) -> None:
    assert routed(tmp_path, "") == {"default": ["DiskFull"], "pager": ["HighMemory"], "team": ["HighCpu"]}


def test_continue_lets_an_alert_also_reach_the_following_routes(tmp_path: Path) -> None:
    assert routed(tmp_path, "continue: true") == {"default": ["DiskFull"], "pager": ["HighMemory"],
                                                  "team": ["HighCpu", "HighMemory"]}


def test_a_silenced_alert_is_not_notified(tmp_path: Path) -> None:
    out, clock = tmp_path / "alerts.jsonl", Clock()

    async def scenario() -> None:
        router = Router(file_config(out), clock=clock, is_silenced=lambda a: a.labels.get("instance") == "quiet")
        router.submit([alert("HighMemory", instance="quiet"), alert("HighCpu", instance="quiet"),
                       alert("HighCpu", instance="loud")])
        clock.advance(30)
        await flushed(router)
        await router.aclose()

    run(scenario)
    assert [[a["labels"]["instance"] for a in n["alerts"]] for n in sent(out)] == [["loud"]]


def test_the_rate_limit_drops_and_counts_the_excess_and_sends_it_when_the_minute_has_passed(tmp_path: Path) -> None:
    out, clock = tmp_path / "alerts.jsonl", Clock()

    async def scenario() -> None:
        router = Router(file_config(out, rate_limit_per_minute=3), clock=clock)
        router.submit([alert(f"Alert{i}") for i in range(5)])
        clock.advance(30)
        await flushed(router)
        assert (len(sent(out)), router.dropped) == (3, 2)
        assert [d.outcome for d in router.deliveries].count("dropped") == 2
        clock.advance(300)
        await flushed(router)
        await router.aclose()

    run(scenario)
    assert len(sent(out)) == 5


def webhook_config(url: str, retries: int = 2, timeout: str = "500ms", deadline: str = "2s") -> RoutingConfig:
    return parse_routing({"route": {"receiver": "hook", "group_wait": "0s"}, "retries": retries,
                          "retry_backoff": "50ms", "delivery_timeout": deadline,
                          "receivers": [{"name": "hook", "webhook_configs": [{"url": url, "timeout": timeout}]}]},
                         "test.yaml")


def test_a_failing_webhook_is_retried_with_back_off_until_it_takes_the_notification() -> None:
    with WebhookSink(fail_first=2) as sink:
        async def scenario() -> None:
            router = Router(webhook_config(sink.url))
            router.submit([alert("HighMemory")])
            await flushed(router)
            [delivery] = router.deliveries
            assert (delivery.ok, delivery.attempts) == (True, 3)
            await router.aclose()

        run(scenario)
        assert len(sink.received) == 1


async def ticks_while(router: Router, interval_s: float = 0.01) -> list[float]:
    """Submit from a 100 Hz 'sampling tick' until deliveries end; the gaps between ticks."""
    gaps: list[float] = []
    last = time.monotonic()
    while True:
        started = time.monotonic()
        router.submit([alert("HighMemory")])
        gaps.append(time.monotonic() - started)
        router.flush_due()
        await asyncio.sleep(interval_s)
        if router.in_flight == 0 and router.deliveries:
            return gaps
        assert time.monotonic() - last < 10, "a delivery outlived its deadline"


def test_a_dead_receiver_neither_stalls_submit_nor_goes_unrecorded() -> None:
    async def scenario() -> None:
        router = Router(webhook_config(dead_url()))
        gaps = await ticks_while(router)
        assert max(gaps) < 0.1
        [delivery] = router.deliveries
        assert (delivery.outcome, delivery.attempts) == ("failed", 3)
        assert "refused" in delivery.error
        await router.aclose()

    run(scenario)


def test_a_hanging_receiver_is_abandoned_at_its_deadline_while_sampling_goes_on() -> None:
    with WebhookSink(hang=True) as sink:
        async def scenario() -> None:
            router = Router(webhook_config(sink.url, retries=5, timeout="300ms", deadline="1s"))
            gaps = await ticks_while(router)
            assert max(gaps) < 0.1
            [delivery] = router.deliveries
            assert delivery.outcome == "failed" and "no answer within" in delivery.error
            assert 2 <= delivery.attempts <= 4  # the deadline, not the retry count, ended it
            await router.aclose()

        run(scenario)


def test_aclose_sends_what_is_still_waiting_and_gives_up_on_a_hanging_receiver_within_its_bound(
        tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    with WebhookSink(hang=True) as sink:
        async def scenario() -> None:
            data = {"route": {"receiver": "both", "group_wait": "1h"}, "delivery_timeout": "1h",
                    "receivers": [{"name": "both", "file_configs": [{"path": str(out)}],
                                   "webhook_configs": [{"url": sink.url, "timeout": "1h"}]}]}
            router = Router(parse_routing(data, "test.yaml"))
            task = asyncio.create_task(router.run())
            router.submit([alert("HighMemory")])
            started = time.monotonic()
            await router.aclose(timeout_s=0.5)
            assert time.monotonic() - started < 5
            await asyncio.wait_for(task, 5)
            outcomes = sorted((d.integration, d.outcome, d.error) for d in router.deliveries)
            assert outcomes == [("file", "sent", ""), ("webhook", "failed", "cancelled at shutdown")]

        run(scenario)
    assert len(sent(out)) == 1


def test_the_delivery_task_sends_when_group_wait_has_passed_on_the_real_clock() -> None:
    with WebhookSink() as sink:
        async def scenario() -> None:
            data = {"route": {"receiver": "hook", "group_wait": "200ms"},
                    "receivers": [{"name": "hook", "webhook_configs": [{"url": sink.url}]}]}
            router = Router(parse_routing(data, "test.yaml"))
            task = asyncio.create_task(router.run())
            router.submit([alert("HighMemory")])
            for _ in range(200):
                if router.deliveries:
                    break
                await asyncio.sleep(0.02)
            await router.aclose()
            await asyncio.wait_for(task, 5)
            assert [d.outcome for d in router.deliveries] == ["sent"]

        run(scenario)
        [document] = sink.received
        assert isinstance(document, dict) and document["version"] == "4"


def test_a_group_is_forgotten_once_its_alerts_resolved_even_those_resolved_while_silenced(tmp_path: Path) -> None:
    out, clock = tmp_path / "alerts.jsonl", Clock()
    silenced = {"quiet"}

    async def scenario() -> None:
        router = Router(file_config(out), clock=clock, is_silenced=lambda a: a.labels.get("instance") in silenced)
        router.submit([alert("HighMemory", instance="quiet"), alert("HighMemory", instance="loud")])
        clock.advance(30)
        await flushed(router)
        router.submit([alert("HighMemory", AlertState.RESOLVED, instance="quiet"),
                       alert("HighMemory", AlertState.RESOLVED, instance="loud")])
        clock.advance(300)
        await flushed(router)
        assert list(router.groups()) == []
        await router.aclose()

    run(scenario)
    assert [(n["status"], len(n["alerts"])) for n in sent(out)] == [("firing", 1), ("resolved", 1)]
