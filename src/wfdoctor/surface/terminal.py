"""What every command does around its pipeline: progress on stderr, Ctrl-C, exit codes, the final print.

Exit codes (README): 0 healthy, 1 findings at or above --fail-on, 2 usage or
input errors (bad flags, broken data files, unusable database), 130 interrupted
(Ctrl-C; what was measured is kept), 143 terminated (SIGTERM; kept the same way).
stdout carries only the report or the JSON document, so `--json` output can be
piped while progress stays visible.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from wfdoctor.model import Priority, WfdoctorError
from wfdoctor.surface.views.safe import plain

if TYPE_CHECKING:  # loaded by the commands that use them, so `wfdoctor --version` stays quick
    from pydantic import BaseModel
    from rich.progress import Progress, TaskID

stdout = Console()
stderr = Console(stderr=True)

EXIT_HEALTHY, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
T = TypeVar("T")
INTERRUPTED_RUNS_READ = 1000   # the runs one interrupted command can have recorded (troubleshoot: a handful)
_terminated = threading.Event()  # SIGTERM arrived: the interruption is a termination (exit 143, not 130)


def stop_on_sigterm() -> None:
    """From now on SIGTERM (a service manager, `kill`, a container stop) ends a command the way Ctrl-C does.

    Every pipeline already keeps what it measured on Ctrl-C (KeyboardInterrupt) and marks its run
    interrupted, so SIGTERM takes that same path instead of killing the process with the run left
    "running" and nothing saved.
    """
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Act as SIGINT would: inside `asyncio.run` its handler cancels the main task (so `finally` blocks run
    in order), elsewhere Python's default handler raises KeyboardInterrupt."""
    _terminated.set()
    on_sigint = signal.getsignal(signal.SIGINT)
    if not callable(on_sigint):  # SIGINT ignored (started in the background by a shell): still stop
        raise KeyboardInterrupt
    on_sigint(signal.SIGINT, frame)


def interrupted_code() -> int:
    """The exit code of an interrupted command: 143 after SIGTERM, 130 after Ctrl-C."""
    return EXIT_TERMINATED if _terminated.is_set() else EXIT_INTERRUPTED


class FailOn(str, Enum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"
    never = "never"


def exit_code_for(priorities: list[Priority], fail_on: FailOn) -> int:
    """1 when any finding is at or above `fail_on`, else 0."""
    if fail_on is FailOn.never:
        return EXIT_HEALTHY
    threshold = Priority(fail_on.value)
    return EXIT_FINDINGS if any(p.at_least(threshold) for p in priorities) else EXIT_HEALTHY


class TerminalProgress:
    """The pipelines' `Progress` on stderr: notes as dim lines under a spinner, bars for counted work."""

    def __init__(self, bars: Progress) -> None:
        self._bars = bars
        self._spinner = bars.add_task("working", total=None)
        self._tasks: dict[str, TaskID] = {}

    def note(self, message: str) -> None:
        """Untrusted text (model and member names, server errors) is shown as text, never as markup. One note is
        one line (the terminal wraps it): a log or a pipe, 80 columns wide, got "model \nSmolLM2-135M"."""
        self._bars.console.print(Text(plain(message), style="dim"), soft_wrap=True)
        self._bars.update(self._spinner, description=plain(message.strip()))

    def confirm(self, question: str) -> bool:
        """Ask a yes/no question on the terminal (`--interactive`), the live bars paused meanwhile; no answer
        (end of input) is no."""
        self._bars.stop()
        try:
            self._bars.console.print(Text(plain(question, keep_newlines=True) + " [y/N] ", style="bold"), end="")
            answer = sys.stdin.readline()
        finally:
            self._bars.start()
        return answer.strip().lower() in ("y", "yes")

    def advance(self, task: str, done: float, total: float | None = None) -> None:
        if task not in self._tasks:
            self._tasks[task] = self._bars.add_task(task, total=total)
        self._bars.update(self._tasks[task], completed=done, total=total)


def checked_options(make: Callable[[], T]) -> T:
    """The command's options object; a value it refuses is a usage error (exit 2, with the usage line)."""
    try:
        return make()
    except WfdoctorError as exc:
        raise typer.BadParameter(str(exc)) from None


def interrupted_line(db_path: Path, since: float) -> str:
    """What Ctrl-C kept: the run this command recorded, if it got that far. A command that records runs of other
    commands (troubleshoot: diagnose, tokens...) is named by its own run, the first, with the count of the rest: the
    last one may have finished while the command itself was interrupted."""
    import wfdoctor

    try:
        kept = [run for run in wfdoctor.history(INTERRUPTED_RUNS_READ, db=db_path).runs if run.started_at >= since]
    except WfdoctorError:
        kept = []
    if not kept:
        return "wfdoctor: interrupted before a run was recorded"
    own = kept[-1]
    more = f" (with {len(kept) - 1} more run{'s' * (len(kept) > 2)} it recorded)" if len(kept) > 1 else ""
    return f"wfdoctor: interrupted; run {own.id} is kept as {own.status}{more} in {db_path}"


def say_interrupted(db_path: Path, since: float) -> None:
    """The one stderr line of an interrupted command, also when it goes on to report what it measured."""
    stderr.print(interrupted_line(db_path, since), highlight=False, markup=False, soft_wrap=True)


def progress_bars(console: Console) -> Progress:
    """A spinner with the current step, and a bar per counted task; descriptions are text, never markup."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, transient=True)


@contextmanager
def progress_on_stderr(db_path: Path) -> Iterator[TerminalProgress]:
    """Progress while the pipeline runs; Ctrl-C (or SIGTERM) ends the command with one line and exit 130 (143)."""
    since = time.time()
    try:
        with progress_bars(stderr) as bars:
            yield TerminalProgress(bars)
    except KeyboardInterrupt:
        say_interrupted(db_path, since)
        raise typer.Exit(interrupted_code()) from None


def print_document(document: BaseModel) -> None:
    """A `--json` document on stdout (non-finite numbers become null: JSON has no NaN)."""
    print(document.model_dump_json(indent=2, by_alias=True))


def present(as_json: bool, document: Callable[[], BaseModel], render: Callable[[Console], None]) -> None:
    """Print the JSON document or render the report on stdout (a command that records no run)."""
    if as_json:
        print_document(document())
    else:
        render(stdout)


def finish(as_json: bool, document: Callable[[], BaseModel], render: Callable[[Console], None], run_id: int | None,
           db_path: Path, code: int, saved: str | None = None) -> NoReturn:
    """Print the JSON document or the report, then exit with `code`; `saved` says what was stored when that is not
    a run ("Stored as incident 3")."""
    if as_json:
        print_document(document())
    else:
        render(stdout)
        stdout.print(f"{saved or f'Saved as run {run_id}'} in {db_path}. Exit code {code}.", style="dim")
    raise typer.Exit(code)
