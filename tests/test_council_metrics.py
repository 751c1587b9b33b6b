"""Council metrics from the runner's raw timelines (docs/council.md definitions), without servers.

Times are binary fractions of a second so that every metric is exact; the
council's clock starts 5 s into perf_counter so that "from the council's start"
and "from the member's own request" are different numbers.
"""

from __future__ import annotations

import pytest

from tests.builders import (COUNCIL_URL, answered, attempt, cancelled_member, council_run, described,
                            failed_member, ns)
from wfdoctor.analyze.council import (Baseline, CouncilMetrics, MemberMetrics, baseline_of, council_metrics,
                                      council_samples, member_metrics)
from wfdoctor.measure.council import CouncilRun, MemberRun, MemberSpec
from wfdoctor.sense.backends.base import StreamTrace

SOURCE = "wfdoctor council (measured)"


def five_members() -> CouncilRun:
    """m1 and m2 answer at once, m3 fails, m4 answers on its retry and finishes last, m5 is cancelled."""
    return council_run([
        answered("m1", [0.25, 0.5, 0.75, 1.0], done_s=1.0),
        answered("m2", [0.5, 1.0, 1.5, 2.0], done_s=2.0, url="http://127.0.0.1:8001"),
        failed_member("m3", "HTTP 500: boom"),
        answered("m4", [1.0, 2.0, 3.0, 4.0], done_s=4.0, sent_s=0.5, timeouts_before=[0.0]),
        cancelled_member("m5"),
    ], wall_s=4.0)


# --- one member -------------------------------------------------------------------------------------

def test_a_members_first_token_counts_from_its_own_request_and_from_the_councils_start() -> None:
    council = five_members()
    retried = member_metrics(council, council.members[3])
    assert retried == MemberMetrics(name="m4", url=COUNCIL_URL, status="ok", retries=1, error="", ttft_s=0.5,
                                    first_token_s=1.0, finish_s=4.0, decode_tps=1.0, output_tokens=4, busy_s=3.0)


def test_decode_rate_counts_the_tokens_after_the_first_over_the_streaming_time() -> None:
    council = five_members()
    first = member_metrics(council, council.members[0])
    assert (first.ttft_s, first.first_token_s, first.finish_s) == (0.25, 0.25, 1.0)
    assert (first.output_tokens, first.busy_s, first.decode_tps) == (4, 0.75, 4.0)


@pytest.mark.parametrize(("tokens_s", "done_s", "busy_s"), [
    ([0.5], 1.0, 0.5),        # one token: nothing to divide
    ([0.5, 0.5], 0.5, 0.0),   # every token in one read, at the end: no streaming time
])
def test_a_member_with_one_token_or_no_streaming_time_has_no_decode_rate(tokens_s: list[float], done_s: float,
                                                                         busy_s: float) -> None:
    run = answered("m1", tokens_s, done_s)
    metrics = member_metrics(council_run([run], wall_s=1.0), run)
    assert (metrics.decode_tps, metrics.busy_s, metrics.output_tokens) == (None, busy_s, len(tokens_s))
    assert (metrics.ttft_s, metrics.finish_s) == (0.5, done_s)


def test_a_failed_member_keeps_its_error_and_retries_and_has_no_times() -> None:
    council = five_members()
    assert member_metrics(council, council.members[2]) == MemberMetrics(
        name="m3", url=COUNCIL_URL, status="failed", retries=3, error="HTTP 500: boom", ttft_s=None,
        first_token_s=None, finish_s=None, decode_tps=None, output_tokens=0, busy_s=0.0)


@pytest.mark.parametrize("trace", [
    attempt(0.0, [], 1.0),                                   # an answer without a single token
    StreamTrace(sent_ns=ns(0.0), token_ns=[ns(0.5)], pieces=["w"], completed=True),  # a token, but no end time
])
def test_an_answer_without_tokens_or_without_an_end_has_no_times(trace: StreamTrace) -> None:
    run = MemberRun(MemberSpec("m1", COUNCIL_URL), [trace], "ok")
    metrics = member_metrics(council_run([run], wall_s=1.0), run)
    assert (metrics.status, metrics.ttft_s, metrics.first_token_s, metrics.finish_s) == ("ok", None, None, None)
    assert (metrics.decode_tps, metrics.output_tokens, metrics.busy_s) == (None, 0, 0.0)


# --- the council ------------------------------------------------------------------------------------

def test_the_council_counts_its_answering_failed_and_cancelled_members() -> None:
    metrics = council_metrics(five_members())
    assert (metrics.n, metrics.ok, metrics.failed, metrics.cancelled, metrics.wall_s) == (5, 3, 1, 1, 4.0)
    assert [m.name for m in metrics.members] == ["m1", "m2", "m3", "m4", "m5"]


