"""One monitor per database: an exclusive `flock` on `<db>.monitor.lock`, held for the process's life.

The kernel drops a flock when its holder dies, so a killed monitor (SIGKILL, a crash, a
power cut) never leaves a stale lock behind; the pid written into the file is only for the
message that names who holds it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from wfdoctor.model import WfdoctorError


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".monitor.lock")


class MonitorLock:
    """Held from `acquire()` to `release()`; a second holder is refused with the first's pid."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.path = lock_path(db)
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise WfdoctorError(f"{self.path}: cannot create the monitor lock: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise WfdoctorError(f"a monitor is already running on {self.db} (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        """Unlock; the file stays (removing it would race a monitor starting now)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
