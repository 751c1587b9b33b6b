"""Token-generation metrics from raw stream traces (pure).

Definitions (docs/tokens.md):
- TTFT: request sent -> first event carrying content. TTFB: request sent -> response headers.
- ITL: every gap between consecutive content events.
- TPOT: (E2E - TTFT) / (output tokens - 1). Decode tokens/s: its inverse.
- E2E: request sent -> stream end.
- Prefill tokens/s: the server's prompt tokens / the server's prefill time.
- Stall: an ITL gap longer than `stall_s` (facts: `limits.tokens.stall_s`).
- Unaccounted: client TTFT - server (load + prefill) = queueing + transport;
  for Ollama also total - load - prefill - decode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import zip_longest

from wfdoctor.analyze.quantiles import interpolated
from wfdoctor.config.limits import TokenLimits
from wfdoctor.measure.tokens import LevelRun, answer_error
from wfdoctor.model import Sample
from wfdoctor.sense.backends.base import StreamTrace

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class Distribution:
    """Percentiles, mean and standard deviation of one metric over requests."""

    n: int
    p50: float
    p90: float
    p95: float
    p99: float
    mean: float
    sd: float
    min: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Distribution | None:
        if not values:
            return None
        ordered = sorted(values)
        p50, p90, p95, p99 = (interpolated(ordered, percent / 100) for percent in PERCENTILES)
        count = len(ordered)
        mean = math.fsum(ordered) / count
        sd = math.sqrt(math.fsum((value - mean) ** 2 for value in ordered) / (count - 1)) if count > 1 else 0.0
        return cls(count, p50, p90, p95, p99, mean, sd, ordered[0], ordered[-1])


@dataclass(frozen=True)
class RequestMetrics:
    """One request, measured. Times in seconds; `None` where not defined."""

    ok: bool
    error: str
    ttft_s: float | None
    ttfb_s: float | None
    e2e_s: float | None
    itl_s: list[float]
    output_tokens: int
    output_tokens_source: str
    tokenizer_tokens: int | None
    tpot_s: float | None
    decode_tps: float | None
    prompt_tokens: int | None
    prefill_tps: float | None
    stalls: int
    server: dict[str, float]
    queue_transport_s: float | None
    server_unaccounted_s: float | None
    sent_ns: int
    done_ns: int | None
    reconnects: int = 0  # sent again on a fresh connection after the server closed the pooled one


def output_token_count(trace: StreamTrace) -> tuple[int, str]:
    """The best output-token count available, and where it came from.

    The server's own count wins (OpenAI `usage`, Ollama `eval_count`: the
    protocol names it on the trace); servers that send neither
    (llama-cpp-python) stream one token per event, so events are counted, and
    the count is checked against the server's tokenizer separately (`tokenizer_tokens`).
    """
    if "completion_tokens" in trace.server:
        return int(trace.server["completion_tokens"]), trace.server_count_source
    return len(trace.pieces), "content events (one token each)"


def request_metrics(trace: StreamTrace, tokens: tuple[int, str], tokenizer_tokens: int | None = None, *,
                    stall_s: float) -> RequestMetrics:
    """Derive every per-request metric from one trace and its token count.

    `tokenizer_tokens` is the server tokenizer's count of the returned text,
    kept beside the count used, as a check.
    """
    count, source = tokens
    ns = 1e9
    ttft = (trace.token_ns[0] - trace.sent_ns) / ns if trace.token_ns else None
    ttfb = (trace.first_byte_ns - trace.sent_ns) / ns if trace.first_byte_ns else None
    e2e = (trace.done_ns - trace.sent_ns) / ns if trace.done_ns else None
    itl = [(b - a) / ns for a, b in zip(trace.token_ns, trace.token_ns[1:])]
    tpot = decode = None
    if ttft is not None and e2e is not None and count > 1 and e2e > ttft:
        tpot = (e2e - ttft) / (count - 1)
        decode = 1.0 / tpot
    server = trace.server
    prompt_tokens = int(server["prompt_tokens"]) if "prompt_tokens" in server else None
    prefill_tps = (prompt_tokens / server["prefill_s"]) if prompt_tokens and server.get("prefill_s") else None
    before_first = server.get("load_s", 0.0) + server.get("prefill_s", 0.0)
    queue_transport = ttft - before_first if ttft is not None and "prefill_s" in server else None
    unaccounted = None
    if "total_s" in server:
        unaccounted = server["total_s"] - sum(server.get(k, 0.0) for k in ("load_s", "prefill_s", "decode_s"))
    error = answer_error(trace)
    return RequestMetrics(
        ok=not error, error=error, ttft_s=ttft, ttfb_s=ttfb, e2e_s=e2e, itl_s=itl,
        output_tokens=count, output_tokens_source=source, tokenizer_tokens=tokenizer_tokens, tpot_s=tpot, decode_tps=decode,
        prompt_tokens=prompt_tokens, prefill_tps=prefill_tps, stalls=sum(1 for gap in itl if gap > stall_s),
        server=dict(server), queue_transport_s=queue_transport, server_unaccounted_s=unaccounted,
        sent_ns=trace.sent_ns, done_ns=trace.done_ns, reconnects=trace.reconnects,
    )


@dataclass(frozen=True)
class LevelSummary:
    """All measured requests at one concurrency level."""

    concurrency: int
    requests: int
    ok: int
    errors: dict[str, int]
    throughput_tps: float | None
    wall_s: float
    stalls: int
    metrics: dict[str, Distribution] = field(default_factory=dict)
    token_sources: list[str] = field(default_factory=list)
    reconnects: int = 0  # requests sent again on a fresh connection: the server closed a kept-alive one

    def p50(self, metric: str) -> float | None:
        dist = self.metrics.get(metric)
        return dist.p50 if dist else None


def error_kind(error: str) -> str:
    """Group errors by their kind, without per-request counts in the text."""
    return error.split(" after ")[0]


def summarize_level(concurrency: int, requests: list[RequestMetrics]) -> LevelSummary:
    """Distributions over the successful requests; errors counted by kind."""
    good = [r for r in requests if r.ok]
    errors: dict[str, int] = {}
    for request in requests:
        if not request.ok:
            kind = error_kind(request.error)
            errors[kind] = errors.get(kind, 0) + 1
    starts = [r.sent_ns for r in requests]
    ends = [r.done_ns for r in requests if r.done_ns]
    wall = (max(ends) - min(starts)) / 1e9 if starts and ends else 0.0
    produced = sum(r.output_tokens for r in good)
    series: dict[str, list[float]] = {
        "ttft_s": [r.ttft_s for r in good if r.ttft_s is not None],
        "ttfb_s": [r.ttfb_s for r in good if r.ttfb_s is not None],
        "e2e_s": [r.e2e_s for r in good if r.e2e_s is not None],
        "itl_s": [gap for r in good for gap in r.itl_s],
        "tpot_s": [r.tpot_s for r in good if r.tpot_s is not None],
        "decode_tps": [r.decode_tps for r in good if r.decode_tps is not None],
        "prefill_tps": [r.prefill_tps for r in good if r.prefill_tps is not None],
        "output_tokens": [float(r.output_tokens) for r in good],
        "queue_transport_s": [r.queue_transport_s for r in good if r.queue_transport_s is not None],
        "server_unaccounted_s": [r.server_unaccounted_s for r in good if r.server_unaccounted_s is not None],
    }
    for key in ("load_s", "prefill_s", "decode_s", "total_s"):
        series[f"server_{key}"] = [r.server[key] for r in good if key in r.server]
    metrics = {name: dist for name, values in series.items() if (dist := Distribution.of(values)) is not None}
    return LevelSummary(
        concurrency=concurrency, requests=len(requests), ok=len(good), errors=errors,
        throughput_tps=produced / wall if wall > 0 and produced else None, wall_s=wall,
        stalls=sum(r.stalls for r in good), metrics=metrics,
        token_sources=sorted({r.output_tokens_source for r in good}),
        reconnects=sum(r.reconnects for r in requests),
    )


@dataclass(frozen=True)
class Knee:
    """Where throughput stops growing with concurrency."""

    concurrency: int | None
    explanation: str


def find_knee(levels: list[LevelSummary], limits: TokenLimits) -> Knee:
    """The last concurrency after which adding streams stops adding throughput.

    Between two levels, scaling efficiency = (throughput gain - 1) / (concurrency
    ratio - 1): 1 is perfect scaling, 0 is none. The knee is the first level
    whose step to the next has efficiency below `limits.knee_min_efficiency`.
    """
    ordered = [lv for lv in sorted(levels, key=lambda lv: lv.concurrency) if lv.throughput_tps]
    if len(ordered) < 2:
        return Knee(None, "needs at least two concurrency levels with output")
    for low, high in zip(ordered, ordered[1:]):
        gain = high.throughput_tps / low.throughput_tps  # type: ignore[operator]
        efficiency = (gain - 1) / (high.concurrency / low.concurrency - 1)
        if efficiency < limits.knee_min_efficiency:
            return Knee(low.concurrency, (
                f"throughput stops scaling at concurrency {low.concurrency}: {low.throughput_tps:.1f} tokens/s there, "
                f"{high.throughput_tps:.1f} at {high.concurrency} ({efficiency:.0%} of linear scaling)"))
    top = ordered[-1]
    return Knee(None, f"throughput still scales at concurrency {top.concurrency} ({top.throughput_tps:.1f} tokens/s)")


def level_metrics(level: LevelRun, stall_s: float) -> list[RequestMetrics]:
    """Per-request metrics of one measured level, with the server tokenizer's count beside each."""
    return [request_metrics(trace, output_token_count(trace), count, stall_s=stall_s)
            for trace, count in zip_longest(level.traces, level.token_counts[: len(level.traces)])
            if trace is not None]


