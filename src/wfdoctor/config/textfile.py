"""Read a user's text file (data, rules, prompt, results) with one-line errors.

Given a binary file by mistake, Python's decoder raises UnicodeDecodeError, which is not
an OSError and so escaped every `except OSError` as a traceback; here both are the same
kind of mistake: the file named is not one wfdoctor can read as text.
"""

from __future__ import annotations

import os
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
