"""The page door: `POST /api/frames` (wf-perf-monitor.js's reports) and `GET /api/settings`.

Pages run on other origins (WIRTHFORGE's own server, a dev server), so both routes answer CORS:
`Access-Control-Allow-Origin: *` and the OPTIONS preflight. The script posts as `text/plain`, a CORS
"simple request" that needs no preflight and is what `sendBeacon` sends, so text/plain bodies are
parsed as JSON like application/json ones. A report is small (about 1 KiB); the body is bounded at
MAX_FRAMES_BODY before anything is parsed, and every field is bounded by the wire model, because
anything on the machine (any page in any browser) can post here. The model converts the browser's
milliseconds to the vocabulary's seconds; the monitor decides the rest (budget, storage, judgement).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import asdict
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wfdoctor.app.frames import frame_samples
from wfdoctor.app.monitor_view import MonitorView, Overloaded, RateLimited
from wfdoctor.model import FrameReport, ScriptTime, WfdoctorError

MAX_FRAMES_BODY = 64 * 1024
# A report is one packet and a push a few: a body still arriving after this is a client holding a handler and
# a socket open one byte at a time (slow loris), so it is answered 408 and the connection closed.
BODY_DEADLINE_S = 10.0
BODY_TYPES = ("application/json", "text/plain")
RETRY_OVERLOADED_S = 1
PREFLIGHT_ROUTES = frozenset({"frames-preflight", "settings-preflight"})
CROSS_ORIGIN_ROUTES = frozenset({"frames", "settings"}) | PREFLIGHT_ROUTES   # any page may
CORS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT = CORS | {"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                    "Access-Control-Allow-Headers": "Content-Type, Authorization", "Access-Control-Max-Age": "600"}

# Far above anything a browser measures (ms: 30,000 years; bytes: a petabyte), far below what the store refuses:
# 1e300 ms was answered 400 by the store's check naming a metric, not the field, and 1e99 was judged and printed.
MAX_NUMBER = 1e15
Number = Annotated[float, Field(ge=0, le=MAX_NUMBER, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=100_000)]
PageText = Annotated[str, Field(max_length=300)]


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class FrameMs(Wire):
    mean: Number
    p50: Number
    p95: Number
    p99: Number
    max: Number
    jitter: Number


class LongTasks(Wire):
    count: Count
    ms: Number


class ScriptMs(Wire):
    source: PageText
    invoker: PageText
    ms: Number
    forced_layout_ms: Number


class Loaf(Wire):
    supported: bool
    count: Count
    ms: Number
    script_ms: Number
    style_layout_ms: Number
    forced_layout_ms: Number
    scripts: list[ScriptMs] = Field(default_factory=list, max_length=10)


class WireReport(Wire):
    """One report as wf-perf-monitor.js sends it (times in ms, as the browser gives them)."""

    v: Literal[1]
    page: str = Field(min_length=1, max_length=200)
    session: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    interval_s: float = Field(gt=0, le=300, allow_inf_nan=False)
    frames: Count
    frame_ms: FrameMs
    fps: Number
    over_budget: float = Field(ge=0, le=1, allow_inf_nan=False)
    long_tasks: LongTasks
    loaf: Loaf
    dom_nodes: Annotated[int, Field(ge=0, le=MAX_NUMBER)] | None = None
    heap_bytes: Number | None = None
    grade: Literal["EXCELLENT", "GOOD", "POOR", ""] = ""

    def report(self, ts: float) -> FrameReport:
        """The vocabulary's report, in seconds, stamped with the monitor's clock on arrival."""
        frame, loaf = self.frame_ms, self.loaf
        return FrameReport(
            page=self.page, session=self.session, ts=ts, interval_s=self.interval_s, frames=self.frames,
            frame_mean_s=frame.mean / 1000, frame_p50_s=frame.p50 / 1000, frame_p95_s=frame.p95 / 1000,
            frame_p99_s=frame.p99 / 1000, frame_max_s=frame.max / 1000, jitter_s=frame.jitter / 1000, fps=self.fps,
            over_budget_share=self.over_budget, long_tasks=self.long_tasks.count,
            long_task_s=self.long_tasks.ms / 1000, loaf_supported=loaf.supported, long_animation_frames=loaf.count,
            long_animation_s=loaf.ms / 1000, script_s=loaf.script_ms / 1000,
            style_layout_s=loaf.style_layout_ms / 1000, forced_layout_s=loaf.forced_layout_ms / 1000,
            scripts=[ScriptTime(s.source, s.invoker, s.ms / 1000, s.forced_layout_ms / 1000) for s in loaf.scripts],
            dom_nodes=self.dom_nodes, heap_bytes=self.heap_bytes, grade=self.grade)


def parse_report(body: bytes, ts: float) -> FrameReport:
    """The report of a request body, or WfdoctorError with one line naming the field."""
    try:
        wire = WireReport.model_validate_json(body)
    except ValidationError as exc:
        raise body_error(exc) from None
    return wire.report(ts)


def body_error(exc: ValidationError) -> WfdoctorError:
    """A refused request body as one line naming the first field at fault (`body[0].labels: ...`)."""
    first = exc.errors()[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
    return WfdoctorError(f"body{where}: {first['msg']}")


def _json(data: object, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json",
                        headers=CORS | (headers or {}))


async def _bounded_body(request: web.Request) -> bytes | None:
    """The body, or None once it is past MAX_FRAMES_BODY (read no further: a flood costs 64 KiB each)."""
    if request.content_length is not None and request.content_length > MAX_FRAMES_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > MAX_FRAMES_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def slow_body() -> web.Response:
    """408 for a body not whole within BODY_DEADLINE_S; the connection is closed, not kept alive."""
    return web.json_response({"error": f"body: not received within {BODY_DEADLINE_S:g} s"}, status=408,
                             headers=CORS | {"Connection": "close"})


def ingest_routes(view: MonitorView) -> list[web.RouteDef]:
    """Routes for pages that report their frames and read their settings."""

    async def frames(request: web.Request) -> web.Response:
        if request.content_type not in BODY_TYPES:
            return _json({"error": f"Content-Type: {request.content_type} is not one of {', '.join(BODY_TYPES)}"},
                         415)
        try:
            async with asyncio.timeout(BODY_DEADLINE_S):
                body = await _bounded_body(request)
        except TimeoutError:
            return slow_body()
        if body is None:
            return _json({"error": f"body: over {MAX_FRAMES_BODY} bytes (a frame report is about 1 KiB)"}, 413)
        try:
            report = parse_report(body, time.time())
            view.accept_frames(report)
        except WfdoctorError as exc:
            return _json({"error": str(exc)}, 400)
        except RateLimited as exc:
            return _json({"error": str(exc)}, 429, {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))})
        except Overloaded as exc:
            return _json({"error": f"monitor overloaded, retry later: {exc}"}, 429,
                         {"Retry-After": str(RETRY_OVERLOADED_S)})
        return _json({"accepted": len(frame_samples(report))}, 202)

    async def settings(request: web.Request) -> web.Response:
        return _json(asdict(view.ui_settings()), 200)

    async def preflight(request: web.Request) -> web.Response:
        return web.Response(status=204, headers=PREFLIGHT)

    return [web.post("/api/frames", frames, name="frames"),
            web.options("/api/frames", preflight, name="frames-preflight"),
            web.get("/api/settings", settings, name="settings"),
            web.options("/api/settings", preflight, name="settings-preflight")]
