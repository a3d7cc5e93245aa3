"""Exchange stage: build the next package, deliver it, collect receipts, flag the overdue ones."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from connectors.credentials import CredentialResolver
from exchange.changzhou import (
    DeliveryError,
    KeyStore,
    OutboxTransport,
    ReceiptOutcome,
    SftpTransport,
    Transport,
    build_package,
    collect_receipts,
    deliver_pending,
    flag_overdue,
    resend,
    simulate_receiver,
    verify_package,
)
from sanheyi.alerts import send_alert
from sanheyi.logs import mask_text
from sanheyi.pipeline import require_initialised, warehouse_engine
from sanheyi.settings import Settings
from warehouse import packages as wp


def package_store(settings: Settings) -> Path:
    """Where built packages are kept for good (resending sends these very bytes)."""
    return settings.home / "exchange" / "packages"


def transport_for(settings: Settings) -> Transport:
    if settings.exchange.transport == "sftp":
        sftp = settings.exchange.sftp
        # from_credential decides what the secret is (a PEM private key or a password) and lets the
        # credential's username win over the configured one
        return SftpTransport.from_credential(
            sftp["host"],
            int(sftp.get("port") or 22),
            sftp["username"],
            sftp.get("remote_dir") or "/incoming",
            CredentialResolver().resolve(sftp.get("credential")),
            known_hosts=sftp.get("known_hosts"),
        )
    return OutboxTransport(settings.outbox)


def build_stage(settings: Settings, as_of: datetime) -> dict:
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        built = build_package(engine, KeyStore(settings.keys_dir), package_store(settings), now=as_of)
    finally:
        engine.dispose()
    if built is None:
        return {"built": None, "records": {}}
    return {"built": built.file_name, "sequence": built.sequence, "records": built.record_counts}


def deliver_stage(settings: Settings, as_of: datetime) -> list[int]:
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        return deliver_pending(engine, transport_for(settings), package_store(settings), now=as_of)
    finally:
        engine.dispose()


def process_receipts(settings: Settings, as_of: datetime) -> str:
    """Apply the receipts waiting at the prefecture's side and flag packages without one.

    When the receipts cannot be reached, overdue packages are flagged all the same and the
    :class:`DeliveryError` is raised after that.
    """
    summary, unreachable = collect_and_flag(settings, as_of)
    if unreachable is not None:
        raise unreachable
    return summary


def collect_and_flag(settings: Settings, as_of: datetime) -> tuple[str, DeliveryError | None]:
    """:func:`process_receipts`, with the failure to reach the receipts returned instead of raised."""
    require_initialised(settings)
    engine = warehouse_engine(settings)
    outcomes: list[ReceiptOutcome] = []
    unreachable = None
    try:
        try:
            outcomes = collect_receipts(engine, transport_for(settings), as_of)
        except DeliveryError as exc:  # flagging needs only the warehouse
            unreachable = exc
        flagged = flag_overdue(engine, as_of, timedelta(hours=settings.exchange.receipt_timeout_hours))
    finally:
        engine.dispose()
    applied = [o for o in outcomes if o.outcome == "APPLIED"]
    refused = [o for o in outcomes if o.outcome != "APPLIED"]
    rejected = [o for o in applied if o.status == wp.REJECTED]
    for outcome in rejected:
        send_alert(rejection_alert(outcome))
    accepted = len(applied) - len(rejected)
    parts = [f"{len(applied)} receipt(s) applied: {accepted} ACCEPTED, {len(rejected)} REJECTED"]
    if rejected:
        parts[0] += f" (packages {[o.sequence for o in rejected]})"
    if unreachable is not None:
        parts = ["receipts not collected"]
    if refused:
        parts.append(f"{len(refused)} refused (" + "; ".join(f"{o.file_name}: {o.reason}" for o in refused) + ")")
    if flagged:
        parts.append(f"no receipt after {settings.exchange.receipt_timeout_hours} h: packages {flagged}")
    return ", ".join(parts), unreachable


def rejection_alert(outcome: ReceiptOutcome) -> str:
    """The alert for a package Changzhou rejected: its number and the prefecture's reasons.

    Faults of the package as a whole (the verifier's lines: files, hashes, sequence) are quoted; of
    the errors about single records only the count per entity is given, since their free text may
    quote a record's values. Every record error is on the package (``sanheyi exchange status``) and
    in the receipt kept under ``receipts/applied/``.
    """
    package_faults = [e["message"] for e in outcome.errors if e["entity"] is None and e["key"] is None]
    per_entity = Counter(e["entity"] or "?" for e in outcome.errors if e["entity"] is not None or e["key"] is not None)
    reasons = [mask_text(message) for message in package_faults[:3]]
    if len(package_faults) > 3:
        reasons.append(f"{len(package_faults) - 3} more")
    if per_entity:
        counts = ", ".join(f"{entity} {count}" for entity, count in sorted(per_entity.items()))
        reasons.append(f"record errors: {counts} (sanheyi exchange status --format json)")
    advice = f"; if it was damaged on the way, `sanheyi exchange resend {outcome.sequence}`" if package_faults else ""
    return (
        f"常州平台拒收交换包 {outcome.sequence} / Changzhou REJECTED package {outcome.sequence}: "
        + ("; ".join(reasons) or "no reason given")
        + advice
    )


def exchange_stage(settings: Settings, as_of: datetime) -> dict:
    """Build → deliver → collect receipts, as one stage of ``sanheyi run``.

    The prefecture out of reach does not end the cycle: receipts are still collected where they can
    be and overdue packages flagged, and ``failures`` names what failed (``(what, message)``, for the
    cycle to report). A package not delivered stays BUILT and goes out with the next run.
    """
    built = build_stage(settings, as_of)
    failures: list[tuple[str, str]] = []
    waiting = _undelivered(settings)
    try:
        delivered = deliver_stage(settings, as_of)
        undelivered: list[int] = []
    except DeliveryError as exc:
        failures.append(("delivery", exc.message))
        undelivered = _undelivered(settings)
        delivered = [sequence for sequence in waiting if sequence not in undelivered]
    receipts, unreachable = collect_and_flag(settings, as_of)
    if unreachable is not None:
        failures.append(("receipts", unreachable.message))
    if built["built"]:
        records = sum(built["records"].values())
        summary = f"package {built['built']} ({records} records)"
    else:
        summary = "nothing changed since the previous package: no package"
    summary += f"; delivered {delivered or 'none'}"
    if undelivered:
        summary += f" (packages {undelivered} not delivered: they stay BUILT for the next run)"
    return {**built, "delivered": delivered, "failures": failures, "summary": f"{summary}; {receipts}"}


def _undelivered(settings: Settings) -> list[int]:
    engine = warehouse_engine(settings)
    try:
        with engine.connect() as conn:
            return [row.sequence for row in wp.list_packages(conn, states=[wp.BUILT])]
    finally:
        engine.dispose()


def verify(package: Path, public_key: Path, previous: Path | None) -> list[str]:
    """The receiving side's verifier; reads only the files it is given (no home needed)."""
    if not package.is_file():
        return [f"package not found: {package}"]
    if not public_key.is_file():
        return [f"public key not found: {public_key}"]
    if previous is not None and not previous.is_file():
        return [f"previous package not found: {previous}"]
    return verify_package(package, public_key.read_bytes(), previous)


def package_status(settings: Settings) -> list[dict]:
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        with engine.connect() as conn:
            rows = wp.list_packages(conn)
    finally:
        engine.dispose()
    return [
        {
            "sequence": r.sequence,
            "file_name": r.file_name,
            "records": sum((r.record_counts or {}).values()),
            "record_counts": r.record_counts,
            "state": r.state,
            "created_at": r.created_at.isoformat(),
            "delivered_at": r.delivered_at.isoformat() if r.delivered_at else None,
            "receipt_status": r.receipt_status,
            "receipt_errors": r.receipt_errors,
            "flagged_at": r.flagged_at.isoformat() if r.flagged_at else None,
        }
        for r in rows
    ]


def resend_package(settings: Settings, sequence: int) -> str:
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        path = resend(engine, sequence, transport_for(settings), package_store(settings))
    finally:
        engine.dispose()
    return f"resent {path.name} (identical bytes)"


def demo_receiver_round_trip(settings: Settings, as_of: datetime) -> list[str]:
    """The demo's stand-in for Changzhou: verify what is in the outbox and answer with receipts."""
    receipts = simulate_receiver(settings.outbox, KeyStore(settings.keys_dir).public_key_pem(), as_of)
    lines = [f"receiver wrote {path.name}" for path in receipts]
    lines.append(process_receipts(settings, as_of))
    return lines
