"""The metric registry: every wf_ metric declared once; a misspelt or unregistered name is an error."""

from __future__ import annotations

import ast
import json
import re
import time
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from wfdoctor.analyze.leaks import leak_findings, leak_verdict
from wfdoctor.config.facts import load_facts
from wfdoctor.config.metrics import (PACKAGED_METRICS, higher_is_better, load_metrics, read_registry,
                                     render_markdown)
from wfdoctor.config.rules import load_rulebook
from wfdoctor.model import Finding, Priority, Run, Sample, WfdoctorError
from wfdoctor.sense.gpu_nvml import parse_gpus
from wfdoctor.sense.system import SystemProbe
from wfdoctor.store.db import Store

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "src" / "wfdoctor"
DOC = ROOT / "docs" / "metrics.md"
WF_NAME = re.compile(r"^wf_[a-z0-9_]+$")

# data/polarity.yaml as it was before the registry replaced it (first match wins).
OLD_POLARITY = [("_capacity_streams$|_goodput_", True),  # since issue 14 (tokens --capacity): more is better
                ("tokens_per_second|_tps$|fps|speedup|efficiency|throughput", True),
                ("_seconds$|_bytes$|latency|ttft|memory|alpha|failed|errors|_ms$", False),
                ("^pytest_benchmark_", False)]


def old_higher_is_better(name: str) -> bool | None:
    return next((higher for pattern, higher in OLD_POLARITY if re.search(pattern, name)), None)


def registry_file(tmp_path: Path, metrics: str, imported: str = "") -> Path:
    path = tmp_path / "metrics.yaml"
    path.write_text("version: 1\nmetrics:\n" + metrics + imported)
    return path


ENTRY = ("  - name: {name}\n    unit: s\n    help: h\n    labels: []\n    source: test\n"
         "    polarity: {polarity}\n    otel: null\n")


def test_the_packaged_registry_loads_and_declares_each_metric_once() -> None:
    registry = load_metrics()
    assert len(registry.specs) >= 70
    for spec in registry.specs.values():
        assert spec.unit and spec.help and spec.source
        assert spec.otel is None or re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", spec.otel), spec.otel


def test_a_metric_registered_twice_is_refused_at_its_second_line(tmp_path: Path) -> None:
    path = registry_file(tmp_path, ENTRY.format(name="wf_a_seconds", polarity="lower") * 2)
    with pytest.raises(WfdoctorError, match=rf"^{path}:10: field 'metrics.1.name': metric 'wf_a_seconds' is "
                                            "registered twice$"):
        read_registry(path)


def test_a_bad_polarity_names_file_line_and_field(tmp_path: Path) -> None:
    path = registry_file(tmp_path, ENTRY.format(name="wf_a_seconds", polarity="faster"))
    with pytest.raises(WfdoctorError, match=rf"^{path}:8: field 'metrics.0.polarity'"):
        read_registry(path)


def test_a_name_outside_the_namespace_is_refused(tmp_path: Path) -> None:
    path = registry_file(tmp_path, ENTRY.format(name="cpu_seconds", polarity="lower"))
    with pytest.raises(WfdoctorError, match=rf"^{path}:3: field 'metrics.0.name'"):
        read_registry(path)


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = registry_file(tmp_path, "  - name: wf_a_seconds\n    labels: [open\n")
    with pytest.raises(WfdoctorError, match=rf"^{path}:5: invalid YAML"):
        read_registry(path)


def test_an_imported_pattern_must_be_a_regular_expression(tmp_path: Path) -> None:
    path = registry_file(tmp_path, ENTRY.format(name="wf_a_seconds", polarity="lower"),
                         "imported:\n  - { pattern: 'fps(', polarity: higher }\n")
    with pytest.raises(WfdoctorError, match=rf"^{path}:11: field 'imported.0.pattern': .*not a regular"):
        read_registry(path)


