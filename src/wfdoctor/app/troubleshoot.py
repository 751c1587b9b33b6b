"""`troubleshoot`: the spec's workflow, identify -> classify -> apply -> validate -> document, on one path.

1. Identify: `diagnose` on the chosen server, then what its findings call for
   (`troubleshoot_measure`): a short token run, a memory watch on memory pressure.
2. Classify: every finding of those runs ranked together, causes before the symptoms they
   explain (the judge's own `explained`), and the top cause matched against past incidents
   (`app/incidents`), shown with what fixed them.
3. Apply: the top cause's actions by escalation level (`troubleshoot_actions`).
4. Validate: the same runs measured again and compared series by series with statistics
   (`analyze/compare`); an applied action that made anything measurably worse is rolled back.
   It runs at once when wfdoctor applied something or a person said they acted
   (`--interactive`); otherwise the incident stays open for `troubleshoot --validate ID`, run
   after the person has acted (`--fixed-by ACTION` says what they did).
5. Document: the incident is stored with symptoms, evidence, cause, actions, the validation
   and its verdict, the note, and the machine's and server's fingerprint.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

from wfdoctor.act.recovery import StepContext
from wfdoctor.analyze.compare import compare_samples
from wfdoctor.app.backends import choose_backend
from wfdoctor.app.council import parse_member
from wfdoctor.app.datafiles import DataFiles, load_data_files
from wfdoctor.app.incidents import similar_incidents
from wfdoctor.app.judge import explained
from wfdoctor.app.progress import SILENT, Progress
from wfdoctor.app.recover import load_recovery_settings
from wfdoctor.app.reports.diagnose import DiagnoseReport
from wfdoctor.app.reports.troubleshoot import TroubleshootReport, WorkflowStep
from wfdoctor.app.tokens import MAX_CONCURRENCY
from wfdoctor.app.troubleshoot_actions import ApplyContext, Asker, mark_done, proposals, roll_back, take_actions
from wfdoctor.app.troubleshoot_measure import (MEASURED_COMMANDS, MeasureSettings, Measured, compared_samples,
                                              diagnose_server, identify, measurement_groups, remeasure)
from wfdoctor.config.metrics import higher_is_better
from wfdoctor.config.recovery import load_ladder
from wfdoctor.config.rules import RuleBook
from wfdoctor.model import (ActionDisposition, Finding, Incident, IncidentAction, MetricComparison, Run, Verdict,
                            WfdoctorError)
from wfdoctor.sense.backends.discovery import checked_url
from wfdoctor.store.db import Store
from wfdoctor.store.incident_json import MAX_TEXT
from wfdoctor.store.incidents import load_incident, save_incident, update_incident
from wfdoctor.store.runs import load_run

STEP_NAMES = ("identify", "classify", "apply", "validate", "document")
ACTED = (ActionDisposition.APPLIED, ActionDisposition.DONE)
STATUS_OF = {Verdict.IMPROVED: "resolved", Verdict.UNCHANGED: "unresolved", Verdict.INCONCLUSIVE: "unresolved",
             Verdict.WORSE: "unresolved"}


@dataclass(frozen=True)
class TroubleshootOptions:
    backend_url: str | None = None      # None: the first server that answers, else the embedded engine
    embedded: bool = True
    apply: bool = False                 # L1 actions for real (dry runs otherwise)
    note: str = ""
    measure: MeasureSettings = field(default_factory=MeasureSettings)
    config_path: Path | None = None     # the monitor config whose `recovery:` section applies (settings file)
    fixed_by: tuple[str, ...] = ()      # --validate: the actions the person did

    def __post_init__(self) -> None:
        if self.backend_url:
            checked_url(self.backend_url)
        if self.measure.requests < 1 or self.measure.max_tokens < 1 or self.measure.window_s <= 0 or \
                self.measure.council_rounds < 1 or not self.measure.timeout_s > 0:
            raise WfdoctorError("requests, max tokens and council rounds must be at least 1, the window and the "
                                "timeout above 0 seconds")
        if not self.measure.concurrency or any(not 1 <= c <= MAX_CONCURRENCY for c in self.measure.concurrency):
            raise WfdoctorError(f"concurrency levels must be between 1 and {MAX_CONCURRENCY}: "
                                f"{list(self.measure.concurrency)}")
        if len(self.note) > MAX_TEXT:   # a person's words are refused whole, not clipped when stored
            raise WfdoctorError(f"--note is {len(self.note)} characters; an incident keeps at most {MAX_TEXT}")
        for index, member in enumerate(self.measure.council_members):   # a typo costs a usage error, not step 1
            parse_member(member, index, "--council-member")


def rank(findings: Sequence[Finding], rulebook: RuleBook) -> list[Finding]:
    """The findings of several runs as one list: duplicates dropped, causes first (a cause the analysis computed
    leads a symptom rule of equal priority), each followed by the symptoms it explains."""
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for finding in findings:
        key = (finding.rule_id, finding.code, finding.summary)
        if key not in seen:
            seen.add(key)
            unique.append(replace(finding, explained_by=""))
    unique.sort(key=lambda f: f.rule_id in rulebook.rules)
    return explained(unique, rulebook.explains)


def overall_verdict(comparisons: Sequence[MetricComparison]) -> Verdict:
    """Worse if any series got measurably worse (a fix must not cost elsewhere), improved if one improved and
    none got worse, unchanged if every series was tested and none moved, inconclusive if nothing could be tested."""
    verdicts = {c.verdict for c in comparisons}
    if Verdict.WORSE in verdicts:
        return Verdict.WORSE
    if Verdict.IMPROVED in verdicts:
        return Verdict.IMPROVED
    return Verdict.UNCHANGED if Verdict.UNCHANGED in verdicts else Verdict.INCONCLUSIVE


def _fingerprint(url: str, embedded: bool, diagnosis: DiagnoseReport, first: Measured) -> dict[str, str]:
    env = diagnosis.run.environment
    version = next((b.version for b in diagnosis.backends if b.url.rstrip("/") == url.rstrip("/")), "")
    found = {"tier": diagnosis.tier.tier, "hostname": env.get("hostname"), "cpu_model": env.get("cpu_model"),
             "os": env.get("os"), "wfdoctor": env.get("wfdoctor"), "backend": first.implementation,
             "backend_url": url, "model": first.model, "backend_version": version,
             "embedded": "yes" if embedded else "no"}
    return {key: str(value) for key, value in found.items() if value}


@dataclass
class _Session:
    """What one troubleshoot process holds: its run (which owns the logged actions), data, server and steps."""

    options: TroubleshootOptions
    store: Store
    data: DataFiles
    run: Run
    stack: ExitStack
    progress: Progress
    steps: list[WorkflowStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def step(self, number: int, outcome: str) -> None:
        self.steps.append(WorkflowStep(number, STEP_NAMES[number - 1], outcome))

    def announce(self, number: int, what: str) -> None:
        self.progress.note(f"step {number}/5 {STEP_NAMES[number - 1]}: {what}")

    def apply_context(self, url: str, asker: Asker | None, reason: str) -> ApplyContext:
        ladder = load_ladder()
        settings = load_recovery_settings(self.options.config_path, ladder)
        step_context = StepContext(settings=settings, facts=self.data.facts, backend_urls=(url,),
                                   apply=self.options.apply, reason=reason)
        return ApplyContext(ladder, step_context, self.store, self.run.id or 0, asker)


def _validate(session: _Session, incident: Incident) -> Incident:
    """Step 4: the incident's runs measured again, compared, and rolled back when worse."""
    session.announce(4, "measuring the same things again")
    before = []
    for run_id in incident.before_runs:
        run = load_run(session.store, run_id)
        if run is None or run.command not in MEASURED_COMMANDS:   # deleted (and its id perhaps another run's now)
            now = "" if run is None else f" (its id names a {run.command} run now)"
            session.notes.append(f"run {run_id} is no longer in the store{now}: not validated")
        else:
            before.append(run)
    embedded = incident.fingerprint.get("embedded") == "yes"
    comparisons: list[MetricComparison] = []
    after_runs: list[int] = []
    for group in measurement_groups(before):
        command = group[0].command
        try:
            after = remeasure(group, embedded, session.options.measure, session.store, session.stack,
                              session.progress)
        except WfdoctorError as exc:    # the server went away since: the incident is still documented
            session.notes.append(f"run {group[0].id} ({command}) could not be measured again ({exc}): not validated")
            continue
        if after is None:
            session.notes.append(f"run {group[0].id} ({command}) could not be repeated (its process has exited, or "
                                 "its pid is another program's now): not validated")
            continue
        after_runs += after.run_ids
        before_samples = [s for run in group for s in compared_samples(command, run.samples)]
        comparisons += compare_samples(before_samples, after.samples, higher_is_better,
                                       session.data.facts.limits.compare)
    verdict = overall_verdict(comparisons)
    # Nothing measured again (the server or the process is gone): the incident waits as it was, to validate later.
    actions, status = incident.actions, STATUS_OF[verdict] if after_runs else incident.status
    if verdict is Verdict.WORSE and any(a.disposition is ActionDisposition.APPLIED for a in actions):
        actions = roll_back(actions, session.store, session.run.id or 0, "validation measured it worse",
                            session.progress)
        if any(a.disposition is ActionDisposition.ROLLED_BACK for a in actions):
            status = "rolled_back"
    tested = [c for c in comparisons if c.verdict is not Verdict.INCONCLUSIVE]
    counts = ", ".join(f"{sum(c.verdict is v for c in comparisons)} {v.value}" for v in Verdict
                       if any(c.verdict is v for c in comparisons))
    session.step(4, f"{verdict.value}: {counts or 'nothing to compare'} ({len(tested)} of {len(comparisons)} "
                    f"series tested){'; the applied actions were rolled back' if status == 'rolled_back' else ''}")
    return replace(incident, validation=comparisons, verdict=verdict, status=status, actions=actions,
                   after_runs=incident.after_runs + after_runs,
                   resolved_at=time.time() if status == "resolved" else None)


