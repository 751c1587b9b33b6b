"""How many bits a GGUF model's weights take: its header's `general.file_type`, else its file name.

Whether "quantise the model" can help depends on it (a Q4 model has little left to
gain), so the number is read from the file instead of guessed. Only the key/value
header is read, stopping at `general.file_type`; the file names llama.cpp's
`llama-quantize` writes (`...-Q4_1.gguf`, `...Q8_0...`) are the fallback.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import BinaryIO

MAGIC = b"GGUF"
MAX_KEYS = 4096                 # a header with more keys is not one worth reading on
MAX_STRING = 1 << 20            # a key or string value longer than 1 MiB: not a GGUF header

# llama.cpp's `llama_ftype` (general.file_type) -> nominal bits per weight.
FILE_TYPE_BITS = {0: 32.0, 1: 16.0, 2: 4.0, 3: 4.0, 7: 8.0, 8: 5.0, 9: 5.0, 10: 2.0, 11: 3.0, 12: 3.0, 13: 3.0,
                  14: 4.0, 15: 4.0, 16: 5.0, 17: 5.0, 18: 6.0, 19: 2.0, 20: 2.0, 21: 2.0, 22: 3.0, 23: 3.0, 24: 1.5,
                  25: 4.0, 26: 3.0, 27: 3.0, 28: 2.0, 29: 2.0, 30: 4.0, 31: 1.75, 32: 16.0, 36: 1.69, 37: 2.06}
NAME_BITS = re.compile(r"(?:^|[._-])(?:I?Q(?P<q>[1-8])(?:_[0-9A-Z]+)*|(?P<f>F16|BF16|F32))(?:[._-]|$)", re.IGNORECASE)
# GGUF value types -> struct format of a fixed-size value (8: string, 9: array are read apart).
SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9


class _Malformed(Exception):
    """The header is not a readable GGUF key/value table."""


def _read(handle: BinaryIO, fmt: str) -> int | float | bool:
    size = struct.calcsize("<" + fmt)
    raw = handle.read(size)
    if len(raw) != size:
        raise _Malformed
    return struct.unpack("<" + fmt, raw)[0]


def _string(handle: BinaryIO) -> bytes:
    length = int(_read(handle, "Q"))
    if length > MAX_STRING:
        raise _Malformed
    raw = handle.read(length)
    if len(raw) != length:
        raise _Malformed
    return raw


def _skip(handle: BinaryIO, kind: int) -> None:
    """Read past one value of GGUF type `kind`."""
    if kind == STRING:
        _string(handle)
    elif kind == ARRAY:
        item, count = int(_read(handle, "I")), int(_read(handle, "Q"))
        if item in SCALARS:
            handle.seek(struct.calcsize("<" + SCALARS[item]) * count, 1)
        else:
            for _ in range(count):
                _skip(handle, item)
    elif kind in SCALARS:
        _read(handle, SCALARS[kind])
    else:
        raise _Malformed


def header_file_type(path: Path) -> int | None:
    """`general.file_type` from a GGUF header; None for another file, a damaged header or no such key."""
    try:
        with path.open("rb") as handle:
            if handle.read(4) != MAGIC:
                return None
            _read(handle, "I")          # version
            _read(handle, "Q")          # tensor count
            keys = int(_read(handle, "Q"))
            for _ in range(min(keys, MAX_KEYS)):
                key, kind = _string(handle), int(_read(handle, "I"))
                if key == b"general.file_type" and kind in SCALARS:
                    return int(_read(handle, SCALARS[kind]))
                _skip(handle, kind)
    except (OSError, _Malformed, struct.error, OverflowError, ValueError):
        return None
    return None


def weight_bits(path: Path) -> float | None:
    """Nominal bits per weight of a model file: from its GGUF header, else from its name; None if neither says."""
    file_type = header_file_type(path)
    if file_type in FILE_TYPE_BITS:
        return FILE_TYPE_BITS[file_type]
    match = NAME_BITS.search(path.name)
    if match is None:
        return None
    return float(match["q"]) if match["q"] else {"f16": 16.0, "bf16": 16.0, "f32": 32.0}[match["f"].lower()]
