"""Judge what was measured and record it: the one place every command does both.

Triage rules (data) and the causes found by the analysis (Python) become one list
of findings, most urgent first; the run's samples and findings are then written
in one transaction, so a run never holds findings without the samples behind them.
"""

from __future__ import annotations

from dataclasses import dataclass

from wfdoctor.analyze.triage import findings_of, triage
from wfdoctor.app.datafiles import DataFiles
from wfdoctor.model import Finding, RuleResult, Run, Sample
from wfdoctor.store.db import Store


@dataclass(frozen=True)
class Judgement:
    results: list[RuleResult]   # every triage rule that applies to the command (for the matrix rows)
    findings: list[Finding]     # causes and matched rules, most urgent first


def judge(samples: list[Sample], data: DataFiles, tier: str, command: str,
          causes: list[Finding] | None = None) -> Judgement:
    """The triage rules for `command` over `samples`, with the analysis' `causes` ranked among them."""
    results = triage(samples, data.rulebook, data.facts, tier, command=command)
    findings = sorted((causes or []) + findings_of(results), key=lambda f: f.priority.rank)
    return Judgement(results=results, findings=findings)


def record(store: Store, run: Run, samples: list[Sample], findings: list[Finding], saved: int = 0,
           interrupted: bool = False) -> None:
    """Save the run's samples and findings together; an interrupted run is closed as such.

    The first `saved` samples were stored as soon as they were measured (so a killed run keeps them).
    """
    run.samples, run.findings = samples, findings
    store.add_results(run.id or 0, samples[saved:], findings)
    if interrupted:
        store.finish_run(run, status="interrupted")
