"""How many bits a model's weights take: read from the GGUF header, else from the file name."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wfdoctor.sense.backends.embedded import smollm2_model_path
from wfdoctor.sense.gguf import header_file_type, weight_bits


def gguf(path: Path, pairs: list[tuple[bytes, int, bytes]]) -> Path:
    """A GGUF header (version 3, no tensors) with the given (key, type, encoded value) pairs."""
    body = b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs))
    for key, kind, value in pairs:
        body += struct.pack("<Q", len(key)) + key + struct.pack("<I", kind) + value
    path.write_bytes(body)
    return path


def text(value: bytes) -> bytes:
    return struct.pack("<Q", len(value)) + value


def test_the_shipped_smollm2_is_q4_1_by_its_header() -> None:
    path = smollm2_model_path()
    assert (header_file_type(path), weight_bits(path)) == (3, 4.0)


def test_the_file_type_is_found_after_strings_and_arrays(tmp_path: Path) -> None:
    tokens = struct.pack("<IQ", 8, 2) + text(b"a") + text(b"bc")
    scores = struct.pack("<IQ", 6, 3) + struct.pack("<3f", 1, 2, 3)
    path = gguf(tmp_path / "model.gguf", [(b"general.name", 8, text(b"x")), (b"tokenizer.tokens", 9, tokens),
                                          (b"tokenizer.scores", 9, scores), (b"general.file_type", 4,
                                                                             struct.pack("<I", 7))])
    assert weight_bits(path) == 8.0


@pytest.mark.parametrize(("name", "bits"), [("smol-Q4_K_M.gguf", 4.0), ("llama.q8_0.gguf", 8.0),
                                            ("m-F16.gguf", 16.0), ("a-IQ2_XS.gguf", 2.0), ("model.gguf", None)])
def test_without_a_readable_header_the_file_name_says(tmp_path: Path, name: str, bits: float | None) -> None:
    path = tmp_path / name
    path.write_bytes(b"not a gguf")
    assert weight_bits(path) == bits


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_after_the_magic_give_a_number_or_none(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.gguf"
        path.write_bytes(b"GGUF" + raw)
        assert header_file_type(path) is None or isinstance(header_file_type(path), int)
