"""Every decision limit of `wfdoctor tokens`, on its boundary: at the packaged limit, and one step past it.

Each scenario puts the measured quantity exactly on the limit read from the
packaged facts (`limits.tokens`), then moves it by the smallest step that
crosses it (`math.nextafter`, one nanosecond, one byte): the verdict flips.
"""

from __future__ import annotations

import math

import pytest

from tests.builders import FACTS, TOKENS, cpu_reading, diagnose, level
from wfdoctor.analyze.bottleneck import LevelSystem, ServerFacts, model_resident
from wfdoctor.analyze.tokens import Knee, find_knee, request_metrics
from wfdoctor.model import Finding, Priority, Sample
from wfdoctor.sense.backends.base import StreamTrace

KNEE = Knee(1, "throughput stops scaling at concurrency 1")
NO_KNEE = Knee(None, "throughput still scales")


def below(value: float) -> float:
    """The largest float under `value`: just across a `>=` limit."""
    return math.nextafter(value, -math.inf)


def above(value: float) -> float:
    return math.nextafter(value, math.inf)


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [f.code for f in findings]
    return findings[0]


# --- metrics: stalls and the knee -----------------------------------------------------------------

def stalls_with_gap(gap_ns: int) -> int:
    token_ns = [100_000_000, 100_000_000 + gap_ns]
    trace = StreamTrace(sent_ns=0, first_byte_ns=1, token_ns=token_ns, pieces=["a", "b"], done_ns=token_ns[-1],
                        completed=True)
    return request_metrics(trace, (2, "content events (one token each)"), stall_s=TOKENS.stall_s).stalls


def test_a_gap_of_exactly_stall_s_is_not_a_stall_one_nanosecond_more_is() -> None:
    limit_ns = round(TOKENS.stall_s * 1e9)
    assert limit_ns / 1e9 == TOKENS.stall_s
    assert stalls_with_gap(limit_ns) == 0
    assert stalls_with_gap(limit_ns + 1) == 1


def test_the_knee_is_a_step_scaling_below_knee_min_efficiency() -> None:
    at_limit = 100.0 * (1 + TOKENS.knee_min_efficiency * 2)  # concurrency 1 -> 3: linear would be 300
    assert (at_limit / 100.0 - 1) / (3 / 1 - 1) == TOKENS.knee_min_efficiency
    still_scaling = find_knee([level(1, 100.0), level(3, at_limit)], TOKENS)
    assert still_scaling == Knee(None, "throughput still scales at concurrency 3 (150.0 tokens/s)")
    stopped = find_knee([level(1, 100.0), level(3, below(at_limit))], TOKENS)
    assert stopped == Knee(1, "throughput stops scaling at concurrency 1: 100.0 tokens/s there, 150.0 at 3 "
                              "(25% of linear scaling)")


# --- interrupted streams --------------------------------------------------------------------------

def interrupted_levels(requests: int, failed: int) -> list:
    return [level(1, 40.0, requests=4, ok=4),
            level(2, 40.0, requests=requests, ok=requests - failed, errors={"connection cut": failed})]


def test_streams_interrupted_from_interrupted_share_of_failed_streams() -> None:
    assert 1 / 4 == TOKENS.interrupted_share
    finding = only(diagnose(interrupted_levels(4, 1), NO_KNEE))
    assert (finding.code, finding.priority) == ("STREAMS_INTERRUPTED", Priority.HIGH)
    assert finding.rule_id == "tokens.streams_interrupted"
    assert finding.summary == "1 of 4 streams failed at concurrency 2 (connection cut x1); none failed at concurrency 1"
    assert finding.actions == ["llama_cpp_python_no_interrupt", "one_server_per_stream", "parallel_slots_server"]
    assert [(e.value, e.labels) for e in finding.evidence] == [(0.25, {"concurrency": "2"}),
                                                               (0.0, {"concurrency": "1"})]
    assert diagnose(interrupted_levels(401, 100), NO_KNEE) == []  # 24.9 %


