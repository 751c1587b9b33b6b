"""What the council diagnosis tells the user: each cause's exact finding, from the runner's timelines.

The boundaries of each limit are in test_council_limits.py; here the councils are
measured (council_metrics over CouncilRun values) and the findings are read in
full: code, cause, summary sentence, actions and evidence samples.
"""

from __future__ import annotations

from dataclasses import replace

from tests.builders import FACTS, REMEDIES, answered, council_run, described, failed_member
from wfdoctor.analyze.council import (Baseline, CouncilMetrics, council_metrics, interrupted, parallelism,
                                      recommend_size, stragglers)
from wfdoctor.config.remedies import Remedies, Remedy
from wfdoctor.model import Finding, Priority

COUNCIL = FACTS.limits.council
SYNC_WARNING_S = FACTS.common["council_sync_delay_ms"]["warning"] / 1000
SOURCE = "wfdoctor council (measured)"
A, B, C = "http://127.0.0.1:8000", "http://127.0.0.1:8001", "http://127.0.0.1:8002"
# A user rules file that gives ollama servers their own council actions.
OLLAMA_AWARE = Remedies(by_id=REMEDIES.by_id | {
    remedy: Remedy(id=remedy, actions={"default": ["analyze_concurrency"], "ollama": ["ollama_num_parallel"]})
    for remedy in ("council_member_failed", "council_straggler")})


def straggling(url: str = A) -> CouncilMetrics:
    """m1 is done at 1 s; m2 starts answering at 2 s and finishes at 3 s (the median finish is 2 s)."""
    return council_metrics(council_run([answered("m1", [0.25, 0.5, 0.75, 1.0], 1.0),
                                        answered("m2", [2.0, 2.5, 3.0], 3.0, url=url)], wall_s=3.0))


def find_stragglers(metrics: CouncilMetrics, implementation_of: dict[str, str] | None = None,
                    remedies: Remedies = REMEDIES) -> list[Finding]:
    return stragglers(metrics, implementation_of or {A: "llama-cpp-python"}, COUNCIL, SYNC_WARNING_S, remedies)


def test_of_two_members_the_later_one_can_be_the_straggler_and_its_late_first_token_is_named() -> None:
    [finding] = find_stragglers(straggling())
    assert (finding.rule_id, finding.code, finding.priority) == ("council.council_straggler", "COUNCIL_STRAGGLER",
                                                                 Priority.MEDIUM)
    assert (finding.row, finding.symptom, finding.cause) == ("council_sync_delays", "Council sync delays",
                                                             "one member holds the council back")
    assert finding.summary == (f"m2 ({A}) finished at 3.00 s, 1.00 s after the median member: its first token came "
                               "after 2.00 s against 0.25 s for the others")
    assert described(finding.evidence) == [
        ("wf_council_member_finish_seconds", 3.0, "s", SOURCE, {"member": "m2"}),
        ("wf_council_member_ttft_seconds", 2.0, "s", SOURCE, {"member": "m2"}),
        ("wf_council_member_finish_seconds", 2.0, "s", SOURCE, {"member": "median"}),
    ]


def test_a_stragglers_actions_are_those_its_server_is_given() -> None:
    [on_ollama] = find_stragglers(straggling(B), {A: "llama-cpp-python", B: "ollama"}, OLLAMA_AWARE)
    [elsewhere] = find_stragglers(straggling(C), {A: "llama-cpp-python", B: "ollama"}, OLLAMA_AWARE)
    assert (on_ollama.actions, elsewhere.actions) == (["ollama_num_parallel"], ["analyze_concurrency"])


