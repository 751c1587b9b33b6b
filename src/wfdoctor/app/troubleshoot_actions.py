"""Troubleshoot's step 3 (apply) and its rollback: the actions for the top cause, by escalation level.

The spec's escalation matrix says who acts at each level, and troubleshoot keeps to it:
- L1 (automatic, reversible): performed through the recovery ladder's own code
  (`act/recovery.perform_step`) when the catalogue links the action to a ladder step and the
  user gave `--apply`; a dry run otherwise. Logged either way, with memory before and after.
- L2 (user-initiated): the exact setting or command for the measured server is printed.
- L3-L4 (manual, restart/reinstall): instructions.
With `--interactive` each L1 action is asked for first, and each L2-L4 action is asked about
afterwards ("did you do it?"), so the incident records what a person did as well.
A validated "worse" rolls back every action wfdoctor applied (`act/undo`), logged the same way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Protocol

from wfdoctor.act.recovery import StepContext, perform_step
from wfdoctor.act.undo import undo
from wfdoctor.app.progress import Progress
from wfdoctor.config.recovery import RecoveryLadder
from wfdoctor.config.rules import RuleBook
from wfdoctor.model import ActionDisposition, Finding, IncidentAction, WfdoctorError
from wfdoctor.store.db import Store


class Asker(Protocol):
    """How `--interactive` asks a person (the CLI reads the terminal; tests answer in code)."""

    def confirm(self, question: str) -> bool:
        """True for yes."""


@dataclass(frozen=True)
class Proposal:
    """One catalogue action for the top cause, fitted to the measured server."""

    action_id: str
    title: str
    level: str
    detail: str                    # the concrete setting for this server, else what the action changes
    recovery_step: str | None      # the ladder step that performs it (L1), if any


def proposals(cause: Finding, rulebook: RuleBook, implementation: str) -> list[Proposal]:
    """The cause's actions (already fitted to what was measured by the judge), lowest level first."""
    out = []
    for action_id in cause.actions:
        action = rulebook.actions.get(action_id)
        if action is None:
            continue
        variants = action.variants_for(frozenset({implementation}))
        detail = "; ".join(variants.values()) or action.changes
        out.append(Proposal(action_id, action.title, action.level, detail, action.recovery_step))
    return sorted(out, key=lambda p: p.level)


@dataclass(frozen=True)
class ApplyContext:
    """What step 3 needs besides the proposals: the ladder, the step context (apply or not) and the log."""

    ladder: RecoveryLadder
    step_context: StepContext
    store: Store
    run_id: int                    # the troubleshoot run the logged actions belong to
    asker: Asker | None = None     # None: not interactive


def _ladder_action(proposal: Proposal, ctx: ApplyContext, progress: Progress) -> IncidentAction:
    step = ctx.ladder.step(proposal.recovery_step or "")
    wanted = ctx.step_context.apply
    if wanted and ctx.asker is not None and not ctx.asker.confirm(
            f"Apply {proposal.level} '{proposal.title}' ({proposal.detail})?"):
        return IncidentAction(proposal.action_id, proposal.title, proposal.level, ActionDisposition.DECLINED,
                              "declined when asked")
    progress.note(f"{'applying' if wanted else 'dry run of'} {proposal.level} '{proposal.title}' "
                  f"(recovery step {step.id})")
    result = asyncio.run(perform_step(step, ctx.step_context))
    record = result.record
    ctx.store.add_action(ctx.run_id, record)
    if record.error:
        return IncidentAction(proposal.action_id, proposal.title, proposal.level, ActionDisposition.FAILED,
                              record.error, record)
    disposition = ActionDisposition.APPLIED if record.applied else ActionDisposition.DRY_RUN
    detail = f"{record.outcome}: {proposal.detail}" if record.outcome else proposal.detail
    return IncidentAction(proposal.action_id, proposal.title, proposal.level, disposition, detail, record)


def _person_action(proposal: Proposal, ctx: ApplyContext) -> IncidentAction:
    """An action for a person: the command (L2) or instructions (L3-L4, and an L1 no ladder step performs)."""
    disposition = ActionDisposition.COMMAND if proposal.level == "L2" else ActionDisposition.INSTRUCTIONS
    detail = proposal.detail
    if ctx.asker is not None and ctx.asker.confirm(
            f"{proposal.level} '{proposal.title}': {detail}\n  Did you do it (y), or leave it (n)?"):
        disposition = ActionDisposition.DONE
    return IncidentAction(proposal.action_id, proposal.title, proposal.level, disposition, detail)


def take_actions(found: list[Proposal], ctx: ApplyContext, progress: Progress) -> list[IncidentAction]:
    """Each proposal performed, dry-run, printed or asked about, by its level (see the module docstring)."""
    taken = []
    for proposal in found:
        if proposal.level == "L1" and proposal.recovery_step:
            taken.append(_ladder_action(proposal, ctx, progress))
        else:
            taken.append(_person_action(proposal, ctx))
    return taken


def mark_done(actions: list[IncidentAction], action_ids: list[str]) -> list[IncidentAction]:
    """`--fixed-by`: the actions a person says they did, marked so; an id not proposed is a usage error."""
    known = {a.action_id for a in actions}
    unknown = [a for a in action_ids if a not in known]
    if unknown:
        raise WfdoctorError(f"--fixed-by {', '.join(unknown)}: not an action of this incident (one of "
                            f"{', '.join(sorted(known)) or 'none'})")
    return [replace(a, disposition=ActionDisposition.DONE) if a.action_id in action_ids
            and a.disposition is not ActionDisposition.APPLIED else a for a in actions]


def roll_back(actions: list[IncidentAction], store: Store, run_id: int, reason: str,
              progress: Progress) -> list[IncidentAction]:
    """Every action wfdoctor applied, undone (most recent first) and logged; the others unchanged."""
    out = list(actions)
    for index in reversed(range(len(out))):
        action = out[index]
        if action.disposition is not ActionDisposition.APPLIED or action.record is None:
            continue
        progress.note(f"rolling back '{action.title}': {reason}")
        try:
            undone = asyncio.run(undo(action.record, reason))
        except WfdoctorError as exc:
            out[index] = replace(action, detail=f"{action.detail}; rollback failed: {exc}")
            continue
        for record in undone:
            store.add_action(run_id, record)
        errors = [r.error for r in undone if r.error]
        if errors:
            out[index] = replace(action, detail=f"{action.detail}; rollback failed: {'; '.join(errors)}")
        elif undone:
            out[index] = replace(action, disposition=ActionDisposition.ROLLED_BACK,
                                 detail=f"{action.detail}; rolled back ({reason}): "
                                        + ", ".join(f"{r.kind} {r.target}" for r in undone))
        else:
            out[index] = replace(action, detail=f"{action.detail}; nothing to roll back (it changed nothing)")
    return out
