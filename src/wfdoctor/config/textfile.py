"""Read a user's text file (data, rules, prompt, results) with one-line errors.

Given a binary file by mistake, Python's decoder raises UnicodeDecodeError, which is not
an OSError and so escaped every `except OSError` as a traceback; here both are the same
kind of mistake: the file named is not one wfdoctor can read as text.
"""

from __future__ import annotations

from pathlib import Path

from wfdoctor.model import WfdoctorError


def read_text(path: Path, what: str = "file") -> str:
    """The file as UTF-8 text; unreadable, not UTF-8 or holding NUL bytes (binary) is a one-line error."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WfdoctorError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WfdoctorError(f"{path}: the {what} is not a text file (byte {exc.start} is not UTF-8)") from None
    if "\x00" in text:
        raise WfdoctorError(f"{path}: the {what} is not a text file (byte {data.index(0)} is NUL)")
    return text
