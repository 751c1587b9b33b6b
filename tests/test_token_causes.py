"""The causes of slow token generation, stated whole: code, cause, priority, actions, summary and evidence.

Each test gives one situation and the complete finding a user reads for it
(analyze/bottleneck.py), under the packaged limits and remedies; the limits'
own boundaries are in test_token_limits.py.
"""

from __future__ import annotations

import pytest

from tests.builders import TOKENS, as_read, cpu_reading, diagnose, level, rows
from wfdoctor.analyze.bottleneck import LevelSystem, ServerFacts, busy_threads, vram_share
from wfdoctor.analyze.remedies import RemedyId
from wfdoctor.analyze.tokens import Distribution, Knee, LevelSummary
from wfdoctor.config.remedies import Remedies, Remedy
from wfdoctor.model import Finding, Priority, Sample

MEASURED = "wfdoctor tokens (measured)"
ROW = "slow_token_generation"
SYMPTOM = "Slow token generation"
KNEE = Knee(2, "throughput stops scaling at concurrency 2")
NO_KNEE = Knee(None, "throughput still scales")


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [f.code for f in findings]
    return findings[0]


def failed_everywhere(concurrency: int) -> LevelSummary:
    """A level where every request failed: nothing was timed."""
    return LevelSummary(concurrency, 8, 0, {"connection refused": 8}, None, 1.0, 0)


# --- streams interrupted ------------------------------------------------------------------------------

def test_interrupted_streams_name_the_level_where_the_largest_share_failed_with_its_error_kinds() -> None:
    levels = [level(1, 40.0),
              level(2, 40.0, ok=4, errors={"connection cut": 4}),
              level(4, 40.0, ok=2, errors={"connection cut": 4, "HTTP 503": 2}),
              level(8, 40.0, requests=16, ok=11, errors={"connection cut": 5})]
    assert as_read(only(diagnose(levels, NO_KNEE))) == {
        "rule_id": "tokens.streams_interrupted", "code": "STREAMS_INTERRUPTED", "row": ROW, "symptom": SYMPTOM,
        "cause": "llama-cpp-python generates one request at a time and, by default (interrupt_requests=True), "
                 "a new request cancels the stream that is running",
        "priority": Priority.HIGH,
        "actions": ["llama_cpp_python_no_interrupt", "one_server_per_stream", "parallel_slots_server"],
        "summary": "6 of 8 streams failed at concurrency 4 (connection cut x4, HTTP 503 x2); "
                   "none failed at concurrency 1",
        "evidence": [("wf_llm_failed_streams_ratio", 0.75, "ratio", MEASURED, {"concurrency": "4"}),
                     ("wf_llm_failed_streams_ratio", 0.0, "ratio", MEASURED, {"concurrency": "1"})],
    }


def test_a_single_request_at_concurrency_1_is_enough_to_show_it_alone_succeeds() -> None:
    levels = [level(1, 40.0, requests=1, ok=1), level(2, 40.0, requests=2, ok=0, errors={"connection cut": 2})]
    assert only(diagnose(levels, NO_KNEE)).summary == ("2 of 2 streams failed at concurrency 2 (connection cut x2); "
                                                       "none failed at concurrency 1")


def test_no_request_at_concurrency_1_is_no_proof_that_streams_are_interrupted() -> None:
    levels = [level(1, None, requests=0, ok=0), level(2, 40.0, ok=0, errors={"connection cut": 8})]
    assert diagnose(levels, NO_KNEE) == []


@pytest.mark.parametrize("errors", [{"connection refused": 8}, {"connection cut": 3, "connection refused": 5},
                                    {"cannot connect: [Errno 111] Connect call failed": 8}],
                         ids=["all refused", "cut then refused", "cannot connect"])
def test_a_level_where_nothing_listened_any_more_is_a_server_gone_not_streams_interrupted(
        errors: dict[str, int]) -> None:
    """A server that died after the first level fails the next one with refused connections: that is
    SERVER_DIED's evidence (analyze/failures.py), not a server cancelling streams."""
    levels = [level(1, 40.0), level(2, 40.0, ok=0, errors=errors)]
    assert diagnose(levels, NO_KNEE) == []


# --- queueing: serialised server or saturated compute ---------------------------------------------------

