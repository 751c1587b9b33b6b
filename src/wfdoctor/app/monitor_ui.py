"""The monitor's side of the pages: their frame reports, the UI quality it asks them for, and the UI verdict.

`UiWatch` holds, bounded, what pages reported: a sliding minute of arrivals per (page, session) for
the report budget (`limits.ui.reports_per_page_per_minute`; past it `RateLimited`, HTTP 429, so a
runaway page cannot crowd out the machine's own ticks), at most MAX_CLIENTS (page, session) pairs
(the least recently heard forgotten first) and each page's reports of the last `limits.ui.window_s`.

The adaptive quality is the facts' "Frame budget" rule (`common.adaptive_quality`), taken per page
with the worst page deciding: WIRTHFORGE renders at one quality, so a page that misses the budget
lowers it for all, and it rises again only when every page that reported recently is well within
budget. A page is judged on its last `window_frames` frames (its newest reports, frame-weighted), and
the rule steps once per accepted report. Recovery's applied `lower_setting` on `ui_quality` holds the
quality at the floor (adaptive steps paused) until its restore puts back what was there before.

Every UI_JUDGE_EVERY_S the monitor asks for the live verdict: `judge` (analyze.ui.judge_ui, wired by
the monitor) over the window's reports and the machine's CPU and process samples.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

from pydantic import Field, ValidationError

from wfdoctor.analyze.ui import UiContext
from wfdoctor.app.monitor_view import RateLimited
from wfdoctor.app.reports.dashboard import UiSettings
from wfdoctor.app.ui import CONTEXT_METRICS, ui_context
from wfdoctor.config.facts import Facts
from wfdoctor.config.yamlfile import Strict
from wfdoctor.model import ActionRecord, Finding, FrameReport, Sample, WfdoctorError

UI_JUDGE_EVERY_S = 10.0    # a schedule, not a limit: how fresh the dashboard's UI findings are
MAX_CLIENTS = 256          # (page, session) pairs held: one browser tab each; more are forgotten oldest first
MAX_REPORTS_PER_PAGE = 1000  # per page within the window (sessions of one page share it)
MINUTE_S = 60.0
QUALITY_SETTING = "ui_quality"   # the recovery ladder's setting (data/recovery.yaml lower_ui_quality)
SOURCE = "wfdoctor monitor (adaptive UI quality: facts common.adaptive_quality, recovery)"


class AdaptiveQuality(Strict):
    """The facts' `common.adaptive_quality`."""

    window_frames: int = Field(gt=0)
    lower_above: float = Field(gt=1)     # x budget
    raise_below: float = Field(gt=0, lt=1)
    raise_missed_share: float = Field(ge=0, le=1)   # ...or every page missed at most this share of its frames
    step_down: float = Field(gt=0, le=1)
    step_up: float = Field(gt=0, le=1)
    floor: float = Field(gt=0, le=1)
    cap: float = Field(gt=0, le=1)


Judge = Callable[[UiContext], list[Finding]]   # app/ui.py `ui_judge`: the same verdict diagnose gives


def adaptive_rule(facts: Facts) -> AdaptiveQuality:
    try:
        return AdaptiveQuality.model_validate(facts.common.get("adaptive_quality"))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise WfdoctorError(f"{facts.source}: common.adaptive_quality{'.' + where if where else ''}: "
                            f"{first['msg']}") from None


