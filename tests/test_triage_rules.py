"""The triage engine over synthetic samples: rules are data, results are explicit."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from wfdoctor.analyze.triage import check_references, findings_of, triage
from wfdoctor.config.facts import load_facts
from wfdoctor.config.rules import load_rulebook
from wfdoctor.model import Priority, RuleStatus, Sample, WfdoctorError

FACTS = load_facts()


def cpu(average: float, *cores: float) -> list[Sample]:
    samples = [Sample("wf_cpu_utilization_ratio", average, "ratio", "test")]
    samples += [Sample("wf_cpu_core_utilization_ratio", v, "ratio", "test", {"core": str(i)})
                for i, v in enumerate(cores)]
    return samples


def results_by_rule(samples: list[Sample], extra: list[Path] | None = None) -> dict:
    return {r.rule_id: r for r in triage(samples, load_rulebook(extra), FACTS, "low")}


def test_all_six_matrix_rows_have_rules() -> None:
    book = load_rulebook()
    assert len(book.rows) == 6
    assert {rule.row for rule in book.rules.values()} == set(book.rows)


def test_high_cpu_escalates_to_critical_past_the_critical_threshold() -> None:
    warning = results_by_rule(cpu(0.80, 0.8, 0.8))["cpu.overall_high"].finding
    critical = results_by_rule(cpu(0.93, 0.93, 0.93))["cpu.overall_high"].finding
    assert warning and warning.priority is Priority.HIGH  # low tier: warning 75 %, critical 90 %
    assert critical and critical.priority is Priority.CRITICAL


def test_a_rule_without_its_input_is_not_measured_never_ok() -> None:
    result = results_by_rule(cpu(0.1, 0.1))["tokens.rate_low"]
    assert result.status is RuleStatus.NOT_MEASURED
    assert result.missing_inputs == ["wf_llm_decode_tokens_per_second"]
    assert result.measured_by == "wfdoctor tokens"


def test_measured_token_rate_below_the_tier_minimum_is_found() -> None:
    labels = {"stat": "p50", "concurrency": "1"}
    samples = [Sample("wf_llm_decode_tokens_per_second", 9.5, "tokens/s", "test", labels),
               Sample("wf_llm_decode_tokens_per_second", 4.0, "tokens/s", "test", labels | {"concurrency": "4"})]
    finding = results_by_rule(samples)["tokens.rate_low"].finding
    assert finding and finding.code == "SLOW_TOKENS"
    assert finding.summary == "9.50 tokens/s p50 at concurrency 1 (tier minimum 15 tokens/s)"


def test_findings_sort_most_urgent_first() -> None:
    samples = cpu(0.95, 0.95, 0.95) + [Sample("wf_disk_used_ratio", 0.97, "ratio", "test", {"path": "/"})]
    assert [f.priority for f in findings_of(triage(samples, load_rulebook(), FACTS, "low"))] == [
        Priority.CRITICAL, Priority.MEDIUM]


def test_a_new_rule_needs_no_code_change(tmp_path: Path) -> None:
    extra = tmp_path / "load.yaml"
    extra.write_text(textwrap.dedent("""\
        rules:
          - id: custom.load
            row: slow_token_generation
            code: HIGH_LOAD
            cause: "More runnable tasks than cores"
            priority: low
            when:
              - metric: wf_cpu_load_average
                labels: { window: 1m }
                op: ">"
                threshold: 4
            summary: "load {value} over {threshold}"
            measured_by: wfdoctor diagnose
        """))
    samples = [Sample("wf_cpu_load_average", 6.0, "tasks", "test", {"window": "1m"}),
               Sample("wf_cpu_load_average", 1.0, "tasks", "test", {"window": "15m"})]
    finding = results_by_rule(samples, [extra])["custom.load"].finding
    assert finding and finding.code == "HIGH_LOAD" and finding.summary == "load 6 tasks over 4 tasks"


def test_every_action_says_what_it_changes_and_how_to_undo_it() -> None:
    book = load_rulebook()
    problems = {action.problem for action in book.actions.values()}
    assert {"cpu_bottleneck", "gpu_memory", "model_loading"} <= problems
    for action in book.actions.values():
        assert action.changes and action.undo


def test_packaged_rules_resolve_against_every_tier() -> None:
    check_references(load_rulebook(), FACTS)


def test_bad_summary_template_is_caught_at_load(tmp_path: Path) -> None:
    extra = tmp_path / "bad.yaml"
    extra.write_text("rules:\n  - id: x\n    row: high_memory\n    code: X\n    cause: c\n    priority: high\n"
                     "    when: [{metric: wf_memory_used_ratio, op: '>', threshold: 1}]\n"
                     "    summary: '{nope}'\n    measured_by: m\n")
    with pytest.raises(WfdoctorError, match=rf"^{extra}:2: rule 'x': summary template"):
        check_references(load_rulebook([extra]), FACTS)
