"""What `wfdoctor diagnose` shows: the terminal report (Rich) and the `wfdoctor.diagnose/v1` document.

Every number shown is a Sample (with its source) or a named facts value; the
view only chooses what to show and formats it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from wfdoctor.analyze.tiers import Limit
from wfdoctor.analyze.triage import MissingInput, RowStatus
from wfdoctor.analyze.ui import ROW as UI_ROW, text
from wfdoctor.app.reports.diagnose import BackendStatus, DiagnoseReport
from wfdoctor.config.facts import Targets, Thresholds
from wfdoctor.config.rules import Action
from wfdoctor.model import Finding, Sample
from wfdoctor.surface.views.common import RunDocument, Variants, print_conclusion, run_fields, schema_field
from wfdoctor.surface.views.safe import plain, shown
from wfdoctor.units import format_bytes, format_value, subject

SCHEMA_ID = "wfdoctor.diagnose/v1"
PAGE_CHARS = 40   # a page name in the matrix: the findings below show it whole (up to 80)
ROW_STATUS_STYLE = {"findings": "bold red", "ok": "green", "partial": "green", "not_measured": "dim",
                    "no_rules": "dim"}


def _values(samples: list[Sample], metric: str) -> list[Sample]:
    return [s for s in samples if s.metric == metric]


def _one(samples: list[Sample], metric: str, **labels: str) -> Sample | None:
    return next((s for s in _values(samples, metric) if all(s.labels.get(k) == v for k, v in labels.items())), None)


def _fmt(sample: Sample | None) -> str:
    return format_value(sample.value, sample.unit) if sample else "n/a"


def system_table(samples: list[Sample]) -> Table:
    table = Table(title="System", show_header=False, title_justify="left", expand=False)
    table.add_column("what", style="bold")
    table.add_column("measured")
    table.add_column("source", style="dim")
    cores = _values(samples, "wf_cpu_core_utilization_ratio")
    busiest = max(cores, key=lambda s: s.value, default=None)
    cpu = _one(samples, "wf_cpu_utilization_ratio")
    table.add_row("CPU busy", f"{_fmt(cpu)} average over {len(cores)} cores"
                  + (f", busiest core {busiest.label('core')} at {_fmt(busiest)}" if busiest else ""),
                  cpu.source if cpu else "")
    load = [_one(samples, "wf_cpu_load_average", window=w) for w in ("1m", "5m", "15m")]
    table.add_row("Load average", " / ".join(f"{s.value:.2f}" for s in load if s) + " (1/5/15 min)",
                  "psutil.getloadavg")
    freq = _one(samples, "wf_cpu_frequency_ratio")
    current = _one(samples, "wf_cpu_frequency_hertz", kind="current")
    table.add_row("CPU clock", f"{_fmt(current)}" + (f" ({_fmt(freq)} of max)" if freq else " (max not reported)"),
                  "psutil.cpu_freq")
    total = _one(samples, "wf_memory_total_bytes")
    available = _one(samples, "wf_memory_available_bytes")
    used = _one(samples, "wf_memory_used_ratio")
    table.add_row("Memory", f"{_fmt(used)} used, {_fmt(available)} available of {_fmt(total)}",
                  "psutil.virtual_memory")
    swap_total = _one(samples, "wf_swap_total_bytes")
    swap_used = _one(samples, "wf_swap_used_bytes")
    swap_in = _one(samples, "wf_swap_bytes_per_second", direction="in")
    swap_out = _one(samples, "wf_swap_bytes_per_second", direction="out")
    table.add_row("Swap", f"{_fmt(swap_used)} used of {_fmt(swap_total)}; in {_fmt(swap_in)}, out {_fmt(swap_out)}",
                  "psutil.swap_memory")
    for disk in _values(samples, "wf_disk_used_ratio"):
        free = _one(samples, "wf_disk_free_bytes", path=disk.label("path"))
        table.add_row(f"Disk ({shown(disk.label('role'))})",
                      f"{shown(disk.label('path'))}: {_fmt(disk)} full, {_fmt(free)} free",
                      disk.source)
    for temp in _values(samples, "wf_temperature_celsius")[:4]:
        table.add_row("Temperature", shown(f"{temp.label('sensor')} {temp.label('label')}: ") + _fmt(temp), temp.source)
    return table


def processes_table(samples: list[Sample]) -> Table:
    table = Table(title="Top processes", title_justify="left")
    table.add_column("by CPU (cores)")
    table.add_column("by resident memory")
    by_cpu = _values(samples, "wf_process_cpu_utilization_ratio")
    by_rss = _values(samples, "wf_process_resident_memory_bytes")
    for index in range(max(len(by_cpu), len(by_rss))):
        left = f"{shown(subject(by_cpu[index]))}: {by_cpu[index].value:.2f}" if index < len(by_cpu) else ""
        right = f"{shown(subject(by_rss[index]))}: {format_bytes(by_rss[index].value)}" if index < len(by_rss) else ""
        table.add_row(left, right)
    return table


def gpu_panel(report: DiagnoseReport) -> Table | Text:
    gpu = report.gpu
    if not gpu.found:
        return Text(f"GPU: {gpu.status}", style="dim")
    table = Table(title=f"GPUs ({gpu.status})", title_justify="left")
    for column in ("GPU", "busy", "memory", "temp", "power", "SM clock", "throttle"):
        table.add_column(column)
    samples = report.run.samples
    for dev in gpu.gpus:
        index = str(dev["index"])
        used = _one(samples, "wf_gpu_memory_used_bytes", gpu=index)
        total = _one(samples, "wf_gpu_memory_total_bytes", gpu=index)
        throttle = _one(samples, "wf_gpu_throttle_reasons", gpu=index)
        table.add_row(
            f"{index}: {shown(dev['name'])}", _fmt(_one(samples, "wf_gpu_utilization_ratio", gpu=index)),
            f"{_fmt(used)} / {_fmt(total)}", _fmt(_one(samples, "wf_gpu_temperature_celsius", gpu=index)),
            _fmt(_one(samples, "wf_gpu_power_watts", gpu=index)),
            _fmt(_one(samples, "wf_gpu_clock_hertz", gpu=index, clock="sm", kind="current")),
            shown(throttle.label("reasons")) if throttle else "n/a",
        )
    return table


def tier_panel(report: DiagnoseReport) -> Panel:
    tier = report.tier
    targets = tier.targets
    lines = [
        Text.assemble(("Tier: ", "bold"), (tier.tier.upper(), "bold magenta"), f"  ({tier.rule})"),
        Text(f"Decided by: {tier.explanation()}"),
        Text("Measured: " + ", ".join(f"{limit.resource} {limit.measured:g} {limit.unit} (allows {limit.allows})"
                                      for limit in tier.limits)),
        Text(f"Targets ({report.facts.source}): decode >= {targets.decode_tokens_per_second:g} tokens/s, "
             f"TTFT <= {targets.ttft_seconds:g} s, P95 latency <= {targets.p95_latency_seconds:g} s, "
             f"FPS >= {targets.fps:g}, council size {targets.council_size}, RAM cap {targets.ram_use_cap_percent:g} %, "
             f"models up to {targets.max_model} / {targets.max_context_tokens} tokens context"),
    ]
    lines += [Text(f"Note: {note}", style="dim") for note in tier.notes]
    return Panel(Group(*lines), title="Hardware tier", expand=False)


def backends_group(report: DiagnoseReport) -> Group:
    answering = [b for b in report.backends if b.answered]
    silent = [b for b in report.backends if not b.answered]
    table = Table(title="LLM servers answering", title_justify="left")
    for column in ("URL", "API", "probe latency", "models"):
        table.add_column(column)
    for backend in answering:
        models = ", ".join(
            shown(m.name) + (f" ({format_bytes(m.size_bytes)}, {format_bytes(m.vram_bytes or 0)} in VRAM)"
                      if m.loaded and m.size_bytes else "") + ("" if m.loaded else " \\[not loaded]")
            for m in backend.models
        ) or "none"
        latency = f"{backend.latency_s * 1000:.1f} ms" if backend.latency_s is not None else ""
        url = shown(backend.url) + (f"\n{shown(backend.detail)}" if backend.detail else "")
        table.add_row(url, shown(backend.kind + (f" {backend.version}" if backend.version else "")), latency, models)
    parts: list[Table | Text] = [table] if answering else [Text("No LLM server answered.", style="yellow")]
    if silent:
        parts.append(Text("Not answering: " + "; ".join(plain(f"{b.url} ({b.error})") for b in silent), style="dim"))
    return Group(*parts)


def token_check_line(samples: list[Sample]) -> Text | None:
    """The short token check's headline numbers, if one ran."""
    ttft = _one(samples, "wf_llm_time_to_first_token_seconds", check="diagnose", stat="p50")
    decode = _one(samples, "wf_llm_decode_tokens_per_second", check="diagnose", stat="p50")
    if ttft is None and decode is None:
        return None
    return Text(f"Token check (short run, 32 tokens a request, p50): TTFT {_fmt(ttft)}, decode {_fmt(decode)}. "
                "For the full picture: wfdoctor tokens")


