"""Decode speed against its bandwidth limit (analyze/roofline.py) and which models to unload to fit a budget
(analyze/models.py), stated whole."""

from __future__ import annotations

import pytest

from wfdoctor.analyze.models import EvictionPlan, lru_plan
from wfdoctor.analyze.roofline import Roofline, roofline
from wfdoctor.sense.backends.base import ModelInfo

GB = 1_000_000_000


# --- roofline ----------------------------------------------------------------------------------------------

def test_the_roofline_keeps_its_inputs_beside_the_limit_and_the_measured_fraction_of_it() -> None:
    limit = roofline(measured_tps=40.0, model_bytes=500_000_000, bandwidth_bytes_per_second=50e9,
                     source="STREAM triad")
    assert limit == Roofline(limit_tps=100.0, measured_tps=40.0, model_bytes=500_000_000,
                             bandwidth_bytes_per_second=50e9, bandwidth_source="STREAM triad", fraction=0.4)


def test_the_roofline_explains_itself_in_tokens_per_second_gigabytes_per_second_and_megabytes() -> None:
    limit = roofline(measured_tps=40.0, model_bytes=637_500_000, bandwidth_bytes_per_second=51.35e9,
                     source="STREAM triad")
    assert limit.limit_tps == pytest.approx(80.549, abs=0.001)
    assert limit.explanation() == ("decode 40.0 tokens/s is 50% of the bandwidth limit 81 tokens/s "
                                   "(51.4 GB/s / 638 MB of weights; STREAM triad)")


# --- LRU eviction ---------------------------------------------------------------------------------------------

def model(name: str, size_bytes: int | None, expires_at: str | None) -> ModelInfo:
    return ModelInfo(name, True, size_bytes, None, expires_at)


def test_models_without_an_expiry_go_first_then_the_earliest_expiry() -> None:
    loaded = [model("recent", 4 * GB, "2026-11-27T01:10:00Z"), model("unknown", 2 * GB, None),
              model("oldest", 3 * GB, "2026-11-27T01:02:00Z"), model("blank", 1 * GB, "")]
    assert lru_plan(loaded, 4 * GB) == EvictionPlan(
        unload=["unknown", "blank", "oldest"], kept_bytes=4 * GB, budget_bytes=4 * GB,
        explanation="4 loaded, 4.00 GB kept of a 4.00 GB budget (fits)")


def test_models_that_already_fit_exactly_are_all_kept() -> None:
    loaded = [model("a", 1_000_000_000, "2026-11-27T01:10:00Z"), model("b", 375_000_000, "2026-11-27T01:02:00Z")]
    assert lru_plan(loaded, 1_375_000_000) == EvictionPlan(
        unload=[], kept_bytes=1_375_000_000, budget_bytes=1_375_000_000,
        explanation="2 loaded, 1.38 GB kept of a 1.38 GB budget (fits)")


def test_a_model_of_unknown_size_counts_as_nothing_kept_and_nothing_freed() -> None:
    loaded = [model("unsized", None, "2026-11-27T01:00:00Z"), model("big", 3 * GB, "2026-11-27T01:05:00Z"),
              model("small", 1 * GB, "2026-11-27T01:10:00Z")]
    plan = lru_plan(loaded, 2 * GB)
    assert (plan.unload, plan.kept_bytes) == (["unsized", "big"], 1 * GB)

