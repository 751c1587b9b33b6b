"""The SQLite store: runs survive, readers work while a writer writes, bad files are reported."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from wfdoctor.model import Finding, Priority, Run, Sample, WfdoctorError
from wfdoctor.store.db import SCHEMA_VERSION, Store


def test_two_diagnose_runs_are_listed_by_history(wfdoctor, closed_url) -> None:
    for _ in range(2):
        assert wfdoctor("diagnose", "--window", "0.2", "--backend", closed_url, "--no-embedded",
                        "--fail-on", "never").code == 0
    result = wfdoctor("history")
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].split()[0] == "2" and lines[1].split()[0] == "1"
    for line in lines:
        assert " diagnose " in line and "tier=" in line
    runs = wfdoctor("history", "--json").json()
    assert [run["id"] for run in runs] == [2, 1]
    assert all(run["status"] == "finished" for run in runs)


def test_database_is_in_wal_mode_with_versioned_schema(tmp_path: Path) -> None:
    Store.open(tmp_path / "w.db").close()
    raw = sqlite3.connect(tmp_path / "w.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_readers_see_committed_runs_while_a_writer_writes(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    Store.open(path).close()
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        with Store.open(path) as writer:
            for _ in range(40):
                run = Run(command="monitor", started_at=time.time())
                writer.begin_run(run)
                writer.add_samples(run.id or 0, [Sample("wf_cpu_utilization_ratio", i / 200, "ratio", "test")
                                                 for i in range(200)])
                writer.finish_run(run)
        stop.set()

    def read() -> None:
        try:
            with Store.open(path) as reader:
                while not stop.is_set():
                    for summary in reader.list_runs(5):
                        if summary.status == "finished":
                            assert len(reader.samples_of(summary.id)) == 200
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    with Store.open(path) as store:
        assert len(store.list_runs(100)) == 40


def test_a_run_killed_midway_keeps_its_samples(tmp_path: Path) -> None:
    with Store.open(tmp_path / "k.db") as store:
        run = Run(command="diagnose", started_at=time.time())
        store.begin_run(run)
        store.add_samples(run.id or 0, [Sample("wf_cpu_utilization_ratio", 1.0, "ratio", "test")])
    with Store.open(tmp_path / "k.db") as store:
        [summary] = store.list_runs()
        assert summary.status == "running"
        assert len(store.samples_of(summary.id)) == 1


def test_samples_in_a_time_range_are_read_from_any_run_running_included(tmp_path: Path) -> None:
    now = time.time()

    def cpu(value: float, ts: float) -> Sample:
        return Sample("wf_cpu_utilization_ratio", value, "ratio", "test", {"window_s": "1"}, ts)

    with Store.open(tmp_path / "r.db") as store:
        monitor = Run(command="monitor", started_at=now - 300)
        store.begin_run(monitor)                       # stays running, like the monitor's run
        store.add_samples(monitor.id or 0, [cpu(0.1, now - 200), cpu(0.2, now - 60), cpu(0.3, now - 10),
                                            Sample("wf_memory_used_ratio", 0.5, "ratio", "test", {}, now - 30)])
        with store.recording(Run(command="diagnose", started_at=now - 40)) as finished:
            store.add_samples(finished, [cpu(0.9, now - 30)])
        got = store.samples_between(["wf_cpu_utilization_ratio"], now - 120, now)
        assert [s.value for s in got] == [0.2, 0.9, 0.3]               # oldest first, across both runs
        assert got[0].labels == {"window_s": "1"}
        assert store.samples_between(["wf_cpu_utilization_ratio"], now - 5, now) == []
        assert store.samples_between([], now - 500, now) == []
        both = store.samples_between(["wf_cpu_utilization_ratio", "wf_memory_used_ratio"], now - 35, now - 25)
        assert sorted(s.metric for s in both) == ["wf_cpu_utilization_ratio", "wf_memory_used_ratio"]


def test_a_run_whose_process_was_killed_is_marked_abandoned_with_its_samples(tmp_path: Path) -> None:
    recorder = subprocess.run([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from wfdoctor.model import Run, Sample; "
        "from wfdoctor.store.db import Store; store = Store.open(Path(sys.argv[1])); "
        "run = Run(command='tokens', started_at=time.time()); store.begin_run(run); "
        "store.add_samples(run.id, [Sample('wf_cpu_utilization_ratio', 1.0, 'ratio', 'test')])"),
        str(tmp_path / "k.db")], check=True)  # its process ends without closing the run, as a SIGKILL would
    assert recorder.returncode == 0
    with Store.open(tmp_path / "k.db") as store:
        [summary] = store.list_runs()
        assert summary.status == "abandoned"
        assert len(store.samples_of(summary.id)) == 1


def test_ctrl_c_keeps_the_run_marked_interrupted(tmp_path: Path, wfdoctor) -> None:
    env = os.environ | {"WFDOCTOR_DB": str(tmp_path / "wfdoctor.db")}
    proc = subprocess.Popen([sys.executable, "-m", "wfdoctor", "diagnose", "--window", "30", "--no-embedded"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 30
    while not (tmp_path / "wfdoctor.db").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # inside the sampling window
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and "interrupted" in err
    assert wfdoctor("history", "--json").json()[0]["status"] == "interrupted"


def test_corrupt_database_is_reported_not_replaced(tmp_path: Path, wfdoctor) -> None:
    path = tmp_path / "wfdoctor.db"  # the fixture's WFDOCTOR_DB
    garbage = b"this is not sqlite" * 100
    path.write_bytes(garbage)
    result = wfdoctor("history")
    assert result.code == 2
    assert result.stderr.startswith(f"wfdoctor: error: {path}: not a wfdoctor database or corrupt")
    assert len(result.stderr.strip().splitlines()) == 1
    assert path.read_bytes() == garbage


def test_an_older_database_is_migrated_forward_keeping_its_runs(tmp_path: Path) -> None:
    from wfdoctor.store.db import MIGRATIONS

    path = tmp_path / "v1.db"
    old = sqlite3.connect(path)
    old.executescript(MIGRATIONS[0])
    old.execute("INSERT INTO runs (command, started_at) VALUES ('diagnose', 1.0)")
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()
    with Store.open(path) as store:
        assert [run.command for run in store.list_runs()] == ["diagnose"]
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert raw.execute("SELECT COUNT(*) FROM actions").fetchone()[0] == 0


def test_leak_rates_stored_as_bytes_are_relabelled_bytes_per_minute_and_read_again(tmp_path: Path) -> None:
    from wfdoctor.store.db import MIGRATIONS

    path = tmp_path / "v2.db"
    old = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        old.executescript(script)
    old.execute("INSERT INTO runs (command, started_at, status) VALUES ('memory watch', ?, 'finished')",
                (time.time(),))
    old.execute("INSERT INTO samples (run_id, metric, value, unit, source, labels, ts) VALUES "
                "(1, 'wf_memory_leak_bytes_per_minute', 2e7, 'bytes', 'watch', '{}', 1.0)")
    old.execute("PRAGMA user_version = 2")
    old.commit()
    old.close()
    with Store.open(path) as store:
        [leak] = store.recent_samples("wf_memory_leak_bytes_per_minute", 0.0)
        assert (leak.value, leak.unit) == (2e7, "bytes/min")
        store.add_results(1, [], [Finding("memory.leak", "MEMORY_LEAK", "high_memory", "s", "c", Priority.HIGH,
                                          [], [leak], "leak")])  # old evidence passes the registry's check


def test_database_from_a_newer_wfdoctor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(WfdoctorError, match="newer than this wfdoctor"):
        Store.open(path)


def test_a_stored_run_reads_back_whole_with_each_symptom_under_its_cause(tmp_path: Path) -> None:
    from wfdoctor.store.runs import load_run

    metric = "wf_llm_request_ttft_seconds"
    cause = Finding("tokens.cause", "CPU_CONTENTION", "slow_token_generation", "Slow token generation",
                    "other processes compete", Priority.HIGH, ["disable_background_processes"],
                    [Sample(metric, 0.5, "s", "test", {"request": "0"}, ts=1.7e9)], "busy")
    symptom = Finding("tokens.rate_low", "SLOW_TOKENS", "slow_token_generation", "Slow token generation",
                      "decode below the minimum", Priority.HIGH, [], [], "slow", explained_by="CPU_CONTENTION")
    with Store.open(tmp_path / "wf.db") as store:
        run = Run("tokens", started_at=1.7e9, settings={"backend": "http://127.0.0.1:1"}, tier="low")
        with store.recording(run):
            store.add_results(run.id or 0, [Sample(metric, 0.5, "s", "test", {"request": "0"}, ts=1.7e9)],
                              [cause, symptom])
        loaded = load_run(store, run.id or 0)
        assert load_run(store, 999) is None
    assert loaded is not None and loaded.command == "tokens" and loaded.tier == "low"
    assert loaded.settings == {"backend": "http://127.0.0.1:1"} and [s.value for s in loaded.samples] == [0.5]
    assert loaded.findings == [cause, symptom]
