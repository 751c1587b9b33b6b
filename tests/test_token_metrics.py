"""Token metrics from stream traces, level summaries and the samples they become (analyze/tokens.py).

Times are chosen to be exact in binary (quarters and eighths of a second), so
every derived time is stated with `==`: the definitions in docs/tokens.md, to the bit.
"""

from __future__ import annotations

import math

import pytest

from tests.builders import TOKENS, rows, stream
from wfdoctor.analyze.tokens import (
    Distribution,
    Knee,
    LevelSummary,
    RequestMetrics,
    find_knee,
    level_metrics,
    output_token_count,
    request_metrics,
    request_samples,
    summarize_level,
    summary_samples,
)
from wfdoctor.measure.tokens import LevelRun

CLIENT = "wfdoctor tokens (client-measured)"
EVENTS = "content events (one token each)"
LLAMA_CPP_SERVER = {"prompt_tokens": 12.0, "prefill_s": 0.0625, "completion_tokens": 5.0, "decode_s": 1.0}


# --- the output-token count --------------------------------------------------------------------------------

def test_the_servers_own_output_count_wins_under_the_name_the_protocol_gives_it() -> None:
    trace = stream(1.0, [1.25, 1.5], server={"completion_tokens": 7.0}, count_source="usage.completion_tokens")
    assert output_token_count(trace) == (7, "usage.completion_tokens")


def test_without_a_server_count_each_content_event_is_one_token() -> None:
    trace = stream(1.0, [1.25, 1.5, 1.75], server={"prompt_tokens": 12.0})
    assert output_token_count(trace) == (3, EVENTS)


# --- one request -------------------------------------------------------------------------------------------

def test_every_per_request_metric_of_a_llama_cpp_stream() -> None:
    trace = stream(1.0, [1.25, 1.375, 1.5, 2.0, 2.25], first_byte_s=1.125, server=LLAMA_CPP_SERVER)
    assert request_metrics(trace, (5, "server usage"), 6, stall_s=0.3) == RequestMetrics(
        ok=True, error="", ttft_s=0.25, ttfb_s=0.125, e2e_s=1.25, itl_s=[0.125, 0.125, 0.5, 0.25],
        output_tokens=5, output_tokens_source="server usage", tokenizer_tokens=6,
        tpot_s=0.25, decode_tps=4.0,  # (1.25 s - 0.25 s) over the 4 tokens after the first
        prompt_tokens=12, prefill_tps=192.0, stalls=1, server=LLAMA_CPP_SERVER,
        queue_transport_s=0.1875,  # TTFT less the server's prefill: no load time reported
        server_unaccounted_s=None, sent_ns=1_000_000_000, done_ns=2_250_000_000,
    )


def test_ollamas_total_time_leaves_what_load_prefill_and_decode_do_not_explain() -> None:
    server = {"load_s": 0.5, "prefill_s": 0.25, "decode_s": 1.0, "total_s": 2.0}
    metrics = request_metrics(stream(1.0, [2.0, 2.5]), (2, "server eval_count"), stall_s=TOKENS.stall_s)
    assert (metrics.queue_transport_s, metrics.server_unaccounted_s) == (None, None)
    metrics = request_metrics(stream(1.0, [2.0, 2.5], server=server), (2, "server eval_count"), stall_s=TOKENS.stall_s)
    assert (metrics.queue_transport_s, metrics.server_unaccounted_s) == (0.25, 0.25)


def test_server_times_it_does_not_report_count_as_zero() -> None:
    server = {"prefill_s": 0.25, "decode_s": 1.0, "total_s": 1.5}
    metrics = request_metrics(stream(1.0, [2.0, 2.5], server=server), (2, "server eval_count"), stall_s=TOKENS.stall_s)
    assert (metrics.queue_transport_s, metrics.server_unaccounted_s) == (0.75, 0.25)