def _document(session: _Session, incident: Incident) -> Incident:
    session.announce(5, "storing the incident")
    if incident.id is None:
        save_incident(session.store, incident)
    else:
        update_incident(session.store, incident)
    session.step(5, f"incident {incident.id} stored: {incident.status}")
    session.run.settings["incident"] = incident.id   # the run's record names what it documented (history, report)
    return incident


def _identify(session: _Session, url: str) -> tuple[DiagnoseReport, list[Measured]]:
    session.announce(1, f"diagnose and a short token run against {url}")
    diagnosis = diagnose_server(url, session.options.measure, session.store, session.progress)
    measured = identify(url, diagnosis, session.options.measure, session.store, session.progress)
    runs = ", ".join(f"{m.command} run{'s' * (len(m.run_ids) > 1)} {', '.join(map(str, m.run_ids))}"
                     for m in measured)
    session.step(1, f"diagnose run {diagnosis.run.id}, {runs}")
    return diagnosis, measured


def run_troubleshoot(options: TroubleshootOptions, store: Store, progress: Progress = SILENT,
                     asker: Asker | None = None) -> TroubleshootReport:
    """The five steps against one server (see the module docstring)."""
    data = load_data_files(options.measure.facts_path, list(options.measure.rules_paths))
    run = Run(command="troubleshoot", started_at=time.time(),
              settings={"backend": options.backend_url, "apply": options.apply, "interactive": asker is not None})
    with ExitStack() as stack, store.recording(run):
        session = _Session(options, store, data, run, stack, progress)
        chosen = choose_backend(options.backend_url, options.embedded, stack, progress)
        session.notes += [chosen.note] if chosen.note else []
        diagnosis, measured = _identify(session, chosen.url)
        first = measured[0]
        fingerprint = _fingerprint(chosen.url, chosen.embedded, diagnosis, first)
        session.announce(2, "ranking causes and looking for past incidents")
        findings = rank(diagnosis.findings + [f for m in measured for f in m.findings], data.rulebook)
        matches = similar_incidents(store, findings, fingerprint, data.facts.limits.incidents)
        def report(incident: Incident | None) -> TroubleshootReport:
            return TroubleshootReport(steps=session.steps, findings=findings, incident=incident, matches=matches,
                                      backend_url=chosen.url, implementation=first.implementation, model=first.model,
                                      tier=diagnosis.tier.tier, notes=session.notes, rulebook=data.rulebook)
        if not findings:
            session.step(2, "nothing found: every measured row is within its limits")
            return report(None)
        top = findings[0]
        session.step(2, f"top cause {top.code} ({top.priority.value})"
                        + (f"; like incident {matches[0].incident.id}" if matches else ""))
        session.announce(3, f"the actions for {top.code}")
        context = session.apply_context(chosen.url, asker, f"troubleshoot: {top.code}")
        actions = take_actions(proposals(top, data.rulebook, first.implementation), context, progress)
        session.step(3, _apply_outcome(actions))
        incident = Incident(
            created_at=run.started_at, status="open", cause=top.code, summary=top.summary,
            symptoms=[f"{f.code}: {f.summary}" for f in findings[1:] if f.explained_by == top.code] or [top.symptom],
            findings=findings, actions=actions, validation=[], verdict=Verdict.INCONCLUSIVE, fingerprint=fingerprint,
            note=options.note, before_runs=[run_id for m in measured for run_id in m.run_ids],
            matched=[m.incident.id for m in matches if m.incident.id is not None])
        if any(a.disposition in ACTED for a in actions):
            incident = _validate(session, incident)
        else:
            session.step(4, "waiting: nothing was applied; act on the actions above, then validate the incident "
                            "(`wfdoctor troubleshoot --validate ID --fixed-by ACTION`)")
        incident = _document(session, incident)
        return report(incident)


