"""A new diagnosis against past incidents: which are like it, why, and what fixed them.

Similarity is a weighted sum of parts, each in 0..1, the weights summing to 1:

| part | weight | measures |
|---|---|---|
| cause | CAUSE_WEIGHT (0.45) | the past incident's cause is the new top cause (its full weight), or among the new findings but not first (CAUSE_PRESENT_SHARE of it) |
| findings | CODES_WEIGHT (0.15) | Jaccard overlap of the finding codes (causes and symptoms) |
| culprits | CULPRITS_WEIGHT (0.15) | Jaccard overlap of the culprits the evidence names: its CULPRIT_LABELS (a hog's process name, a page's script, a model), wfdoctor's own names left out |
| evidence | METRICS_WEIGHT (0.10) | Jaccard overlap of the evidence's metric names |
| machine | MACHINE_WEIGHT (0.05) | the same host (fingerprint `hostname`) |
| backend | BACKEND_WEIGHT (0.10) | half for the same implementation (`backend`), half for the same `model` |

Why these weights: the cause is what the incident is about, so the same cause alone (with its usual
findings) reaches the usual floor (`limits.incidents.match_similarity`, 0.5) and another cause hardly
ever does; the culprit is what says "this is the same trouble again" (the same hog process); where it
happened counts least, because a team shares incidents across machines, and a match from another
machine or server is still worth seeing (the reasons say so). The weights are the ranking's design,
documented here; the floor and how many are shown are judgements and live in data/facts.yaml.

`fixed_by` is what fixed it last time: only for an incident validated as fixed (status "resolved",
verdict IMPROVED), its actions that were done: applied by wfdoctor, or handed to the user as a command or
instructions (the user did them, and the re-measurement showed the improvement). Dry runs, declined,
failed and rolled-back actions fixed nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from wfdoctor.config.limits import IncidentLimits
from wfdoctor.model import ActionDisposition, Finding, Incident, IncidentAction, Verdict

CAUSE_WEIGHT = 0.45
CAUSE_PRESENT_SHARE = 0.5      # of CAUSE_WEIGHT: the past cause is a new finding, but not the top one
CODES_WEIGHT = 0.15
CULPRITS_WEIGHT = 0.15
METRICS_WEIGHT = 0.10
MACHINE_WEIGHT = 0.05
BACKEND_WEIGHT = 0.10          # half the implementation, half the model

# Evidence labels that name what caused the trouble, and the names of wfdoctor's own parts that are no culprit.
CULPRIT_LABELS = ("name", "script", "model")
NOT_CULPRITS = frozenset({"", "?", "server", "wfdoctor"})
DONE = frozenset({ActionDisposition.APPLIED, ActionDisposition.COMMAND, ActionDisposition.INSTRUCTIONS})


@dataclass(frozen=True)
class IncidentMatch:
    """A past incident like the new diagnosis: how alike (0..1), why in words, and what fixed it then."""

    incident: Incident
    similarity: float
    reasons: list[str]
    fixed_by: list[IncidentAction]


@dataclass(frozen=True)
class _Profile:
    """What a diagnosis is compared by."""

    top_cause: str
    codes: frozenset[str]
    culprits: frozenset[str]
    metrics: frozenset[str]
    fingerprint: Mapping[str, str]


def match_incidents(findings: Sequence[Finding], fingerprint: Mapping[str, str], past: Sequence[Incident],
                    limits: IncidentLimits) -> list[IncidentMatch]:
    """The past incidents at least `limits.match_similarity` alike, best first (newer first on a tie), at most
    `limits.shown_matches`. No findings: nothing to match."""
    if not findings:
        return []
    new = _profile(findings, fingerprint)
    scored = [_match(new, incident) for incident in past]
    kept = [m for m in scored if m.similarity >= limits.match_similarity]
    kept.sort(key=lambda m: (-m.similarity, -m.incident.created_at))
    return kept[:limits.shown_matches]


def fixed_by(incident: Incident) -> list[IncidentAction]:
    """The actions done in an incident validated as fixed; none for any other incident."""
    if incident.status != "resolved" or incident.verdict is not Verdict.IMPROVED:
        return []
    return [action for action in incident.actions if action.disposition in DONE]


def _profile(findings: Sequence[Finding], fingerprint: Mapping[str, str]) -> _Profile:
    evidence = [sample for finding in findings for sample in finding.evidence]
    culprits = {sample.labels.get(label, "") for sample in evidence for label in CULPRIT_LABELS}
    return _Profile(top_cause=findings[0].code if findings else "", codes=frozenset(f.code for f in findings),
                    culprits=frozenset(culprits - NOT_CULPRITS), metrics=frozenset(s.metric for s in evidence),
                    fingerprint=fingerprint)


def _match(new: _Profile, incident: Incident) -> IncidentMatch:
    old = _profile(incident.findings, incident.fingerprint)
    parts = [_cause(new, incident.cause), _overlap(CODES_WEIGHT, new.codes, old.codes, "finding codes"),
             _overlap(CULPRITS_WEIGHT, new.culprits, old.culprits, "culprit"),
             _overlap(METRICS_WEIGHT, new.metrics, old.metrics, "evidence metrics"),
             *_where(new.fingerprint, incident.fingerprint)]
    similarity = min(1.0, sum(score for score, _ in parts))
    return IncidentMatch(incident, round(similarity, 4), [reason for _, reason in parts if reason], fixed_by(incident))


Part = tuple[float, str]   # a share of the similarity, and the reason it gives (empty: none worth saying)


def _cause(new: _Profile, cause: str) -> Part:
    if cause and cause == new.top_cause:
        return CAUSE_WEIGHT, f"same cause {cause}"
    if cause in new.codes:
        return CAUSE_WEIGHT * CAUSE_PRESENT_SHARE, f"its cause {cause} is among the findings (not the top one)"
    return 0.0, ""


def _overlap(weight: float, new: frozenset[str], old: frozenset[str], what: str) -> Part:
    shared = new & old
    if not shared:
        return 0.0, ""
    score = weight * len(shared) / len(new | old)
    return score, f"same {what} {_names(shared)}" if len(shared) < 4 else \
        f"{len(shared)} of {len(new | old)} {what} shared"


def _where(new: Mapping[str, str], old: Mapping[str, str]) -> list[Part]:
    """The machine and the backend, said either way: a match from elsewhere is shown as such."""
    parts = [_same(MACHINE_WEIGHT, new, old, "hostname", "machine")]
    parts += [_same(BACKEND_WEIGHT / 2, new, old, key, key) for key in ("backend", "model")]
    return parts


def _same(weight: float, new: Mapping[str, str], old: Mapping[str, str], key: str, what: str) -> Part:
    ours, theirs = new.get(key, ""), old.get(key, "")
    if not ours or not theirs:
        return 0.0, ""
    if ours == theirs:
        return weight, f"same {what} {ours}"
    return 0.0, f"another {what}: {theirs}"


def _names(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))