def test_sync_delay_is_the_last_finish_after_the_median_finish_of_the_members_that_answered() -> None:
    assert council_metrics(five_members()).sync_delay_s == 4.0 - 2.0


def test_of_two_members_the_sync_delay_is_half_the_gap_between_their_finishes() -> None:
    run = council_run([answered("m1", [0.25, 0.5], 0.5), answered("m2", [0.75, 1.5], 1.5)], wall_s=1.5)
    metrics = council_metrics(run)
    assert (metrics.sync_delay_s, metrics.first_token_spread_s) == ((1.5 - 0.5) / 2, 0.75 - 0.25)


def test_first_token_spread_is_the_latest_first_token_after_the_earliest() -> None:
    assert council_metrics(five_members()).first_token_spread_s == 1.0 - 0.25


def test_efficiency_is_the_busy_time_of_the_answering_members_over_every_member_times_the_wall() -> None:
    assert council_metrics(five_members()).efficiency == (0.75 + 1.5 + 3.0) / (5 * 4.0)


def test_the_councils_decode_rate_is_the_mean_of_its_answering_members() -> None:
    assert council_metrics(five_members()).council_decode_tps == pytest.approx((4.0 + 2.0 + 1.0) / 3)


def test_without_a_baseline_there_is_no_speed_up_alpha_or_solo_rate() -> None:
    metrics = council_metrics(five_members())
    assert (metrics.speedup, metrics.alpha, metrics.sequential_wall_s, metrics.solo_decode_tps) == (
        None, None, None, None)


def test_speed_up_is_the_sequential_time_over_the_wall_and_alpha_solves_the_contention_model() -> None:
    metrics = council_metrics(five_members(), Baseline(wall_s=8.0, solo_decode_tps=5.0))
    assert (metrics.speedup, metrics.sequential_wall_s, metrics.solo_decode_tps) == (2.0, 8.0, 5.0)
    assert metrics.alpha == (5 / 2.0 - 1) / (5 - 1)


def test_two_members_in_well_under_a_second_have_an_alpha() -> None:
    run = council_run([answered("m1", [0.25, 0.5], 0.5), answered("m2", [0.25, 0.5], 0.5)], wall_s=0.5)
    metrics = council_metrics(run, Baseline(wall_s=0.75, solo_decode_tps=4.0))
    assert metrics.speedup == 1.5
    assert metrics.alpha == pytest.approx(2 / 1.5 - 1)


def test_a_lone_member_has_a_speed_up_but_no_alpha() -> None:
    run = council_run([answered("m1", [0.25, 0.5], 0.5)], wall_s=0.5)
    metrics = council_metrics(run, Baseline(wall_s=0.5, solo_decode_tps=4.0))
    assert (metrics.speedup, metrics.alpha) == (1.0, None)
    assert (metrics.sync_delay_s, metrics.first_token_spread_s) == (None, None)  # nobody to compare with


def test_a_council_that_took_no_time_has_no_ratios() -> None:
    run = council_run([answered("m1", [0.25, 0.5], 0.5), answered("m2", [0.25, 0.5], 0.5)], wall_s=0.0)
    metrics = council_metrics(run, Baseline(wall_s=1.0, solo_decode_tps=4.0))
    assert (metrics.speedup, metrics.alpha, metrics.efficiency) == (None, None, None)


def test_a_council_without_members_has_no_ratios() -> None:
    metrics = council_metrics(council_run([], wall_s=1.0))
    assert (metrics.n, metrics.ok, metrics.efficiency, metrics.sync_delay_s, metrics.council_decode_tps) == (
        0, 0, None, None, None)


def test_consensus_time_counts_from_the_councils_start_and_names_who_agreed() -> None:
    run = council_run([answered("m1", [0.25, 0.5], 0.5), answered("m2", [0.25, 1.0], 1.0), cancelled_member("m3")],
                      wall_s=1.0, consensus_s=1.0, consensus=["m1", "m2"])
    metrics = council_metrics(run)
    assert (metrics.consensus_s, metrics.consensus_members) == (1.0, ["m1", "m2"])
    assert council_metrics(five_members()).consensus_s is None


# --- the sequential baseline ------------------------------------------------------------------------

def sequential() -> CouncilRun:
    """s1 alone, then s2 after one silent try, then s3: 1 s, 2 s (the silent try included) and 1 s."""
    return council_run([
        answered("s1", [0.25, 0.5, 0.75, 1.0], done_s=1.0),
        answered("s2", [2.0, 2.5, 3.0], done_s=3.0, sent_s=1.5, timeouts_before=[1.0]),
        answered("s3", [3.5, 4.0], done_s=4.0, sent_s=3.0),
    ], wall_s=4.0)


