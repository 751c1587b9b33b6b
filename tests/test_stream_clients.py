"""The two stream readers, lean (the default) and aiohttp, measure the same thing.

Against the scripted server's exact schedule, the same requests sent through
each client, interleaved, give the same tokens and the same times within 1 %.
The lean client's own HTTP handling (framings, interim answers, malformed
heads, refused and silent servers) is specified here too; the fault suite
(tests/faults/) runs its cases with both clients.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme

from wfdoctor.analyze.tokens import request_metrics
from wfdoctor.model import WfdoctorError
from wfdoctor.sense.backends.aiohttp_stream import AiohttpStreams
from wfdoctor.sense.backends.base import GenerationRequest, StreamTrace
from wfdoctor.sense.backends.client import connect
from wfdoctor.sense.backends.http import make_session
from wfdoctor.sense.backends.lean import LeanStreams, _addresses, connect_error, target_of
from wfdoctor.sense.backends.openai import stream_openai
from wfdoctor.sense.backends.streaming import CLIENT_VARIABLE, CLIENTS, client_name
from wfdoctor.testing.fake_llm import MODEL, FakeConfig, FakeLLMServer

SCHEDULE = FakeConfig(ttft_s=0.2, itl_s=0.02, tokens=20, implementation="llama.cpp")
REQUESTS = 10  # per client, interleaved


async def _traces(url: str) -> dict[str, list[StreamTrace]]:
    backends = {name: await connect(url, None, timeout_s=30, max_streams=1, client=name) for name in CLIENTS}
    traces: dict[str, list[StreamTrace]] = {name: [] for name in CLIENTS}
    try:
        for _ in range(REQUESTS):
            for name, backend in backends.items():
                traces[name].append(await backend.stream(GenerationRequest("hi", max_tokens=20)))
    finally:
        for backend in backends.values():
            await backend.aclose()
    return traces


def test_both_clients_count_the_same_tokens_and_time_them_within_one_percent() -> None:
    with FakeLLMServer(SCHEDULE) as server:
        traces = asyncio.run(_traces(server.base_url))
    medians: dict[str, dict[str, float]] = {}
    for name, measured in traces.items():
        assert all(t.completed and not t.error for t in measured), name
        assert [len(t.pieces) for t in measured] == [20] * REQUESTS
        assert [t.server["completion_tokens"] for t in measured] == [20.0] * REQUESTS
        metrics = [request_metrics(t, (len(t.pieces), "events"), stall_s=0.2) for t in measured]
        medians[name] = {what: statistics.median(getattr(m, what) for m in metrics)
                         for what in ("ttft_s", "e2e_s", "decode_tps", "ttfb_s")}
    lean, other = medians["lean"], medians["aiohttp"]
    for what in ("ttft_s", "e2e_s", "decode_tps"):
        assert lean[what] == pytest.approx(other[what], rel=0.01), (what, lean, other)
    assert lean["ttft_s"] == pytest.approx(0.2, rel=0.05)


def test_the_client_is_chosen_by_name_then_by_the_variable_then_lean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CLIENT_VARIABLE, raising=False)
    assert client_name(None) == "lean"
    assert client_name("aiohttp") == "aiohttp"
    monkeypatch.setenv(CLIENT_VARIABLE, "aiohttp")
    assert client_name(None) == "aiohttp"
    with pytest.raises(WfdoctorError, match="--client: unknown client 'curl' \\(known: lean, aiohttp\\)"):
        client_name("curl")
    monkeypatch.setenv(CLIENT_VARIABLE, "curl")
    with pytest.raises(WfdoctorError, match=f"{CLIENT_VARIABLE}: unknown client 'curl'"):
        client_name(None)


def test_an_unknown_client_on_the_command_line_is_a_usage_error(wfdoctor, closed_url: str) -> None:
    result = wfdoctor("tokens", "--backend", closed_url, "--client", "curl")
    assert result.code == 2 and "unknown client 'curl'" in result.stderr and "Traceback" not in result.stderr


# --- the lean client's HTTP, against a server that sends exactly these bytes --------------------------------------

@contextmanager
def raw_server(*responses: bytes, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """A loopback server answering successive requests on one connection with `responses`, then closing it
    (over TLS with `tls`, its certificate's)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        if tls is not None:
            try:
                connection = tls.wrap_socket(connection, server_side=True)
            except (ssl.SSLError, OSError):  # the client refused the certificate
                connection.close()
                return
        with connection:
            for response in responses:
                connection.recv(65536)
                connection.sendall(response)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(timeout=5)


EVENT = b'data: {"choices": [{"delta": {"content": "hi"}}]}\n\ndata: [DONE]\n\n'
WHOLE = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(EVENT), EVENT)