def wf_literals() -> dict[str, str]:
    """Every string literal in src/wfdoctor that is a whole wf_ name, with where it is."""
    found: dict[str, str] = {}
    for path in sorted(SOURCES.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and WF_NAME.match(node.value):
                found.setdefault(node.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_wf_name_in_the_sources_is_registered() -> None:
    literals = wf_literals()
    assert len(literals) >= 70  # the scan sees the producers
    missing = {name: where for name, where in literals.items() if load_metrics().spec(name) is None}
    assert not missing, f"register these in {PACKAGED_METRICS}: {missing}"


def test_every_metric_the_packaged_rules_read_is_registered() -> None:
    read = {metric for rule in load_rulebook().rules.values() for _, metric in rule.metric_fields()}
    assert "wf_ui_frame_time_seconds" in read
    assert not {name for name in read if load_metrics().spec(name) is None}


def test_docs_metrics_md_is_generated_from_the_registry() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(load_metrics()), (
        "docs/metrics.md is stale: run `python scripts/gen_metrics_doc.py` and commit the result")


def test_polarity_is_what_polarity_yaml_said_for_every_registered_metric() -> None:
    for name in load_metrics().specs:
        assert higher_is_better(name) is old_higher_is_better(name), name


@pytest.mark.parametrize("name", ["pytest_benchmark_test_parse_seconds", "api_latency_ms", "render_fps",
                                  "build_throughput", "peak_memory", "import_errors", "page_views"])
def test_imported_names_keep_the_old_name_patterns(name: str) -> None:
    assert higher_is_better(name) is old_higher_is_better(name)


def test_an_unregistered_wf_name_has_no_polarity() -> None:
    assert higher_is_better("wf_made_up_seconds") is None


def store_with_run(tmp_path: Path) -> tuple[Store, int]:
    store = Store.open(tmp_path / "s.db")
    return store, store.begin_run(Run(command="test", started_at=time.time()))


def test_the_store_refuses_an_unregistered_wf_metric_and_writes_nothing(tmp_path: Path) -> None:
    store, run_id = store_with_run(tmp_path)
    good = Sample("wf_cpu_utilization_ratio", 0.5, "ratio", "test")
    with store, pytest.raises(WfdoctorError, match=r"^metric 'wf_cpu_utilisation_ratio' is not registered in "
                                                   r".*data/metrics\.yaml"):
        store.add_samples(run_id, [good, Sample("wf_cpu_utilisation_ratio", 0.5, "ratio", "test")])
    with Store.open(tmp_path / "s.db") as reopened:
        assert reopened.samples_of(run_id) == []


def test_the_store_refuses_a_unit_other_than_the_registered_one(tmp_path: Path) -> None:
    store, run_id = store_with_run(tmp_path)
    with store, pytest.raises(WfdoctorError, match=r"^metric 'wf_cpu_utilization_ratio' has unit '%' but "
                                                   r".*data/metrics\.yaml registers 'ratio'$"):
        store.add_samples(run_id, [Sample("wf_cpu_utilization_ratio", 50.0, "%", "test")])


def test_the_store_refuses_unregistered_evidence_in_a_finding(tmp_path: Path) -> None:
    store, run_id = store_with_run(tmp_path)
    finding = Finding("r", "C", "row", "symptom", "cause", Priority.LOW, [],
                      [Sample("wf_no_such_metric", 1.0, "s", "test")], "summary")
    with store, pytest.raises(WfdoctorError, match="'wf_no_such_metric' is not registered"):
        store.add_results(run_id, [], [finding])


def test_the_store_keeps_imported_names_outside_the_namespace(tmp_path: Path) -> None:
    store, run_id = store_with_run(tmp_path)
    with store:
        store.add_samples(run_id, [Sample("pytest_benchmark_parse_seconds", 0.01, "s", "test"),
                                   Sample("my_metric", 1.0, "", "test")])
        assert len(store.samples_of(run_id)) == 2


def test_a_rule_over_an_unregistered_metric_is_refused_at_load_with_its_line(tmp_path: Path) -> None:
    extra = tmp_path / "typo.yaml"
    extra.write_text("rules:\n  - id: x\n    row: high_memory\n    code: X\n    cause: c\n    priority: high\n"
                     "    when:\n      - metric: wf_memory_used_ratio\n        op: '>'\n        threshold: 0.5\n"
                     "    culprits: { metric: wf_process_rss_bytes }\n    summary: s\n    measured_by: m\n")
    with pytest.raises(WfdoctorError, match=rf"^{extra}:11: field 'rules.0.culprits.metric': rule 'x' names "
                                            r"unregistered metric 'wf_process_rss_bytes'"):
        load_rulebook([extra])


def registered_units(samples: list[Sample]) -> None:
    load_metrics().check(samples)  # raises on an unregistered name or another unit
    assert samples


def test_the_system_probe_produces_registered_metrics_in_their_units() -> None:
    probe = SystemProbe(paths={"data": ROOT})
    probe.read(slow=True)
    registered_units(probe.read(slow=True))


def test_recorded_gpu_readings_become_registered_metrics_in_their_units() -> None:
    devices = json.loads((FIXTURES / "nvml_h100_loaded.json").read_text())["devices"]
    registered_units(parse_gpus(devices))


def test_leak_evidence_is_a_rate_in_bytes_per_minute() -> None:
    times = [float(t) for t in range(0, 300, 5)]
    rss = [1e9 + 2e6 * t for t in times]  # 120 MB/min, steadily
    facts, rulebook = load_facts(), load_rulebook()
    verdict = leak_verdict(times, rss, available=8e9, limits=facts.limits.leaks,
                           floor_bytes_per_minute=float(facts.common["memory_leak_bytes_per_minute"]))
    [finding] = leak_findings(verdict, 42, "leaky", rulebook.remedies)
    registered_units(finding.evidence)
    assert [s.unit for s in finding.evidence] == ["bytes/min"]


def test_every_registered_metric_is_produced_or_read_somewhere() -> None:
    used = set(wf_literals()) | {metric for rule in load_rulebook().rules.values()
                                 for _, metric in rule.metric_fields()}
    assert not set(load_metrics().specs) - used
