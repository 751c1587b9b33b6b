"""Overhead of `wfdoctor monitor` at 1 Hz beside Glances and prometheus-node-exporter, in one run.

Command (10 minutes, the issue's benchmark; `--duration 30` for a quick look: the leak verdict needs
at least 20 readings over 20 s):

    PYTHONPATH=src .venv/bin/python benchmarks/bench_monitor_overhead.py [--duration 600] [--interval 1]

All three watchers run at the same time, so machine noise hits them alike:
- `python -m wfdoctor monitor --headless --interval 1 --canary off` (default rules, its own
  temporary database, /metrics on a free loopback port);
- Glances headless (`glances -q -t 1`: quiet mode, its stats loop at the same interval; quiet mode
  keeps no per-process list, which wfdoctor does keep: the comparison flatters Glances);
- Debian's `prometheus-node-exporter`, scraped at the same interval by this script (the scrape
  is what makes an exporter work; this script's own CPU is not counted).

Per process, from /proc/PID/stat: CPU = utime + stime (+ cutime + cstime of children it waited
for) over the measured window after a warm-up, as a share of one core; RSS (VmRSS) sampled every
interval. RSS flatness is wfdoctor's own leak verdict (`analyze.leaks.leak_verdict`, the limits
and floor of the facts file) on each RSS series. Printed: absolute CPU % and RSS slope with units,
the verdicts, and the ratios wfdoctor/glances and wfdoctor/node-exporter. Targets (issue 11):
the monitor under 0.5 % of one core, its RSS judged stable. The monitor's in-memory sample window
fills over its lookback (300 s by default), so with the default 15 s warm-up its RSS may read
"growth-then-plateau" (a few MB, then flat); `--warmup 330` judges the steady state alone.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from wfdoctor.analyze.leaks import LeakVerdict, leak_verdict
from wfdoctor.config.facts import load_facts

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPU_TARGET = 0.005        # issue 11: under 0.5 % of one core


@dataclass
class Watched:
    """One watcher process and what was read of it during the measured window."""

    name: str
    process: subprocess.Popen[bytes]
    cpu_start_s: float = 0.0
    cpu_end_s: float = 0.0
    times_s: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)

    def read(self) -> tuple[float, float]:
        """(CPU seconds so far, RSS bytes) from /proc: utime+stime+cutime+cstime, VmRSS."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()  # after the command name, which may hold spaces
        ticks = sum(int(value) for value in fields[11:15])
        rss_kib = next(int(line.split()[1]) for line in Path(f"/proc/{self.process.pid}/status").read_text()
                       .splitlines() if line.startswith("VmRSS:"))
        return ticks / CLOCK_TICKS, rss_kib * 1024.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(name: str, command: list[str], log: Path) -> Watched:
    if shutil.which(command[0]) is None:
        sys.exit(f"bench_monitor_overhead: {command[0]} not found (scripts/install.sh --dev installs it)")
    with log.open("wb") as out:
        return Watched(name, subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, start_new_session=True))


def scrape(url: str) -> None:
    with urllib.request.urlopen(url, timeout=5) as response:
        response.read()


def measure(watched: list[Watched], duration_s: float, interval_s: float, scrape_url: str,
            logs: dict[str, Path]) -> float:
    """Read every process each interval for `duration_s`, scraping the exporter too; the window's length."""
    for item in watched:
        item.cpu_start_s = item.read()[0]
    started = time.monotonic()
    tick = started
    while (now := time.monotonic()) - started < duration_s:
        scrape(scrape_url)
        for item in watched:
            if item.process.poll() is not None:
                tail = logs[item.name].read_text(errors="replace")[-2000:]
                sys.exit(f"bench_monitor_overhead: {item.name} exited with {item.process.returncode}:\n{tail}")
            item.times_s.append(now - started)
            item.rss.append(item.read()[1])
        tick += interval_s
        time.sleep(max(0.0, tick - time.monotonic()))
    for item in watched:
        item.cpu_end_s = item.read()[0]
    return time.monotonic() - started


def verdict(item: Watched) -> LeakVerdict:
    facts = load_facts()
    return leak_verdict(item.times_s, item.rss, limits=facts.limits.leaks,
                        floor_bytes_per_minute=float(facts.common["memory_leak_bytes_per_minute"]))


def report(watched: list[Watched], window_s: float, interval_s: float) -> bool:
    """Print the table and the ratios; True when the monitor meets both targets."""
    cpu = {item.name: (item.cpu_end_s - item.cpu_start_s) / window_s for item in watched}
    rss = {item.name: sum(item.rss) / len(item.rss) for item in watched}
    verdicts = {item.name: verdict(item) for item in watched}
    print(f"window {window_s:.0f} s at {interval_s:g} s intervals, {len(watched[0].rss)} RSS readings each")
    print(f"{'process':<16} {'CPU, % of 1 core':>17} {'mean RSS MB':>12} {'RSS slope kB/min (95 % CI)':>30}  "
          f"verdict")
    for item in watched:
        found = verdicts[item.name]
        slope = (f"{found.per_minute[0] / 1e3:.1f} ({found.per_minute[1] / 1e3:.1f} to "
                 f"{found.per_minute[2] / 1e3:.1f})") if found.per_minute else "-"
        print(f"{item.name:<16} {cpu[item.name] * 100:>16.3f}% {rss[item.name] / 1e6:>12.1f} {slope:>30}  "
              f"{found.verdict}")
    first, *others = watched
    for other in others:
        print(f"ratio {first.name}/{other.name}: CPU {cpu[first.name] / max(cpu[other.name], 1e-9):.2f}x, "
              f"RSS {rss[first.name] / rss[other.name]:.2f}x")
    cpu_ok = cpu[first.name] < CPU_TARGET
    flat = verdicts[first.name].verdict == "stable"
    print(f"target: {first.name} CPU < {CPU_TARGET * 100:g} % of a core: {'met' if cpu_ok else 'MISSED'}; "
          f"RSS flat by the leak verdict: {'met' if flat else 'MISSED'} ({verdicts[first.name].explanation})")
    return cpu_ok and flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="measured window, seconds (default 600)")
    parser.add_argument("--interval", type=float, default=1.0, help="every watcher's interval (default 1 s)")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before measuring (start-up cost)")
    parser.add_argument("--monitor-cmd", default=f"{shlex.quote(sys.executable)} -m wfdoctor monitor --headless",
                        help="the monitor command, before --interval/--canary/--db/--listen are appended")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wfdoctor-bench-") as tmp:
        work = Path(tmp)
        exporter_port = free_port()
        commands = {
            "wfdoctor": shlex.split(args.monitor_cmd) + [
                "--interval", f"{args.interval:g}", "--canary", "off", "--db", str(work / "monitor.db"),
                "--listen", f"127.0.0.1:{free_port()}"],
            "glances": ["glances", "-q", "-t", f"{args.interval:g}", "--disable-check-update"],
            "node-exporter": ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{exporter_port}"],
        }
        logs = {name: work / f"{name}.log" for name in commands}
        watched = [start(name, command, logs[name]) for name, command in commands.items()]
        try:
            time.sleep(args.warmup)
            window = measure(watched, args.duration, args.interval, f"http://127.0.0.1:{exporter_port}/metrics",
                             logs)
            met = report(watched, window, args.interval)
        finally:
            for item in watched:
                item.process.terminate()
            for item in watched:
                try:
                    item.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    item.process.kill()
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
