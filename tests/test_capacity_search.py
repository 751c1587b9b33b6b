"""The capacity search (pure): doubling then bisection finds the highest passing level, measuring few levels."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wfdoctor.analyze.capacity import (
    DECODE,
    FAILURES,
    TTFT,
    LevelVerdict,
    Slo,
    capacity_of,
    conclude,
    judge_level,
    next_level,
)
from wfdoctor.analyze.tokens import RequestMetrics
from wfdoctor.config.facts import load_facts

LIMITS = load_facts().limits.capacity
CAUSES = load_facts().limits.tokens  # the thresholds that name a TTFT's cause (queueing, prefill)
SLO = Slo(ttft_s=1.5, decode_tps=30.0)


def search(capacity: int, start: int, ceiling: int) -> tuple[int, list[int]]:
    """Run the search against a machine whose levels pass up to `capacity`: (its answer, the levels tried)."""
    results: dict[int, bool] = {}
    while (level := next_level(results, start, ceiling)) is not None:
        assert level not in results, f"level {level} measured twice"
        results[level] = level <= capacity
    return capacity_of(results), list(results)


@given(capacity=st.integers(0, 300), start=st.integers(1, 16), ceiling=st.integers(1, 256))
def test_the_search_finds_the_capacity_exactly_or_stops_at_the_ceiling(capacity: int, start: int,
                                                                       ceiling: int) -> None:
    found, tried = search(capacity, start, ceiling)
    assert found == min(capacity, ceiling)
    assert max(tried) <= ceiling
    # Doubling and bisection: about two logarithms of the ceiling, never every level.
    assert len(tried) <= 2 * math.ceil(math.log2(ceiling + 1)) + 2


def test_doubling_from_one_then_bisection_between_the_last_pass_and_the_first_failure() -> None:
    assert search(5, 1, 64) == (5, [1, 2, 4, 8, 6, 5])


def test_a_failing_first_level_is_searched_below_and_a_failing_level_one_ends_at_zero() -> None:
    assert search(2, 4, 64) == (2, [4, 2, 3])
    assert search(0, 1, 64) == (0, [1])


def test_a_pass_above_a_failure_is_not_taken_as_the_answer() -> None:
    assert capacity_of({1: True, 2: False, 4: True}) == 1
    assert next_level({1: True, 2: False, 4: True}, 1, 64) is None


def request(ttft_s: float, decode_tps: float, ok: bool = True, load_s: float | None = None,
            prefill_s: float | None = None) -> RequestMetrics:
    """One request; `prefill_s` (and `load_s`): the server's own times, as llama.cpp and Ollama report them."""
    server = {name: value for name, value in (("load_s", load_s), ("prefill_s", prefill_s)) if value is not None}
    return RequestMetrics(ok=ok, error="" if ok else "connection cut", ttft_s=ttft_s if ok else None, ttfb_s=None,
                          e2e_s=None, itl_s=[], output_tokens=16, output_tokens_source="", tokenizer_tokens=None,
                          tpot_s=None, decode_tps=decode_tps if ok else None, prompt_tokens=None, prefill_tps=None,
                          stalls=0, server=server, queue_transport_s=None, server_unaccounted_s=None, sent_ns=0,
                          done_ns=None)


def requests(n: int, ttft_s: float, decode_tps: float, failed: int = 0) -> list[RequestMetrics]:
    return [request(ttft_s, decode_tps)] * n + [request(ttft_s, decode_tps, ok=False)] * failed


def test_a_level_passes_at_the_targets_exactly_and_goodput_counts_requests_meeting_both() -> None:
    verdict = judge_level(2, requests(4, SLO.ttft_s, SLO.decode_tps), 2.0, SLO, LIMITS)
    assert verdict.passed and verdict.misses == [] and verdict.good == 4 and verdict.goodput_rps == 2.0


def test_a_level_names_every_target_it_misses() -> None:
    late = judge_level(3, requests(4, SLO.ttft_s + 0.01, SLO.decode_tps), 1.0, SLO, LIMITS)
    slow = judge_level(3, requests(4, SLO.ttft_s, SLO.decode_tps - 0.1), 1.0, SLO, LIMITS)
    broken = judge_level(3, requests(3, SLO.ttft_s, SLO.decode_tps, failed=1), 1.0, SLO, LIMITS)
    assert (late.misses, slow.misses, broken.misses) == ([TTFT], [DECODE], [FAILURES])
    assert late.goodput_rps == slow.goodput_rps == 0.0 and broken.good == 3


