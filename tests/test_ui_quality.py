"""The monitor's side of the pages (app/monitor_ui.py): the facts' adaptive quality, recovery's lowering,
the per-tab report budget and the live UI verdict's window."""

from __future__ import annotations

import pytest

from tests.test_frames import report
from wfdoctor.analyze.ui import UiContext
from wfdoctor.app.monitor_ui import MAX_CLIENTS, UiWatch
from wfdoctor.app.monitor_view import RateLimited
from wfdoctor.config.facts import load_facts
from wfdoctor.model import ActionRecord, Finding, Priority, Sample, WfdoctorError

FACTS = load_facts()
RULE = FACTS.common["adaptive_quality"]
BUDGET_S = FACTS.common["frame_budget_ms"] / 1000
SLOW = BUDGET_S * RULE["lower_above"] * 1.1
FAST = BUDGET_S * RULE["raise_below"] * 0.9
WITHIN = BUDGET_S       # between the two thresholds: no change while frames are missed...
MISSING = RULE["raise_missed_share"] * 2 + 0.01   # ...as a page that misses a vsync now and then does
ON_TIME = 0.0167        # a smooth page on a 60 Hz screen, as Chromium reports it: never under 0.85 x the budget


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def no_findings(context: UiContext) -> list[Finding]:
    """A page verdict that finds nothing: these tests are about the quality and the window, not the judgement."""
    return []


def watch(**kwargs: object) -> tuple[UiWatch, Clock]:
    clock = Clock()
    judge = kwargs.pop("judge", no_findings)
    return UiWatch(FACTS, judge, clock=clock, **kwargs), clock  # type: ignore[arg-type]


def send(ui: UiWatch, clock: Clock, frame_s: float, page: str = "chat", frames: int = 120,
         missed: float = 0.0) -> float:
    """One report of `frames` frames at `frame_s` each (`missed` of them over budget), 2 s after the last;
    the quality it left."""
    clock.now += 2
    [sample] = ui.hold(report(page=page, ts=clock.now, frames=frames, frame_mean_s=frame_s,
                              over_budget_share=missed))
    assert (sample.metric, sample.unit, sample.labels) == ("wf_ui_quality", "ratio", {})
    return sample.value


def test_slow_frames_lower_the_quality_a_step_a_report_down_to_the_floor() -> None:
    ui, clock = watch()
    qualities = [send(ui, clock, SLOW) for _ in range(12)]
    assert qualities[:3] == pytest.approx([1.0 - RULE["step_down"], 1.0 - 2 * RULE["step_down"],
                                           1.0 - 3 * RULE["step_down"]])
    assert qualities[-1] == RULE["floor"] and min(qualities) == RULE["floor"]
    assert "averaged" in ui.settings().reason and "'chat'" in ui.settings().reason


def test_fast_frames_raise_it_by_the_smaller_step_up_to_the_cap() -> None:
    ui, clock = watch()
    for _ in range(3):
        send(ui, clock, SLOW)
    lowered = ui.settings().quality
    raised = [send(ui, clock, FAST) for _ in range(20)]
    assert raised[0] == pytest.approx(lowered + RULE["step_up"])
    assert raised[-1] == RULE["cap"] and max(raised) == RULE["cap"]


def test_frames_within_the_band_leave_the_quality_alone() -> None:
    ui, clock = watch()
    send(ui, clock, SLOW)
    assert [send(ui, clock, WITHIN, missed=MISSING) for _ in range(5)] == [pytest.approx(1.0 - RULE["step_down"])] * 5


def test_a_page_back_to_smooth_60_hz_raises_it_again() -> None:
    """rAF never runs faster than the screen: at 60 Hz frames on time average the budget, not 0.85 x it."""
    ui, clock = watch()
    for _ in range(3):
        send(ui, clock, SLOW)
    lowered = ui.settings().quality
    assert send(ui, clock, ON_TIME) == pytest.approx(lowered + RULE["step_up"])
    assert "missed" in ui.settings().reason


def test_the_rule_waits_for_a_window_of_frames_then_reads_the_newest() -> None:
    ui, clock = watch()
    few = RULE["window_frames"] // 2 - 1
    assert send(ui, clock, SLOW, frames=few) == 1.0       # fewer frames than the window: not judged yet
    assert send(ui, clock, SLOW, frames=few) == 1.0
    assert send(ui, clock, SLOW, frames=few) < 1.0
    ui, clock = watch()
    send(ui, clock, SLOW, frames=10_000)                  # an old slow stretch...
    send(ui, clock, FAST, frames=RULE["window_frames"])   # ...then a window's worth of fast frames: they decide
    assert ui.settings().quality == pytest.approx(1.0 - RULE["step_down"] + RULE["step_up"])


