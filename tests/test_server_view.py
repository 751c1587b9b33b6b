"""The server's own view: what llama.cpp, vLLM and Ollama say about their work, read as a typed snapshot,
differenced over a level, and used as evidence in the causes. Never an error: a server that says nothing
is a note."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.builders import REMEDIES, TOKENS, TTFT_TARGET_S, level
from wfdoctor.analyze.server_view import ServerLevel, server_level, view_samples, with_server_view
from wfdoctor.measure.tokens import LevelRun, Workload, run_workload
from wfdoctor.model import Finding, Priority
from wfdoctor.sense.backends.base import GenerationRequest, ServerView
from wfdoctor.sense.backends.client import connect
from wfdoctor.sense.backends.server_view import LLAMACPP, LLAMACPP_SLOTS, OLLAMA, VLLM, parse_metrics_page
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer

FIXTURES = Path(__file__).parent / "fixtures"
VLLM_PAGE = (FIXTURES / "vllm_metrics.txt").read_text()         # written from vLLM's documentation
LLAMACPP_PAGE = (FIXTURES / "llamacpp_metrics.txt").read_text()  # captured from the real llama-server
SLOTS = '[{"id": 0, "n_ctx": 768, "is_processing": true}, {"id": 1, "n_ctx": 768, "is_processing": false}]'


def test_a_vllm_page_from_its_documentation_is_read_summed_over_its_models() -> None:
    view = parse_metrics_page(VLLM_PAGE)
    assert view.source == VLLM and view.note == ""
    assert (view.running, view.waiting, view.kv_cache_ratio, view.preemptions) == (4.0, 4.0, 0.93, 2.0)
    assert (view.prompt_tokens, view.generated_tokens) == (12345.0, 48512.0)
    assert (view.queue_s, view.finished, view.prefill_s, view.decode_s) == (42.5, 100.0, 6.25, 480.0)


def test_vllms_older_kv_cache_gauge_is_read_too() -> None:
    page = "# TYPE vllm:gpu_cache_usage_perc gauge\nvllm:gpu_cache_usage_perc{model_name=\"m\"} 0.4\n"
    assert parse_metrics_page(page).kv_cache_ratio == 0.4


def test_the_real_llama_server_page_is_read_with_its_slots() -> None:
    view = parse_metrics_page(LLAMACPP_PAGE, SLOTS)
    assert view.source == LLAMACPP_SLOTS
    assert (view.prompt_tokens, view.generated_tokens, view.prefill_s, view.decode_s) == (93.0, 50.0, 0.51899, 1.6624)
    assert view.decode_steps == 21.0 and abs(view.busy_slot_steps - 50.0) < 0.01  # 2.38095 busy per decode x 21
    assert (view.running, view.waiting, view.longest_sequence) == (0.0, 0.0, 50.0)
    assert (view.slots_busy, view.slots_total, view.slot_context) == (1, 2, 768)
    assert parse_metrics_page(LLAMACPP_PAGE).source == LLAMACPP  # started without --slots


def test_a_page_of_no_known_server_is_a_note_not_an_error() -> None:
    for page in ("<html>nope</html>", '{"error": "metrics disabled"}', "process_cpu_seconds_total 3\n"):
        view = parse_metrics_page(page)
        assert view.source == "" and view.note, page


@given(st.text(max_size=300), st.one_of(st.none(), st.text(max_size=100)))
def test_any_page_and_slot_list_whatever_is_in_them_parse_without_raising(page: str, slots: str | None) -> None:
    assert isinstance(parse_metrics_page(page, slots), ServerView)
    assert isinstance(parse_metrics_page("llamacpp:requests_processing 1\n" + page, slots), ServerView)


def test_a_level_is_the_difference_of_the_counters_around_it() -> None:
    before = ServerView(source=VLLM, generated_tokens=100.0, prompt_tokens=40.0, queue_s=1.0, finished=10.0,
                        preemptions=0.0, kv_cache_ratio=0.2, waiting=0.0)
    after = ServerView(source=VLLM, generated_tokens=356.0, prompt_tokens=90.0, queue_s=4.0, finished=14.0,
                       preemptions=1.0, kv_cache_ratio=0.1, waiting=2.0)
    view = server_level(4, before, after)
    assert view is not None
    assert (view.generated_tokens, view.prompt_tokens, view.queue_s, view.finished) == (256.0, 50.0, 3.0, 4.0)
    assert (view.preemptions, view.kv_cache_ratio, view.waiting) == (1.0, 0.2, 2.0)  # gauges: the higher reading


def test_a_gauge_is_its_highest_reading_while_the_level_streamed_too() -> None:
    """Requests waiting and KV-cache use peak while the streams run, and are back near zero at the level's edges."""
    edge = ServerView(source=VLLM, generated_tokens=0.0, waiting=0.0, kv_cache_ratio=0.05)
    during = [ServerView(source=VLLM, waiting=3.0, kv_cache_ratio=0.95), ServerView(source=VLLM, waiting=1.0)]
    view = server_level(4, edge, replace(edge, generated_tokens=64.0), during)
    assert view is not None
    assert (view.waiting, view.kv_cache_ratio, view.gauge_readings) == (3.0, 0.95, 4)
    assert view.generated_tokens == 64.0  # counters: the edges' difference, whatever was read between
    # A llama.cpp reading whose /slots failed is still the server's /metrics; a failed reading was never kept.
    slots = ServerView(source=LLAMACPP_SLOTS, waiting=0.0)
    view = server_level(6, slots, slots, [ServerView(source=LLAMACPP, waiting=2.0)])
    assert view is not None and (view.waiting, view.gauge_readings) == (2.0, 3)


