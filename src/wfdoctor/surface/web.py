"""The monitor's HTTP side: `/metrics` for Prometheus, `/api/*` for pages and scripts, `/healthz`.

aiohttp, the same asyncio stack the probes use, so the server runs inside the monitor's own
event loop and a scrape reads the monitor's snapshot without threads or locks. It binds to
loopback by default; any other address exposes machine details (process names, models) to the
network, so it is refused without a bearer token, and with a token every request must carry it
(compared in constant time, so response timing does not reveal how much of a guess was right).
`POST /api/samples` is the ingest door (a page's frame reports, a script): the body is bounded,
each sample is validated and checked against the metric registry before the monitor sees it,
and 202 is only answered once the monitor has acknowledged the batch.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import re
import time
from dataclasses import asdict, dataclass
from typing import Annotated

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client.exposition import choose_encoder
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from yarl import URL

from wfdoctor._version import __version__
from wfdoctor.app.monitor_view import MonitorView, Overloaded
from wfdoctor.config.metrics import MetricRegistry, load_metrics
from wfdoctor.model import Sample, WfdoctorError
from wfdoctor.surface.exposition import monitor_registry
from wfdoctor.surface.web_dashboard import CLOSING, PUBLIC_ROUTES, close_streams, dashboard_routes
from wfdoctor.surface.web_ingest import (BODY_DEADLINE_S, CORS, CROSS_ORIGIN_ROUTES, PREFLIGHT_ROUTES, body_error,
                                         ingest_routes, slow_body)

MAX_BODY_BYTES = 1 << 20          # one request of pushed samples; a page reports far less per second
SHUTDOWN_S = 2.0                  # in-flight requests a stopping monitor still answers
RETRY_AFTER_S = "1"               # what a client waits before pushing again when the queue is full
PUSH_SOURCE = "POST /api/samples"
# How far a pushed `ts` may lead the monitor's clock (two machines' clocks). Further, it would become the alert
# window's "now": every series measured here would look stale, and every alert on them resolve, until then.
MAX_AHEAD_S = 60.0
MAX_LABELS = 30                   # per pushed sample (Prometheus' label_limit); each one is in every alert it raises
MAX_LABEL_VALUE = 1024            # characters (label_value_length_limit): a value travels in every alert and scrape
LOG_LINE_CHARS = 300              # what one line of aiohttp's log keeps of a client's garbage
FOREIGN_SITES = ("cross-site", "same-site")   # Sec-Fetch-Site of a page on another origin (another port is same-site)
LABEL_NAME = re.compile(r"(?!__)[a-zA-Z_][a-zA-Z0-9_]*")  # Prometheus's, less its reserved `__` names


class PushedSample(BaseModel):
    """One sample as a client sends it; `source` and `ts` default to the door and the arrival time."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    metric: str = Field(min_length=1)
    value: float = Field(allow_inf_nan=False)
    unit: str = Field(min_length=1)
    source: str = PUSH_SOURCE
    labels: dict[str, Annotated[str, Field(max_length=MAX_LABEL_VALUE)]] = Field(default_factory=dict,
                                                                              max_length=MAX_LABELS)
    ts: float | None = None


PUSHED = TypeAdapter(list[PushedSample])


def parse_samples(body: bytes, registry: MetricRegistry, now: float) -> list[Sample]:
    """The samples of a request body, or WfdoctorError with a one-line reason naming the sample."""
    try:
        pushed = PUSHED.validate_json(body)
    except ValidationError as exc:
        raise body_error(exc) from None
    for index, item in enumerate(pushed):
        spec = registry.spec(item.metric)
        if spec is None:
            raise WfdoctorError(f"body[{index}].metric: '{item.metric}' is not registered in {registry.path}")
        if not spec.pushable:
            raise WfdoctorError(f"body[{index}].metric: '{item.metric}' is measured by the monitor itself and cannot "
                                f"be pushed (pushable: the metrics marked `pushable: true` in {registry.path.name})")
        if item.unit != spec.unit:
            raise WfdoctorError(f"body[{index}].unit: '{item.metric}' is registered with unit '{spec.unit}', "
                                f"not '{item.unit}'")
        if item.ts is not None and item.ts > now + MAX_AHEAD_S:
            raise WfdoctorError(f"body[{index}].ts: {item.ts:.3f} is {item.ts - now:.0f} s ahead of the monitor's "
                                f"clock (at most {MAX_AHEAD_S:g} s; seconds since 1970, not milliseconds)")
        bad = next((key for key in item.labels if not LABEL_NAME.fullmatch(key)), None)
        if bad is not None:
            raise WfdoctorError(f"body[{index}].labels: {bad!r} is not a Prometheus label name "
                                f"({LABEL_NAME.pattern})")
    return [Sample(item.metric, item.value, item.unit, item.source, dict(item.labels),
                   now if item.ts is None else item.ts) for item in pushed]


def _json(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(data, default=str), status=status, headers=headers,
                        content_type="application/json")


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json({"error": reason}, status, headers)


