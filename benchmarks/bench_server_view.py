"""What one reading of a server's own view costs the client, on the loop that stamps the tokens.

While a token level streams, its server's gauges are read 0.1 s in and then once a second
(`measure/tokens.py`); each reading's pages are parsed on the event loop, so a token that
arrives meanwhile is stamped late by the parse. This times the parse of each page the tests
hold: llama.cpp's `/metrics` (captured from the real llama-server) with its `/slots`, and
vLLM's `/metrics` (written from its documentation; a real vLLM page with many models and
histogram buckets is longer). Median of 200 parses, three runs; nothing else is compared.

Usage: .venv/bin/python benchmarks/bench_server_view.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from wfdoctor.sense.backends.server_view import parse_metrics_page

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
SLOTS = '[{"id": 0, "n_ctx": 768, "is_processing": true}, {"id": 1, "n_ctx": 768, "is_processing": false}]'
PAGES = {"llama.cpp /metrics and /slots": ((FIXTURES / "llamacpp_metrics.txt").read_text(), SLOTS),
         "vLLM /metrics (documentation example)": ((FIXTURES / "vllm_metrics.txt").read_text(), None)}


def parse_ms(page: str, slots: str | None, times: int = 200) -> float:
    costs = []
    for _ in range(times):
        started = time.perf_counter()
        parse_metrics_page(page, slots)
        costs.append(time.perf_counter() - started)
    return statistics.median(costs) * 1e3


def main() -> None:
    for name, (page, slots) in PAGES.items():
        runs = sorted(parse_ms(page, slots) for _ in range(3))
        print(f"{name:<40} {len(page):>6} bytes  parse {runs[0]:.3f}-{runs[-1]:.3f} ms a reading (3 runs)")


if __name__ == "__main__":
    main()
