"""WIRTHFORGE's settings file (JSON): the one place recovery lowers council size and UI quality.

The file belongs to WIRTHFORGE, so wfdoctor changes only the keys it was asked to, writes
atomically (a temporary file in the same folder, then rename: WIRTHFORGE never reads half a
file), and refuses to touch a file it cannot parse: overwriting it would throw away the
user's other settings. Every change returns the value it replaced so it can be restored.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from wfdoctor.config.recovery import SettingValue
from wfdoctor.model import WfdoctorError

JsonValue = object  # whatever json.loads gives for one key
MAX_BYTES = 16 << 20  # a settings file is a few kB; more is not one (and would be read whole into memory)


@dataclass(frozen=True)
class Previous:
    """A key's value before a change: `present` False when the key was not in the file."""

    present: bool
    value: JsonValue = None


class SettingsFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, JsonValue]:
        """The settings as a mapping; a missing file is empty, a broken one a one-line error."""
        try:
            found = self.path.stat()  # never blocks, where opening a FIFO waits for a writer forever
            if not stat.S_ISREG(found.st_mode) or found.st_size > MAX_BYTES:
                raise WfdoctorError(f"{self.path}: the WIRTHFORGE settings file is not a regular file of at most "
                                    f"{MAX_BYTES >> 20} MiB; left unchanged")
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise WfdoctorError(f"{self.path}: cannot read the WIRTHFORGE settings file: "
                                f"{getattr(exc, 'strerror', None) or exc}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WfdoctorError(f"{self.path}:{exc.lineno}: the WIRTHFORGE settings file is not valid JSON "
                                f"({exc.msg}); left unchanged") from None
        if not isinstance(data, dict):
            raise WfdoctorError(f"{self.path}: the WIRTHFORGE settings file is not a JSON object; left unchanged")
        return data

    def set(self, key: str, value: SettingValue) -> Previous:
        """Write `key`, keep every other key as it was; the value it replaced comes back."""
        data = self.read()
        previous = Previous(key in data, data.get(key))
        self._write(data | {key: value})
        return previous

    def restore(self, key: str, previous: Previous) -> None:
        """Put back what `set` replaced (removing the key if it was not there)."""
        data = self.read()
        if previous.present:
            data[key] = previous.value
        else:
            data.pop(key, None)
        self._write(data)

    def _write(self, data: dict[str, JsonValue]) -> None:
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    json.dump(data, out, indent=2, sort_keys=True)
                    out.write("\n")
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, self.path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise WfdoctorError(f"{self.path}: cannot write the WIRTHFORGE settings file: "
                                f"{exc.strerror or exc}") from None