def test_streams_failing_at_concurrency_1_too_are_not_interruptions() -> None:
    levels = [level(1, 40.0, requests=4, ok=3), level(2, 40.0, requests=4, ok=2)]
    assert diagnose(levels, NO_KNEE) == []


def test_interrupted_streams_on_other_servers_name_the_generic_remedy() -> None:
    server = ServerFacts("http://h:1", "vllm", "m")
    finding = only(diagnose(interrupted_levels(4, 2), NO_KNEE, server=server))
    assert finding.cause == "the server drops running streams when more arrive (cancellation or a connection limit)"
    assert finding.actions == ["reduce_concurrent_requests", "parallel_slots_server"]


# --- queueing: serialised server vs saturated compute ---------------------------------------------

def queue_levels(ttft_growth: float, decode_share: float) -> list:
    """Concurrency 1 then 2 (TTFT 2 s, decode 2 tokens/s at 1): TTFT grows and decode keeps the given shares."""
    return [level(1, 40.0, ttft_s=2.0, decode=2.0), level(2, 40.0, ttft_s=2.0 * ttft_growth, decode=2.0 * decode_share)]


def test_ttft_growing_serial_ttft_growth_times_the_concurrency_ratio_is_serialisation() -> None:
    at_limit = TOKENS.serial_ttft_growth * 2
    finding = only(diagnose(queue_levels(at_limit, 1.0), KNEE))
    assert (finding.code, finding.priority) == ("SERVER_SERIALISES", Priority.HIGH)
    assert finding.cause == "llama-cpp-python generates one request at a time: concurrent requests queue"
    assert finding.summary == ("TTFT p50 grows 1.0x from concurrency 1 to 2 while each stream's decode rate holds "
                               "(100%): requests wait their turn; throughput stops scaling at concurrency 1")
    assert [f.code for f in diagnose(queue_levels(below(at_limit), 1.0), KNEE)] == ["THROUGHPUT_SATURATED"]


def test_serialisation_needs_the_decode_rate_to_hold_decode_holds() -> None:
    assert [f.code for f in diagnose(queue_levels(2.0, TOKENS.decode_holds), KNEE)] == ["SERVER_SERIALISES"]
    finding = only(diagnose(queue_levels(2.0, below(TOKENS.decode_holds)), KNEE))
    assert (finding.code, finding.priority) == ("THROUGHPUT_SATURATED", Priority.MEDIUM)
    assert finding.actions == ["reduce_concurrent_requests", "lower_precision"]
    assert finding.summary == ("per-stream decode rate falls to 70% at concurrency 2 while total throughput stays "
                               "flat: the streams share saturated compute; throughput stops scaling at concurrency 1")


@pytest.mark.parametrize(("implementation", "actions"), [
    ("llama-cpp-python", ["one_server_per_stream", "parallel_slots_server"]),
    ("ollama", ["ollama_num_parallel"]),
    ("llama.cpp", ["llama_cpp_parallel_slots"]),
    ("openai-compatible", ["parallel_slots_server"]),
    ("vllm", ["parallel_slots_server"]),
    ("llama-cpp-python (in process)", ["parallel_slots_server"]),
])
def test_a_serialising_server_gets_its_own_setting(implementation: str, actions: list[str]) -> None:
    server = ServerFacts("http://h:1", implementation, "m")
    assert only(diagnose(queue_levels(2.0, 1.0), KNEE, server=server)).actions == actions


def test_no_knee_no_queueing_cause() -> None:
    assert diagnose(queue_levels(2.0, 1.0), NO_KNEE) == []


# --- CPU pressure -----------------------------------------------------------------------------------

def system(machine: float, processes: dict[str, float], gpu: float | None = None) -> list[LevelSystem]:
    """One level's readings on a 4-core machine; pid 1 is wfdoctor, the server (SERVER) is pid 100."""
    logical = Sample("wf_cpu_logical_cores", 4.0, "cores", "test")
    return [LevelSystem(1, cpu_reading(machine, processes, gpu) + [logical], own_pids=[1])]


