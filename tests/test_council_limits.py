"""Every decision limit of the council diagnosis, on its boundary, with the actions per server.

Metrics are built directly (no servers): the measured quantity sits exactly on
the packaged limit (`limits.council`, and the facts' sync delay warning for a
straggler), then one float step past it, and the verdict flips.
"""

from __future__ import annotations

import math

import pytest

from tests.builders import FACTS, REMEDIES
from wfdoctor.analyze.council import CouncilMetrics, MemberMetrics, diagnose_council
from wfdoctor.model import Finding, Priority

COUNCIL = FACTS.limits.council
SYNC_WARNING_S = FACTS.common["council_sync_delay_ms"]["warning"] / 1000
URL = "http://127.0.0.1:8000"


def below(value: float) -> float:
    return math.nextafter(value, -math.inf)


def above(value: float) -> float:
    return math.nextafter(value, math.inf)


def member(name: str, finish_s: float, ttft_s: float = 0.0, url: str = URL, decode_tps: float = 20.0) -> MemberMetrics:
    """A member that answered: first token at `ttft_s`, done at `finish_s` (from the council's start)."""
    return MemberMetrics(name, url, "ok", 0, "", ttft_s, ttft_s, finish_s, decode_tps, 10, finish_s - ttft_s)


def failed(name: str, error: str) -> MemberMetrics:
    """A member with no answer after its 3 retries (no times, as member_metrics gives it)."""
    return MemberMetrics(name, URL, "failed", 3, error, None, None, None, None, 0, 0.0)


def council(members: list[MemberMetrics], alpha: float | None = None, holds: float = 1.0) -> CouncilMetrics:
    """A council of `members`; with `alpha`, measured against a solo rate of 2 tokens/s (decode share: holds)."""
    wall = max((m.finish_s or 0.0) for m in members) or 1.0
    measured = alpha is not None
    return CouncilMetrics(
        n=len(members), wall_s=wall, ok=sum(m.status == "ok" for m in members),
        failed=sum(m.status == "failed" for m in members), cancelled=0, sync_delay_s=None,
        first_token_spread_s=None, efficiency=None, speedup=2.0 if measured else None, alpha=alpha,
        sequential_wall_s=2.0 * wall if measured else None, solo_decode_tps=2.0 if measured else None,
        council_decode_tps=2.0 * holds if measured else None, consensus_s=None, consensus_members=[], members=members)


def diagnose(metrics: CouncilMetrics, implementation_of: dict[str, str] | None = None,
             sync_warning_s: float = SYNC_WARNING_S) -> list[Finding]:
    implementations = {URL: "llama-cpp-python"} if implementation_of is None else implementation_of
    return diagnose_council(metrics, implementations, limits=COUNCIL,
                            sync_delay_warning_s=sync_warning_s, remedies=REMEDIES)


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


# --- stragglers -------------------------------------------------------------------------------------

def finishing_at(last: float, middle: float = 2.0, last_ttft_s: float = 0.0,
                 others_ttft_s: float = 0.0) -> CouncilMetrics:
    return council([member("m1", middle, others_ttft_s), member("m2", middle, others_ttft_s),
                    member("m3", last, ttft_s=last_ttft_s)])


def test_a_straggler_finishes_straggler_ratio_times_the_median_or_later() -> None:
    at_limit = COUNCIL.straggler_ratio * 2.0
    [finding] = diagnose(finishing_at(at_limit))
    assert (finding.code, finding.priority, finding.rule_id) == ("COUNCIL_STRAGGLER", Priority.MEDIUM,
                                                                 "council.council_straggler")
    assert finding.summary == (f"m3 ({URL}) finished at 3.00 s, 1.00 s after the median member: it decodes at "
                               "20.0 tokens/s")
    assert finding.actions == ["analyze_concurrency", "reduce_concurrent_requests"]
    assert [(e.metric, e.value, e.labels["member"]) for e in finding.evidence] == [
        ("wf_council_member_finish_seconds", 3.0, "m3"), ("wf_council_member_ttft_seconds", 0.0, "m3"),
        ("wf_council_member_finish_seconds", 2.0, "median")]
    assert diagnose(finishing_at(below(at_limit))) == []


def test_a_straggler_is_at_least_the_sync_delay_warning_behind() -> None:
    middle = SYNC_WARNING_S  # the ratio (2x) is met; the delay (last - median) decides
    assert 2 * middle - middle == SYNC_WARNING_S
    assert codes(diagnose(finishing_at(2 * middle, middle))) == ["COUNCIL_STRAGGLER"]
    assert diagnose(finishing_at(below(2 * middle), middle)) == []
    assert codes(diagnose(finishing_at(2 * middle, middle), sync_warning_s=above(SYNC_WARNING_S))) == []


def test_a_straggler_whose_first_token_is_slow_start_share_of_its_delay_late_starts_slowly() -> None:
    late = 0.5 + COUNCIL.slow_start_share * 2.0  # delay: 4.0 - 2.0 s; the others' first token at 0.5 s
    assert late - 0.5 == COUNCIL.slow_start_share * 2.0
    [slow_start] = diagnose(finishing_at(4.0, last_ttft_s=late, others_ttft_s=0.5))
    assert slow_start.summary == (f"m3 ({URL}) finished at 4.00 s, 2.00 s after the median member: its first token "
                                  "came after 1.50 s against 0.50 s for the others")
    [slow_decode] = diagnose(finishing_at(4.0, last_ttft_s=below(late), others_ttft_s=0.5))
    assert slow_decode.summary.endswith("after the median member: it decodes at 20.0 tokens/s")


