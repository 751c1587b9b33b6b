"""The server's own view of each level, and the causes it proves (pure).

A token run reads what the server says about itself just before a level's measured requests and
again after they end (`LevelRun.server_before`, `server_after`). The counters' differences are the
level's work as the server counted it: prompt and generated tokens, seconds spent on prompts and on
generation, seconds requests waited in its queue (vLLM), busy slots per decode step (llama.cpp). The
gauges (requests waiting, KV-cache use) are also read while the level streams (`server_during`), and
each is the highest of all its readings: a peak as sampled, which a shorter peak between two readings
can exceed.

Causes: requests waiting for a slot (every slot busy and much of each request's time spent outside
one), a KV cache near full (or preemptions), and prompt processing as most of the server's time. Where
the client's timings already named the same cause, the server's numbers join its evidence instead of
making a second finding. Limits: the facts' `limits.tokens`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from wfdoctor.analyze.remedies import RemedyId
from wfdoctor.analyze.tokens import LevelSummary
from wfdoctor.config.limits import TokenLimits
from wfdoctor.config.remedies import Remedies
from wfdoctor.model import Finding, Priority, Sample
from wfdoctor.sense.backends.base import ServerView

ROW = "slow_token_generation"
SYMPTOM = "Slow token generation"


@dataclass(frozen=True)
class ServerLevel:
    """One level as the server counted it (None where the server does not say, or a counter went back:
    a restarted server). Sums are over all the level's requests."""

    concurrency: int
    source: str
    prompt_tokens: float | None = None
    generated_tokens: float | None = None
    prefill_s: float | None = None
    decode_s: float | None = None
    queue_s: float | None = None            # seconds waited in the server's queue (vLLM)
    finished: float | None = None           # requests the server finished (vLLM)
    busy_slots: float | None = None         # mean busy slots per decode step (llama.cpp)
    slots_total: int | None = None
    kv_cache_ratio: float | None = None     # KV-cache blocks in use, the highest reading
    context_fill: float | None = None       # llama.cpp: the longest sequence the level reached / a slot's context
    waiting: float | None = None            # requests waiting, the highest reading
    preemptions: float | None = None        # vLLM: requests evicted for KV-cache room
    vram_ratio: float | None = None         # Ollama: share of the loaded models' bytes in VRAM
    gauge_readings: int = 2                 # the readings the gauges are the highest of (before, during, after)

    @property
    def prefill_share(self) -> float | None:
        """Prompt processing's share of the server's working seconds."""
        if self.prefill_s is None or self.decode_s is None or self.prefill_s + self.decode_s <= 0:
            return None
        return self.prefill_s / (self.prefill_s + self.decode_s)


def _diff(before: float | None, after: float | None) -> float | None:
    return after - before if before is not None and after is not None and after >= before else None


def _highest(values: Iterable[float | None]) -> float | None:
    return max((v for v in values if v is not None), default=None)


def counted_waiting(count: float) -> str:
    """The server's own waiting count, in the one wording `tokens` and `--capacity` share: the highest reading of a
    gauge that llama.cpp keeps only for the requests its HTTP threads took in, so a floor."""
    return f"the server counted {count:.0f} waiting for a slot at its busiest reading"


def _ratio(part: float | None, whole: float | None) -> float | None:
    return part / whole if part is not None and whole else None


def server_level(concurrency: int, before: ServerView | None, after: ServerView | None,
                 during: Sequence[ServerView] = ()) -> ServerLevel | None:
    """The counters' differences of two views of the same server (None when either said nothing), and its gauges'
    highest readings, those `during` the level included (a llama.cpp reading whose /slots failed is still one)."""
    if before is None or after is None or not after.source or before.source != after.source:
        return None
    readings = [before, *(view for view in during if view.source), after]
    steps = _diff(before.decode_steps, after.decode_steps)
    busy = _diff(before.busy_slot_steps, after.busy_slot_steps)
    grew = _diff(before.longest_sequence, after.longest_sequence)
    return ServerLevel(
        concurrency=concurrency, source=after.source,
        prompt_tokens=_diff(before.prompt_tokens, after.prompt_tokens),
        generated_tokens=_diff(before.generated_tokens, after.generated_tokens),
        prefill_s=_diff(before.prefill_s, after.prefill_s), decode_s=_diff(before.decode_s, after.decode_s),
        queue_s=_diff(before.queue_s, after.queue_s), finished=_diff(before.finished, after.finished),
        busy_slots=busy / steps if busy is not None and steps else None, slots_total=after.slots_total,
        kv_cache_ratio=_highest(view.kv_cache_ratio for view in readings),
        context_fill=_ratio(after.longest_sequence, after.slot_context) if grew else None,
        waiting=_highest(view.waiting for view in readings), preemptions=_diff(before.preemptions, after.preemptions),
        vram_ratio=_ratio(after.model_vram_bytes, after.model_bytes), gauge_readings=len(readings))


