"""Why a page's frames are slow, from its frame reports and the machine's evidence (pure).

Each page is judged on its window of reports (`analyze/ui_pages.py` sums them), and only on
at least `limits.ui.min_frames` frames: fewer is no verdict at all, never "healthy" (the
caller says the page was not judged). "Frames slow" is the facts' `common.frame_time_ms`:
the window's frame-weighted mean over `warning`, or its p95 over `critical`.

Who owns the time over budget decides between the page and the machine, by measured shares:
when the page's own script and style/layout time is at least `page_script_share` of the time
its frames ran over budget, the page is the cause; otherwise a busy machine (`contention_cpu`)
whose processes not named in `browser_processes` use `contention_process_cores` together is.
Script time is wall time, so a page starved of CPU looks busy: when the browser's processes got
less than `main_thread_cpu_share` of the cores the page's script took in wall time, or less than
that share of one core while the other processes took more, the machine took the main thread's core and owns the time (only the
contention is named then). The causes,
most specific first (the order the explanations table uses for SLOW_FRAMES, so the most specific
cause present explains it):

1. UI_LAYOUT_THRASHING: a script's forced style/layout is >= `forced_layout_share` of its time;
2. UI_DOM_HEAVY: style/layout is >= `style_layout_share` of the long animation frames' time and
   more than the scripts' own time;
3. UI_PAGE_SCRIPT: the page's script time (LoAF or long tasks) is >= `page_script_share` of the
   time over budget;
4. UI_MACHINE_CONTENTION: the machine is busy and other processes use the cores (named by
   process name, most cores first). When the page owns the time, a contended machine is still
   reported after the page's causes at MEDIUM priority (not the main fix).

UI_PAGE_LEAK is judged apart, with frames fine or not: the DOM node count or the JS heap of one
tab (session) grows by `analyze/leaks.py`'s statistics above the `leak_*_per_minute` floors.
Page, script and process names are the page's and the machine's text: summaries cut them to
`MAX_TEXT` characters on one line.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from statistics import fmean

from wfdoctor.analyze.leaks import LeakVerdict, leak_verdict
from wfdoctor.analyze.remedies import RemedyId
from wfdoctor.analyze.ui_pages import PageWindow, ScriptTotal, by_page
from wfdoctor.config.facts import Facts
from wfdoctor.config.limits import LeakLimits, UiLimits
from wfdoctor.config.remedies import DEFAULT, Remedies
from wfdoctor.model import Finding, FrameReport, Priority, Sample

ROW, SYMPTOM = "ui_freezing", "UI freezing/stuttering"
MAX_TEXT = 80          # characters of untrusted text (page, script, process names) in a summary
TOP_PROCESSES = 3      # processes (and pids of one name) a contention summary names
CPU = "wf_cpu_utilization_ratio"
PROCESS = "wf_process_cpu_utilization_ratio"


def text(value: str, limit: int = MAX_TEXT) -> str:
    """Untrusted text on one line, at most `limit` characters (an ellipsis says it was cut)."""
    line = "".join(c if c.isprintable() else " " for c in value)
    return line if len(line) <= limit else line[:limit - 1] + "…"


@dataclass(frozen=True)
class FrameThresholds:
    """What the facts say outside `limits.ui`: the frame budget, "slow" frames and the leak statistics."""

    budget_s: float
    mean_warning_s: float
    p95_critical_s: float
    leaks: LeakLimits

    @classmethod
    def from_facts(cls, facts: Facts) -> FrameThresholds:
        frame_ms = facts.common["frame_time_ms"]
        return cls(facts.common["frame_budget_ms"] / 1000, frame_ms["warning"] / 1000, frame_ms["critical"] / 1000,
                   facts.limits.leaks)


@dataclass(frozen=True)
class UiContext:
    """The window's frame reports and what the machine measured meanwhile (cpu, processes, tokens)."""

    reports: list[FrameReport]
    cpu: list[Sample] = field(default_factory=list)         # wf_cpu_utilization_ratio
    processes: list[Sample] = field(default_factory=list)   # wf_process_cpu_utilization_ratio {pid, name}
    tokens: list[Sample] = field(default_factory=list)      # the canary's or a run's token samples


