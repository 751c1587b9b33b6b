"""The decision limits of wfdoctor's own causes (token run, council, memory watch), as data.

The numbers live in the `limits:` section of `wfdoctor/data/facts.yaml`, beside
the tiers and targets, so a user sees and overrides them the same way
(`--facts FILE`). Each field is range-checked on load: a share must lie in
(0, 1], a duration, a core count or a sample count must be positive, so a typo
such as `0` or `70` (for 70 %) stops the command with file:line instead of
silently disabling a cause. `tier_limits:` may override a `tokens` or `council`
limit for one tier; a leak is a property of the process, not of the machine's
tier, so the `leaks` group has no per-tier override.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from wfdoctor.config.yamlfile import Strict

Share = Annotated[float, Field(gt=0, le=1)]
Positive = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(gt=0)]


class TokenLimits(Strict):
    """`wfdoctor tokens`: the knee, stalls and the slow-generation causes (analyze/bottleneck.py)."""

    stall_s: Positive                # an inter-token gap longer than this is a stall
    knee_min_efficiency: Share       # a concurrency step scaling below this share of linear is the knee
    interrupted_share: Share         # failed streams at c>1 (none at c=1) that mean interruption
    serial_ttft_growth: Positive     # TTFT ratio >= this x concurrency ratio: queued, not parallel
    decode_holds: Share              # decode rate at c>1 >= this share of c=1: each stream at full speed
    contention_cpu: Share            # machine CPU busy share during a level
    contention_other_cores: Positive  # cores used by processes other than the server and wfdoctor
    cpu_bound_server_cores: Positive  # server busy at least this many cores...
    gpu_idle: Share                  # ...while the GPU is busy less than this share
    resident_vram_share: Share       # model bytes in VRAM from this share on: the model is resident
    load_share_of_ttft: Share        # server load time >= this share of TTFT...
    min_load_s: Positive             # ...and at least this long: a cold model load
    prefill_share_of_ttft: Share     # prefill >= this share of a TTFT over the tier's target
    client_cores: Positive           # wfdoctor's own client this busy may limit the numbers
    bandwidth_bound_share: Share     # decode at this share of the bandwidth roofline: memory sets the pace
    busy_thread_share: Share         # a thread with this share of the busiest thread's CPU time computes
    low_bit_weights: Positive        # weights at or below this many bits are already quantised
    failed_share_high: Share         # failed requests from this share of a run on: HIGH (fewer: MEDIUM)
    died_min_failed: Count           # lost connections after the last answer from this many on: the server died
    server_queue_share: Share        # SERVER_QUEUEING: requests' time outside the server's work from this share...
    slots_full_share: Share          # ...while busy slots per decode step reach this share of the slots (where known)
    kv_cache_full: Share             # KV_CACHE_FULL: KV cache in use (or a slot's context filled) from this share
    server_prefill_share: Share      # PREFILL_DOMINATED by the server's counters: prompt seconds' share of its work


Percentile = Annotated[float, Field(ge=0, le=100)]


class CapacityLimits(Strict):
    """`wfdoctor tokens --capacity` and the council size search (analyze/capacity.py)."""

    start: Count                     # the first concurrency tried; doubling goes on from it
    ceiling: Count                   # the highest concurrency tried unless --max-concurrency says otherwise
    ttft_percentile: Percentile      # a level's TTFT is this percentile of its requests' TTFTs
    decode_percentile: Percentile    # a level's decode rate is this percentile of its requests' rates
    rounds: Count                    # each stream sends at least this many measured requests per level


class CouncilLimits(Strict):
    """`wfdoctor council`: stragglers and parallelism (analyze/council.py).

    The straggler's minimum delay is the facts' `common.council_sync_delay_ms.warning`:
    the straggler's delay (last finish - median finish) is the sync delay itself.
    """

    straggler_ratio: Positive        # last finish >= this x the median finish
    pair_straggler_ratio: Positive   # two finished: the later >= this x the earlier's finish
    slow_start_share: Share          # a first token this share of the delay late: the start is slow
    serial_alpha: Share              # alpha from here on: members take turns
    decode_holds: Share              # ...while each decodes at >= this share of its solo rate
    contention_alpha: Share          # some parallelism lost...
    contention_decode: Share         # ...and members decode below this share of their solo rate


class LeakLimits(Strict):
    """`wfdoctor memory watch`: the leak verdict (analyze/leaks.py).

    The absolute floor is the facts' `common.memory_leak_bytes_per_minute`.
    """

    alpha: Share                     # Mann-Kendall p-value below this: a significant trend
    relative_floor: Share            # growth over the analysed window >= this share of the level
    min_samples: Count               # fewer samples: insufficient data
    min_duration_s: Positive         # a shorter watch: insufficient data
    monitor_window_s: Positive       # `wfdoctor monitor` judges each process's last this many seconds


class UiLimits(Strict):
    """The UI row: frame reports from wf-perf-monitor.js judged with the machine's evidence (analyze/ui.py).

    "Frames slow" is the facts' `common.frame_time_ms` (mean over warning, or p95 over critical); a page's
    DOM and heap trends use the `leaks` statistics (alpha, relative floor, least data) with the absolute
    floors here, in the series' own units.
    """

    window_s: Positive               # diagnose and the monitor judge each page's last this many seconds
    min_frames: Count                # fewer frames in the window: not judged (never called healthy)
    reports_per_page_per_minute: Count  # the monitor refuses more (429) per (page, session)
    reports_per_minute: Count        # ...and more from all pages and sessions together
    series: Count                    # the monitor's series frame reports may hold (their labels are the pages')
    page_script_share: Share         # the page's own long-task / LoAF time >= this share of the time over budget
    contention_cpu: Share            # UI_MACHINE_CONTENTION: machine CPU busy share...
    contention_process_cores: Positive  # ...and processes other than the browser using this many cores together
    main_thread_cpu_share: Share     # the browser's cores below this share of the page's script wall time: starved
    browser_processes: Annotated[list[str], Field(min_length=1)]  # process names (lower case) that are the browser
    forced_layout_share: Share       # UI_LAYOUT_THRASHING: a script's forced style/layout >= this share of its time
    style_layout_share: Share        # UI_DOM_HEAVY: style/layout >= this share of the long animation frames' time
    leak_dom_nodes_per_minute: Positive  # UI_PAGE_LEAK floors: DOM nodes added per minute...
    leak_heap_bytes_per_minute: Positive  # ...or JS heap bytes per minute


class CompareLimits(Strict):
    """Before/after verdicts (analyze/compare.py): `compare RUN_A RUN_B` and troubleshoot's validation."""

    alpha: Share                     # Mann-Whitney two-sided p below this: the sides differ
    min_effect: Share                # ...by at least this relative shift of the medians
    min_samples: Count               # fewer measurements on a side: inconclusive
    confidence: Share                # the bootstrap interval of the median change
    resamples: Count


class IncidentLimits(Strict):
    """The knowledge base (analyze/incidents.py): which past incidents a new diagnosis is shown with."""

    match_similarity: Share
    shown_matches: Count


class Limits(Strict):
    tokens: TokenLimits
    council: CouncilLimits
    capacity: CapacityLimits
    leaks: LeakLimits
    ui: UiLimits
    compare: CompareLimits
    incidents: IncidentLimits


class TierOverride(Strict):
    """One tier's changes to `limits` (field name -> value); checked once merged."""

    tokens: dict[str, float] = Field(default_factory=dict)
    council: dict[str, float] = Field(default_factory=dict)