def test_llama_cpp_busy_slots_are_the_mean_over_the_levels_decode_steps() -> None:
    before = ServerView(source=LLAMACPP, decode_steps=100.0, busy_slot_steps=100.0, longest_sequence=50.0)
    after = ServerView(source=LLAMACPP, decode_steps=200.0, busy_slot_steps=380.0, longest_sequence=700.0,
                       slot_context=768, slots_total=3)
    view = server_level(3, before, after)
    assert view is not None and view.busy_slots == 2.8 and view.slots_total == 3
    assert view.context_fill == 700 / 768
    assert server_level(3, after, after).context_fill is None  # the longest sequence was reached before the level


def test_a_restarted_or_silent_server_gives_no_difference() -> None:
    assert server_level(1, ServerView(source=VLLM, generated_tokens=500.0),
                        ServerView(source=VLLM, generated_tokens=20.0)).generated_tokens is None
    assert server_level(1, None, ServerView(source=VLLM)) is None
    assert server_level(1, ServerView(note="no /metrics"), ServerView(note="no /metrics")) is None
    assert server_level(1, ServerView(source=VLLM), ServerView(source=LLAMACPP)) is None


def test_samples_carry_the_endpoint_as_their_source_and_the_level_as_a_label() -> None:
    samples = view_samples([ServerLevel(2, LLAMACPP_SLOTS, generated_tokens=64.0, prefill_s=1.0, decode_s=3.0)])
    assert {(s.metric, s.value) for s in samples} == {
        ("wf_llm_server_view_generated_tokens", 64.0), ("wf_llm_server_view_prefill_seconds", 1.0),
        ("wf_llm_server_view_decode_seconds", 3.0), ("wf_llm_server_view_prefill_share_ratio", 0.25)}
    assert all(s.source == LLAMACPP_SLOTS and s.labels == {"concurrency": "2"} for s in samples)


def causes(views: list[ServerLevel], found: list[Finding] | None = None, ttft_s: float = 0.1,
           e2e_s: float = 10.0) -> list[Finding]:
    summaries = [level(v.concurrency, 50.0, ttft_s=ttft_s, e2e_s=e2e_s) for v in views]
    return with_server_view(found or [], views, summaries, "llama.cpp", limits=TOKENS,
                            ttft_target_s=TTFT_TARGET_S, remedies=REMEDIES)


def test_every_slot_busy_and_requests_mostly_outside_them_is_server_queueing() -> None:
    # 10 s of requests' time, 4 s of it in the slots: 60 % waited, with all 3 slots busy per decode step.
    busy = ServerLevel(6, LLAMACPP_SLOTS, prefill_s=1.0, decode_s=3.0, busy_slots=3.0, slots_total=3)
    [finding] = causes([busy])
    assert finding.code == "SERVER_QUEUEING" and finding.priority is Priority.HIGH
    assert "60%" in finding.summary and "3.0 of 3 slots" in finding.summary
    assert finding.actions and all(s.source == LLAMACPP_SLOTS for s in finding.evidence)


def test_waiting_without_evidence_of_full_slots_or_at_one_stream_is_no_queueing() -> None:
    unknown = ServerLevel(6, LLAMACPP, prefill_s=1.0, decode_s=3.0)  # busy slots unknown: no evidence they were full
    alone = ServerLevel(1, LLAMACPP_SLOTS, prefill_s=1.0, decode_s=3.0, busy_slots=1.0, slots_total=1)
    assert causes([unknown]) == [] and causes([alone]) == []


