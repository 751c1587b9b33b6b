"""Child processes that never outlive wfdoctor, even when wfdoctor is SIGKILLed.

A sampler or an embedded server left behind keeps a core, a port and a growing
file long after the run it served is gone, and nothing in wfdoctor can clean up
after a SIGKILL. So the child ties itself to its parent: on Linux the kernel
signals it the moment the parent dies (`prctl(PR_SET_PDEATHSIG)`), whatever
killed the parent; elsewhere a watchdog thread polls the parent.

The child sets this itself, first thing, rather than in a `preexec_fn` (unsafe
in a parent with threads). The parent may already have died by then, so the
child then compares `os.getppid()` with the parent it was given: that closes the
window. The kernel's "parent" is the *thread* that started the child: start such
children from a thread that lives as long as they do (wfdoctor starts them from
the main thread).

`python -m wfdoctor.sense.lifeline PARENT_PID MODULE ARGS...` runs MODULE as
`python -m MODULE ARGS...` would, killed (SIGKILL) when PARENT_PID dies: the way
to tie a program that is not ours, such as llama-cpp-python's server.
"""

from __future__ import annotations

import ctypes
import os
import runpy
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCHDOG_INTERVAL_S = 0.2  # the fallback notices a dead parent within this


def tie_to_parent(parent_pid: int, signum: int) -> None:
    """Have `signum` delivered to this process when `parent_pid` (its parent) dies, or now if it already has."""
    if not _parent_death_signal(signum):
        threading.Thread(target=_watch, args=(parent_pid, signum), name="wfdoctor-lifeline", daemon=True).start()
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signum)


def _parent_death_signal(signum: int) -> bool:
    """Ask the kernel for the parent-death signal; False where there is no prctl (not Linux)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError, TypeError):
        return False
    return bool(prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0)


def _watch(parent_pid: int, signum: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_INTERVAL_S)
    os.kill(os.getpid(), signum)


def module_command(module: str, args: list[str]) -> list[str]:
    """The command line that runs `python -m module args...` tied to this process."""
    return [sys.executable, "-m", __name__, str(os.getpid()), module, *args]


def main() -> None:
    """Tie this process to the given parent, then become `python -m MODULE ARGS...` (same pid, same exit code)."""
    parent_pid, module, *args = sys.argv[1:]
    tie_to_parent(int(parent_pid), signal.SIGKILL)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
