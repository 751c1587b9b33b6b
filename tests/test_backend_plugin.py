"""Backends as plugins: a protocol declared in one module (this file) is registered,
discovered and measured by the tokens pipeline without touching any other module;
the registry keeps names unique, tries protocols in a known order, and loads
entry points once, naming a broken plugin."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

import wfdoctor
from wfdoctor.model import WfdoctorError
from wfdoctor.sense.backends import ollama, openai, registry
from wfdoctor.sense.backends.base import BackendStatus, GenerationRequest, ModelInfo, ServerReports, StreamTrace
from wfdoctor.sense.backends.discovery import discover
from wfdoctor.sense.backends.http import get_json
from wfdoctor.sense.backends.http_backend import HttpProtocol
from wfdoctor.sense.backends.registry import Registry, register
from wfdoctor.sense.backends.streaming import StreamClient, stream_request

# --- a made-up server: GET /health, POST /generate streaming one JSON line per token ---

SERVER_NAME = "tinyllm 0.1"
MODELS = ["tiny-1", "tiny-2"]


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"name": SERVER_NAME, "models": MODELS})


async def _generate(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    response = web.StreamResponse()
    await response.prepare(request)
    for index in range(body["max_tokens"]):
        await asyncio.sleep(0.004)
        await response.write(json.dumps({"token": f" w{index}"}).encode() + b"\n")
    await response.write(json.dumps({"done": True, "tokens": body["max_tokens"]}).encode() + b"\n")
    await response.write_eof()
    return response


class TinyServer:
    """The made-up server on a free loopback port, in its own thread and event loop
    (the pipeline under test runs its own loops)."""

    def __init__(self) -> None:
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._runner: web.AppRunner | None = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.add_routes([web.get("/health", _health), web.post("/generate", _generate)])
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    def __enter__(self) -> TinyServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


# --- its protocol, declared completely in one place ---

async def probe_tiny(client: aiohttp.ClientSession, url: str) -> BackendStatus:
    health = await get_json(client, f"{url}/health")
    return BackendStatus(url=url, kind="tiny", answered=True, version=str(health["name"]),
                         models=[ModelInfo(name=str(name), loaded=True) for name in health["models"]])


async def identify_tiny(client: aiohttp.ClientSession, url: str) -> str:
    return str((await get_json(client, f"{url}/health"))["name"])


def _tiny_line(line: bytes, trace: StreamTrace, arrived: int) -> None:
    event = json.loads(line)
    if "token" in event:
        trace.token_ns.append(arrived)
        trace.pieces.append(event["token"])
    if event.get("done"):
        trace.completed = True
        trace.server["completion_tokens"] = float(event["tokens"])


async def stream_tiny(client: StreamClient, url: str, request: GenerationRequest, model: str,
                      answered: asyncio.Event | None) -> StreamTrace:
    body = {"model": model, "prompt": request.prompt, "max_tokens": request.max_tokens}
    return await stream_request(client, f"{url}/generate", body, _tiny_line, answered)


def tiny_protocol(url: str, name: str = "tiny") -> HttpProtocol:
    return HttpProtocol(name=name, default_urls=(url,), probe=probe_tiny, identify=identify_tiny, stream=stream_tiny,
                        reports=ServerReports(token_count="server tokens field", fills=frozenset({"completion_tokens"})))


PLUGIN = tiny_protocol("http://127.0.0.1:9", name="tiny-plugin")  # what a third-party entry point names
NOT_A_PROTOCOL = "tiny"


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """The process registry replaced for one test, so what a test registers does not leak."""
    fresh = Registry()
    monkeypatch.setattr(registry, "REGISTRY", fresh)
    return fresh


@pytest.fixture
def tiny_server() -> Iterator[TinyServer]:
    with TinyServer() as server:
        yield server


# --- the pipeline, end to end ---

def test_a_registered_protocol_is_discovered_and_measured_by_the_tokens_pipeline(
        tmp_path: Path, fresh_registry: Registry, tiny_server: TinyServer) -> None:
    register(tiny_protocol(tiny_server.url))
    statuses = asyncio.run(discover(timeout_s=0.5))
    report = wfdoctor.measure_tokens(wfdoctor.TokensOptions(backend_url=tiny_server.url, runs=3, max_tokens=12,
                                                            measure_bandwidth=False, embedded=False),
                                     db=tmp_path / "x.db")
    [found] = [s for s in statuses if s.kind == "tiny"]
    assert found.answered and found.url == tiny_server.url and [m.name for m in found.models] == MODELS
    [level] = report.levels
    assert (level.requests, level.ok) == (3, 3)
    assert level.p50("decode_tps")
    assert (report.protocol, report.implementation, report.model) == ("tiny", SERVER_NAME, "tiny-1")
    assert {(r.output_tokens, r.output_tokens_source) for r in report.requests[1]} == {(12, "server tokens field")}


# --- the registry ---

def test_protocol_names_are_unique(fresh_registry: Registry) -> None:
    register(tiny_protocol("http://127.0.0.1:9"))
    with pytest.raises(WfdoctorError, match="'tiny' is registered twice"):
        register(tiny_protocol("http://127.0.0.1:10"))
    with pytest.raises(WfdoctorError, match="'ollama' is registered twice"):
        register(replace(tiny_protocol("http://127.0.0.1:9"), name="ollama"))


def test_built_ins_come_first_and_a_plugin_may_go_before_a_more_general_protocol(fresh_registry: Registry) -> None:
    assert fresh_registry.names() == ["ollama", "openai", "inprocess"]
    register(tiny_protocol("http://127.0.0.1:9"))
    register(tiny_protocol("http://127.0.0.1:9", name="vendor-openai"), before="openai")
    assert fresh_registry.names() == ["ollama", "vendor-openai", "openai", "inprocess", "tiny"]
    with pytest.raises(WfdoctorError, match="no backend protocol named 'nope'"):
        register(tiny_protocol("http://127.0.0.1:9", name="late"), before="nope")


def test_discovery_probes_default_urls_in_registry_order_and_the_first_protocol_to_answer_names_the_server(
        fresh_registry: Registry, tiny_server: TinyServer) -> None:
    register(tiny_protocol(tiny_server.url))
    register(tiny_protocol(tiny_server.url, name="tiny-first"), before="ollama")
    statuses = asyncio.run(discover(timeout_s=0.5))
    assert [s.url for s in statuses] == [tiny_server.url, *ollama.PROTOCOL.default_urls, *openai.PROTOCOL.default_urls]
    assert statuses[0].kind == "tiny-first"
    [named] = asyncio.run(discover([tiny_server.url + "/"]))
    assert named.kind == "tiny-first" and named.url == tiny_server.url


def test_a_url_no_protocol_speaks_is_reported_as_such(fresh_registry: Registry) -> None:
    [status] = asyncio.run(discover(["ftp://127.0.0.1:21"]))
    assert not status.answered and status.error == "no registered protocol speaks this URL"


def _entry_points(monkeypatch: pytest.MonkeyPatch, *values: tuple[str, str]) -> list[str]:
    """Serve `(name, value)` entry points of the backend group; returns the list of groups asked for."""
    asked: list[str] = []

    def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
        asked.append(group)
        return [importlib.metadata.EntryPoint(name, value, group) for name, value in values]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return asked


def test_entry_points_are_loaded_once_on_the_first_look_up(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _entry_points(monkeypatch, ("tiny-plugin", f"{__name__}:PLUGIN"))
    plugins = Registry()
    assert asked == []  # creating the registry (importing wfdoctor) loads nothing
    assert plugins.names()[-1] == "tiny-plugin" and plugins.named("tiny-plugin") is PLUGIN
    plugins.speaking("http://127.0.0.1:9")
    assert asked == ["wfdoctor.backends"]


@pytest.mark.parametrize(("value", "message"), [
    ("wfdoctor_no_such_plugin:PROTOCOL", r"backend plugin 'broken' \(wfdoctor_no_such_plugin:PROTOCOL\) failed to load"),
    (f"{__name__}:NOT_A_PROTOCOL", r"backend plugin 'broken' \(.*\) is not a backend protocol"),
])
def test_a_broken_plugin_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    _entry_points(monkeypatch, ("broken", value))
    with pytest.raises(WfdoctorError, match=message):
        Registry().names()


@pytest.mark.parametrize(("protocol", "lines"), [
    (ollama, [b'{"message": {"content": "Hi"}, "done": false}',
              b'{"done": true, "done_reason": "stop", "load_duration": 1000, "prompt_eval_count": 3, '
              b'"prompt_eval_duration": 2000, "eval_count": 1, "eval_duration": 3000, "total_duration": 7000}']),
    (openai, [b'data: {"choices": [{"delta": {"content": "Hi"}}], "timings": {"prompt_n": 3, "prompt_ms": 2.0, '
              b'"predicted_n": 1, "predicted_ms": 3.0}}',
              b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}', b"data: [DONE]"]),
])
def test_built_in_protocols_fill_only_the_server_numbers_they_declare(protocol: object, lines: list[bytes]) -> None:
    trace = StreamTrace(sent_ns=0)
    for arrived, line in enumerate(lines):
        protocol._handle_line(line, trace, arrived)  # type: ignore[attr-defined]
    assert trace.completed and trace.server
    assert set(trace.server) <= protocol.PROTOCOL.reports.fills  # type: ignore[attr-defined]
