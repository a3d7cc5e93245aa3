"""Handlers of the ``sanheyi`` sub-commands: parse nothing, print results, return an exit status."""

from __future__ import annotations

import argparse
import json
import sys

from sanheyi.cli import print_json
from sanheyi.settings import Settings
from sanheyi.tables import render_table


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.pipeline import init_home

    for line in init_home(settings):
        print(line)
    print(f"SANHEYI_HOME ready: {settings.home}")
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.cycle import describe_cycle, run_cycle

    result = run_cycle(settings, args.as_of, stages=args.stage)
    print(describe_cycle(result))
    problems = []
    if result.failed_sources:
        failed = ", ".join(code for code, _ in result.failed_sources)
        problems.append(
            f"{len(result.failed_sources)} 个数据源读取失败 / source(s) failed: {failed} (see SOURCE FAILED above)"
        )
    if result.exchange_failures:
        failed = ", ".join(what for what, _ in result.exchange_failures)
        problems.append(
            f"与常州平台交换失败 / exchange with Changzhou failed: {failed} (see EXCHANGE FAILED above; "
            "the next run delivers what is left)"
        )
    if problems:
        return _failed("; ".join(problems))
    return 0


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.supervise import statistics_for
    from supervision.table import PROVISIONAL_NOTE, format_statistics_table

    stats = statistics_for(settings, args.period_from, args.period_to, args.as_of)
    if args.format == "json":
        # stdout is exactly statistics.json (§10.2); the provisional mark (§5.1) goes to stderr
        provisional = stats.pop("provisional", False)
        print(json.dumps(stats, ensure_ascii=False, indent=1))
        if provisional:
            print(PROVISIONAL_NOTE, file=sys.stderr)
    else:
        print(format_statistics_table(stats))
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.reporting import render_period_report

    files = render_period_report(settings, args.period_from, args.period_to, args.as_of)
    for path in files:
        print(path)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.status import collect_status, format_status

    status = collect_status(settings, args.as_of)
    if args.format == "json":
        print_json(status)
    else:
        print(format_status(status))
    return 0


