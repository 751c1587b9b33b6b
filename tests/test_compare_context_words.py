"""A context series (no better direction: CPU share, load) is tested but never judged, and says so.

Its verdict cell used to read "inconclusive", the word the method line gives to too few measurements, on a
CPU share that moved +26 % at p = 1e-08: the reader could not tell "not enough data" from "not judged".
"""

from __future__ import annotations

from tests.test_compare import noisy, store, stored, text  # noqa: F401 (store is a fixture)
from wfdoctor.app.compare import compare_runs
from wfdoctor.model import Sample
from wfdoctor.surface.views import compare as view
from wfdoctor.store.db import Store


def cpu(value: float) -> list[Sample]:
    return [Sample("wf_cpu_utilization_ratio", value + i / 100, "ratio", "test") for i in range(8)]


def test_a_context_series_reads_not_judged_in_the_text_and_the_card(store: Store) -> None:  # noqa: F811
    report = compare_runs(store, stored(store, ttft=noisy(0.1, seed=1), extra=cpu(0.2)),
                          stored(store, ttft=noisy(0.1, seed=2), extra=cpu(0.9)))
    narrow, wide, card = text(report, width=100), text(report, width=250), view.markdown(report, "test")
    assert "not judged: wf_cpu_utilization_ratio (ratio)" in narrow
    assert "inconclusive: wf_cpu" not in narrow
    [row] = [line for line in wide.splitlines() if "wf_cpu_utilization_ratio" in line]
    assert row.split()[:2] == ["wf_cpu_utilization_ratio", "not"] and "inconclusive" not in row
    assert "| wf\\_cpu\\_utilization\\_ratio | not judged |" in card
