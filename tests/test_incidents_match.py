"""A new diagnosis against past incidents: the same trouble again ranks first, with what fixed it then."""

from __future__ import annotations

from tests.builders import incident
from wfdoctor.analyze.incidents import match_incidents
from wfdoctor.config.facts import load_facts
from wfdoctor.config.limits import IncidentLimits
from wfdoctor.model import ActionDisposition, IncidentAction, Verdict

LIMITS = load_facts().limits.incidents
HERE = {"hostname": "bench-1", "backend": "llama-cpp-python", "model": "SmolLM2"}


def diagnosis(cause: str = "CPU_CONTENTION", hog: str = "wf-cpu-hog"):
    """The findings a new troubleshooting run would rank: built like a stored incident's."""
    return incident(cause, hog).findings


def test_same_cause_and_same_hog_beats_same_cause_only_beats_another_cause() -> None:
    same_hog = incident("CPU_CONTENTION", "wf-cpu-hog", created_at=1.70e9)
    other_hog = incident("CPU_CONTENTION", "backup-job", created_at=1.71e9)
    other_cause = incident("MEMORY_PRESSURE", "wf-cpu-hog", created_at=1.72e9)
    everything = IncidentLimits(match_similarity=0.01, shown_matches=10)
    matches = match_incidents(diagnosis(), HERE, [other_cause, other_hog, same_hog], everything)
    assert [m.incident for m in matches] == [same_hog, other_hog, other_cause]
    assert matches[0].similarity > matches[1].similarity > matches[2].similarity


def test_the_packaged_floor_shows_the_same_cause_and_leaves_another_cause_out() -> None:
    past = [incident("CPU_CONTENTION", "backup-job"), incident("MEMORY_PRESSURE", "wf-cpu-hog")]
    matches = match_incidents(diagnosis(), HERE, past, LIMITS)
    assert [m.incident.cause for m in matches] == ["CPU_CONTENTION"]
    assert all(m.similarity >= LIMITS.match_similarity for m in matches)


def test_the_reasons_say_in_words_why_it_matched() -> None:
    [match] = match_incidents(diagnosis(), HERE, [incident()], LIMITS)
    assert "same cause CPU_CONTENTION" in match.reasons
    assert "same culprit wf-cpu-hog" in match.reasons
    assert "same machine bench-1" in match.reasons and "same backend llama-cpp-python" in match.reasons
    assert match.similarity == 1.0


def test_a_match_from_another_machine_says_so() -> None:
    elsewhere = incident(fingerprint={"hostname": "laptop", "backend": "ollama", "model": "llama3"})
    [match] = match_incidents(diagnosis(), HERE, [elsewhere], LIMITS)
    assert "another machine: laptop" in match.reasons and "another backend: ollama" in match.reasons
    assert match.similarity < 1.0


def test_fixed_by_lists_what_was_done_when_it_was_validated_improved() -> None:
    done = [IncidentAction("stop", "Stop the hog", "L1", ActionDisposition.APPLIED),
            IncidentAction("renice", "Renice it", "L2", ActionDisposition.COMMAND),
            IncidentAction("tell", "Ask the owner", "L3", ActionDisposition.INSTRUCTIONS)]
    not_done = [IncidentAction(d.value, d.value, "L1", d) for d in
                (ActionDisposition.DRY_RUN, ActionDisposition.DECLINED, ActionDisposition.ROLLED_BACK,
                 ActionDisposition.FAILED)]
    [match] = match_incidents(diagnosis(), HERE, [incident(actions=not_done + done)], LIMITS)
    assert match.fixed_by == done


def test_an_incident_not_validated_as_fixed_fixed_nothing() -> None:
    applied = [IncidentAction("stop", "Stop the hog", "L1", ActionDisposition.APPLIED)]
    past = [incident(status="unresolved", verdict=Verdict.UNCHANGED, actions=applied, created_at=1.7e9),
            incident(status="rolled_back", verdict=Verdict.WORSE, actions=applied, created_at=1.71e9),
            incident(status="open", verdict=Verdict.INCONCLUSIVE, actions=applied, created_at=1.72e9)]
    matches = match_incidents(diagnosis(), HERE, past, LIMITS)
    assert len(matches) == 3 and all(m.fixed_by == [] for m in matches)


def test_at_most_the_shown_number_newest_first_on_a_tie() -> None:
    past = [incident(created_at=1.7e9 + n) for n in range(5)]
    matches = match_incidents(diagnosis(), HERE, past, IncidentLimits(match_similarity=0.5, shown_matches=2))
    assert [m.incident.created_at for m in matches] == [1.7e9 + 4, 1.7e9 + 3]


def test_no_findings_match_nothing() -> None:
    assert match_incidents([], HERE, [incident()], LIMITS) == []