def test_the_slowest_page_decides_and_all_must_be_fast_to_raise() -> None:
    ui, clock = watch()
    send(ui, clock, SLOW, page="council")
    before = ui.settings().quality
    assert send(ui, clock, FAST, page="chat") == pytest.approx(before - RULE["step_down"])  # council still slow


def action(kind: str, applied: bool = True, setting: str = "ui_quality") -> ActionRecord:
    return ActionRecord(kind=kind, target=f"/s.json#{setting}", level="L1", applied=applied, reason="RamHigh",
                        before={}, after={"setting": setting, "to": "low"})


def test_recovery_lowering_holds_the_floor_until_its_restore_puts_back_the_quality() -> None:
    ui, clock = watch()
    send(ui, clock, SLOW)
    before = ui.settings().quality
    ui.on_action(action("lower_ui_quality"))
    assert ui.settings().quality == RULE["floor"] and ui.settings().reason == "recovery: RamHigh"
    assert send(ui, clock, FAST) == RULE["floor"]       # held: the adaptive rule waits
    ui.on_action(action("rollback:lower_ui_quality"))   # lowered again: still the quality before the first
    ui.on_action(action("restore:lower_ui_quality"))
    assert ui.settings().quality == before
    assert send(ui, clock, FAST) == pytest.approx(before + RULE["step_up"])


@pytest.mark.parametrize("other", [action("lower_ui_quality", applied=False),
                                   action("lower_council_size", setting="council_size"),
                                   action("restore:lower_council_size", setting="council_size")])
def test_dry_runs_and_other_settings_leave_the_quality_alone(other: ActionRecord) -> None:
    ui, _ = watch()
    ui.on_action(other)
    assert ui.settings().quality == 1.0


def test_the_budget_is_a_sliding_minute_per_page_and_session() -> None:
    ui, clock = watch()
    budget = FACTS.limits.ui.reports_per_page_per_minute
    for _ in range(budget):
        ui.admit("chat", "tab1")
        clock.now += 0.5
    with pytest.raises(RateLimited) as refused:
        ui.admit("chat", "tab1")
    assert refused.value.retry_after_s == pytest.approx(60 - budget * 0.5)
    ui.admit("chat", "tab2")
    clock.now += refused.value.retry_after_s + 0.01
    ui.admit("chat", "tab1")   # the oldest arrival has left the minute


def test_the_oldest_tabs_are_forgotten_past_the_bound_with_their_reports() -> None:
    seen: list[UiContext] = []
    ui, clock = watch(judge=lambda window: seen.append(window) or [])
    ui.admit("first", "s")
    send(ui, clock, SLOW, page="first")
    for n in range(MAX_CLIENTS):
        ui.admit("busy", f"s{n}")
    send(ui, clock, SLOW, page="busy")
    ui.judge()
    assert {r.page for r in seen[0].reports} == {"busy"}   # 'first' forgotten with its only tab
    ui.admit("first", "s")                                 # and a new budget when it comes back


def test_the_verdict_reads_the_windows_reports_and_machine_samples() -> None:
    seen: list[UiContext] = []
    finding = Finding(rule_id="ui", code="UI_PAGE_SCRIPT", row="ui_freezing", symptom="s", cause="c",
                      priority=Priority.HIGH, actions=[], evidence=[], summary="page 'chat'")

    def judge(window: UiContext) -> list[Finding]:
        seen.append(window)
        return [finding]

    ui, clock = watch(judge=judge)
    assert ui.judge() == [] and seen == []                # no reports: nothing to judge
    window_s = FACTS.limits.ui.window_s
    cpu = [Sample("wf_cpu_utilization_ratio", 0.9, "ratio", "t", {}, clock.now + t) for t in (0, window_s + 5)]
    proc = Sample("wf_process_cpu_utilization_ratio", 2.0, "ratio", "t", {"pid": "1", "name": "hog"}, clock.now)
    other = Sample("wf_swap_used_bytes", 0.0, "bytes", "t", {}, clock.now)
    ui.admit("chat", "s")
    send(ui, clock, SLOW)
    clock.now += window_s + 5
    ui.add_machine([cpu[0], proc, other])
    ui.add_machine([cpu[1]])                               # the first reading has left the window
    send(ui, clock, SLOW)
    assert ui.judge() == [finding] == ui.findings()
    [window] = seen
    assert [r.ts for r in window.reports] == [clock.now]    # the first report has left the window too
    assert window.cpu == [cpu[1]] and window.processes == []


def test_a_broken_adaptive_rule_in_the_facts_is_one_line_naming_the_key() -> None:
    broken = FACTS.model_copy(update={"common": {**FACTS.common, "adaptive_quality": {**RULE, "floor": 0}}})
    with pytest.raises(WfdoctorError, match=r"common\.adaptive_quality\.floor: Input should be greater than 0$"):
        UiWatch(broken, no_findings)