def _apply_outcome(actions: list[IncidentAction]) -> str:
    if not actions:
        return "the catalogue has no action for this cause"
    return ", ".join(f"{a.level} {a.action_id} ({a.disposition.value})" for a in actions)


def validate_incident(incident_id: int, options: TroubleshootOptions, store: Store, progress: Progress = SILENT,
                      asker: Asker | None = None) -> TroubleshootReport:
    """Steps 4 and 5 for a stored incident: measure its runs again, compare, document the verdict."""
    data = load_data_files(options.measure.facts_path, list(options.measure.rules_paths))
    incident = load_incident(store, incident_id)
    if incident is None:
        raise WfdoctorError(f"no incident {incident_id} in {store.path} (`wfdoctor incidents list` shows them)")
    if incident.origin != "local":   # its runs are the exporting database's: the same ids here are other runs
        raise WfdoctorError(f"incident {incident_id} came from another database ({incident.origin}): its runs are "
                            "not here to measure again; run `wfdoctor troubleshoot` for a new one")
    if incident.status in ("resolved", "rolled_back"):
        raise WfdoctorError(f"incident {incident_id} is already {incident.status.replace('_', ' ')}: run "
                            "`wfdoctor troubleshoot` for a new one")
    run = Run(command="troubleshoot", started_at=time.time(), settings={"validate": incident_id,
                                                                         "fixed_by": list(options.fixed_by)})
    with ExitStack() as stack, store.recording(run):
        session = _Session(options, store, data, run, stack, progress)
        actions = mark_done(incident.actions, list(options.fixed_by))
        incident = _validate(session, replace(incident, actions=actions,
                                              note="\n".join(n for n in (incident.note, options.note) if n)))
        incident = _document(session, incident)
        return TroubleshootReport(steps=session.steps, findings=incident.findings, incident=incident, matches=[],
                                  backend_url=incident.fingerprint.get("backend_url", ""),
                                  implementation=incident.fingerprint.get("backend", ""),
                                  model=incident.fingerprint.get("model", ""),
                                  tier=incident.fingerprint.get("tier", ""), notes=session.notes,
                                  rulebook=data.rulebook)