def test_a_serialising_server_is_judged_from_the_lowest_to_the_highest_level_with_every_level_as_evidence() -> None:
    levels = [level(2, 40.0, ttft_s=0.25, decode=20.0), level(4, 41.0, ttft_s=0.5, decode=19.0),
              level(8, None, ttft_s=0.75, decode=18.0)]
    assert as_read(only(diagnose(levels, KNEE))) == {
        "rule_id": "tokens.server_serialises", "code": "SERVER_SERIALISES", "row": ROW, "symptom": SYMPTOM,
        "cause": "llama-cpp-python generates one request at a time: concurrent requests queue",
        "priority": Priority.HIGH,
        "actions": ["one_server_per_stream", "parallel_slots_server"],
        "summary": "TTFT p50 grows 3.0x from concurrency 2 to 8 while each stream's decode rate holds (90%): "
                   "requests wait their turn; throughput stops scaling at concurrency 2",
        "evidence": [
            ("wf_llm_time_to_first_token_seconds", 0.25, "s", MEASURED, {"concurrency": "2", "stat": "p50"}),
            ("wf_llm_time_to_first_token_seconds", 0.5, "s", MEASURED, {"concurrency": "4", "stat": "p50"}),
            ("wf_llm_time_to_first_token_seconds", 0.75, "s", MEASURED, {"concurrency": "8", "stat": "p50"}),
            ("wf_llm_decode_tokens_per_second", 20.0, "tokens/s", MEASURED, {"concurrency": "2", "stat": "p50"}),
            ("wf_llm_decode_tokens_per_second", 19.0, "tokens/s", MEASURED, {"concurrency": "4", "stat": "p50"}),
            ("wf_llm_decode_tokens_per_second", 18.0, "tokens/s", MEASURED, {"concurrency": "8", "stat": "p50"}),
            ("wf_llm_output_tokens_per_second", 40.0, "tokens/s", MEASURED, {"concurrency": "2"}),
            ("wf_llm_output_tokens_per_second", 41.0, "tokens/s", MEASURED, {"concurrency": "4"}),
            ("wf_llm_output_tokens_per_second", 0.0, "tokens/s", MEASURED, {"concurrency": "8"}),
        ],
    }


def test_ttft_growth_is_weighed_against_the_concurrency_ratio_not_the_concurrency_product() -> None:
    """2 -> 8 streams is 4x the concurrency: TTFT growing 2.5x is past half of it, so requests queue."""
    levels = [level(2, 40.0, ttft_s=0.25, decode=20.0), level(8, 40.0, ttft_s=0.625, decode=20.0)]
    assert only(diagnose(levels, KNEE)).code == "SERVER_SERIALISES"


def test_saturated_compute_is_stated_with_the_falling_per_stream_rate() -> None:
    levels = [level(1, 40.0, ttft_s=0.25, decode=40.0), level(4, 42.0, ttft_s=0.25, decode=10.0)]
    assert as_read(only(diagnose(levels, KNEE))) == {
        "rule_id": "tokens.throughput_saturated", "code": "THROUGHPUT_SATURATED", "row": ROW, "symptom": SYMPTOM,
        "cause": "concurrent streams run in parallel but share saturated compute",
        "priority": Priority.MEDIUM,
        "actions": ["reduce_concurrent_requests", "lower_precision"],
        "summary": "per-stream decode rate falls to 25% at concurrency 4 while total throughput stays flat: "
                   "the streams share saturated compute; throughput stops scaling at concurrency 2",
        "evidence": [
            ("wf_llm_time_to_first_token_seconds", 0.25, "s", MEASURED, {"concurrency": "1", "stat": "p50"}),
            ("wf_llm_time_to_first_token_seconds", 0.25, "s", MEASURED, {"concurrency": "4", "stat": "p50"}),
            ("wf_llm_decode_tokens_per_second", 40.0, "tokens/s", MEASURED, {"concurrency": "1", "stat": "p50"}),
            ("wf_llm_decode_tokens_per_second", 10.0, "tokens/s", MEASURED, {"concurrency": "4", "stat": "p50"}),
            ("wf_llm_output_tokens_per_second", 40.0, "tokens/s", MEASURED, {"concurrency": "1"}),
            ("wf_llm_output_tokens_per_second", 42.0, "tokens/s", MEASURED, {"concurrency": "4"}),
        ],
    }


