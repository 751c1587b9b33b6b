"""Each receiver does its one job: a log line, an appended JSON line, notify-send without a shell, Alertmanager pushes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from tests.monitoring_tools import WebhookSink
from tests.test_routing import Clock, alert, flushed, run
from wfdoctor.act.routing import Router
from wfdoctor.config.routing import RoutingConfig, parse_routing
from wfdoctor.model import AlertState


def receiver(**configs: object) -> RoutingConfig:
    return parse_routing({"route": {"receiver": "r", "group_wait": "0s"}, "receivers": [{"name": "r", **configs}]},
                         "test.yaml")


def deliver_once(config: RoutingConfig) -> Router:
    router = Router(config)

    async def scenario() -> None:
        router.submit([alert("HighMemory", severity="critical")])
        await flushed(router)
        await router.aclose()

    run(scenario)
    return router


def test_the_log_receiver_writes_one_line_naming_the_alerts_with_the_document_attached(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="wfdoctor.alerts"):
        router = deliver_once(receiver(log_configs=[{}]))
    [line] = caplog.records
    assert line.levelno == logging.WARNING and "alert firing: HighMemory[" in line.getMessage()
    assert line.notification["version"] == "4"  # type: ignore[attr-defined]
    assert [d.outcome for d in router.deliveries] == ["sent"]


def test_the_file_receiver_appends_one_document_per_notification(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "alerts.jsonl"
    for _ in range(2):
        deliver_once(receiver(file_configs=[{"path": str(out)}]))
    documents = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["alerts"][0]["labels"]["alertname"] for d in documents] == ["HighMemory", "HighMemory"]


def fake_notify_send(directory: Path) -> Path:
    """A notify-send that writes its arguments, one a line, beside itself."""
    script = directory / "notify-send"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {directory / "args"}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return directory / "args"


def test_the_desktop_receiver_runs_notify_send_with_the_text_as_arguments_never_through_a_shell(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = fake_notify_send(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    hostile = alert("HighMemory", severity="critical")
    hostile.annotations["summary"] = f"$(touch {tmp_path / 'pwned'}); `id`"
    router = Router(receiver(desktop_configs=[{}]))

    async def scenario() -> None:
        router.submit([hostile])
        await flushed(router)
        await router.aclose()

    run(scenario)
    assert [d.outcome for d in router.deliveries] == ["sent"]
    assert args.read_text().splitlines() == ["--app-name=wfdoctor", "--urgency=critical", "--",
                                             "wfdoctor: HighMemory firing", hostile.annotations["summary"]]
    assert not (tmp_path / "pwned").exists()


def test_the_desktop_receiver_is_skipped_with_a_note_where_notify_send_is_absent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    [delivery] = deliver_once(receiver(desktop_configs=[{}])).deliveries
    assert (delivery.outcome, delivery.error) == ("skipped", "notify-send is not installed")


def test_alertmanager_pushes_are_repeated_every_resend_interval_so_alertmanager_keeps_a_firing_alert() -> None:
    clock = Clock()
    with WebhookSink() as sink:
        async def scenario() -> None:
            config = parse_routing({"route": {"receiver": "am", "group_wait": "0s"}, "receivers": [
                {"name": "am", "alertmanager_configs": [{"url": sink.url, "resend_interval": "1m"}]}]}, "test.yaml")
            router = Router(config, clock=clock)
            router.submit([alert("HighMemory")])
            for _ in range(3):
                await flushed(router)
                clock.advance(60)
            router.submit([alert("HighMemory", AlertState.RESOLVED)])
            await flushed(router)
            await router.aclose()

        asyncio.run(scenario())
    bodies = sink.received
    assert len(bodies) == 4
    assert all(isinstance(body, list) and len(body) == 1 for body in bodies)
    ends = [body[0]["endsAt"] for body in bodies if isinstance(body, list)]
    assert ends[0] < ends[1] < ends[2], "each resend extends the alert's validity"
