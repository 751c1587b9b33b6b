"""The decision limits are data: packaged in the facts, overridable by a user file and per tier, range-checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import REMEDIES, level
from wfdoctor.analyze.bottleneck import ServerFacts, classify
from wfdoctor.analyze.tokens import Knee
from wfdoctor.config.facts import Facts, load_facts
from wfdoctor.config.limits import Limits
from wfdoctor.model import WfdoctorError

PACKAGED = {
    "tokens": {"stall_s": 0.2, "knee_min_efficiency": 0.25, "interrupted_share": 0.25, "serial_ttft_growth": 0.5,
               "decode_holds": 0.7, "contention_cpu": 0.85, "contention_other_cores": 0.5,
               "cpu_bound_server_cores": 0.8, "gpu_idle": 0.1, "resident_vram_share": 0.98,
               "load_share_of_ttft": 0.5, "min_load_s": 0.1, "prefill_share_of_ttft": 0.6, "client_cores": 0.8,
               "bandwidth_bound_share": 0.5, "busy_thread_share": 0.5, "low_bit_weights": 4.0,
               "failed_share_high": 0.5, "died_min_failed": 2,
               "server_queue_share": 0.3, "slots_full_share": 0.9, "kv_cache_full": 0.9, "server_prefill_share": 0.6},
    "council": {"straggler_ratio": 1.5, "pair_straggler_ratio": 2.0, "slow_start_share": 0.5, "serial_alpha": 0.75, "decode_holds": 0.7,
                "contention_alpha": 0.1, "contention_decode": 0.85},
    "capacity": {"start": 1, "ceiling": 64, "ttft_percentile": 95.0, "decode_percentile": 50.0, "rounds": 2},
    "leaks": {"alpha": 0.01, "relative_floor": 0.02, "min_samples": 20, "min_duration_s": 20.0,
              "monitor_window_s": 300.0},
    "ui": {"window_s": 120.0, "min_frames": 60, "reports_per_page_per_minute": 60, "reports_per_minute": 600,
           "series": 4000, "page_script_share": 0.5,
           "contention_cpu": 0.85, "contention_process_cores": 0.5, "main_thread_cpu_share": 0.8,
           "browser_processes": ["chromium", "chromium-browser", "chrome", "google-chrome", "chrome_crashpad",
                                 "firefox", "firefox-esr", "geckodriver", "msedge", "microsoft-edge", "safari",
                                 "webkitwebprocess", "webkitnetworkprocess", "brave", "opera", "vivaldi",
                                 "epiphany", "headless_shell", "chrome-headless-shell", "web content",
                                 "isolated web co", "webextensions"],
           "forced_layout_share": 0.3, "style_layout_share": 0.5, "leak_dom_nodes_per_minute": 60.0,
           "leak_heap_bytes_per_minute": 3000000.0},
    "compare": {"alpha": 0.01, "min_effect": 0.05, "min_samples": 5, "confidence": 0.95, "resamples": 2000},
    "incidents": {"match_similarity": 0.5, "shown_matches": 3},
}
FIELDS = [(group, name) for group, values in PACKAGED.items() for name in values]


def facts_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "facts.yaml"
    path.write_text(text)
    return path


def test_the_packaged_facts_hold_every_limit_with_its_adopted_value() -> None:
    facts = load_facts()
    assert facts.limits.model_dump() == PACKAGED
    assert facts.tier_limits == {}
    assert all(facts.limits_for(tier) == facts.limits for tier in facts.tier_rule.order)


def test_the_limits_taken_from_other_facts_stay_there() -> None:
    facts = load_facts()
    assert facts.common["council_sync_delay_ms"]["warning"] == 100       # a straggler's least delay
    assert facts.common["memory_leak_bytes_per_minute"] == 10_000_000     # the leak floor
    assert [facts.targets[tier].ttft_seconds for tier in facts.tier_rule.order] == [1.5, 1.0, 0.5]  # slow TTFT


def changed(value: float | list[str]) -> float | list[str]:
    """A valid value different from `value`, whatever its kind of limit."""
    if isinstance(value, list):
        return value[:1]
    return value + 1 if isinstance(value, int) else value / 2


@pytest.mark.parametrize(("group", "name"), FIELDS)
def test_a_user_facts_file_changes_any_one_limit_and_keeps_the_rest(tmp_path: Path, group: str, name: str) -> None:
    new = changed(PACKAGED[group][name])
    facts = load_facts(facts_file(tmp_path, f"limits:\n  {group}:\n    {name}: {new}\n"))
    expected = {g: dict(values) for g, values in PACKAGED.items()}
    expected[group][name] = new
    assert facts.limits.model_dump() == expected


def interrupted_one_in_four(facts: Facts, tier: str) -> list[str]:
    """STREAMS_INTERRUPTED when a quarter of the streams fail at concurrency 2 (packaged limit: 25 %)."""
    levels = [level(1, 40.0, requests=4, ok=4), level(2, 40.0, requests=4, ok=3)]
    findings = classify(levels, Knee(None, ""), [], ServerFacts("u", "ollama", "m"), 1,
                        limits=facts.limits_for(tier).tokens, ttft_target_s=facts.targets[tier].ttft_seconds,
                        remedies=REMEDIES)
    return [f.code for f in findings]


def test_a_user_limit_changes_the_verdict(tmp_path: Path) -> None:
    assert interrupted_one_in_four(load_facts(), "mid") == ["STREAMS_INTERRUPTED"]
    stricter = load_facts(facts_file(tmp_path, "limits:\n  tokens:\n    interrupted_share: 0.3\n"))
    assert interrupted_one_in_four(stricter, "mid") == []


def test_a_tier_override_applies_to_its_tier_only(tmp_path: Path) -> None:
    facts = load_facts(facts_file(tmp_path, "tier_limits:\n  high:\n    tokens: { interrupted_share: 0.3 }\n"
                                            "    council: { serial_alpha: 0.9 }\n"))
    high = facts.limits_for("high")
    assert (high.tokens.interrupted_share, high.council.serial_alpha) == (0.3, 0.9)
    assert high.tokens.model_dump() == PACKAGED["tokens"] | {"interrupted_share": 0.3}
    assert high.leaks == facts.limits.leaks
    assert facts.limits.model_dump() == PACKAGED
    assert facts.limits_for("low") == facts.limits_for("mid") == facts.limits
    assert interrupted_one_in_four(facts, "high") == []
    assert interrupted_one_in_four(facts, "mid") == ["STREAMS_INTERRUPTED"]


@pytest.mark.parametrize(("text", "line", "field", "message"), [
    ("limits:\n  tokens:\n    interrupted_share: 0\n", 3, "limits.tokens.interrupted_share", "greater than 0"),
    ("limits:\n  tokens:\n    decode_holds: -0.2\n", 3, "limits.tokens.decode_holds", "greater than 0"),
    ("limits:\n  council:\n    serial_alpha: 1.01\n", 3, "limits.council.serial_alpha", "less than or equal to 1"),
    ("limits:\n  tokens:\n    stall_s: 0\n", 3, "limits.tokens.stall_s", "greater than 0"),
    ("limits:\n  tokens:\n    contention_other_cores: -1\n", 3, "limits.tokens.contention_other_cores",
     "greater than 0"),
    ("limits:\n  council:\n    straggler_ratio: 0\n", 3, "limits.council.straggler_ratio", "greater than 0"),
    ("limits:\n  leaks:\n    min_samples: 0\n", 3, "limits.leaks.min_samples", "greater than 0"),
    ("limits:\n  leaks:\n    min_samples: 2.5\n", 3, "limits.leaks.min_samples", "fractional part"),
    ("limits:\n  leaks:\n    min_duration_s: -20\n", 3, "limits.leaks.min_duration_s", "greater than 0"),
    ("limits:\n  leaks:\n    alpha: 5\n", 3, "limits.leaks.alpha", "less than or equal to 1"),
    ("limits:\n  leaks:\n    nonsense: 5\n", 3, "limits.leaks.nonsense", "Extra inputs are not permitted"),
    ("limits:\n  ui:\n    page_script_share: 50\n", 3, "limits.ui.page_script_share", "less than or equal to 1"),
    ("limits:\n  ui:\n    min_frames: 0\n", 3, "limits.ui.min_frames", "greater than 0"),
    ("# ui\nlimits:\n  ui:\n    browser_processes: []\n", 4, "limits.ui.browser_processes", "at least 1 item"),
    ("# tiers\ntier_limits:\n  high:\n    tokens: { interrupted_share: 1.5 }\n", 4,
     "tier_limits.high.tokens.interrupted_share", "less than or equal to 1"),
    ("tier_limits:\n  low:\n    council:\n      straggler_ratio: 0\n", 4, "tier_limits.low.council.straggler_ratio",
     "greater than 0"),
    ("tier_limits:\n  low:\n    council:\n      no_such: 1\n", 4, "tier_limits.low.council.no_such",
     "Extra inputs are not permitted"),
    ("tier_limits:\n  low:\n    leaks:\n      alpha: 0.05\n", 3, "tier_limits.low.leaks",
     "Extra inputs are not permitted"),
    ("tier_limits:\n  mid: {}\n  huge:\n    tokens: { stall_s: 1 }\n", 3, "tier_limits.huge",
     "not a tier (tier_rule.order: low, mid, high)"),
])
def test_an_invalid_limit_is_one_line_naming_file_line_and_field(tmp_path: Path, text: str, line: int, field: str,
                                                                  message: str) -> None:
    path = facts_file(tmp_path, text)
    with pytest.raises(WfdoctorError) as error:
        load_facts(path)
    text_of_error = str(error.value)
    assert text_of_error.startswith(f"{path}:{line}: field '{field}': "), text_of_error
    assert message in text_of_error and "\n" not in text_of_error


def test_every_limit_is_range_checked() -> None:
    """No limit field is a bare float: each says what range it accepts."""
    for group in Limits.model_fields.values():
        model = group.annotation
        assert model is not None
        for name, field in model.model_fields.items():  # type: ignore[union-attr]
            assert field.metadata, f"{name} has no range"
