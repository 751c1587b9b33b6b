"""The triage engine's contract, on a small rule book built in the test: what each rule result says,
which samples it shows as evidence, how thresholds are read from the facts, and each matrix row's status.
"""

from __future__ import annotations

import pytest

from tests.builders import FACTS, REMEDIES
from wfdoctor.analyze.triage import (MissingInput, RowStatus, check_references, evaluate_condition,
                                     evaluate_rule, resolve_threshold, row_statuses, triage)
from wfdoctor.config.rules import Condition, Culprits, Row, Rule, RuleBook, ThresholdRef
from wfdoctor.model import Finding, Priority, RuleResult, RuleStatus, Sample, WfdoctorError

CPU = "wf_cpu_utilization_ratio"
CORE = "wf_cpu_core_utilization_ratio"
PROCESS = "wf_process_cpu_utilization_ratio"
DISK = "wf_disk_used_ratio"
TOKENS = "wf_llm_decode_tokens_per_second"


def sample(metric: str, value: float, unit: str = "ratio", **labels: str) -> Sample:
    return Sample(metric, value, unit, "test", labels)


def cores(*values: float) -> list[Sample]:
    return [sample(CORE, value, core=str(index)) for index, value in enumerate(values)]


def rule(rule_id: str, row: str, *when: Condition, summary: str = "{value} over {threshold}",
         culprits: Culprits | None = None, applies_to: tuple[str, ...] = ("diagnose",)) -> Rule:
    return Rule(id=rule_id, row=row, code=rule_id.upper(), cause=f"cause of {rule_id}", priority=Priority.MEDIUM,
                when=list(when), culprits=culprits, actions=["reduce_concurrent_requests"], summary=summary,
                measured_by=f"wfdoctor {row}", applies_to=list(applies_to))


def over(metric: str, threshold: float | ThresholdRef, critical: float | None = None, aggregate: str = "max",
         op: str = ">", **labels: str) -> Condition:
    return Condition(metric=metric, aggregate=aggregate, op=op, threshold=threshold, critical=critical,
                     labels=labels)


def book(*rules: Rule, rows: tuple[str, ...] = ()) -> RuleBook:
    names = rows or tuple(dict.fromkeys(r.row for r in rules))
    return RuleBook(
        rows={name: Row(id=name, symptom=f"{name} symptom", likely_cause=f"{name} cause", priority=Priority.HIGH,
                        action=f"check {name}") for name in names},
        rules={r.id: r for r in rules}, actions={}, origins={r.id: f"rules/user.yaml:{i + 2}"
                                                            for i, r in enumerate(rules)},
        remedies=REMEDIES)


# --- thresholds from the facts ----------------------------------------------------------------------

def test_a_literal_threshold_is_itself() -> None:
    assert resolve_threshold(0.5, FACTS, "low") == 0.5


@pytest.mark.parametrize("tier", ["low", "mid", "high"])
def test_threshold_and_target_refs_are_read_for_the_tier_and_scaled(tier: str) -> None:
    warning = FACTS.thresholds[tier].cpu_percent.warning
    assert resolve_threshold(ThresholdRef(ref="thresholds.cpu_percent.warning", scale=0.01), FACTS, tier) == \
        warning * 0.01
    assert resolve_threshold(ThresholdRef(ref="targets.ttft_seconds"), FACTS, tier) == \
        FACTS.targets[tier].ttft_seconds


def test_a_common_ref_is_the_same_for_every_tier() -> None:
    ref = ThresholdRef(ref="common.council_sync_delay_ms.warning", scale=0.001)
    assert resolve_threshold(ref, FACTS, "low") == resolve_threshold(ref, FACTS, "high") == \
        FACTS.common["council_sync_delay_ms"]["warning"] * 0.001


@pytest.mark.parametrize(("ref", "message"), [
    ("limits.tokens.min_load_s",
     "threshold ref 'limits.tokens.min_load_s': must start with thresholds., targets. or common."),
    ("thresholds.cpu_percent.alarm", "threshold ref 'thresholds.cpu_percent.alarm': 'alarm' is not in the facts file"),
    ("targets.nope", "threshold ref 'targets.nope': 'nope' is not in the facts file"),
    ("common.vram_percent.nope", "threshold ref 'common.vram_percent.nope': 'nope' is not in the facts file"),
    ("thresholds.cpu_percent", "threshold ref 'thresholds.cpu_percent': names a group, not a number"),
    ("common.vram_percent", "threshold ref 'common.vram_percent': names a group, not a number"),
])
def test_a_wrong_ref_is_one_line_naming_it(ref: str, message: str) -> None:
    with pytest.raises(WfdoctorError) as error:
        resolve_threshold(ThresholdRef(ref=ref), FACTS, "low")
    assert str(error.value) == message


