"""Version-aware upsert of validated records (Interface Standard v1 §4).

For one key the highest ``version`` wins. A record whose version is lower than the stored one is
``STALE``; one equal to the stored one with the same content is a ``DUPLICATE``; the same version
with other content is a ``VERSION_CONFLICT`` and goes back to the caller for the quarantine. The
same rules apply between records of one batch (earlier lines win ties).

The caller owns the transaction: everything here runs on the connection it is given, so a batch
is loaded completely or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from psycopg.errors import UniqueViolation
from sqlalchemy import Connection, Table, select, tuple_

from warehouse.bulk import (
    arrow_table,
    copy_frame,
    copy_rows,
    create_key_stage,
    create_stage,
    frame_to_rows,
    is_postgres,
)
from warehouse.staging import StagedRows, stage_in_connection
from warehouse.tables import ENTITY_KEYS, ENTITY_TABLES, dim_power_item_history


@dataclass(frozen=True)
class UpsertResult:
    """What happened to the records of one batch."""

    loaded: int
    duplicate: int
    stale: int
    conflicts: pd.DataFrame  # rows of the batch to quarantine as VERSION_CONFLICT
    loaded_rows: pd.DataFrame  # rows that became the stored version (for reference caches)


def _classify_within_batch(frame: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, int, int, pd.DataFrame]:
    """Keep one candidate per key; count the others as stale/duplicate or return them as conflicts."""
    if not frame.duplicated(keys).any():  # the usual batch: every key once, nothing to choose
        return frame, 0, 0, frame.iloc[0:0]
    ordered = frame.sort_values(
        [*keys, "version", "_line"], ascending=[*([True] * len(keys)), False, True], kind="stable"
    )
    is_candidate = ~ordered.duplicated(keys, keep="first")
    if is_candidate.all():
        return ordered, 0, 0, ordered.iloc[0:0]
    group = ordered.groupby(keys, sort=False, dropna=False)
    best_version = group["version"].transform("first")
    best_sha = group["payload_sha256"].transform("first")
    others = ordered[~is_candidate]
    lower = others["version"] < best_version[~is_candidate]
    same = others["payload_sha256"] == best_sha[~is_candidate]
    stale = int(lower.sum())
    duplicate = int((~lower & same).sum())
    conflicts = others[~lower & ~same]
    return ordered[is_candidate], stale, duplicate, conflicts


@dataclass(frozen=True)
class _AgainstStored:
    loadable: pd.DataFrame  # newer than the stored version, or of a key not stored
    new_key: np.ndarray  # per loadable row: its key was not stored
    stale: int
    duplicate: int
    conflicts: pd.DataFrame


def _against_stored(candidates: pd.DataFrame, stored: pd.DataFrame, keys: list[str]) -> _AgainstStored:
    """The batch's candidates (one per key) weighed against the stored versions of their keys."""
    merged = candidates[[*keys, "version", "payload_sha256"]].merge(
        stored, on=keys, how="left", suffixes=("", "_stored")
    )
    has_stored = merged["version_stored"].notna().to_numpy()
    version, version_stored = merged["version"].to_numpy(), merged["version_stored"].to_numpy()
    equal = has_stored & (version == version_stored)
    same = (merged["payload_sha256"] == merged["payload_sha256_stored"]).to_numpy()
    loadable = ~has_stored | (version > version_stored)
    return _AgainstStored(
        loadable=candidates[loadable],
        new_key=~has_stored[loadable],
        stale=int((has_stored & (version < version_stored)).sum()),
        duplicate=int((equal & same).sum()),
        conflicts=candidates[equal & ~same],
    )


@dataclass(frozen=True)
class Weighed:
    """Records weighed by version against each other and against the versions kept of their keys."""

    newer: pd.DataFrame  # one row per key: of a key not kept, or newer than the kept version
    stale: int
    duplicate: int
    conflicts: pd.DataFrame  # rows to quarantine as VERSION_CONFLICT


def weigh_versions(frame: pd.DataFrame, kept: pd.DataFrame, keys: list[str]) -> Weighed:
    """The rules of ``upsert_records`` for records kept outside the record tables (held steps).

    ``frame`` has the keys, ``version``, ``payload_sha256`` and ``_line`` (the earliest line wins a
    tie); ``kept`` the keys, ``version_stored`` and ``payload_sha256_stored``, one row per key.
    """
    candidates, stale, duplicate, conflicts = _classify_within_batch(frame, keys)
    if kept.empty:
        return Weighed(candidates, stale, duplicate, conflicts)
    against = _against_stored(candidates, kept, keys)
    if not against.conflicts.empty:
        conflicts = pd.concat([conflicts, against.conflicts])
    return Weighed(against.loadable, stale + against.stale, duplicate + against.duplicate, conflicts)


