"""The JSON Schema of every `--json` document, generated from the document classes.

The files in `wfdoctor/data/schemas` are this module's output (`scripts/gen_schemas.py`);
a test regenerates them and fails when they drift, and the suite validates real
command output against them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from wfdoctor.store.incident_json import ExportJson
from wfdoctor.surface.views import (capacity, compare, council, diagnose, guide, history, incidents, memory, monitor, recover,
                                    regress, report, tokens, troubleshoot)

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_DIR = Path(__file__).resolve().parent.parent.parent / "data" / "schemas"
DOCUMENTS: dict[str, tuple[type[BaseModel], str]] = {
    diagnose.SCHEMA_ID: (diagnose.DiagnoseDocument, "wfdoctor diagnose --json"),
    tokens.SCHEMA_ID: (tokens.TokensDocument, "wfdoctor tokens --json"),
    capacity.SCHEMA_ID: (capacity.CapacityDocument, "wfdoctor tokens --capacity --json"),
    council.SCHEMA_ID: (council.CouncilDocument, "wfdoctor council --json"),
    memory.WATCH_SCHEMA_ID: (memory.WatchDocument, "wfdoctor memory watch --json"),
    memory.PROFILE_SCHEMA_ID: (memory.ProfileDocument, "wfdoctor memory profile --json"),
    memory.MODELS_SCHEMA_ID: (memory.ModelsDocument, "wfdoctor memory models / unload / preload / evict --json"),
    regress.CHECK_SCHEMA_ID: (regress.CheckDocument, "wfdoctor regress check --json"),
    regress.SHOW_SCHEMA_ID: (regress.ShowDocument, "wfdoctor regress show --json"),
    regress.RECORD_SCHEMA_ID: (regress.RecordDocument, "wfdoctor regress record --json"),
    recover.SCHEMA_ID: (recover.RecoverDocument, "wfdoctor recover --json"),
    history.SCHEMA_ID: (history.HistoryDocument, "wfdoctor history --json (an array of runs)"),
    monitor.SCHEMA_ID: (monitor.AlertsDocument, "wfdoctor alerts list --json"),
    troubleshoot.SCHEMA_ID: (troubleshoot.TroubleshootDocument, "wfdoctor troubleshoot --json"),
    guide.SCHEMA_ID: (guide.GuideDocument, "wfdoctor guide --json"),
    compare.SCHEMA_ID: (compare.CompareDocument, "wfdoctor compare --json"),
    incidents.LIST_SCHEMA_ID: (incidents.ListDocument, "wfdoctor incidents list / search --json"),
    incidents.SHOW_SCHEMA_ID: (incidents.ShowDocument, "wfdoctor incidents show --json"),
    incidents.IMPORT_SCHEMA_ID: (incidents.ImportDocument, "wfdoctor incidents import --json"),
    incidents.EXPORTED_SCHEMA_ID: (incidents.ExportedDocument, "wfdoctor incidents export --out FILE --json"),
    incidents.EXPORT_FILE_SCHEMA_ID: (ExportJson, "wfdoctor incidents export (the file; import reads it)"),
    report.SCHEMA_ID: (report.ReportFilesDocument, "wfdoctor report --json"),
}


def file_name(schema_id: str) -> str:
    """`wfdoctor.memory-watch/v1` -> `memory-watch.v1.schema.json`."""
    name, version = schema_id.removeprefix("wfdoctor.").split("/")
    return f"{name}.{version}.schema.json"


def schema_of(schema_id: str) -> dict[str, Any]:
    document, title = DOCUMENTS[schema_id]
    generated = document.model_json_schema(by_alias=True, mode="serialization")
    return {"$schema": DRAFT, "$id": schema_id, **generated, "title": f"{title} output, version "
            f"{schema_id.rsplit('/v', 1)[1]}"}


def rendered() -> dict[str, str]:
    """File name -> the text it must hold."""
    return {file_name(schema_id): json.dumps(schema_of(schema_id), indent=2) + "\n" for schema_id in DOCUMENTS}


def write_all(folder: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    for name, text in rendered().items():
        (folder / name).write_text(text, encoding="utf-8")
        written.append(folder / name)
    return written