def test_a_prompt_rate_needs_a_prefill_time() -> None:
    for server in ({"prompt_tokens": 12.0}, {"prompt_tokens": 12.0, "prefill_s": 0.0}):
        metrics = request_metrics(stream(1.0, [1.25], server=server), (1, EVENTS), stall_s=TOKENS.stall_s)
        assert (metrics.prompt_tokens, metrics.prefill_tps) == (12, None)


def test_two_tokens_give_one_time_per_output_token() -> None:
    metrics = request_metrics(stream(1.0, [1.25, 1.75]), (2, EVENTS), stall_s=TOKENS.stall_s)
    assert (metrics.tpot_s, metrics.decode_tps) == (0.5, 2.0)


def test_a_request_that_never_connected_has_no_times_and_is_not_ok() -> None:
    refused = stream(1.0, [], error="connection refused", completed=False)
    assert request_metrics(refused, (0, EVENTS), stall_s=TOKENS.stall_s) == RequestMetrics(
        ok=False, error="connection refused", ttft_s=None, ttfb_s=None, e2e_s=None, itl_s=[], output_tokens=0,
        output_tokens_source=EVENTS, tokenizer_tokens=None, tpot_s=None, decode_tps=None, prompt_tokens=None,
        prefill_tps=None, stalls=0, server={}, queue_transport_s=None, server_unaccounted_s=None,
        sent_ns=1_000_000_000, done_ns=None)


def test_a_request_is_ok_only_when_the_stream_completed_without_an_error() -> None:
    def ok(completed: bool, error: str) -> bool:
        trace = stream(1.0, [1.25, 1.5], completed=completed, error=error)
        return request_metrics(trace, (2, EVENTS), stall_s=TOKENS.stall_s).ok

    assert ok(True, "") is True
    assert ok(True, "HTTP 500") is False
    assert ok(False, "") is False


# --- distributions ----------------------------------------------------------------------------------------

def test_a_distribution_states_count_percentiles_mean_spread_and_range() -> None:
    dist = Distribution.of([4.0, 1.0, 3.0, 2.0, 5.0])
    assert dist is not None
    assert (dist.n, dist.p50, dist.mean, dist.min, dist.max) == (5, 3.0, 3.0, 1.0, 5.0)
    assert (dist.p90, dist.p95, dist.p99) == pytest.approx((4.6, 4.8, 4.96))
    assert dist.sd == pytest.approx(math.sqrt(2.5))
    assert Distribution.of([]) is None


def test_two_values_have_a_sample_standard_deviation() -> None:
    dist = Distribution.of([1.0, 3.0])
    assert dist is not None and dist.sd == pytest.approx(math.sqrt(2.0))


# --- one level --------------------------------------------------------------------------------------------

def measured_level() -> LevelSummary:
    """Concurrency 2: two good requests (one with Ollama's timings), one HTTP error, one stream cut short."""
    ollama = {"load_s": 0.0, "prefill_s": 0.0625, "decode_s": 0.375, "total_s": 0.5, "prompt_tokens": 8.0}
    timed = stream(1.0, [1.125, 1.25, 1.375, 1.5], first_byte_s=1.0625, server=ollama)
    plain = stream(1.25, [1.5, 1.75], first_byte_s=1.3125)
    http_error = stream(1.125, [], error="HTTP 500 after 3 tokens", completed=False)
    cut_short = stream(1.0, [1.125, 1.625], done_s=1.875, completed=False)
    return summarize_level(2, [request_metrics(timed, (4, "server eval_count"), stall_s=0.2),
                               request_metrics(plain, (2, EVENTS), stall_s=0.2),
                               request_metrics(http_error, (0, EVENTS), stall_s=0.2),
                               request_metrics(cut_short, (2, EVENTS), stall_s=0.2)])