def _missing_by_command(report: DiagnoseReport, not_measured: list[MissingInput]) -> str:
    """'SLOW_TOKENS, SLOW_FIRST_TOKEN via wfdoctor tokens; ...' for a row's unmeasured rules."""
    by_command: dict[str, list[str]] = {}
    for item in not_measured:
        by_command.setdefault(item.measured_by, []).append(report.rulebook.rules[item.rule_id].code)
    return "; ".join(f"{', '.join(codes)} via {command}" for command, codes in by_command.items())


def _pages(names: list[str]) -> str:
    """"page 'a'" or "pages 'a', 'b'": page names (the pages' own text: cut, on one line) as a row names them."""
    unique = list(dict.fromkeys(names))
    return ("page " if len(unique) == 1 else "pages ") + ", ".join(f"'{text(name, PAGE_CHARS)}'" for name in unique)


def _found(report: DiagnoseReport, row: RowStatus) -> str:
    """The row's finding codes, each listed once; on the UI row with the pages each was found on."""
    on_pages: dict[str, list[str]] = {code: [] for code in row.findings}
    for finding in report.findings:
        if row.id == UI_ROW and finding.row == row.id:
            on_pages.setdefault(finding.code, []).extend(s.labels["page"] for s in finding.evidence[:1]
                                                         if "page" in s.labels)
    return ", ".join(code + (f" ({_pages(pages)})" if pages else "") for code, pages in on_pages.items())