def test_a_failed_member_is_a_high_priority_finding_with_its_retries_as_evidence() -> None:
    metrics = council_metrics(council_run([answered("m1", [0.25, 0.5], 0.5), failed_member("m2", "HTTP 500: boom")],
                                          wall_s=0.5))
    [finding] = find_stragglers(metrics)
    assert finding == Finding(
        rule_id="council.council_member_failed", code="COUNCIL_MEMBER_FAILED", row="council_sync_delays",
        symptom="Council sync delays", cause="a member gave no usable answer after its retries",
        priority=Priority.HIGH, actions=["analyze_concurrency", "reduce_concurrent_requests"],
        evidence=finding.evidence, summary=f"m2 ({A}) failed after 3 retries: HTTP 500: boom")
    assert described(finding.evidence) == [("wf_council_member_retries", 3.0, "retries", SOURCE, {"member": "m2"})]


def test_a_failed_members_actions_are_those_its_server_is_given() -> None:
    metrics = council_metrics(council_run([failed_member("m1", "HTTP 500", url=B), failed_member("m2", "HTTP 500")],
                                          wall_s=0.5))
    findings = find_stragglers(metrics, {A: "llama-cpp-python", B: "ollama"}, OLLAMA_AWARE)
    assert [f.actions for f in findings] == [["ollama_num_parallel"], ["analyze_concurrency"]]


# --- parallelism ------------------------------------------------------------------------------------

def queued(url_of_second: str = A) -> CouncilMetrics:
    """Two members at 4 tokens/s each, the second streaming only after the first is done: alpha 1."""
    run = council_run([answered("m1", [0.25, 0.5, 0.75, 1.0], 1.0),
                       answered("m2", [1.25, 1.5, 1.75, 2.0], 2.0, url=url_of_second)], wall_s=2.0)
    return council_metrics(run, Baseline(wall_s=2.0, solo_decode_tps=4.0))


def judge_parallelism(metrics: CouncilMetrics, implementation_of: dict[str, str] | None = None) -> list[Finding]:
    return parallelism(metrics, implementation_of or {A: "llama-cpp-python"}, COUNCIL, REMEDIES)


def test_two_members_that_take_turns_at_their_solo_rate_are_a_serialised_server() -> None:
    [finding] = judge_parallelism(queued())
    assert (finding.rule_id, finding.code, finding.priority) == ("council.council_serialised", "COUNCIL_SERIALISED",
                                                                 Priority.HIGH)
    assert finding.cause == "the server runs one member at a time: members queue instead of running together"
    assert finding.summary == ("measured alpha 1.00 (1 = one at a time): the council took 2.00 s, 1.00x faster than "
                               "members run one after another (2.00 s), while each member decodes at 100% of its "
                               f"solo rate; server: {A} (llama-cpp-python)")
    assert finding.actions == ["one_server_per_stream", "parallel_slots_server"]
    assert described(finding.evidence) == [
        ("wf_council_contention_alpha", 1.0, "factor", SOURCE, {"members": "2"}),
        ("wf_council_speedup_ratio", 1.0, "factor", SOURCE, {"members": "2"}),
        ("wf_council_member_decode_tokens_per_second", 4.0, "tokens/s", SOURCE, {"members": "2"}),
        ("wf_council_member_decode_tokens_per_second", 4.0, "tokens/s", SOURCE, {"members": "1 (alone)"}),
    ]


def test_every_server_of_a_serialised_council_is_named_with_its_implementation() -> None:
    [finding] = judge_parallelism(queued(B), {A: "ollama", B: "llama.cpp"})
    assert finding.summary.endswith(f"; server: {A} (ollama), {B} (llama.cpp)")


def test_members_that_overlap_but_slow_each_other_down_are_contention() -> None:
    # Both stream at 2 tokens/s at once, against 4 tokens/s alone; one after another they took 1.5 s.
    run = council_run([answered("m1", [0.25, 0.75, 1.25], 1.25), answered("m2", [0.25, 0.75, 1.25], 1.25)],
                      wall_s=1.25)
    [finding] = judge_parallelism(council_metrics(run, Baseline(wall_s=1.5, solo_decode_tps=4.0)))
    assert (finding.rule_id, finding.code, finding.priority) == ("council.council_contention", "COUNCIL_CONTENTION",
                                                                 Priority.MEDIUM)
    assert finding.cause == "members run in parallel but compete for the same CPU/GPU"
    assert finding.summary == ("measured alpha 0.67: members decode at 50% of their solo rate (2.0 vs 4.0 tokens/s); "
                               f"speed-up 1.20x for 2 members; servers: {A} (llama-cpp-python)")
    assert finding.actions == ["reduce_concurrent_requests", "optimize_thread_allocation"]
    assert [e.metric for e in finding.evidence] == ["wf_council_contention_alpha", "wf_council_speedup_ratio",
                                                    "wf_council_member_decode_tokens_per_second",
                                                    "wf_council_member_decode_tokens_per_second"]


