"""The UI row's causes: which of the page or the machine owns a page's slow frames, and whether the page leaks."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wfdoctor.analyze.ui import FrameThresholds, UiContext, enough_frames, judge_ui, pages, text
from wfdoctor.app.datafiles import load_data_files
from wfdoctor.app.judge import judge
from wfdoctor.model import Finding, FrameReport, Sample, ScriptTime

DATA = load_data_files(None, [])
LIMITS = DATA.facts.limits.ui
THRESHOLDS = FrameThresholds.from_facts(DATA.facts)
REMEDIES = DATA.rulebook.remedies
T0 = 1_800_000_000.0
REPORTS = 30           # 30 reports of 2 s: a 60 s window
FRAMES = 30            # per report: 15 FPS when each frame takes 66.7 ms
SLOW_MS = 66.7         # mean frame time of a page doing 50 ms of work per frame
BUSY = "http://127.0.0.1:9000/busy.js"


def report(i: int, *, page: str = "chat", session: str = "s1", frames: int = FRAMES, mean_ms: float = 16.6,
           p95_ms: float | None = None, long_tasks: int = 0, long_task_s: float = 0.0, loaf_s: float = 0.0,
           script_s: float = 0.0, style_s: float = 0.0, forced_s: float = 0.0, scripts: list[ScriptTime] | None = None,
           dom_nodes: int | None = None, heap_bytes: float | None = None) -> FrameReport:
    mean = mean_ms / 1000
    p95 = (p95_ms if p95_ms is not None else mean_ms * 1.05) / 1000
    return FrameReport(page=page, session=session, ts=T0 + 2 * (i + 1), interval_s=2.0, frames=frames,
                       frame_mean_s=mean, frame_p50_s=mean, frame_p95_s=p95, frame_p99_s=p95, frame_max_s=p95,
                       jitter_s=0.001, fps=1 / mean, over_budget_share=0.0 if mean_ms < 16.67 else 1.0,
                       long_tasks=long_tasks, long_task_s=long_task_s, loaf_supported=True,
                       long_animation_frames=frames if loaf_s else 0, long_animation_s=loaf_s, script_s=script_s,
                       style_layout_s=style_s, forced_layout_s=forced_s, scripts=scripts or [],
                       dom_nodes=dom_nodes, heap_bytes=heap_bytes)


def window(**fields: object) -> list[FrameReport]:
    return [report(i, **fields) for i in range(REPORTS)]  # type: ignore[arg-type]


def over_budget_s() -> float:
    """Time over budget in one slow report: FRAMES x (mean - budget)."""
    return FRAMES * (SLOW_MS / 1000 - THRESHOLDS.budget_s)


def busy_page(script_share: float = 1.0, forced_share: float = 0.0) -> list[FrameReport]:
    """A page whose own script takes `script_share` of the time over budget, in busy.js."""
    script_s = script_share * over_budget_s()
    return window(mean_ms=SLOW_MS, long_tasks=FRAMES, long_task_s=script_s, loaf_s=script_s, script_s=script_s,
                  forced_s=forced_share * script_s,
                  scripts=[ScriptTime(BUSY, "FrameRequestCallback", script_s, forced_share * script_s)])


def machine(cpu: float, hogs: dict[tuple[str, str], float]) -> tuple[list[Sample], list[Sample]]:
    """Machine CPU share and per-process cores, one reading a second over the window."""
    ticks = [T0 + 1 + t for t in range(2 * REPORTS)]
    cpu_samples = [Sample("wf_cpu_utilization_ratio", cpu, "ratio", "test", {}, ts) for ts in ticks]
    processes = [Sample("wf_process_cpu_utilization_ratio", cores, "cores", "test", {"pid": pid, "name": name}, ts)
                 for ts in ticks for (pid, name), cores in hogs.items()]
    return cpu_samples, processes


def judged(reports: list[FrameReport], cpu: float = 0.3, hogs: dict[tuple[str, str], float] | None = None,
           tokens: list[Sample] | None = None) -> list[Finding]:
    cpu_samples, processes = machine(cpu, hogs or {})
    return judge_ui(UiContext(reports, cpu_samples, processes, tokens or []), LIMITS, THRESHOLDS, REMEDIES)


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def test_a_smooth_page_on_a_quiet_machine_has_no_cause() -> None:
    assert judged(window()) == []


def test_too_few_frames_are_not_judged_and_not_called_healthy() -> None:
    few = busy_page()[:1]
    assert few[0].frames < LIMITS.min_frames
    assert judged(few) == []
    assert [enough_frames(p, LIMITS) for p in pages(UiContext(few), THRESHOLDS)] == [False]
    assert [enough_frames(p, LIMITS) for p in pages(UiContext(busy_page()), THRESHOLDS)] == [True]


def test_a_page_busy_in_its_own_script_is_named_with_the_top_script() -> None:
    (finding,) = judged(busy_page())
    assert finding.code == "UI_PAGE_SCRIPT" and finding.row == "ui_freezing" and finding.priority.value == "high"
    assert "page 'chat'" in finding.summary and BUSY in finding.summary
    assert f"{FRAMES * REPORTS} long tasks" in finding.summary and "ms per second" in finding.summary
    assert "move_work_off_main_thread" in finding.actions
    stats = {s.labels.get("stat") for s in finding.evidence if s.metric == "wf_ui_frame_time_seconds"}
    assert stats == {"mean", "p95"}


@pytest.mark.parametrize(("share", "found"), [(LIMITS.page_script_share * 1.02, True),
                                              (LIMITS.page_script_share * 0.98, False)])
def test_the_page_script_share_is_the_boundary(share: float, found: bool) -> None:
    assert ("UI_PAGE_SCRIPT" in codes(judged(busy_page(script_share=share)))) is found


def test_frames_are_slow_by_the_mean_or_by_the_p95() -> None:
    fine_mean_bad_tail = busy_page()
    tail = [replace(r, frame_mean_s=0.018, frame_p95_s=THRESHOLDS.p95_critical_s * 1.2) for r in fine_mean_bad_tail]
    assert codes(judged(tail)) == ["UI_PAGE_SCRIPT"]
    fine = [replace(r, frame_mean_s=0.018, frame_p95_s=THRESHOLDS.p95_critical_s * 0.9) for r in fine_mean_bad_tail]
    assert judged(fine) == []


HOG = ("4242", "stress-ng")
BROWSER = ("77", "chromium-browse")


def test_a_smooth_page_beside_a_cpu_hog_names_the_hog() -> None:
    tokens = [Sample("wf_llm_decode_tokens_per_second", 12.0, "tokens/s", "canary", {"model": "m"}, T0 + 30)]
    (finding,) = judged(window(mean_ms=40.0), cpu=0.97, hogs={HOG: 1.8, BROWSER: 0.9}, tokens=tokens)
    assert finding.code == "UI_MACHINE_CONTENTION" and finding.priority.value == "high"
    assert "stress-ng (pid 4242) used 1.80 cores" in finding.summary and "97%" in finding.summary
    assert "chromium" not in finding.summary
    names = {s.labels.get("name") for s in finding.evidence if s.metric == "wf_process_cpu_utilization_ratio"}
    assert "stress-ng" in names
    assert any(s.metric == "wf_llm_decode_tokens_per_second" for s in finding.evidence)
    assert "free_cpu_from_culprit" in finding.actions and "lower_council_size" in finding.actions


@pytest.mark.parametrize(("cpu", "cores"), [(LIMITS.contention_cpu * 0.98, 1.8),
                                             (0.97, LIMITS.contention_process_cores * 0.9)])
def test_contention_needs_both_a_busy_machine_and_other_processes_on_it(cpu: float, cores: float) -> None:
    assert judged(window(mean_ms=40.0), cpu=cpu, hogs={HOG: cores}) == []
    assert codes(judged(window(mean_ms=40.0), cpu=LIMITS.contention_cpu * 1.02,
                        hogs={HOG: LIMITS.contention_process_cores * 1.02})) == ["UI_MACHINE_CONTENTION"]


def test_the_browser_itself_is_never_the_culprit() -> None:
    assert judged(window(mean_ms=40.0), cpu=0.97, hogs={BROWSER: 1.9, ("78", "headless_shell"): 1.0}) == []


def test_contention_does_not_call_fine_frames_slow() -> None:
    assert judged(window(), cpu=0.99, hogs={HOG: 1.9}) == []


def test_a_page_owning_its_time_leads_and_contention_follows_at_medium() -> None:
    findings = judged(busy_page(), cpu=0.97, hogs={HOG: 1.8, BROWSER: 1.0})   # the browser had its core
    assert codes(findings) == ["UI_PAGE_SCRIPT", "UI_MACHINE_CONTENTION"]
    assert [f.priority.value for f in findings] == ["high", "medium"]


def test_a_page_starved_of_cpu_is_the_machines_doing_not_the_pages() -> None:
    """Script time is wall time: 750 ms of script per second while the browser got 0.4 cores was mostly waiting."""
    (finding,) = judged(busy_page(), cpu=0.97, hogs={HOG: 1.8, BROWSER: 0.4})
    assert finding.code == "UI_MACHINE_CONTENTION" and finding.priority.value == "high"
    assert "the browser got 0.40 cores" in finding.summary and "750 ms per second" in finding.summary
    fed = 0.75 * LIMITS.main_thread_cpu_share * 1.02     # just above the share of its script's wall time...
    assert codes(judged(busy_page(), cpu=0.97, hogs={HOG: fed * 0.95, BROWSER: fed})) == \
        ["UI_PAGE_SCRIPT", "UI_MACHINE_CONTENTION"]
    # ...but with the other processes taking more than a browser short of one core, the machine took it.
    assert codes(judged(busy_page(), cpu=0.97, hogs={HOG: 1.8, BROWSER: fed})) == ["UI_MACHINE_CONTENTION"]


def test_processes_of_one_name_are_one_culprit() -> None:
    workers = {(str(pid), "llama-server"): 0.3 for pid in (11, 12, 13, 14)} | {("20", "sshd"): 0.01}
    (finding,) = judged(window(mean_ms=40.0), cpu=0.97, hogs=workers)
    assert "llama-server (pids 11, 12, 13, ...) used 1.20 cores" in finding.summary


@pytest.mark.parametrize(("share", "found"), [(LIMITS.forced_layout_share * 1.02, True),
                                              (LIMITS.forced_layout_share * 0.98, False)])
def test_layout_thrashing_is_forced_layout_share_of_a_scripts_time(share: float, found: bool) -> None:
    findings = judged(busy_page(forced_share=share))
    assert ("UI_LAYOUT_THRASHING" in codes(findings)) is found
    if found:
        thrashing = findings[0]
        assert thrashing.code == "UI_LAYOUT_THRASHING"   # the more specific cause first
        assert BUSY in thrashing.summary and "forced style and layout for" in thrashing.summary
        assert "avoid_forced_layout" in thrashing.actions


def test_the_most_specific_cause_explains_slow_frames() -> None:
    causes = judged(busy_page(forced_share=0.6), cpu=0.97, hogs={HOG: 1.8, BROWSER: 1.0})
    assert codes(causes) == ["UI_LAYOUT_THRASHING", "UI_PAGE_SCRIPT", "UI_MACHINE_CONTENTION"]
    mean = [s for s in causes[0].evidence if s.metric == "wf_ui_frame_time_seconds" and s.labels["stat"] == "mean"]
    findings = judge(mean, DATA, "mid", "diagnose", causes).findings
    assert codes(findings)[:2] == ["UI_LAYOUT_THRASHING", "SLOW_FRAMES"]
    assert findings[1].explained_by == "UI_LAYOUT_THRASHING"


def dom_heavy(style_share: float) -> list[FrameReport]:
    loaf = over_budget_s()
    style = style_share * loaf
    return window(mean_ms=SLOW_MS, loaf_s=loaf, style_s=style, script_s=0.2 * loaf,
                  scripts=[ScriptTime(BUSY, "FrameRequestCallback", 0.2 * loaf, 0.0)])


@pytest.mark.parametrize(("share", "found"), [(LIMITS.style_layout_share * 1.02, True),
                                              (LIMITS.style_layout_share * 0.98, False)])
def test_dom_heavy_is_style_and_layout_share_of_long_frames(share: float, found: bool) -> None:
    findings = judged(dom_heavy(share))
    assert ("UI_DOM_HEAVY" in codes(findings)) is found
    if found:
        assert "style and layout took" in findings[0].summary and "virtualise_long_lists" in findings[0].actions


def growing(per_report: float, noise: float = 3.0, field: str = "dom_nodes") -> list[FrameReport]:
    values = [1000 + per_report * i + (noise if i % 3 == 0 else -noise) for i in range(REPORTS)]
    return [replace(report(i), **{field: int(v) if field == "dom_nodes" else v}) for i, v in enumerate(values)]


def test_a_page_adding_dom_nodes_leaks_even_with_fine_frames() -> None:
    (finding,) = judged(growing(60.0))      # a node every frame at 30 FPS: 1,800 nodes a minute
    assert finding.code == "UI_PAGE_LEAK" and "nodes/min" in finding.summary
    assert "+1,800 nodes/min" in finding.summary
    assert {s.metric for s in finding.evidence} == {"wf_ui_dom_nodes"}
    assert "clean_up_on_teardown" in finding.actions


def test_a_growing_js_heap_is_a_leak_in_bytes_per_minute() -> None:
    (finding,) = judged(growing(200_000.0, noise=5_000.0, field="heap_bytes"))
    assert "JS heap" in finding.summary and "bytes/min" in finding.summary


def test_a_flat_or_slowly_growing_dom_is_no_leak() -> None:
    assert judged(growing(0.0)) == []
    below_floor = LIMITS.leak_dom_nodes_per_minute / 30 * 0.5   # half the floor, per 2 s report
    assert judged(growing(below_floor, noise=0.1)) == []


def test_untrusted_page_and_script_text_is_cut_to_one_line() -> None:
    page = "<script>alert(1)</script>\n" + "x" * 500
    script = "javascript:\u0007" + "y" * 400
    reports = [replace(r, page=page, scripts=[ScriptTime(script, "inv\nker", s.duration_s, 0.0) for s in r.scripts])
               for r in busy_page()]
    (finding,) = judged(reports)
    assert "\n" not in finding.summary and "\u0007" not in finding.summary
    assert "<script>alert(1)</script>" in finding.summary       # kept as text, not removed
    assert "x" * 100 not in finding.summary and "y" * 100 not in finding.summary
    assert len(finding.summary) < 600
    assert text("a\nb" + "c" * 200, 10) == "a b" + "c" * 6 + "…"


@settings(max_examples=60, deadline=None)
@given(frames=st.lists(st.integers(0, LIMITS.min_frames // 3), min_size=1, max_size=3),
       mean_ms=st.floats(1, 500), work=st.floats(0, 5), page=st.text(max_size=300))
def test_never_a_frame_verdict_on_fewer_frames_than_the_least(frames: list[int], mean_ms: float, work: float,
                                                               page: str) -> None:
    reports = [report(i, page=page, frames=n, mean_ms=mean_ms, long_tasks=n, long_task_s=work, loaf_s=work,
                      script_s=work, style_s=work, forced_s=work / 2,
                      scripts=[ScriptTime(page, page, work, work / 2)]) for i, n in enumerate(frames)]
    assert judged(reports, cpu=1.0, hogs={HOG: 2.0}) == []


@settings(max_examples=60, deadline=None)
@given(page=st.text(min_size=1, max_size=300), script=st.text(max_size=300),
       name=st.text(max_size=100).filter(lambda n: not any(n.lower().startswith(b) for b in LIMITS.browser_processes)))
def test_every_summary_is_one_bounded_line_whatever_the_page_says(page: str, script: str, name: str) -> None:
    reports = [replace(r, page=page, scripts=[ScriptTime(script, script, s.duration_s, s.duration_s / 2)
                                              for s in r.scripts]) for r in busy_page(forced_share=0.5)]
    findings = judged(reports, cpu=0.97, hogs={("1", name): 1.5, BROWSER: 1.0})
    assert codes(findings) == ["UI_LAYOUT_THRASHING", "UI_PAGE_SCRIPT", "UI_MACHINE_CONTENTION"]
    for finding in findings:
        assert finding.summary.isprintable() and len(finding.summary) < 800
