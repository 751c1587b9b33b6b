"""Signals: SIGTERM stops a command the way Ctrl-C does; a SIGKILL leaves no child process and no file behind.

wfdoctor runs here as a real process in its own session (as a command typed in a terminal is its own
process group), with its own database and its own TMPDIR, so what it leaves behind can be counted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

import wfdoctor
from wfdoctor.store.db import Store
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer

pytestmark = pytest.mark.slow  # every case starts wfdoctor and a server

SAMPLER = "wfdoctor.measure.sampler"
EMBEDDED = "llama_cpp.server"
GONE_WITHIN_S = 2.0  # the acceptance bound: children of a killed wfdoctor are gone within this
STARTUP_BOUND_S = 180.0  # generous: the embedded engine loads a model on a shared 2-core machine


@dataclass
class Running:
    """A wfdoctor command in progress, and where it keeps things."""

    process: subprocess.Popen[str]
    db: Path
    tmp: Path
    seen: set[psutil.Process] = field(default_factory=set)  # every child ever listed: the teardown's to kill

    def children(self) -> list[psutil.Process]:
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        self.seen.update(children)
        return children

    def wait_for_child(self, marker: str) -> psutil.Process:
        """The child whose command line names `marker`, once it runs (the command is then mid-run)."""
        deadline = time.monotonic() + STARTUP_BOUND_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"wfdoctor ended (code {self.process.returncode}) before {marker}"
            found = [c for c in self.children() if marker in " ".join(_cmdline(c))]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no {marker} child within {STARTUP_BOUND_S:.0f} s")

    def wait_for_database(self) -> None:
        """Until the command has opened its database (and so is about to record its run)."""
        deadline = time.monotonic() + STARTUP_BOUND_S
        while not self.db.exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def finish(self) -> tuple[int, str, str]:
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, out, err

    def left_files(self) -> list[str]:
        return sorted(name for name in os.listdir(self.tmp) if name.startswith("wfdoctor-"))


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return []


def _alive(process: psutil.Process) -> bool:
    """Running, and not merely a zombie waiting for an init that reaps lazily."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _survivors(children: list[psutil.Process], within_s: float) -> list[psutil.Process]:
    deadline = time.monotonic() + within_s
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [c for c in children if _alive(c)]


Start = Callable[..., Running]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start `python -m wfdoctor ARGS` in its own session; whatever a case leaves running is killed after it."""
    started: list[Running] = []

    def run(*args: str) -> Running:
        tmp = tmp_path / "tmp"
        tmp.mkdir(exist_ok=True)
        env = os.environ | {"WFDOCTOR_DB": str(tmp_path / "wfdoctor.db"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
                            "TMPDIR": str(tmp), "COLUMNS": "200"}
        process = subprocess.Popen([sys.executable, "-m", "wfdoctor", *args], env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        started.append(Running(process, tmp_path / "wfdoctor.db", tmp))
        return started[-1]

    yield run
    for running in started:  # a failed case must not leave its processes (holding its pipes) behind
        running.children()
        for child in filter(_alive, running.seen):
            child.kill()
        running.process.kill()
        running.process.communicate()


@pytest.fixture
def slow_server() -> Iterator[FakeLLMServer]:
    """A server slow enough (about half a second a request) that a long `tokens` run is still going when signalled."""
    with FakeLLMServer(FakeConfig(ttft_s=0.05, itl_s=0.02, tokens=20)) as server:
        yield server


def _tokens(start: Start, server: FakeLLMServer) -> Running:
    """`wfdoctor tokens` with far more requests than a case waits for, mid-run once its sampler runs."""
    running = start("tokens", "--backend", server.base_url, "--runs", "1000", "--warmup", "0", "--no-bandwidth")
    running.wait_for_child(SAMPLER)
    time.sleep(1.5)  # a few requests and sampler readings
    return running


def _kept_run(db: Path) -> tuple[str, list[wfdoctor.Sample]]:
    """The status and samples of the one run the command stored."""
    [summary] = wfdoctor.history(5, db=db).runs
    with Store.open(db) as store:
        return summary.status, store.samples_of(summary.id)


def _one_interrupted_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("wfdoctor:")]
    assert len(lines) == 1, stderr
    return lines[0]


def _terminated(running: Running) -> tuple[str, list[wfdoctor.Sample], str]:
    """SIGTERM `running`: it exits 143 with one interrupted line; its run's status and samples, and its stdout."""
    running.process.send_signal(signal.SIGTERM)
    code, out, err = running.finish()
    assert code == 143
    assert "is kept as interrupted" in _one_interrupted_line(err)
    status, samples = _kept_run(running.db)
    return status, samples, out


@pytest.mark.usefixtures("each_client")
def test_sigterm_keeps_the_tokens_run_as_interrupted_with_its_samples(start: Start, slow_server: FakeLLMServer) -> None:
    running = _tokens(start, slow_server)
    children = running.children()
    status, samples, out = _terminated(running)
    assert status == "interrupted"
    assert any(s.metric == "wf_llm_request_ttft_seconds" for s in samples)  # the requests that finished
    assert any(s.source.startswith("psutil") for s in samples)  # and the sampler's readings
    assert "Exit code 143" in out
    assert _survivors(children, GONE_WITHIN_S) == [] and running.left_files() == []