def _slowest_page(report: DiagnoseReport, row: RowStatus) -> str:
    """On a healthy UI row, the slowest page judged (the sample the SLOW_FRAMES rule read): what was measured."""
    slowest = next((s for s in report.run.samples if s.metric == "wf_ui_frame_time_seconds"
                    and s.label("stat") == "mean" and "window_s" in s.labels), None)
    if row.id != UI_ROW or slowest is None:
        return ""
    # 0.1 ms: the budget is 16.67 ms, and a smooth 60 Hz page's 16.7 would round up to 17 beside it
    return f"; slowest {_pages([slowest.labels['page']])}: {slowest.value * 1000:.1f} ms mean frame time over " \
           f"{slowest.label('window_s')} s"


def matrix_table(report: DiagnoseReport) -> Table:
    table = Table(title="Performance triage matrix (WF-TECH-010)", title_justify="left")
    for column in ("symptom", "likely cause", "priority", "status"):
        table.add_column(column)
    for row in report.rows:
        missing = _missing_by_command(report, row.not_measured)
        if row.status == "findings":
            status = "FOUND: " + plain(_found(report, row))
        elif row.status == "not_measured":
            status = "not measured: " + missing
        else:
            status = f"ok ({len(row.checked)} checked{plain(_slowest_page(report, row))})" + \
                (f"; not measured: {missing}" if missing else "")
        table.add_row(row.symptom, row.likely_cause, row.priority, Text(status, style=ROW_STATUS_STYLE[row.status]))
    return table


def render(report: DiagnoseReport, console: Console, all_variants: bool = False) -> None:
    run = report.run
    env = run.environment
    console.print(Text.assemble(("wfdoctor diagnose", "bold"),
                                plain(f"  run {run.id}, {report.window_s:.1f} s window on {env.get('hostname')} "
                                      f"({env.get('cpu_model')})")))
    console.print(system_table(run.samples))
    console.print(processes_table(run.samples))
    console.print(gpu_panel(report))
    console.print(tier_panel(report))
    console.print(backends_group(report))
    if (line := token_check_line(run.samples)) is not None:
        console.print(line)
    console.print(matrix_table(report))
    print_conclusion(console, report.findings, report.rulebook, report.notes,
                     healthy="Healthy: no rule matched what was measured.",
                     variants=Variants(frozenset(b.kind for b in report.backends if b.answered), all_variants))


class TierDoc(BaseModel):
    name: str
    rule: str
    explanation: str
    decided_by: list[Limit]
    limits: list[Limit]
    targets: Targets
    thresholds: Thresholds
    notes: list[str]
    source: str


class GpuDoc(BaseModel):
    found: bool
    status: str
    devices: list[dict[str, Any]]     # static NVML facts per GPU


class DiagnoseDocument(RunDocument):
    schema_id: str = schema_field(SCHEMA_ID)
    window_s: float
    healthy: bool
    fail_on: str
    environment: dict[str, Any]
    tier: TierDoc
    gpu: GpuDoc
    backends: list[BackendStatus]
    findings: list[Finding]
    rows: list[RowStatus]
    actions: dict[str, Action]        # the catalogue entries the findings refer to
    notes: list[str]
    samples: list[Sample]


def document(report: DiagnoseReport, fail_on: str, exit_code: int) -> DiagnoseDocument:
    tier = report.tier
    referenced = sorted({action for finding in report.findings for action in finding.actions})
    return DiagnoseDocument(
        **run_fields(report.run, exit_code),
        window_s=round(report.window_s, 3), healthy=not report.findings, fail_on=fail_on,
        environment=report.run.environment,
        tier=TierDoc(name=tier.tier, rule=tier.rule, explanation=tier.explanation(), decided_by=tier.decided_by,
                     limits=tier.limits, targets=tier.targets, thresholds=tier.thresholds, notes=tier.notes,
                     source=report.facts.source),
        gpu=GpuDoc(found=report.gpu.found, status=report.gpu.status,
                   devices=[{k: v for k, v in dev.items() if k != "processes"} for dev in report.gpu.gpus]),
        backends=report.backends, findings=report.findings, rows=report.rows,
        actions={action_id: report.rulebook.actions[action_id] for action_id in referenced},
        notes=report.notes, samples=report.run.samples,
    )
