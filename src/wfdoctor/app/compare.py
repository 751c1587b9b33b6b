"""`compare RUN_A RUN_B`: did anything get better or worse between two stored runs of the same kind?

Every series both runs measured (metric plus its stable labels: per-request TTFT at concurrency 1,
say) is tested with `analyze/compare.compare_samples`, in the metric's own direction from the
registry. What would make the answer misleading is said before the verdicts, never left for
the reader to notice: a run that did not finish (its samples are partial), another machine,
model, server or wfdoctor version. Summary statistics (samples with a `stat` label: p50, p95,
mean of a level) are one number per run, so no test can judge them: they are shown side by
side, untested, and the per-request samples they summarise carry the verdicts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wfdoctor.analyze.compare import compare_samples, relative_change, series_key
from wfdoctor.app.reports.compare import VERDICT_ORDER, ComparedRun, CompareReport, Difference, OneSided, SummaryValue
from wfdoctor.config import user_config_dir
from wfdoctor.config.facts import load_facts
from wfdoctor.config.limits import CompareLimits
from wfdoctor.config.metrics import higher_is_better
from wfdoctor.model import Run, Sample, WfdoctorError
from wfdoctor.store.db import Store
from wfdoctor.store.runs import load_run, run_status

MAX_RUN_ID = 2 ** 63 - 1             # SQLite's largest integer: a larger id cannot even be asked for
SUMMARY_LABEL = "stat"
PARTIAL = {"interrupted": "was interrupted", "failed": "failed", "running": "is still running (or was killed "
           "before it could close)", "abandoned": "was abandoned (its process ended without closing it)"}
# Differences that change what the verdicts mean: (section, key, what differs), said first.
HEADLINE = (("environment", "hostname", "machine"), ("environment", "cpu_model", "CPU"),
            ("settings", "model", "model"), ("settings", "backend", "server URL"),
            ("settings", "implementation", "server program"), ("environment", "wfdoctor", "wfdoctor version"))


def compare_runs(store: Store, run_a: int, run_b: int, facts_path: Path | None = None) -> CompareReport:
    """Run `run_a` (before) against run `run_b` (after); WfdoctorError for a missing run or runs of two kinds."""
    limits = _limits(facts_path)
    before, after = _load(store, run_a), _load(store, run_b)
    if before.command != after.command:
        raise WfdoctorError(f"run {run_a} is a {before.command} run and run {run_b} a {after.command} run: "
                            f"compare runs of the same kind")
    sides = (_side(store, before), _side(store, after))
    series = _series(before.samples, after.samples)
    tested = [[s for key, pair in series.items() if _kind(key, pair) == "tested" for s in pair[index]]
              for index in (0, 1)]
    judged = compare_samples(tested[0], tested[1], higher_is_better, limits)
    comparisons = sorted((c for c in judged if c.higher_is_better is not None),
                         key=lambda c: VERDICT_ORDER.index(c.verdict))
    summaries = [_summary(key, pair) for key, pair in series.items() if _kind(key, pair) == "summary"]
    one_sided = [OneSided(key[0], json.loads(key[1]), (pair[0] or pair[1])[0].unit, sides[0 if pair[0] else 1].id,
                          len(pair[0] or pair[1])) for key, pair in series.items() if _kind(key, pair) == "one-sided"]
    differences, unknown = _differences(before, after)
    return CompareReport(before=sides[0], after=sides[1], limits=limits,
                         warnings=_partial(sides) + _headline(differences),
                         notes=unknown + _notes(sides, summaries, one_sided), differences=differences,
                         comparisons=comparisons, context=[c for c in judged if c.higher_is_better is None],
                         summaries=summaries, one_sided=one_sided)


Pair = tuple[list[Sample], list[Sample]]


def _series(before: Sequence[Sample], after: Sequence[Sample]) -> dict[tuple[str, str], Pair]:
    """Each series (`series_key`) with its samples in each run, sorted by metric and labels."""
    found: dict[tuple[str, str], Pair] = {}
    for index, samples in enumerate((before, after)):
        for sample in samples:
            found.setdefault(series_key(sample), ([], []))[index].append(sample)
    return dict(sorted(found.items()))


def _kind(key: tuple[str, str], pair: Pair) -> str:
    """one-sided: measured by one run only (a process that came and went: nothing to compare it with);
    summary: one number per run (a `stat` label, or one sample in each run): shown, never tested; else tested."""
    if not pair[0] or not pair[1]:
        return "one-sided"
    if SUMMARY_LABEL in json.loads(key[1]) or len(pair[0]) == len(pair[1]) == 1:
        return "summary"
    return "tested"


def _limits(facts_path: Path | None) -> CompareLimits:
    """`limits.compare` of the facts in force: `facts_path`, else the user's facts file, else the packaged one."""
    user_facts = user_config_dir() / "facts.yaml"
    return load_facts(facts_path or (user_facts if user_facts.is_file() else None)).limits.compare


