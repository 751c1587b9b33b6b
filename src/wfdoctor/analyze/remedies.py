"""The remedy ids wfdoctor's own causes name, declared once.

The action lists live in the rule files (`data/rules/40-remedies.yaml`); the
data files are checked against this list when they load, so a missing remedy
stops the command with its name instead of failing mid-diagnosis.
"""

from __future__ import annotations

from enum import StrEnum


class RemedyId(StrEnum):
    SERIALISED_SERVER = "serialised_server"
    STREAMS_INTERRUPTED = "streams_interrupted"
    THROUGHPUT_SATURATED = "throughput_saturated"
    CPU_CONTENTION = "cpu_contention"
    CPU_BOUND = "cpu_bound"
    CPU_ONLY_MODEL = "cpu_only_model"
    PARTIAL_GPU_OFFLOAD = "partial_gpu_offload"
    COLD_MODEL_LOAD = "cold_model_load"
    PREFILL_DOMINATED = "prefill_dominated"
    SERVER_QUEUEING = "server_queueing"
    KV_CACHE_FULL = "kv_cache_full"
    CLIENT_OVERHEAD = "client_overhead"
    COUNCIL_MEMBER_FAILED = "council_member_failed"
    COUNCIL_STRAGGLER = "council_straggler"
    COUNCIL_CONTENTION = "council_contention"
    MEMORY_LEAK = "memory_leak"
    MEMORY_GROWTH_PLATEAU = "memory_growth_plateau"
    NO_SERVER = "no_server"
    SERVER_UNAVAILABLE = "server_unavailable"
    SERVER_ERRORS = "server_errors"
    SERVER_DIED = "server_died"
    EMPTY_RESPONSES = "empty_responses"
    REQUESTS_FAILED = "requests_failed"
    UI_MACHINE_CONTENTION = "ui_machine_contention"
    UI_PAGE_SCRIPT = "ui_page_script"
    UI_LAYOUT_THRASHING = "ui_layout_thrashing"
    UI_DOM_HEAVY = "ui_dom_heavy"
    UI_PAGE_LEAK = "ui_page_leak"
