"""`report`: one stored run, or one stored incident, gathered into a document people attach to a bug.

The report leads with the answer (findings, causes first with the symptoms they explain), then says on
what it was measured (versions, tier, backend, model), then shows the evidence as plots. It reads only
the store: nothing is measured again. What it cannot show (a run with no samples, a plot with no data,
a before/after run that is gone) is said in `notes`, never left as an empty, healthy-looking page.
"""

from __future__ import annotations

import time

from wfdoctor._version import __version__
from wfdoctor.analyze.capacity import streams_word
from wfdoctor.app.report_plots import empty_notes, run_plots
from wfdoctor.app.reports.report import ReportDocument, ReportFinding, ReportTarget, RunSection
from wfdoctor.config.facts import Facts, load_facts
from wfdoctor.model import Finding, Run, WfdoctorError
from wfdoctor.store.db import Store
from wfdoctor.store.incidents import load_incident
from wfdoctor.store.runs import load_run, run_status

# Settings worth a line in the report's "measured on" table (the rest are in `wfdoctor history --json`).
SHOWN_SETTINGS = ("backend", "implementation", "model", "embedded", "concurrency", "runs", "max_tokens", "api",
                  "arrival", "members", "pid", "duration_s", "interval_s", "metrics", "file", "mode", "client",
                  "capacity", "max_concurrency")


def report_findings(findings: list[Finding]) -> list[ReportFinding]:
    """Causes first, each with the symptoms it explains; a symptom nothing explains is shown on its own."""
    codes = {f.code for f in findings}
    explained = [f for f in findings if f.explained_by and f.explained_by in codes]
    leading = sorted((f for f in findings if f not in explained), key=lambda f: f.priority.rank)
    return [ReportFinding(f.code, f.priority.value, f.cause, f.summary, list(f.actions),
                          [f"{e.code}: {e.summary}" for e in explained if e.explained_by == f.code])
            for f in leading]


def _facts_of(run: Run) -> list[tuple[str, str]]:
    # The store keeps no wfdoctor version per run (diagnose's environment may): the row says which made the report.
    rows = [("report made by wfdoctor", __version__), ("tier", run.tier or "not classified")]
    rows += [(key, str(run.settings[key])) for key in SHOWN_SETTINGS if key in run.settings]
    rows += [(f"environment: {key}", str(value)) for key, value in sorted(run.environment.items())
             if isinstance(value, (str, int, float, bool))]
    return rows + (_capacity_rows(run) if run.settings.get("capacity") else [])


def _capacity_rows(run: Run) -> list[tuple[str, str]]:
    """A `tokens --capacity` run's answer and goodput per level, from its stored samples, worded as the command
    words it: "not even 1 stream" for 0, "at least N" at the search's ceiling (nothing above it was measured).

    A search that did not settle stores no answer: the row says so rather than leave a blank that reads as zero.
    """
    tier = f"the {run.tier} tier's" if run.tier else "the tier's"
    answers = [s for s in run.samples if s.metric == "wf_llm_capacity_streams"]
    if not answers:
        answer = "no answer stored: the search did not settle"
    else:
        streams, ceiling = int(answers[-1].value), run.settings.get("max_concurrency")
        if streams == 0:
            answer = f"not even 1 stream meets {tier} targets"
        elif isinstance(ceiling, int) and streams >= ceiling:
            answer = f"at least {streams} concurrent streams within {tier} targets (the search stopped at its " \
                     f"ceiling of {ceiling})"
        else:
            answer = f"{streams} concurrent {streams_word(streams)} within {tier} targets"
        answer += f" (wf_llm_capacity_streams, {answers[-1].source})"
    goodput = sorted(((int(s.labels["concurrency"]), s) for s in run.samples
                      if s.metric == "wf_llm_goodput_requests_per_second"
                      and s.labels.get("concurrency", "").isdigit()), key=lambda pair: pair[0])
    return [("capacity answer", answer)] + [
        (f"goodput at {level} {streams_word(level)}", f"{sample.value:.2f} {sample.unit}") for level, sample in goodput]


def run_section(store: Store, run_id: int, facts: Facts) -> tuple[RunSection, list[str]]:
    """One run's section of a report, and the notes on what it lacks."""
    run = load_run(store, run_id)
    if run is None:
        raise WfdoctorError(f"no run {run_id} in {store.path} (see wfdoctor history)")
    status = run_status(store, run_id) or "unknown"
    plots, left_out = run_plots(store, run, facts)
    notes = [f"run {run_id} ({run.command}) is {status}: what it shows may be partial"] \
        if status != "finished" else []
    if run.command == "troubleshoot":   # it measures through the runs it starts; an incident holds its answer
        notes.append(f"run {run_id} (troubleshoot) keeps no samples itself: its measurements are the diagnose and "
                     "tokens runs it started (`wfdoctor history`), its findings and validation an incident "
                     "(`wfdoctor incidents list`, then `wfdoctor report incident:N`)")
    elif not run.samples:
        notes.append(f"run {run_id} ({run.command}) stored no samples: nothing was measured")
    notes += [f"run {run_id}: {note}" for note in empty_notes(plots) + left_out]
    section = RunSection(run_id, run.command, status, run.started_at, run.finished_at, _facts_of(run),
                         report_findings(run.findings), plots, len(run.samples))
    return section, notes


def _ids(run_ids: list[int]) -> str:
    return ", ".join(map(str, run_ids)) or "none"


def _incident_report(store: Store, target: ReportTarget, facts: Facts) -> ReportDocument:
    incident = load_incident(store, target.id)
    if incident is None:
        raise WfdoctorError(f"no incident {target.id} in {store.path} (see wfdoctor incidents list)")
    sections, notes, roles = [], [], {}
    runs: tuple[tuple[str, list[int]], ...] = (("before", incident.before_runs), ("after", incident.after_runs))
    if incident.origin != "local":
        # Its run ids are the exporting database's: here the same numbers name other runs, or none.
        notes.append(f"incident {target.id} came from another database ({incident.origin}): its runs (before "
                     f"{_ids(incident.before_runs)}; after {_ids(incident.after_runs)}) are that database's, "
                     "not shown here")
        runs = ()
    for role, ids in runs:
        for run_id in ids:
            if load_run(store, run_id) is None:
                notes.append(f"the {role} run {run_id} is no longer in the store")
                continue
            section, run_notes = run_section(store, run_id, facts)
            sections.append(section)
            notes += run_notes
            roles[run_id] = role
    if not incident.validation:
        notes.append("the incident has no validation: nothing was compared before and after")
    return ReportDocument(target, f"wfdoctor incident {target.id}: {incident.cause or 'no cause named'}",
                          time.time(), __version__, sections, notes, incident, roles,
                          report_findings(incident.findings))


def build_report(store: Store, target: ReportTarget, facts: Facts | None = None) -> ReportDocument:
    """The report of a stored run or incident; a missing one is a one-line error naming the database."""
    facts = facts or load_facts()
    if target.kind == "incident":
        return _incident_report(store, target, facts)
    section, notes = run_section(store, target.id, facts)
    return ReportDocument(target, f"wfdoctor run {target.id}: {section.command}", time.time(), __version__,
                          [section], notes)
