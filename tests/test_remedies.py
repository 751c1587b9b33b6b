"""Remedies: the actions of the causes computed in code, per server implementation, as checked data."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from tests.builders import level
from wfdoctor.analyze.bottleneck import ServerFacts, classify
from wfdoctor.analyze.remedies import RemedyId
from wfdoctor.analyze.tokens import Knee
from wfdoctor.config import rules
from wfdoctor.config.facts import load_facts
from wfdoctor.config.remedies import Remedies
from wfdoctor.config.rules import load_rulebook
from wfdoctor.model import WfdoctorError
from wfdoctor.app.datafiles import load_data_files


def rules_file(tmp_path: Path, text: str, name: str = "user.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(("implementation", "actions"), [
    ("llama-cpp-python", ["one_server_per_stream", "parallel_slots_server"]),
    ("ollama", ["ollama_num_parallel"]),
    ("llama.cpp", ["llama_cpp_parallel_slots"]),
    ("vllm", ["parallel_slots_server"]),
    ("default", ["parallel_slots_server"]),
])
def test_a_remedy_gives_the_actions_for_the_servers_implementation_else_its_default(implementation: str,
                                                                                   actions: list[str]) -> None:
    assert load_rulebook().remedies.actions(RemedyId.SERIALISED_SERVER, implementation) == actions


def test_the_lookup_hands_out_a_copy() -> None:
    remedies = load_rulebook().remedies
    remedies.actions(RemedyId.CPU_BOUND, "ollama").append("x")
    assert remedies.actions(RemedyId.CPU_BOUND, "ollama") == ["optimize_thread_allocation", "lower_precision",
                                                              "enable_gpu_offload"]


def test_the_packaged_remedies_are_exactly_those_the_code_uses() -> None:
    remedies = load_rulebook().remedies
    assert set(remedies.by_id) == {str(remedy) for remedy in RemedyId}


def test_an_unknown_action_in_a_remedy_is_rejected_with_file_and_line(tmp_path: Path) -> None:
    path = rules_file(tmp_path, """\
        remedies:
          - id: cpu_bound
            actions:
              default: [optimize_thread_allocation]
              ollama: [optimize_thread_allocation, no_such_action]
        """)
    with pytest.raises(WfdoctorError) as error:
        load_rulebook([path])
    assert str(error.value) == (f"{path}:5: field 'actions.ollama': remedy 'cpu_bound' names unknown action "
                                "'no_such_action'")


def test_a_remedy_without_a_default_is_rejected_with_file_and_line(tmp_path: Path) -> None:
    path = rules_file(tmp_path, "remedies:\n  - id: cpu_bound\n    actions:\n      ollama: [lower_precision]\n")
    with pytest.raises(WfdoctorError) as error:
        load_rulebook([path])
    assert str(error.value).startswith(f"{path}:3: field 'remedies.0.actions': Value error, needs a 'default' list")


def test_a_user_rules_file_replaces_a_remedy_by_id(tmp_path: Path) -> None:
    path = rules_file(tmp_path, """\
        remedies:
          - id: streams_interrupted
            actions:
              default: [reduce_concurrent_requests]
              vllm: [parallel_slots_server, reduce_concurrent_requests]
        """)
    remedies = load_rulebook([path]).remedies
    assert remedies.actions(RemedyId.STREAMS_INTERRUPTED, "vllm") == ["parallel_slots_server",
                                                                      "reduce_concurrent_requests"]
    assert remedies.actions(RemedyId.STREAMS_INTERRUPTED, "llama-cpp-python") == ["reduce_concurrent_requests"]
    facts = load_facts()
    levels = [level(1, 40.0, requests=4, ok=4), level(2, 40.0, requests=4, ok=2)]
    [finding] = classify(levels, Knee(None, ""), [], ServerFacts("u", "vllm", "m"), 1,
                         limits=facts.limits.tokens, ttft_target_s=1.0, remedies=remedies)
    assert finding.actions == ["parallel_slots_server", "reduce_concurrent_requests"]


def test_a_remedy_the_code_uses_but_no_file_defines_is_one_line_naming_it() -> None:
    remedies = load_rulebook().remedies
    partial = Remedies(by_id={k: v for k, v in remedies.by_id.items() if k != RemedyId.COLD_MODEL_LOAD})
    with pytest.raises(WfdoctorError) as error:
        partial.require(RemedyId, "rules/")
    assert str(error.value) == ("rules/: remedy 'cold_model_load' is used by wfdoctor's causes but defined in no "
                                "rules file")
    remedies.require(RemedyId, "rules/")  # the packaged rule book defines them all


def test_loading_the_data_files_checks_every_remedy_the_code_uses(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    packaged = tmp_path / "rules"
    shutil.copytree(rules.PACKAGED_RULES_DIR, packaged)
    remedies = packaged / "40-remedies.yaml"
    renamed = remedies.read_text().replace("id: memory_leak\n", "id: memory_leak_renamed\n")
    remedies.write_text(renamed.replace("remedy: memory_leak\n", "remedy: memory_leak_renamed\n"))  # and the cause naming it
    monkeypatch.setattr(rules, "PACKAGED_RULES_DIR", packaged)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with pytest.raises(WfdoctorError) as error:
        load_data_files(None, [])
    assert "remedy 'memory_leak' is used by wfdoctor's causes but defined in no rules file" in str(error.value)