def cmd_batches_list(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.quality import list_held_batches

    holds = list_held_batches(settings, include_loaded=args.all)
    if args.format == "json":
        print_json(holds)
        return 0
    rows = [
        [
            h["batch_id"],
            h["source_system"],
            h["entity"],
            h["origin"],
            h["status"],
            h["held_at"][:16],
            "; ".join(r["check"] for r in h["reason"]),
            h["reason"][0]["message_zh"] if h["reason"] else "",
        ]
        for h in holds
    ]
    print(
        render_table(
            [
                "批次 batch",
                "来源 source",
                "实体 entity",
                "位置 origin",
                "状态 status",
                "暂停于 held at",
                "检查 checks",
                "说明 message",
            ],
            rows,
        )
    )
    print(
        f"{sum(h['status'] == 'HELD' for h in holds)} batch(es) held; release one with "
        "`sanheyi batches release BATCH_ID --by NAME --reason TEXT`"
    )
    return 0


def cmd_batches_release(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from sanheyi.quality import release_batch

    print(release_batch(settings, args.batch_id, by=args.by, reason=args.reason, now=datetime.now(UTC).astimezone()))
    return 0


def cmd_quarantine_list(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.quarantine import list_quarantine

    entries = list_quarantine(settings, system=args.system, include_resolved=args.all)
    if args.format == "json":
        print_json(entries)
        return 0
    rows = [
        [
            e["quarantine_id"],
            e["source_system"],
            e["entity"],
            e["record_key"],
            f"{e['origin']}:{e['line_no'] or ''}",
            ",".join(v["rule_id"] for v in e["violations"]),
            e["violations"][0]["message_zh"] if e["violations"] else "",
        ]
        for e in entries
    ]
    headers = ["id", "来源 source", "实体 entity", "记录 key", "位置 origin", "规则 rules", "说明 message"]
    print(render_table(headers, rows))
    print(f"{len(entries)} record(s) in quarantine")
    return 0


def cmd_quarantine_export(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.quarantine import export_quarantine

    count = export_quarantine(settings, args.system, args.out)
    print(f"{count} record(s) written to {args.out}")
    return 0


def cmd_quarantine_replay(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.quarantine import replay_quarantine

    result = replay_quarantine(settings, args.as_of)
    held = f", {result.held} held until their case arrives" if result.held else ""
    print(
        f"{result.replayed} record(s) replayed: {result.loaded} loaded, {result.duplicate} duplicate, "
        f"{result.stale} stale{held} (these entries are closed); "
        f"{result.quarantined} quarantined again (their entries stay open); "
        f"{result.still_open} still in quarantine"
    )
    return 0


def cmd_systems_apply(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.systems import apply_system

    print(apply_system(settings, args.file))
    return 0


def cmd_systems_check(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.systems import check_system

    passed, message = check_system(settings, args.code)
    print(message)
    return 0 if passed else _failed(f"{args.code} 未通过接口符合性检查 / {args.code} failed its conformance check")


def cmd_systems_decide(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.systems import decide

    print(decide(settings, args.code, args.decision, by=args.by, reason=args.reason))
    return 0


def cmd_systems_list(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.systems import list_systems

    systems = list_systems(settings)
    if args.format == "json":
        print_json(systems)
    else:
        print(
            render_table(
                ["system", "name", "dept", "state", "interface", "last check", "waiting"],
                [
                    [
                        s["system_code"],
                        s["system_name"],
                        s["dept_code"],
                        s["state"],
                        s["interface_type"],
                        s["last_check"],
                        s["waiting"],
                    ]
                    for s in systems
                ],
            )
        )
    return 0


def cmd_systems_show(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.systems import show_system

    print_json(show_system(settings, args.code))
    return 0


def cmd_systems_verify_log(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.systems import verify_log

    faults, head = verify_log(settings, args.heads)
    for fault in faults:
        print(fault)
    if faults:
        return _failed(f"审批日志有 {len(faults)} 处问题 / {len(faults)} fault(s) in the audit log")
    checked = f"; the {len(args.heads)} published head(s) given are in it" if args.heads else ""
    print(f"audit log intact{checked}; head {head or 'none (no decision yet)'}")
    return 0


def cmd_exchange_verify(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.exchange_stage import verify

    faults = verify(args.package, args.public_key, args.previous)
    for fault in faults:
        print(f"FAULT: {fault}")
    if faults:
        return _failed(
            f"交换包校验未通过 / {args.package.name} failed verification: {len(faults)} fault(s) (FAULT lines above)"
        )
    print(f"OK: {args.package.name} is intact, signed by the given key" + (", chained" if args.previous else ""))
    return 0


def cmd_exchange_status(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.exchange_stage import package_status

    packages = package_status(settings)
    if args.format == "json":
        print_json(packages)
    else:
        print(
            render_table(
                ["seq", "file", "records", "state", "receipt", "flagged"],
                [
                    [
                        p["sequence"],
                        p["file_name"],
                        p["records"],
                        p["state"],
                        p["receipt_status"] or "",
                        p["flagged_at"] or "",
                    ]
                    for p in packages
                ],
            )
        )
    return 0


def cmd_exchange_resend(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.exchange_stage import resend_package

    print(resend_package(settings, args.sequence))
    return 0


def cmd_exchange_receipts(args: argparse.Namespace, settings: Settings) -> int:
    from sanheyi.exchange_stage import process_receipts

    print(process_receipts(settings, args.as_of))
    return 0


def _failed(summary: str) -> int:
    """Exit status 1 with the one-line summary on stderr; the details went to stdout before it."""
    print(f"sanheyi: {summary}", file=sys.stderr)
    return 1
