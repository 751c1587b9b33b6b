"""The HTTP client for every backend: aiohttp, chosen by measurement.

Against the scripted fake server with 32 streams opened at once, httpx took
68 ms (p50) from request to response headers and aiohttp 8 ms; at 128 streams
207 ms against 21 ms (scripts and numbers in docs/tokens.md). Since TTFT is what
we measure, the client's own connection cost must be the smaller one.
"""

from __future__ import annotations

import asyncio
import errno
import math
import time
from typing import Any

import aiohttp
import orjson

from wfdoctor.model import WfdoctorError
from wfdoctor.sense.backends.answers import AnswerT, MalformedAnswer, parse

# What a request can fail with on the wire: refused, reset, cut, timed out.
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)
# How writing a request on a keep-alive connection the server has already closed fails:
# "Can not write request body" (ClientOSError), "Server disconnected", or, when the client
# sees the close while it writes, "Cannot write to closing transport" (a ConnectionResetError).
CLOSED_CONNECTION_ERRORS = (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError, ConnectionResetError)
# OS errors that say the peer closed or reset the connection: one kind, whatever layer raised them.
RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})
# The most a server may send for one request (a stream or an answer): 16 MiB, a few
# hundred times a long generation. Beyond it the request ends: the client must not
# buffer whatever a broken server sends.
MAX_RESPONSE_BYTES = 16 << 20
RESPONSE_TOO_LARGE = f"response larger than {MAX_RESPONSE_BYTES} bytes"


class HttpStatusError(Exception):
    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(f"HTTP {status}" + (f": {detail}" if detail else ""))
        self.status = status


class TooLarge(WfdoctorError):
    """A response beyond `MAX_RESPONSE_BYTES`: the request is abandoned, its bytes dropped."""

    def __init__(self) -> None:
        super().__init__(RESPONSE_TOO_LARGE)


# What asking a server for one JSON answer can raise (get_answer, post_answer, get_json).
ANSWER_ERRORS = (*TRANSPORT_ERRORS, HttpStatusError, WfdoctorError)


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

    `timeout_s` is each request's deadline as a whole (a server dripping one
    byte a second never finishes) and the longest silence within it (a server
    that stops sending); the deadline is exact, not rounded up to whole seconds.
    """
    timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(connect_timeout_s, timeout_s),
                                    sock_read=timeout_s, ceil_threshold=math.inf)
    connector = aiohttp.TCPConnector(limit=max_streams + 8, force_close=False)
    return aiohttp.ClientSession(timeout=timeout, connector=connector, trust_env=False, trace_configs=[_stamps()])


def fresh_connection(like: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """A session for one request on a new connection, with `like`'s timeouts and stamps.

    For the retry after a pooled connection turned out closed: taking another one
    from the same pool could meet the same fate (llama-server closes every one).
    """
    connector = aiohttp.TCPConnector(limit=1, force_close=True)
    return aiohttp.ClientSession(timeout=like.timeout, connector=connector, trust_env=False, trace_configs=[_stamps()])


async def bounded_body(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or None once it passes `limit` bytes (the rest is left unread).

    Read to its end, not with `content.read(n)`: that returns what one network
    read brought, so a page arriving in pieces would be cut at the first.
    """
    body = bytearray()
    async for chunk in response.content.iter_any():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def _body(response: aiohttp.ClientResponse) -> bytes:
    """The whole body of a successful answer, at most MAX_RESPONSE_BYTES (else TooLarge)."""
    if response.status >= 400:
        raise HttpStatusError(response.status)
    body = await bounded_body(response, MAX_RESPONSE_BYTES)
    if body is None:
        raise TooLarge()
    return body


async def get_answer(session: aiohttp.ClientSession, url: str, model: type[AnswerT], what: str) -> AnswerT:
    """GET `url` and validate its JSON answer as `model`. Raises one of ANSWER_ERRORS."""
    async with session.get(url) as response:
        return parse(model, await _body(response), what)


async def post_answer(session: aiohttp.ClientSession, url: str, body: dict[str, Any], model: type[AnswerT],
                      what: str) -> AnswerT:
    """POST `body` to `url` and validate its JSON answer as `model`. Raises one of ANSWER_ERRORS."""
    async with session.post(url, json=body) as response:
        return parse(model, await _body(response), what)


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    """GET `url`'s JSON answer, unvalidated: for plugins that check its shape themselves.
    Raises one of ANSWER_ERRORS (MalformedAnswer when it is not JSON)."""
    async with session.get(url) as response:
        data = await _body(response)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedAnswer("JSON answer", str(exc)) from None


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
    # aiohttp's ClientOSError without an errno is a write on a connection its transport already closed ("Can not
    # write request body"): the peer went away while the request was being sent, as a reset says.
    if isinstance(exc, ConnectionResetError) or (isinstance(exc, OSError) and exc.errno in RESET_ERRNOS) or \
            (isinstance(exc, aiohttp.ClientOSError) and exc.errno is None):
        return f"connection reset ({exc})" if str(exc) else "connection reset"
    return f"{type(exc).__name__}: {exc}"