def test_a_level_counts_requests_errors_by_kind_and_its_wall_time_from_first_send_to_last_end() -> None:
    summary = measured_level()
    assert (summary.concurrency, summary.requests, summary.ok) == (2, 4, 2)
    assert summary.errors == {"HTTP 500": 1, "incomplete": 1}
    assert summary.wall_s == 0.875
    assert summary.throughput_tps == 6 / 0.875  # the good requests' 6 tokens
    assert summary.stalls == 1  # the plain request's 0.25 s gap; the cut stream's 0.5 s gap is not counted
    assert summary.token_sources == [EVENTS, "server eval_count"]


def test_a_level_has_a_distribution_of_every_metric_over_its_good_requests() -> None:
    assert {name: (dist.n, dist.p50) for name, dist in measured_level().metrics.items()} == {
        "ttft_s": (2, 0.1875), "ttfb_s": (2, 0.0625), "e2e_s": (2, 0.5), "itl_s": (4, 0.125),
        "tpot_s": (2, 0.1875), "decode_tps": (2, 6.0), "prefill_tps": (1, 128.0), "output_tokens": (2, 3.0),
        "queue_transport_s": (1, 0.0625), "server_unaccounted_s": (1, 0.0625),
        "server_load_s": (1, 0.0), "server_prefill_s": (1, 0.0625), "server_decode_s": (1, 0.375),
        "server_total_s": (1, 0.5),
    }


def test_a_level_whose_requests_all_failed_has_no_wall_time_throughput_or_statistics() -> None:
    refused = request_metrics(stream(1.0, [], error="connection refused", completed=False), (0, EVENTS),
                              stall_s=TOKENS.stall_s)
    summary = summarize_level(4, [refused, refused])
    assert summary == LevelSummary(concurrency=4, requests=2, ok=0, errors={"connection refused": 2},
                                   throughput_tps=None, wall_s=0.0, stalls=0, metrics={}, token_sources=[])


# --- the knee ------------------------------------------------------------------------------------------------

def test_a_knee_needs_two_levels_with_output() -> None:
    levels = [LevelSummary(1, 8, 8, {}, 40.0, 1.0, 0), LevelSummary(2, 8, 0, {}, None, 1.0, 0)]
    assert find_knee(levels, TOKENS) == Knee(None, "needs at least two concurrency levels with output")


def test_still_scaling_names_the_highest_level_with_output() -> None:
    levels = [LevelSummary(c, 8, 8, {}, tps, 1.0, 0) for c, tps in ((4, 160.0), (1, 40.0), (2, 80.0), (8, None))]
    assert find_knee(levels, TOKENS) == Knee(None, "throughput still scales at concurrency 4 (160.0 tokens/s)")


# --- a measured level, request by request -------------------------------------------------------------------

def test_each_trace_is_measured_with_the_server_tokenizers_count_beside_it_where_there_is_one() -> None:
    counted = stream(1.0, [1.25, 1.5], server={"completion_tokens": 2.0}, count_source="usage.completion_tokens")
    stalled = stream(1.0, [1.25, 2.0])
    plain = stream(1.0, [1.25])
    run = LevelRun(concurrency=2, arrival="closed", traces=[counted, stalled, plain], token_counts=[2, None])
    metrics = level_metrics(run, stall_s=0.5)
    assert [(m.output_tokens, m.output_tokens_source, m.tokenizer_tokens, m.stalls) for m in metrics] == [
        (2, "usage.completion_tokens", 2, 0), (2, EVENTS, None, 1), (1, EVENTS, None, 0)]


def test_tokenizer_counts_beyond_the_traces_are_ignored() -> None:
    run = LevelRun(concurrency=1, arrival="closed", traces=[stream(1.0, [1.25])], token_counts=[1, 9, 9])
    assert [m.tokenizer_tokens for m in level_metrics(run, stall_s=TOKENS.stall_s)] == [1]


# --- samples for the rules and the history ---------------------------------------------------------------------

