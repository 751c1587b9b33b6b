"""wf-perf-monitor.js in real Chromium: what it measures on known pages, what it sends, and what it leaves behind.

Each test page (tests/fixtures/pages) starts the monitor with the collector of the test as its endpoint; the
collector records the bodies as the monitor's /api/frames would receive them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest

from tests.browser_tools import PAGES, Collector, collecting, page_url

INTERVAL_MS = 500
HEX_SESSION = "^[0-9a-f]{12}$"
NUMBER = {"type": "number", "minimum": 0}
COUNT = {"type": "integer", "minimum": 0}


def _strict(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


# The wire format of POST /api/frames (contract of issue 12): every field, no other.
REPORT_SCHEMA = _strict({
    "v": {"const": 1},
    "page": {"type": "string", "minLength": 1, "maxLength": 200},
    "session": {"type": "string", "pattern": HEX_SESSION},
    "interval_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
    "frames": COUNT,
    "frame_ms": _strict({name: NUMBER for name in ("mean", "p50", "p95", "p99", "max", "jitter")}),
    "fps": NUMBER,
    "over_budget": {"type": "number", "minimum": 0, "maximum": 1},
    "long_tasks": _strict({"count": COUNT, "ms": NUMBER}),
    "loaf": _strict({
        "supported": {"type": "boolean"}, "count": COUNT, "ms": NUMBER, "script_ms": NUMBER,
        "style_layout_ms": NUMBER, "forced_layout_ms": NUMBER,
        "scripts": {"type": "array", "maxItems": 10, "items": _strict({
            "source": {"type": "string", "maxLength": 300}, "invoker": {"type": "string", "maxLength": 300},
            "ms": NUMBER, "forced_layout_ms": NUMBER})},
    }),
    "dom_nodes": {"type": ["integer", "null"], "minimum": 0},
    "heap_bytes": {"type": ["integer", "null"], "minimum": 0},
    "grade": {"enum": ["EXCELLENT", "GOOD", "POOR"]},
})

OpenPage = Callable[..., Any]


@pytest.fixture
def collector() -> Iterator[Collector]:
    with collecting() as running:
        yield running


@pytest.fixture
def open_page(browser: Any, web_pages: str, collector: Collector) -> Iterator[OpenPage]:
    """Open a test page in a fresh context, reporting to the collector; `ledger=True` counts what scripts register."""
    contexts, errors = [], []

    def open_(name: str, *, ledger: bool = False, endpoint: str | None = None, interval_ms: int = INTERVAL_MS,
              **query: Any) -> Any:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{name}.html: {error}"))
        if ledger:
            page.add_init_script(path=str(PAGES / "ledger.js"))
        page.goto(page_url(web_pages, name, endpoint or f"{collector.url}/api/frames", interval_ms=interval_ms,
                           **query))
        page.wait_for_function("window.perfMonitor !== undefined")
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, f"exceptions thrown into the page: {errors}"


def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = 15.0) -> Any:
    """Poll until `condition()` is truthy (its value) or fail saying what never came."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    pytest.fail(f"{what} did not happen within {timeout_s:.0f} s")


def reports(collector: Collector, count: int) -> list[dict[str, Any]]:
    """The first `count` reports the collector receives (after the page's first, which includes start-up)."""
    return wait_for(lambda: collector.bodies()[1:count + 1] if len(collector.bodies()) > count else None,
                    f"{count + 1} reports")


def test_smooth_page_grades_excellent_or_good(open_page: OpenPage, collector: Collector) -> None:
    open_page("smooth")
    for report in reports(collector, 2):
        assert report["grade"] in {"EXCELLENT", "GOOD"}, report
        assert report["long_tasks"]["count"] == 0, report


def test_busy_page_grades_poor_with_long_tasks_attributed_to_its_script(open_page: OpenPage,
                                                                         collector: Collector) -> None:
    open_page("busy")
    for report in reports(collector, 2):
        assert report["grade"] == "POOR", report
        assert report["long_tasks"]["count"] > 0 and report["long_tasks"]["ms"] > 0, report
        assert report["loaf"]["supported"] and report["loaf"]["count"] > 0, report
        top = report["loaf"]["scripts"][0]
        assert top["source"].endswith("/busy.js") and top["invoker"] == "FrameRequestCallback", top


def test_layout_thrashing_is_forced_layout_attributed_to_the_script(open_page: OpenPage,
                                                                      collector: Collector) -> None:
    open_page("layout")
    for report in reports(collector, 2):
        assert report["loaf"]["forced_layout_ms"] > 0, report
        top = report["loaf"]["scripts"][0]
        assert top["source"].endswith("/layout.js"), top
        assert top["forced_layout_ms"] > top["ms"] / 2, top   # most of its time is layout it forced


def test_a_leaking_page_reports_a_growing_dom(open_page: OpenPage, collector: Collector) -> None:
    open_page("leak")
    received = reports(collector, 3)
    nodes = [report["dom_nodes"] for report in received]
    assert nodes == sorted(set(nodes)), nodes
    assert all(report["heap_bytes"] > 0 for report in received)   # Chromium exposes performance.memory


def test_reports_arrive_every_interval_labelled_with_page_and_session(open_page: OpenPage,
                                                                       collector: Collector) -> None:
    open_page("smooth", page="chat window", token="s3cret")
    received = reports(collector, 3)
    assert {report["page"] for report in received} == {"chat window"}
    assert len({report["session"] for report in received}) == 1
    for report in received:
        assert 0 < report["interval_s"] < 4 * INTERVAL_MS / 1000, report
        assert report["frames"] > 0, report
    sent = collector.received[1]
    assert (sent.path, sent.query["token"], sent.content_type) == ("/api/frames", ["s3cret"], "text/plain")
    assert collector.preflights == 0          # another origin, yet a simple request: no CORS preflight