def test_cpu_contention_from_contention_cpu_busy_with_contention_other_cores() -> None:
    busy, others = TOKENS.contention_cpu, TOKENS.contention_other_cores
    finding = only(diagnose([], NO_KNEE, system(busy, {"555": others})))
    assert (finding.code, finding.priority) == ("CPU_CONTENTION", Priority.HIGH)
    assert finding.summary == ("CPU 85% busy during generation at concurrency 1; 0.50 cores went to other "
                               "processes: p555 (pid 555) 0.50 cores; server (pid 100) used 0.00 of 4 cores")
    assert finding.actions == ["disable_background_processes", "optimize_thread_allocation"]
    assert diagnose([], NO_KNEE, system(below(busy), {"555": others})) == []
    assert diagnose([], NO_KNEE, system(busy, {"555": below(others)})) == []


def test_the_server_and_wfdoctor_are_not_the_other_processes() -> None:
    assert diagnose([], NO_KNEE, system(0.99, {"100": 0.4, "1": 0.4, "555": 0.2}), server=ServerFacts(
        "http://h:1", "ollama", "m", pid=100)) == []


def test_cpu_bound_from_cpu_bound_server_cores_with_no_gpu() -> None:
    cores = TOKENS.cpu_bound_server_cores
    finding = only(diagnose([], NO_KNEE, system(0.5, {"100": cores})))
    assert (finding.code, finding.priority) == ("CPU_BOUND", Priority.MEDIUM)
    assert finding.summary == "server (pid 100) used 0.80 of 4 cores at concurrency 1; no GPU measured"
    assert finding.actions == ["optimize_thread_allocation", "lower_precision", "enable_gpu_offload"]
    assert diagnose([], NO_KNEE, system(0.5, {"100": below(cores)})) == []


def test_cpu_bound_needs_the_gpu_busy_under_gpu_idle() -> None:
    idle = TOKENS.gpu_idle
    finding = only(diagnose([], NO_KNEE, system(0.5, {"100": 1.0}, gpu=below(idle))))
    assert finding.summary == "server (pid 100) used 1.00 of 4 cores at concurrency 1; GPU 10% busy"
    assert diagnose([], NO_KNEE, system(0.5, {"100": 1.0}, gpu=idle)) == []


def test_client_overhead_from_client_cores() -> None:
    cores = TOKENS.client_cores
    finding = only(diagnose([], NO_KNEE, system(0.1, {"1": cores})))
    assert (finding.code, finding.priority) == ("CLIENT_OVERHEAD", Priority.MEDIUM)
    assert finding.summary == "wfdoctor's client used 0.80 cores at concurrency 1"
    assert finding.actions == ["reduce_concurrent_requests"]
    assert diagnose([], NO_KNEE, system(0.1, {"1": below(cores)})) == []
    in_process = ServerFacts("embedded", "llama-cpp-python (in process)", "m", pid=1)
    in_process_codes = [f.code for f in diagnose([], NO_KNEE, system(0.1, {"1": 1.0}), server=in_process)]
    assert in_process_codes == ["CPU_BOUND"]  # the client's process is the server: its cores are the model's


# --- model placement ---------------------------------------------------------------------------------

GB = 10 ** 9


def placed(vram_bytes: int) -> ServerFacts:
    return ServerFacts("http://h:11434", "ollama", "m", model_size_bytes=GB, model_vram_bytes=vram_bytes)


def test_a_model_from_resident_vram_share_in_vram_is_resident_one_byte_less_is_partial() -> None:
    resident = round(TOKENS.resident_vram_share * GB)
    assert resident / GB == TOKENS.resident_vram_share
    assert model_resident(placed(resident), TOKENS) is True
    assert diagnose([], NO_KNEE, server=placed(resident)) == []
    assert model_resident(placed(resident - 1), TOKENS) is False
    finding = only(diagnose([], NO_KNEE, server=placed(resident - 1)))
    assert (finding.code, finding.priority) == ("PARTIAL_GPU_OFFLOAD", Priority.HIGH)
    assert finding.summary == "m: only 98% of 1.0 GB is in VRAM"
    assert finding.actions == ["enable_quantization", "reduce_context", "unload_inactive_models"]


