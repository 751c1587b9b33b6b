"""The monitor's web server: what `/metrics`, `/api/*` and `/healthz` answer, and who may ask."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from tests.prometheus_tools import StubView
from wfdoctor.config.metrics import load_metrics
from wfdoctor.model import ActionRecord, Alert, AlertState, Sample, WfdoctorError
from wfdoctor.surface.web import MAX_BODY_BYTES, start_web

T = TypeVar("T")
Call = Callable[[aiohttp.ClientSession, str], Awaitable[T]]


def served(view: StubView, call: Call[T], token: str | None = None, headers: dict[str, str] | None = None) -> T:
    """Start the server on a free loopback port, run `call(session, url)`, always close."""
    async def main() -> T:
        server = await start_web(view, "127.0.0.1", 0, token)
        try:
            async with aiohttp.ClientSession(headers=headers) as session:
                return await call(session, server.url)
        finally:
            await server.close()
    return asyncio.run(main())


def get(path: str) -> Call[tuple[int, dict[str, str], str]]:
    async def call(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str], str]:
        async with session.get(url + path) as response:
            return response.status, dict(response.headers), await response.text()
    return call


def post(body: bytes | object) -> Call[tuple[int, dict[str, str], str]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()

    async def call(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str], str]:
        async with session.post(url + "/api/samples", data=data,
                                headers={"Content-Type": "application/json"}) as response:
            return response.status, dict(response.headers), await response.text()
    return call


FRAME = {"metric": "wf_ui_frame_time_seconds", "value": 0.016, "unit": "s", "labels": {"page": "council"}}


def test_metrics_parses_and_exposes_only_registered_names() -> None:
    view = StubView(samples=[Sample("wf_cpu_utilization_ratio", 0.4, "ratio", "psutil", {"window_s": "1"}),
                             Sample("wf_swap_used_bytes", 0.0, "bytes", "psutil")])
    status, headers, text = served(view, get("/metrics"))
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert set(families) <= set(load_metrics().specs)
    assert families["wf_cpu_utilization_ratio"].samples[0].value == 0.4


def test_a_pushed_batch_is_acknowledged_only_after_the_monitor_accepted_it() -> None:
    view = StubView()
    status, _, text = served(view, post([FRAME, {**FRAME, "value": 0.033, "ts": 1700000000.0}]))
    assert (status, json.loads(text)) == (202, {"accepted": 2})
    [batch] = view.accepted
    assert [(s.metric, s.value, s.labels, s.source) for s in batch] == [
        ("wf_ui_frame_time_seconds", 0.016, {"page": "council"}, "POST /api/samples"),
        ("wf_ui_frame_time_seconds", 0.033, {"page": "council"}, "POST /api/samples")]
    assert batch[1].ts == 1700000000.0 and batch[0].ts > 1700000000.0


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "body: Invalid JSON"),
    ({"metric": "wf_ui_frame_time_seconds"}, "body: Input should be a valid array"),
    ([{**FRAME, "value": "fast"}], "body[0].value: Input should be a valid number"),
    ([{"metric": "wf_ui_frame_time_seconds", "unit": "s"}], "body[0].value: Field required"),
    ([{**FRAME, "colour": "red"}], "body[0].colour: Extra inputs are not permitted"),
    ([{**FRAME, "labels": {"page": 3}}], "body[0].labels.page: Input should be a valid string"),
    ([FRAME, {**FRAME, "metric": "wf_made_up_seconds"}], "body[1].metric: 'wf_made_up_seconds' is not registered"),
    ([{**FRAME, "unit": "ms"}], "body[0].unit: 'wf_ui_frame_time_seconds' is registered with unit 's', not 'ms'"),
    ([{**FRAME, "labels": {"page-name": "x"}}], "body[0].labels: 'page-name' is not a Prometheus label name"),
    ([{"metric": "wf_memory_used_ratio", "value": 0.99, "unit": "ratio"}],   # would raise alerts, start recovery
     "body[0].metric: 'wf_memory_used_ratio' is measured by the monitor itself and cannot be pushed"),
])
def test_a_refused_push_answers_400_with_a_one_line_reason(body: bytes | object, reason: str) -> None:
    view = StubView()
    status, _, text = served(view, post(body))
    error = json.loads(text)["error"]
    assert status == 400 and error.startswith(reason) and "\n" not in error
    assert view.accepted == []


def test_a_sample_the_monitor_refuses_is_400_too() -> None:
    status, _, text = served(StubView(refuse="store: unit mismatch"), post([FRAME]))
    assert (status, json.loads(text)["error"]) == (400, "store: unit mismatch")


def test_an_overloaded_monitor_answers_429_with_retry_after() -> None:
    status, headers, text = served(StubView(overloaded=True), post([FRAME]))
    assert status == 429 and int(headers["Retry-After"]) >= 1 and "overloaded" in json.loads(text)["error"]


def test_a_body_over_the_limit_is_413_and_never_reaches_the_monitor() -> None:
    view = StubView()
    status, _, _ = served(view, post(b"[" + b" " * MAX_BODY_BYTES + b"]"))
    assert status == 413 and view.accepted == []


def test_alerts_actions_and_health_are_json() -> None:
    alert = Alert("HighMemory", {"alertname": "HighMemory", "severity": "critical"}, {"summary": "RAM 96 %"},
                  AlertState.FIRING, 0.96, 10.0, fired_at=40.0, escalation=("unload_idle_models",))
    action = ActionRecord("unload_model", "ollama:llama3", "L1", False, "RAM 96 %", {"ram": 0.96}, {"ram": 0.7},
                          alert="HighMemory", outcome="dry run")
    view = StubView(alerts=[alert], actions=[action])
    [alerts, actions, health] = [json.loads(served(view, get(path))[2])
                                 for path in ("/api/alerts", "/api/actions", "/healthz")]
    assert alerts[0]["name"] == "HighMemory" and alerts[0]["state"] == "firing"
    assert alerts[0]["fingerprint"] == alert.fingerprint and alerts[0]["escalation"] == ["unload_idle_models"]
    assert actions[0]["kind"] == "unload_model" and actions[0]["outcome"] == "dry run"
    assert health["status"] == "ok"


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/api/alerts", "/api/actions"])
def test_with_a_token_every_request_needs_it(path: str) -> None:
    assert served(StubView(), get(path), token="s3cret")[0] == 401
    assert served(StubView(), get(path), token="s3cret", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert served(StubView(), get(path), token="s3cret", headers={"Authorization": "Bearer s3cret"})[0] == 200


def test_a_push_without_the_token_never_reaches_the_monitor() -> None:
    view = StubView()
    assert served(view, post([FRAME]), token="s3cret")[0] == 401 and view.accepted == []


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.org"])
def test_a_non_loopback_address_without_a_token_is_refused(host: str) -> None:
    with pytest.raises(WfdoctorError, match="without a token"):
        asyncio.run(start_web(StubView(), host, 0, None))


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(WfdoctorError, match="empty token"):
        asyncio.run(start_web(StubView(), "127.0.0.1", 0, ""))


def test_a_busy_port_is_one_line_naming_the_address() -> None:
    async def twice() -> None:
        first = await start_web(StubView(), "127.0.0.1", 0, None)
        try:
            await start_web(StubView(), "127.0.0.1", int(first.url.rsplit(":", 1)[1]), None)
        finally:
            await first.close()
    with pytest.raises(WfdoctorError, match=r"cannot listen on 127\.0\.0\.1:\d+"):
        asyncio.run(twice())


def test_metrics_speaks_openmetrics_when_asked_with_units_from_the_names() -> None:
    view = StubView(samples=[Sample("wf_gpu_temperature_celsius", 71.0, "°C", "nvml", {"gpu": "0", "name": "H100"})])

    async def call(session: aiohttp.ClientSession, url: str) -> tuple[str, str]:
        async with session.get(url + "/metrics",
                               headers={"Accept": "application/openmetrics-text; version=1.0.0"}) as response:
            return response.headers["Content-Type"], await response.text()
    content_type, text = served(view, call)
    assert content_type.startswith("application/openmetrics-text")
    families = {family.name: family for family in openmetrics_families(text)}
    assert families["wf_gpu_temperature_celsius"].unit == "celsius"
