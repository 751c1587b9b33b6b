"""Issue 12's doors attacked as a hostile web page, a hostile local process and a careless user would: each
case is an attack that once worked (or nearly), and the answer it gets now. The browser's side, in real
Chromium, is test_ui_redteam_browser.py."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.faults.test_frames_flood import ticks_between
from tests.monitoring_tools import wait_until_ready
from tests.test_dashboard_api import DashView
from tests.test_frames import report
from tests.test_frames_ingest import REPORT, FrameView, changed, exchange, post
from tests.test_monitor import FAST, StandIn
from tests.test_monitor_cli import monitor_samples
from tests.test_ui_diagnose import seed
from tests.test_ui_judgement import busy_page
from wfdoctor.app.frames import METRICS as FRAME_METRICS
from wfdoctor.app.monitor import Monitor, MonitorOptions, series_key
from wfdoctor.app.monitor_ui import UiWatch
from wfdoctor.app.monitor_view import RateLimited
from wfdoctor.config.facts import load_facts
from wfdoctor.model import Finding, FrameReport, Priority, Sample, ScriptTime
from wfdoctor.sense.backends.embedded import free_port
from wfdoctor.surface import web, web_dashboard, web_ingest
from wfdoctor.surface.web_dashboard import MAX_STREAMS

EVIL = "http://evil.example"
PUSH = json.dumps([{"metric": "wf_llm_time_to_first_token_seconds", "value": 99.0, "unit": "s"}]).encode()


@dataclass
class View(FrameView, DashView):
    """The page door of the monitor (FrameView) and the dashboard's answers (DashView) in one view."""


def one_line_error(text: str) -> str:
    reason = json.loads(text)["error"]
    assert "\n" not in reason and "Traceback" not in reason
    return str(reason)


@pytest.mark.parametrize("headers", [{"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"},
                                     {"Origin": "http://127.0.0.1:9000", "Sec-Fetch-Site": "same-site"}])
def test_a_page_of_another_site_cannot_push_samples_through_the_users_browser(headers: dict[str, str]) -> None:
    # A text/plain POST is a CORS simple request: the browser sends it without asking; the monitor must refuse.
    view = View()
    [(status, _, text)] = exchange(view, ("POST", "/api/samples", PUSH, {"Content-Type": "text/plain", **headers}))
    assert status == 403 and "/api/samples" in one_line_error(text)
    assert view.accepted == []


@pytest.mark.parametrize("path", ["/api/overview", "/api/stream", "/metrics", "/api/alerts", "/api/actions"])
def test_a_page_of_another_site_cannot_open_the_machines_data(path: str) -> None:
    [(status, headers, text)] = exchange(View(), ("GET", path, b"", {"Sec-Fetch-Site": "cross-site"}))
    assert status == 403 and one_line_error(text)
    assert "Access-Control-Allow-Origin" not in headers


@pytest.mark.parametrize("host", ["evil.example:8471", "evil.example", "127.0.0.1.evil.example", "[zz", ""])
def test_a_rebound_name_cannot_read_the_machines_data(host: str) -> None:
    # DNS rebinding: evil.example now resolves to 127.0.0.1, and the page reads it as its own origin.
    [(status, _, text)] = exchange(View(), ("GET", "/metrics", b"", {"Host": host}))
    assert status == 403 and one_line_error(text)


def test_the_monitors_own_pages_and_other_pages_frames_still_pass() -> None:
    view = View()
    own = {"Sec-Fetch-Site": "same-origin"}
    answers = exchange(view, ("GET", "/api/overview", b"", {}), ("GET", "/metrics", b"", own),
                       ("POST", "/api/samples", PUSH, {"Content-Type": "application/json"}),
                       ("GET", "/", b"", {"Sec-Fetch-Site": "cross-site"}),
                       ("GET", "/static/wf-perf-monitor.js", b"", {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}),
                       ("GET", "/api/settings", b"", {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}),
                       post(REPORT) [:3] + ({"Content-Type": "text/plain", "Origin": EVIL,
                                             "Sec-Fetch-Site": "cross-site"},),
                       ("GET", "/metrics", b"", {"Host": "localhost:1"}))
    assert [status for status, _, _ in answers] == [200, 200, 202, 200, 200, 200, 202, 200]


HOSTILE_PAGE = "[link=file:///etc/passwd]x[/link]\x1b[2J\n<script>alert(1)</script>\u202e" + "p" * 150
HOSTILE_SCRIPT = "http://x/[bold]s[/bold]\x1b]8;;file:///etc\x07.js\n" + "s" * 200


