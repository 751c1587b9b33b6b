"""The recommended council size: the largest n whose every member meets the tier's TTFT and decode targets."""

from __future__ import annotations

import pytest

from wfdoctor.analyze.council import CouncilMetrics, MemberMetrics, recommend_size
from wfdoctor.config.facts import load_facts
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer

FACTS = load_facts()
TIERS = FACTS.tier_rule.order
STEP = 0.001  # "just" above or below a target


def member(index: int, ttft_s: float | None, decode_tps: float | None, status: str = "ok") -> MemberMetrics:
    return MemberMetrics(name=f"m{index}", url="http://127.0.0.1:1", status=status, retries=0, error="",
                         ttft_s=ttft_s, first_token_s=ttft_s, finish_s=1.0 if status == "ok" else None,
                         decode_tps=decode_tps, output_tokens=10 if status == "ok" else 0, busy_s=0.5)


def council(*members: MemberMetrics) -> CouncilMetrics:
    return CouncilMetrics(
        n=len(members), wall_s=1.0, ok=sum(m.status == "ok" for m in members),
        failed=sum(m.status == "failed" for m in members), cancelled=0, sync_delay_s=None,
        first_token_spread_s=None, efficiency=None, speedup=None, alpha=None, sequential_wall_s=None,
        solo_decode_tps=None, council_decode_tps=None, consensus_s=None, consensus_members=[],
        members=list(members))


def sweep(*sizes: list[tuple[float | None, float | None, str]]) -> list[CouncilMetrics]:
    """One council per entry, each a list of (ttft, decode, status) per member."""
    return [council(*(member(i + 1, *spec) for i, spec in enumerate(specs))) for specs in sizes]


def verdict(tier: str, councils: list[CouncilMetrics]) -> int:
    targets = FACTS.targets[tier]
    return recommend_size(councils, targets.ttft_seconds, targets.decode_tokens_per_second,
                          targets.council_size).recommended


@pytest.mark.parametrize("tier", TIERS)
def test_every_member_exactly_at_the_targets_recommends_the_largest_council(tier: str) -> None:
    targets = FACTS.targets[tier]
    at = (targets.ttft_seconds, targets.decode_tokens_per_second, "ok")
    assert verdict(tier, sweep([at], [at, at], [at, at, at])) == 3


@pytest.mark.parametrize("tier", TIERS)
def test_a_worst_ttft_just_above_the_target_makes_that_size_miss(tier: str) -> None:
    targets = FACTS.targets[tier]
    good = (targets.ttft_seconds - STEP, targets.decode_tokens_per_second + 1, "ok")
    late = (targets.ttft_seconds + STEP, targets.decode_tokens_per_second + 1, "ok")
    assert verdict(tier, sweep([good], [good, good], [good, good, late])) == 2


@pytest.mark.parametrize("tier", TIERS)
def test_a_slowest_decode_just_below_the_target_makes_that_size_miss(tier: str) -> None:
    targets = FACTS.targets[tier]
    good = (targets.ttft_seconds / 2, targets.decode_tokens_per_second + STEP, "ok")
    slow = (targets.ttft_seconds / 2, targets.decode_tokens_per_second - STEP, "ok")
    assert verdict(tier, sweep([good], [good, slow], [good, slow, good])) == 1


@pytest.mark.parametrize("tier", TIERS)
def test_a_council_with_a_failed_member_is_not_counted(tier: str) -> None:
    targets = FACTS.targets[tier]
    good = (targets.ttft_seconds / 2, targets.decode_tokens_per_second * 2, "ok")
    failed = (None, None, "failed")
    assert verdict(tier, sweep([good], [good, good], [good, good, failed])) == 2


def test_no_size_that_meets_the_targets_recommends_zero_and_says_why() -> None:
    targets = FACTS.targets["low"]
    late = (targets.ttft_seconds * 2, targets.decode_tokens_per_second * 2, "ok")
    size = recommend_size(sweep([late], [late, late]), targets.ttft_seconds, targets.decode_tokens_per_second,
                          targets.council_size)
    assert size.recommended == 0
    assert "n=1:" in size.explanation and "n=2:" in size.explanation and "(misses)" in size.explanation
    assert f"default council size is {targets.council_size}" in size.explanation


def _meets(entry: dict, ttft_target: float, decode_target: float) -> bool:
    ok = [m for m in entry["members"] if m["status"] == "ok"]
    return (len(ok) == entry["n"] and max(m["ttft_s"] for m in ok) <= ttft_target
            and min(m["decode_tps"] for m in ok) >= decode_target)


def test_council_sweep_json_recommends_the_largest_size_meeting_the_tier_targets(wfdoctor) -> None:
    fast = [FakeLLMServer(FakeConfig(ttft_s=0.02, itl_s=0.002, tokens=10)) for _ in range(2)]
    # A first token after 1.7 s misses every tier's TTFT target (at most 1.5 s) yet stays inside the timeout.
    late = FakeLLMServer(FakeConfig(ttft_s=1.7, itl_s=0.002, tokens=10))
    with fast[0] as a, fast[1] as b, late as c:
        result = wfdoctor("council", "--json", "--fail-on", "never", "--max-tokens", "10", "--sweep",
                          "--member", a.base_url, "--member", b.base_url, "--member", c.base_url, timeout=300)
    assert result.code == 0, result.stderr
    doc = result.json()
    targets = FACTS.targets[doc["tier"]]
    assert [entry["n"] for entry in doc["sweep"]] == [1, 2, 3]
    meeting = [entry["n"] for entry in doc["sweep"]
               if _meets(entry, targets.ttft_seconds, targets.decode_tokens_per_second)]
    size = doc["recommended_size"]
    assert size["recommended"] == max(meeting, default=0) == 2
    assert "n=3:" in size["explanation"] and "(misses)" in size["explanation"]


def test_the_recommendation_is_the_capacity_search_answer_not_a_larger_size_past_a_miss() -> None:
    targets = FACTS.targets["low"]
    good = (targets.ttft_seconds / 2, targets.decode_tokens_per_second * 2, "ok")
    late = (targets.ttft_seconds * 2, targets.decode_tokens_per_second * 2, "ok")
    # Size 2 misses: a size 3 that happened to meet the targets is not believed (more members never help).
    assert verdict("low", sweep([good], [good, late], [good, good, good])) == 1


def test_council_sweep_runs_only_the_sizes_the_capacity_search_asks_for(wfdoctor) -> None:
    fast = [FakeLLMServer(FakeConfig(ttft_s=0.02, itl_s=0.002, tokens=10)) for _ in range(4)]
    late = FakeLLMServer(FakeConfig(ttft_s=1.7, itl_s=0.002, tokens=10))  # misses every tier's TTFT target
    with fast[0] as a, late as b, fast[1] as c, fast[2] as d, fast[3] as e:
        members = [arg for server in (a, b, c, d, e) for arg in ("--member", server.base_url)]
        result = wfdoctor("council", "--json", "--fail-on", "never", "--max-tokens", "10", "--sweep", *members,
                          timeout=300)
    assert result.code == 0, result.stderr
    doc = result.json()
    # 1 meets the targets, 2 (with the late member) misses: 3, 4 and 5 members are never run.
    assert [entry["n"] for entry in doc["sweep"]] == [1, 2]
    assert doc["recommended_size"]["recommended"] == 1
