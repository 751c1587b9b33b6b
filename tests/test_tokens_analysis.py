"""Token metrics, the saturation knee and cause classification, on synthetic data."""

from __future__ import annotations

import pytest

from tests.builders import SERVER, TOKENS, cpu_reading, diagnose, level
from wfdoctor.analyze.bottleneck import LevelSystem, ServerFacts
from wfdoctor.analyze.roofline import roofline
from wfdoctor.analyze.tokens import Distribution, Knee, LevelSummary, RequestMetrics, find_knee, summarize_level
from wfdoctor.analyze.tokens import request_metrics as metrics_with
from wfdoctor.config.rules import load_rulebook
from wfdoctor.sense.backends.base import StreamTrace

MS = 1_000_000


def request_metrics(trace: StreamTrace, tokens: tuple[int, str]) -> RequestMetrics:
    return metrics_with(trace, tokens, stall_s=TOKENS.stall_s)


def knee_of(levels: list[LevelSummary]) -> Knee:
    return find_knee(levels, TOKENS)


def trace(ttft_ms: float, itl_ms: list[float], server: dict[str, float] | None = None, ok: bool = True) -> StreamTrace:
    times = [int(ttft_ms * MS)]
    for gap in itl_ms:
        times.append(times[-1] + int(gap * MS))
    return StreamTrace(sent_ns=0, first_byte_ns=MS, token_ns=times, pieces=["x"] * len(times), done_ns=times[-1],
                       server=server or {}, completed=ok, error="" if ok else "connection cut mid-response")


def test_per_request_definitions() -> None:
    metrics = request_metrics(trace(100, [20, 20, 250, 10]), (5, "content events (one token each)"))
    assert metrics.ttft_s == pytest.approx(0.100)
    assert metrics.ttfb_s == pytest.approx(0.001)
    assert metrics.itl_s == pytest.approx([0.020, 0.020, 0.250, 0.010])
    assert metrics.e2e_s == pytest.approx(0.400)
    assert metrics.tpot_s == pytest.approx((0.400 - 0.100) / 4)
    assert metrics.decode_tps == pytest.approx(4 / 0.300)
    assert metrics.stalls == 1  # the 250 ms gap


def test_server_timings_give_queueing_and_unaccounted_time() -> None:
    server = {"load_s": 0.5, "prefill_s": 0.2, "decode_s": 0.06, "total_s": 0.8, "prompt_tokens": 40}
    metrics = request_metrics(trace(750, [20, 20, 20]), (4, "server eval_count"))
    assert metrics.queue_transport_s is None  # no server view given
    metrics = request_metrics(StreamTrace(**{**trace(750, [20, 20, 20]).__dict__, "server": server}),
                              (4, "server eval_count"))
    assert metrics.queue_transport_s == pytest.approx(0.750 - 0.5 - 0.2)
    assert metrics.server_unaccounted_s == pytest.approx(0.8 - 0.5 - 0.2 - 0.06)
    assert metrics.prefill_tps == pytest.approx(40 / 0.2)


def test_distribution_has_percentiles_mean_and_sd() -> None:
    dist = Distribution.of([float(v) for v in range(1, 101)])
    assert dist is not None
    assert (dist.p50, dist.p90, dist.p99) == pytest.approx((50.5, 90.1, 99.01))
    assert dist.mean == pytest.approx(50.5) and dist.sd == pytest.approx(29.01, abs=0.01)
    single = Distribution.of([5.0])
    assert single is not None and (single.p50, single.sd, single.n) == (5.0, 0.0, 1)


def test_a_rate_needs_two_tokens_and_time_after_the_first() -> None:
    one_token = request_metrics(trace(100, [20]), (1, "server usage"))
    assert (one_token.tpot_s, one_token.decode_tps) == (None, None)
    ended_with_first = request_metrics(trace(100, [0]), (2, "server usage"))
    assert (ended_with_first.tpot_s, ended_with_first.decode_tps) == (None, None)


def test_a_level_without_elapsed_time_has_no_throughput() -> None:
    instant = StreamTrace(sent_ns=0, first_byte_ns=0, token_ns=[0, 0], pieces=["a", "b"], done_ns=0, completed=True)
    assert summarize_level(1, [request_metrics(instant, (2, "x"))]).throughput_tps is None


def test_failed_requests_are_counted_by_kind_and_left_out_of_the_statistics() -> None:
    good = request_metrics(trace(100, [20]), (2, "x"))
    bad = request_metrics(trace(100, [20], ok=False), (2, "x"))
    summary = summarize_level(2, [good, bad, bad])
    assert (summary.requests, summary.ok) == (3, 1)
    assert summary.errors == {"connection cut mid-response": 2}
    assert summary.metrics["ttft_s"].n == 1


def test_knee_is_where_throughput_stops_growing() -> None:
    assert knee_of([level(1, 40), level(2, 78), level(4, 150), level(8, 160)]).concurrency == 4
    assert knee_of([level(1, 40), level(2, 78), level(4, 150)]).concurrency is None
    assert knee_of([level(1, 40)]).concurrency is None


def codes(levels: list[LevelSummary], systems: list[LevelSystem] | None = None,
          server: ServerFacts = SERVER) -> list[str]:
    return [f.code for f in diagnose(levels, knee_of(levels), systems, server)]