def _routes(view: MonitorView, registry: MetricRegistry) -> list[web.RouteDef]:
    collectors = monitor_registry(view, registry)

    async def metrics(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept"))
        return web.Response(body=encoder(collectors), headers={"Content-Type": content_type})

    async def samples(request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(BODY_DEADLINE_S):
                body = await request.read()  # raises 413 past the application's client_max_size
        except TimeoutError:
            return slow_body()
        try:
            parsed = parse_samples(body, registry, time.time())
            view.accept(parsed)
        except WfdoctorError as exc:
            return _error(400, str(exc))
        except Overloaded as exc:
            return _error(429, f"monitor overloaded, retry later: {exc}", {"Retry-After": RETRY_AFTER_S})
        return _json({"accepted": len(parsed)}, 202)

    async def alerts(request: web.Request) -> web.Response:
        return _json([{**asdict(alert), "state": alert.state.value, "fingerprint": alert.fingerprint}
                      for alert in view.active_alerts()])

    async def actions(request: web.Request) -> web.Response:
        return _json([asdict(action) for action in view.recent_actions()])

    async def healthz(request: web.Request) -> web.Response:
        return _json({"status": "ok", "version": __version__})

    return [web.get("/metrics", metrics), web.post("/api/samples", samples), web.get("/api/alerts", alerts),
            web.get("/api/actions", actions), web.get("/healthz", healthz),
            *ingest_routes(view), *dashboard_routes(view)]


def _bearer_check(token: str) -> Middleware:
    """The token as a bearer header or as `?token=` (EventSource and sendBeacon cannot set headers). The
    dashboard's page and static files are the package's own, not the machine's: served without it."""
    expected = token.encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        # the route the router chose, not a path prefix; a CORS preflight never carries credentials (Fetch spec)
        if request.match_info.route.name in PUBLIC_ROUTES | PREFLIGHT_ROUTES:
            return await handler(request)
        # aiohttp decodes header bytes that are not UTF-8 as surrogates: kept as the bytes they were, not a 500
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        query = request.query.get("token", "")
        if not (scheme.lower() == "bearer" and hmac.compare_digest(given.encode(errors="surrogateescape"), expected)
                or hmac.compare_digest(query.encode(errors="surrogateescape"), expected)):
            # a page of another origin reads the 401 at its door (else it sees only "blocked by CORS policy")
            cors = CORS if request.match_info.route.name in CROSS_ORIGIN_ROUTES else {}
            return _error(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"} | cors)
        return await handler(request)

    return check


def _own_origin_only(token: str | None) -> Middleware:
    """Refuse what another site asks of the monitor through the user's browser.

    Any page the user opens can send a CORS "simple request" (a text/plain POST, a GET) to 127.0.0.1 without a
    preflight: it cannot read the answer, but a POST to /api/samples would be accepted (pushed TTFTs firing
    alerts and recovery), and 16 open /api/stream requests would lock the dashboard out. Browsers say where a
    request comes from (`Origin` on cross-origin requests, `Sec-Fetch-Site` on all): only the page door
    (CROSS_ORIGIN_ROUTES) and the package's own files are open to other origins. A page on a name the attacker
    controls can rebind that name to 127.0.0.1 and read the answers as its own origin (DNS rebinding), so
    without a token the Host must be a loopback name as well."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = _host_name(request.host)
        if token is None and not is_loopback(host):
            return _error(403, f"Host: {host[:80]!r} is not a loopback name (this monitor serves 127.0.0.1 only)")
        route = request.match_info.route.name
        if route in CROSS_ORIGIN_ROUTES or route in PUBLIC_ROUTES:
            return await handler(request)
        origin = request.headers.get("Origin")
        if request.headers.get("Sec-Fetch-Site") in FOREIGN_SITES or (
                origin is not None and origin != f"{request.scheme}://{request.host}"):
            return _error(403, f"{request.path[:80]} answers only the monitor's own pages, not a page of "
                               f"{(origin or 'another site')[:80]}")
        return await handler(request)

    return check


def _host_name(host: str) -> str:
    """The name in a Host header ("[::1]:8471" -> "::1"); "" for one that is not a host at all."""
    try:
        return (URL(f"http://{host}").host or "").strip("[]")
    except ValueError:
        return ""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; a name or wildcard address is not loopback."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def build_app(view: MonitorView, token: str | None, registry: MetricRegistry | None = None) -> web.Application:
    """The application (routes, body limit, token check) without a listening socket."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[
        _own_origin_only(token), *([_bearer_check(token)] if token is not None else [])])
    app.add_routes(_routes(view, registry or load_metrics()))
    app[CLOSING] = asyncio.Event()
    app.on_shutdown.append(close_streams)
    return app


@dataclass
class WebServer:
    """A listening server; `url` has the port the system picked when asked for port 0."""

    url: str
    _runner: web.AppRunner

    async def close(self) -> None:
        await self._runner.cleanup()


class _OneLine(logging.Filter):
    """aiohttp logs what it could not handle (a request line that is not HTTP, a handler's bug) with its
    traceback; anything on the machine can send those, and the monitor's log is one line an event."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            line = " ".join(f"{record.getMessage()}: {type(record.exc_info[1]).__name__}: {record.exc_info[1]}".split())
            record.msg = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in line[:LOG_LINE_CHARS])
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


async def start_web(view: MonitorView, host: str, port: int, token: str | None) -> WebServer:
    """Serve the view on host:port. Refuses a non-loopback address without a token, and an empty token."""
    if token is not None and not token:
        raise WfdoctorError("--token: an empty token would let anyone in; give a secret or leave it out")
    if token is None and not is_loopback(host):
        raise WfdoctorError(f"refusing to serve the monitor on {host}:{port} without a token: another address "
                            f"exposes this machine's processes and models to the network (give --token, or "
                            f"listen on 127.0.0.1)")
    # A stopping monitor waits at most SHUTDOWN_S for requests in flight, not aiohttp's 60 s.
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _OneLine) for f in server_log.filters):
        server_log.addFilter(_OneLine())
    runner = web.AppRunner(build_app(view, token), access_log=None, shutdown_timeout=SHUTDOWN_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise WfdoctorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound = runner.addresses[0][1]
    shown = f"[{host}]" if ":" in host else host
    return WebServer(f"http://{shown}:{bound}", runner)