@dataclass(frozen=True)
class Culprit:
    """Processes of one name (a server's workers, a stress test's children) and the cores they used together."""

    name: str
    pids: list[str]
    cores: float

    def __str__(self) -> str:
        pids = ", ".join(text(pid, 12) for pid in self.pids[:TOP_PROCESSES]) + (", ..." if len(self.pids) >
                                                                                TOP_PROCESSES else "")
        return f"{text(self.name)} (pid{'s' if len(self.pids) > 1 else ''} {pids}) used {self.cores:.2f} cores"


@dataclass(frozen=True)
class Machine:
    """The machine over a page's window: CPU busy share, the non-browser processes by name (most CPU
    first) and the browser's own cores (None without process readings)."""

    cpu: float | None
    processes: list[Culprit]
    browser_cores: float | None
    evidence: list[Sample]

    @property
    def other_cores(self) -> float:
        return sum(c.cores for c in self.processes)


def pages(context: UiContext, thresholds: FrameThresholds) -> list[PageWindow]:
    """Every page that reported in the window (judged or not)."""
    return by_page(context.reports, thresholds.budget_s)


def enough_frames(page: PageWindow, limits: UiLimits) -> bool:
    """Whether a page's window holds enough frames to be judged at all."""
    return page.frames >= limits.min_frames


def frames_slow(page: PageWindow, thresholds: FrameThresholds) -> bool:
    return page.mean_s > thresholds.mean_warning_s or page.p95_s > thresholds.p95_critical_s


def judge_ui(context: UiContext, limits: UiLimits, thresholds: FrameThresholds, remedies: Remedies) -> list[Finding]:
    """Each page's causes, page by page; pages with too few frames are left out (see `enough_frames`)."""
    findings: list[Finding] = []
    for page in pages(context, thresholds):
        if enough_frames(page, limits) and frames_slow(page, thresholds):
            findings += _frame_causes(page, machine_during(page, context, limits), limits, remedies)
        findings += page_leak(page, limits, thresholds.leaks, remedies)
    return findings


def _browser(name: str, limits: UiLimits) -> bool:
    """A browser process: its name (lower case) is a `browser_processes` entry or starts with one
    (/proc cuts names to 15 characters: `chromium-browse`)."""
    lowered = name.lower()
    return any(lowered.startswith(entry.lower()) for entry in limits.browser_processes)


def machine_during(page: PageWindow, context: UiContext, limits: UiLimits) -> Machine:
    """CPU, the processes and the tokens over the page's window. A process's cores are averaged over the
    window's process readings, a reading it was absent from counting as 0."""
    inside = [s for s in context.cpu if page.start <= s.ts <= page.end]
    readings = [s for s in context.processes if page.start <= s.ts <= page.end]
    ticks = len({s.ts for s in readings}) or 1
    per_process: dict[tuple[str, str], float] = defaultdict(float)
    for sample in readings:
        per_process[(sample.label("pid"), sample.label("name"))] += sample.value / ticks
    by_name: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for (pid, name), cores in per_process.items():
        if not _browser(name, limits):
            by_name[name].append((pid, cores))
    culprits = sorted((Culprit(name, [pid for pid, _ in sorted(group, key=lambda g: -g[1])], sum(c for _, c in group))
                       for name, group in by_name.items()), key=lambda c: c.cores, reverse=True)
    browser = sum(c for (_, name), c in per_process.items() if _browser(name, limits)) if readings else None
    cpu = fmean(s.value for s in inside) if inside else None
    labels = {"page": page.page, "window_s": f"{page.span_s:.0f}"}
    evidence = [Sample(CPU, cpu, "ratio", "mean over the page's window", labels)] if cpu is not None else []
    top = sorted(per_process.items(), key=lambda item: item[1], reverse=True)[:TOP_PROCESSES + 1]
    evidence += [Sample(PROCESS, cores, "cores", "mean over the page's window", labels | {"pid": pid, "name": name})
                 for (pid, name), cores in top]
    latest = {(s.metric, tuple(sorted(s.labels.items()))): s for s in sorted(context.tokens, key=lambda s: s.ts)
              if page.start <= s.ts <= page.end}
    return Machine(cpu, culprits, browser, evidence + list(latest.values()))


