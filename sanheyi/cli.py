"""The ``sanheyi`` command line (Interface Standard v1 §10.2).

Exit status: 0 success, 1 failure (one clear line on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from connectors.audit_log import ChainHead
from sanheyi.errors import UsageError
from sanheyi.logs import configure_logging, describe_failure
from sanheyi.settings import Settings, load_settings
from schemas.errors import HubError

Handler = Callable[[argparse.Namespace, Settings], int]


def parse_instant(value: str) -> datetime:
    """An RFC 3339 instant with an explicit offset (a value without one is refused, as in §1)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date-time: {value!r} (e.g. 2026-11-06T18:00:00+08:00)") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"date-time needs an offset: {value!r} (e.g. 2026-11-06T18:00:00+08:00)")
    return parsed


def parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (YYYY-MM-DD)") from None


def parse_chain_head(value: str) -> ChainHead:
    """A decision log head as a report prints it: ``{decision_id}:{sha256}``."""
    try:
        return ChainHead.parse(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: {message}")


def _as_of_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of",
        type=parse_instant,
        default=None,
        help="the instant T the cycle runs as of (RFC 3339 with offset; default: now)",
    )


def _format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("json", "table"), default="table")


def build_parser() -> argparse.ArgumentParser:
    from sanheyi import commands

    parser = _Parser(prog="sanheyi", description='溧阳市"三合一"数据交换枢纽 / Liyang 三合一 data hub')
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("init", help="create SANHEYI_HOME with configuration, keys and an empty warehouse")
    p.set_defaults(handler=commands.cmd_init)

    p = sub.add_parser("run", help="one full cycle: read, validate, load, supervise, exchange, report")
    _as_of_option(p)
    p.add_argument(
        "--stage",
        action="append",
        choices=("ingest", "supervise", "exchange", "report"),
        help="run only these stages (repeatable; default: all)",
    )
    p.set_defaults(handler=commands.cmd_run)

    p = sub.add_parser("stats", help="statistics of §7 for a period")
    p.add_argument("--from", dest="period_from", type=parse_date, required=True)
    p.add_argument("--to", dest="period_to", type=parse_date, required=True)
    _as_of_option(p)
    _format_option(p)
    p.set_defaults(handler=commands.cmd_stats)

    p = sub.add_parser("report", help="render the HTML, XLSX and PDF report of a period")
    p.add_argument("--from", dest="period_from", type=parse_date, required=True)
    p.add_argument("--to", dest="period_to", type=parse_date, required=True)
    _as_of_option(p)
    p.set_defaults(handler=commands.cmd_report)

    p = sub.add_parser("status", help="per source and per package: state, counts, cursors, verdicts")
    p.add_argument("--format", choices=("json", "table"), default="table")
    p.add_argument(
        "--as-of",
        type=parse_instant,
        default=None,
        help="count the 7 days up to this instant (RFC 3339 with offset; default: now)",
    )
    p.set_defaults(handler=commands.cmd_status)

    batches = sub.add_parser("batches", help="batches held by data quality checks").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    p = batches.add_parser("list", help="batches held by a blocking data quality check, with the reason")
    _format_option(p)
    p.add_argument("--all", action="store_true", help="include holds released and loaded since")
    p.set_defaults(handler=commands.cmd_batches_list)
    p = batches.add_parser("release", help="let a held batch load once on the next run, its blocking checks waived")
    p.add_argument("batch_id", type=int)
    p.add_argument("--by", required=True, help="who decides")
    p.add_argument("--reason", required=True, help="why")
    p.set_defaults(handler=commands.cmd_batches_release)

    quarantine = sub.add_parser("quarantine", help="quarantined records").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    p = quarantine.add_parser("list", help="quarantined records with their reasons (no personal data)")
    _format_option(p)
    p.add_argument("--system", default=None)
    p.add_argument("--all", action="store_true", help="include replayed entries")
    p.set_defaults(handler=commands.cmd_quarantine_list)
    p = quarantine.add_parser("export", help="write a system's quarantined records (raw) back for correction")
    p.add_argument("--system", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(handler=commands.cmd_quarantine_export)
    p = quarantine.add_parser("replay", help="validate open quarantine entries again and load those now valid")
    _as_of_option(p)
    p.set_defaults(handler=commands.cmd_quarantine_replay)

    systems = sub.add_parser("systems", help="the project office's registry of self-built systems").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    p = systems.add_parser("apply", help="register an application (YAML, §6)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=commands.cmd_systems_apply)
    p = systems.add_parser("check", help="run the conformance check of a system's interface")
    p.add_argument("code")
    p.set_defaults(handler=commands.cmd_systems_check)
    for action in ("approve", "reject", "suspend", "reinstate", "retire"):
        p = systems.add_parser(action, help=f"{action} a system (recorded in the audit log)")
        p.add_argument("code")
        p.add_argument("--by", required=True, help="who decides")
        p.add_argument("--reason", required=True, help="why")
        p.set_defaults(handler=commands.cmd_systems_decide, decision=action)
    p = systems.add_parser("list", help="every system with its state")
    _format_option(p)
    p.set_defaults(handler=commands.cmd_systems_list)
    p = systems.add_parser("show", help="one system with its decisions and last check")
    p.add_argument("code")
    p.set_defaults(handler=commands.cmd_systems_show)
    p = systems.add_parser("verify-log", help="verify the hash chain of the decision log")
    p.add_argument(
        "--head",
        dest="heads",
        type=parse_chain_head,
        action="append",
        default=[],
        metavar="ID:SHA256",
        help="a head published earlier (printed in every report): it must still be in the log, unchanged",
    )
    p.set_defaults(handler=commands.cmd_systems_verify_log)

    exchange = sub.add_parser("exchange", help="packages for Changzhou").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    p = exchange.add_parser("verify", help="verify a package (checksums, signature, sequence, chain)")
    p.add_argument("package", type=Path)
    p.add_argument("--public-key", type=Path, required=True)
    p.add_argument("--previous", type=Path, default=None)
    p.set_defaults(handler=commands.cmd_exchange_verify, needs_home=False)
    p = exchange.add_parser("status", help="packages, their states and receipts")
    _format_option(p)
    p.set_defaults(handler=commands.cmd_exchange_status)
    p = exchange.add_parser("resend", help="send a package again (identical bytes)")
    p.add_argument("sequence", type=int)
    p.set_defaults(handler=commands.cmd_exchange_resend)
    p = exchange.add_parser("receipts", help="collect receipts and flag packages without one")
    _as_of_option(p)
    p.set_defaults(handler=commands.cmd_exchange_receipts)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    configure_logging(verbose=args.verbose)
    settings: Settings | None = None
    try:
        settings = load_settings()
        if getattr(args, "as_of", "absent") is None:
            args.as_of = datetime.now(UTC).astimezone()
        return int(args.handler(args, settings) or 0)
    except HubError as exc:
        print(f"sanheyi: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("sanheyi: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # not the hub's own: one line for the user, the trace in the log
        logging.getLogger("sanheyi").exception("unexpected failure", extra={"file_only": True})
        cause = describe_failure(exc, warehouse_url=settings.warehouse_url if settings is not None else None)
        print(f"sanheyi: {cause}; see the log in SANHEYI_HOME/logs", file=sys.stderr)
        return 1


def print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
