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

import jsonschema
import pytest

from wfdoctor.sense.backends.embedded import EmbeddedServer, free_port

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMAS = Path(__file__).resolve().parent.parent / "src" / "wfdoctor" / "data" / "schemas"


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


# Fixtures that start real processes or servers: a test using one is slow by nature (marked so that
# mutation testing, which reruns the fast tests for every mutant, can leave it out with -m "not slow").
PROCESS_FIXTURES = {"wfdoctor", "llm_server", "three_servers", "queued_server", "child", "cpu_hogs", "memory_hog",
                    "one_core_burner", "plain", "plain_install", "tiny_server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
