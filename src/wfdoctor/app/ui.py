"""The UI row of `diagnose`: the pages' recent frame reports, judged with the machine's evidence.

`wfdoctor monitor` stores what each page's wf-perf-monitor.js reports, with the machine's CPU
and process readings, in its own run, which stays `running` while it writes. Diagnose reads the
last `limits.ui.window_s` of those from any run and judges them (`analyze/ui.py`). The row then
shows the causes found, or healthy when pages reported enough frames and they were fine, or not
measured when no page reported: a page with too few frames in the window is a note, and its
frames are not handed to the rules, so it is never called healthy on too little data. The
SLOW_FRAMES rule reads the slowest judged page's mean frame time: one stuttering page is the
symptom, and an average over pages would hide it behind a smooth one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from wfdoctor.analyze.ui import FrameThresholds, UiContext, enough_frames, frame_evidence, judge_ui, pages, text
from wfdoctor.app.frames import FRAME_TIME, METRICS, reports_from_samples
from wfdoctor.config.facts import Facts
from wfdoctor.config.remedies import Remedies
from wfdoctor.model import Finding, FrameReport, Sample
from wfdoctor.store.db import Store

CPU = "wf_cpu_utilization_ratio"
PROCESS = "wf_process_cpu_utilization_ratio"
TOKENS = ("wf_llm_decode_tokens_per_second", "wf_llm_time_to_first_token_seconds")
CONTEXT_METRICS = frozenset({CPU, PROCESS, *TOKENS})  # what is judged beside the frames


@dataclass(frozen=True)
class UiRow:
    causes: list[Finding]    # judge_ui's findings, per page
    samples: list[Sample]    # the slowest judged page's mean frame time over the window, for the SLOW_FRAMES rule
    notes: list[str]         # pages that reported too few frames to be judged


def ui_context(reports: list[FrameReport], samples: list[Sample]) -> UiContext:
    """The reports with the machine's samples of the same window sorted into what the judgement reads."""
    return UiContext(reports, cpu=[s for s in samples if s.metric == CPU],
                     processes=[s for s in samples if s.metric == PROCESS],
                     tokens=[s for s in samples if s.metric in TOKENS])


def ui_judge(facts: Facts, remedies: Remedies) -> Callable[[UiContext], list[Finding]]:
    """`judge_ui` with the facts' limits and frame thresholds bound: what the monitor runs live on its window."""
    limits, thresholds = facts.limits.ui, FrameThresholds.from_facts(facts)
    return lambda context: judge_ui(context, limits, thresholds, remedies)


def ui_row(store: Store, facts: Facts, remedies: Remedies, now: float | None = None) -> UiRow:
    """Judge the pages that reported in the last `limits.ui.window_s` before `now`."""
    limits = facts.limits.ui
    end = time.time() if now is None else now
    stored = store.samples_between(sorted(METRICS) + [CPU, PROCESS, *TOKENS], end - limits.window_s, end)
    context = ui_context(reports_from_samples(stored), stored)
    thresholds = FrameThresholds.from_facts(facts)
    windows = pages(context, thresholds)
    judged = [page for page in windows if enough_frames(page, limits)]
    means = [s for page in judged for s in frame_evidence(page) if s.metric == FRAME_TIME and s.label("stat") == "mean"]
    worst = [max(means, key=lambda s: s.value)] if means else []
    notes = [f"page '{text(page.page)}' reported {page.frames} frames in the last {limits.window_s:.0f} s, fewer "
             f"than the {limits.min_frames} a verdict needs (limits.ui.min_frames): its frames were not judged"
             for page in windows if not enough_frames(page, limits)]
    return UiRow(ui_judge(facts, remedies)(context), worst, notes)