def test_each_page_load_is_a_new_session(open_page: OpenPage, collector: Collector) -> None:
    first, second = open_page("idle"), open_page("idle")
    sessions = {first.evaluate("window.perfMonitor.snapshot().session"),
                second.evaluate("window.perfMonitor.snapshot().session")}
    assert len(sessions) == 2


def test_the_report_body_is_the_wire_format(open_page: OpenPage, collector: Collector) -> None:
    open_page("busy")
    for report in reports(collector, 2):
        jsonschema.validate(report, REPORT_SCHEMA)


def test_hiding_the_page_sends_a_beacon_and_pauses(open_page: OpenPage, collector: Collector) -> None:
    page = open_page("smooth", ledger=True, interval_ms=60_000)
    time.sleep(1.0)
    page.evaluate("""() => {
        Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
        document.dispatchEvent(new Event("visibilitychange"));
    }""")
    hidden = wait_for(collector.bodies, "a report on hide")
    assert page.evaluate("window.ledger.beacons") == 1
    assert hidden[0]["frames"] > 0
    time.sleep(1.0)                                 # hidden: these are not frames
    page.evaluate("""() => {
        Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "visible"});
        document.dispatchEvent(new Event("visibilitychange"));
    }""")
    time.sleep(0.5)
    page.evaluate("window.perfMonitor.flush()")
    after = wait_for(lambda: collector.bodies()[1:], "a report after the page came back")[0]
    assert after["frames"] > 0
    assert after["frame_ms"]["max"] < 1000, after   # the delta spanning the hidden second was dropped


def test_closing_the_page_sends_what_was_gathered(open_page: OpenPage, collector: Collector) -> None:
    page = open_page("smooth", interval_ms=60_000)
    time.sleep(1.0)
    page.close()
    report = wait_for(collector.bodies, "a report on page hide")[0]
    assert report["frames"] > 0 and report["page"] == "smooth"


LEFT_BEHIND = """() => ({listeners: window.ledger.listeners, intervals: window.ledger.intervals.size,
    frames: window.ledger.frames.size, observers: window.ledger.observers})"""


def test_stop_leaves_no_listener_timer_frame_or_observer_and_sends_nothing_after(open_page: OpenPage,
                                                                                   collector: Collector) -> None:
    page = open_page("idle", ledger=True)
    reports(collector, 1)
    running = page.evaluate(LEFT_BEHIND)
    assert all(running.values()), running          # the ledger sees what the monitor holds while it runs
    callbacks = page.evaluate("window.perfMonitor.stop(); window.perfMonitor.flush(); window.ledger.frameCallbacks")
    sent_at_stop = len(collector.bodies())
    time.sleep(3 * INTERVAL_MS / 1000)
    assert page.evaluate(LEFT_BEHIND) == {"listeners": 0, "intervals": 0, "frames": 0, "observers": 0}
    assert page.evaluate("window.ledger.frameCallbacks") == callbacks
    assert len(collector.bodies()) == sent_at_stop


def test_a_failed_send_is_dropped_quietly(open_page: OpenPage, closed_url: str) -> None:
    page = open_page("smooth", endpoint=f"{closed_url}/api/frames")   # pageerror would fail the test
    wait_for(lambda: page.evaluate("window.perfReports.length") >= 3, "three reports while sends fail")


# Animation frames on demand: the test says when each frame comes and how long after the previous one.
FAKE_FRAMES = """
window.fakeClock = 0;
let pending = [];
window.requestAnimationFrame = (callback) => pending.push(callback);
window.cancelAnimationFrame = () => { pending = []; };
window.advanceFrames = (count, ms) => {
  for (let i = 0; i < count; i++) {
    window.fakeClock += ms;
    const due = pending;
    pending = [];
    due.forEach((callback) => callback(window.fakeClock));
  }
};
"""


@pytest.fixture
def fake_frames(browser: Any, web_pages: str) -> Iterator[Any]:
    """The monitor on an idle page whose animation frames come when the test says (advanceFrames)."""
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(script=FAKE_FRAMES)
    page.goto(page_url(web_pages, "idle", None, interval_ms=60_000))
    wait_for(lambda: page.evaluate("window.perfMonitor !== undefined"), "the monitor to start")
    page.evaluate("advanceFrames(1, 0)")             # the first frame has no delta
    yield page
    context.close()


def test_frame_statistics_of_known_frame_times(fake_frames: Any) -> None:
    page = fake_frames
    page.evaluate("advanceFrames(95, 10); advanceFrames(5, 50)")
    report = page.evaluate("window.perfMonitor.snapshot()")
    assert report["frames"] == 100
    assert report["frame_ms"] == {"mean": 12, "p50": 10, "p95": 10, "p99": 50, "max": 50,
                                  "jitter": pytest.approx(8.718, abs=0.001)}
    assert (report["fps"], report["over_budget"], report["grade"]) == (83.33, 0.05, "EXCELLENT")


def test_an_overflowing_interval_keeps_its_newest_frames(fake_frames: Any) -> None:
    page = fake_frames
    page.evaluate("advanceFrames(1000, 100); advanceFrames(4096, 20)")
    report = page.evaluate("window.perfMonitor.snapshot()")
    assert report["frames"] == 5096                  # all counted, the newest 4096 kept for the statistics
    assert report["frame_ms"]["max"] == 20 and report["fps"] == 50 and report["grade"] == "GOOD"
