"""What `wfdoctor tokens` shows: Rich tables, the `wfdoctor.tokens/v1` document, the CSV rows."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from wfdoctor.analyze.roofline import Roofline
from wfdoctor.analyze.server_view import ServerLevel
from wfdoctor.analyze.tokens import Distribution, Knee, LevelSummary, RequestMetrics
from wfdoctor.app.reports.tokens import TokensReport
from wfdoctor.config.facts import Targets, Thresholds
from wfdoctor.model import Finding
from wfdoctor.surface.views.common import RunDocument, Variants, print_conclusion, run_fields, schema_field
from wfdoctor.surface.views.safe import plain

SCHEMA_ID = "wfdoctor.tokens/v1"


def _ms(dist: Distribution | None, stat: str = "p50") -> str:
    return f"{getattr(dist, stat) * 1000:.1f}" if dist else "-"


def _num(dist: Distribution | None, stat: str = "p50") -> str:
    return f"{getattr(dist, stat):.1f}" if dist else "-"


def _trio(dist: Distribution | None) -> str:
    """p50/p95/p99 in ms, compact."""
    return "/".join(_ms(dist, stat) for stat in ("p50", "p95", "p99")) if dist else "-"


def client_table(levels: list[LevelSummary]) -> Table:
    table = Table(title="Client view: times in ms as p50/p95/p99; rates in tokens/s", title_justify="left")
    for column in ("conc", "ok", "TTFT", "TTFB", "ITL", "TPOT", "decode p50 (mean±sd)", "E2E", "thru", "stall"):
        table.add_column(column, justify="right")
    for lv in levels:
        m = lv.metrics
        decode = m.get("decode_tps")
        table.add_row(
            str(lv.concurrency), f"{lv.ok}/{lv.requests}", _trio(m.get("ttft_s")), _ms(m.get("ttfb_s")),
            _trio(m.get("itl_s")), _ms(m.get("tpot_s")),
            f"{_num(decode)} ({_num(decode, 'mean')}±{_num(decode, 'sd')})" if decode else "-",
            _trio(m.get("e2e_s")), f"{lv.throughput_tps:.1f}" if lv.throughput_tps else "-", str(lv.stalls),
        )
    return table


def server_table(levels: list[LevelSummary]) -> Table | None:
    if not any("server_prefill_s" in lv.metrics or "server_load_s" in lv.metrics for lv in levels):
        return None
    table = Table(title="Server view (its own timings, ms p50) beside the client's", title_justify="left")
    for column in ("conc.", "load", "prefill", "prefill tok/s", "decode", "queue+transport (TTFT - load - "
                   "prefill)", "unaccounted (total - parts)"):
        table.add_column(column, justify="right")
    for lv in levels:
        m = lv.metrics
        table.add_row(str(lv.concurrency), _ms(m.get("server_load_s")), _ms(m.get("server_prefill_s")),
                      _num(m.get("prefill_tps")), _ms(m.get("server_decode_s")), _ms(m.get("queue_transport_s")),
                      _ms(m.get("server_unaccounted_s")))
    return table


def _value(value: float | None, form: str) -> str:
    return format(value, form) if value is not None else "-"


def server_view_table(views: list[ServerLevel], requests: dict[int, list[RequestMetrics]]) -> Table | None:
    """Each level as the server counted it (its /metrics, /slots or /api/ps), the client's token count beside."""
    if not views:
        return None
    table = Table(title=f"The server's own view ({views[0].source}), per level", title_justify="left")
    for column in ("conc.", "generated (client)", "prompt tok", "prefill s", "decode s", "prefill share",
                   "queue s", "busy slots", "waiting", "KV cache"):
        table.add_column(column, justify="right")
    for view in views:
        client = sum(r.output_tokens for r in requests.get(view.concurrency, []) if r.ok)
        slots = f"{view.busy_slots:.1f}/{view.slots_total or '?'}" if view.busy_slots is not None else "-"
        table.add_row(str(view.concurrency), f"{_value(view.generated_tokens, '.0f')} ({client})",
                      _value(view.prompt_tokens, ".0f"), _value(view.prefill_s, ".2f"), _value(view.decode_s, ".2f"),
                      _value(view.prefill_share, ".0%"), _value(view.queue_s, ".2f"), slots,
                      _value(view.waiting, ".0f"), _value(view.kv_cache_ratio or view.context_fill, ".0%"))
    return table