def test_queued_requests_are_serialisation_not_saturation() -> None:
    serial = [level(1, 40, ttft_s=0.05), level(2, 40, ttft_s=0.9), level(4, 41, ttft_s=2.5)]
    assert codes(serial) == ["SERVER_SERIALISES"]
    shared = [level(1, 40, decode=40), level(2, 41, decode=20), level(4, 42, decode=10)]
    assert codes(shared) == ["THROUGHPUT_SATURATED"]


def test_streams_failing_only_under_concurrency_are_interruptions() -> None:
    levels = [level(1, 40), level(2, 5, ok=1, errors={"connection cut mid-response": 7})]
    assert codes(levels) == ["STREAMS_INTERRUPTED"]


def test_contention_needs_a_busy_machine_and_busy_other_processes() -> None:
    hog = LevelSystem(1, cpu_reading(0.98, {"100": 1.0, "555": 0.9, "1": 0.1}), own_pids=[1])
    assert "CPU_CONTENTION" in codes([level(1, 40)], [hog])
    server_alone = LevelSystem(1, cpu_reading(0.55, {"100": 1.0, "1": 0.1}), own_pids=[1])
    assert codes([level(1, 40)], [server_alone]) == ["CPU_BOUND"]


def test_partial_offload_reports_the_share_in_vram() -> None:
    server = ServerFacts(url="u", implementation="ollama", model="m", model_size_bytes=10_000_000_000,
                         model_vram_bytes=4_000_000_000)
    [finding] = diagnose([level(1, 40)], knee_of([level(1, 40)]), [], server)
    assert finding.code == "PARTIAL_GPU_OFFLOAD" and "only 40% of 10.0 GB" in finding.summary


def test_every_action_a_cause_names_is_in_the_catalogue() -> None:
    actions = load_rulebook().actions
    scenarios = [
        ([level(1, 40, ttft_s=0.05), level(4, 40, ttft_s=2.5)], SERVER),
        ([level(1, 40, ttft_s=0.05), level(4, 40, ttft_s=2.5)], ServerFacts("u", "ollama", "m")),
        ([level(1, 40, ttft_s=0.05), level(4, 40, ttft_s=2.5)], ServerFacts("u", "llama.cpp", "m")),
        ([level(1, 40), level(2, 5, ok=1, errors={"x": 7})], SERVER),
        ([level(1, 40), level(2, 5, ok=1, errors={"x": 7})], ServerFacts("u", "vllm", "m")),
    ]
    timed = LevelSummary(1, 8, 8, {}, 40.0, 1.0, 0, {"ttft_s": Distribution.of([1.0]),
                                                      "server_load_s": Distribution.of([0.8])})
    prefill = LevelSummary(1, 8, 8, {}, 40.0, 1.0, 0, {"ttft_s": Distribution.of([2.0]),
                                                       "server_prefill_s": Distribution.of([1.8])})
    scenarios += [([timed], SERVER), ([prefill], SERVER),
                  ([level(1, 40)], ServerFacts("u", "ollama", "m", model_size_bytes=10, model_vram_bytes=0)),
                  ([level(1, 40)], ServerFacts("u", "ollama", "m", model_size_bytes=10, model_vram_bytes=5))]
    systems = [LevelSystem(1, cpu_reading(0.98, {"100": 1.0, "555": 0.9, "1": 0.9}), own_pids=[1])]
    found: set[str] = set()
    for levels, server in scenarios:
        for finding in diagnose(levels, knee_of(levels), systems, server):
            assert set(finding.actions) <= set(actions), finding.code
            found.add(finding.code)
    assert found >= {"SERVER_SERIALISES", "STREAMS_INTERRUPTED", "CPU_CONTENTION", "COLD_MODEL_LOAD",
                     "PREFILL_DOMINATED", "CPU_ONLY_MODEL", "PARTIAL_GPU_OFFLOAD", "CLIENT_OVERHEAD"}


def test_roofline_is_bandwidth_over_model_bytes() -> None:
    limit = roofline(measured_tps=30.0, model_bytes=100_000_000, bandwidth_bytes_per_second=10e9, source="test")
    assert limit.limit_tps == pytest.approx(100.0)
    assert limit.fraction == pytest.approx(0.30)


def test_llama_cpp_server_timings_and_openai_usage_are_read_from_the_stream() -> None:
    from wfdoctor.sense.backends.openai import _handle_line

    stream = StreamTrace(sent_ns=0)
    lines = [
        b'data: {"model": "/models/m.gguf", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}',
        b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], '
        b'"timings": {"prompt_n": 12, "prompt_ms": 48.0, "predicted_n": 1, "predicted_ms": 20.0}}',
        b'data: {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 1}}',
        b"data: [DONE]",
    ]
    for arrived, line in enumerate(lines):
        _handle_line(line, stream, arrived)
    assert stream.completed and stream.finish_reason == "stop" and stream.pieces == ["Hi"]
    assert stream.reported_model == "/models/m.gguf"
    assert stream.server == {"prompt_tokens": 12.0, "prefill_s": 0.048, "completion_tokens": 1.0,
                             "decode_s": 0.020}
