"""a hold on an interface page remembers how far the page reached (ops_batch_hold.through_at)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 15:30:00.000000

A file that a data quality check holds stays in the inbox as it is, so its hold is found again by
the file's digest. An interface page is not read the same way twice: the next read starts a little
before the cursor (the look-back) and its pages fall elsewhere. A hold on an interface therefore
names the system and entity, and its release lets the pages through up to where the held page
reached: this column. Null for holds on files, and for holds made before this revision.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

import warehouse.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


INTERFACE_ORIGINS = ("rest:", "soap:", "sql:")


def feed_key(entity: str) -> str:
    """What a hold on an interface page names from this revision on (sanheyi.quality.content_sha256)."""
    return hashlib.sha256(f"interface feed\n{entity}".encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("ops_batch_hold") as batch:
        batch.add_column(sa.Column("through_at", warehouse.tables.UtcDateTime(timezone=True), nullable=True))
    # Open holds on interface pages were named by the page's records, which the next read does not
    # repeat: name them by their feed, so that the next cycle finds them and their release works. A
    # feed may have piled up several (a new hold each cycle, a release that never matched): one
    # stands for it — the newest released, else the newest — and the others are closed as
    # superseded by it; a release already given is never taken back.
    conn = op.get_bind()
    holds = sa.table(
        "ops_batch_hold", sa.column("batch_id"), sa.column("source_system"), sa.column("entity"),
        sa.column("origin"), sa.column("status"), sa.column("content_sha256"), sa.column("released_by"),
        sa.column("release_reason"),
    )  # fmt: skip
    rows = conn.execute(
        sa.select(holds.c.batch_id, holds.c.source_system, holds.c.entity, holds.c.origin, holds.c.status)
        .where(holds.c.status.in_(("HELD", "RELEASED")))
        .order_by(holds.c.batch_id.desc())
    ).all()
    feeds: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for batch_id, system, entity, origin, status in rows:
        if origin.startswith(INTERFACE_ORIGINS):
            feeds.setdefault((system, entity), []).append((batch_id, status))
    for (_, entity), open_holds in feeds.items():
        released = [batch_id for batch_id, status in open_holds if status == "RELEASED"]
        standing = released[0] if released else open_holds[0][0]
        conn.execute(sa.update(holds).where(holds.c.batch_id == standing).values(content_sha256=feed_key(entity)))
        for batch_id, status in open_holds:
            if batch_id == standing:
                continue
            closed = {"status": "LOADED"}
            if status == "HELD":  # a release given stays on its row, who and why included
                closed |= {"released_by": "warehouse upgrade 0007", "release_reason": f"superseded by hold {standing}"}
            conn.execute(sa.update(holds).where(holds.c.batch_id == batch_id).values(**closed))


def downgrade() -> None:
    with op.batch_alter_table("ops_batch_hold") as batch:
        batch.drop_column("through_at")
