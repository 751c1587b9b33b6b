"""Open a report in Debian's Chromium from its file: every request it makes, its images' sizes, a screenshot.

Shared by tests/test_report_browser.py and scripts/report_screenshot.py (the README's picture), so the
picture is taken the way the test checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser

VIEWPORT = {"width": 1200, "height": 900}
IMAGES = "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight, " \
         "i.getBoundingClientRect().width, i.getBoundingClientRect().height])"


@dataclass(frozen=True)
class OpenedReport:
    requests: list[str]          # every URL the page asked for, its own file first
    images: list[tuple[str, bool, int, int, float, float]]   # alt, complete, natural w/h, shown w/h
    title: str
    text: str
    screenshot: bytes


def open_report(browser: Browser, html: Path) -> OpenedReport:
    """Load `html` from file:// and wait until it is idle; record each request, the images, a full-page shot."""
    page = browser.new_page(viewport=VIEWPORT)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(html.resolve().as_uri(), wait_until="load")
        page.wait_for_load_state("networkidle")
        images = [tuple(item) for item in page.evaluate(IMAGES)]
        return OpenedReport(requests, images, page.title(), page.inner_text("body"),  # type: ignore[arg-type]
                            page.screenshot(full_page=True))
    finally:
        page.close()


HOSTILE = "<script>document.title='pwned'</script><img src=http://127.0.0.1:9/x>"


def synthetic_runs(db: Path, start: float = 1_790_000_000.0) -> dict[str, int]:
    """A database with one run of each kind a report draws, by command: tokens (3 levels, a knee at 2, a
    hostile model name), memory watch (growth then plateau), council (2 members), monitor (an alert and an
    action), and a diagnose run that stored nothing."""
    from wfdoctor.model import ActionRecord, Alert, AlertState, Finding, Priority, Run, Sample
    from wfdoctor.store.monitoring import MonitorStore

    runs: dict[str, int] = {}

    def recorded(store: MonitorStore, run: Run, samples: list[Sample], findings: tuple[Finding, ...] = ()) -> int:
        with store.recording(run):
            store.add_results(run.id, samples, list(findings))  # type: ignore[arg-type]
        assert run.id is not None
        return run.id

    with MonitorStore.open(db) as store:
        samples = []
        for concurrency, throughput in ((1, 20.0), (2, 36.0), (4, 38.0)):
            labels = {"concurrency": str(concurrency)}
            samples += [Sample("wf_llm_request_ttft_seconds", 0.1 * concurrency + 0.01 * i, "s", "test",
                               labels | {"request": str(i)}, start) for i in range(10)]
            samples += [Sample("wf_llm_inter_token_latency_seconds", value * concurrency, "s", "test",
                               labels | {"stat": stat}, start) for stat, value in (("p50", 0.02), ("p99", 0.05))]
            samples.append(Sample("wf_llm_output_tokens_per_second", throughput, "tokens/s", "test", labels, start))
        finding = Finding("cpu", "CPU_CONTENTION", "row", "slow generation", f"a hog {HOSTILE}", Priority.HIGH,
                          ["stop the hog"], [], "another process takes the cores")
        runs["tokens"] = recorded(store, Run("tokens", start, tier="balanced", settings={
            "backend": "http://127.0.0.1:8080", "implementation": "llama.cpp", "model": HOSTILE}), samples, (finding,))
        rss = [Sample("wf_process_resident_memory_bytes", 1e8 + 1e5 * min(i, 100) + (i % 7) * 1e3, "bytes", "psutil",
                      {"pid": "42", "name": "server"}, start + i) for i in range(200)]
        runs["memory watch"] = recorded(store, Run("memory watch", start, settings={"pid": 42}), rss)
        council = [Sample(metric, value * member, "s", "test", {"members": "2", "member": f"m{member}"}, start)
                   for member in (1, 2) for metric, value in (("wf_council_member_ttft_seconds", 0.2),
                                                              ("wf_council_member_finish_seconds", 1.0))]
        runs["council"] = recorded(store, Run("council", start, settings={"members": [{}, {}]}), council)
        cpu = [Sample("wf_cpu_utilization_ratio", 0.2 + 0.6 * (30 <= i < 60), "ratio", "psutil", {}, start + i)
               for i in range(100)]
        runs["monitor"] = recorded(store, Run("monitor", start), cpu)
        alert = Alert("HighCPU", {"alertname": "HighCPU", "severity": "warning"}, {}, AlertState.FIRING, 0.8,
                      start + 30)
        store.add_alert_events(runs["monitor"], [alert], start + 35)
        store.add_action(runs["monitor"], ActionRecord("renice", "hog", "L1", True, "cpu", {}, {}, ts=start + 50))
        runs["diagnose"] = recorded(store, Run("diagnose", start), [])
    return runs


def synthetic_incident(db: Path, runs: dict[str, int]) -> int:
    """An incident (tests/builders.incident, hostile text in its note) whose before run is the tokens run and
    whose after runs are the monitor run and run 999, which is not in the store."""
    from dataclasses import replace

    from tests.builders import incident
    from wfdoctor.store.db import Store
    from wfdoctor.store.incidents import save_incident

    with Store.open(db) as store:
        return save_incident(store, replace(incident(note=HOSTILE), before_runs=[runs["tokens"]],
                                            after_runs=[runs["monitor"], 999]))
