"""Script time per frame of wf-perf-monitor.js: the same page with and without it, side by side, in headless Chromium.

Command (about a minute; the browser harness lives with the tests, hence `.` on the path):

    PYTHONPATH=src:. .venv/bin/python benchmarks/bench_perf_monitor_js.py [--runs 3] [--seconds 10] [--work 0 2]

The page is tests/fixtures/pages/smooth.html: one moving box and `--work` ms of busy script per frame (the
page's own work, the same on both sides; 0 shows the monitor's cost without the noise of a busy loop, 2 a page
that does something). "with" starts the monitor as a page would (reports every 2 s to a
local collector, so building and sending them is counted); "without" never loads the module (`monitor=0`).
Script time is Chromium's own (DevTools Protocol `Performance.getMetrics` ScriptDuration, in the renderer
thread's CPU time so that time descheduled on a busy machine is not counted: every script task of the page, the monitor's rAF callback, its report timer and observers included), over the frames the page
animated in the window (its own rAF counter), after a warm-up. Each run measures both sides one after the
other, the side that goes first alternating (A B, B A, ...), so drift in the machine's load hits both alike.
Printed: median [min-max] over runs per side, the difference with/without per frame (the monitor's cost)
and its share of the 16.7 ms frame budget, the ratio of the medians and the median of the paired ratios.
Target (issue 12): a cost per frame that is negligible beside the budget.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import sync_playwright

from tests.browser_tools import chromium_path, collecting, launch_chromium, page_url, static_pages

BUDGET_MS = 16.67
WARMUP_S = 2.0
SIDES = ("without", "with")


@dataclass(frozen=True)
class Window:
    """One side of one run: page script time and animation frames over the measured window."""

    script_ms: float
    task_ms: float
    frames: int

    @property
    def script_per_frame_ms(self) -> float:
        return self.script_ms / max(self.frames, 1)


def metrics(cdp: Any) -> dict[str, float]:
    return {item["name"]: item["value"] for item in cdp.send("Performance.getMetrics")["metrics"]}


def measure(browser: Any, url: str, seconds: float) -> Window:
    """Open the page in a fresh context, warm up, then read script time and frames over `seconds`."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
        time.sleep(WARMUP_S)
        before, frames_before = metrics(cdp), page.evaluate("window.animationFrames")
        time.sleep(seconds)
        after, frames_after = metrics(cdp), page.evaluate("window.animationFrames")
        return Window(script_ms=(after["ScriptDuration"] - before["ScriptDuration"]) * 1000,
                      task_ms=(after["TaskDuration"] - before["TaskDuration"]) * 1000,
                      frames=frames_after - frames_before)
    finally:
        context.close()


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.4f} [{min(values):.4f}-{max(values):.4f}]"


def report(windows: dict[str, list[Window]], work_ms: float) -> None:
    per_frame = {side: [w.script_per_frame_ms for w in windows[side]] for side in SIDES}
    task = {side: [w.task_ms / max(w.frames, 1) for w in windows[side]] for side in SIDES}
    print(f"\nsmooth.html with {work_ms:g} ms of page work per frame; {len(windows['with'])} alternating runs; "
          "per frame, ms: median [min-max]")
    print(f"{'side':<8} {'script ms/frame':>26} {'task ms/frame':>26} {'frames':>14}")
    for side in SIDES:
        frames = [w.frames for w in windows[side]]
        print(f"{side:<8} {spread(per_frame[side]):>26} {spread(task[side]):>26} "
              f"{statistics.median(frames):>8.0f} [{min(frames)}-{max(frames)}]")
    diffs = [w - wo for w, wo in zip(per_frame["with"], per_frame["without"], strict=True)]
    median_diff = statistics.median(diffs)
    paired = statistics.median(w / wo for w, wo in zip(per_frame["with"], per_frame["without"], strict=True))
    print(f"monitor's cost (with - without, paired per run): {spread(diffs)} ms/frame = "
          f"{median_diff / BUDGET_MS * 100:.3f} % of the {BUDGET_MS} ms budget")
    medians = {side: statistics.median(per_frame[side]) for side in SIDES}
    print(f"ratio with/without: of the medians {medians['with'] / medians['without']:.3f}x, paired {paired:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="alternating runs (default 3)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per side and run (default 10)")
    parser.add_argument("--work", type=float, nargs="+", default=[0.0, 2.0],
                        help="page's own busy script per frame, ms; one comparison each (default 0 2)")
    args = parser.parse_args()
    executable = chromium_path()
    if executable is None:
        raise SystemExit("chromium is not installed: ./scripts/install.sh --dev installs Debian's chromium")
    with sync_playwright() as playwright, static_pages() as base, collecting() as collector:
        browser = launch_chromium(playwright, executable)
        for work_ms in args.work:
            windows: dict[str, list[Window]] = {side: [] for side in SIDES}
            for run in range(args.runs):
                for side in SIDES if run % 2 == 0 else SIDES[::-1]:
                    url = page_url(base, "smooth", f"{collector.url}/api/frames", page="bench", work=work_ms,
                                   monitor="1" if side == "with" else "0")
                    windows[side].append(measure(browser, url, args.seconds))
            report(windows, work_ms)
        browser.close()
        print(f"({len(collector.bodies())} reports received from the monitored sides)")


if __name__ == "__main__":
    main()
