"""`wfdoctor compare RUN_A RUN_B`: stored runs of one kind, a verdict per series, what differs said first."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from tests.conftest import validate_document
from wfdoctor.app.compare import compare_runs
from wfdoctor.app.reports.compare import CompareReport
from wfdoctor.model import MetricComparison, Run, Sample, Verdict, WfdoctorError
from wfdoctor.store.db import Store
from wfdoctor.surface.views import compare as view

TTFT, DECODE = "wf_llm_time_to_first_token_seconds", "wf_llm_decode_tokens_per_second"
HOST = {"hostname": "bench-1", "cpu_model": "Test CPU", "wfdoctor": "0.1.0"}
SERVER = {"backend": "http://127.0.0.1:8080", "model": "SmolLM2", "implementation": "llama-cpp-python",
          "concurrency": [1]}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "wfdoctor.db") as opened:
        yield opened


def per_request(metric: str, unit: str, values: Sequence[float]) -> list[Sample]:
    return [Sample(metric, float(v), unit, "test", {"concurrency": "1", "request": str(i)})
            for i, v in enumerate(values)]


def stored(store: Store, ttft: Sequence[float] = (), decode: Sequence[float] = (), command: str = "tokens",
           status: str = "finished", settings: dict | None = None, environment: dict | None = None,
           extra: Sequence[Sample] = ()) -> int:
    """A run as `tokens` leaves it: per-request TTFT and decode rate, with its settings and machine facts."""
    run = Run(command=command, started_at=time.time(), settings=SERVER if settings is None else settings,
              environment=HOST if environment is None else environment)
    run_id = store.begin_run(run)
    store.add_results(run_id, per_request(TTFT, "s", ttft) + per_request(DECODE, "tokens/s", decode) + list(extra),
                      [])
    store.finish_run(run, status)
    return run_id


def noisy(centre: float, count: int = 12, seed: int = 0) -> list[float]:
    return list(np.random.default_rng(seed).normal(centre, centre * 0.02, count))


def verdicts(report: CompareReport) -> dict[str, Verdict]:
    return {c.metric: c.verdict for c in report.comparisons}


def text(report: CompareReport, code: int = 0, width: int = 250) -> str:
    out = io.StringIO()
    view.render(report, Console(file=out, width=width, color_system=None), code)
    return out.getvalue()


def test_faster_decoding_is_improved_and_equal_ttft_unchanged(store: Store) -> None:
    before = stored(store, ttft=noisy(0.1, seed=1), decode=noisy(40, seed=2))
    after = stored(store, ttft=noisy(0.1, seed=3), decode=noisy(52, seed=4))
    report = compare_runs(store, before, after)
    assert verdicts(report) == {DECODE: Verdict.IMPROVED, TTFT: Verdict.UNCHANGED}
    assert report.overall == "0 metrics worse, 1 improved, 1 unchanged, 0 inconclusive"
    assert report.warnings == [] and not report.any_worse


def test_a_slower_first_token_is_worse_and_listed_first(store: Store) -> None:
    before = stored(store, ttft=noisy(0.1, seed=1), decode=noisy(40, seed=2))
    after = stored(store, ttft=noisy(0.15, seed=3), decode=noisy(52, seed=4))
    report = compare_runs(store, before, after)
    worst = report.comparisons[0]
    assert (worst.metric, worst.verdict, worst.higher_is_better) == (TTFT, Verdict.WORSE, False)
    assert worst.change is not None and 0.4 < worst.change < 0.6 and worst.effect_size == 1.0
    assert report.overall == "1 metric worse, 1 improved, 0 unchanged, 0 inconclusive" and report.any_worse


def test_noise_around_the_same_centre_is_unchanged(store: Store) -> None:
    before = stored(store, ttft=noisy(0.1, 20, seed=5), decode=noisy(40, 20, seed=6))
    after = stored(store, ttft=noisy(0.1, 20, seed=7), decode=noisy(40, 20, seed=8))
    assert set(verdicts(compare_runs(store, before, after)).values()) == {Verdict.UNCHANGED}


def test_too_few_requests_is_inconclusive_whatever_the_medians(store: Store) -> None:
    before = stored(store, ttft=[0.1, 0.1, 0.1], decode=[40, 40, 40])
    after = stored(store, ttft=[0.5, 0.5, 0.5], decode=[10, 10, 10])
    report = compare_runs(store, before, after)
    assert set(verdicts(report).values()) == {Verdict.INCONCLUSIVE}
    assert "3 measurement(s) before and 3 after" in report.comparisons[0].reason


def test_runs_of_two_kinds_are_refused(store: Store) -> None:
    tokens = stored(store, ttft=noisy(0.1))
    council = stored(store, command="council", settings={})
    with pytest.raises(WfdoctorError, match=f"^run {tokens} is a tokens run and run {council} a council run: "
                                            "compare runs of the same kind$"):
        compare_runs(store, tokens, council)


def test_a_run_that_does_not_exist_is_refused(store: Store) -> None:
    existing = stored(store, ttft=noisy(0.1))
    with pytest.raises(WfdoctorError, match=f"^no run 99 in {store.path}"):
        compare_runs(store, existing, 99)


def test_an_interrupted_run_is_compared_and_said_to_be_partial_first(store: Store) -> None:
    before = stored(store, ttft=noisy(0.1, seed=1))
    after = stored(store, ttft=noisy(0.1, 6, seed=2), status="interrupted")
    report = compare_runs(store, before, after)
    assert report.warnings == [f"run {after} was interrupted: its samples are partial"]
    assert report.after.partial and verdicts(report) == {TTFT: Verdict.UNCHANGED}
    shown = text(report).splitlines()
    assert shown[1] == f"! run {after} was interrupted: its samples are partial"   # before the overall line


def test_another_machine_and_model_are_said_before_the_verdicts(store: Store) -> None:
    before = stored(store, ttft=noisy(0.1))
    after = stored(store, ttft=noisy(0.1), settings=SERVER | {"model": "Qwen"},
                   environment=HOST | {"hostname": "bench-2"})
    report = compare_runs(store, before, after)
    assert report.warnings == [
        "the runs measured another machine (hostname: bench-1 -> bench-2): a change below may come from that",
        "the runs measured another model (model: SmolLM2 -> Qwen): a change below may come from that"]
    assert {(d.section, d.key, d.before, d.after) for d in report.differences} == {
        ("environment", "hostname", "bench-1", "bench-2"), ("settings", "model", "SmolLM2", "Qwen")}


def test_a_run_without_machine_facts_is_noted_as_unknown_not_as_the_same_machine(store: Store) -> None:
    before = stored(store, ttft=noisy(0.1), environment={})
    after = stored(store, ttft=noisy(0.1))
    assert any(f"run {before} recorded no machine facts" in note for note in compare_runs(store, before, after).notes)


def test_the_same_run_twice_is_compared_with_a_note(store: Store) -> None:
    run = stored(store, ttft=noisy(0.1))
    report = compare_runs(store, run, run)
    assert verdicts(report) == {TTFT: Verdict.UNCHANGED}
    assert f"run {run} compared with itself: every tested metric is unchanged by construction" in report.notes


def test_summary_statistics_are_shown_side_by_side_but_never_tested(store: Store) -> None:
    def p50(value: float) -> list[Sample]:
        return [Sample(TTFT, value, "s", "test", {"concurrency": "1", "stat": "p50"})]

    before = stored(store, ttft=noisy(0.1), extra=p50(0.1))
    after = stored(store, ttft=noisy(0.1), extra=p50(0.2))
    report = compare_runs(store, before, after)
    assert [(c.metric, c.labels) for c in report.comparisons] == [(TTFT, {"concurrency": "1"})]
    assert [(s.labels, s.before, s.after, s.change) for s in report.summaries] == [
        ({"concurrency": "1", "stat": "p50"}, 0.1, 0.2, pytest.approx(1.0))]


def test_a_series_without_a_better_direction_is_context_never_counted_as_a_verdict(store: Store) -> None:
    def cpu(value: float) -> list[Sample]:
        return [Sample("wf_cpu_utilization_ratio", value + i / 100, "ratio", "test") for i in range(8)]

    before = stored(store, ttft=noisy(0.1, seed=1), extra=cpu(0.2))
    after = stored(store, ttft=noisy(0.1, seed=2), extra=cpu(0.9))
    report = compare_runs(store, before, after)
    assert [c.metric for c in report.context] == ["wf_cpu_utilization_ratio"]
    assert report.context[0].p_value is not None and report.context[0].p_value < 0.01
    assert verdicts(report) == {TTFT: Verdict.UNCHANGED}
    assert report.overall == "0 metrics worse, 0 improved, 1 unchanged, 0 inconclusive"


def test_a_series_only_one_run_measured_is_listed_not_compared(store: Store) -> None:
    def process(pid: str) -> list[Sample]:
        return [Sample("wf_process_resident_memory_bytes", 1e6, "bytes", "test", {"pid": pid, "name": "python"})] * 4

    before = stored(store, ttft=noisy(0.1, seed=1), extra=process("100"))
    after = stored(store, ttft=noisy(0.1, seed=2), extra=process("200"))
    report = compare_runs(store, before, after)
    assert [(o.labels["pid"], o.run_id, o.count) for o in report.one_sided] == [("100", before, 4), ("200", after, 4)]
    assert verdicts(report) == {TTFT: Verdict.UNCHANGED}
    assert any(note.startswith("2 series measured by one run only, not compared") and
               "wf_process_resident_memory_bytes x2" in note for note in report.notes)


def test_the_json_document_matches_its_schema_and_carries_every_verdict(store: Store) -> None:
    before = stored(store, ttft=noisy(0.1, seed=1), decode=[40, 41, 42])
    after = stored(store, ttft=noisy(0.15, seed=2), decode=[40, 41, 42], status="abandoned")
    document = json.loads(view.document(compare_runs(store, before, after), 1).model_dump_json(by_alias=True))
    validate_document(document)
    assert document["counts"] == {"worse": 1, "improved": 0, "unchanged": 0, "inconclusive": 1}
    assert [c["verdict"] for c in document["comparisons"]] == ["worse", "inconclusive"]
    assert document["after"]["partial"] is True and document["exit_code"] == 1


def test_the_markdown_card_shows_a_hostile_model_name_as_text(store: Store) -> None:
    before = stored(store, ttft=noisy(0.1))
    after = stored(store, ttft=noisy(0.1), settings=SERVER | {"model": "a|b<script>`x`"})
    card = view.markdown(compare_runs(store, before, after), "0.1.0")
    assert "<script>" not in card and "a\\|b&lt;script&gt;\\`x\\`" in card
    rows = [line for line in card.splitlines() if line.startswith("| model |")]
    assert len(rows) == 1 and rows[0].count(" | ") == 2     # the pipe did not add a column


def test_the_text_table_shows_each_series_with_its_numbers(store: Store) -> None:
    before = stored(store, ttft=noisy(0.1, seed=1))
    after = stored(store, ttft=noisy(0.15, seed=2))
    report = compare_runs(store, before, after)
    shown = text(report)
    row = next(line for line in shown.splitlines() if 'wf_llm_time_to_first_token_seconds{concurrency="1"}' in line)
    comparison: MetricComparison = report.comparisons[0]
    assert "worse" in row and f"(n={comparison.before_n})" in row and f"{comparison.change:+.1%}" in row
    assert shown.splitlines()[1] == report.overall


def test_a_narrow_terminal_gets_one_block_a_series_with_every_number(store: Store) -> None:
    before = stored(store, ttft=noisy(0.1, seed=1))
    after = stored(store, ttft=noisy(0.15, seed=2))
    report = compare_runs(store, before, after)
    lines = text(report, width=120).splitlines()
    head = lines.index('worse: wf_llm_time_to_first_token_seconds{concurrency="1"} (s)')
    c = report.comparisons[0]
    assert lines[head + 1].startswith(f"    {c.before_median:.4g} (n={c.before_n}) -> {c.after_median:.4g} "
                                      f"(n={c.after_n}), {c.change:+.1%} [")
    assert lines[head + 2] == f"    {c.reason}"


def test_two_real_token_runs_compare_per_request_metrics(wfdoctor, llm_server) -> None:
    def tokens_run() -> int:
        result = wfdoctor("tokens", "--json", "--backend", llm_server.base_url, "--runs", "6", "--warmup", "1",
                          "--max-tokens", "16", "--concurrency", "1", "--no-bandwidth", "--fail-on", "never",
                          timeout=300)
        assert result.code == 0, result.stderr
        return result.json()["run_id"]

    first, second = tokens_run(), tokens_run()
    result = wfdoctor("compare", str(first), str(second), "--json")
    assert result.code == 0, result.stderr
    document = result.json()
    tested = {c["metric"]: c for c in document["comparisons"]}
    for metric in ("wf_llm_request_ttft_seconds", "wf_llm_request_decode_tokens_per_second",
                   "wf_llm_request_e2e_seconds"):
        assert tested[metric]["before_n"] == 6 and tested[metric]["after_n"] == 6
        assert tested[metric]["verdict"] in {"improved", "unchanged", "worse"}   # tested, not inconclusive
    assert document["before"]["hostname"] == document["after"]["hostname"] is not None
    assert {s["labels"].get("stat") for s in document["summaries"]} >= {"p50", "p95", "mean"}   # shown, untested