_LOOKUP_KEYS = 500  # keys per query of rows_with_keys


def rows_with_keys(conn: Connection, table: Table, keys: Sequence[str], wanted: Iterable[tuple], *columns: str) -> list:
    """``keys`` and ``columns`` of the rows of ``table`` whose key is one of ``wanted`` (for small
    sets: one query per 500 keys)."""
    key_columns = [table.c[k] for k in keys]
    wanted = list(dict.fromkeys(wanted))
    found: list = []
    for start in range(0, len(wanted), _LOOKUP_KEYS):
        found += conn.execute(
            select(*key_columns, *(table.c[c] for c in columns)).where(
                tuple_(*key_columns).in_(wanted[start : start + _LOOKUP_KEYS])
            )
        ).all()
    return found


def stored_copies(conn: Connection, entity: str, frame: pd.DataFrame) -> np.ndarray:
    """Per row of ``frame`` (validated records with ``payload_sha256``): the warehouse holds this very
    version of the record already (same key, version and content)."""
    if frame.empty:
        return np.zeros(0, dtype=bool)
    keys = list(ENTITY_KEYS[entity])
    wanted = frame[keys].itertuples(index=False, name=None)
    stored = {
        tuple(row) for row in rows_with_keys(conn, ENTITY_TABLES[entity], keys, wanted, "version", "payload_sha256")
    }
    rows = zip(frame[keys].itertuples(index=False, name=None), frame["version"], frame["payload_sha256"], strict=True)
    return np.array([(*key, int(version), sha) in stored for key, version, sha in rows], dtype=bool)


def rows_to_stage(entity: str, frame: pd.DataFrame) -> pa.Table:
    """SQLite: what ``upsert_records`` reads from a stage for ``frame`` (see warehouse/staging.py)."""
    table = ENTITY_TABLES[entity]
    columns = [c.name for c in table.columns if c.name != "batch_id"]
    missing = {c: None for c in columns if c not in frame.columns}
    return arrow_table(frame.assign(**missing) if missing else frame, table, [*columns, "_line"])


def upsert_records(
    conn: Connection, entity: str, frame: pd.DataFrame, batch_id: int, *, staged: StagedRows | None = None
) -> UpsertResult:
    """Load ``frame`` (validated records with ``payload``, ``payload_sha256`` and ``_line``).

    On SQLite, ``staged`` holds ``rows_to_stage(entity, frame)``, attached to ``conn``'s transaction;
    without it the rows are staged through ``conn``.
    """
    table = ENTITY_TABLES[entity]
    keys = list(ENTITY_KEYS[entity])
    if frame.empty:
        return UpsertResult(0, 0, 0, frame, frame)
    candidates, stale, duplicate, conflicts = _classify_within_batch(frame, keys)

    candidates = candidates.copy()
    for column in table.columns:
        if column.name not in candidates.columns:
            candidates[column.name] = None
    candidates["batch_id"] = batch_id
    columns = [c.name for c in table.columns]

    postgres = is_postgres(conn)
    if postgres:
        # JIT compiling these one-off bulk statements costs more than it saves (to the end of the batch)
        conn.exec_driver_sql("SET LOCAL jit = off")
        if _copy_if_all_new(conn, table, columns, candidates):
            if entity == "power_item":
                _record_item_history(conn, candidates)
            return UpsertResult(len(candidates), duplicate, stale, conflicts, candidates)
        # Some key is stored: the batch's keys go into a stage, and the version lookup is one join there.
        stored = _stored_versions_postgres(conn, table, keys, candidates)
    else:
        # SQLite: the whole batch is staged at once (warehouse/staging.py). Keys not stored yet go in
        # first, in one statement that probes each key once; only if some key was stored before are
        # the stored versions looked up, and the newer records upserted (below).
        if staged is not None:
            stage = staged.name
        else:
            stage = stage_in_connection(conn, f"stg_{table.name}", rows_to_stage(entity, frame))
        # the stage holds every record of the frame; only the candidates are read from it
        chosen = None if len(candidates) == len(frame) else candidates["_line"]
        inserted = _insert_new_keys_from_stage(conn, table, columns, stage, batch_id, chosen)
        stored = (
            _stored_versions_in_stage(conn, table, keys, stage, batch_id)
            if inserted < len(candidates)
            else pd.DataFrame(columns=[*keys, "version_stored", "payload_sha256_stored"])
        )
    loaded_rows = candidates
    new_key = np.ones(len(candidates), dtype=bool)  # not stored when looked up
    if not stored.empty:
        against = _against_stored(candidates, stored, keys)
        stale, duplicate = stale + against.stale, duplicate + against.duplicate
        conflicts = pd.concat([conflicts, against.conflicts]) if not against.conflicts.empty else conflicts
        loaded_rows, new_key = against.loadable, against.new_key

    if postgres:
        refused = _load_postgres(conn, table, keys, columns, loaded_rows, new_key)
        if not refused.empty:
            # Another loader stored the same or a newer version of these keys after the look-up (its
            # commit is visible now, and the upsert holds their rows): count them against it.
            against = _against_stored(refused, _stored_versions_postgres(conn, table, keys, refused), keys)
            if not against.loadable.empty:  # cannot happen while keys are never deleted; never count wrong
                raise RuntimeError(f"{table.name}: {len(against.loadable)} rows neither written nor outdated")
            stale, duplicate = stale + against.stale, duplicate + against.duplicate
            conflicts = pd.concat([conflicts, against.conflicts]) if not against.conflicts.empty else conflicts
            loaded_rows = loaded_rows[~loaded_rows["_line"].isin(refused["_line"])]
    elif not new_key.all():
        replacing = loaded_rows["_line"][~new_key]
        _upsert_from_stage(conn, table, keys, columns, stage, batch_id, replacing)
    if entity == "power_item" and not loaded_rows.empty:
        _record_item_history(conn, loaded_rows)
    return UpsertResult(len(loaded_rows), duplicate, stale, conflicts, loaded_rows)