def test_a_level_splits_its_late_requests_ttft_by_the_servers_own_load_and_prefill_times() -> None:
    late = [request(2.0, 50.0, prefill_s=0.5), request(4.0, 50.0, load_s=1.0, prefill_s=1.0),
            request(2.0, 50.0, prefill_s=0.1), request(3.0, 50.0)]  # the last: no server times
    level = judge_level(4, late + [request(1.0, 50.0, prefill_s=1.0)], 1.0, SLO, LIMITS)  # 1.0 s: on time
    # shares of the three timed late requests' summed TTFT (8 s): load 1 s, prefill 1.6 s, the rest waiting
    assert level.late_timed == 3
    assert (level.late_load_share, level.late_prefill_share, level.late_wait_share) == \
        pytest.approx((0.125, 0.2, 0.675))
    untimed = judge_level(3, requests(3, 2.0, 50.0), 1.0, SLO, LIMITS)
    assert untimed.late_timed == 0 and untimed.late_wait_share is None


def test_the_split_adds_up_and_the_slowest_late_requests_weigh_most() -> None:
    # a cold load of 9 s and two requests that waited 1.8 s: the level's late time is mostly the load
    late = [request(9.0, 50.0, load_s=8.9, prefill_s=0.1)] + [request(2.0, 50.0, prefill_s=0.2)] * 2
    level = judge_level(3, late, 1.0, SLO, LIMITS)
    shares = (level.late_load_share, level.late_prefill_share, level.late_wait_share)
    assert sum(shares) == pytest.approx(1.0) and shares == pytest.approx((8.9 / 13, 0.5 / 13, 3.6 / 13))
    # a server time longer than the TTFT it is part of (another clock) is cut to the TTFT
    over = judge_level(1, [request(2.0, 50.0, load_s=1.5, prefill_s=1.0)], 1.0, SLO, LIMITS)
    assert (over.late_load_share, over.late_prefill_share, over.late_wait_share) == (0.75, 0.25, 0.0)


def verdict(level: int, passed: bool, misses: list[str] | None = None, ttft_s: float | None = None,
            decode_tps: float = 50.0, shares: tuple[float, float, float] | None = None,
            server_waiting: float | None = None) -> LevelVerdict:
    """A measured level: TTFT p95 0.5 s when it passes, else 2 s; `shares`: the late requests' (load, prefill,
    wait) shares of their TTFT, from the server's times; `server_waiting`: the most requests the server reported
    waiting at once."""
    load, prefill, wait = shares or (None, None, None)
    return LevelVerdict(concurrency=level, requests=4, failed=0, ttft_s=ttft_s or (0.5 if passed else 2.0),
                        decode_tps=decode_tps, good=0, goodput_rps=0.0, misses=[] if passed else misses or [TTFT],
                        passed=passed, late_timed=4 if shares else 0, late_load_share=load,
                        late_prefill_share=prefill, late_wait_share=wait, server_waiting=server_waiting)


def test_the_answer_leads_with_the_streams_and_names_the_limit() -> None:
    answer = conclude([verdict(1, True), verdict(2, True), verdict(4, False), verdict(3, True)], 64, "smol", "low",
                      SLO, LIMITS, CAUSES)
    assert answer.streams == 3 and answer.limit == "TTFT (queueing)"
    assert answer.sentence.startswith("this machine serves 3 concurrent streams of smol within the low tier's targets")
    # TTFT p95 grew 4x from 1 to 4 streams (at least the facts' serial_ttft_growth, 0.5, x the streams' ratio)
    # while each stream's decode rate held (at least decode_holds, 70 %): the requests queue.
    assert ("the limit is TTFT (queueing) (at 4 streams: TTFT p95 2.00 s > 1.5 s; TTFT p95 4.0x that at 1 stream, "
            "decode rate 100% of it)" in answer.sentence)


def test_the_servers_times_name_a_late_first_token_queueing_prefill_or_model_load() -> None:
    def limit(shares: tuple[float, float, float], level: int = 2) -> str:
        return conclude([verdict(1, True), verdict(level, False, shares=shares)], 64, "smol", "low", SLO, LIMITS,
                        CAUSES).limit
    assert limit((0.0, 0.1, 0.9)) == "TTFT (queueing)"
    assert limit((0.0, 0.8, 0.2)) == "TTFT (prefill)"          # facts: prefill_share_of_ttft, 60 %
    assert limit((0.6, 0.2, 0.2)) == "TTFT (model load)"       # facts: load_share_of_ttft, 50 %
    assert limit((0.0, 0.55, 0.45)) == "TTFT"                  # neither part is most of it
    answer = conclude([verdict(1, True), verdict(2, False, shares=(0.0, 0.1, 0.9))], 64, "smol", "low", SLO,
                      LIMITS, CAUSES)
    assert ("the late requests' TTFT is 0% model load, 10% prefill and 90% waiting before them "
            "(4 with the server's times)" in answer.sentence)


