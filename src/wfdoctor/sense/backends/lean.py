"""The lean stream client (`--client lean`, the default): streamed generations over a raw asyncio protocol.

Why: on a 2-core machine every microsecond the client spends is taken from
the server it measures. aiohttp wakes a coroutine and runs its payload
machinery for every read; here the event loop calls `data_received`, which
stamps the read and steps over the framing (lean_response), and no coroutine
wakes until the response has ended. Lines are parsed after the stream, as
before. benchmarks/bench_token_client.py measures both clients side by side
against servebench; the README quotes the ranges.

Only streams go through it: probes, listings, counts and the server's view
stay on aiohttp. Connections are kept alive and pooled per host; a request
that meets a pooled connection the server has closed unannounced (llama.cpp's
`llama-server` closes every one) goes once more on a fresh connection and is
counted in `Reads.reconnects`, as with the aiohttp client. A host's addresses are
raced as aiohttp races them (happy eyeballs, NEXT_ADDRESS_AFTER_S apart).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohappyeyeballs
import orjson

from wfdoctor.model import WfdoctorError
from wfdoctor.sense.backends.lean_response import DISCONNECTED, ResponseReader
from wfdoctor.sense.backends.streaming import Reads

TIMED_OUT = "timed out"
# A pooled connection idle longer than this is closed, not reused. Servers close idle keep-alive
# connections (uvicorn, which vLLM runs on, after 5 s), and a request written just as the server
# closes is lost on the way: it is sent again, but counted as a retry about the server.
IDLE_S = 4.0
READ_BYTES = 64 << 10  # one read at most: a token event is about 200 bytes
# Happy eyeballs (RFC 8305's "connection attempt delay", aiohttp's default too): a host's next address is tried
# this long after the last one was, so an address that drops packets (a firewalled ::1) delays a connection by
# this much, not by the connect timeout. One address (an IP in the URL) is connected to without a race.
NEXT_ADDRESS_AFTER_S = 0.25
# How one exchange on a connection ended: read (to its end or an error), or stale (a pooled connection the server
# had closed: the request never reached it).
Exchange = Literal["read", "stale"]


@dataclass(frozen=True)
class Target:
    """Where a URL's requests go: the pool key, the request path and the Host header."""

    scheme: str
    host: str
    port: int
    path: bytes
    host_header: bytes

    @property
    def key(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


@functools.lru_cache(maxsize=64)
def target_of(url: str) -> Target:
    """The target of an http(s) URL; a URL of another scheme or without a host is a one-line error."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WfdoctorError(f"{url}: the lean client speaks http:// and https:// URLs only")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = parts.port is None or parts.port == (443 if parts.scheme == "https" else 80)
    host_header = host if default_port else f"{host}:{port}"
    return Target(parts.scheme, parts.hostname, port, path.encode(), host_header.encode())


class Connection(asyncio.BufferedProtocol):
    """One kept-alive connection; between requests it expects nothing and drops itself if the server speaks.

    A buffered protocol: the loop reads into this connection's own buffer. With a
    plain protocol it asks for a fresh 256 KiB bytes object for every read (and
    gives most of it back), which cost more than all the rest of a read here.
    """

    def __init__(self, forget: Callable[[Connection], None]) -> None:
        self.forget = forget
        self.transport: asyncio.Transport | None = None
        self.reader: ResponseReader | None = None
        self.closed = False
        self.idle_since = 0.0             # loop time it was last pooled
        self.buffer = bytearray(READ_BYTES)
        self.view = memoryview(self.buffer)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        now = time.perf_counter_ns()
        reader = self.reader
        if reader is None:          # bytes nobody asked for: the connection is out of step
            self.abort()
            return
        reader.feed(self.buffer[:nbytes], now)

    def eof_received(self) -> bool:
        return False                # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.reader is not None:
            self.reader.lost(exc)
        self.forget(self)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    @property
    def usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()


def _request(target: Target, body: dict[str, Any]) -> bytes:
    payload = orjson.dumps(body)
    return (b"POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: wfdoctor\r\nAccept: */*\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (target.path, target.host_header, len(payload), payload))


def connect_error(exc: BaseException) -> str:
    """The aiohttp client's phrase for a connection that could not be made."""
    if isinstance(exc, ConnectionRefusedError) or _every_address_refused(exc):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return TIMED_OUT
    return f"cannot connect: {exc}"


async def _addresses(target: Target) -> list[aiohappyeyeballs.AddrInfoType]:
    """The addresses to connect to: an IP as it is (no resolver thread), a name's as the resolver gives them."""
    try:
        address = ipaddress.ip_address(target.host)
    except ValueError:
        return await asyncio.get_running_loop().getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (target.host, target.port))]


