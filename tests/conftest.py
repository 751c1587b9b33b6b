"""Shared fixtures: the real SmolLM2 server, an isolated database, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from wfdoctor.sense.backends.embedded import EmbeddedServer, free_port

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def llm_server() -> Iterator[EmbeddedServer]:
    """llama-cpp-python's OpenAI-compatible server with SmolLM2, on a free loopback port."""
    with EmbeddedServer() as server:
        yield server


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
        return json.loads(self.stdout)


@pytest.fixture
def wfdoctor(tmp_path: Path):
    """Run the real `python -m wfdoctor` with its own database and config dir."""
    env = os.environ | {
        "WFDOCTOR_DB": str(tmp_path / "wfdoctor.db"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "COLUMNS": "200",
    }

    def run(*args: str, timeout: float = 120) -> CliResult:
        proc = subprocess.run([sys.executable, "-m", "wfdoctor", *args], capture_output=True, text=True,
                              env=env, timeout=timeout)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run
