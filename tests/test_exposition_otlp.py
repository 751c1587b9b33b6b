"""OTLP export: an OpenTelemetry collector receives the monitor's samples under convention names."""

from __future__ import annotations

import asyncio
import builtins
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from tests.prometheus_tools import StubView, in_loop, loop_in_thread
from wfdoctor.app.otlp import MISSING_EXTRA, instruments, start_otlp
from wfdoctor.config.metrics import load_metrics
from wfdoctor.model import Sample, WfdoctorError

CLOSE_BOUND_S = 15.0   # generous: the export timeout is 1 s


@contextmanager
def receiver(stall: bool = False) -> Iterator[tuple[str, list[ExportMetricsServiceRequest]]]:
    """A local OTLP/HTTP receiver recording each POST /v1/metrics (decoded protobuf); `stall` never answers."""
    received: list[ExportMetricsServiceRequest] = []
    release = asyncio.Event()

    async def metrics(request: web.Request) -> web.Response:
        if stall:
            await release.wait()
        received.append(ExportMetricsServiceRequest.FromString(await request.read()))
        return web.Response(body=ExportMetricsServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    async def start() -> web.AppRunner:
        app = web.Application()
        app.add_routes([web.post("/v1/metrics", metrics)])
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    with loop_in_thread() as loop:
        runner = in_loop(loop, start())
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1/metrics", received
        finally:
            loop.call_soon_threadsafe(release.set)
            in_loop(loop, runner.cleanup())


def points(requests: list[ExportMetricsServiceRequest]) -> dict[str, list[tuple[dict[str, str], float, str]]]:
    """metric name -> [(attributes, value, unit)] over every received request."""
    found: dict[str, list[tuple[dict[str, str], float, str]]] = {}
    for request in requests:
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.gauge.data_points:
                        attributes = {item.key: item.value.string_value for item in point.attributes}
                        found.setdefault(metric.name, []).append((attributes, point.as_double, metric.unit))
    return found


VIEW = StubView(samples=[
    Sample("wf_llm_time_to_first_token_seconds", 0.21, "s", "tokens", {"concurrency": "1", "stat": "p50"}),
    Sample("wf_llm_decode_tokens_per_second", 42.0, "tokens/s", "tokens", {"concurrency": "1", "stat": "p50"}),
    Sample("wf_cpu_utilization_ratio", 0.3, "ratio", "psutil", {"window_s": "1"}),
    Sample("wf_cpu_core_utilization_ratio", 0.9, "ratio", "psutil", {"core": "0", "window_s": "1"})])


def test_samples_arrive_under_genai_convention_names_and_wfdoctor_names_otherwise() -> None:
    with receiver() as (url, received):
        export = start_otlp(VIEW, url, interval_s=3600, timeout_s=5)
        try:
            assert export.flush()
        finally:
            export.close()
    found = points(received[:1])  # the flush; close() exports once more
    assert found["gen_ai.server.time_to_first_token"] == [
        ({"concurrency": "1", "stat": "p50", "wfdoctor.metric": "wf_llm_time_to_first_token_seconds"}, 0.21, "s")]
    assert found["wfdoctor.llm_decode_tokens_per_second"] == [({"concurrency": "1", "stat": "p50"}, 42.0,
                                                               "{tokens/s}")]
    assert sorted(found["system.cpu.utilization"], key=lambda item: item[1]) == [
        ({"window_s": "1", "wfdoctor.metric": "wf_cpu_utilization_ratio"}, 0.3, "1"),
        ({"core": "0", "window_s": "1", "wfdoctor.metric": "wf_cpu_core_utilization_ratio"}, 0.9, "1")]
    service = {item.key: item.value.string_value for item in received[0].resource_metrics[0].resource.attributes}
    assert service["service.name"] == "wfdoctor"


def test_metrics_sharing_a_convention_name_share_its_unit() -> None:
    for name, specs in instruments(load_metrics()).items():
        assert len({spec.unit for spec in specs}) == 1, name


def test_close_is_bounded_when_the_collector_never_answers() -> None:
    with receiver(stall=True) as (url, _):
        export = start_otlp(VIEW, url, interval_s=3600, timeout_s=1)
        started = time.monotonic()
        export.close()
        assert time.monotonic() - started < CLOSE_BOUND_S


def test_close_is_bounded_when_nothing_listens() -> None:
    export = start_otlp(VIEW, "http://127.0.0.1:9/v1/metrics", interval_s=3600, timeout_s=1)
    started = time.monotonic()
    export.close()
    assert time.monotonic() - started < CLOSE_BOUND_S


def test_a_missing_extra_is_one_line_naming_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_opentelemetry(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry"):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_opentelemetry)
    for module in [name for name in sys.modules if name.startswith("opentelemetry")]:
        monkeypatch.delitem(sys.modules, module)
    with pytest.raises(WfdoctorError) as error:
        start_otlp(VIEW, "http://127.0.0.1:4318/v1/metrics")
    assert str(error.value) == MISSING_EXTRA and "\n" not in MISSING_EXTRA


def test_the_monitor_exports_over_otlp_when_asked_and_once_more_as_it_stops(wfdoctor) -> None:
    with receiver() as (url, received):
        result = wfdoctor("monitor", "--headless", "--interval", "0.2", "--canary", "off", "--listen", "127.0.0.1:0",
                          "--backend", "http://127.0.0.1:9", "--otlp", url, "--duration", "2", timeout=60)
    assert result.code == 0, result.stderr
    assert f"exporting to {url} over OTLP" in result.stderr
    assert "system.cpu.utilization" in points(received) and "wfdoctor.memory_used_ratio" in points(received)
