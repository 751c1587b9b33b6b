"""llama.cpp's /metrics and /slots read as load samples; anything else there is nothing, never an error."""

from __future__ import annotations

from wfdoctor.sense.backends.llamacpp_state import parse_metrics, parse_slots

LABELS = {"url": "http://127.0.0.1:8080", "kind": "openai"}
PAGE = """# HELP llamacpp:requests_processing Number of requests processing
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 2
llamacpp:requests_deferred 5
llamacpp:tokens_predicted_total 1234
vllm:num_requests_running 7
"""


def test_the_request_gauges_are_read_and_other_servers_metrics_ignored() -> None:
    assert [(s.metric, s.value) for s in parse_metrics(PAGE, LABELS)] == [
        ("wf_llm_server_requests_processing", 2.0), ("wf_llm_server_requests_deferred", 5.0)]
    assert parse_metrics("llamacpp:requests_deferred not-a-number\n", LABELS) == []


def test_busy_slots_are_counted_and_a_strange_answer_is_nothing() -> None:
    slots = '[{"id": 0, "is_processing": true}, {"id": 1, "is_processing": false}, {"id": 2}]'
    assert [(s.metric, s.value) for s in parse_slots(slots, LABELS)] == [
        ("wf_llm_server_slots_busy", 1.0), ("wf_llm_server_slots_total", 3.0)]
    for strange in ("<html>", '{"error": "slots disabled"}', "[1, 2]"):
        assert parse_slots(strange, LABELS) == []