def test_the_baseline_of_the_first_members_is_their_time_one_after_another_and_their_mean_solo_rate() -> None:
    assert baseline_of(sequential(), 2) == Baseline(wall_s=1.0 + 2.0, solo_decode_tps=(4.0 + 2.0) / 2)
    assert baseline_of(sequential(), 3) == Baseline(wall_s=4.0, solo_decode_tps=pytest.approx(8.0 / 3))
    assert baseline_of(sequential(), 1) == Baseline(wall_s=1.0, solo_decode_tps=4.0)


def test_a_failed_member_counts_in_the_baseline_time_but_not_in_its_rate() -> None:
    run = council_run([failed_member("s1", "HTTP 500: boom", tries=1), answered("s2", [1.0, 1.5], 1.5, 0.5),
                       MemberRun(MemberSpec("never ran", COUNCIL_URL))], wall_s=1.5)
    assert baseline_of(run, 3) == Baseline(wall_s=0.5 + 1.0, solo_decode_tps=2.0)
    assert baseline_of(run, 1) == Baseline(wall_s=0.5, solo_decode_tps=None)


# --- samples ----------------------------------------------------------------------------------------

def test_council_samples_carry_the_council_numbers_then_each_members_times() -> None:
    metrics = council_metrics(five_members(), Baseline(wall_s=8.0, solo_decode_tps=5.0))
    council = {"members": "5"}

    def of(name: str, url: str = COUNCIL_URL) -> dict[str, str]:
        return council | {"member": name, "url": url}

    assert described(council_samples(metrics)) == [
        ("wf_council_wall_seconds", 4.0, "s", SOURCE, council),
        ("wf_council_sync_delay_seconds", 2.0, "s", SOURCE, council),
        ("wf_council_first_token_spread_seconds", 0.75, "s", SOURCE, council),
        ("wf_council_efficiency_ratio", 5.25 / 20, "ratio", SOURCE, council),
        ("wf_council_speedup_ratio", 2.0, "factor", SOURCE, council),
        ("wf_council_contention_alpha", 0.375, "factor", SOURCE, council),
        ("wf_council_failed_members", 1.0, "members", SOURCE, council),
        ("wf_council_member_ttft_seconds", 0.25, "s", SOURCE, of("m1")),
        ("wf_council_member_finish_seconds", 1.0, "s", SOURCE, of("m1")),
        ("wf_council_member_decode_tokens_per_second", 4.0, "tokens/s", SOURCE, of("m1")),
        ("wf_council_member_ttft_seconds", 0.5, "s", SOURCE, of("m2", "http://127.0.0.1:8001")),
        ("wf_council_member_finish_seconds", 2.0, "s", SOURCE, of("m2", "http://127.0.0.1:8001")),
        ("wf_council_member_decode_tokens_per_second", 2.0, "tokens/s", SOURCE, of("m2", "http://127.0.0.1:8001")),
        ("wf_council_member_ttft_seconds", 0.5, "s", SOURCE, of("m4")),
        ("wf_council_member_finish_seconds", 4.0, "s", SOURCE, of("m4")),
        ("wf_council_member_decode_tokens_per_second", 1.0, "tokens/s", SOURCE, of("m4")),
    ]


def test_a_number_that_was_not_measured_is_left_out_of_the_samples_not_sent_as_zero() -> None:
    lone = answered("m1", [0.5], 1.0)  # one token: no decode rate
    metrics: CouncilMetrics = council_metrics(council_run([lone], wall_s=1.0))
    assert described(council_samples(metrics)) == [
        ("wf_council_wall_seconds", 1.0, "s", SOURCE, {"members": "1"}),
        ("wf_council_efficiency_ratio", 0.5, "ratio", SOURCE, {"members": "1"}),
        ("wf_council_failed_members", 0.0, "members", SOURCE, {"members": "1"}),
        ("wf_council_member_ttft_seconds", 0.5, "s", SOURCE, {"members": "1", "member": "m1", "url": COUNCIL_URL}),
        ("wf_council_member_finish_seconds", 1.0, "s", SOURCE, {"members": "1", "member": "m1", "url": COUNCIL_URL}),
    ]


def test_an_empty_baseline_gives_a_speed_up_of_zero_and_no_alpha() -> None:
    from wfdoctor.analyze.council import Baseline, council_metrics

    members = [answered("m1", [0.1, 0.2], 0.5), answered("m2", [0.1, 0.2], 0.5)]
    metrics = council_metrics(council_run(members, wall_s=0.5), Baseline(wall_s=0.0, solo_decode_tps=None))
    assert (metrics.speedup, metrics.alpha) == (0.0, None)