def test_a_level_without_a_first_token_time_is_left_out_of_the_queueing_comparison() -> None:
    untimed = LevelSummary(4, 8, 8, {}, 40.0, 1.0, 0, {"decode_tps": Distribution.of([10.0])})
    levels = [level(1, 40.0, ttft_s=0.25, decode=40.0), level(2, 40.0, ttft_s=0.25, decode=20.0), untimed]
    finding = only(diagnose(levels, KNEE))
    assert finding.summary.startswith("per-stream decode rate falls to 50% at concurrency 2 ")
    assert {s.labels["concurrency"] for s in finding.evidence} == {"1", "2"}


# --- CPU contention and a CPU-bound server ------------------------------------------------------------

def test_contention_names_the_three_busiest_other_processes_busiest_first() -> None:
    processes = {"100": 1.0, "1": 0.5, "557": 0.2, "555": 0.9, "558": 0.1, "556": 0.3}
    systems = [LevelSystem(2, cpu_reading(0.95, processes), own_pids=[1])]
    assert as_read(only(diagnose([], NO_KNEE, systems))) == {
        "rule_id": "tokens.cpu_contention", "code": "CPU_CONTENTION", "row": ROW, "symptom": SYMPTOM,
        "cause": "other processes compete with the LLM server for the CPU",
        "priority": Priority.HIGH,
        "actions": ["disable_background_processes", "optimize_thread_allocation"],
        "summary": "CPU 95% busy during generation at concurrency 2; 1.50 cores went to other processes: "
                   "p555 (pid 555) 0.90 cores, p556 (pid 556) 0.30 cores, p557 (pid 557) 0.20 cores; "
                   "server (pid 100) used 1.00 of 0 cores",
        "evidence": [
            ("wf_cpu_utilization_ratio", 0.95, "ratio", MEASURED, {"concurrency": "2"}),
            ("wf_process_cpu_utilization_ratio", 0.9, "cores", MEASURED,
             {"pid": "555", "name": "p555", "concurrency": "2"}),
            ("wf_process_cpu_utilization_ratio", 0.3, "cores", MEASURED,
             {"pid": "556", "name": "p556", "concurrency": "2"}),
            ("wf_process_cpu_utilization_ratio", 0.2, "cores", MEASURED,
             {"pid": "557", "name": "p557", "concurrency": "2"}),
        ],
    }


def test_a_level_without_machine_cpu_readings_is_skipped_and_the_next_level_judged() -> None:
    systems = [LevelSystem(1, [], own_pids=[1]), LevelSystem(2, cpu_reading(0.95, {"555": 0.9}), own_pids=[1])]
    assert only(diagnose([], NO_KNEE, systems)).summary == ("CPU 95% busy during generation at concurrency 2; "
                                                            "0.90 cores went to other processes: p555 (pid 555) "
                                                            "0.90 cores; server (pid 100) used 0.00 of 0 cores")


def test_contention_alone_is_named_when_the_server_is_also_busy_on_the_cpu() -> None:
    systems = [LevelSystem(1, cpu_reading(0.95, {"100": 1.5, "555": 0.9}), own_pids=[1])]
    assert [f.code for f in diagnose([], NO_KNEE, systems)] == ["CPU_CONTENTION"]


def test_a_cpu_bound_server_is_stated_with_its_cores_the_machines_cores_and_the_gpus_share() -> None:
    readings = cpu_reading(0.4, {"100": 1.5}, gpu=0.05) + [Sample("wf_cpu_logical_cores", 8.0, "cores", "test")]
    assert as_read(only(diagnose([], NO_KNEE, [LevelSystem(4, readings, own_pids=[1])]))) == {
        "rule_id": "tokens.cpu_bound", "code": "CPU_BOUND", "row": ROW, "symptom": SYMPTOM,
        "cause": "decode runs on the CPU (its share of the memory-bandwidth limit was not measured)",
        "priority": Priority.MEDIUM,
        "actions": ["optimize_thread_allocation", "lower_precision", "enable_gpu_offload"],
        "summary": "server (pid 100) used 1.50 of 8 cores at concurrency 4; GPU 5% busy",
        "evidence": [("wf_process_cpu_utilization_ratio", 1.5, "cores", MEASURED, {"pid": "100", "name": "server"})],
    }


def cpu_bound_on_two_cores(roofline_share: float | None, busy_threads: int | None = 1) -> Finding:
    """A llama-cpp-python server busy on one core of two, no GPU, with the run's roofline share."""
    readings = cpu_reading(0.5, {"100": 0.98}) + [Sample("wf_cpu_logical_cores", 2.0, "cores", "test")]
    server = ServerFacts("http://h:1", "llama-cpp-python", "smol", pid=100, busy_threads=busy_threads)
    return only(diagnose([], NO_KNEE, [LevelSystem(1, readings, own_pids=[1])], server=server,
                         roofline_share=roofline_share))


