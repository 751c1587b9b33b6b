"""Record raw NVML readings as JSON, for test fixtures and bug reports.

Usage: python scripts/record_nvml.py OUT.json [--repeat N]
Writes the same dictionaries `wfdoctor.sense.gpu_nvml.read_nvml()` returns, plus
the CPU cost of each reading, so recorded values replay through `parse_gpus()`.
"""

from __future__ import annotations

import argparse
import json
import time

from wfdoctor.sense.gpu_nvml import NvmlSession


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--repeat", type=int, default=20, help="readings to time")
    args = parser.parse_args()
    session = NvmlSession()
    start = time.process_time_ns()
    session.open()
    init_ms = (time.process_time_ns() - start) / 1e6
    costs_ms, devices = [], []
    for _ in range(args.repeat):
        start = time.process_time_ns()
        devices = session.read()
        costs_ms.append((time.process_time_ns() - start) / 1e6)
    session.close()
    costs_ms.sort()
    record = {
        "status": session.status,
        "devices": devices,
        "init_cpu_ms": init_ms,
        "read_cpu_ms": {"median": costs_ms[len(costs_ms) // 2] if costs_ms else None,
                        "max": costs_ms[-1] if costs_ms else None, "n": len(costs_ms)},
    }
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
