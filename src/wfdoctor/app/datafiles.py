"""The facts and rules in force for a command, checked before anything is measured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wfdoctor.analyze.remedies import RemedyId
from wfdoctor.analyze.triage import check_references
from wfdoctor.config import user_config_dir
from wfdoctor.config.facts import Facts, load_facts
from wfdoctor.config.rules import PACKAGED_RULES_DIR, RuleBook, load_rulebook


@dataclass(frozen=True)
class DataFiles:
    facts: Facts
    rulebook: RuleBook


def load_data_files(facts_path: Path | None, rules_paths: list[Path]) -> DataFiles:
    """Packaged facts and rules, then the user's config dir, then the command's options.

    Loaded and cross-checked first, so a broken rule file costs no waiting.
    """
    user_dir = user_config_dir()
    if facts_path is None and (user_dir / "facts.yaml").is_file():
        facts_path = user_dir / "facts.yaml"
    facts = load_facts(facts_path)
    extra = ([user_dir / "rules"] if (user_dir / "rules").is_dir() else []) + rules_paths
    rulebook = load_rulebook(extra)
    check_references(rulebook, facts)
    rulebook.remedies.require(RemedyId, str(PACKAGED_RULES_DIR))
    return DataFiles(facts, rulebook)
