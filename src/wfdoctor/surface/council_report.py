"""What `wfdoctor council` shows: members, council metrics, sweep, findings; and its JSON."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from wfdoctor.analyze.council import CouncilMetrics
from wfdoctor.surface.council import CouncilReport
from wfdoctor.surface.json_doc import run_header
from wfdoctor.surface.report import findings_group

SCHEMA_ID = "wfdoctor.council/v1"


def _s(value: float | None, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if value is not None else "-"


def members_table(metrics: CouncilMetrics) -> Table:
    table = Table(title=f"Council of {metrics.n}: members (seconds from the council's start)", title_justify="left")
    for column in ("member", "server", "status", "retries", "TTFT", "first token", "finish", "decode tok/s"):
        table.add_column(column)
    for m in metrics.members:
        style = "green" if m.status == "ok" else "red" if m.status == "failed" else "dim"
        table.add_row(m.name, m.url, Text(m.status + (f": {m.error}" if m.status == "failed" else ""), style=style),
                      str(m.retries), _s(m.ttft_s), _s(m.first_token_s), _s(m.finish_s), _s(m.decode_tps, 1))
    return table


def summary_line(metrics: CouncilMetrics) -> str:
    return (f"wall {metrics.wall_s:.2f} s; sync delay {_s(metrics.sync_delay_s)} s; first-token spread "
            f"{_s(metrics.first_token_spread_s)} s; efficiency {_s(metrics.efficiency)}; speed-up vs one after "
            f"another {_s(metrics.speedup)}x ({_s(metrics.sequential_wall_s)} s); alpha {_s(metrics.alpha)} "
            f"(0 parallel, 1 one at a time); decode per member {_s(metrics.council_decode_tps, 1)} vs "
            f"{_s(metrics.solo_decode_tps, 1)} tokens/s alone")


def sweep_table(report: CouncilReport) -> Table:
    table = Table(title="Council size sweep", title_justify="left")
    for column in ("members", "wall s", "alpha", "efficiency", "worst TTFT s", "slowest decode tok/s"):
        table.add_column(column, justify="right")
    for m in report.sweep:
        ok = [x for x in m.members if x.status == "ok"]
        table.add_row(str(m.n), _s(m.wall_s), _s(m.alpha), _s(m.efficiency),
                      _s(max((x.ttft_s for x in ok if x.ttft_s is not None), default=None)),
                      _s(min((x.decode_tps for x in ok if x.decode_tps is not None), default=None), 1))
    return table


def render_council(report: CouncilReport, console: Console) -> None:
    console.print(Text.assemble(("wfdoctor council", "bold"), f"  run {report.run.id}, tier {report.tier.tier}"))
    console.print(members_table(report.council))
    console.print(summary_line(report.council))
    if report.early is not None and report.saved_s is not None:
        agreed = report.early.consensus_s
        console.print(f"Early consensus (quorum {report.run.settings['quorum']}): "
                      + (f"{', '.join(report.early.consensus_members)} agreed at {agreed:.2f} s, council done in {report.early.wall_s:.2f} s: saved "
                         f"{report.saved_s:.2f} s against waiting for all ({report.council.wall_s:.2f} s)"
                         if agreed is not None else "not reached: the council waited for every member"))
    if report.sweep:
        console.print(sweep_table(report))
    if report.size is not None:
        console.print(f"Recommended council size for tier {report.tier.tier}: {report.size.recommended} "
                      f"({report.size.explanation})")
    if report.answer_from:
        console.print(Text(f"Combined answer (majority of {', '.join(report.answer_from)}): "
                           f"{report.answer[:200]!r}", style="dim"))
    console.print(findings_group(report.findings, report.rulebook, healthy="The council runs well."))
    for note in report.notes:
        console.print(Text(f"Note: {note}", style="dim"))


def council_doc(report: CouncilReport, exit_code: int) -> dict[str, Any]:
    return run_header(SCHEMA_ID, report.run, exit_code) | {
        "settings": report.run.settings,
        "tier": report.tier.tier,
        "implementations": report.implementation_of,
        "council": dataclasses.asdict(report.council),
        "early_consensus": dataclasses.asdict(report.early) if report.early else None,
        "saved_s": report.saved_s,
        "sweep": [dataclasses.asdict(m) for m in report.sweep],
        "recommended_size": dataclasses.asdict(report.size) if report.size else None,
        "answer": report.answer,
        "answer_from": report.answer_from,
        "findings": [f.to_dict() for f in report.findings],
        "notes": report.notes,
    }