SOURCE = "wfdoctor tokens (client-measured)"
SUMMARY_METRICS = {
    "ttft_s": ("wf_llm_time_to_first_token_seconds", "s"),
    "ttfb_s": ("wf_llm_time_to_first_byte_seconds", "s"),
    "itl_s": ("wf_llm_inter_token_latency_seconds", "s"),
    "tpot_s": ("wf_llm_time_per_output_token_seconds", "s"),
    "decode_tps": ("wf_llm_decode_tokens_per_second", "tokens/s"),
    "prefill_tps": ("wf_llm_prefill_tokens_per_second", "tokens/s"),
    "e2e_s": ("wf_llm_e2e_latency_seconds", "s"),
}
REQUEST_METRICS = (("ttft_s", "wf_llm_request_ttft_seconds", "s"),
                   ("decode_tps", "wf_llm_request_decode_tokens_per_second", "tokens/s"),
                   ("e2e_s", "wf_llm_request_e2e_seconds", "s"))


def summary_samples(levels: list[LevelSummary]) -> list[Sample]:
    """Level statistics as Samples (what the triage rules and the history read)."""
    out: list[Sample] = []
    for level in levels:
        labels = {"concurrency": str(level.concurrency)}
        for key, (metric, unit) in SUMMARY_METRICS.items():
            dist = level.metrics.get(key)
            if dist is None:
                continue
            for stat in ("p50", "p90", "p95", "p99", "mean"):
                out.append(Sample(metric, getattr(dist, stat), unit, SOURCE, labels | {"stat": stat}))
        if level.throughput_tps:
            out.append(Sample("wf_llm_output_tokens_per_second", level.throughput_tps, "tokens/s", SOURCE, labels))
        out.append(Sample("wf_llm_failed_requests", float(level.requests - level.ok), "requests", SOURCE, labels))
        out.append(Sample("wf_llm_connection_retries", float(level.reconnects), "requests", SOURCE, labels))
    return out


def request_samples(requests: dict[int, list[RequestMetrics]]) -> list[Sample]:
    """One sample per successful request and metric, for history and regression checks."""
    out: list[Sample] = []
    for concurrency, metrics in requests.items():
        for index, request in enumerate(metrics):
            if not request.ok:
                continue
            labels = {"concurrency": str(concurrency), "request": str(index),
                      "tokens_source": request.output_tokens_source}
            for key, metric, unit in REQUEST_METRICS:
                value = getattr(request, key)
                if value is not None:
                    out.append(Sample(metric, value, unit, SOURCE, labels))
    return out
