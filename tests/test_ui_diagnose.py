"""`wfdoctor diagnose` judges the UI row on what pages reported to a running monitor."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.test_ui_judgement import BUSY, T0, busy_page, machine, window
from wfdoctor.analyze.ui import UiContext
from wfdoctor.app.datafiles import load_data_files
from wfdoctor.app.frames import frame_samples
from wfdoctor.app.ui import ui_judge, ui_row
from wfdoctor.model import FrameReport, Run, Sample
from wfdoctor.store.db import Store


def seed(db: Path, reports: list[FrameReport], cpu: float = 0.3,
         hogs: dict[tuple[str, str], float] | None = None) -> None:
    """A monitor-like run, still running, holding the last minute's frame reports and machine readings."""
    shift = time.time() - 5 - max(r.ts for r in reports)    # the newest report 5 s ago
    cpu_samples, processes = machine(cpu, hogs or {})
    samples = [s for r in reports for s in frame_samples(replace(r, ts=r.ts + shift))]
    samples += [replace(s, ts=s.ts + shift) for s in cpu_samples + processes]
    with Store.open(db) as store:
        run = Run(command="monitor", started_at=T0 + shift - 60)
        store.begin_run(run)
        store.add_samples(run.id or 0, samples)


def diagnose(wfdoctor: Any, closed_url: str) -> dict[str, Any]:
    result = wfdoctor("diagnose", "--json", "--window", "0.3", "--backend", closed_url, "--no-embedded",
                      "--fail-on", "never")
    assert result.code == 0 and "Traceback" not in result.stderr, result.stderr
    return result.json()


def row(doc: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in doc["rows"] if r["id"] == "ui_freezing")


def test_diagnose_names_the_busy_page_and_the_hog_beside_the_smooth_one(tmp_path: Path, wfdoctor,
                                                                         closed_url: str) -> None:
    busy = [replace(r, page="busy") for r in busy_page()]
    calm = [replace(r, page="calm") for r in window(mean_ms=40.0)]
    seed(tmp_path / "wfdoctor.db", busy + calm, cpu=0.97, hogs={("4242", "stress-ng"): 1.8,
                                                                 ("77", "chromium"): 1.0})
    doc = diagnose(wfdoctor, closed_url)
    ui = [f for f in doc["findings"] if f["row"] == "ui_freezing"]
    by_page = {(f["code"], f["summary"].split("'")[1]): f for f in ui if f["code"].startswith("UI_")}
    page_script = by_page[("UI_PAGE_SCRIPT", "busy")]
    assert BUSY in page_script["summary"] and page_script["priority"] in ("high", "critical")
    hog = by_page[("UI_MACHINE_CONTENTION", "calm")]
    assert "stress-ng (pid 4242)" in hog["summary"] and hog["priority"] in ("high", "critical")
    assert by_page[("UI_MACHINE_CONTENTION", "busy")]["priority"] == "medium"   # the page owns its time
    slow = next(f for f in ui if f["code"] == "SLOW_FRAMES")
    assert slow["explained_by"] == "UI_PAGE_SCRIPT"
    assert row(doc)["status"] == "findings"
    assert {"UI_PAGE_SCRIPT", "UI_MACHINE_CONTENTION", "SLOW_FRAMES"} <= set(row(doc)["findings"])


def test_pages_with_fine_frames_are_healthy_and_none_reporting_is_not_measured(tmp_path: Path, wfdoctor,
                                                                             closed_url: str) -> None:
    assert row(diagnose(wfdoctor, closed_url))["status"] == "not_measured"
    seed(tmp_path / "wfdoctor.db", window())
    assert row(diagnose(wfdoctor, closed_url))["status"] == "ok"


def test_too_few_frames_stay_not_measured_with_a_note(tmp_path: Path) -> None:
    db = tmp_path / "few.db"
    seed(db, busy_page()[:1])
    data = load_data_files(None, [])
    with Store.open(db) as store:
        ui = ui_row(store, data.facts, data.rulebook.remedies)
    assert ui.causes == [] and ui.samples == []
    assert len(ui.notes) == 1 and "page 'chat' reported 30 frames" in ui.notes[0]


def test_only_the_window_is_read(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    seed(db, busy_page())
    data = load_data_files(None, [])
    with Store.open(db) as store:
        now = ui_row(store, data.facts, data.rulebook.remedies)
        later = ui_row(store, data.facts, data.rulebook.remedies, now=time.time() + 3600)
    assert [f.code for f in now.causes] == ["UI_PAGE_SCRIPT"]
    assert [s.metric for s in now.samples] == ["wf_ui_frame_time_seconds"]
    assert later == type(later)([], [], [])


def test_samples_of_other_metrics_are_not_mistaken_for_frames(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    seed(db, window())
    with Store.open(db) as store:
        run = Run(command="diagnose", started_at=time.time())
        store.begin_run(run)
        store.add_samples(run.id or 0, [Sample("wf_memory_used_ratio", 0.5, "ratio", "test", {"page": "x"})])
        data = load_data_files(None, [])
        ui = ui_row(store, data.facts, data.rulebook.remedies)
    assert ui.causes == [] and len(ui.samples) == 1 and ui.samples[0].labels["page"] == "chat"


def test_slow_frames_read_the_slowest_page_not_an_average_of_pages(tmp_path: Path) -> None:
    db = tmp_path / "two.db"
    seed(db, [replace(r, page="smooth") for r in window()] + [replace(r, page="slow") for r in window(mean_ms=30.0)])
    data = load_data_files(None, [])
    with Store.open(db) as store:
        ui = ui_row(store, data.facts, data.rulebook.remedies)
    (mean,) = ui.samples
    assert mean.labels["page"] == "slow" and mean.value == pytest.approx(0.030)


def test_the_monitor_judges_its_window_like_diagnose() -> None:
    data = load_data_files(None, [])
    judge = ui_judge(data.facts, data.rulebook.remedies)
    cpu, processes = machine(0.97, {("4242", "stress-ng"): 1.8})
    assert [f.code for f in judge(UiContext(window(mean_ms=40.0), cpu, processes))] == ["UI_MACHINE_CONTENTION"]
