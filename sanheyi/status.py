"""``sanheyi status``: per source and per package, what the hub knows — for the terminal, JSON and a web page.

Every count comes straight from the warehouse: the totals of a source are sums over its rows of
``ops_load_batch`` (so they balance exactly as each batch does, §4), and open quarantine is counted in
``ops_quarantine``. Nothing here shows a record's content (§9): sources, files, counts, cursors, checks.
"""

from __future__ import annotations

import html
import logging
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from connectors.registry import APPROVED
from sanheyi.pipeline import require_initialised, warehouse_engine
from sanheyi.settings import Settings
from sanheyi.tables import render_table
from warehouse.cursors import load_cursor
from warehouse.packages import list_packages
from warehouse.quality_store import list_holds
from warehouse.registry_store import SqlRegistryStore
from warehouse.source_reads import incomplete_reads
from warehouse.tables import ops_cursor, ops_load_batch, ops_quarantine

log = logging.getLogger(__name__)

UNIFIED = "UNIFIED"
WINDOW_DAYS = 7
COUNTS = ("received", "loaded", "quarantined", "duplicate", "stale", "held")
_COUNT_COLUMNS = {name: ops_load_batch.c[f"{name}_count"] for name in COUNTS}
_TZ: ContextVar[Any] = ContextVar("status_tz", default=None)


def _iso(value: datetime | None) -> str | None:
    # shown in the offset of the status' own instant (Beijing time for a Liyang operator)
    return value.astimezone(_TZ.get()).isoformat() if value is not None else None


def _rate(quarantined: int, received: int) -> float | None:
    return round(quarantined / received, 4) if received else None


def _count_records(path: Path) -> int:
    """Records in a complete drop file without parsing it: lines (JSON Lines) or rows after the header (CSV)."""
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        lines += 1  # no newline after the last line
    if path.suffix == ".csv":
        lines = max(0, lines - 1)
    return lines


def _waiting(folder: Path | None) -> dict[str, int] | None:
    """Complete files in a drop folder and the records in them (None for interfaces without a folder)."""
    if folder is None:
        return None
    files = records = 0
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.endswith(".part") and not path.name.startswith("."):
                files += 1
                try:
                    records += _count_records(path)
                except OSError:
                    pass
    return {"files": files, "records": records}


def _window_sums(conn: Connection, since: datetime, until: datetime) -> dict[str, dict[str, int]]:
    query = (
        select(
            ops_load_batch.c.source_system,
            func.count().label("batches"),
            *[func.coalesce(func.sum(column), 0).label(name) for name, column in _COUNT_COLUMNS.items()],
        )
        .where(ops_load_batch.c.started_at > since, ops_load_batch.c.started_at <= until)
        .group_by(ops_load_batch.c.source_system)
    )
    return {
        row.source_system: {"batches": int(row.batches), **{name: int(row._mapping[name]) for name in COUNTS}}
        for row in conn.execute(query)
    }


def _last_batches(conn: Connection, until: datetime) -> dict[str, dict[str, Any]]:
    """The newest batch of each source (any status), up to ``until``."""
    newest = (
        select(func.max(ops_load_batch.c.batch_id))
        .where(ops_load_batch.c.started_at <= until)
        .group_by(ops_load_batch.c.source_system)
    )
    rows = conn.execute(select(ops_load_batch).where(ops_load_batch.c.batch_id.in_(newest))).mappings().all()
    return {row["source_system"]: _batch_json(row) for row in rows}


def _batch_json(row: Any) -> dict[str, Any]:
    summary = row["ge_summary"] or {}
    return {
        "batch_id": row["batch_id"],
        "cycle_id": row["cycle_id"],
        "entity": row["entity"],
        "origin": row["origin"],
        "status": row["status"],
        "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]),
        **{name: row[f"{name}_count"] for name in COUNTS},
        "quarantine_rate": _rate(row["quarantined_count"], row["received_count"]),
        "ge_verdict": row["ge_verdict"],
        "ge_failed": [f.get("check") for f in summary.get("failed", [])],
    }


def _last_reads(conn: Connection, until: datetime) -> dict[str, datetime]:
    query = (
        select(ops_load_batch.c.source_system, func.max(ops_load_batch.c.finished_at))
        .where(ops_load_batch.c.status == "LOADED", ops_load_batch.c.started_at <= until)
        .group_by(ops_load_batch.c.source_system)
    )
    return {system: at for system, at in conn.execute(query) if at is not None}