def test_check_references_names_the_rule_file_and_line_of_a_wrong_critical_ref() -> None:
    bad = rule("cpu.high", "slow", over(CPU, 0.5, critical=ThresholdRef(ref="thresholds.cpu_percent.alarm")))
    with pytest.raises(WfdoctorError) as error:
        check_references(book(rule("disk.full", "slow", over(DISK, 0.9)), bad), FACTS)
    assert str(error.value) == ("rules/user.yaml:3: threshold ref 'thresholds.cpu_percent.alarm': 'alarm' is not "
                                "in the facts file")


def test_check_references_accepts_every_field_a_two_condition_summary_may_use() -> None:
    summary = "{value} {threshold} {label} {value_2} {threshold_2} {label_2} {culprit}"
    check_references(book(rule("two", "slow", over(CPU, 0.5), over(DISK, 0.5), summary=summary)), FACTS)
    with pytest.raises(WfdoctorError, match=r"^rules/user.yaml:2: rule 'one': summary template"):
        check_references(book(rule("one", "slow", over(CPU, 0.5), summary="{value_2}")), FACTS)


# --- one condition ----------------------------------------------------------------------------------

def test_a_condition_without_a_sample_of_its_metric_and_labels_is_not_judged() -> None:
    assert evaluate_condition(over(CORE, 0.5, core="7"), cores(0.9, 0.95), FACTS, "low") is None
    assert evaluate_condition(over(CPU, 0.5), cores(0.9), FACTS, "low") is None


def test_max_shows_the_samples_over_the_threshold_largest_first() -> None:
    samples = cores(0.2, 0.9, 0.5, 0.95)
    outcome = evaluate_condition(over(CORE, 0.8, critical=0.99), samples, FACTS, "low")
    assert outcome is not None
    assert (outcome.value, outcome.threshold, outcome.passed, outcome.critical, outcome.unit) == (
        0.95, 0.8, True, False, "ratio")
    assert outcome.witnesses == [samples[3], samples[1]]


def test_when_no_sample_crosses_the_threshold_every_sample_is_shown_largest_first() -> None:
    samples = cores(0.2, 0.6, 0.4)
    outcome = evaluate_condition(over(CORE, 0.8), samples, FACTS, "low")
    assert outcome is not None and not outcome.passed
    assert outcome.witnesses == [samples[1], samples[2], samples[0]]


def test_min_shows_the_samples_under_the_threshold_smallest_first() -> None:
    samples = [sample(TOKENS, rate, "tokens/s", concurrency=str(c)) for c, rate in ((1, 12.0), (2, 20.0), (4, 6.0))]
    outcome = evaluate_condition(over(TOKENS, 15.0, aggregate="min", op="<"), samples, FACTS, "low")
    assert outcome is not None
    assert (outcome.value, outcome.passed, outcome.unit) == (6.0, True, "tokens/s")
    assert outcome.witnesses == [samples[2], samples[0]]


def test_mean_and_count_show_every_sample_in_the_order_measured() -> None:
    samples = cores(0.9, 0.1, 0.5)
    mean = evaluate_condition(over(CORE, 0.4, aggregate="mean"), samples, FACTS, "low")
    count = evaluate_condition(over(CORE, 2, aggregate="count"), samples, FACTS, "low")
    assert mean is not None and count is not None
    assert (mean.value, mean.passed, mean.witnesses) == (pytest.approx(0.5), True, samples)
    assert (count.value, count.passed, count.witnesses) == (3.0, True, samples)


def test_critical_needs_the_warning_to_hold_too() -> None:
    # "<" with the critical above the warning: a value under both is critical, one between is neither.
    between = evaluate_condition(over(CPU, 0.2, critical=0.5, op="<"), [sample(CPU, 0.3)], FACTS, "low")
    under = evaluate_condition(over(CPU, 0.2, critical=0.5, op="<"), [sample(CPU, 0.1)], FACTS, "low")
    assert between is not None and (between.passed, between.critical) == (False, False)
    assert under is not None and (under.passed, under.critical) == (True, True)


# --- one rule ---------------------------------------------------------------------------------------

def test_a_rule_missing_an_input_names_every_missing_metric_and_what_measures_it() -> None:
    two = rule("two", "slow", over(CPU, 0.5), over(DISK, 0.5), over(TOKENS, 1.0))
    assert evaluate_rule(two, book(two), [sample(CPU, 0.9)], FACTS, "low") == RuleResult(
        "two", "slow", RuleStatus.NOT_MEASURED, missing_inputs=[DISK, TOKENS], measured_by="wfdoctor slow")