def test_endless_negative_or_impossible_numbers_from_a_page_are_no_evidence() -> None:
    page = ("# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc 7\n"
            "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting +Inf\n"
            "# TYPE vllm:prompt_tokens counter\nvllm:prompt_tokens_total -5\n")
    view = parse_metrics_page(page)
    assert view.waiting is None and view.prompt_tokens is None
    assert causes([ServerLevel(4, VLLM, kv_cache_ratio=view.kv_cache_ratio)]) == []  # 700 % is no share


def test_slots_with_a_context_that_is_not_a_count_give_no_context() -> None:
    for n_ctx in ([4096], True, "4096", -1):
        view = parse_metrics_page(LLAMACPP_PAGE, json.dumps([{"id": 0, "n_ctx": n_ctx, "is_processing": False}]))
        assert view.slot_context is None


def test_waiting_with_free_slots_or_little_waiting_is_no_queueing() -> None:
    free = ServerLevel(6, LLAMACPP_SLOTS, prefill_s=1.0, decode_s=3.0, busy_slots=1.5, slots_total=3)
    short = ServerLevel(3, LLAMACPP_SLOTS, prefill_s=2.0, decode_s=7.5, busy_slots=3.0, slots_total=3)
    assert causes([free]) == [] and causes([short]) == []


def test_requests_the_server_says_waited_are_evidence_of_queueing_without_busy_slots() -> None:
    waited = ServerLevel(6, LLAMACPP, prefill_s=1.0, decode_s=3.0, waiting=2.0)
    [finding] = causes([waited])
    assert finding.code == "SERVER_QUEUEING" and finding.summary.endswith("; the server counted 2 waiting for a slot at its busiest reading")
    assert "wf_llm_server_view_waiting_requests" in {s.metric for s in finding.evidence}
    assert causes([replace(waited, waiting=0.0)]) == []


def measured_level(config: FakeConfig, read_gauges: bool = True) -> LevelRun:
    """One level of two requests one after another (about a second of streaming at a 0.5 s TTFT)."""
    async def measure() -> LevelRun:
        with FakeLLMServer(config) as server:
            backend = await connect(server.base_url, None, timeout_s=5)
            try:
                [level] = await run_workload(backend, Workload(GenerationRequest("hi", max_tokens=2), runs=2,
                                                               warmup=0, read_gauges=read_gauges), [])
            finally:
                await backend.aclose()
        return level
    return asyncio.run(measure())


def test_a_token_run_reads_the_servers_gauges_while_its_streams_run() -> None:
    llama = FakeConfig(implementation="openai", ttft_s=0.5, tokens=2, answers={"/metrics": LLAMACPP_PAGE})
    measured = measured_level(llama)
    assert measured.server_during and all(view.source == LLAMACPP for view in measured.server_during)
    assert measured.server_before is not None and measured.server_after is not None
    # Not where the view has no gauges (Ollama's /api/ps), nor when the caller turned it off (diagnose's check).
    assert measured_level(FakeConfig(ttft_s=0.5, tokens=2)).server_during == []
    assert measured_level(llama, read_gauges=False).server_during == []


def test_vllms_queue_time_is_the_waiting_it_reports() -> None:
    [finding] = causes([ServerLevel(8, VLLM, queue_s=5.0, prefill_s=1.0, decode_s=2.0)])
    assert finding.code == "SERVER_QUEUEING" and "50%" in finding.summary


def test_the_server_view_joins_a_queueing_cause_the_timings_already_named() -> None:
    serialises = Finding(rule_id="tokens.server_serialises", code="SERVER_SERIALISES", row="r", symptom="s",
                         cause="c", priority=Priority.HIGH, actions=[], evidence=[], summary="queued")
    [finding] = causes([ServerLevel(3, LLAMACPP_SLOTS, prefill_s=1.0, decode_s=3.0, busy_slots=1.0, slots_total=1)],
                       [serialises])
    assert finding.code == "SERVER_SERIALISES" and finding.summary.startswith("queued; by the server: ")
    assert [s.metric for s in finding.evidence] == ["wf_llm_server_view_queue_share_ratio",
                                                    "wf_llm_server_view_busy_slots"]


