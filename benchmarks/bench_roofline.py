"""Decode speed of the real SmolLM2 server against this machine's bandwidth limit.

Informational: prints decode tokens/s (p50 of 10 requests, 64 tokens each,
concurrency 1) and its share of the roofline bandwidth / model bytes, with the
machine it ran on, for the README.

Usage: .venv/bin/python benchmarks/bench_roofline.py
"""

from __future__ import annotations

import platform
import tempfile
from pathlib import Path

import psutil

import wfdoctor
from wfdoctor.measure.snapshot import environment_fingerprint


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        report = wfdoctor.measure_tokens(wfdoctor.TokensOptions(runs=10, warmup=2, max_tokens=64),
                                         db=Path(folder) / "bench.db")
    env = environment_fingerprint()
    print(f"machine: {env['cpu_model']}, {psutil.cpu_count()} logical CPUs, "
          f"{psutil.virtual_memory().total / 2**30:.1f} GiB, {platform.system()} {platform.release()}")
    level = report.levels[0]
    print(f"server: {report.implementation}, model {report.model}")
    print(f"decode p50 {level.p50('decode_tps'):.1f} tokens/s, TTFT p50 {level.p50('ttft_s') * 1000:.0f} ms")
    if report.roofline:
        print(f"roofline: {report.roofline.explanation()}")
    else:
        print(f"roofline not computed: {report.roofline_note}")


if __name__ == "__main__":
    main()
