"""Judge what was measured and record it: the one place every command does both.

Triage rules (data) and the causes found by the analysis (Python) become one list
of findings, causes first: a symptom rule that a measured cause explains (the
rules files' `explanations`) is attached to that cause (`explained_by`) and
follows it, and the cause ranks at least as high as the worst symptom it
explains. Every finding's actions are then fitted to what was measured: the
rule's list for the measured server implementation, without the actions a
measured fact rules out (no GPU offload without a GPU). The run's samples and
findings are written in one transaction, so a run never holds findings without
the samples behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from wfdoctor.analyze.triage import findings_of, triage
from wfdoctor.app.datafiles import DataFiles
from wfdoctor.config.remedies import pick
from wfdoctor.config.rules import Circumstances, RuleBook
from wfdoctor.model import Finding, RuleResult, Run, Sample
from wfdoctor.store.db import Store


@dataclass(frozen=True)
class Judgement:
    results: list[RuleResult]   # every triage rule that applies to the command (for the matrix rows)
    findings: list[Finding]     # causes first, each followed by the symptoms it explains


def judge(samples: list[Sample], data: DataFiles, tier: str, command: str, causes: list[Finding] | None = None,
          circumstances: Circumstances = Circumstances()) -> Judgement:
    """The triage rules for `command` over `samples`, explained by the analysis' `causes` where they can be."""
    results = triage(samples, data.rulebook, data.facts, tier, command=command)
    rulebook = data.rulebook
    symptoms = [replace(f, actions=pick(rulebook.rules[f.rule_id].actions, circumstances.implementations))
                for f in findings_of(results)]
    findings = [_fitted(f, rulebook, circumstances) for f in explained((causes or []) + symptoms, rulebook.explains)]
    return Judgement(results=results, findings=findings)


def explained(findings: list[Finding], explains: dict[str, list[str]]) -> list[Finding]:
    """Each symptom a present cause explains attached to it; causes raised and leading.

    Of several present causes that explain one symptom, the first in the explanations table explains it
    (the straggler, not the interruption that left it alone, sets a council's sync delay).
    """
    ranked = sorted(findings, key=lambda f: f.priority.rank)
    present = [code for code in explains if any(f.code == code for f in ranked)]
    cause_of = {id(f): next((code for code in present if f.rule_id in explains[code]), "") for f in ranked}
    attached = [replace(f, explained_by=cause_of[id(f)]) if cause_of[id(f)] else f for f in ranked]
    under: dict[str, list[Finding]] = {}
    for finding in attached:
        under.setdefault(finding.explained_by, []).append(finding)
    leading = sorted((_raised(f, under.get(f.code, [])) if f.code in explains else f for f in under.get("", [])),
                     key=lambda f: f.priority.rank)
    out: list[Finding] = []
    for finding in leading:
        out += [finding] + (under.pop(finding.code, []) if finding.code in explains else [])
    return out


def _raised(cause: Finding, symptoms: list[Finding]) -> Finding:
    """The cause at the priority of the worst symptom it explains, when that is more urgent."""
    worst = min((f.priority for f in symptoms), key=lambda p: p.rank, default=cause.priority)
    return replace(cause, priority=worst) if worst.rank < cause.priority.rank else cause


def _fitted(finding: Finding, rulebook: RuleBook, circumstances: Circumstances) -> Finding:
    """Without the actions a measured fact rules out."""
    return replace(finding, actions=[a for a in finding.actions if rulebook.actions[a].fits(circumstances)])


def record(store: Store, run: Run, samples: list[Sample], findings: list[Finding], saved: int = 0,
           interrupted: bool = False) -> None:
    """Save the run's samples and findings together; an interrupted run is closed as such.

    The first `saved` samples were stored as soon as they were measured (so a killed run keeps them).
    """
    run.samples, run.findings = samples, findings
    store.add_results(run.id or 0, samples[saved:], findings)
    if interrupted:
        store.finish_run(run, status="interrupted")