@pytest.mark.usefixtures("each_client")
def test_ctrl_c_in_a_terminal_keeps_the_run_and_the_samplers_readings(start: Start, slow_server: FakeLLMServer) -> None:
    """A terminal sends SIGINT to the whole foreground group: the sampler must not die before it is read."""
    running = _tokens(start, slow_server)
    os.killpg(running.process.pid, signal.SIGINT)
    code, _, err = running.finish()
    assert code == 130
    _one_interrupted_line(err)
    status, samples = _kept_run(running.db)
    assert status == "interrupted"
    assert any(s.source.startswith("psutil") for s in samples)


def _killed_leaves_nothing(running: Running, child: str) -> None:
    """SIGKILL `running` (its `child` among its children): within GONE_WITHIN_S no child and no file remain."""
    children = running.children()
    assert any(child in " ".join(_cmdline(c)) for c in children)
    running.process.kill()
    running.process.wait(timeout=10)  # not its pipes: a surviving child would hold them open
    assert _survivors(children, GONE_WITHIN_S) == []
    assert running.left_files() == []


@pytest.mark.usefixtures("each_client")
def test_sigkill_of_tokens_leaves_no_sampler_and_no_sample_file(start: Start, slow_server: FakeLLMServer) -> None:
    _killed_leaves_nothing(_tokens(start, slow_server), SAMPLER)


def _embedded_diagnose(start: Start, closed_url: str) -> Running:
    """`diagnose` on the embedded engine (the named server does not answer), mid-way through its token check."""
    running = start("diagnose", "--backend", closed_url, "--window", "0.2", "--token-runs", "100")
    running.wait_for_child(EMBEDDED)
    running.wait_for_child(SAMPLER)  # started by the token check, once the server answers
    return running


def test_sigkill_of_diagnose_leaves_no_embedded_server_and_no_file(start: Start, closed_url: str) -> None:
    _killed_leaves_nothing(_embedded_diagnose(start, closed_url), EMBEDDED)


def test_sigterm_of_diagnose_keeps_its_snapshot_and_stops_the_embedded_server(start: Start, closed_url: str) -> None:
    running = _embedded_diagnose(start, closed_url)
    children = running.children()
    status, samples, _ = _terminated(running)
    assert status == "interrupted" and samples  # the system snapshot is stored before the token check
    assert _survivors(children, GONE_WITHIN_S) == [] and running.left_files() == []


def test_a_child_whose_parent_died_before_it_was_tied_stops_at_once() -> None:
    """The start-up race: the parent may die before the child asks for the parent-death signal."""
    child = subprocess.run([sys.executable, "-c", "import signal, time\n"
                            "from wfdoctor.sense.lifeline import tie_to_parent\n"
                            "tie_to_parent(-1, signal.SIGTERM)\ntime.sleep(30)"], timeout=20)
    assert child.returncode == -signal.SIGTERM


def test_without_prctl_a_watchdog_stops_the_child_when_its_parent_is_killed() -> None:
    """Where the kernel cannot signal parent death (not Linux), the child notices by itself."""
    grandchild = ("import os, signal, time\nfrom wfdoctor.sense import lifeline\n"
                  "lifeline._parent_death_signal = lambda signum: False\n"
                  "lifeline.tie_to_parent(os.getppid(), signal.SIGTERM)\ntime.sleep(30)")
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time\n"
                               f"child = subprocess.Popen([sys.executable, '-c', {grandchild!r}])\n"
                               "print(child.pid, flush=True)\ntime.sleep(30)"], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    tied = psutil.Process(int(parent.stdout.readline()))
    time.sleep(0.5)  # the watchdog is running
    parent.kill()
    parent.wait()
    assert _survivors([tied], GONE_WITHIN_S) == []


def test_sigterm_keeps_a_memory_watch_as_interrupted_with_its_readings(start: Start) -> None:
    watched = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        running = start("memory", "watch", "--pid", str(watched.pid), "--duration", "60", "--interval", "0.1")
        running.wait_for_database()
        time.sleep(1.0)  # a few readings
        status, samples, _ = _terminated(running)
    finally:
        watched.kill()
        watched.wait()
    assert status == "interrupted" and samples


def test_sigterm_keeps_a_council_as_interrupted(start: Start) -> None:
    with FakeLLMServer(FakeConfig(itl_s=0.5, tokens=40)) as server:  # each answer takes 20 s
        running = start("council", "--member", server.base_url, "--member", server.base_url)
        running.wait_for_database()
        time.sleep(1.5)  # the members are answering
        status, _, _ = _terminated(running)
    assert status == "interrupted"


def test_sigterm_stops_a_long_regress_check_with_one_line_and_143(start: Start, tmp_path: Path) -> None:
    with Store.open(tmp_path / "wfdoctor.db") as store:  # a history long enough to take seconds to check
        run = wfdoctor.Run(command="regress record", started_at=1.79e9)
        with store.recording(run) as run_id:
            store.add_samples(run_id, [wfdoctor.Sample("bench_latency_seconds", 1.0 + (i % 7) / 100, "s", "test",
                                                       {"point": str(i)}, 1.79e9 + i) for i in range(600_000)])
    running = start("regress", "check")
    time.sleep(1.5)  # started, and checking
    assert running.process.poll() is None, "the check ended before the signal: make the history longer"
    running.process.send_signal(signal.SIGTERM)
    code, _, err = running.finish()
    assert code == 143
    _one_interrupted_line(err)
