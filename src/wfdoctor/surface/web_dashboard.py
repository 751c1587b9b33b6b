"""The dashboard: `/`, `/static/*` (the page, uPlot, wf-perf-monitor.js) and its live feed.

Static files are the package's `data/web` tree read once when the routes are made: a request names a key
of that table or gets 404, so no path from a URL ever reaches the file system (no `..`, no symlink, no
file added later). The feed is Server-Sent Events: one `charts` event per monitor tick with the points a
client has not been sent (each client keeps its own cursor), an `overview` event every OVERVIEW_EVERY_S,
a comment when nothing else was sent for HEARTBEAT_S (proxies close silent connections). At most
MAX_STREAMS clients at once: each one costs a task and a JSON encoding per tick. Streams end when the
server shuts down (`close_streams`), so a stopping monitor does not wait SHUTDOWN_S on an open tab.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

import orjson
from aiohttp import web

from wfdoctor.app.monitor_view import MonitorView
from wfdoctor.model import Alert

MAX_STREAMS = 16
OVERVIEW_EVERY_S = 2.0
HEARTBEAT_S = 15.0
# A write blocks once the client's socket buffers are full: a client that never reads would hold its place in
# MAX_STREAMS for good. A write not done within this drops the client (a real tab reads in milliseconds).
WRITE_DEADLINE_S = 10.0
RETRY_MS = 2000                  # what EventSource waits before reconnecting after the monitor went away
PUBLIC_ROUTES = frozenset({"dashboard", "dashboard-static"})   # the package's own files: no token needed
CLOSING = web.AppKey("dashboard_closing", asyncio.Event)
TYPES = {".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
         ".png": "image/png", ".svg": "image/svg+xml", ".json": "application/json"}
# Only the page's own files and what it loads; inline scripts never run (defence in depth behind textContent).
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
               "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    cache: str


def static_files(root: Traversable | None = None) -> dict[str, StaticFile]:
    """Every file under `data/web`, by its path relative to it ("vendor/uPlot.min.css")."""
    table: dict[str, StaticFile] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif entry.is_file():
                suffix = entry.name[entry.name.rfind("."):] if "." in entry.name else ""
                # vendored files change only with wfdoctor's version; ours may change under a running dev server
                cache = "public, max-age=86400" if prefix.startswith("vendor/") else "no-cache"
                table[prefix + entry.name] = StaticFile(entry.read_bytes(), TYPES.get(suffix, "text/plain"), cache)

    walk(root or files("wfdoctor").joinpath("data", "web"), "")
    return table


def _alert(alert: Alert) -> dict[str, object]:
    return {**asdict(alert), "state": alert.state.value, "fingerprint": alert.fingerprint}


def overview(view: MonitorView) -> dict[str, object]:
    """What the dashboard's panels show (GET /api/overview and the `overview` event)."""
    return {
        "now": time.time(),
        "alerts": [_alert(alert) for alert in view.active_alerts()],
        "recent_alerts": [_alert(alert) for alert in view.recent_alerts()],
        "actions": [asdict(action) for action in view.recent_actions()],
        "findings": [{**{k: v for k, v in finding.to_dict().items() if k != "evidence"},
                      "evidence_count": len(finding.evidence)} for finding in view.current_findings()],
        "runs": [asdict(run) for run in view.recent_runs()],
        "settings": asdict(view.ui_settings()),
    }


def _event(name: str, data: object) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def close_streams(app: web.Application) -> None:
    """on_shutdown: every open stream ends now, before the server waits for handlers in flight."""
    app[CLOSING].set()


def dashboard_routes(view: MonitorView) -> list[web.RouteDef]:
    """Routes of the dashboard page and the data it draws (`build_app` sets CLOSING and close_streams)."""
    table = static_files()
    streams = 0

    def serve(name: str) -> web.Response:
        item = table.get(name)
        if item is None:
            raise web.HTTPNotFound(text="no such file")
        charset = "utf-8" if item.content_type.startswith("text/") else None
        # the page is the page at any of its addresses (/static/index.html too): always under its policy
        policy = {"Content-Security-Policy": PAGE_POLICY} if item.content_type == "text/html" else {}
        return web.Response(body=item.body, content_type=item.content_type, charset=charset,
                            headers={"Cache-Control": item.cache, "X-Content-Type-Options": "nosniff", **policy})

    async def index(request: web.Request) -> web.Response:
        return serve("index.html")

    async def static(request: web.Request) -> web.Response:
        response = serve(request.match_info["path"])
        # a page of another origin imports wf-perf-monitor.js as a module: CORS, for the package's public files
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    async def api_overview(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(overview(view)), content_type="application/json")

    async def stream(request: web.Request) -> web.StreamResponse:
        nonlocal streams
        if streams >= MAX_STREAMS:
            return web.json_response({"error": f"{MAX_STREAMS} dashboards are streaming already; close one"},
                                     status=503, headers={"Retry-After": "5"})
        streams += 1
        try:
            return await _feed(request, view)
        finally:
            streams -= 1

    return [web.get("/", index, name="dashboard"), web.get("/static/{path:.+}", static, name="dashboard-static"),
            web.get("/api/overview", api_overview),
            web.get("/api/stream", stream, allow_head=False)]   # a HEAD got the endless body, and held a place


async def _feed(request: web.Request, view: MonitorView) -> web.StreamResponse:
    """The stream until the server closes; a tab that went away (reset) or stopped reading (WRITE_DEADLINE_S)
    ends it quietly: the monitor's log is for the machine, not for browsers closing tabs."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    closing = request.app[CLOSING]
    closed = asyncio.ensure_future(closing.wait())
    since, seen, shown, said = 0.0, 0, float("-inf"), time.monotonic()   # the overview goes out at once
    try:
        await _send(response, [f"retry: {RETRY_MS}\n\n".encode()])
        while not closing.is_set():
            tick = asyncio.ensure_future(view.next_tick(seen, HEARTBEAT_S))
            await asyncio.wait({tick, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not tick.done():
                tick.cancel()
                break
            seen = tick.result()
            out = []
            series = view.chart_series(since)
            if series:
                since = max(line.until for line in series)
                out.append(_event("charts", {"tick": seen, "series": [asdict(line) for line in series]}))
            now = time.monotonic()
            if now - shown >= OVERVIEW_EVERY_S:
                shown = now
                out.append(_event("overview", overview(view)))
            if not out and now - said >= HEARTBEAT_S:
                out.append(b": heartbeat\n\n")
            if out:
                said = now
                await _send(response, out)
        await response.write_eof()
    except TimeoutError:
        if request.transport is not None:
            request.transport.abort()   # nothing more can reach it: drop what is buffered too
    except ConnectionError:
        pass                            # the tab is gone: nobody to tell
    finally:
        closed.cancel()
    return response


async def _send(response: web.StreamResponse, parts: list[bytes]) -> None:
    await asyncio.wait_for(response.write(b"".join(parts)), WRITE_DEADLINE_S)