def test_nothing_in_vram_is_a_cpu_only_model_and_unknown_placement_is_no_finding() -> None:
    finding = only(diagnose([], NO_KNEE, server=placed(0)))
    assert (finding.code, finding.priority) == ("CPU_ONLY_MODEL", Priority.MEDIUM)
    assert finding.summary == "m: 0 % of 1.0 GB in VRAM"
    assert finding.actions == ["enable_gpu_offload", "enable_quantization"]
    assert model_resident(ServerFacts("u", "ollama", "m"), TOKENS) is False
    assert diagnose([], NO_KNEE, server=ServerFacts("u", "ollama", "m")) == []


# --- first token: model load and prefill -------------------------------------------------------------

def first_token(ttft_s: float, **server_p50: float) -> list[Finding]:
    return diagnose([level(1, 40.0, ttft_s=ttft_s, **server_p50)], NO_KNEE)


def test_cold_model_load_from_load_share_of_ttft() -> None:
    at_limit = TOKENS.load_share_of_ttft * 2.0
    finding = only(first_token(2.0, server_load_s=at_limit))
    assert (finding.code, finding.priority) == ("COLD_MODEL_LOAD", Priority.HIGH)
    assert finding.summary == "load 1.00 s of TTFT 2.00 s (p50, concurrency 1)"
    assert finding.actions == ["preload_models", "keep_model_loaded"]
    assert first_token(2.0, server_load_s=below(at_limit)) == []


def test_cold_model_load_needs_at_least_min_load_s() -> None:
    ttft = TOKENS.min_load_s * 1.5  # the share of TTFT is met; the absolute floor decides
    assert [f.code for f in first_token(ttft, server_load_s=TOKENS.min_load_s)] == ["COLD_MODEL_LOAD"]
    assert first_token(ttft, server_load_s=below(TOKENS.min_load_s)) == []


def test_prefill_dominated_from_prefill_share_of_ttft() -> None:
    at_limit = TOKENS.prefill_share_of_ttft * 2.0
    finding = only(first_token(2.0, server_prefill_s=at_limit, prefill_tps=500.0))
    assert (finding.code, finding.priority) == ("PREFILL_DOMINATED", Priority.MEDIUM)
    assert finding.summary == "prefill 1.20 s of TTFT 2.00 s at 500 prompt tokens/s"
    assert finding.actions == ["shorten_prompt", "reuse_prompt_cache"]
    assert first_token(2.0, server_prefill_s=below(at_limit)) == []


def test_prefill_is_named_only_past_the_tiers_ttft_target() -> None:
    target = FACTS.targets["mid"].ttft_seconds
    assert first_token(target, server_prefill_s=target) == []
    over = above(target)
    assert [f.code for f in first_token(over, server_prefill_s=over)] == ["PREFILL_DOMINATED"]
    high_target = FACTS.targets["high"].ttft_seconds
    levels = [level(1, 40.0, ttft_s=above(high_target), server_prefill_s=high_target)]
    assert [f.code for f in diagnose(levels, NO_KNEE, ttft_target_s=high_target)] == ["PREFILL_DOMINATED"]
    assert diagnose(levels, NO_KNEE) == []  # the same TTFT meets the mid tier's target


def test_causes_are_sorted_most_urgent_first() -> None:
    findings = diagnose([level(1, 40.0, ttft_s=2.0, server_prefill_s=2.0)], NO_KNEE,
                        system(0.99, {"555": 1.0}), server=ServerFacts("u", "ollama", "m", pid=100,
                                                                        model_size_bytes=GB, model_vram_bytes=0))
    assert [(f.code, f.priority) for f in findings] == [("CPU_CONTENTION", Priority.HIGH),
                                                        ("CPU_ONLY_MODEL", Priority.MEDIUM),
                                                        ("PREFILL_DOMINATED", Priority.MEDIUM)]

