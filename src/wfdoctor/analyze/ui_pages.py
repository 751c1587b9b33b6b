"""One page's frame reports over a window, added up the way the UI judgement reads them (pure).

A page reports every few seconds, from one tab or several (sessions); the judgement asks
questions of the whole window, so the reports are summed here once:

- **Frame time, weighted by frames.** The window's mean frame time is the frames-weighted
  mean of the reports' means (exact: it is total frame time over total frames). Its p95 is
  the frames-weighted mean of the reports' p95s: a p95 of the pooled frames cannot be rebuilt
  from per-report quantiles, and this estimate keeps one odd report from deciding alone.
- **Time over budget** is, per report, frames x (mean - budget) where positive: the time the
  page's frames ran past what 60 FPS allows, which is what a cause must account for.
- **The page's own time** is what the browser attributes to the page's main thread: script
  time (LoAF script time, or long-task time where that is larger or LoAF is missing) plus the
  style-and-layout time of long animation frames. Forced layout is part of script time.
- **Scripts** are summed by (source, invoker) across reports.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from wfdoctor.model import FrameReport


@dataclass(frozen=True)
class ScriptTotal:
    """One script's long-animation-frame time over the window (source and invoker are page text)."""

    source: str
    invoker: str
    duration_s: float
    forced_layout_s: float

    @property
    def forced_share(self) -> float:
        return self.forced_layout_s / self.duration_s if self.duration_s > 0 else 0.0


@dataclass(frozen=True)
class PageWindow:
    """A page's reports over the window, summed."""

    page: str
    reports: list[FrameReport]
    frames: int
    mean_s: float
    p95_s: float
    over_budget_s: float
    script_s: float
    style_layout_s: float
    long_animation_s: float
    long_tasks: int
    long_task_s: float
    forced_layout_s: float
    start: float
    end: float
    scripts: list[ScriptTotal] = field(default_factory=list)

    @property
    def own_s(self) -> float:
        """The page's own main-thread time: scripts plus style and layout."""
        return self.script_s + self.style_layout_s

    @property
    def span_s(self) -> float:
        return max(self.end - self.start, 0.0)

    def share_of_over_budget(self, seconds: float) -> float:
        """`seconds` as a share of the time over budget (0 when no frame ran over)."""
        return seconds / self.over_budget_s if self.over_budget_s > 0 else 0.0

    def per_second(self, seconds: float) -> float:
        """ms of `seconds` per second of the window (what a reader compares with a 1000 ms second)."""
        return seconds * 1000 / self.span_s if self.span_s > 0 else 0.0


def by_page(reports: list[FrameReport], budget_s: float) -> list[PageWindow]:
    """Each page's window, pages in name order."""
    pages: dict[str, list[FrameReport]] = defaultdict(list)
    for report in reports:
        pages[report.page].append(report)
    return [_window(page, sorted(group, key=lambda r: r.ts), budget_s) for page, group in sorted(pages.items())]


def _weighted(reports: list[FrameReport], frames: int, attribute: str) -> float:
    return sum(r.frames * getattr(r, attribute) for r in reports) / frames if frames else 0.0


def _scripts(reports: list[FrameReport]) -> list[ScriptTotal]:
    totals: dict[tuple[str, str], tuple[float, float]] = {}
    for report in reports:
        for script in report.scripts:
            ran, forced = totals.get((script.source, script.invoker), (0.0, 0.0))
            totals[(script.source, script.invoker)] = (ran + script.duration_s, forced + script.forced_layout_s)
    return sorted((ScriptTotal(source, invoker, ran, forced) for (source, invoker), (ran, forced) in totals.items()),
                  key=lambda s: s.duration_s, reverse=True)


def _window(page: str, reports: list[FrameReport], budget_s: float) -> PageWindow:
    frames = sum(r.frames for r in reports)
    return PageWindow(
        page=page, reports=reports, frames=frames,
        mean_s=_weighted(reports, frames, "frame_mean_s"), p95_s=_weighted(reports, frames, "frame_p95_s"),
        over_budget_s=sum(r.frames * max(r.frame_mean_s - budget_s, 0.0) for r in reports),
        script_s=sum(max(r.script_s, r.long_task_s) for r in reports),
        style_layout_s=sum(r.style_layout_s for r in reports),
        long_animation_s=sum(r.long_animation_s for r in reports),
        long_tasks=sum(r.long_tasks for r in reports), long_task_s=sum(r.long_task_s for r in reports),
        forced_layout_s=sum(r.forced_layout_s for r in reports),
        start=min(r.ts - r.interval_s for r in reports), end=max(r.ts for r in reports),
        scripts=_scripts(reports))
