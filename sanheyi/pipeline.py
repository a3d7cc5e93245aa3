"""The stages of one cycle, wired stage to stage. The CLI and the Airflow DAGs call these same functions."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, make_url

from sanheyi.cycle_lock import cycle_lock
from sanheyi.errors import ConfigError, NotInitialisedError
from sanheyi.ingest import IngestSummary, Source, ingest_sources, unified_source
from sanheyi.settings import Settings, default_warehouse_url, load_settings, write_default_config
from warehouse.db import make_engine
from warehouse.migrations import is_up_to_date, upgrade_to_head

log = logging.getLogger(__name__)

HOME_FOLDERS = ("inbox/UNIFIED", "archive", "rejected", "outbox", "reports", "keys", "calendar", "logs", "airflow")


def init_home(settings: Settings) -> list[str]:
    """Create the home, its configuration, keys and an up-to-date warehouse; safe to run again."""
    done: list[str] = []
    for folder in HOME_FOLDERS:
        path = settings.home / folder
        if not path.exists():
            path.mkdir(parents=True)
            done.append(f"created {path}")
    config_existed = settings.config_file.exists()
    write_default_config(settings.home)
    if not config_existed:
        done.append(f"wrote {settings.config_file}")
    settings = load_settings(settings.home)
    from sanheyi.keys import ensure_exchange_keys

    done += ensure_exchange_keys(settings)
    if not settings.warehouse_record.exists():
        settings.warehouse_record.write_text(_warehouse_named(settings) + "\n", encoding="utf-8")
        done.append(f"recorded the warehouse {_warehouse_named(settings)} in {settings.warehouse_record}")
    check_recorded_warehouse(settings)  # init never moves a home to another warehouse
    engine = make_engine(settings.warehouse_url)
    try:
        upgrade_to_head(engine)
    finally:
        engine.dispose()
    done.append("warehouse schema is up to date")
    return done


def require_initialised(settings: Settings) -> None:
    if not settings.config_file.exists():
        raise NotInitialisedError(f"{settings.home} is not set up: run `sanheyi init` first (or set SANHEYI_HOME)")


def _warehouse_named(settings: Settings) -> str:
    """The warehouse as the home records it: ``default`` for the SQLite file under the home (so the
    home can move), else its URL without the password."""
    if settings.warehouse_url == default_warehouse_url(settings.home):
        return "default"
    # without the password at all: a new password is the same warehouse
    return make_url(settings.warehouse_url)._replace(password=None).render_as_string(hide_password=False)


def check_recorded_warehouse(settings: Settings) -> None:
    """Refuse a warehouse other than the one ``sanheyi init`` recorded for this home.

    A shell, cron job or worker without ``SANHEYI_WAREHOUSE_URL`` would otherwise fall back to a new,
    empty SQLite file: it would read the inbox into it and number exchange packages from 1 again.
    """
    if not settings.warehouse_record.exists():
        return  # a home set up before the record existed: the next `sanheyi init` writes it
    recorded = settings.warehouse_record.read_text(encoding="utf-8").strip()
    current = _warehouse_named(settings)
    if recorded and recorded != current:
        raise ConfigError(
            f"数据仓库与本目录记录的不一致 / this home's warehouse is {recorded} (recorded by `sanheyi init` in "
            f"{settings.warehouse_record}), but this process would use {current}: set SANHEYI_WAREHOUSE_URL "
            "(or warehouse_url in config.yaml) to the recorded one. To move the home to another warehouse on "
            "purpose, delete that file and run `sanheyi init`."
        )


_CHECKED_URLS: set[str] = set()


def warehouse_engine(settings: Settings) -> Engine:
    """An engine on the warehouse, which must carry the newest schema (checked once per process)."""
    check_recorded_warehouse(settings)
    engine = make_engine(settings.warehouse_url)
    if settings.warehouse_url not in _CHECKED_URLS:
        if not is_up_to_date(engine):
            engine.dispose()
            raise NotInitialisedError(
                "仓库结构不是最新版本 / the warehouse schema is not the current one: run `sanheyi init` to migrate it"
            )
        _CHECKED_URLS.add(settings.warehouse_url)
    return engine


def new_cycle_id(as_of: datetime) -> str:
    return f"{as_of.strftime('%Y%m%dT%H%M%S%z')}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class IngestResult:
    cycle_id: str
    summary: IngestSummary


def sources_to_read(engine: Engine, settings: Settings) -> list[Source]:
    """The unified platform first, then every approved self-built system (§10.1 order)."""
    sources = [unified_source(settings)]
    from sanheyi.systems import approved_sources

    sources += approved_sources(engine, settings)
    return sources


def ingest_stage(settings: Settings, as_of: datetime, *, cycle_id: str | None = None) -> IngestResult:
    require_initialised(settings)
    cycle_id = cycle_id or new_cycle_id(as_of)
    engine = warehouse_engine(settings)
    try:
        with cycle_lock(settings, "ingest"):
            summary = ingest_sources(engine, settings, sources_to_read(engine, settings), cycle_id=cycle_id, now=as_of)
    finally:
        engine.dispose()
    return IngestResult(cycle_id, summary)


def source_codes(settings: Settings) -> list[str]:
    """The codes of the systems a cycle reads, unified platform first (what the DAG maps over)."""
    engine = warehouse_engine(settings)
    try:
        return [source.system_code for source in sources_to_read(engine, settings)]
    finally:
        engine.dispose()


def ingest_one_source(settings: Settings, system_code: str, as_of: datetime, *, cycle_id: str) -> IngestSummary:
    """Read one system only; the DAG runs one of these per approved system so one failure stays local.

    Unlike the whole-cycle path, a failure here raises, so the task fails and is retried.
    """
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        by_code = {source.system_code: source for source in sources_to_read(engine, settings)}
        if system_code not in by_code:
            from sanheyi.errors import ConfigError

            raise ConfigError(f"system {system_code} is not approved for reading")
        with cycle_lock(settings, f"ingest of {system_code}"):
            summary = ingest_sources(
                engine, settings, [by_code[system_code]], cycle_id=cycle_id, now=as_of, release_held=False
            )
    finally:
        engine.dispose()
    if summary.failed_sources:
        from sanheyi.errors import SourceFailedError

        raise SourceFailedError("; ".join(f"{code}: {message}" for code, message in summary.failed_sources))
    return summary


def release_held_stage(settings: Settings, as_of: datetime, *, cycle_id: str) -> IngestSummary:
    """After all systems: load held steps whose case arrived, quarantine those held too long."""
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        with cycle_lock(settings, "release of held steps"):
            return ingest_sources(engine, settings, [], cycle_id=cycle_id, now=as_of, release_held=True)
    finally:
        engine.dispose()
