"""Shared fixtures: the real SmolLM2 server, an isolated database, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.browser_tools import chromium_path, launch_chromium, static_pages
from wfdoctor.sense.backends.embedded import LOOPBACK, EmbeddedServer, free_port, smollm2_model_path

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMAS = Path(__file__).resolve().parent.parent / "src" / "wfdoctor" / "data" / "schemas"
# llama.cpp's server, built by scripts/install.sh into the environment (WFDOCTOR_LLAMA_SERVER names another build).
LLAMA_SERVER = Path(os.environ.get("WFDOCTOR_LLAMA_SERVER", Path(sys.prefix) / "bin" / "llama-server"))
LLAMA_SERVER_SLOTS = 3


def shipped_schema(document: Any) -> dict[str, Any]:
    """The packaged JSON Schema a `--json` document claims (history's document is a bare array)."""
    schema_id = "wfdoctor.history/v1" if isinstance(document, list) else document["schema"]
    name, version = schema_id.removeprefix("wfdoctor.").split("/")
    return json.loads((SCHEMAS / f"{name}.{version}.schema.json").read_text())


def validate_document(document: Any) -> None:
    """Fail the test when real output does not match its shipped schema."""
    jsonschema.validate(document, shipped_schema(document), format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="session")
def llm_server() -> Iterator[EmbeddedServer]:
    """llama-cpp-python's OpenAI-compatible server with SmolLM2, on a free loopback port."""
    with EmbeddedServer() as server:
        yield server


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 120.0) -> None:
    """Block until llama-server's /health answers 200 (the model is loaded); fail with its log if it dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama-server exited with code {process.returncode} while starting: "
                        f"{log.read_text(errors='replace')[-500:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail(f"llama-server did not become healthy within {timeout_s:.0f} s; log: {log}")


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's own llama-server with SmolLM2 and 3 parallel slots, on a free loopback port: its URL.

    One thread: on two cores shared with the client, its sampler and pytest, two spinning ggml
    threads made batched decode collapse (275 ms a token at concurrency 2 against 11 ms alone).
    16 HTTP threads: its default depends on the cores and the slots (a stream holds a thread to
    its end), so with fewer, the streams past them wait uncounted and /metrics waits behind them.
    """
    if not LLAMA_SERVER.is_file():
        pytest.fail(f"{LLAMA_SERVER} is missing: run ./scripts/install.sh --dev (it builds llama.cpp's llama-server)")
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [str(LLAMA_SERVER), "--model", str(smollm2_model_path()), "--host", LOOPBACK, "--port", str(port),
               "--parallel", str(LLAMA_SERVER_SLOTS), "--metrics", "--slots", "--ctx-size", "2048",
               "--threads", "1", "--threads-http", "16", "--no-webui"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        url = f"http://{LOOPBACK}:{port}"
        _wait_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def closed_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The parsed `--json` document, validated against its shipped schema."""
        document = json.loads(self.stdout)
        validate_document(document)
        return document


@pytest.fixture
def wfdoctor(tmp_path: Path):
    """Run the real `python -m wfdoctor` with its own database and config dir."""
    def run(*args: str, timeout: float = 120) -> CliResult:
        env = os.environ | {  # read at each call: a test's monkeypatched variables (WFDOCTOR_CLIENT) apply
            "WFDOCTOR_DB": str(tmp_path / "wfdoctor.db"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "COLUMNS": "200",
        }
        proc = subprocess.run([sys.executable, "-m", "wfdoctor", *args], capture_output=True, text=True,
                              env=env, timeout=timeout)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright, one per test module: a session-wide one keeps Playwright's
    event loop running in the main thread, and every later test calling asyncio.run fails."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium is not installed: ./scripts/install.sh --dev installs Debian's chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing: pip install -e '.[dev]'")
    with sync_api.sync_playwright() as playwright:
        launched = launch_chromium(playwright, executable)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def web_pages() -> Iterator[str]:
    """Base URL of a static server for tests/fixtures/pages, with the package's web assets under /static/."""
    with static_pages() as url:
        yield url


# Fixtures that start real processes or servers: a test using one is slow by nature (marked so that
# mutation testing, which reruns the fast tests for every mutant, can leave it out with -m "not slow").
PROCESS_FIXTURES = {"wfdoctor", "llm_server", "llama_server", "three_servers", "queued_server", "child", "cpu_hogs", "cpu_hog",
                    "memory_hog", "one_core_burner", "plain", "plain_install", "tiny_server", "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


# A CPU hog that names itself, so a verdict can be checked by name. Each hog runs in its own session:
# Linux's autogroup scheduler shares the CPU between sessions first, so hogs in one session could never
# take more than that session's share from the process they compete with (itself in a session of its own).
HOG = "import ctypes\nctypes.CDLL(None).prctl(15, b'wf-cpu-hog', 0, 0, 0)\nwhile True: pass"
HOGS = 6


def start_cpu_hogs() -> list[subprocess.Popen[bytes]]:
    hogs = [subprocess.Popen([sys.executable, "-c", HOG], start_new_session=True) for _ in range(HOGS)]
    time.sleep(1.0)
    return hogs


def stop_cpu_hogs(hogs: list[subprocess.Popen[bytes]]) -> None:
    for hog in hogs:
        hog.kill()
        hog.wait()


@pytest.fixture
def cpu_hog() -> Iterator[list[subprocess.Popen[bytes]]]:
    """HOGS busy processes named wf-cpu-hog, stopped after the test (or by it, with stop_cpu_hogs)."""
    hogs = start_cpu_hogs()
    yield hogs
    stop_cpu_hogs(hogs)
