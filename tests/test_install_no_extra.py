"""A plain install, without the `embedded` extra: no compiler, and every command works against a running server.

The venv is built once for this module, without system site-packages, from wheels only: wfdoctor's own wheel
is built with `pip wheel --no-deps`, then installed with `--only-binary :all:`, so any dependency that would
compile (llama-cpp-python does, for minutes) makes the install fail instead of quietly building. PyPI is
reachable; pip's own cache makes reruns quick.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer

ROOT = Path(__file__).resolve().parents[1]
INSTALL_TIMEOUT_S = 600
HOW_TO_GET_IT = "run scripts/install.sh"


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class PlainInstall:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"


def _without_this_checkout() -> dict[str, str]:
    """The environment minus what points at this checkout's sources: with PYTHONPATH=src, pip would take an
    editable install's metadata for wfdoctor as already installed, and the CLI would run the checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _check(command: list[str], cwd: Path) -> None:
    proc = subprocess.run(command, cwd=cwd, env=_without_this_checkout(), capture_output=True, text=True,
                          timeout=INSTALL_TIMEOUT_S)
    assert proc.returncode == 0, f"{' '.join(command)}\n{proc.stdout}\n{proc.stderr}"


def _copy_sources(target: Path) -> Path:
    """What the wheel is built from, copied so the build leaves nothing in the checkout."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "src", target / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return target


@pytest.fixture(scope="module")
def plain_install(tmp_path_factory: pytest.TempPathFactory) -> PlainInstall:
    work = tmp_path_factory.mktemp("plain-install")
    install = PlainInstall(work / "venv")
    venv.EnvBuilder(system_site_packages=False, with_pip=True).create(install.root)
    pip = [str(install.python), "-m", "pip", "--disable-pip-version-check", "-q"]
    _check(pip + ["wheel", "--no-deps", "-w", str(work / "dist"), str(_copy_sources(work / "source"))], work)
    [wheel] = (work / "dist").glob("wfdoctor-*.whl")
    _check(pip + ["install", "--only-binary", ":all:", str(wheel)], work)
    return install


@pytest.fixture
def plain(plain_install: PlainInstall, tmp_path: Path) -> Callable[..., Result]:
    """Run a program of the plain venv with its own database and config dir."""
    env = _without_this_checkout() | {
        "WFDOCTOR_DB": str(tmp_path / "wfdoctor.db"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "COLUMNS": "200",
    }

    def run(program: str, *args: str, timeout: float = 120) -> Result:
        proc = subprocess.run([str(plain_install.root / "bin" / program), *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


def test_the_plain_install_has_wfdoctor_from_its_wheel_and_no_llama_cpp(plain, plain_install: PlainInstall) -> None:
    where = plain("python", "-c", "import wfdoctor; print(wfdoctor.__file__)")
    assert where.code == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(plain_install.root)
    engine = plain("python", "-c", "import llama_cpp")
    assert engine.code != 0
    assert "No module named 'llama_cpp'" in engine.stderr


def test_diagnose_reports_the_machine_and_notes_that_no_server_answered(plain, closed_url: str) -> None:
    result = plain("wfdoctor", "diagnose", "--no-embedded", "--json", "--window", "0.2", "--token-runs", "0",
                   "--backend", closed_url, "--fail-on", "never")
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert "wf_cpu_utilization_ratio" in {s["metric"] for s in doc["samples"]}
    assert any("no LLM server answered" in note for note in doc["notes"])


def test_diagnose_notes_that_the_embedded_engine_is_not_installed_and_how_to_get_it(plain, closed_url: str) -> None:
    result = plain("wfdoctor", "diagnose", "--json", "--window", "0.2", "--token-runs", "0",
                   "--backend", closed_url, "--fail-on", "never")
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["samples"]
    [note] = [note for note in doc["notes"] if "embedded engine" in note]
    assert "not installed" in note and HOW_TO_GET_IT in note


def test_tokens_measures_a_running_server(plain) -> None:
    with FakeLLMServer(FakeConfig(ttft_s=0.02, itl_s=0.005, tokens=8)) as server:
        result = plain("wfdoctor", "tokens", "--backend", server.base_url, "--runs", "3", "--no-bandwidth", "--json",
                       "--fail-on", "never")
    assert result.code == 0, result.stderr
    [level] = json.loads(result.stdout)["levels"]
    assert level["ok"] == level["requests"] == 3


@pytest.mark.parametrize("command", [["tokens", "--backend", "embedded", "--runs", "1", "--no-bandwidth"],
                                     ["council", "--member", "embedded"]], ids=["tokens", "council"])
def test_the_embedded_engine_says_in_one_line_how_to_get_it(plain, command: list[str]) -> None:
    result = plain("wfdoctor", *command)
    assert result.code == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "llama-cpp-python" in line and HOW_TO_GET_IT in line