def render(report: TokensReport, console: Console, all_variants: bool = False) -> None:
    slots = report.server_slots
    slots_text = f" ({slots} slot{'' if slots == 1 else 's'})" if slots else ""
    console.print(Text.assemble(("wfdoctor tokens", "bold"), plain(
        f"  run {report.run.id}: {report.implementation} at {report.backend_url}{slots_text}, model {report.model}, "
        f"tier {report.tier.tier}")))
    if report.interrupted:
        console.print(Text("Interrupted: the results below cover the requests that finished.", style="yellow"))
    console.print(client_table(report.levels))
    for lv in report.levels:
        if lv.errors:
            console.print(Text(f"concurrency {lv.concurrency}: " + "; ".join(
                plain(f"{count} x {kind}") for kind, count in lv.errors.items()), style="red"))
    server = server_table(report.levels)
    if server is not None:
        console.print(server)
    own = server_view_table(report.server_view, report.requests)
    if own is not None:
        console.print(own)
    console.print(f"Saturation: {report.knee.explanation}")
    targets = report.tier.targets
    console.print(f"Tier {report.tier.tier} targets: decode >= {targets.decode_tokens_per_second:g} tokens/s, "
                  f"TTFT <= {targets.ttft_seconds:g} s, P95 latency <= {targets.p95_latency_seconds:g} s")
    if report.roofline:
        console.print(f"Physical limit: {report.roofline.explanation()}; {report.roofline_note}")
    else:
        console.print(Text(f"Physical limit: not computed ({report.roofline_note})", style="dim"))
    print_conclusion(console, report.findings, report.rulebook, report.notes, healthy="No bottleneck found.",
                     variants=Variants(frozenset({report.implementation}), all_variants))


class BackendDoc(BaseModel):
    url: str
    implementation: str
    protocol: str
    model: str
    embedded: bool
    slots: int | None = None  # requests the server generates at once, where it says (llama.cpp's /props)


class TokensTierDoc(BaseModel):
    name: str
    targets: Targets
    thresholds: Thresholds


class TokensDocument(RunDocument):
    schema_id: str = schema_field(SCHEMA_ID)
    interrupted: bool
    backend: BackendDoc
    settings: dict[str, Any]
    tier: TokensTierDoc
    levels: list[LevelSummary]
    knee: Knee
    roofline: Roofline | None
    roofline_note: str
    findings: list[Finding]
    requests: dict[str, list[RequestMetrics]]   # by concurrency level
    notes: list[str]
    server_view: list[ServerLevel] = []  # each level as the server counted it (docs/server-view.md)


def document(report: TokensReport, exit_code: int) -> TokensDocument:
    """The `tokens --json` document (docs/tokens.md)."""
    return TokensDocument(
        **run_fields(report.run, exit_code),
        interrupted=report.interrupted,
        backend=BackendDoc(url=report.backend_url, implementation=report.implementation, protocol=report.protocol,
                           model=report.model, embedded=report.embedded, slots=report.server_slots),
        settings=report.run.settings,
        tier=TokensTierDoc(name=report.tier.tier, targets=report.tier.targets, thresholds=report.tier.thresholds),
        levels=report.levels, knee=report.knee, roofline=report.roofline, roofline_note=report.roofline_note,
        findings=report.findings, requests={str(c): reqs for c, reqs in report.requests.items()}, notes=report.notes,
        server_view=report.server_view,
    )


CSV_FIELDS = ["concurrency", "request", "ok", "error", "ttft_s", "ttfb_s", "e2e_s", "tpot_s", "decode_tps",
              "output_tokens", "output_tokens_source", "tokenizer_tokens", "prompt_tokens", "prefill_tps", "stalls",
              "queue_transport_s", "server_unaccounted_s", "itl_mean_s", "itl_max_s"]


def csv_row(concurrency: int, index: int, request: RequestMetrics) -> dict[str, Any]:
    row = {name: getattr(request, name) for name in CSV_FIELDS if hasattr(request, name)}
    return row | {"concurrency": concurrency, "request": index,
                  "itl_mean_s": sum(request.itl_s) / len(request.itl_s) if request.itl_s else None,
                  "itl_max_s": max(request.itl_s) if request.itl_s else None}


def write_csv(report: TokensReport, path: Path) -> None:
    """One row per measured request."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for concurrency, requests in report.requests.items():
            for index, request in enumerate(requests):
                writer.writerow(csv_row(concurrency, index, request))