def _every_address_refused(exc: BaseException) -> bool:
    """True for the combined error when every address of a host refused (`localhost` as ::1 and 127.0.0.1).

    When the addresses' errors read differently, the race raises one OSError
    whose message is the only record of them ("Multiple exceptions: [Errno 111]
    Connect call failed ('::1', ...), [Errno 111] ..."). aiohttp names the same
    case "connection refused", and so must this client.
    """
    message = str(exc)
    numbers = re.findall(r"\[Errno (\d+)\]", message)
    return message.startswith("Multiple exceptions") and bool(numbers) and \
        all(int(number) == errno.ECONNREFUSED for number in numbers)


class LeanStreams:
    """A `StreamClient`: pooled keep-alive connections (reused within `idle_s`), one deadline per request
    (`timeout_s`, connecting included), at most `connect_timeout_s` to connect."""

    def __init__(self, timeout_s: float, connect_timeout_s: float = 5.0, idle_s: float = IDLE_S) -> None:
        self.timeout_s = timeout_s
        self.connect_timeout_s = min(connect_timeout_s, timeout_s)
        self.idle_s = idle_s
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._open: set[Connection] = set()
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    async def read_stream(self, url: str, body: dict[str, Any], answered: asyncio.Event | None) -> Reads:
        reads = Reads(sent_ns=time.perf_counter_ns())
        try:
            target = target_of(url)
        except (WfdoctorError, ValueError) as exc:  # ValueError: a port out of range
            reads.error, reads.done_ns = str(exc), time.perf_counter_ns()
            return reads
        request = _request(target, body)
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        connection = self._pooled(target)
        while True:
            if self._closed:
                reads.error, reads.done_ns = "client closed", time.perf_counter_ns()
                return reads
            reused = connection is not None
            if connection is None:
                try:
                    connection = await self._connect(target, deadline)
                except OSError as exc:     # refused, unreachable, TLS, timed out (TimeoutError is an OSError)
                    reads.error, reads.done_ns = connect_error(exc), time.perf_counter_ns()
                    return reads
            if await self._exchange(connection, target, request, reads, answered, deadline, reused) == "read":
                return reads
            reads.reconnects += 1
            reads.error, reads.done_ns = "", None
            connection = None

    async def aclose(self) -> None:
        """Close every connection, idle or in use (an in-flight request ends as cut, and is not sent again)."""
        self._closed = True
        for connection in list(self._open):
            connection.abort()
        self._open.clear()
        self._idle.clear()

    def _pooled(self, target: Target) -> Connection | None:
        """The most recently pooled connection to `target` still open and idle within `idle_s`; older ones close."""
        idle = self._idle.get(target.key)
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()
            if connection.usable and now - connection.idle_since <= self.idle_s:
                return connection
            connection.abort()
        return None

    async def _connect(self, target: Target, deadline: float) -> Connection:
        loop = asyncio.get_running_loop()
        tls = None
        if target.scheme == "https":
            self._tls = tls = self._tls or ssl.create_default_context()
        async with asyncio.timeout(min(self.connect_timeout_s, max(deadline - loop.time(), 0.0))):
            sock = await aiohappyeyeballs.start_connection(await _addresses(target),
                                                           happy_eyeballs_delay=NEXT_ADDRESS_AFTER_S)
            _, connection = await loop.create_connection(lambda: Connection(self._forget), sock=sock, ssl=tls,
                                                         server_hostname=target.host if tls else None)
        self._open.add(connection)
        if self._closed:
            connection.abort()
        return connection

    async def _exchange(self, connection: Connection, target: Target, request: bytes, reads: Reads,
                        answered: asyncio.Event | None, deadline: float, reused: bool) -> Exchange:
        """Send the request on `connection` and wait for its response to end (or the deadline)."""
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[bool] = loop.create_future()

        def on_end(reusable: bool) -> None:
            if not ended.done():
                ended.set_result(reusable)

        reader = ResponseReader(reads, on_end, answered)
        connection.reader = reader
        assert connection.transport is not None
        if not connection.usable:          # closed between connecting (or pooling) and now
            reader.lost()
        else:
            connection.transport.write(request)
            reads.sent_ns = time.perf_counter_ns()
        timer = loop.call_at(deadline, reader.end, TIMED_OUT)
        reusable = False
        try:
            reusable = await ended
        finally:
            timer.cancel()
            connection.reader = None
            # Pooled only when whole: the request written out too (a server may answer before reading it all).
            if reusable and connection.usable and connection.transport.get_write_buffer_size() == 0:
                connection.idle_since = loop.time()
                self._idle.setdefault(target.key, []).append(connection)
            else:
                connection.abort()
        stale = reused and reader.got_nothing and \
            (reads.error == DISCONNECTED or reads.error.startswith("connection reset"))
        return "stale" if stale and not self._closed else "read"

    def _forget(self, connection: Connection) -> None:
        self._open.discard(connection)
        for idle in self._idle.values():
            if connection in idle:
                idle.remove(connection)