def test_a_cpu_bound_server_far_below_the_bandwidth_limit_is_compute_bound_with_its_threads_and_cores() -> None:
    finding = cpu_bound_on_two_cores(0.13)
    assert finding.cause == ("decode runs on the CPU and is compute/overhead-bound (decode at only 13% of the "
                             "bandwidth limit: the cores, not memory, set the pace)")
    assert finding.summary == ("server (pid 100) used 0.98 of 2 cores, 1 busy thread of 2 cores at concurrency 1; "
                               "no GPU measured; it computes on 1 of 2 cores: 2 threads would use every core where "
                               "nothing else needs one (1 keeps a core for the UI, as the thread action below does)")
    assert rows(finding.evidence) == [
        ("wf_process_cpu_utilization_ratio", 0.98, "cores", MEASURED, {"pid": "100", "name": "server"}),
        ("wf_process_busy_threads", 1.0, "threads", MEASURED, {"pid": "100", "name": "server"}),
        ("wf_llm_roofline_fraction", 0.13, "ratio", MEASURED, {"model": "smol"})]


def test_a_cpu_bound_server_near_the_bandwidth_limit_is_bandwidth_bound() -> None:
    limit = TOKENS.bandwidth_bound_share
    assert cpu_bound_on_two_cores(limit, busy_threads=2).cause == (
        f"decode runs on the CPU and is bandwidth-bound (decode at {limit:.0%} of the memory-bandwidth limit)")
    assert "2 busy threads of 2 cores" in cpu_bound_on_two_cores(limit, busy_threads=2).summary
    assert "threads would use every core" not in cpu_bound_on_two_cores(limit, busy_threads=1).summary  # memory sets it
    assert "compute/overhead-bound" in cpu_bound_on_two_cores(limit * 0.99).cause


def test_contention_also_states_the_servers_threads_and_the_bandwidth_share() -> None:
    readings = cpu_reading(0.95, {"100": 0.7, "555": 0.9}) + [Sample("wf_cpu_logical_cores", 2.0, "cores", "test")]
    server = ServerFacts("http://h:1", "llama-cpp-python", "smol", pid=100, busy_threads=1)
    finding = only(diagnose([], NO_KNEE, [LevelSystem(1, readings, own_pids=[1])], server=server,
                            roofline_share=0.13))
    assert finding.summary.endswith("; server (pid 100) used 0.70 of 2 cores, 1 busy thread of 2 cores; "
                                    "decode at 13% of the memory-bandwidth limit")


def test_busy_threads_are_those_near_the_busiest_threads_cpu_time() -> None:
    share = TOKENS.busy_thread_share
    before = {1: 5.0, 2: 0.0, 3: 1.0}
    after = {1: 15.0, 2: 10.0 * share, 3: 1.0 + 10.0 * share * 0.9, 4: 0.01}
    assert busy_threads(before, after, TOKENS) == 2
    assert busy_threads({1: 2.0}, {1: 2.0}, TOKENS) is None
    assert busy_threads({}, {}, TOKENS) is None


def test_an_unmeasured_core_count_reads_as_0_cores() -> None:
    systems = [LevelSystem(1, cpu_reading(0.4, {"100": 1.0}), own_pids=[1])]
    assert only(diagnose([], NO_KNEE, systems)).summary == ("server (pid 100) used 1.00 of 0 cores at concurrency 1; "
                                                            "no GPU measured")


def test_a_processs_cores_are_its_mean_over_the_levels_machine_readings() -> None:
    readings = cpu_reading(0.5, {"100": 1.0, "555": 0.5}) + cpu_reading(0.5, {"100": 2.0})
    assert LevelSystem(1, readings).process_cores() == {("100", "p100"): 1.5, ("555", "p555"): 0.25}


def test_a_process_reading_without_machine_readings_counts_once_and_a_nameless_process_is_named_by_a_mark() -> None:
    reading = Sample("wf_process_cpu_utilization_ratio", 0.75, "cores", "test", {"pid": "7"})
    assert LevelSystem(1, [reading]).process_cores() == {("7", "?"): 0.75}


