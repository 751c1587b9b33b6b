"""Start-up and diagnose CPU cost: a baseline revision against the current tree, side by side.

What it measures, for each side (the BASELINE revision, default 62a4946, the state
before the app/ refactor; and the CURRENT working tree, uncommitted edits included):
- `python -c "pass"`: the interpreter alone, the same work on both sides. Its ratio
  should be 1.00: the distance from 1.00 is this run's noise floor.
- `python -c "import wfdoctor"`: what `import wfdoctor` costs a Python API user.
- `python -m wfdoctor --version`: the CLI's start-up (Typer, Rich, the command table).
- `python -m wfdoctor diagnose --no-embedded --token-runs 0 --json [--window 0.2]`:
  one whole diagnose (snapshot, discovery on the default ports, triage, the store),
  in a fresh WFDOCTOR_DB and XDG_CONFIG_HOME each run. Its exit code is ignored
  (findings exit 1), but output that is not JSON stops the benchmark.
plus the number of modules in sys.modules after `import wfdoctor` on each side.

Why CPU time, not wall time: the machines this runs on are shared (2 cores, other
workers compiling and testing); wall time then measures the neighbours. The CPU
time (user + sys) the kernel charged the child, read with os.wait4 when it is
reaped, counts only the work the child did, including any children it waited for,
and none of diagnose's sleeping through its sampling window.

Fairness: both sides use this interpreter (sys.executable) and this environment,
differing only in PYTHONPATH (<baseline worktree>/src or <repo>/src). Both source
trees are byte-compiled first (compileall, so PYTHONDONTWRITEBYTECODE in the
environment cannot turn each start into a compile) and every probe runs once per
side unmeasured, to warm the page cache. Repetitions are interleaved and the side
that goes first alternates (A B, B A, A B, ...), so drift in the machine's load
hits both sides alike. Reported: median and min-max per side, the ratio of the
medians, and the median of the paired ratios (each repetition's current run over
the baseline run next to it). The paired ratio cancels load that changes from one
repetition to the next. With both sides the same code, on the 2-core VM at a load
average of 2-4, five runs gave ratios of the medians of 0.86-1.12 and paired ratios
of 0.95-1.05; at a load of 7-8 (other workers compiling), 0.80-1.13 and 0.87-1.14.
Measure on a quiet machine, and read the `pass` row first: it is the run's noise.

The baseline is checked out with `git worktree add --detach` in a temporary folder
and removed at the end, also on Ctrl-C.

Usage (from the repository root):
  .venv/bin/python benchmarks/bench_startup.py [--baseline REV] [--startup-reps 15]
      [--diagnose-reps 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BASELINE = "62a4946"
CHILD_TIMEOUT_S = 300.0  # a hung child must not hang the benchmark; diagnose takes seconds
WINDOW_ARGS = ("--window", "0.2")
DIAGNOSE_ARGS = ("-m", "wfdoctor", "diagnose", "--no-embedded", "--token-runs", "0", "--json")
COUNT_MODULES = "import sys, wfdoctor; print(wfdoctor.__file__); print(len(sys.modules))"


@dataclass(frozen=True)
class Side:
    """One revision of wfdoctor: a label and the src/ folder PYTHONPATH points at."""

    label: str
    revision: str
    src: Path


@dataclass(frozen=True)
class Probe:
    """One command, run with `python` + args on each side."""

    name: str
    args: tuple[str, ...]
    reps: int
    diagnose: bool = False


@dataclass(frozen=True)
class Spread:
    """CPU milliseconds of one probe on one side."""

    median_ms: float
    min_ms: float
    max_ms: float
    samples_ms: tuple[float, ...]


@dataclass(frozen=True)
class ProbeResult:
    name: str
    command: str
    reps: int
    baseline: Spread
    current: Spread
    ratio: float
    paired_ratio: float


@dataclass(frozen=True)
class ModuleCount:
    """len(sys.modules) after `import wfdoctor`, and how many of them the import added."""

    baseline: int
    current: int
    bare_interpreter: int


@dataclass(frozen=True)
class Report:
    baseline_revision: str
    current_revision: str
    python: str
    window_arg: bool
    probes: tuple[ProbeResult, ...]
    modules: ModuleCount


@dataclass(frozen=True)
class Outcome:
    """What one child did: CPU seconds charged to it, its exit code and its output."""

    cpu_s: float
    exit_code: int
    stdout: str
    stderr: str


def git(*args: str) -> str:
    """git's output; a failure (an unknown revision, say) stops the benchmark with git's own message."""
    done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench_startup: git {' '.join(args)}: {done.stderr.strip().splitlines()[-1]}")
    return done.stdout.strip()


def run_child(args: tuple[str, ...], side: Side, extra_env: dict[str, str]) -> Outcome:
    """Run `python args` for one side and read its CPU time from the kernel when reaping it.

    os.wait4 reaps the child here (Popen only gets its exit code), so the rusage is this
    child's alone: no delta of RUSAGE_CHILDREN that another thread could disturb.
    """
    env = {**os.environ, **extra_env, "PYTHONPATH": str(side.src)}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=env, cwd=side.src.parent)
        killer = threading.Timer(CHILD_TIMEOUT_S, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: leave no child running in a worktree about to be removed
            proc.kill()
            proc.wait()
            raise
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it is reaped
        out.seek(0)
        err.seek(0)
        return Outcome(usage.ru_utime + usage.ru_stime, proc.returncode, out.read(), err.read())


def fail(side: Side, args: tuple[str, ...], outcome: Outcome, why: str) -> SystemExit:
    tail = (outcome.stderr.strip() or outcome.stdout.strip())[-800:]
    return SystemExit(f"bench_startup: {side.label} ({side.revision}): python {' '.join(args)}: {why} "
                      f"(exit code {outcome.exit_code})\n{tail}")


def run_diagnose(args: tuple[str, ...], side: Side) -> Outcome:
    """Diagnose in an empty database and config folder of its own: no run sees another's history."""
    with tempfile.TemporaryDirectory(prefix="wfdoctor-bench-") as home:
        env = {"WFDOCTOR_DB": str(Path(home) / "wfdoctor.db"), "XDG_CONFIG_HOME": str(Path(home) / "config")}
        return run_child(args, side, env)