def test_level_statistics_become_samples_per_stat_then_throughput_then_failures_and_retries() -> None:
    ttft = Distribution(n=3, p50=0.1, p90=0.2, p95=0.3, p99=0.4, mean=0.15, sd=0.01, min=0.05, max=0.5)
    itl = Distribution(n=9, p50=0.01, p90=0.02, p95=0.03, p99=0.04, mean=0.015, sd=0.001, min=0.005, max=0.05)
    busy = LevelSummary(2, 4, 3, {"HTTP 500": 1}, 12.5, 1.0, 0, {"ttft_s": ttft, "itl_s": itl})
    failed = LevelSummary(4, 2, 0, {"HTTP 500": 2}, None, 0.0, 0)
    c2 = {"concurrency": "2"}
    assert rows(summary_samples([busy, failed])) == [
        ("wf_llm_time_to_first_token_seconds", 0.1, "s", CLIENT, c2 | {"stat": "p50"}),
        ("wf_llm_time_to_first_token_seconds", 0.2, "s", CLIENT, c2 | {"stat": "p90"}),
        ("wf_llm_time_to_first_token_seconds", 0.3, "s", CLIENT, c2 | {"stat": "p95"}),
        ("wf_llm_time_to_first_token_seconds", 0.4, "s", CLIENT, c2 | {"stat": "p99"}),
        ("wf_llm_time_to_first_token_seconds", 0.15, "s", CLIENT, c2 | {"stat": "mean"}),
        ("wf_llm_inter_token_latency_seconds", 0.01, "s", CLIENT, c2 | {"stat": "p50"}),
        ("wf_llm_inter_token_latency_seconds", 0.02, "s", CLIENT, c2 | {"stat": "p90"}),
        ("wf_llm_inter_token_latency_seconds", 0.03, "s", CLIENT, c2 | {"stat": "p95"}),
        ("wf_llm_inter_token_latency_seconds", 0.04, "s", CLIENT, c2 | {"stat": "p99"}),
        ("wf_llm_inter_token_latency_seconds", 0.015, "s", CLIENT, c2 | {"stat": "mean"}),
        ("wf_llm_output_tokens_per_second", 12.5, "tokens/s", CLIENT, c2),
        ("wf_llm_failed_requests", 1.0, "requests", CLIENT, c2),
        ("wf_llm_connection_retries", 0.0, "requests", CLIENT, c2),
        ("wf_llm_failed_requests", 2.0, "requests", CLIENT, {"concurrency": "4"}),
        ("wf_llm_connection_retries", 0.0, "requests", CLIENT, {"concurrency": "4"}),
    ]


def test_each_good_request_becomes_its_ttft_decode_rate_and_e2e_samples_numbered_within_its_level() -> None:
    def measured(trace_tokens: list[float], tokens: int, source: str, ok: bool = True) -> RequestMetrics:
        trace = stream(1.0, trace_tokens, completed=ok, error="" if ok else "HTTP 500")
        return request_metrics(trace, (tokens, source), stall_s=TOKENS.stall_s)

    good = measured([1.25, 1.75], 2, EVENTS)
    failed = measured([1.25, 1.75], 2, EVENTS, ok=False)
    one_token = measured([1.5], 1, "server usage")
    assert rows(request_samples({1: [good, failed], 2: [failed, one_token]})) == [
        ("wf_llm_request_ttft_seconds", 0.25, "s", CLIENT, {"concurrency": "1", "request": "0",
                                                            "tokens_source": EVENTS}),
        ("wf_llm_request_decode_tokens_per_second", 2.0, "tokens/s", CLIENT,
         {"concurrency": "1", "request": "0", "tokens_source": EVENTS}),
        ("wf_llm_request_e2e_seconds", 0.75, "s", CLIENT, {"concurrency": "1", "request": "0",
                                                           "tokens_source": EVENTS}),
        ("wf_llm_request_ttft_seconds", 0.5, "s", CLIENT, {"concurrency": "2", "request": "1",
                                                           "tokens_source": "server usage"}),
        ("wf_llm_request_e2e_seconds", 0.5, "s", CLIENT, {"concurrency": "2", "request": "1",
                                                          "tokens_source": "server usage"}),
    ]
