"""`wfdoctor memory profile` and the MemoryProfiler API."""

from __future__ import annotations

import textwrap
from pathlib import Path

from wfdoctor.measure.pyprofile import MemoryProfiler

LEAKY = """
    leak = []


    def work(iterations):
        for i in range(iterations):
            leak.append(bytearray(1024))  # leaks 1 KB per iteration
            scratch = [i] * 16
            del scratch


    work(20000)
"""
NATIVE = """
    import ctypes

    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    kept = []
    for _ in range(40):
        block = libc.malloc(1 << 20)
        ctypes.memset(block, 1, 1 << 20)  # touched: it counts in RSS
        kept.append(block)
"""


def script(tmp_path: Path, code: str) -> str:
    path = tmp_path / "program.py"
    path.write_text(textwrap.dedent(code))
    return str(path)


def test_the_leaking_line_is_the_top_entry(wfdoctor, tmp_path: Path) -> None:
    program = script(tmp_path, LEAKY)
    result = wfdoctor("memory", "profile", "--json", "--interval", "0.2", "--", "python", program)
    assert result.code == 0, result.stderr
    [top, *_] = result.json()["profile"]["top_lines"]
    assert (top["file"], top["line"]) == (program, 7)
    assert "leaks 1 KB per iteration" in top["code"]
    assert top["size_diff_bytes"] >= 20000 * 1024
    assert top["count_diff"] >= 20000


def test_native_growth_is_told_apart_from_python_objects(wfdoctor, tmp_path: Path) -> None:
    result = wfdoctor("memory", "profile", "--json", "--", "python", script(tmp_path, NATIVE))
    profile = result.json()["profile"]
    assert profile["native_growth_suspected"] and "memray" in profile["hint"]


def test_a_non_python_command_is_a_clear_error(wfdoctor) -> None:
    result = wfdoctor("memory", "profile", "--", "ls", "-l")
    assert result.code == 2 and "runs Python programs" in result.stderr


def test_the_profiler_as_context_manager_and_decorator() -> None:
    kept: list[bytearray] = []
    with MemoryProfiler(frames=5) as profiler:
        kept.extend(bytearray(512) for _ in range(2000))
        profiler.snapshot("filled")
    report = profiler.report(last=1)
    assert report["between"] == ["start", "filled"]
    assert report["top_lines"][0]["line"] == test_the_profiler_as_context_manager_and_decorator.__code__.co_firstlineno + 3
    assert report["top_tracebacks"]

    @MemoryProfiler()
    def allocate() -> int:
        return len([bytearray(64) for _ in range(100)])

    assert allocate() == 100