def _stream(url: str, timeout_s: float = 5.0) -> StreamTrace:
    async def run() -> StreamTrace:
        client = LeanStreams(timeout_s)
        try:
            return await stream_openai(client, url, GenerationRequest("hi"), MODEL)
        finally:
            await client.aclose()
    return asyncio.run(run())


@pytest.mark.parametrize("response", [
    WHOLE,
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x;ext=1\r\n%s\r\n0\r\nTrailer: x\r\n\r\n" % (len(EVENT), EVENT),
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(EVENT), EVENT),
    b"HTTP/1.0 200 OK\r\n\r\n%s" % EVENT,
], ids=["content-length", "chunked with extension and trailer", "interim 100", "until close"])
def test_every_framing_of_a_stream_is_read_whole(response: bytes) -> None:
    with raw_server(response) as url:
        trace = _stream(url)
    assert trace.completed and not trace.error and trace.pieces == ["hi"]


@pytest.mark.parametrize(("response", "error"), [
    (b"SPDY/3 200 OK\r\n\r\n", "malformed response"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed response"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * (70 << 10), "malformed response (headers longer than 65536 bytes)"),
    (b"HTTP/1.1 503 Busy\r\nContent-Length: 9\r\n\r\nno slots\n", "HTTP 503: no slots"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + EVENT[:20], "connection cut mid-response"),
    (b"", "server disconnected"),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "malformed response"),
], ids=["not http", "bad chunk size", "endless headers", "error status", "cut", "closed unanswered", "upgrade"])
def test_what_is_not_a_whole_stream_is_one_error_phrase(response: bytes, error: str) -> None:
    with raw_server(response) as url:
        trace = _stream(url)
    assert trace.error.startswith(error) and not trace.completed


def test_https_is_checked_against_the_name_or_the_address_in_the_url(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A certificate for localhost and 127.0.0.1 from a throwaway CA the client trusts (SSL_CERT_FILE): both URLs
    stream; one for another name is refused, in aiohttp's words for a connection that could not be made."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))

    def server_context(*names: str) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*names).configure_cert(context)
        return context

    for host in ("localhost", "127.0.0.1"):
        with raw_server(WHOLE, tls=server_context("localhost", "127.0.0.1")) as url:
            trace = _stream(url.replace("127.0.0.1", host))
        assert trace.completed and not trace.error and trace.pieces == ["hi"], host
    with raw_server(WHOLE, tls=server_context("elsewhere.test")) as url:
        refused = _stream(url)
    assert refused.error.startswith("cannot connect: [SSL: CERTIFICATE_VERIFY_FAILED]")


def test_an_address_in_the_url_is_connected_to_as_it_is_without_the_resolver() -> None:
    assert asyncio.run(_addresses(target_of("http://[::1]:8080/v1"))) == \
        [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("::1", 8080))]
    assert asyncio.run(_addresses(target_of("http://127.0.0.1:8080/v1"))) == \
        [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 8080))]


def test_a_refused_connection_and_a_silent_server_end_with_the_aiohttp_phrases(closed_url: str) -> None:
    assert _stream(closed_url).error.startswith("connection refused")
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel's backlog) and never answers
    try:
        trace = _stream(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout_s=0.5)
    finally:
        listener.close()
    assert trace.error.startswith("timed out")
    assert (trace.done_ns - trace.sent_ns) / 1e9 < 5


