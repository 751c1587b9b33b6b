"""`wfdoctor diagnose` end to end, through the real CLI, against the real server."""

from __future__ import annotations

import json
from importlib.resources import files

import jsonschema

from wfdoctor.sense.backends.embedded import MODEL_ALIAS, EmbeddedServer

SCHEMA = json.loads(files("wfdoctor").joinpath("data/schemas/diagnose.v1.schema.json").read_text())
ROWS = ["slow_token_generation", "ui_freezing", "high_memory", "model_loading_failures", "council_sync_delays",
        "gradual_degradation"]


def test_json_output_validates_against_the_documented_schema(wfdoctor, llm_server: EmbeddedServer) -> None:
    result = wfdoctor("diagnose", "--json", "--window", "0.5", "--backend", llm_server.base_url, "--fail-on", "never")
    assert result.code == 0, result.stderr
    doc = result.json()
    jsonschema.validate(doc, SCHEMA, format_checker=jsonschema.FormatChecker())
    [backend] = doc["backends"]
    assert backend["answered"] and backend["kind"] == "openai" and not backend["embedded"]
    assert [m["name"] for m in backend["models"]] == [MODEL_ALIAS]
    assert doc["tier"]["name"] in ("low", "mid", "high")
    assert [row["id"] for row in doc["rows"]] == ROWS
    tokens_row = next(row for row in doc["rows"] if row["id"] == "slow_token_generation")
    assert {"tokens.rate_low", "tokens.ttft_high"} <= set(tokens_row["checked"])  # the short token check ran


def test_every_printed_sample_has_a_unit_and_a_source(wfdoctor, closed_url: str) -> None:
    doc = wfdoctor("diagnose", "--json", "--window", "0.3", "--backend", closed_url, "--no-embedded",
                   "--fail-on", "never").json()
    assert doc["samples"]
    for sample in doc["samples"]:
        assert sample["unit"] and sample["source"], sample
    metrics = {s["metric"] for s in doc["samples"]}
    assert {"wf_cpu_utilization_ratio", "wf_cpu_core_utilization_ratio", "wf_memory_used_ratio",
            "wf_swap_bytes_per_second", "wf_process_cpu_utilization_ratio",
            "wf_process_resident_memory_bytes", "wf_cpu_load_average"} <= metrics


def test_rows_measured_later_say_not_measured_with_the_command(wfdoctor, closed_url: str) -> None:
    doc = wfdoctor("diagnose", "--json", "--window", "0.3", "--backend", closed_url, "--no-embedded",
                   "--fail-on", "never").json()
    rows = {row["id"]: row for row in doc["rows"]}
    for row_id, command in [("ui_freezing", "wfdoctor monitor"), ("council_sync_delays", "wfdoctor council"),
                            ("gradual_degradation", "wfdoctor regress check")]:
        assert rows[row_id]["status"] == "not_measured"
        assert rows[row_id]["not_measured"][0]["measured_by"].startswith(command)
    token_rules = {item["rule_id"]: item for item in rows["slow_token_generation"]["not_measured"]}
    assert token_rules["tokens.rate_low"]["measured_by"] == "wfdoctor tokens"
    assert token_rules["tokens.rate_low"]["inputs"] == ["wf_llm_decode_tokens_per_second"]


def test_falls_back_to_the_embedded_engine_when_no_server_answers(wfdoctor, closed_url: str) -> None:
    result = wfdoctor("diagnose", "--window", "0.3", "--backend", closed_url, "--fail-on", "never")
    assert result.code == 0, result.stderr
    assert "LLM servers answering" in result.stdout
    assert "embedded llama-cpp-python server" in result.stdout
    assert MODEL_ALIAS in result.stdout
    assert "Tier:" in result.stdout


def test_report_names_tier_and_why(wfdoctor, llm_server: EmbeddedServer) -> None:
    result = wfdoctor("diagnose", "--window", "0.3", "--backend", llm_server.base_url, "--fail-on", "never")
    assert "Hardware tier" in result.stdout and "Decided by:" in result.stdout
    assert "Performance triage matrix" in result.stdout


def test_usage_errors_exit_2_without_traceback(wfdoctor) -> None:
    result = wfdoctor("diagnose", "--window", "-1")
    assert result.code == 2
    assert "Traceback" not in result.stderr
