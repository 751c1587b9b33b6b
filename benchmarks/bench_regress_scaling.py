"""`regress check` at scale: wall time and peak memory against the number of points.

Cases: one series of 1k, 10k, 100k and 300k points, and 20 series of 10k points
(the issue's targets: 20 x 10k under 2 s; 300k points in one series under 500 MB
peak RSS; growth linear in the points).

Each case gets a fresh database (a temporary folder), filled here through the
store as one `regress record` run would fill it (one sample per point, with its
`point` and `revision` labels). The check then runs in a child process, which
reports its own peak resident set size (VmHWM in /proc/self/status: the high-water
mark of its address space, which starts empty at exec) at the end; interpreter and
imports included. Not os.wait4's ru_maxrss: Linux carries that over exec from the
forked parent, which has just filled the database. The row `import wfdoctor` shows
what the interpreter and imports cost by themselves.
Times: `check` is wfdoctor.check_regressions measured inside the child (the
store query, the series, the detector, the run recorded); `child` is the whole
child's wall time, start-up included.

Series shape (--shape): `step` (default), noise of 3 % with a 10 % step up (slower: a regression) at
80 % of the points (binary segmentation finds it, then the drift test runs on
the last fifth); `noise`, noise alone (one regime: the drift test runs on every
point, the case that grew with the square of the points).

Usage (from the repository root):
  .venv/bin/python benchmarks/bench_regress_scaling.py [--shape step|noise] [--sizes 1000,10000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CHILD_TIMEOUT_S = 600.0  # a runaway check must not hang the benchmark
DEFAULT_SIZES = (1_000, 10_000, 100_000, 300_000)
MANY_SERIES = (20, 10_000)
START_TS = 1_790_000_000.0
PEAK = "peak_kib = int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])\n"
CHECK = """
import json, sys, time
from pathlib import Path
import wfdoctor
start = time.perf_counter()
report = wfdoctor.check_regressions(None, db=Path(sys.argv[1]))
elapsed = time.perf_counter() - start
""" + PEAK + """
print(json.dumps({"check_s": elapsed, "series": len(report.verdicts), "peak_kib": peak_kib,
                  "discoveries": sum(v.discovery for v in report.verdicts)}))
"""


@dataclass(frozen=True)
class Case:
    name: str
    series: int
    points: int


@dataclass(frozen=True)
class Result:
    name: str
    series: int
    points: int
    check_s: float
    child_s: float
    peak_rss_mb: float
    discoveries: int


def values(points: int, shape: str, seed: int) -> np.ndarray:
    """3 % noise around 40, with a 10 % step up (slower: a regression) at 80 % of the points for `step`."""
    out = 40 * (1 + 0.03 * np.random.default_rng(seed).standard_normal(points))
    if shape == "step":
        out[int(points * 0.8):] *= 1.1
    return out


def fill(db: Path, case: Case, shape: str) -> None:
    """The case's series stored as one finished import run, point by point."""
    from wfdoctor.model import Run, Sample
    from wfdoctor.store.db import Store

    with Store.open(db) as store:
        run = Run(command="regress record", started_at=START_TS, settings={"file": "bench"})
        with store.recording(run) as run_id:
            for number in range(case.series):
                metric = f"bench_{number}_seconds"
                store.add_samples(run_id, [
                    Sample(metric, float(v), "s", "imported from bench", {"revision": f"r{i}", "point": str(i)},
                           START_TS + 60 * i)
                    for i, v in enumerate(values(case.points, shape, number))])


def run_child(args: list[str]) -> tuple[str, float]:
    """A Python child's stdout and wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = os.times().elapsed
        proc = subprocess.Popen([sys.executable, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        killer = threading.Timer(CHILD_TIMEOUT_S, proc.kill)
        killer.start()
        try:
            _, status, _ = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        elapsed = os.times().elapsed - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it is reaped
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"bench_regress_scaling: python {' '.join(args[:2])}: exit code {proc.returncode}\n"
                             f"{err.read()[-800:]}")
        return out.read(), elapsed


def measure(case: Case, shape: str) -> Result:
    with tempfile.TemporaryDirectory(prefix="wfdoctor-bench-") as home:
        db = Path(home) / "wfdoctor.db"
        fill(db, case, shape)
        stdout, child_s = run_child(["-c", CHECK, str(db)])
    done = json.loads(stdout)
    if done["series"] != case.series:
        raise SystemExit(f"bench_regress_scaling: {case.name}: checked {done['series']} series, not {case.series}")
    return Result(case.name, case.series, case.points, round(done["check_s"], 3), round(child_s, 3),
                  round(done["peak_kib"] / 1024, 1), done["discoveries"])


def imports_only() -> Result:
    stdout, child_s = run_child(["-c", "import wfdoctor.app.regress\n" + PEAK + "print(peak_kib)"])
    return Result("import wfdoctor", 0, 0, 0.0, round(child_s, 3), round(int(stdout) / 1024, 1), 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=("step", "noise"), default="step")
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="points of the one-series cases, comma-separated")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    cases = [Case(f"1 x {n:,}", 1, n) for n in sizes]
    cases.append(Case(f"{MANY_SERIES[0]} x {MANY_SERIES[1]:,}", *MANY_SERIES))
    results = [imports_only(), *(measure(case, args.shape) for case in cases)]
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return
    print(f"regress check, series shape '{args.shape}'; {sys.executable}")
    print(f"{'case':<16} {'points':>9} {'check s':>8} {'child s':>8} {'peak RSS MB':>12} {'regressions':>12}")
    for r in results:
        print(f"{r.name:<16} {r.series * r.points:>9,} {r.check_s:>8.2f} {r.child_s:>8.2f} {r.peak_rss_mb:>12.1f} "
              f"{r.discoveries:>12}")


if __name__ == "__main__":
    main()