# --- model placement ------------------------------------------------------------------------------------

def ollama_model(size_bytes: int | None, vram_bytes: int | None) -> ServerFacts:
    return ServerFacts("http://h:11434", "ollama", "llama3.1:8b", model_size_bytes=size_bytes,
                       model_vram_bytes=vram_bytes)


def test_a_partly_offloaded_model_is_stated_with_its_share_and_size_as_ollama_reports_them() -> None:
    assert as_read(only(diagnose([], NO_KNEE, server=ollama_model(1_050_000_000, 525_000_000)))) == {
        "rule_id": "tokens.partial_gpu_offload", "code": "PARTIAL_GPU_OFFLOAD", "row": ROW, "symptom": SYMPTOM,
        "cause": "the model does not fit in VRAM: the layers left on the CPU set the pace",
        "priority": Priority.HIGH,
        "actions": ["enable_quantization", "reduce_context", "unload_inactive_models"],
        "summary": "llama3.1:8b: only 50% of 1.1 GB is in VRAM",
        "evidence": [("wf_llm_model_vram_ratio", 0.5, "ratio", "ollama /api/ps", {"model": "llama3.1:8b"})],
    }


def test_a_model_with_nothing_in_vram_runs_on_the_cpu() -> None:
    assert as_read(only(diagnose([], NO_KNEE, server=ollama_model(1_050_000_000, 0)))) == {
        "rule_id": "tokens.cpu_only_model", "code": "CPU_ONLY_MODEL", "row": ROW, "symptom": SYMPTOM,
        "cause": "the whole model runs on the CPU (nothing in VRAM)",
        "priority": Priority.MEDIUM,
        "actions": ["enable_gpu_offload", "enable_quantization"],
        "summary": "llama3.1:8b: 0 % of 1.1 GB in VRAM",
        "evidence": [("wf_llm_model_vram_ratio", 0.0, "ratio", "ollama /api/ps", {"model": "llama3.1:8b"})],
    }


def test_the_vram_share_needs_the_models_size() -> None:
    assert vram_share(ollama_model(2_000_000_000, 500_000_000)) == 0.25
    assert vram_share(ollama_model(None, 500_000_000)) is None
    assert vram_share(ollama_model(0, 0)) is None
    assert vram_share(ollama_model(2_000_000_000, None)) is None


# --- the first token: model load and prefill ---------------------------------------------------------------

def test_a_cold_model_load_is_stated_with_the_load_and_ttft_of_the_lowest_timed_level() -> None:
    levels = [failed_everywhere(1), level(2, 40.0, ttft_s=2.0, server_load_s=1.5), level(4, 40.0, ttft_s=2.0)]
    assert as_read(only(diagnose(levels, NO_KNEE))) == {
        "rule_id": "tokens.cold_model_load", "code": "COLD_MODEL_LOAD", "row": ROW, "symptom": SYMPTOM,
        "cause": "model load dominates TTFT: the model is loaded for requests instead of staying resident",
        "priority": Priority.HIGH,
        "actions": ["preload_models", "keep_model_loaded"],
        "summary": "load 1.50 s of TTFT 2.00 s (p50, concurrency 2)",
        "evidence": [("wf_llm_time_to_first_token_seconds", 2.0, "s", MEASURED, {"concurrency": "2", "stat": "p50"}),
                     ("wf_llm_server_load_seconds", 1.5, "s", MEASURED, {"concurrency": "2", "stat": "p50"})],
    }


def test_a_prefill_dominated_first_token_is_stated_with_the_prompt_rate() -> None:
    levels = [level(2, 40.0, ttft_s=2.0, server_prefill_s=1.8, prefill_tps=450.0)]
    assert as_read(only(diagnose(levels, NO_KNEE))) == {
        "rule_id": "tokens.prefill_dominated", "code": "PREFILL_DOMINATED", "row": ROW, "symptom": SYMPTOM,
        "cause": "prompt processing (prefill) dominates TTFT",
        "priority": Priority.MEDIUM,
        "actions": ["shorten_prompt", "reuse_prompt_cache"],
        "summary": "prefill 1.80 s of TTFT 2.00 s at 450 prompt tokens/s",
        "evidence": [("wf_llm_time_to_first_token_seconds", 2.0, "s", MEASURED, {"concurrency": "2", "stat": "p50"}),
                     ("wf_llm_server_prefill_seconds", 1.8, "s", MEASURED, {"concurrency": "2", "stat": "p50"})],
    }