def test_a_failed_member_is_named_with_its_error() -> None:
    [finding] = diagnose(council([member("m1", 1.0), failed("m2", "timed out after 5.0 s")]))
    assert (finding.code, finding.priority) == ("COUNCIL_MEMBER_FAILED", Priority.HIGH)
    assert finding.summary == f"m2 ({URL}) failed after 3 retries: timed out after 5.0 s"
    assert finding.actions == ["analyze_concurrency", "reduce_concurrent_requests"]


# --- parallelism: serialised or contended ------------------------------------------------------------

def three(alpha: float, holds: float) -> CouncilMetrics:
    return council([member(f"m{i}", 1.0) for i in (1, 2, 3)], alpha=alpha, holds=holds)


def test_alpha_from_serial_alpha_is_a_serialised_council() -> None:
    [finding] = diagnose(three(COUNCIL.serial_alpha, 0.9))
    assert (finding.code, finding.priority) == ("COUNCIL_SERIALISED", Priority.HIGH)
    assert finding.summary == ("measured alpha 0.75 (1 = one at a time): the council took 1.00 s, 2.00x faster than "
                               "members run one after another (2.00 s), while each member decodes at 90% of its solo "
                               f"rate; server: {URL} (llama-cpp-python)")
    assert diagnose(three(below(COUNCIL.serial_alpha), 0.9)) == []  # 90 % of solo: no contention either


def test_serialised_needs_members_decoding_at_decode_holds_of_their_solo_rate() -> None:
    assert codes(diagnose(three(0.9, COUNCIL.decode_holds))) == ["COUNCIL_SERIALISED"]
    assert codes(diagnose(three(0.9, below(COUNCIL.decode_holds)))) == ["COUNCIL_CONTENTION"]


def test_contention_from_contention_alpha() -> None:
    [finding] = diagnose(three(COUNCIL.contention_alpha, 0.5))
    assert (finding.code, finding.priority) == ("COUNCIL_CONTENTION", Priority.MEDIUM)
    assert finding.summary == ("measured alpha 0.10: members decode at 50% of their solo rate (1.0 vs 2.0 tokens/s); "
                               f"speed-up 2.00x for 3 members; servers: {URL} (llama-cpp-python)")
    assert finding.actions == ["reduce_concurrent_requests", "optimize_thread_allocation"]
    assert diagnose(three(below(COUNCIL.contention_alpha), 0.5)) == []


def test_contention_needs_members_decoding_below_contention_decode() -> None:
    assert diagnose(three(0.5, COUNCIL.contention_decode)) == []
    assert codes(diagnose(three(0.5, below(COUNCIL.contention_decode)))) == ["COUNCIL_CONTENTION"]


@pytest.mark.parametrize(("implementations", "actions"), [
    (["llama-cpp-python"], ["one_server_per_stream", "parallel_slots_server"]),
    (["ollama"], ["ollama_num_parallel"]),
    (["llama.cpp"], ["llama_cpp_parallel_slots"]),
    (["openai-compatible"], ["parallel_slots_server"]),
    (["ollama", "llama.cpp"], ["llama_cpp_parallel_slots", "ollama_num_parallel"]),
    (["llama-cpp-python", "openai-compatible"], ["one_server_per_stream", "parallel_slots_server"]),
])
def test_a_serialised_council_gets_each_servers_setting_once(implementations: list[str], actions: list[str]) -> None:
    urls = [f"http://127.0.0.1:{8000 + i}" for i in range(len(implementations))]
    members = [member(f"m{i}", 1.0, url=urls[i % len(urls)]) for i in range(3)]
    metrics = council(members, alpha=1.0, holds=1.0)
    [finding] = diagnose(metrics, dict(zip(urls, implementations)))
    assert finding.actions == actions


def test_an_unknown_server_gets_the_default_remedy() -> None:
    [finding] = diagnose(three(1.0, 1.0), {})
    assert finding.actions == ["parallel_slots_server"]
    assert finding.summary.endswith(f"server: {URL} (?)")


def test_members_cut_off_on_a_shared_llama_cpp_python_server_are_interruptions() -> None:
    cut = failed("m2", "connection cut mid-response")
    findings = diagnose(council([member("m1", 1.0), cut]))
    assert [(f.code, f.priority) for f in findings] == [("COUNCIL_MEMBER_FAILED", Priority.HIGH),
                                                        ("COUNCIL_INTERRUPTED", Priority.HIGH)]
    assert findings[1].summary == f"1 of 2 members were cut off on {URL}"
    assert findings[1].actions == ["llama_cpp_python_no_interrupt", "one_server_per_stream", "parallel_slots_server"]
    assert codes(diagnose(council([member("m1", 1.0), cut]), {URL: "ollama"})) == ["COUNCIL_MEMBER_FAILED"]
