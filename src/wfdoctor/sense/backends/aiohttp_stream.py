"""Reading streams with aiohttp: the first client, kept selectable (`--client aiohttp`) beside the lean one.

aiohttp parses the response and wakes a coroutine for every read, so each
streamed token costs its per-chunk machinery (10-14 µs of CPU a token here, see
benchmarks/bench_token_client.py). It stays as a second opinion: the fault
suite runs against both clients, and the two must agree on every count and time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import aiohttp

from wfdoctor.sense.backends.answers import DETAIL_CHARS, one_line
from wfdoctor.sense.backends.http import (CLOSED_CONNECTION_ERRORS, MAX_RESPONSE_BYTES, RESPONSE_TOO_LARGE,
                                         TRANSPORT_ERRORS, error_text, fresh_connection)
from wfdoctor.sense.backends.streaming import LINE_TOO_LONG, MAX_LINE_BYTES, Reads

# How one attempt at a request ended (see `_send`).
Attempt = Literal["read", "rejected", "stale"]


async def _send(client: aiohttp.ClientSession, url: str, body: dict[str, Any], reads: Reads,
                answered: asyncio.Event | None) -> Attempt:
    """One attempt at the request, its stamped reads appended to `reads`.

    "stale": it failed on a reused keep-alive connection before any response
    byte; the server had closed that connection, so the request never reached
    it and may be sent again. "rejected": an HTTP error status, in `error`.
    "read": the stream was read, to its end or to a failure in `error`.
    """
    stamp: dict[str, Any] = {}
    clock = time.perf_counter_ns
    arrivals, chunks = reads.arrivals, reads.chunks
    size = unterminated = 0  # bytes so far; bytes since the last newline
    try:
        async with client.post(url, json=body, trace_request_ctx=stamp) as response:
            reads.first_byte_ns = time.perf_counter_ns()
            reads.sent_ns = stamp.get("sent_ns", reads.sent_ns)
            if response.status >= 400:
                detail = one_line((await response.content.read(DETAIL_CHARS)).decode("utf-8", "replace"))
                reads.error = f"HTTP {response.status}: {detail}"
                return "rejected"
            content = response.content
            async for chunk in content.iter_any():
                # The hot loop: stamp, keep and count. Whatever else is already buffered
                # arrived by now too: take it in the same turn (one wake-up, not one per event).
                arrived = clock()
                if not content.is_eof():
                    chunk += content.read_nowait()
                arrivals.append(arrived)
                chunks.append(chunk)
                if answered is not None:
                    answered.set()
                    answered = None
                size += len(chunk)
                newline = chunk.rfind(b"\n")
                unterminated = unterminated + len(chunk) if newline < 0 else len(chunk) - newline - 1
                if unterminated > MAX_LINE_BYTES or size > MAX_RESPONSE_BYTES:
                    reads.error = LINE_TOO_LONG if unterminated > MAX_LINE_BYTES else RESPONSE_TOO_LARGE
                    break
    except CLOSED_CONNECTION_ERRORS as exc:
        if stamp.get("reused") and reads.first_byte_ns is None:
            return "stale"
        reads.error = error_text(exc)
    except TRANSPORT_ERRORS as exc:
        reads.error = error_text(exc)
    return "read"


class AiohttpStreams:
    """A `StreamClient` over an aiohttp session (the backend's own: it closes it, not this)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def read_stream(self, url: str, body: dict[str, Any], answered: asyncio.Event | None) -> Reads:
        """The clock starts at aiohttp's chunk-sent hook: when the request's last byte is written."""
        reads = Reads(sent_ns=time.perf_counter_ns())
        attempt = await _send(self.session, url, body, reads, answered)
        if attempt == "stale":
            reads.reconnects += 1
            reads.sent_ns = time.perf_counter_ns()
            async with fresh_connection(self.session) as fresh:
                attempt = await _send(fresh, url, body, reads, answered)
        reads.done_ns = time.perf_counter_ns()
        reads.rejected = attempt == "rejected"
        return reads

    async def aclose(self) -> None:
        """Nothing of its own to close: the session belongs to the backend."""