def test_prefill_without_a_prompt_rate_says_only_the_times() -> None:
    finding = only(diagnose([level(1, 40.0, ttft_s=2.0, server_prefill_s=1.8)], NO_KNEE))
    assert finding.summary == "prefill 1.80 s of TTFT 2.00 s"


# --- the measuring client ---------------------------------------------------------------------------------------

def test_a_busy_client_is_stated_with_its_cores_at_the_first_level_where_it_was_busy() -> None:
    systems = [LevelSystem(1, cpu_reading(0.3, {"1": 0.25}), own_pids=[1]),
               LevelSystem(4, cpu_reading(0.3, {"1": 0.9}), own_pids=[1]),
               LevelSystem(8, cpu_reading(0.3, {"1": 1.0}), own_pids=[1])]
    assert as_read(only(diagnose([], NO_KNEE, systems))) == {
        "rule_id": "tokens.client_overhead", "code": "CLIENT_OVERHEAD", "row": ROW, "symptom": SYMPTOM,
        "cause": "the measuring client itself is CPU-bound; results understate the server",
        "priority": Priority.MEDIUM,
        "actions": ["reduce_concurrent_requests"],
        "summary": "wfdoctor's client used 0.90 cores at concurrency 4",
        "evidence": [("wf_process_cpu_utilization_ratio", 0.9, "cores", MEASURED, {"pid": "1", "name": "wfdoctor"})],
    }


# --- every cause takes its actions from its remedy, for the measured server -------------------------------------

def per_server_remedies() -> Remedies:
    """Every remedy with one list for vLLM and another for everyone else."""
    return Remedies(by_id={str(rid): Remedy(id=str(rid), actions={"default": [f"{rid} anywhere"],
                                                                  "vllm": [f"{rid} on vllm"]})
                           for rid in RemedyId})


VLLM = ServerFacts("http://h:8000", "vllm", "m", pid=100)
CONTENTION = [LevelSystem(1, cpu_reading(0.95, {"555": 0.9}), own_pids=[1])]
CPU_BOUND = [LevelSystem(1, cpu_reading(0.4, {"100": 1.5}), own_pids=[1])]
BUSY_CLIENT = [LevelSystem(1, cpu_reading(0.3, {"1": 0.9}), own_pids=[1])]
SERIAL = [level(1, 40.0, ttft_s=0.25, decode=20.0), level(4, 40.0, ttft_s=1.0, decode=20.0)]
SATURATED = [level(1, 40.0, ttft_s=0.25, decode=20.0), level(4, 40.0, ttft_s=0.25, decode=5.0)]
INTERRUPTED = [level(1, 40.0), level(2, 40.0, ok=0, errors={"connection cut": 8})]


@pytest.mark.parametrize(("levels", "systems", "server", "remedy"), [
    (INTERRUPTED, [], VLLM, RemedyId.STREAMS_INTERRUPTED),
    (SERIAL, [], VLLM, RemedyId.SERIALISED_SERVER),
    (SATURATED, [], VLLM, RemedyId.THROUGHPUT_SATURATED),
    ([], CONTENTION, VLLM, RemedyId.CPU_CONTENTION),
    ([], CPU_BOUND, VLLM, RemedyId.CPU_BOUND),
    ([], [], ServerFacts("u", "vllm", "m", model_size_bytes=10, model_vram_bytes=0), RemedyId.CPU_ONLY_MODEL),
    ([], [], ServerFacts("u", "vllm", "m", model_size_bytes=10, model_vram_bytes=5), RemedyId.PARTIAL_GPU_OFFLOAD),
    ([level(1, 40.0, ttft_s=2.0, server_load_s=1.5)], [], VLLM, RemedyId.COLD_MODEL_LOAD),
    ([level(1, 40.0, ttft_s=2.0, server_prefill_s=1.8)], [], VLLM, RemedyId.PREFILL_DOMINATED),
    ([], BUSY_CLIENT, VLLM, RemedyId.CLIENT_OVERHEAD),
])
def test_a_cause_names_its_remedys_actions_for_the_measured_servers_implementation(
        levels: list[LevelSummary], systems: list[LevelSystem], server: ServerFacts, remedy: RemedyId) -> None:
    finding = only(diagnose(levels, KNEE, systems, server, remedies=per_server_remedies()))
    assert finding.actions == [f"{remedy} on vllm"]