def _copy_if_all_new(conn: Connection, table: Table, columns: list[str], rows: pd.DataFrame) -> bool:
    """PostgreSQL: ``COPY`` ``rows`` straight into the table if none of their keys is stored.

    A bulk load's keys are mostly new, and then the copy is all there is to do: no stage of keys, no
    look-up. If a key is stored (or another loader stores one meanwhile) the copy fails on it, is
    rolled back to its savepoint, and the caller looks the versions up. That costs the rows copied
    before the failing one, which in a batch of updates is usually the first.
    """
    try:
        with conn.begin_nested():
            copy_frame(conn, table.name, rows, table, columns)
    except UniqueViolation:
        return False
    return True


def _load_postgres(
    conn: Connection, table: Table, keys: list[str], columns: list[str], rows: pd.DataFrame, new_key: np.ndarray
) -> pd.DataFrame:
    """PostgreSQL: ``COPY`` rows with keys not stored yet straight into the table; upsert the others.

    Most rows of a bulk load are new: copying them in directly spares writing and reading a stage
    and the upsert's conflict handling. Should another loader have stored one of those keys since
    the lookup, the copy fails, is rolled back to its savepoint, and every row takes the upsert.

    Returns the rows the upsert did not apply: their key holds the same or a newer version, stored
    by another loader after the look-up.
    """
    upsert = rows[~new_key]
    fresh = rows[new_key]
    if not fresh.empty:
        try:
            with conn.begin_nested():
                copy_frame(conn, table.name, fresh, table, columns)
        except UniqueViolation:
            upsert = rows
    if upsert.empty:
        return upsert
    # rows replacing a stored version go through a stage and one INSERT … ON CONFLICT, whose WHERE
    # never lets an older version overwrite a newer one; RETURNING tells which rows it wrote
    stage = f"stg_{table.name}"
    create_stage(conn, table, stage)
    copy_frame(conn, stage, upsert, table, columns)
    written = conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(columns)} "
        f"FROM {stage} {_on_conflict(table, keys, columns)} RETURNING {', '.join(keys)}"
    ).all()
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage}")
    if len(written) == len(upsert):
        return upsert.iloc[0:0]
    applied = {tuple(key) for key in written}
    return upsert[[key not in applied for key in upsert[keys].itertuples(index=False, name=None)]]


def _from_stage(columns: list[str], stage: str, lines: pd.Series | None) -> tuple[str, dict]:
    """``SELECT`` of ``columns`` from the stage (the batch id given, the ``lines`` only if given)."""
    selected = ", ".join(":batch_id" if c == "batch_id" else c for c in columns)
    if lines is None:
        return f"SELECT {selected} FROM {stage} WHERE true", {}  # SQLite needs a WHERE before ON CONFLICT
    lines_json = json.dumps(lines.astype(int).tolist())
    return f"SELECT {selected} FROM {stage} WHERE _line IN (SELECT value FROM json_each(:lines))", {"lines": lines_json}