def test_requests_the_server_reported_waiting_join_the_evidence_and_alone_name_queueing() -> None:
    timed = conclude([verdict(1, True), verdict(4, False, shares=(0.0, 0.1, 0.9), server_waiting=3.0)], 64, "smol",
                     "low", SLO, LIMITS, CAUSES)
    assert timed.limit == "TTFT (queueing)"
    assert timed.sentence.endswith("(4 with the server's times); the server counted 3 waiting for a slot at its "
                                   "busiest reading)")
    # Without the server's times, a TTFT that barely grew (1.2 s to 1.6 s) is no queue's growth, but the server
    # said requests waited for a slot: the wait was in its queue.
    flat = [verdict(1, True, ttft_s=1.2), verdict(2, True), verdict(3, True)]
    said = conclude(flat + [verdict(4, False, ttft_s=1.6, server_waiting=1.0)], 64, "smol", "low", SLO, LIMITS,
                    CAUSES)
    assert said.limit == "TTFT (queueing)" and "counted 1 waiting for a slot at its busiest reading" in said.sentence
    unsaid = conclude(flat + [verdict(4, False, ttft_s=1.6, server_waiting=0.0)], 64, "smol", "low", SLO, LIMITS,
                      CAUSES)
    assert unsaid.limit == "TTFT" and "waiting" not in unsaid.sentence


def test_one_stream_alone_is_never_said_to_queue() -> None:
    alone = conclude([verdict(1, False, shares=(0.0, 0.1, 0.9))], 64, "smol", "low", SLO, LIMITS, CAUSES)
    assert alone.streams == 0 and alone.limit == "TTFT" and "90% waiting" in alone.sentence
    untimed = conclude([verdict(1, False, server_waiting=2.0)], 64, "smol", "low", SLO, LIMITS, CAUSES)
    assert untimed.limit == "TTFT" and untimed.sentence.endswith("(at 1 stream: TTFT p95 2.00 s > 1.5 s)")


def test_without_the_servers_times_queueing_needs_a_queues_ttft_growth_with_the_decode_rate_holding() -> None:
    # TTFT p95 1.2 s at 1 stream and 1.6 s at 4: it barely grows, where a queue's would
    flat = conclude([verdict(1, True, ttft_s=1.2), verdict(4, False, ttft_s=1.6), verdict(2, True),
                     verdict(3, True)], 64, "smol", "low", SLO, LIMITS, CAUSES)
    assert flat.streams == 3 and flat.limit == "TTFT"
    assert "(at 4 streams: TTFT p95 1.60 s > 1.5 s; TTFT p95 1.3x that at 1 stream, decode rate 100% of it)" \
        in flat.sentence
    # TTFT grows 4x but each stream decodes at 40 % of its rate alone: the streams share the compute
    shared = conclude([verdict(1, True), verdict(4, False, decode_tps=20.0), verdict(2, True), verdict(3, True)],
                      64, "smol", "low", SLO, LIMITS, CAUSES)
    assert shared.limit == "TTFT", shared.sentence
    assert "decode rate 40% of it" in shared.sentence
    # ...or a server that says it runs them all at once (llama.cpp's slots): they do not wait their turn
    parallel = conclude([verdict(1, True), verdict(4, False), verdict(2, True), verdict(3, True)], 64, "smol", "low",
                        SLO, LIMITS, CAUSES, slots=4)
    assert parallel.limit == "TTFT" and "TTFT p95 4.0x that at 1 stream" in parallel.sentence


def test_no_stream_and_the_ceiling_are_said_as_such() -> None:
    none = conclude([verdict(1, False, [DECODE])], 64, "smol", "low", SLO, LIMITS, CAUSES)
    assert none.streams == 0 and none.sentence.startswith("not even 1 stream of smol meets the low tier's targets")
    top = conclude([verdict(1, True), verdict(2, True)], 2, "smol", "low", SLO, LIMITS, CAUSES)
    assert top.streams == 2 and top.limit == "" and "at least 2 concurrent streams" in top.sentence


def test_an_interrupted_search_claims_only_what_its_finished_levels_prove() -> None:
    answer = conclude([verdict(1, True), verdict(2, True)], 64, "smol", "low", SLO, LIMITS, CAUSES,
                      interrupted=True)
    assert answer.streams == 2 and answer.limit == ""
    assert answer.sentence.startswith("interrupted before the search settled: at least 2 concurrent streams")
    assert "ceiling" not in answer.sentence


def test_a_level_where_nothing_answered_is_limited_by_its_failures_alone() -> None:
    level = judge_level(1, requests(0, 0.5, 50.0, failed=2), 1.0, SLO, LIMITS)
    assert level.misses == [FAILURES] and not level.passed