def hostile_reports(mean_ms: float) -> list[FrameReport]:
    return [replace(r, page=HOSTILE_PAGE, frame_mean_s=mean_ms / 1000, frame_p95_s=mean_ms / 1000,
                    frame_max_s=mean_ms / 1000, dom_nodes=10 ** 12 * i, heap_bytes=9e99 * (i % 2),
                    scripts=[ScriptTime(HOSTILE_SCRIPT, HOSTILE_SCRIPT, s.duration_s, s.forced_layout_s)
                             for s in r.scripts])
            for i, r in enumerate(busy_page(forced_share=0.5))]


@pytest.mark.parametrize("mean_ms", [66.7, 9e99])
def test_diagnose_on_hostile_page_reports_prints_bounded_lines_of_text_and_valid_json(
        tmp_path: Path, wfdoctor: Any, closed_url: str, mean_ms: float) -> None:
    seed(tmp_path / "wfdoctor.db", hostile_reports(mean_ms), cpu=0.97, hogs={("66", "[b]hog\x1b[2J"): 1.5})
    args = ("diagnose", "--window", "0.3", "--backend", closed_url, "--no-embedded", "--fail-on", "never")
    document = wfdoctor(*args, "--json")
    assert document.code == 0 and "Traceback" not in document.stderr, document.stderr
    json.loads(document.stdout, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    ui = [f for f in document.json()["findings"] if f["row"] == "ui_freezing"]
    assert ui and all("\n" not in f["summary"] and len(f["summary"]) < 800 for f in ui)
    shown = wfdoctor(*args)
    assert shown.code == 0 and "Traceback" not in shown.stderr, shown.stderr
    assert "\x1b" not in shown.stdout and "\u202e" not in shown.stdout
    assert "[link=file:///etc/passwd]x[/link]" in shown.stdout.replace("\n", "")  # shown, not read as markup


def test_sessions_taking_turns_share_one_budget_per_minute() -> None:
    # 100 tabs (real or invented) each within its own budget: together past the monitor's
    limits = load_facts().limits.ui
    clock = [1_800_000_000.0]
    watch = UiWatch(load_facts(), lambda context: [], clock=lambda: clock[0])
    admitted, refused = 0, []
    for _ in range(10):
        for tab in range(100):
            try:
                watch.admit("chat", f"tab{tab}")
                admitted += 1
            except RateLimited as exc:
                refused.append(exc)
        clock[0] += 1.0
    assert admitted == limits.reports_per_minute
    assert all("limits.ui.reports_per_minute" in str(exc) and 0 < exc.retry_after_s <= 60 for exc in refused)
    clock[0] += 60.0
    watch.admit("chat", "tab0")   # a minute later the budget is back


def test_a_flood_of_new_sessions_and_scripts_never_fills_the_monitors_series(tmp_path: Path) -> None:
    # Each new session had its own budget, and each report could name 10 new scripts (20 new series): a
    # hostile page filled the monitor's series capacity in a second, and then every push (a new tab, a
    # benchmark's samples) was refused for the lookback.
    limits = load_facts().limits.ui
    monitor = Monitor(MonitorOptions(**FAST), tmp_path / "w.db", pipeline_factory=lambda context: StandIn(),
                      ui_judge=lambda window: [])
    refused: list[str] = []

    async def main() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(monitor.run(stop))
        await monitor.started.wait()
        for i in range(3000):
            scripts = [ScriptTime(f"http://x/{i}-{n}.js", "FrameRequestCallback", 0.01, 0.0) for n in range(10)]
            try:
                monitor.accept_frames(report(ts=time.time(), session=f"s{i}", scripts=scripts))
            except RateLimited as exc:
                refused.append(str(exc))
        monitor.accept([Sample("wf_llm_time_to_first_token_seconds", 0.2, "s", "bench", {"model": "m"},
                               time.time())])    # room is left for the next push
        stop.set()
        await running

    asyncio.run(main())
    ui_series = {series_key(s) for s in monitor.latest_samples() if s.metric in FRAME_METRICS}
    assert len(ui_series) <= limits.series < MonitorOptions().series_capacity
    assert refused and all("\n" not in reason for reason in refused)
    assert 3000 - len(refused) <= limits.reports_per_minute



@pytest.mark.parametrize("path", ["/api/frames", "/api/samples"])
def test_a_body_sent_a_byte_at_a_time_is_cut_off_with_408(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # slow loris: a handler and a socket held for as long as the client pleases, per connection
    monkeypatch.setattr(web_ingest, "BODY_DEADLINE_S", 0.5)
    monkeypatch.setattr(web, "BODY_DEADLINE_S", 0.5)

    async def main() -> bytes:
        server = await web.start_web(View(), "127.0.0.1", 0, None)
        try:
            host, port = server.url.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                         f"Content-Length: 100\r\n\r\n{{".encode())
            answer = b""
            while not answer.endswith(b"}"):   # the whole answer, not the connection's end (aiohttp lingers)
                answer += await asyncio.wait_for(reader.read(1024), 15)
            writer.close()
            return answer
        finally:
            await server.close()

    answer = asyncio.run(main())
    assert answer.startswith(b"HTTP/1.1 408") and b"Traceback" not in answer
    assert one_line_error(answer.split(b"\r\n\r\n", 1)[1].decode()).startswith("body: not received within")



def test_dashboards_that_never_read_their_stream_give_their_places_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # A client that opens /api/stream and never reads: the server's writes block once the socket's buffers are
    # full, and MAX_STREAMS of them held every place for good (every real dashboard then got 503).
    monkeypatch.setattr(web_dashboard, "OVERVIEW_EVERY_S", 0.0)
    monkeypatch.setattr(web_dashboard, "WRITE_DEADLINE_S", 1.0)
    big = [Finding(rule_id="r", code="X", row="ui_freezing", symptom="s", cause="c", priority=Priority.LOW,
                   actions=[], evidence=[], summary="x" * 20_000) for _ in range(20)]

    async def never_reading(host: str, port: int) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        sock.sendall(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        return sock

    async def main() -> int:
        server = await web.start_web(View(findings=big), "127.0.0.1", 0, None)
        host, port = server.url.removeprefix("http://").split(":")
        stuck = [await never_reading(host, int(port)) for _ in range(MAX_STREAMS)]
        try:
            async with aiohttp.ClientSession() as session:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    async with session.get(server.url + "/api/stream") as response:
                        if response.status == 200:
                            return response.status
                    await asyncio.sleep(0.5)
                return 503
        finally:
            for sock in stuck:
                sock.close()
            await server.close()

    assert asyncio.run(main()) == 200



def test_a_tab_closed_mid_stream_leaves_no_traceback_in_the_monitors_log(caplog: pytest.LogCaptureFixture) -> None:
    # aiohttp logs a handler's exception with its traceback, and a reset stream raised from every write
    async def main() -> None:
        server = await web.start_web(View(), "127.0.0.1", 0, None)
        host, port = server.url.removeprefix("http://").split(":")
        try:
            for _ in range(3):
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert (await reader.readline()).startswith(b"HTTP/1.1 200")
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # RST, not FIN
                writer.transport.abort()
            await asyncio.sleep(0.5)   # the feed's next writes meet the reset
        finally:
            await server.close()

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    assert [record for record in caplog.records if record.name.startswith("aiohttp")] == []



@pytest.mark.parametrize("path", ["/", "/static/index.html"])
def test_the_dashboard_page_is_under_its_policy_at_every_address(path: str) -> None:
    [(status, headers, _)] = exchange(View(), ("GET", path, b"", {}))
    assert status == 200 and "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]



def test_head_of_the_stream_is_refused_not_answered_with_an_endless_body() -> None:
    # HEAD must carry no body; the feed wrote its events after the headers anyway and held a stream place
    [(status, _, _)] = exchange(View(), ("HEAD", "/api/stream", b"", {}))
    assert status == 405



GARBAGE = [  # (body, content type): what a careless script or a hostile process posts to the page door
    (b"", "text/plain"), (b"null", "text/plain"), (b"[]", "application/json"),
    (b"[" * 5000 + b"]" * 5000, "text/plain"),
    (b"\xff\xfe\x00", "text/plain"), (b'{"v": 1, "v": 1}', "text/plain"), (b'{"v": NaN}', "text/plain"),
    (b'{"v": Infinity}', "text/plain"), (b'{"v": 1e999}', "text/plain"), (b"{" + b" " * 70_000 + b"}", "text/plain"),
    (json.dumps({**REPORT, "frames": "120"}).encode(), "text/plain"),
    (json.dumps({**REPORT, "frame_ms": {**REPORT["frame_ms"], "mean": 1e308}}).encode(), "text/plain"),
    (json.dumps({**REPORT, "heap_bytes": 1e300}).encode(), "text/plain"),
    (json.dumps({**REPORT, "fps": -1}).encode(), "text/plain"),
    (json.dumps({**REPORT, "page": ""}).encode(), "text/plain"),
    (json.dumps({**REPORT, "session": "a/../b"}).encode(), "text/plain"),
    (json.dumps({**REPORT, "loaf": {**REPORT["loaf"], "scripts": REPORT["loaf"]["scripts"] * 11}}).encode(),
     "text/plain"),
    (json.dumps(REPORT).encode(), "application/x-www-form-urlencoded"),
    (json.dumps(REPORT).encode(), "multipart/form-data"),
]


@pytest.mark.slow
def test_garbage_at_the_page_door_is_4xx_with_one_line_and_the_monitor_keeps_ticking(tmp_path: Path) -> None:
    db, port = tmp_path / "w.db", free_port()
    monitor = subprocess.Popen([sys.executable, "-m", "wfdoctor", "monitor", "--headless", "--interval", "0.2",
                                "--canary", "off", "--backend", f"http://127.0.0.1:{free_port()}", "--db", str(db),
                                "--listen", f"127.0.0.1:{port}"], stderr=subprocess.PIPE, text=True)
    answers = []
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/healthz", deadline_s=30)
        started = time.time()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for body, content_type in GARBAGE * 3:
            connection.request("POST", "/api/frames", body, {"Content-Type": content_type})
            response = connection.getresponse()
            answers.append((response.status, response.read()))
            if response.getheader("Connection", "") == "close":
                connection.close()
        time.sleep(2)
        done = time.time()
        monitor.send_signal(signal.SIGTERM)
        _, err = monitor.communicate(timeout=60)
    finally:
        monitor.kill()
        monitor.wait()
    assert monitor.returncode == 0 and "Traceback" not in err, err[-2000:]
    for status, body in answers:
        assert 400 <= status < 500 and one_line_error(body.decode()), (status, body[:200])
    assert monitor_samples(db, "wf_ui_frames") == []
    assert ticks_between(db, started, done) >= (done - started) / 0.2 / 3



def raw_exchange(token: str | None, *requests: bytes) -> list[bytes]:
    """Each request sent byte for byte on its own connection (an HTTP client would refuse to send them)."""
    async def main() -> list[bytes]:
        server = await web.start_web(View(), "127.0.0.1", 0, token)
        host, port = server.url.removeprefix("http://").split(":")
        answers = []
        try:
            for request in requests:
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(request)
                answers.append(await asyncio.wait_for(reader.read(), 10))
                writer.close()
        finally:
            await server.close()
        return answers
    return asyncio.run(main())


def test_a_token_header_that_is_not_utf8_is_401_not_a_500_and_the_scheme_is_any_case() -> None:
    head = b"GET /api/overview HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    answers = raw_exchange("s3cret", head + b"Authorization: Bearer \xff\xfe\r\n\r\n",
                           head + b"Authorization: bearer s3cret\r\n\r\n", head + b"Authorization: s3cret\r\n\r\n")
    assert [answer.split(b" ", 2)[1] for answer in answers] == [b"401", b"200", b"401"]


def test_garbage_request_lines_are_one_line_each_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        answers = raw_exchange(None, b"GET /api/overview?token=\xff\x1b[2J HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                               b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n")
    assert all(answer.split(b" ", 2)[1] == b"400" for answer in answers)
    records = [r for r in caplog.records if r.name.startswith("aiohttp")]
    assert records   # aiohttp did log them: as one line each
    for record in records:
        assert record.exc_info is None and "\n" not in record.getMessage() and "\x1b" not in record.getMessage()
        assert len(record.getMessage()) <= web.LOG_LINE_CHARS



@pytest.mark.parametrize(("path", "value"), [("frame_ms.mean", 1e308), ("heap_bytes", 1e300), ("dom_nodes", 10 ** 30),
                                             ("fps", 1e99), ("loaf.scripts.0.ms", 1e16)])
def test_an_absurd_number_is_400_naming_its_field(path: str, value: float) -> None:
    view = View()
    [(status, _, text)] = exchange(view, post(changed(path, value)))
    field = ".".join(f"[{part}]" if part.isdigit() else part for part in path.split(".")).replace(".[", "[")
    assert status == 400 and one_line_error(text).startswith(f"body.{field}: ")
    assert view.accepted == []


def test_with_a_token_a_pages_preflight_is_answered_so_it_can_send_the_header() -> None:
    # the preflight advertises Authorization, but a preflight never carries it: it was 401, so the header never went
    preflight = (b"OPTIONS /api/frames HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1:3000\r\n"
                 b"Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization\r\n"
                 b"Connection: close\r\n\r\n")
    bare = b"POST /api/frames HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    answered, refused = raw_exchange("s3cret", preflight, bare)
    assert answered.startswith(b"HTTP/1.1 204")
    assert b"Access-Control-Allow-Headers: Content-Type, Authorization" in answered
    assert refused.startswith(b"HTTP/1.1 401")   # the report itself still needs the token...
    assert b"Access-Control-Allow-Origin: *" in refused   # ...and the page can read that it was refused