def _contended(machine: Machine, limits: UiLimits) -> bool:
    """The machine is busy and processes other than the browser take at least `contention_process_cores`."""
    return machine.cpu is not None and machine.cpu >= limits.contention_cpu and bool(machine.processes) and \
        machine.other_cores >= limits.contention_process_cores


def _starved(page: PageWindow, machine: Machine, limits: UiLimits) -> bool:
    """The page's long tasks were long because the machine took the main thread's core, not because the
    page did that much work: the browser's processes got less CPU than the page's script took in wall
    time, or the other processes outran a browser that did not get most of one core (a page that owns
    its time keeps its main thread's core busy; the browser's own GPU and compositor processes, counted
    with it, blur the first test on a light page)."""
    wall_cores = page.script_s / page.span_s if page.span_s > 0 else 0.0
    if machine.browser_cores is None or wall_cores <= 0:
        return False
    short_of_its_script = machine.browser_cores < limits.main_thread_cpu_share * wall_cores
    outrun = machine.browser_cores < min(machine.other_cores, limits.main_thread_cpu_share)
    return short_of_its_script or outrun


# The frame samples every UI finding carries, and those each cause adds (the numbers its summary reads).
FRAMES_SEEN = ("wf_ui_frame_time_seconds", "wf_ui_frames")
SCRIPT_TIME = ("wf_ui_long_tasks", "wf_ui_long_task_seconds", "wf_ui_loaf_script_seconds", "wf_ui_script_seconds")
FORCED_LAYOUT = ("wf_ui_loaf_script_seconds", "wf_ui_loaf_forced_layout_seconds", "wf_ui_script_seconds",
                 "wf_ui_script_forced_layout_seconds")
STYLE_LAYOUT = ("wf_ui_long_animation_frame_seconds", "wf_ui_loaf_style_layout_seconds", "wf_ui_loaf_script_seconds")


def frame_evidence(page: PageWindow, metrics: tuple[str, ...] = (), script: ScriptTotal | None = None) -> list[Sample]:
    """The page's frames over the window as the registered UI metrics (labelled page and window): the
    frame time (stat mean and p95) and frame count, plus `metrics`; `script` is the script named."""
    labels = {"page": page.page, "window_s": f"{page.span_s:.0f}"}
    source = f"wf-perf-monitor.js ({text(page.page)}), {len(page.reports)} reports"

    def sample(metric: str, value: float, unit: str, **extra: str) -> Sample:
        return Sample(metric, value, unit, source, labels | extra, page.end)

    named = script or (page.scripts[0] if page.scripts else None)
    every = [sample("wf_ui_frame_time_seconds", page.mean_s, "s", stat="mean"),
             sample("wf_ui_frame_time_seconds", page.p95_s, "s", stat="p95"),
             sample("wf_ui_frames", page.frames, "frames"),
             sample("wf_ui_long_tasks", page.long_tasks, "tasks"),
             sample("wf_ui_long_task_seconds", page.long_task_s, "s"),
             sample("wf_ui_long_animation_frame_seconds", page.long_animation_s, "s"),
             sample("wf_ui_loaf_script_seconds", page.script_s, "s"),
             sample("wf_ui_loaf_style_layout_seconds", page.style_layout_s, "s"),
             sample("wf_ui_loaf_forced_layout_seconds", page.forced_layout_s, "s")]
    if named is not None:
        every += [sample("wf_ui_script_seconds", named.duration_s, "s", script=named.source, invoker=named.invoker),
                  sample("wf_ui_script_forced_layout_seconds", named.forced_layout_s, "s", script=named.source,
                         invoker=named.invoker)]
    return [s for s in every if s.metric in FRAMES_SEEN + metrics]