# field of ServerLevel -> (metric, unit): the registered samples of a level's view (data/metrics.yaml)
SERIES = {"prompt_tokens": ("wf_llm_server_view_prompt_tokens", "tokens"),
          "generated_tokens": ("wf_llm_server_view_generated_tokens", "tokens"),
          "prefill_s": ("wf_llm_server_view_prefill_seconds", "s"),
          "decode_s": ("wf_llm_server_view_decode_seconds", "s"),
          "prefill_share": ("wf_llm_server_view_prefill_share_ratio", "ratio"),
          "queue_s": ("wf_llm_server_view_queue_seconds", "s"),
          "busy_slots": ("wf_llm_server_view_busy_slots", "slots"),
          "slots_total": ("wf_llm_server_view_slots", "slots"),
          "kv_cache_ratio": ("wf_llm_server_view_kv_cache_ratio", "ratio"),
          "context_fill": ("wf_llm_server_view_context_fill_ratio", "ratio"),
          "waiting": ("wf_llm_server_view_waiting_requests", "requests"),
          "preemptions": ("wf_llm_server_view_preemptions", "requests"),
          "vram_ratio": ("wf_llm_server_view_vram_ratio", "ratio")}
QUEUE_SHARE = "wf_llm_server_view_queue_share_ratio"  # computed with the client's E2E: evidence only
KV_WORDS = {"kv_cache_ratio": "KV cache in use", "context_fill": "of a slot context filled"}


def _sample(level: ServerLevel, metric: str, unit: str, value: float) -> Sample:
    return Sample(metric, float(value), unit, level.source, {"concurrency": str(level.concurrency)})


def _series(level: ServerLevel, *names: str) -> list[Sample]:
    """The level's registered samples of the fields `names` that it has."""
    return [_sample(level, *SERIES[name], value) for name in names if (value := getattr(level, name)) is not None]


def view_samples(levels: list[ServerLevel]) -> list[Sample]:
    """Each level's view as samples labelled with its concurrency, sourced from the endpoint read."""
    return [sample for level in levels for sample in _series(level, *SERIES)]


def _finding(code: str, cause: str, priority: Priority, summary: str, actions: list[str],
             evidence: list[Sample]) -> Finding:
    return Finding(rule_id=f"tokens.{code.lower()}", code=code, row=ROW, symptom=SYMPTOM, cause=cause,
                   priority=priority, actions=actions, evidence=evidence, summary=summary)


def _waiting_share(level: ServerLevel, summary: LevelSummary) -> float | None:
    """The share of the requests' time spent outside the server's work: vLLM's queue time, else (llama.cpp) the
    requests' end-to-end seconds less the seconds the server's slots spent on them."""
    e2e = summary.metrics.get("e2e_s")
    total = e2e.mean * e2e.n if e2e else None
    if not total:
        return None
    if level.queue_s is not None:
        return min(level.queue_s / total, 1.0)
    if level.prefill_s is None or level.decode_s is None:
        return None
    return max(total - level.prefill_s - level.decode_s, 0.0) / total


def _queueing(levels: list[ServerLevel], summaries: dict[int, LevelSummary], implementation: str,
              limits: TokenLimits, remedies: Remedies) -> Finding | None:
    """Requests waited for the server: most of their time outside its work, with every slot busy (where known)."""
    for level in sorted(levels, key=lambda lv: -lv.concurrency):
        summary = summaries.get(level.concurrency)
        share = _waiting_share(level, summary) if summary else None
        # Evidence that requests queued: the server's own queue time (vLLM), requests it said were waiting, or every
        # slot busy while they waited.
        full = level.queue_s is not None or (level.waiting is not None and level.waiting >= 1) or \
            (level.busy_slots is not None and level.slots_total is not None and
             level.busy_slots >= limits.slots_full_share * level.slots_total)
        if share is None or share < limits.server_queue_share or not full or level.concurrency < 2:
            continue
        slots = "" if level.busy_slots is None or level.slots_total is None else \
            f"; {level.busy_slots:.1f} of {level.slots_total} slots busy per decode step"
        waiting = f"; {counted_waiting(level.waiting)}" if level.waiting else ""
        evidence = [_sample(level, QUEUE_SHARE, "ratio", share)] + _series(level, "busy_slots", "waiting")
        return _finding("SERVER_QUEUEING", "requests wait for the server: every slot is busy and the rest queue",
                        Priority.HIGH,
                        f"at concurrency {level.concurrency} requests spent {share:.0%} of their time waiting "
                        f"outside the server's work ({level.source}){slots}{waiting}",
                        remedies.actions(RemedyId.SERVER_QUEUEING, implementation), evidence)
    return None