def test_a_rule_with_a_condition_that_holds_not_is_ok() -> None:
    two = rule("two", "slow", over(CPU, 0.5), over(DISK, 0.5))
    assert evaluate_rule(two, book(two), [sample(CPU, 0.9), sample(DISK, 0.1, path="/")], FACTS, "low") == \
        RuleResult("two", "slow", RuleStatus.OK, measured_by="wfdoctor slow")


def test_a_matched_rule_is_a_finding_with_each_conditions_worst_sample_then_the_culprits() -> None:
    processes = [sample(PROCESS, cores_used, "cores", pid=str(pid), name=f"p{pid}")
                 for pid, cores_used in ((11, 0.5), (12, 3.5), (13, 1.25), (14, 2.0))]
    busy = rule("cpu.busy", "slow", over(CORE, 0.8), over(CPU, 0.5, critical=0.7),
                culprits=Culprits(metric=PROCESS, top=2),
                summary="{label} at {value} (over {threshold}), machine {value_2} (over {threshold_2}); {culprit}")
    samples = cores(0.85, 0.97) + [sample(CPU, 0.6)] + processes
    result = evaluate_rule(busy, book(busy), samples, FACTS, "low")
    assert result == RuleResult("cpu.busy", "slow", RuleStatus.MATCHED, finding=result.finding,
                                measured_by="wfdoctor slow")
    assert result.finding == Finding(
        rule_id="cpu.busy", code="CPU.BUSY", row="slow", symptom="slow symptom", cause="cause of cpu.busy",
        priority=Priority.MEDIUM, actions=["reduce_concurrent_requests"],
        evidence=[samples[1], samples[2], processes[1], processes[3]],
        summary="1 at 97.0% (over 80.0%), machine 60.0% (over 50.0%); p12 (pid 12) at 3.50 cores")


def test_a_rule_past_any_critical_threshold_is_critical() -> None:
    hot = rule("cpu.hot", "slow", over(CORE, 0.8), over(CPU, 0.5, critical=0.7))
    [result] = triage(cores(0.9) + [sample(CPU, 0.75)], book(hot), FACTS, "low")
    assert result.finding is not None and result.finding.priority is Priority.CRITICAL


def test_a_summary_without_culprits_says_none_were_measured() -> None:
    busy = rule("cpu.busy", "slow", over(CPU, 0.5), culprits=Culprits(metric=PROCESS), summary="{label}: {culprit}")
    [result] = triage([sample(CPU, 0.9)], book(busy), FACTS, "low")
    assert result.finding is not None and result.finding.summary == ": none measured"


# --- the matrix -------------------------------------------------------------------------------------

def test_each_row_says_what_was_found_passed_or_not_measured() -> None:
    rulebook = book(
        rule("cpu.high", "found", over(CPU, 0.5)), rule("tokens.slow", "found", over(TOKENS, 1.0)),
        rule("disk.full", "partial", over(DISK, 0.9)),
        rule("gpu.hot", "partial", over("wf_gpu_utilization_ratio", 0.9)),
        rule("swap.busy", "unmeasured", over("wf_swap_used_ratio", 0.5)),
        rule("cores.hot", "fine", over(CORE, 0.95)),
        rule("council.slow", "elsewhere", over(CPU, 0.5), applies_to=("council",)),
        rows=("found", "partial", "unmeasured", "fine", "empty", "elsewhere"))
    results = triage([sample(CPU, 0.9), sample(DISK, 0.5, path="/")] + cores(0.5), rulebook, FACTS, "low")
    statuses = row_statuses(rulebook, results)

    def row(name: str, status: str, **fields: object) -> RowStatus:
        return RowStatus(**{"id": name, "symptom": f"{name} symptom", "likely_cause": f"{name} cause",
                            "priority": "high", "action": f"check {name}", "status": status, "findings": [],
                            "checked": [], "not_measured": []} | fields)

    assert statuses == [
        row("found", "findings", findings=["CPU.HIGH"], checked=["cpu.high"],
            not_measured=[MissingInput("tokens.slow", [TOKENS], "wfdoctor found")]),
        row("partial", "partial", checked=["disk.full"],
            not_measured=[MissingInput("gpu.hot", ["wf_gpu_utilization_ratio"], "wfdoctor partial")]),
        row("unmeasured", "not_measured",
            not_measured=[MissingInput("swap.busy", ["wf_swap_used_ratio"], "wfdoctor unmeasured")]),
        row("fine", "ok", checked=["cores.hot"]),
        row("empty", "no_rules"),
        row("elsewhere", "no_rules"),  # its rule judges council runs, not a diagnose snapshot
    ]