def _frames(page: PageWindow) -> str:
    return (f"page '{text(page.page)}': frames {page.mean_s * 1000:.1f} ms mean, {page.p95_s * 1000:.1f} ms p95 over "
            f"{page.frames} frames; {page.over_budget_s:.1f} s over budget")


def _finding(code: str, cause: str, priority: Priority, summary: str, remedy: RemedyId, remedies: Remedies,
             evidence: list[Sample]) -> Finding:
    return Finding(f"ui.{code.lower()}", code, ROW, SYMPTOM, cause, priority, remedies.actions(remedy, DEFAULT),
                   evidence, summary)


def _frame_causes(page: PageWindow, machine: Machine, limits: UiLimits, remedies: Remedies) -> list[Finding]:
    """The page's causes when it owns the time over budget, the machine's when it does (a contended machine
    whose browser got less CPU than the page's script took in wall time owns it, whatever the shares say)."""
    contended = _contended(machine, limits)
    page_share = page.share_of_over_budget(page.own_s)
    machine_leads = contended and (page_share < limits.page_script_share or _starved(page, machine, limits))
    findings = [] if machine_leads or page_share < limits.page_script_share else \
        _page_causes(page, limits, remedies, machine.evidence)
    if contended:
        others = "; ".join(str(c) for c in machine.processes[:TOP_PROCESSES])
        browser = "" if machine.browser_cores is None else f"; the browser got {machine.browser_cores:.2f} cores"
        findings.append(_finding(
            "UI_MACHINE_CONTENTION", "other processes take the CPU the browser needs to draw frames",
            Priority.HIGH if machine_leads else Priority.MEDIUM,
            f"{_frames(page)}, while the machine's CPU was {machine.cpu or 0:.0%} busy and other processes used "
            f"{machine.other_cores:.2f} cores: {others}{browser}; the page's own script ran "
            f"{page.per_second(page.script_s):.0f} ms per second ({page_share:.0%} of the time over budget)",
            RemedyId.UI_MACHINE_CONTENTION, remedies, frame_evidence(page, SCRIPT_TIME) + machine.evidence))
    return findings


def _page_causes(page: PageWindow, limits: UiLimits, remedies: Remedies,
                 machine_evidence: list[Sample]) -> list[Finding]:
    findings: list[Finding] = []
    thrashing = max(page.scripts, key=lambda s: s.forced_layout_s, default=None)
    if thrashing is not None and thrashing.forced_layout_s > 0 and thrashing.forced_share >= limits.forced_layout_share:
        findings.append(_finding(
            "UI_LAYOUT_THRASHING", "a script reads layout right after writing styles: forced layout every frame",
            Priority.HIGH, f"{_frames(page)}; script {text(thrashing.source)} ({text(thrashing.invoker)}) forced "
            f"style and layout for {page.per_second(thrashing.forced_layout_s):.0f} ms per second, "
            f"{thrashing.forced_share:.0%} of its {page.per_second(thrashing.duration_s):.0f} ms per second",
            RemedyId.UI_LAYOUT_THRASHING, remedies, frame_evidence(page, FORCED_LAYOUT, thrashing) + machine_evidence))
    style_share = page.style_layout_s / page.long_animation_s if page.long_animation_s > 0 else 0.0
    if style_share >= limits.style_layout_share and page.style_layout_s > page.script_s:
        findings.append(_finding(
            "UI_DOM_HEAVY", "each frame restyles and lays out too much of the DOM", Priority.HIGH,
            f"{_frames(page)}; style and layout took {style_share:.0%} of the long animation frames' time "
            f"({page.per_second(page.style_layout_s):.0f} ms per second) against "
            f"{page.per_second(page.script_s):.0f} ms per second of script", RemedyId.UI_DOM_HEAVY, remedies,
            frame_evidence(page, STYLE_LAYOUT) + machine_evidence))
    script_share = page.share_of_over_budget(page.script_s)
    if script_share >= limits.page_script_share:
        top = f"; top script {text(page.scripts[0].source)} ({text(page.scripts[0].invoker)}) " \
              f"{page.per_second(page.scripts[0].duration_s):.0f} ms per second" if page.scripts else \
              "; no script attribution (the browser has no long-animation-frame timing)"
        findings.append(_finding(
            "UI_PAGE_SCRIPT", "the page's own script blocks the main thread", Priority.HIGH,
            f"{_frames(page)}; {page.long_tasks} long tasks, script {page.per_second(page.script_s):.0f} ms per second "
            f"({script_share:.0%} of the time over budget){top}", RemedyId.UI_PAGE_SCRIPT, remedies,
            frame_evidence(page, SCRIPT_TIME) + machine_evidence))
    return findings