def _insert_new_keys_from_stage(
    conn: Connection, table: Table, columns: list[str], stage: str, batch_id: int, lines: pd.Series | None
) -> int:
    """SQLite: insert the staged records (of ``lines``) whose key is not stored; returns how many went in."""
    select_sql, parameters = _from_stage(columns, stage, lines)
    result = conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(columns)}) {select_sql} ON CONFLICT DO NOTHING",
        {"batch_id": batch_id, **parameters},
    )
    return result.rowcount


def _stored_versions_in_stage(
    conn: Connection, table: Table, keys: list[str], stage: str, batch_id: int
) -> pd.DataFrame:
    """SQLite: version and content hash of the records stored before batch ``batch_id`` that share a
    key with the staged batch.

    The rows come back as one JSON array in one row: fetching row by row would give the interpreter's
    lock up and back per row, which a thread validating beside this one makes slow.
    """
    columns = [*keys, "version_stored", "payload_sha256_stored"]
    selected = ", ".join([*(f"s.{k}" for k in keys), "t.version", "t.payload_sha256"])
    on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    # CROSS JOIN keeps the stage as the outer loop: one probe of the primary key per staged row,
    # never a scan of the (much larger) table.
    found = conn.exec_driver_sql(
        f"SELECT json_group_array(json_array({selected})) FROM {stage} AS s CROSS JOIN {table.name} AS t "
        f"WHERE {on} AND t.batch_id <> ?",
        (batch_id,),
    ).scalar_one()
    # a key staged twice (an older line of the batch besides its candidate) is found twice
    return pd.DataFrame(json.loads(found), columns=columns).drop_duplicates(keys)


def _stored_versions_postgres(conn: Connection, table: Table, keys: list[str], rows: pd.DataFrame) -> pd.DataFrame:
    """PostgreSQL: the stored versions of ``rows``' keys (staged, then one join)."""
    if conn.execute(select(table.c[keys[0]]).limit(1)).first() is None:
        return pd.DataFrame(columns=[*keys, "version_stored", "payload_sha256_stored"])
    key_stage = f"stg_{table.name}_keys"
    create_key_stage(conn, table, keys, key_stage)
    copy_frame(conn, key_stage, rows, table, keys)
    stored = _stored_versions_staged(conn, table, keys, key_stage)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {key_stage}")
    return stored


def _stored_versions_staged(conn: Connection, table: Table, keys: list[str], stage: str) -> pd.DataFrame:
    """PostgreSQL: the stored versions of the staged keys, in one join."""
    columns = [*keys, "version_stored", "payload_sha256_stored"]
    on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    # Probe the primary key once per staged row: the stage is unanalysed and a hash join would read
    # the whole (growing) table for every batch.
    conn.exec_driver_sql("SET LOCAL enable_hashjoin = off")
    conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
    rows = conn.exec_driver_sql(
        f"SELECT {', '.join(f't.{k}' for k in keys)}, t.version, t.payload_sha256 FROM {table.name} t "
        f"JOIN {stage} s ON {on}"
    ).all()
    conn.exec_driver_sql("RESET enable_hashjoin")
    conn.exec_driver_sql("RESET enable_mergejoin")
    return pd.DataFrame(rows, columns=columns)


def _on_conflict(table: Table, keys: list[str], columns: list[str]) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    return f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates} WHERE excluded.version > {table.name}.version"


def _upsert_from_stage(
    conn: Connection, table: Table, keys: list[str], columns: list[str], stage: str, batch_id: int, lines: pd.Series
) -> None:
    """SQLite: upsert the staged records of ``lines``; the ``WHERE`` of the upsert never lets an older
    version overwrite a stored newer one."""
    select_sql, parameters = _from_stage(columns, stage, lines)
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(columns)}) {select_sql} {_on_conflict(table, keys, columns)}",
        {"batch_id": batch_id, **parameters},
    )


def _record_item_history(conn: Connection, rows: pd.DataFrame) -> None:
    history = pd.DataFrame(
        {
            "power_code": rows["power_code"],
            "version": rows["version"],
            "state": rows["state"],
            "dept_code": rows["dept_code"],
            "promised_limit": rows["promised_limit"],
            "valid_from_at": rows["updated_at"],
            **{c: rows[c] for c in ("power_type", "time_unit", "fee", "penalty_min", "penalty_max", "flow")},
        }
    )
    columns = list(history.columns)
    stage = "stg_power_item_history"
    create_stage(conn, dim_power_item_history, stage)
    copy_rows(conn, stage, columns, frame_to_rows(history, dim_power_item_history, columns, is_postgres(conn)))
    conn.exec_driver_sql(
        f"INSERT INTO dim_power_item_history ({', '.join(columns)}) SELECT {', '.join(columns)} FROM {stage} "
        "WHERE true ON CONFLICT (power_code, version) DO NOTHING"
    )
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage}")
