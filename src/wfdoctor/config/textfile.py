"""Read a user's text file (data, rules, prompt, results), and write an output file, with one-line errors.

Given a binary file by mistake, Python's decoder raises UnicodeDecodeError, which is not
an OSError and so escaped every `except OSError` as a traceback; here both are the same
kind of mistake: the file named is not one wfdoctor can read as text.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from wfdoctor.model import WfdoctorError

MAX_BYTES = 256 << 20  # far past any rules, facts or results file; /dev/zero would otherwise fill the memory


def read_text(path: Path, what: str = "file") -> str:
    """The file as UTF-8 text; unreadable, not UTF-8 or holding NUL bytes (binary) is a one-line error."""
    try:
        data = _read_bounded(path)
    except OSError as exc:
        raise WfdoctorError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise WfdoctorError(f"{path}: the {what} is over {MAX_BYTES >> 20} MiB; not one wfdoctor reads")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WfdoctorError(f"{path}: the {what} is not a text file (byte {exc.start} is not UTF-8)") from None
    if "\x00" in text:
        raise WfdoctorError(f"{path}: the {what} is not a text file (byte {data.index(0)} is NUL)")
    return text


def _read_bounded(path: Path) -> bytes:
    """At most MAX_BYTES + 1 bytes. Opened without waiting: a FIFO nobody writes to reads as empty instead
    of blocking in open(), a wait that SIGTERM and Ctrl-C cannot end; a pipe with a writer (`<(cmd)`) reads
    as usual."""
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
        os.set_blocking(handle.fileno(), True)
        return handle.read(MAX_BYTES + 1)


def write_text(path: Path, text: str, what: str = "file") -> None:
    """`text` written to `path`: a regular file (or a new one) atomically, by a temporary file in the same folder
    renamed over it, so a reader never sees half of it; anything else (a device, a pipe: `/dev/null`, `>(gzip)`)
    written into as it is, never replaced by a file. A pipe nobody reads is an error at once, not a wait that
    SIGTERM cannot end; a full disk (`/dev/full`) or a refused folder is one line. A symlink is followed: the file it
    names is written, the link stays."""
    path = Path(os.path.realpath(path))
    try:
        if path.exists() and not stat.S_ISREG(path.stat().st_mode):
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_NONBLOCK), "w", encoding="utf-8") as out:
                os.set_blocking(out.fileno(), True)
                out.write(text)
            return
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temp, path)
        except BaseException:
            os.unlink(temp)
            raise
    except OSError as exc:
        why = "it is a pipe no process reads" if exc.errno == errno.ENXIO else exc.strerror or str(exc)
        raise WfdoctorError(f"{path}: cannot write the {what}: {why}") from None