@dataclass(frozen=True)
class Trend:
    """One tab's series that grows: which quantity, in which unit, and its verdict."""

    session: str
    metric: str
    unit: str
    verdict: LeakVerdict
    first: Sample
    last: Sample


def _series(page: PageWindow, attribute: str) -> dict[str, tuple[list[float], list[float]]]:
    """(times, values) of one optional report field per session, where reported."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for report in page.reports:
        value = getattr(report, attribute)
        if value is not None:
            times, values = out.setdefault(report.session, ([], []))
            times.append(report.ts)
            values.append(float(value))
    return out


# report field, metric, unit, the UiLimits floor (per minute) that makes growth a leak
LEAK_SERIES = (("dom_nodes", "wf_ui_dom_nodes", "nodes", "leak_dom_nodes_per_minute"),
               ("heap_bytes", "wf_ui_js_heap_bytes", "bytes", "leak_heap_bytes_per_minute"))


def _trends(page: PageWindow, limits: UiLimits, leaks: LeakLimits) -> list[Trend]:
    """Per quantity, the session that grows fastest among those the statistics call a leak."""
    trends: list[Trend] = []
    for attribute, metric, unit, floor in LEAK_SERIES:
        found = []
        for session, (times, values) in _series(page, attribute).items():
            verdict = leak_verdict(times, values, limits=leaks, floor_bytes_per_minute=getattr(limits, floor))
            if verdict.verdict == "leak":
                labels = {"page": page.page, "session": session}
                found.append(Trend(session, metric, unit, verdict, Sample(metric, values[0], unit, "first in window",
                                   labels, times[0]), Sample(metric, values[-1], unit, "last in window", labels,
                                                             times[-1])))
        trends += sorted(found, key=lambda t: t.verdict.slope.per_second if t.verdict.slope else 0.0)[-1:]
    return trends


def _rate(trend: Trend) -> str:
    rate, low, high = trend.verdict.per_minute or (0.0, 0.0, 0.0)
    p_value = trend.verdict.trend.p_value if trend.verdict.trend else 1.0
    return (f"{'DOM nodes' if trend.unit == 'nodes' else 'JS heap'} +{rate:,.0f} {trend.unit}/min "
            f"(95 % CI {low:,.0f} to {high:,.0f}, p = {p_value:.2g}; {trend.first.value:,.0f} to "
            f"{trend.last.value:,.0f} in tab {text(trend.session, 16)})")


def page_leak(page: PageWindow, limits: UiLimits, leaks: LeakLimits, remedies: Remedies) -> list[Finding]:
    """UI_PAGE_LEAK when a tab's DOM node count or JS heap grows steadily (frames fine or not)."""
    trends = _trends(page, limits, leaks)
    if not trends:
        return []
    evidence = [s for t in trends for s in (t.first, t.last)]
    return [_finding("UI_PAGE_LEAK", "the page keeps what it no longer needs: listeners, intervals or detached "
                     "DOM nodes pile up", Priority.MEDIUM, f"page '{text(page.page)}' leaks: "
                     + "; ".join(_rate(t) for t in trends), RemedyId.UI_PAGE_LEAK, remedies, evidence)]
