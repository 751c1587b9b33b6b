"""The change-point detector on synthetic series (fixed seeds, 300 series per case)."""

from __future__ import annotations

import numpy as np

from wfdoctor.analyze.regression import (Settings, benjamini_hochberg, detect_changes, regression_at_end,
                                         spec_window_detector)

HIGHER = Settings(higher_is_better=True)   # tokens/s, FPS
LOWER = Settings(higher_is_better=False)   # TTFT, latency, memory
SERIES = 300


def noisy(rng: np.random.Generator, n: int = 100, cv: float = 0.05) -> np.ndarray:
    return 100 * (1 + cv * rng.standard_normal(n))


def regressed_at_end(values: np.ndarray, settings: Settings = HIGHER) -> bool:
    return regression_at_end(detect_changes(list(values), settings), len(values)) is not None


def test_stationary_noise_is_almost_never_a_regression() -> None:
    rng = np.random.default_rng(1)
    assert sum(regressed_at_end(noisy(rng)) for _ in range(SERIES)) / SERIES <= 0.01


def test_a_10_percent_step_is_reported_within_8_points() -> None:
    rng = np.random.default_rng(2)
    found = 0
    for _ in range(SERIES):
        values = noisy(rng)
        values[50:] *= 0.9
        found += any(regressed_at_end(values[: 50 + after]) for after in range(3, 9))
    assert found / SERIES >= 0.90


def test_a_10_percent_step_is_located_within_2_points_and_sized_within_3_points() -> None:
    rng = np.random.default_rng(2)
    located = sized = 0
    for _ in range(SERIES):
        values = noisy(rng)
        values[50:] *= 0.9
        regressions = [c for c in detect_changes(list(values), HIGHER) if c.kind == "regression"]
        if regressions:
            nearest = min(regressions, key=lambda c: abs(c.index - 50))
            located += abs(nearest.index - 50) <= 2
            sized += abs(nearest.change_pct + 10) <= 3
    assert located / SERIES >= 0.90 and sized / SERIES >= 0.90


def test_outliers_are_not_regressions() -> None:
    rng = np.random.default_rng(3)
    false = 0
    for _ in range(SERIES):
        values = noisy(rng)
        values[rng.random(100) < 0.03] *= 1.4  # +40 % spikes, the bad direction for latency
        false += regressed_at_end(values, LOWER)
    assert false / SERIES <= 0.02


def test_a_step_that_reverts_after_2_points_is_not_a_regression() -> None:
    rng = np.random.default_rng(4)
    false = 0
    for _ in range(SERIES):
        values = noisy(rng)
        values[60:62] *= 0.85
        false += regressed_at_end(values)
    assert false / SERIES <= 0.02


def test_direction_comes_from_polarity() -> None:
    rng = np.random.default_rng(5)
    up = noisy(rng)
    up[50:] *= 1.2
    down = noisy(rng)
    down[50:] *= 0.8
    assert [c.kind for c in detect_changes(list(up), HIGHER)] == ["improvement"]    # throughput up
    assert [c.kind for c in detect_changes(list(up), LOWER)] == ["regression"]      # latency up
    assert [c.kind for c in detect_changes(list(down), HIGHER)] == ["regression"]   # throughput down
    assert [c.kind for c in detect_changes(list(down), LOWER)] == ["improvement"]   # latency down


def test_a_variance_only_change_is_noise_not_a_regression() -> None:
    rng = np.random.default_rng(6)
    values = np.concatenate([noisy(rng, 60, 0.02), noisy(rng, 60, 0.12)])
    kinds = [c.kind for c in detect_changes(list(values), HIGHER)]
    assert "noise increased" in kinds and "regression" not in kinds


def test_slow_drift_is_caught_by_the_trend_test() -> None:
    rng = np.random.default_rng(7)
    values = noisy(rng, 120, 0.02) * np.linspace(1.0, 0.85, 120)
    assert regression_at_end(detect_changes(list(values), HIGHER), 120).kind in ("drift", "regression")


def test_changes_carry_their_revision() -> None:
    rng = np.random.default_rng(8)
    values = noisy(rng, 40, 0.02)
    values[20:] *= 0.8
    [change] = detect_changes(list(values), HIGHER, revisions=[f"rev{i}" for i in range(40)])
    assert (change.index, change.revision) == (20, "rev20")


def test_benjamini_hochberg_controls_discoveries() -> None:
    assert benjamini_hochberg([0.001, 0.008, 0.039, 0.041, 0.6]) == [True, True, False, False, False]


def test_the_specs_window_detector_misses_a_10_percent_regression() -> None:
    rng = np.random.default_rng(9)
    values = noisy(rng, 40)
    values[20:] *= 0.9
    assert not spec_window_detector(list(values[:20]), list(values[20:]), higher_is_better=True)
    assert regressed_at_end(values)