def run_probe_once(probe: Probe, side: Side) -> Outcome:
    """One measured run; a failed start-up or a diagnose that prints no JSON stops the benchmark."""
    if not probe.diagnose:
        outcome = run_child(probe.args, side, {})
        if outcome.exit_code != 0:
            raise fail(side, probe.args, outcome, "failed")
        return outcome
    outcome = run_diagnose(probe.args, side)
    try:
        json.loads(outcome.stdout)
    except ValueError:
        raise fail(side, probe.args, outcome, "output is not JSON") from None
    return outcome


def spread(cpu_s: list[float]) -> Spread:
    ms = tuple(round(s * 1000, 3) for s in cpu_s)
    return Spread(statistics.median(ms), min(ms), max(ms), ms)


def measure(probe: Probe, baseline: Side, current: Side) -> ProbeResult:
    """Warm each side once, then interleave, alternating which side goes first."""
    for side in (baseline, current):
        run_probe_once(probe, side)
    cpu: dict[str, list[float]] = {baseline.label: [], current.label: []}
    for rep in range(probe.reps):
        order = (baseline, current) if rep % 2 == 0 else (current, baseline)
        for side in order:
            cpu[side.label].append(run_probe_once(probe, side).cpu_s)
    before, after = spread(cpu[baseline.label]), spread(cpu[current.label])
    paired = statistics.median(c / b for b, c in zip(cpu[baseline.label], cpu[current.label], strict=True))
    return ProbeResult(probe.name, shlex.join(["python", *probe.args]), probe.reps, before, after,
                       round(after.median_ms / before.median_ms, 3), round(paired, 3))


def accepts_window(side: Side) -> bool:
    """True when this side's diagnose takes `--window 0.2`; a usage error (exit 2) means it does not."""
    return run_diagnose((*DIAGNOSE_ARGS, *WINDOW_ARGS), side).exit_code != 2