def _load(store: Store, run_id: int) -> Run:
    if not 1 <= run_id <= MAX_RUN_ID:
        raise WfdoctorError(f"run {run_id}: run ids are whole numbers from 1 (`wfdoctor history` lists them)")
    run = load_run(store, run_id)
    if run is None:
        raise WfdoctorError(f"no run {run_id} in {store.path} (`wfdoctor history` lists the stored runs)")
    return run


def _side(store: Store, run: Run) -> ComparedRun:
    run_id = run.id or 0

    def recorded(found: object) -> str | None:
        return None if found is None else _text(found)

    return ComparedRun(id=run_id, command=run.command, status=run_status(store, run_id) or "unknown",
                       started_at=run.started_at, finished_at=run.finished_at, samples=len(run.samples),
                       backend=recorded(run.settings.get("backend")), model=recorded(run.settings.get("model")),
                       hostname=recorded(run.environment.get("hostname")),
                       wfdoctor=recorded(run.environment.get("wfdoctor")))


def _partial(sides: tuple[ComparedRun, ComparedRun]) -> list[str]:
    """A run that did not finish is compared, and said to be partial first."""
    unique = {side.id: side for side in sides}.values()
    return [f"run {side.id} {PARTIAL.get(side.status, f'has status {side.status!r}')}: its samples are partial"
            for side in unique if side.partial]


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _differences(before: Run, after: Run) -> tuple[list[Difference], list[str]]:
    """Settings and machine facts that differ, and a note for each run that recorded no machine facts."""
    sections = [("settings", before.settings, after.settings)]
    runs = [before] if before.id == after.id else [before, after]
    missing = [f"run {run.id} recorded no machine facts (hostname, CPU, wfdoctor version): whether both runs "
               f"measured the same machine is unknown" for run in runs if not run.environment]
    if before.environment and after.environment:
        sections.append(("environment", before.environment, after.environment))
    differences = []
    for section, old, new in sections:
        for key in sorted(old.keys() | new.keys()):
            a, b = (None if key not in side else _text(side[key]) for side in (old, new))
            if a != b:
                differences.append(Difference(section, key, a, b))
    return differences, missing


def _headline(differences: Sequence[Difference]) -> list[str]:
    """Another machine, model or server: said before the verdicts (a change may be that, not the code)."""
    found = {(d.section, d.key): d for d in differences}
    return [f"the runs measured another {what} ({key}: {d.before} -> {d.after}): a change below may come from that"
            for section, key, what in HEADLINE
            if (d := found.get((section, key))) is not None and d.before is not None and d.after is not None]


def _notes(sides: tuple[ComparedRun, ComparedRun], summaries: Sequence[SummaryValue],
           one_sided: Sequence[OneSided]) -> list[str]:
    notes = [f"run {sides[0].id} compared with itself: every tested metric is unchanged by construction"] \
        if sides[0].id == sides[1].id else []
    notes += [f"run {side.id} stored no readable samples: nothing of it can be tested"
              for side in {side.id: side for side in sides}.values() if not side.samples]
    if summaries:
        notes.append(f"{len(summaries)} summary statistic(s) (p50, mean... of a run, or a number a run measured "
                     f"once) are shown side by side, not tested: a test needs several measurements a run")
    if one_sided:
        by_metric = Counter(item.metric for item in one_sided)
        notes.append(f"{len(one_sided)} series measured by one run only, not compared (processes that came and "
                     f"went, a level the other run did not measure): "
                     + ", ".join(f"{metric} x{count}" for metric, count in sorted(by_metric.items())))
    return notes


def _summary(key: tuple[str, str], pair: Pair) -> SummaryValue:
    """A series' one number in each run (the median, should a run hold it more than once)."""
    before, after = (float(np.median([s.value for s in samples])) for samples in pair)
    return SummaryValue(key[0], json.loads(key[1]), pair[0][0].unit, before, after,
                        float(relative_change(before, after)) if before else None)
