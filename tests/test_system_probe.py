"""System probe: non-blocking, rates from two readings, per-core and per-process detail."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from wfdoctor.sense.processes import ProcessScanner, ProcessStat, ProcScanner, _parse_stat, cpu_rates
from wfdoctor.sense.system import SystemProbe


def test_first_read_has_instant_values_only_and_does_not_block() -> None:
    probe = SystemProbe()
    started = time.perf_counter()
    samples = probe.read()
    assert time.perf_counter() - started < 0.5
    metrics = {s.metric for s in samples}
    assert "wf_memory_used_ratio" in metrics
    assert "wf_cpu_utilization_ratio" not in metrics  # a rate needs two readings


def test_second_read_adds_rates_per_core_and_per_process() -> None:
    probe = SystemProbe(top=3)
    probe.read()
    time.sleep(0.2)
    samples = probe.read()
    cores = [s for s in samples if s.metric == "wf_cpu_core_utilization_ratio"]
    assert len(cores) == (os.cpu_count() or 1)
    assert all(0.0 <= s.value <= 1.0 for s in cores)
    assert len([s for s in samples if s.metric == "wf_process_cpu_utilization_ratio"]) == 3
    swap = {s.labels["direction"] for s in samples if s.metric == "wf_swap_bytes_per_second"}
    assert swap == {"in", "out"}


def test_disk_usage_is_reported_for_each_named_directory(tmp_path) -> None:
    probe = SystemProbe(paths={"data": tmp_path})
    disks = [s for s in probe.read() if s.metric == "wf_disk_used_ratio"]
    assert [(s.labels["role"], s.labels["path"]) for s in disks] == [("data", str(tmp_path))]


def test_proc_stat_parsing_survives_names_with_spaces_and_parentheses() -> None:
    fields = ["S"] + ["0"] * 10 + ["250", "150"] + ["0"] * 6 + ["1000", "0", "25"]
    raw = ("42 (my (odd) proc) " + " ".join(fields)).encode()
    stat = _parse_stat(42, raw)
    assert stat.name == "my (odd) proc"
    assert stat.cpu_seconds == (250 + 150) / os.sysconf("SC_CLK_TCK")
    assert stat.rss_bytes == 25 * os.sysconf("SC_PAGE_SIZE")


def test_cpu_rates_treat_a_reused_pid_as_a_new_process() -> None:
    before = {7: ProcessStat(7, "old", cpu_seconds=50.0, rss_bytes=0, started=1.0)}
    after = {7: ProcessStat(7, "new", cpu_seconds=0.5, rss_bytes=0, started=99.0)}
    assert cpu_rates(before, after, elapsed_s=1.0) == {7: 0.5}


def test_scan_finds_this_process() -> None:
    assert os.getpid() in ProcessScanner().scan()


def test_the_scanner_keeps_stat_files_open_and_closes_those_of_exited_processes() -> None:
    scanner = ProcScanner()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in scanner.scan()
        open_before = len(os.listdir("/proc/self/fd"))
        assert child.pid in scanner.scan()
        assert len(os.listdir("/proc/self/fd")) == open_before  # re-read, not re-opened
    finally:
        child.kill()
        child.wait()
    assert child.pid not in scanner.scan()
    assert child.pid not in scanner._fds
    scanner.close()


def test_slow_moving_values_come_every_fifth_read_unless_forced(tmp_path) -> None:
    probe = SystemProbe(paths={"data": tmp_path})
    has_disk = ["wf_disk_used_ratio" in {s.metric for s in probe.read()} for _ in range(6)]
    assert has_disk == [True, False, False, False, False, True]
    assert "wf_disk_used_ratio" in {s.metric for s in probe.read(slow=True)}


def test_the_process_list_is_read_every_nth_call_with_cpu_rates_over_the_scans() -> None:
    """The monitor reads processes every 5 s at 1 Hz: the list is most of a reading's cost."""
    probe = SystemProbe(top=3, process_every=3)
    readings = [probe.read() for _ in range(7)]
    with_rss = [i for i, samples in enumerate(readings)
                if any(s.metric == "wf_process_resident_memory_bytes" for s in samples)]
    with_cpu = [i for i, samples in enumerate(readings)
                if any(s.metric == "wf_process_cpu_utilization_ratio" for s in samples)]
    assert with_rss == [0, 3, 6] and with_cpu == [3, 6]   # a rate needs two scans
    assert all(any(s.metric == "wf_cpu_utilization_ratio" for s in samples) for samples in readings[1:])