class UiWatch:
    """The pages' reports, the adaptive quality and the live UI findings (thread-safe: `admit` runs on the
    web server's loop, `judge` in a worker thread)."""

    def __init__(self, facts: Facts, judge: Judge, clock: Callable[[], float] = time.time) -> None:
        self._limits = facts.limits.ui
        self._rule = adaptive_rule(facts)
        self._budget_s = float(facts.common["frame_budget_ms"]) / 1000
        self._judge = judge
        self._clock = clock
        self._lock = threading.Lock()
        self._arrivals: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._all_arrivals: deque[float] = deque()   # every page's: a session id is free to invent
        self._reports: dict[str, deque[FrameReport]] = {}
        self._machine: deque[Sample] = deque()
        self._findings: list[Finding] = []
        self._quality = self._rule.cap
        self._reason = "start: full quality until pages report"
        self._updated = clock()
        self._before_lowered: float | None = None   # set while recovery holds the quality down

    # --- reports ---
    def admit(self, page: str, session: str) -> None:
        """Count one report of (page, session); RateLimited past its budget of the sliding minute."""
        now = self._clock()
        with self._lock:
            arrivals = self._arrivals.pop((page, session), None) or deque()
            self._arrivals[(page, session)] = arrivals       # most recently heard last
            while arrivals and arrivals[0] <= now - MINUTE_S:
                arrivals.popleft()
            while len(self._arrivals) > MAX_CLIENTS:
                (gone, _), _ = self._arrivals.popitem(last=False)
                if all(page != gone for page, _ in self._arrivals):   # its every tab forgotten: its reports too
                    self._reports.pop(gone, None)
            budget = self._limits.reports_per_page_per_minute
            if len(arrivals) >= budget:
                raise RateLimited(f"page {page[:80]!r} session {session!r}: over {budget} reports per minute "
                                  f"(limits.ui.reports_per_page_per_minute)", arrivals[0] + MINUTE_S - now)
            everyone = self._all_arrivals
            while everyone and everyone[0] <= now - MINUTE_S:
                everyone.popleft()
            if len(everyone) >= self._limits.reports_per_minute:
                raise RateLimited(f"over {self._limits.reports_per_minute} reports per minute from all pages "
                                  f"(limits.ui.reports_per_minute)", everyone[0] + MINUTE_S - now)
            everyone.append(now)
            arrivals.append(now)

    def check_room(self, held: int, adding: int) -> None:
        """RateLimited when `adding` new series would take frame reports past `limits.ui.series` of the
        monitor's: a page picks its own label values, and the machine's series must keep their room."""
        if adding and held + adding > self._limits.series:
            raise RateLimited(f"frame reports hold {held} series of the monitor's, at most {self._limits.series} "
                              f"(limits.ui.series): a page naming new sessions or scripts in every report?", MINUTE_S)

    def hold(self, report: FrameReport) -> list[Sample]:
        """Keep the report for the verdict, step the adaptive quality; the quality's sample after it."""
        with self._lock:
            reports = self._reports.setdefault(report.page, deque(maxlen=MAX_REPORTS_PER_PAGE))
            reports.append(report)
            self._forget_before(report.ts - self._limits.window_s)
            if self._before_lowered is None:
                self._adapt()
            return [self._quality_sample()]

    def _forget_before(self, start: float) -> None:
        for page in list(self._reports):
            reports = self._reports[page]
            while reports and reports[0].ts < start:
                reports.popleft()
            if not reports:
                del self._reports[page]

    # --- adaptive quality ---
    def _page_frames(self) -> dict[str, tuple[float, float]]:
        """Each page's frame-weighted mean frame time and share of missed frames over its last `window_frames`
        frames (pages with fewer frames in the window are not judged yet)."""
        judged = {}
        for page, reports in self._reports.items():
            frames, total, missed = 0, 0.0, 0.0
            for report in reversed(reports):
                frames += report.frames
                total += report.frame_mean_s * report.frames
                missed += report.over_budget_share * report.frames
                if frames >= self._rule.window_frames:
                    judged[page] = (total / frames, missed / frames)
                    break
        return judged

    def _adapt(self) -> None:
        judged = self._page_frames()
        if not judged:
            return
        page, (worst, _) = max(judged.items(), key=lambda item: item[1][0])
        missed = max(share for _, share in judged.values())
        rule, budget_ms, worst_ms = self._rule, self._budget_s * 1000, worst * 1000
        if worst > self._budget_s * rule.lower_above and self._quality > rule.floor:
            self._set(max(rule.floor, self._quality - rule.step_down),
                      f"adaptive: page {page[:80]!r} averaged {worst_ms:.1f} ms a frame over its last "
                      f"{rule.window_frames} frames (over {budget_ms:g} ms x {rule.lower_above:g})")
        elif self._quality < rule.cap and (worst < self._budget_s * rule.raise_below
                                           or (worst <= self._budget_s * rule.lower_above
                                               and missed <= rule.raise_missed_share)):
            self._set(min(rule.cap, self._quality + rule.step_up),
                      f"adaptive: every page averaged under {budget_ms:g} ms x {rule.raise_below:g} a frame or "
                      f"missed at most {rule.raise_missed_share:.0%} of its frames (slowest {worst_ms:.1f} ms, "
                      f"{missed:.1%} missed)")

    def _set(self, quality: float, reason: str) -> None:
        self._quality, self._reason, self._updated = round(quality, 6), reason, self._clock()

    def _quality_sample(self) -> Sample:
        return Sample("wf_ui_quality", self._quality, "ratio", SOURCE, {}, self._clock())

    def quality_samples(self) -> list[Sample]:
        with self._lock:
            return [self._quality_sample()]

    def settings(self) -> UiSettings:
        with self._lock:
            return UiSettings(self._quality, self._reason, self._budget_s, self._updated)

    # --- recovery ---
    def lower(self, reason: str) -> None:
        """Recovery lowered the UI quality: hold it at the floor until `restore`."""
        with self._lock:
            if self._before_lowered is None:
                self._before_lowered = self._quality
            self._set(self._rule.floor, f"recovery: {reason}")

    def restore(self, reason: str) -> None:
        """Recovery restored the UI quality: back to what it was before, adaptive again."""
        with self._lock:
            if self._before_lowered is not None:
                self._set(self._before_lowered, f"recovery restored: {reason}")
                self._before_lowered = None

    def on_action(self, action: ActionRecord) -> None:
        """An action of the recovery pipeline: an applied change of `ui_quality` lowers or restores."""
        if not action.applied or action.after.get("setting") != QUALITY_SETTING:
            return
        if action.kind.startswith("restore:"):
            self.restore(action.reason)
        else:   # the step itself, or its rollback when the alert came back
            self.lower(action.reason)

    # --- the live verdict ---
    def add_machine(self, samples: Iterable[Sample]) -> None:
        """The machine's CPU and process samples, kept for the window the verdict reads."""
        wanted = [s for s in samples if s.metric in CONTEXT_METRICS]
        if not wanted:
            return
        with self._lock:
            self._machine.extend(wanted)
            start = self._clock() - self._limits.window_s
            while self._machine and self._machine[0].ts < start:
                self._machine.popleft()

    def judge(self) -> list[Finding]:
        """Run the verdict on the window now; kept for `findings`."""
        with self._lock:
            self._forget_before(self._clock() - self._limits.window_s)
            reports = sorted((r for rs in self._reports.values() for r in rs), key=lambda r: r.ts)
            machine = list(self._machine)
        findings = self._judge(ui_context(reports, machine)) if reports else []
        with self._lock:
            self._findings = findings
        return findings

    def findings(self) -> list[Finding]:
        with self._lock:
            return list(self._findings)
