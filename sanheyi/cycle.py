"""One full cycle as ``sanheyi run`` runs it: ingest → supervise → exchange → report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sanheyi.cycle_lock import cycle_lock
from sanheyi.ingest import IngestSummary
from sanheyi.pipeline import ingest_stage, new_cycle_id, require_initialised
from sanheyi.settings import Settings
from sanheyi.tables import render_table

STAGES = ("ingest", "supervise", "exchange", "report")


@dataclass
class CycleResult:
    cycle_id: str
    as_of: datetime
    ingest: IngestSummary | None = None
    supervision: dict | None = None
    exchange: dict | None = None
    report_files: list[Path] = field(default_factory=list)

    @property
    def failed_sources(self) -> list[tuple[str, str]]:
        return self.ingest.failed_sources if self.ingest else []

    @property
    def exchange_failures(self) -> list[tuple[str, str]]:
        """What of the exchange with Changzhou failed (delivery, receipts) and why; the cycle went on."""
        return self.exchange["failures"] if self.exchange else []


def run_cycle(settings: Settings, as_of: datetime, *, stages: Sequence[str] | None = None) -> CycleResult:
    require_initialised(settings)
    with cycle_lock(settings, "sanheyi run"):
        return _run_stages(settings, as_of, set(stages or STAGES))


def _run_stages(settings: Settings, as_of: datetime, chosen: set[str]) -> CycleResult:
    result = CycleResult(cycle_id=new_cycle_id(as_of), as_of=as_of)
    if "ingest" in chosen:
        result.ingest = ingest_stage(settings, as_of, cycle_id=result.cycle_id).summary
    if "supervise" in chosen:
        from sanheyi.supervise import supervise_stage

        result.supervision = supervise_stage(settings, as_of)
    if "exchange" in chosen:
        from sanheyi.exchange_stage import exchange_stage

        result.exchange = exchange_stage(settings, as_of)
    if "report" in chosen:
        from sanheyi.reporting import render_month_report

        result.report_files = render_month_report(settings, as_of)
    from sanheyi.status import publish

    publish(settings, as_of)  # reports/status.html and reports/data_docs/, after every run
    return result


def describe_ingest(summary: IngestSummary) -> str:
    lines = []
    if summary.batches:
        rows = [
            [
                b.batch_id,
                b.source_system,
                b.entity,
                Path(b.origin).name,
                b.counts.received,
                b.counts.loaded,
                b.counts.quarantined,
                b.counts.duplicate,
                b.counts.stale,
                b.counts.held,
            ]
            for b in summary.batches
        ]
        total = summary.total()
        rows.append(
            [
                "",
                "合计 total",
                "",
                "",
                total.received,
                total.loaded,
                total.quarantined,
                total.duplicate,
                total.stale,
                total.held,
            ]
        )
        lines.append(
            render_table(
                [
                    "batch",
                    "source",
                    "entity",
                    "origin",
                    "received",
                    "loaded",
                    "quarantined",
                    "duplicate",
                    "stale",
                    "held",
                ],
                rows,
            )
        )
    else:
        lines.append("no new data in any source")
    for held in summary.held:
        lines.append(
            f"HELD batch {held.batch_id} {held.source_system}/{held.entity} {Path(held.origin).name}: "
            f"{held.reason} (sanheyi batches list | release)"
        )
    for name, reason in summary.rejected_files:
        lines.append(f"rejected file {name}: {reason}")
    for system, message in summary.failed_sources:
        lines.append(f"SOURCE FAILED {system}: {message}")
    return "\n".join(lines)


def describe_cycle(result: CycleResult) -> str:
    parts = [f"cycle {result.cycle_id} as of {result.as_of.isoformat()}"]
    if result.ingest is not None:
        parts.append(describe_ingest(result.ingest))
    if result.supervision is not None and result.supervision.get("skipped"):
        parts.append(f"supervision skipped: {result.supervision['skipped']}")
    elif result.supervision is not None:
        s = result.supervision
        provisional = " — 含推定日历 (provisional calendar)" if s.get("provisional") else ""
        parts.append(
            f"supervision: {s['active']} active events ({s['yellow']} yellow, {s['red']} red), "
            f"{s['new']} new, {s['withdrawn']} withdrawn{provisional}"
        )
    if result.exchange is not None:
        e = result.exchange
        parts.append(f"exchange: {e['summary']}")
        for what, message in result.exchange_failures:
            parts.append(f"EXCHANGE FAILED {what}: {message}")
    for path in result.report_files:
        parts.append(f"report: {path}")
    return "\n".join(parts)
