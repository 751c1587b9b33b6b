"""`wfdoctor regress`: record, check (the CI gate), show; and the real-series case."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import wfdoctor
from tests.conftest import start_cpu_hogs, stop_cpu_hogs
from wfdoctor.analyze.regression import Settings, detect_changes


def write_csv(path: Path, values: list[float], metric: str = "wf_llm_decode_tokens_per_second") -> Path:
    lines = ["timestamp,metric,value,revision"]
    lines += [f"{1_790_000_000 + 3600 * i},{metric},{v:.3f},rev{i:03d}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    return path


def series(step_at: int | None, n: int = 40, factor: float = 0.85, seed: int = 0) -> list[float]:
    values = 40 * (1 + 0.03 * np.random.default_rng(seed).standard_normal(n))
    if step_at is not None:
        values[step_at:] *= factor
    return list(values)


def test_check_fails_the_build_on_a_regression_at_the_end(wfdoctor, tmp_path: Path) -> None:
    assert wfdoctor("regress", "record", str(write_csv(tmp_path / "r.csv", series(30)))).code == 0
    result = wfdoctor("regress", "check", "--json", "--markdown", str(tmp_path / "comment.md"))
    assert result.code == 1, result.stderr
    [verdict] = result.json()["series"]
    assert verdict["discovery"] and verdict["regression_at_end"]["index"] == 30
    assert verdict["regression_at_end"]["revision"] == "rev030"
    assert "rev030" in (tmp_path / "comment.md").read_text()


def test_check_passes_on_noise_and_on_improvements(wfdoctor, tmp_path: Path) -> None:
    wfdoctor("regress", "record", str(write_csv(tmp_path / "noise.csv", series(None))))
    wfdoctor("regress", "record", str(write_csv(tmp_path / "better.csv", series(30, factor=1.2),
                                                metric="wf_council_speedup_ratio")))
    result = wfdoctor("regress", "check", "--json")
    assert result.code == 0, result.stdout
    kinds = {v["metric"]: [c["kind"] for c in v["changes"]] for v in result.json()["series"]}
    assert kinds["wf_council_speedup_ratio"] == ["improvement"]


def test_pytest_benchmark_json_is_imported(wfdoctor, tmp_path: Path) -> None:
    jitter = np.random.default_rng(1).normal(1.0, 0.02, 16)
    for i in range(16):
        median = 0.010 * jitter[i] * (1.3 if i >= 10 else 1.0)
        report = {"datetime": f"2026-11-{i + 1:02d}T10:00:00", "commit_info": {"id": f"c{i}"},
                  "benchmarks": [{"name": "test_parse", "stats": {"median": median}}]}
        (tmp_path / f"b{i}.json").write_text(json.dumps(report))
        assert wfdoctor("regress", "record", str(tmp_path / f"b{i}.json")).code == 0
    doc = wfdoctor("regress", "check", "--json").json()
    [verdict] = doc["series"]
    assert verdict["metric"] == "pytest_benchmark_test_parse_seconds"
    assert verdict["regression_at_end"]["revision"] == "c10"


def test_the_specs_window_mode_uses_a_real_two_sample_test(wfdoctor, tmp_path: Path) -> None:
    values = series(28, n=40, factor=0.9)  # hourly points: the last 12 hours 10 % slower
    wfdoctor("regress", "record", str(write_csv(tmp_path / "r.csv", values)))
    result = wfdoctor("regress", "check", "--mode", "window", "--window-hours", "11.5", "--json")
    assert result.code == 1
    [verdict] = result.json()["series"]
    assert verdict["regression_at_end"]["index"] == 28 and verdict["regression_at_end"]["p_value"] < 0.01
    too_short = wfdoctor("regress", "check", "--mode", "window", "--window-hours", "5", "--json").json()
    assert too_short["series"][0]["changes"] == []  # fewer than 10 recent samples: no verdict


def test_show_prints_the_series_and_writes_an_svg(wfdoctor, tmp_path: Path) -> None:
    wfdoctor("regress", "record", str(write_csv(tmp_path / "r.csv", series(25))))
    result = wfdoctor("regress", "show", "wf_llm_decode_tokens_per_second", "--plot", str(tmp_path / "p.svg"))
    assert result.code == 0 and "<- regression" in result.stdout
    plot = (tmp_path / "p.svg").read_text()
    assert plot.startswith("<?xml") and "<svg" in plot  # the report's plotting code: axes, units, change points
    assert "<!-- wf_llm_decode_tokens_per_second (tokens/s) -->" in plot  # matplotlib keeps each text as a comment
    assert "<!-- point (one per run or imported result, oldest first) -->" in plot
    assert "<!-- regression " in plot


def test_a_bad_results_file_is_a_clear_error(wfdoctor, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,metric,value\n1,m,not-a-number\n")
    result = wfdoctor("regress", "record", str(bad))
    assert result.code == 2 and f"{bad}:2:" in result.stderr


def test_diagnose_reads_the_latest_check_into_gradual_degradation(wfdoctor, tmp_path: Path) -> None:
    wfdoctor("regress", "record", str(write_csv(tmp_path / "r.csv", series(30))))
    wfdoctor("regress", "check")
    doc = wfdoctor("diagnose", "--json", "--window", "0.2", "--no-embedded", "--backend", "http://127.0.0.1:9",
                   "--fail-on", "never").json()
    row = next(r for r in doc["rows"] if r["id"] == "gradual_degradation")
    assert row["findings"] == ["REGRESSION"]


def test_a_cpu_hog_after_20_real_token_runs_is_found_at_run_20(llm_server) -> None:
    rates = []
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "w.db"
        # 48 tokens a request: a decode rate over fewer tokens is too noisy to place the change to the run.
        options = wfdoctor.TokensOptions(backend_url=llm_server.base_url, runs=3, warmup=0, max_tokens=48,
                                         measure_bandwidth=False)
        wfdoctor.measure_tokens(options, db=db)  # the server's first requests are slower: not part of the series
        hogs: list[subprocess.Popen[bytes]] = []
        try:
            for run in range(40):
                if run == 20:
                    # Six hogs, each in its own session, as other programs are (the kernel's autogroup
                    # scheduling shares the CPU by session first): the server keeps about a quarter of its
                    # rate, a drop far beyond what the shared machine's own slow spells do to it.
                    hogs = start_cpu_hogs()
                report = wfdoctor.measure_tokens(options, db=db)
                rates.append(report.levels[0].p50("decode_tps"))
        finally:
            stop_cpu_hogs(hogs)
    changes = [c for c in detect_changes(rates, Settings(higher_is_better=True)) if c.kind == "regression"]
    # The hog's drop is the largest; a shared machine may add a smaller real one of its own before it
    # (clean-clone CI runs saw the server slow 12 % at run 7, and 29 % at run 14, both correctly reported;
    # one hog a core then took only 34 % and 20 % more: six take about three quarters).
    assert changes and min(changes, key=lambda c: c.change_pct).index == 20, (rates, changes)
