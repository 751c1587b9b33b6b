"""The diagnose report and JSON on a GPU machine, from NVML readings recorded on an H100."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

import wfdoctor
from tests.conftest import FIXTURES
from wfdoctor.measure import snapshot
from wfdoctor.sense.gpu_nvml import GpuReport, parse_gpus
from wfdoctor.surface.views import diagnose as view


@pytest.fixture
def recorded_h100(monkeypatch: pytest.MonkeyPatch) -> None:
    record = json.loads((FIXTURES / "nvml_h100_loaded.json").read_text())

    def replay(process_names: dict[int, str] | None = None) -> GpuReport:
        return GpuReport(parse_gpus(record["devices"], {417: "python3"}), record["devices"], record["status"])

    monkeypatch.setattr(snapshot, "probe_gpus", replay)


def test_gpu_table_and_vram_finding_appear_in_report_and_json(recorded_h100, tmp_path: Path, closed_url) -> None:
    options = wfdoctor.DiagnoseOptions(window_s=0.2, backend_urls=[closed_url], embedded=False)
    report = wfdoctor.diagnose(options, db=tmp_path / "w.db")
    console = Console(record=True, width=200)
    view.render(report, console)
    text = console.export_text()
    assert "NVIDIA H100 80GB HBM3" in text and "1 NVIDIA GPU(s), driver 580.159.04" in text
    assert "VRAM_EXHAUSTION" in text and "python3 (pid 417)" in text
    doc = view.document(report, "high", 1).model_dump(mode="json", by_alias=True)
    assert doc["gpu"]["found"] and doc["gpu"]["devices"][0]["memory_total_bytes"] == 85520809984
    vram = next(limit for limit in doc["tier"]["limits"] if limit["resource"] == "largest GPU VRAM")
    assert vram["measured"] == 79.6 and vram["allows"] == "high"
    assert {"VRAM_EXHAUSTION", "HIGH_GPU_UTILIZATION"} <= {f["code"] for f in doc["findings"]}