def count_modules(side: Side) -> int:
    """len(sys.modules) after `import wfdoctor`, after checking the import came from this side's src/."""
    outcome = run_child(("-c", COUNT_MODULES), side, {})
    lines = outcome.stdout.split()
    if outcome.exit_code != 0 or len(lines) != 2:
        raise fail(side, ("-c", COUNT_MODULES), outcome, "failed")
    if not Path(lines[0]).resolve().is_relative_to(side.src.resolve()):
        raise fail(side, ("-c", COUNT_MODULES), outcome, f"imported wfdoctor from {lines[0]}, not {side.src}")
    return int(lines[1])


@contextmanager
def baseline_checkout(revision: str) -> Iterator[Path]:
    """A detached worktree of `revision` in a temporary folder, removed however we leave."""
    parent = Path(tempfile.mkdtemp(prefix="wfdoctor-baseline-"))
    tree = parent / "tree"
    try:
        git("worktree", "add", "--detach", str(tree), revision)
        yield tree
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
        shutil.rmtree(parent, ignore_errors=True)
        subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], capture_output=True)


def current_revision() -> str:
    dirty = " + uncommitted edits" if git("status", "--porcelain", "--", "src") else ""
    return git("rev-parse", "--short", "HEAD") + dirty


def compile_tree(src: Path) -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True, stdout=subprocess.DEVNULL)


def run_benchmark(revision: str, startup_reps: int, diagnose_reps: int) -> Report:
    resolved = git("rev-parse", "--short", f"{revision}^{{commit}}")
    current = Side("current", current_revision(), REPO / "src")
    with baseline_checkout(resolved) as tree:
        baseline = Side("baseline", resolved, tree / "src")
        for side in (baseline, current):
            compile_tree(side.src)
        window = accepts_window(baseline) and accepts_window(current)
        probes = (
            Probe('python -c "pass" (noise floor)', ("-c", "pass"), startup_reps),
            Probe('python -c "import wfdoctor"', ("-c", "import wfdoctor"), startup_reps),
            Probe("wfdoctor --version", ("-m", "wfdoctor", "--version"), startup_reps),
            Probe("wfdoctor diagnose" + (" --window 0.2" if window else ""),
                  (*DIAGNOSE_ARGS, *(WINDOW_ARGS if window else ())), diagnose_reps, diagnose=True),
        )
        results = tuple(measure(probe, baseline, current) for probe in probes)
        bare = run_child(("-c", "import sys; print(len(sys.modules))"), current, {})
        modules = ModuleCount(count_modules(baseline), count_modules(current), int(bare.stdout))
    return Report(resolved, current.revision, sys.executable, window, results, modules)


def print_table(report: Report) -> None:
    print(f"CPU time (user+sys) per child process, ms; baseline {report.baseline_revision} "
          f"vs current {report.current_revision}; {report.python}")
    print(f"{'probe':<34} {'n':>3} {'baseline median [min-max]':>27} {'current median [min-max]':>27} "
          f"{'ratio':>6} {'paired':>6}")
    for probe in report.probes:
        cells = [f"{s.median_ms:.1f} [{s.min_ms:.1f}-{s.max_ms:.1f}]" for s in (probe.baseline, probe.current)]
        print(f"{probe.name:<34} {probe.reps:>3} {cells[0]:>27} {cells[1]:>27} {probe.ratio:>6.2f} "
              f"{probe.paired_ratio:>6.2f}")
    print("ratio: current/baseline of the medians; paired: median of each repetition's current/baseline "
          "(steadier under load); the pass row's distance from 1.00 is this run's noise")
    m = report.modules
    print(f"modules in sys.modules after `import wfdoctor`: baseline {m.baseline} "
          f"(+{m.baseline - m.bare_interpreter}), current {m.current} (+{m.current - m.bare_interpreter}); "
          f"bare interpreter {m.bare_interpreter}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, metavar="REV",
                        help=f"git revision to compare against (default {DEFAULT_BASELINE})")
    parser.add_argument("--startup-reps", type=int, default=15, help="runs per side of each start-up probe")
    parser.add_argument("--diagnose-reps", type=int, default=5, help="runs per side of diagnose")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    if min(args.startup_reps, args.diagnose_reps) < 1:
        parser.error("repetitions must be at least 1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # finally-blocks clean up
    try:
        report = run_benchmark(args.baseline, args.startup_reps, args.diagnose_reps)
    except KeyboardInterrupt:
        sys.exit("bench_startup: interrupted (the baseline worktree was removed)")
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