def _kv_cache(levels: list[ServerLevel], implementation: str, limits: TokenLimits,
              remedies: Remedies) -> Finding | None:
    """The KV cache near full (vLLM's blocks, llama.cpp's slot context filled), or requests evicted for room."""
    for level in sorted(levels, key=lambda lv: -lv.concurrency):
        full = [name for name in ("kv_cache_ratio", "context_fill")   # a share above 1 is no share: not evidence
                if (value := getattr(level, name)) is not None and limits.kv_cache_full <= value <= 1.0]
        if not full and not level.preemptions:
            continue
        evidence = _series(level, *full) + (_series(level, "preemptions") if level.preemptions else [])
        use = ", ".join(f"{getattr(level, name):.0%} {KV_WORDS[name]}" for name in full)
        evicted = f"{level.preemptions:.0f} requests preempted for room" if level.preemptions else ""
        return _finding("KV_CACHE_FULL", "the KV cache is (nearly) full: requests wait, are cut short or evicted",
                        Priority.MEDIUM,
                        f"at concurrency {level.concurrency}: {'; '.join(t for t in (use, evicted) if t)} "
                        f"({level.source})", remedies.actions(RemedyId.KV_CACHE_FULL, implementation), evidence)
    return None


def _prefill(levels: list[ServerLevel], summaries: dict[int, LevelSummary], implementation: str,
             limits: TokenLimits, ttft_target_s: float, remedies: Remedies) -> Finding | None:
    """Prompt processing as most of the server's seconds, where TTFT misses the tier's target."""
    for level in sorted(levels, key=lambda lv: lv.concurrency):
        summary = summaries.get(level.concurrency)
        ttft = summary.p50("ttft_s") if summary else None
        share = level.prefill_share
        if ttft is None or share is None or ttft <= ttft_target_s or share < limits.server_prefill_share:
            continue
        return _finding("PREFILL_DOMINATED", "prompt processing (prefill) dominates TTFT", Priority.MEDIUM,
                        f"the server spent {share:.0%} of its seconds on prompts at concurrency {level.concurrency} "
                        f"({level.source}); TTFT p50 {ttft:.2f} s",
                        remedies.actions(RemedyId.PREFILL_DOMINATED, implementation),
                        _series(level, "prefill_share"))
    return None


def _merged(found: list[Finding], new: Finding, joins: frozenset[str]) -> list[Finding]:
    """`found` with `new`, or with its evidence and summary joined to the finding in `joins` already naming
    the cause."""
    same = next((f for f in found if f.code in joins), None)
    if same is None:
        return found + [new]
    joined = replace(same, evidence=same.evidence + new.evidence,
                     summary=f"{same.summary}; by the server: {new.summary}")
    return [joined if f is same else f for f in found]


def with_server_view(found: list[Finding], levels: list[ServerLevel], summaries: list[LevelSummary],
                     implementation: str, *, limits: TokenLimits, ttft_target_s: float,
                     remedies: Remedies) -> list[Finding]:
    """The causes `found` from the client's timings, with what the server's own view proves added."""
    by_level = {summary.concurrency: summary for summary in summaries}
    findings = list(found)
    queueing = _queueing(levels, by_level, implementation, limits, remedies)
    if queueing is not None:
        findings = _merged(findings, queueing, frozenset({"SERVER_SERIALISES", "SERVER_QUEUEING"}))
    kv_cache = _kv_cache(levels, implementation, limits, remedies)
    if kv_cache is not None:
        findings = _merged(findings, kv_cache, frozenset({"KV_CACHE_FULL"}))
    prefill = _prefill(levels, by_level, implementation, limits, ttft_target_s, remedies)
    if prefill is not None:
        findings = _merged(findings, prefill, frozenset({"PREFILL_DOMINATED"}))
    return sorted(findings, key=lambda f: f.priority.rank)
