"""The `diagnose --json` document (schema `wfdoctor.diagnose/v1`, docs/json-output.md).

Field names here are a public contract: add fields freely, never rename or
remove one without bumping the schema version.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any

from wfdoctor.model import RuleStatus, Run
from wfdoctor.surface.diagnose import Diagnosis

SCHEMA_ID = "wfdoctor.diagnose/v1"


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat() if ts is not None else None


def run_header(schema: str, run: Run, exit_code: int) -> dict[str, Any]:
    """The fields every command's JSON document starts with."""
    return {"schema": schema, "run_id": run.id, "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at), "exit_code": exit_code}


def row_statuses(diagnosis: Diagnosis) -> list[dict[str, Any]]:
    """Each triage-matrix row with what was found, passed, or not measured."""
    rows = []
    for row in diagnosis.rulebook.rows.values():
        results = [r for r in diagnosis.results if r.row == row.id]
        found = [r.finding.code for r in results if r.finding is not None]
        missing = [r for r in results if r.status is RuleStatus.NOT_MEASURED]
        if found:
            status = "findings"
        elif results and len(missing) == len(results):
            status = "not_measured"
        elif missing:
            status = "partial"
        else:
            status = "ok" if results else "no_rules"
        rows.append({
            "id": row.id,
            "symptom": row.symptom,
            "likely_cause": row.likely_cause,
            "priority": row.priority.value,
            "action": row.action,
            "status": status,
            "findings": found,
            "checked": [r.rule_id for r in results if r.status is not RuleStatus.NOT_MEASURED],
            "not_measured": [
                {"rule_id": r.rule_id, "inputs": r.missing_inputs, "measured_by": r.measured_by} for r in missing
            ],
        })
    return rows


def diagnosis_doc(diagnosis: Diagnosis, fail_on: str, exit_code: int) -> dict[str, Any]:
    run, tier = diagnosis.run, diagnosis.tier
    referenced = {action for finding in diagnosis.findings for action in finding.actions}
    return {
        "schema": SCHEMA_ID,
        "run_id": run.id,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "window_s": round(diagnosis.snapshot.window_s, 3),
        "healthy": not diagnosis.findings,
        "fail_on": fail_on,
        "exit_code": exit_code,
        "environment": run.environment,
        "tier": {
            "name": tier.tier,
            "rule": tier.rule,
            "explanation": tier.explanation(),
            "decided_by": [dataclasses.asdict(limit) for limit in tier.decided_by],
            "limits": [dataclasses.asdict(limit) for limit in tier.limits],
            "targets": tier.targets.model_dump(),
            "thresholds": tier.thresholds.model_dump(),
            "notes": tier.notes,
            "source": diagnosis.facts.source,
        },
        "gpu": {
            "found": diagnosis.snapshot.gpu.found,
            "status": diagnosis.snapshot.gpu.status,
            "devices": [{k: v for k, v in dev.items() if k != "processes"} for dev in diagnosis.snapshot.gpu.gpus],
        },
        "backends": [dataclasses.asdict(backend) for backend in diagnosis.backends],
        "findings": [f.to_dict() for f in diagnosis.findings],
        "rows": row_statuses(diagnosis),
        "actions": {
            action_id: diagnosis.rulebook.actions[action_id].model_dump(exclude={"id"})
            for action_id in sorted(referenced)
        },
        "notes": diagnosis.notes,
        "samples": [s.to_dict() for s in run.samples],
    }
