"""The HTTP client for every backend: aiohttp, chosen by measurement.

Against the scripted fake server with 32 streams opened at once, httpx took
68 ms (p50) from request to response headers and aiohttp 8 ms; at 128 streams
207 ms against 21 ms (scripts and numbers in docs/tokens.md). Since TTFT is what
we measure, the client's own connection cost must be the smaller one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from wfdoctor.model import WfdoctorError

# What a request can fail with on the wire: refused, reset, cut, timed out.
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)
# How writing a request on a keep-alive connection the server has already closed fails:
# "Can not write request body" (ClientOSError) or "Server disconnected".
CLOSED_CONNECTION_ERRORS = (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)


class HttpStatusError(Exception):
    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(f"HTTP {status}" + (f": {detail}" if detail else ""))
        self.status = status


async def _stamp_sent(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
    """Record when the request's bytes were written (the last body chunk wins)."""
    stamp = context.trace_request_ctx
    if isinstance(stamp, dict):
        stamp["sent_ns"] = time.perf_counter_ns()


async def _mark_reused(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
    """Record that the request went out on a pooled keep-alive connection, which the server may have closed."""
    stamp = context.trace_request_ctx
    if isinstance(stamp, dict):
        stamp["reused"] = True


def _stamps() -> aiohttp.TraceConfig:
    stamper = aiohttp.TraceConfig()
    stamper.on_request_chunk_sent.append(_stamp_sent)
    stamper.on_connection_reuseconn.append(_mark_reused)
    return stamper


def make_session(timeout_s: float, max_streams: int = 8, connect_timeout_s: float = 5.0) -> aiohttp.ClientSession:
    """A session that never queues streams behind its own connection limit.

    `timeout_s` bounds each read (a server that stops sending), not the whole
    stream, so long generations are fine and a hung server is caught.
    """
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(connect_timeout_s, timeout_s), sock_read=timeout_s)
    connector = aiohttp.TCPConnector(limit=max_streams + 8, force_close=False)
    return aiohttp.ClientSession(timeout=timeout, connector=connector, trust_env=False, trace_configs=[_stamps()])


def fresh_connection(like: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """A session for one request on a new connection, with `like`'s timeouts and stamps.

    For the retry after a pooled connection turned out closed: taking another one
    from the same pool could meet the same fate (llama-server closes every one).
    """
    connector = aiohttp.TCPConnector(limit=1, force_close=True)
    return aiohttp.ClientSession(timeout=like.timeout, connector=connector, trust_env=False, trace_configs=[_stamps()])


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        if response.status >= 400:
            raise HttpStatusError(response.status)
        return await response.json(content_type=None)


async def post_json(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Any:
    async with session.post(url, json=body) as response:
        if response.status >= 400:
            raise HttpStatusError(response.status)
        return await response.json(content_type=None)


def error_text(exc: BaseException) -> str:
    """A short, human phrase for a failed request."""
    if isinstance(exc, (HttpStatusError, WfdoctorError)):
        return str(exc)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connection refused" if isinstance(exc.os_error, ConnectionRefusedError) else f"cannot connect: {exc}"
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "connection cut mid-response"
    return f"{type(exc).__name__}: {exc}"