def test_parallelism_is_judged_only_with_alpha_two_members_and_both_decode_rates() -> None:
    serialised = queued()
    assert [f.code for f in judge_parallelism(serialised)] == ["COUNCIL_SERIALISED"]
    assert judge_parallelism(replace(serialised, alpha=None)) == []
    assert judge_parallelism(replace(serialised, n=1)) == []
    assert judge_parallelism(replace(serialised, solo_decode_tps=None)) == []
    assert judge_parallelism(replace(serialised, council_decode_tps=None)) == []


# --- interrupted streams ----------------------------------------------------------------------------

def test_members_cut_off_on_shared_llama_cpp_python_servers_are_counted_per_council() -> None:
    metrics = council_metrics(council_run([
        answered("m1", [0.25, 0.5], 0.5), failed_member("m2", "connection cut by peer"),
        answered("m3", [0.25, 0.5], 0.5, url=B), failed_member("m4", "server disconnected", url=B),
        failed_member("m5", "connection cut by peer", url=C),  # alone on its server: nothing to interrupt it
    ], wall_s=0.5))
    [finding] = interrupted(metrics, {A: "llama-cpp-python", B: "llama-cpp-python", C: "llama-cpp-python"},
                            REMEDIES)
    assert (finding.rule_id, finding.code, finding.priority) == ("council.council_interrupted",
                                                                 "COUNCIL_INTERRUPTED", Priority.HIGH)
    assert finding.cause == ("llama-cpp-python cancels the running stream when another member's request arrives "
                             "(its default interrupt_requests=True)")
    assert finding.summary == f"2 of 5 members were cut off on {A}, {B}"
    assert finding.actions == ["llama_cpp_python_no_interrupt", "one_server_per_stream", "parallel_slots_server"]
    assert described(finding.evidence) == [("wf_council_failed_members", 2.0, "members", SOURCE, {"members": "5"})]


def test_other_failures_on_a_shared_server_are_not_interruptions() -> None:
    metrics = council_metrics(council_run([answered("m1", [0.25, 0.5], 0.5), failed_member("m2", "HTTP 500: boom")],
                                          wall_s=0.5))
    assert interrupted(metrics, {A: "llama-cpp-python"}, REMEDIES) == []


# --- council size -----------------------------------------------------------------------------------

def test_the_size_explanation_gives_each_sizes_worst_member_its_failures_and_the_targets() -> None:
    one = council_metrics(council_run([answered("a", [0.5, 0.75], 0.75)], wall_s=0.75))
    two = council_metrics(council_run([answered("a", [0.5, 0.75], 0.75), answered("b", [1.25, 1.5], 1.5)],
                                      wall_s=1.5))
    three = council_metrics(council_run([failed_member(name, "HTTP 500") for name in "abc"], wall_s=0.5))
    size = recommend_size([three, one, two], ttft_target_s=1.0, decode_target_tps=3.0, tier_default=2)
    assert size.recommended == 1
    assert size.explanation == (
        "n=1: worst TTFT 0.50 s, slowest decode 4.0 tokens/s; "
        "n=2: worst TTFT 1.25 s, slowest decode 4.0 tokens/s (misses); "
        "n=3: worst TTFT not measured, slowest decode not measured, 3 of 3 members failed (misses) "
        "(targets: TTFT <= 1 s, decode >= 3 tokens/s; the tier's default council size is 2)")