def _host_with_addresses(monkeypatch: pytest.MonkeyPatch, *addresses: tuple[str, int]) -> str:
    """The URL of a made-up host that resolves to `addresses`, in that order (as `localhost` to ::1 and 127.0.0.1)."""
    real_getaddrinfo = socket.getaddrinfo

    def resolve(host: str, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        if host != "two-addresses.test":
            return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", address) for address in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return f"http://two-addresses.test:{addresses[-1][1]}"


def _through_aiohttp(url: str) -> StreamTrace:
    async def run() -> StreamTrace:
        async with make_session(5, 1) as session:
            return await stream_openai(AiohttpStreams(session), url, GenerationRequest("hi"), MODEL)
    return asyncio.run(run())


def test_a_host_refused_on_every_address_reads_connection_refused_with_both_clients(
        closed_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`localhost` is often ::1 and 127.0.0.1: the race of its addresses then raises one "Multiple exceptions"
    error for both.

    Two IPv4 loopback addresses make the same error on any Linux machine, with or without IPv6.
    """
    port = int(closed_url.rsplit(":", 1)[1])
    url = _host_with_addresses(monkeypatch, ("127.0.0.2", port), ("127.0.0.1", port))
    assert _stream(url).error == "connection refused after 0 tokens"
    assert _through_aiohttp(url).error == "connection refused after 0 tokens"


@contextmanager
def dropping_address(host: str) -> Iterator[tuple[str, int]]:
    """An address where connecting hangs, as at a firewall that drops packets: a listener whose accept queue
    (backlog 0) one connection fills, so the kernel drops every later SYN."""
    listener = socket.socket()
    filler = socket.socket()
    try:
        listener.bind((host, 0))
        listener.listen(0)
        filler.connect(listener.getsockname())
        yield listener.getsockname()
    finally:
        filler.close()
        listener.close()


def test_an_address_that_never_answers_does_not_hold_up_the_next_one_with_either_client(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Happy eyeballs (RFC 8305), as aiohttp does: the next address is tried 0.25 s after the first, not after
    the connect timeout (2 s here, so a client that waits for the first address ends "timed out")."""
    with FakeLLMServer(FakeConfig(ttft_s=0.0, itl_s=0.0, tokens=3)) as server, \
            dropping_address("127.0.0.2") as dropped:
        url = _host_with_addresses(monkeypatch, dropped, ("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])))

        async def through_lean() -> StreamTrace:
            client = LeanStreams(30, connect_timeout_s=2)
            try:
                return await stream_openai(client, url, GenerationRequest("hi"), MODEL)
            finally:
                await client.aclose()

        for trace in (asyncio.run(through_lean()), _through_aiohttp(url)):
            assert trace.completed and not trace.error and len(trace.pieces) == 3


@pytest.mark.parametrize(("error", "phrase"), [
    (OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 9, 0, 0), "
             "[Errno 111] Connect call failed ('127.0.0.1', 9)"), "connection refused"),
    (ConnectionRefusedError(111, "Multiple exceptions: ..."), "connection refused"),
    (OSError("Multiple exceptions: [Errno 99] Cannot assign requested address, "
             "[Errno 111] Connect call failed ('127.0.0.1', 9)"), "cannot connect: Multiple exceptions: [Errno 99]"),
    (TimeoutError(), "timed out"),
], ids=["every address refused", "one refusal", "one address unusable", "timed out"])
def test_a_connection_that_could_not_be_made_is_named_as_the_aiohttp_client_names_it(error: OSError,
                                                                                      phrase: str) -> None:
    assert connect_error(error).startswith(phrase)


def test_an_error_status_is_named_at_its_first_words_without_waiting_for_the_rest() -> None:
    with raw_server(b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nbusy.\r\n") as url:
        trace = _stream(url, timeout_s=3.0)
    assert trace.error == "HTTP 503: busy."


def test_a_second_response_in_the_same_read_is_not_taken_for_the_first() -> None:
    first = WHOLE
    with raw_server(first + b"HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\nbad") as url:
        trace = _stream(url)
    assert trace.completed and not trace.error and trace.pieces == ["hi"]


@contextmanager
def counting_server(response: bytes) -> Iterator[tuple[str, list[int]]]:
    """A loopback server answering every request on every connection with `response`; the list counts accepts."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def answer(connection: socket.socket) -> None:
        with connection:
            while connection.recv(65536):
                connection.sendall(response)

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:      # the listener closed
                return
            accepted.append(1)
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        listener.close()


@pytest.mark.parametrize(("idle_s", "connections"), [(10.0, 1), (0.05, 2)], ids=["reused", "expired"])
def test_a_pooled_connection_is_reused_only_while_it_has_been_idle_less_than_the_limit(idle_s: float,
                                                                                        connections: int) -> None:
    response = WHOLE

    async def two_requests(url: str) -> list[StreamTrace]:
        client = LeanStreams(5.0, idle_s=idle_s)
        try:
            first = await stream_openai(client, url, GenerationRequest("hi"), MODEL)
            await asyncio.sleep(0.2)
            return [first, await stream_openai(client, url, GenerationRequest("hi"), MODEL)]
        finally:
            await client.aclose()

    with counting_server(response) as (url, accepted):
        traces = asyncio.run(two_requests(url))
    assert all(trace.completed and not trace.error and trace.reconnects == 0 for trace in traces)
    assert len(accepted) == connections

