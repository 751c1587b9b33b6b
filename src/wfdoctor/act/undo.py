"""Undo an applied recovery step, from what its log says it changed.

Troubleshoot's validation rolls back an L1 action that made things measurably worse. The
undo reads only the action's record (the `after` evidence of `perform_step`), so a rollback
works the same in the session that applied the action and in a later `troubleshoot
--validate`, in another process: the models it unloaded are loaded again (Ollama's preload),
the setting it lowered gets its previous value back (or is removed, if it was not there).
"""

from __future__ import annotations

import time
from pathlib import Path

from wfdoctor.act.models import preload_model
from wfdoctor.act.settings_file import Previous, SettingsFile
from wfdoctor.model import ActionRecord, WfdoctorError


def _strings(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


async def _reload(record: ActionRecord, reason: str) -> list[ActionRecord]:
    """Preload every model the step unloaded ("url#model" in its log)."""
    undone = []
    for target in _strings(record.after.get("unloading")):
        url, _, model = target.rpartition("#")
        undone.append(await preload_model(url, model, apply=True, reason=reason))
    return undone


def _restore_setting(record: ActionRecord, reason: str) -> list[ActionRecord]:
    """Write back the value the step replaced (its log's `from`), or remove a key that was not there."""
    key, path, previous = record.after.get("setting"), record.after.get("file"), record.after.get("from")
    if not isinstance(key, str) or not isinstance(path, str):
        raise WfdoctorError(f"action '{record.kind}' logged no setting and file: nothing to restore")
    error = ""
    try:
        file = SettingsFile(Path(path))
        file.restore(key, Previous(previous is not None, previous))
    except WfdoctorError as exc:
        error = str(exc)
    return [ActionRecord(kind=f"rollback:{record.kind}", target=f"{path}#{key}", level=record.level,
                         applied=not error, reason=reason, before={"setting": key, "value": record.after.get("to")},
                         after={"setting": key, "value": previous}, error=error, ts=time.time(),
                         outcome="rolled back" if not error else "failed")]


async def undo(record: ActionRecord, reason: str) -> list[ActionRecord]:
    """The logged actions that undid `record`; empty when it changed nothing that can be given back."""
    if not record.applied:
        return []
    if "unloading" in record.after:
        return await _reload(record, reason)
    if "setting" in record.after and "file" in record.after:
        return _restore_setting(record, reason)
    return []