def _last_verdicts(conn: Connection, until: datetime) -> dict[str, dict[str, Any]]:
    newest = (
        select(func.max(ops_load_batch.c.batch_id))
        .where(ops_load_batch.c.ge_verdict.is_not(None), ops_load_batch.c.started_at <= until)
        .group_by(ops_load_batch.c.source_system)
    )
    rows = conn.execute(
        select(
            ops_load_batch.c.source_system,
            ops_load_batch.c.batch_id,
            ops_load_batch.c.entity,
            ops_load_batch.c.ge_verdict,
            ops_load_batch.c.ge_summary,
        ).where(ops_load_batch.c.batch_id.in_(newest))
    ).all()
    return {
        r.source_system: {
            "batch_id": r.batch_id,
            "entity": r.entity,
            "verdict": r.ge_verdict,
            "failed": [f.get("check") for f in (r.ge_summary or {}).get("failed", [])],
        }
        for r in rows
    }


def _open_quarantine(conn: Connection) -> dict[str, int]:
    query = (
        select(ops_quarantine.c.source_system, func.count())
        .where(ops_quarantine.c.status == "OPEN")
        .group_by(ops_quarantine.c.source_system)
    )
    return {system: int(n) for system, n in conn.execute(query)}


def _cursor_times(conn: Connection) -> dict[str, datetime]:
    return {
        r.source_system: r.updated_at for r in conn.execute(select(ops_cursor.c.source_system, ops_cursor.c.updated_at))
    }


def _folder(home: Path, interface_type: str | None, address: str | None, code: str) -> Path | None:
    if interface_type != "file":
        return None
    folder = Path(address or f"inbox/{code}/")
    return folder if folder.is_absolute() else home / folder


def collect_status(settings: Settings, as_of: datetime | None = None) -> dict[str, Any]:
    """The status of every source and package as JSON-ready data (``sanheyi status --format json``).

    ``last_7_days`` covers batches started in the 7 days up to ``as_of`` (default now).
    """
    require_initialised(settings)
    now = as_of or datetime.now(UTC).astimezone()
    since = now - timedelta(days=WINDOW_DAYS)
    token = _TZ.set(now.tzinfo)
    try:
        return _collect(settings, now, since)
    finally:
        _TZ.reset(token)


def _collect(settings: Settings, now: datetime, since: datetime) -> dict[str, Any]:
    engine = warehouse_engine(settings)
    try:
        with engine.connect() as conn:
            sums = _window_sums(conn, since, now)
            last = _last_batches(conn, now)
            reads = _last_reads(conn, now)
            verdicts = _last_verdicts(conn, now)
            open_q = _open_quarantine(conn)
            cursor_times = _cursor_times(conn)
            holds = list_holds(conn)
            packages = list_packages(conn)
            systems = SqlRegistryStore(engine).all()
            cursors = {code: load_cursor(conn, code) for code in cursor_times}
        read_each_cycle = [UNIFIED, *(s.system_code for s in systems if s.state == APPROVED)]
        incomplete = {read.source_system: read.describe() for read in incomplete_reads(engine, read_each_cycle)}
    finally:
        engine.dispose()

    entries: list[tuple[str, str, str | None, str | None, Path | None]] = []  # code, kind, state, type, folder
    unified_type = settings.unified.get("type", "file")
    entries.append(
        (
            UNIFIED,
            "unified",
            "UNIFIED",
            unified_type,
            _folder(settings.home, unified_type, settings.unified.get("address"), UNIFIED),
        )
    )
    registered = {UNIFIED}
    for system in sorted(systems, key=lambda s: s.system_code):
        registered.add(system.system_code)
        entries.append(
            (
                system.system_code,
                "self_built",
                system.state,
                system.interface.type,
                _folder(settings.home, system.interface.type, system.interface.address, system.system_code),
            )
        )
    inbox = settings.inbox
    if inbox.is_dir():
        for folder in sorted(p for p in inbox.iterdir() if p.is_dir() and p.name not in registered):
            waiting = _waiting(folder)
            if waiting and waiting["files"]:
                entries.append((folder.name, "unregistered", None, "file", folder))
                registered.add(folder.name)
    for code in sorted(set(sums) | set(last)):
        if code not in registered:  # "*": steps quarantined after waiting too long for their case
            entries.append((code, "internal", None, None, None))

    holds_by_source: dict[str, list[dict[str, Any]]] = {}
    for hold in holds:
        holds_by_source.setdefault(hold.source_system, []).append(
            {
                "batch_id": hold.batch_id,
                "entity": hold.entity,
                "origin": hold.origin,
                "status": hold.status,
                "held_at": _iso(hold.held_at),
                "reason": [r.get("message_en") for r in hold.reason],
                "released_by": hold.released_by,
            }
        )

    sources = []
    for code, kind, state, interface_type, folder in entries:
        window = sums.get(code, {"batches": 0, **dict.fromkeys(COUNTS, 0)})
        sources.append(
            {
                "system_code": code,
                "kind": kind,
                "state": state,
                "read_each_cycle": kind == "unified" or state == APPROVED,
                "interface_type": interface_type,
                "last_successful_read_at": _iso(reads.get(code)),
                "cursor": cursors.get(code),
                "cursor_updated_at": _iso(cursor_times.get(code)),
                "last_batch": last.get(code),
                "last_7_days": {**window, "quarantine_rate": _rate(window["quarantined"], window["received"])},
                "open_quarantine": open_q.get(code, 0),
                "waiting": _waiting(folder),
                "held_batches": holds_by_source.get(code, []),
                "last_ge_verdict": verdicts.get(code),
                # a read stopped partway or still running: supervision waits for a complete one
                "incomplete_read": incomplete.get(code),
            }
        )

    totals = {"batches": sum(s["last_7_days"]["batches"] for s in sources)}
    for name in COUNTS:
        totals[name] = sum(s["last_7_days"][name] for s in sources)
    totals["quarantine_rate"] = _rate(totals["quarantined"], totals["received"])
    totals["open_quarantine"] = sum(open_q.values())
    totals["held_batches"] = len(holds)
    return {
        "as_of": now.isoformat(),
        "window": {"from": since.isoformat(), "to": now.isoformat(), "days": WINDOW_DAYS},
        "sources": sources,
        "totals": totals,
        "packages": [
            {
                "sequence": p.sequence,
                "file_name": p.file_name,
                "state": p.state,
                "records": sum((p.record_counts or {}).values()),
                "created_at": _iso(p.created_at),
                "delivered_at": _iso(p.delivered_at),
                "transport": p.transport,
                "receipt_status": p.receipt_status,
                "receipt_received_at": _iso(p.receipt_received_at),
                "receipt_errors": len(p.receipt_errors or []),
                "flagged_at": _iso(p.flagged_at),
            }
            for p in packages
        ],
    }