def test_a_nearly_full_kv_cache_or_preemptions_are_named() -> None:
    [full] = causes([ServerLevel(4, VLLM, kv_cache_ratio=0.95)])
    assert full.code == "KV_CACHE_FULL" and "95% KV cache in use" in full.summary
    [evicted] = causes([ServerLevel(4, VLLM, kv_cache_ratio=0.5, preemptions=3.0)])
    assert evicted.code == "KV_CACHE_FULL" and "3 requests preempted" in evicted.summary
    [context] = causes([ServerLevel(4, LLAMACPP_SLOTS, context_fill=0.99)])
    assert "of a slot context filled" in context.summary
    assert causes([ServerLevel(4, VLLM, kv_cache_ratio=0.5, preemptions=0.0)]) == []


def test_prompt_seconds_as_most_of_the_servers_work_explain_a_slow_first_token() -> None:
    view = ServerLevel(1, VLLM, prefill_s=8.0, decode_s=2.0)
    [finding] = causes([view], ttft_s=TTFT_TARGET_S * 3, e2e_s=10.5)
    assert finding.code == "PREFILL_DOMINATED" and "80%" in finding.summary
    assert causes([view], ttft_s=TTFT_TARGET_S / 2, e2e_s=10.5) == []  # TTFT within the target: nothing to explain


def read_view(config: FakeConfig) -> ServerView | None:
    async def read() -> ServerView | None:
        with FakeLLMServer(config) as server:
            backend = await connect(server.base_url, None, timeout_s=5)
            try:
                return await backend.server_view()
            finally:
                await backend.aclose()
    return asyncio.run(read())


def test_ollamas_view_is_its_loaded_models_from_api_ps() -> None:
    view = read_view(FakeConfig(model_size=4_000_000_000, model_size_vram=1_000_000_000))
    assert view is not None and view.source == OLLAMA
    assert (view.models_loaded, view.model_bytes, view.model_vram_bytes) == (1, 4_000_000_000, 1_000_000_000)
    assert server_level(1, view, view).vram_ratio == 0.25


def test_an_openai_compatible_server_with_a_vllm_page_is_read_and_one_without_is_a_note() -> None:
    view = read_view(FakeConfig(implementation="openai", answers={"/metrics": VLLM_PAGE}))
    assert view is not None and view.source == VLLM and view.generated_tokens == 48512.0
    silent = read_view(FakeConfig(implementation="llama.cpp"))
    assert silent is not None and silent.source == "" and "no /metrics" in silent.note


def test_a_page_over_the_bound_is_not_read_at_all_rather_than_cut_mid_number() -> None:
    over = (1 << 20) + 1   # newlines before a page whose own text is whole: only its size is wrong
    huge = read_view(FakeConfig(implementation="openai", answers={"/metrics": VLLM_PAGE},
                                answer_padding={"/metrics": over}))
    assert huge is not None and huge.source == "" and huge.generated_tokens is None
    assert huge.note.endswith("/metrics over 1 MiB: not read (a server's page is a few kB)")
    # Under the bound, a page that comes in many network reads is read to its end, its metrics after them.
    whole = read_view(FakeConfig(implementation="openai", answers={"/metrics": VLLM_PAGE},
                                 answer_padding={"/metrics": 900_000}))
    assert whole is not None and whole.source == VLLM and whole.generated_tokens == 48512.0 and whole.note == ""


def test_a_slot_list_over_the_bound_leaves_the_metrics_and_says_it_was_not_read() -> None:
    view = read_view(FakeConfig(implementation="openai", answers={"/metrics": LLAMACPP_PAGE, "/slots": SLOTS},
                                answer_padding={"/slots": (1 << 20) + 1}))
    assert view is not None and view.source == LLAMACPP and view.slots_total is None
    assert view.note.endswith("/slots over 1 MiB: not read (a server's page is a few kB)")


def test_a_tokens_run_says_beside_the_view_what_it_could_not_read(wfdoctor) -> None:
    config = FakeConfig(implementation="openai", tokens=8, answers={"/metrics": LLAMACPP_PAGE, "/slots": SLOTS},
                        answer_padding={"/slots": (1 << 20) + 1})
    with FakeLLMServer(config) as server:
        result = wfdoctor("tokens", "--backend", server.base_url, "--runs", "2", "--warmup", "0", "--max-tokens", "8",
                          "--no-bandwidth", "--fail-on", "never", "--json")
    assert result.code == 0, result.stderr
    notes = result.json()["notes"]
    assert any(note.startswith("the server's own view: llama.cpp /metrics, read before and after each level")
               for note in notes)
    assert any(note.endswith("/slots over 1 MiB: not read (a server's page is a few kB)") for note in notes)