# --- rendering ---------------------------------------------------------------------------------------------

SOURCE_HEADERS = [
    "来源 source",
    "状态 state",
    "最近读取 last read",
    "最近批次 last batch",
    "质量 GE",
    "收到 received",
    "入库 loaded",
    "隔离 quarantined",
    "重复 duplicate",
    "过期 stale",
    "暂存 held",
    "隔离率 q-rate",
    "待读 waiting",
]
PACKAGE_HEADERS = ["序号 seq", "文件 file", "记录 records", "状态 state", "回执 receipt", "告警 flagged"]


def _short_time(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else ""


def _source_row(source: dict[str, Any]) -> list[str]:
    last = source["last_batch"]
    window = source["last_7_days"]
    waiting = source["waiting"]
    verdict = source["last_ge_verdict"]
    rate = window["quarantine_rate"]
    return [
        source["system_code"],
        source["state"] or "未注册 unregistered",
        _short_time(source["last_successful_read_at"]),
        f"{last['batch_id']} {last['entity']} {last['status']}" if last else "",
        verdict["verdict"] if verdict else "",
        *[str(window[name]) for name in COUNTS],
        "" if rate is None else f"{rate:.1%}",
        f"{waiting['files']} files/{waiting['records']} records" if waiting else "",
    ]


def _package_row(package: dict[str, Any]) -> list[str]:
    return [
        str(package["sequence"]),
        package["file_name"],
        str(package["records"]),
        package["state"],
        package["receipt_status"] or "",
        _short_time(package["flagged_at"]),
    ]


def format_status(status: dict[str, Any]) -> str:
    """The status as tables for the terminal."""
    lines = [f"状态 status as of {status['as_of']} (counts: last {status['window']['days']} days)", ""]
    rows = [_source_row(s) for s in status["sources"]]
    t = status["totals"]
    rows.append(
        [
            "合计 total",
            "",
            "",
            "",
            "",
            *[str(t[name]) for name in COUNTS],
            "" if t["quarantine_rate"] is None else f"{t['quarantine_rate']:.1%}",
            "",
        ]
    )
    lines.append(render_table(SOURCE_HEADERS, rows))
    for source in status["sources"]:
        for hold in source["held_batches"]:
            lines.append(
                f"HELD batch {hold['batch_id']} {source['system_code']}/{hold['entity']} "
                f"{Path(hold['origin']).name} [{hold['status']}]: {'; '.join(hold['reason'])}"
            )
    for source in status["sources"]:
        if source.get("incomplete_read"):
            lines.append(f"INCOMPLETE READ {source['incomplete_read']}: supervision and the month report wait")
    lines.append(f"open quarantine: {t['open_quarantine']} record(s)")
    lines.append("")
    if status["packages"]:
        lines.append(render_table(PACKAGE_HEADERS, [_package_row(p) for p in status["packages"]]))
    else:
        lines.append("no exchange package built yet")
    return "\n".join(lines)


_STYLE = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }
td.n { text-align: right; } th { background: #eef; }
.WARN { background: #fff3cd; } .BLOCK, .HELD_GE, .HELD { background: #f8d7da; } .PASS { background: #d4edda; }
.small { color: #666; font-size: 0.9em; }
"""


def _table(headers: list[str], rows: list[list[str]], numeric_from: int = 99, classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{html.escape(classes[i])}"' if classes and classes[i] else ""
        cells = "".join(
            f'<td class="n">{html.escape(c)}</td>' if j >= numeric_from else f"<td>{html.escape(c)}</td>"
            for j, c in enumerate(row)
        )
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_status_html(status: dict[str, Any]) -> str:
    """The status as one static page (no scripts, nothing fetched), for people who do not use a terminal."""
    t = status["totals"]
    rows = [_source_row(s) for s in status["sources"]]
    classes = [(s["last_ge_verdict"] or {}).get("verdict", "") for s in status["sources"]]
    rows.append(
        [
            "合计 total",
            "",
            "",
            "",
            "",
            *[str(t[name]) for name in COUNTS],
            "" if t["quarantine_rate"] is None else f"{t['quarantine_rate']:.1%}",
            "",
        ]
    )
    classes.append("")
    held = [
        [
            str(h["batch_id"]),
            s["system_code"],
            h["entity"],
            Path(h["origin"]).name,
            h["status"],
            _short_time(h["held_at"]),
            "; ".join(h["reason"]),
        ]
        for s in status["sources"]
        for h in s["held_batches"]
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        "<title>溧阳市三合一数据交换枢纽 运行状态 / hub status</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>溧阳市“三合一”数据交换枢纽 运行状态 <span class='small'>hub status</span></h1>",
        f"<p class='small'>截至 as of {html.escape(status['as_of'])}；计数为近 {status['window']['days']} 天 "
        f"(counts over the last {status['window']['days']} days)。待隔离记录 open quarantine: "
        f"{t['open_quarantine']}。</p>",
        "<h2>数据来源 Sources</h2>",
        _table(SOURCE_HEADERS, rows, numeric_from=5, classes=classes),
        *(
            f"<p class='BLOCK'>读取未完成, 监察与月报暂停 / incomplete read, supervision and the month report wait: "
            f"{html.escape(s['incomplete_read'])}</p>"
            for s in status["sources"]
            if s.get("incomplete_read")
        ),
        "<h2>暂停入库的批次 Batches held by data quality checks</h2>",
        _table(
            ["批次 batch", "来源 source", "实体 entity", "文件 origin", "状态 status", "暂停于 held at", "原因 reason"],
            held,
            classes=["HELD"] * len(held),
        )
        if held
        else "<p>无 none</p>",
        "<p class='small'>放行 release: <code>sanheyi batches release BATCH_ID --by NAME --reason TEXT</code>；"
        "数据质量明细 data quality details: <a href='data_docs/index.html'>data_docs/index.html</a></p>",
        "<h2>交换包 Exchange packages (常州市平台)</h2>",
        _table(PACKAGE_HEADERS, [_package_row(p) for p in status["packages"]], numeric_from=2)
        if status["packages"]
        else "<p>尚未生成 none yet</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)  # a reader never sees half a page
    return path


def write_status_page(settings: Settings, as_of: datetime | None = None) -> Path:
    return _write(settings.reports / "status.html", render_status_html(collect_status(settings, as_of)))


def publish(settings: Settings, as_of: datetime | None = None) -> list[Path]:
    """Rebuild ``reports/status.html`` and the data quality pages; a failure here never fails a cycle."""
    from sanheyi.data_docs import write_data_docs

    written: list[Path] = []
    for name, build in (("status page", write_status_page), ("data docs", write_data_docs)):
        try:
            written.append(build(settings, as_of))
        except Exception:  # the cycle's data are stored; the pages are rebuilt on the next run
            log.exception("could not write the %s", name)
    return written
