"""Logging for the hub: one line per event, batch ids in the text, personal data masked everywhere.

The masking is a safety net under the rule that personal data is never logged: whatever a library,
a message or a traceback lets slip, an 18-character ID number is cut to its first 6 and last 4
characters before any handler writes it. :func:`configure_logging` sets it up for the command line;
code that runs under handlers set up by someone else (Airflow's task logging) calls
:func:`install_log_masking` first.

Each line carries its context as ``key=value`` fields in brackets after the logger name, e.g.
``INFO sanheyi.ingest [cycle=20261128T090000+0800-1a2b3c4d system=UNIFIED batch=12]: ...``, so the
lines of one cycle, one source or one batch can be picked out with grep: :func:`log_context` sets
the cycle and system for everything logged inside it, ``extra={"batch_id": n}`` names a batch.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sqlite3
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from sanheyi.errors import UnexpectedFailure
from schemas.errors import HubError

# 居民身份证: 17 digits and a digit or X, standing alone. (Department and power codes have letters
# in them and stay readable.)
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


# PostgreSQL's error details quote the record they failed on ("Failing row contains (张三, …)", a
# COPY's line, a key's values), names included, which no pattern can recognise: they are withheld.
# A detail runs to the statement SQLAlchemy appends, to the next traceback of a chain, or to the
# end: a quoted value may span lines, blank ones included.
_DATABASE_DETAIL = re.compile(
    r"^(DETAIL|CONTEXT):  .*?(?=\n\[SQL: |\n\(Background on this error"
    r"|\n\n(?:The above exception|During handling of the above exception|Traceback )|\n?\Z)",
    re.MULTILINE | re.DOTALL,
)


def mask_text(text: str) -> str:
    """Mask every ID number in ``text`` as first 6 + ``********`` + last 4 (§9), and withhold the
    database's details, which quote records."""
    text = _DATABASE_DETAIL.sub(r"\1:  (withheld: it may quote a record)", text)
    return _ID_NUMBER.sub(lambda m: m.group(0)[:6] + "********" + m.group(0)[-4:], text)


@contextmanager
def failures_without_records(what: str) -> Iterator[None]:
    """Let the hub's own errors through (their messages carry no personal data) and replace any other
    exception by :class:`UnexpectedFailure`, after logging its traceback through the masking handlers.

    For code whose exceptions are reported by a framework that logs them as they are (Airflow's task
    runner writes a failed task's exception straight to the task log)."""
    try:
        yield
    except HubError:
        raise
    except Exception as exc:
        # The traceback goes in as text, masked here: a handler that renders ``exc_info`` itself
        # (Airflow's, as JSON with its line breaks escaped) would write the exception's own text.
        logging.getLogger("sanheyi").error(
            "%s failed:\n%s", what, mask_text(traceback.format_exc()), extra={"file_only": True}
        )
        raise UnexpectedFailure(
            f"{what}: 意外故障 ({type(exc).__name__}) / unexpected failure ({type(exc).__name__}); "
            "the traceback, masked, is in the log"
        ) from None


def describe_failure(exc: BaseException, *, warehouse_url: str | None = None) -> str:
    """One line an operator can act on, for an exception that reached the top of a command or source.

    Common causes are told by name and place: the SQLite warehouse locked by another process, a full
    disk, a file or directory that cannot be used, a PostgreSQL server that cannot be reached (its
    host and port, from the exception or ``warehouse_url``). Anything else is told by its kind, with
    the message of the hub's own errors, masked. Never the text of another exception, which may quote
    a record (a name in a database's ``DETAIL``), and never a password.
    """
    if isinstance(exc, HubError):
        return mask_text(f"{type(exc).__name__}: {exc.message.splitlines()[0] if exc.message else ''}")
    for cause in _causes(exc):
        line = _sqlite_cause(cause, warehouse_url) or _postgres_cause(cause, warehouse_url) or _os_cause(cause)
        if line is not None:
            return mask_text(line)
    kind = type(exc).__name__
    orig = getattr(exc, "orig", None)  # the driver's exception under SQLAlchemy's
    if isinstance(orig, BaseException):
        kind += f" from {type(orig).__module__}.{type(orig).__name__}"
        sqlstate = getattr(orig, "sqlstate", None)
        if isinstance(sqlstate, str):
            kind += f", SQLSTATE {sqlstate}"
    return f"unexpected failure ({kind})"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, the driver's under SQLAlchemy's, and what each was raised from or during."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (getattr(current, "orig", None), current.__cause__, current.__context__) if e is not None]


def _sqlite_file(warehouse_url: str | None) -> str:
    if warehouse_url and warehouse_url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        database = make_url(warehouse_url).database
        if database:
            return database
    return "(its file)"


def _sqlite_cause(exc: BaseException, warehouse_url: str | None) -> str | None:
    if not isinstance(exc, sqlite3.Error):
        return None
    name = getattr(exc, "sqlite_errorname", None)
    text = str(exc)
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED") or "database is locked" in text:
        return (
            f"仓库被其他进程占用 / the SQLite warehouse {_sqlite_file(warehouse_url)} is locked by another "
            "process (a cycle, a report or an Airflow task still running, or a sqlite3 shell left open); "
            "run again when it has finished"
        )
    if name == "SQLITE_FULL" or "database or disk is full" in text:
        return (
            f"磁盘已满 / no space left for the SQLite warehouse {_sqlite_file(warehouse_url)} or its "
            "temporary files (TMPDIR); free space on that disk"
        )
    if name in ("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM") or "unable to open database file" in text:
        return (
            f"仓库无法打开或写入 / the SQLite warehouse {_sqlite_file(warehouse_url)} cannot be opened or written; "
            "check that SANHEYI_HOME is right and initialised (sanheyi init) and that this account may write the "
            "file and its directory"
        )
    return None


# libpq's reasons for a failed connection, in its words and in an operator's
_PG_REASONS = tuple(
    (re.compile(pattern), said)
    for pattern, said in (
        (r"Connection refused", "connection refused"),
        (r"timeout expired|timed out", "no answer (timed out)"),
        (r"password authentication failed", "the user name or password was refused"),
        (r"no password supplied", "the server wants a password"),
        (r'role "[^"]*" does not exist', "the user does not exist"),
        (r'database "[^"]*" does not exist', "the database does not exist"),
        (r"no pg_hba\.conf entry", "the server does not accept this client (pg_hba.conf)"),
        (r"resolve host|translate host name", "the host name cannot be resolved"),
        (r"the database system is (starting up|shutting down)", "the server is starting up or shutting down"),
    )
)
_PG_AT = re.compile(r'server at "([^"]+)"(?: \([^)]*\))?, port (\d+)')
_PG_SOCKET = re.compile(r'server on socket "([^"]+)"')
_PG_HOST = re.compile(r"resolve host '([^']+)'")


def _postgres_cause(exc: BaseException, warehouse_url: str | None) -> str | None:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - installed with the hub
        return None
    if not isinstance(exc, psycopg.Error):
        return None
    sqlstate = getattr(exc, "sqlstate", None) or ""
    text = str(exc)
    host, port = _postgres_address(text, warehouse_url)
    if sqlstate == "53100":
        return f"磁盘已满 / the PostgreSQL server at {host}:{port} has no space left on its disk (SQLSTATE 53100)"
    connecting = text.startswith(("connection failed", "failed to resolve host")) or "connection to server" in text
    if not isinstance(exc, psycopg.OperationalError) or not (connecting or sqlstate.startswith(("08", "57P"))):
        return None
    reason = next((said for pattern, said in _PG_REASONS if pattern.search(text)), "connection failed")
    return (
        f"无法连接 PostgreSQL / cannot connect to PostgreSQL at {host}:{port}: {reason}; check that the server "
        "runs and that the URL (SANHEYI_WAREHOUSE_URL for the warehouse) is right"
    )


def _postgres_address(text: str, warehouse_url: str | None) -> tuple[str, str]:
    """Host and port the exception names, else the URL's (never its password)."""
    host = port = None
    if warehouse_url and warehouse_url.startswith("postgresql"):
        from sqlalchemy.engine import make_url

        url = make_url(warehouse_url)
        host, port = url.host, url.port
    if m := _PG_AT.search(text):
        host, port = m.group(1), m.group(2)
    elif m := _PG_SOCKET.search(text):
        host, port = m.group(1), None
    elif m := _PG_HOST.search(text):
        host = m.group(1)
    return host or "localhost", str(port or 5432)


_HUB_ROOT = Path(__file__).resolve().parents[1]


def _hub_frame(exc: BaseException) -> str | None:
    """The innermost place in the hub's own code the exception passed: what it was doing."""
    where = None
    tb = exc.__traceback__
    while tb is not None:
        path = Path(tb.tb_frame.f_code.co_filename)
        if path.is_relative_to(_HUB_ROOT):
            parts = path.relative_to(_HUB_ROOT).parts
            if not any(p.startswith(".") or p == "site-packages" for p in parts):
                where = f"{'/'.join(parts)}, {tb.tb_frame.f_code.co_name}"
        tb = tb.tb_next
    return where


def _os_cause(exc: BaseException) -> str | None:
    if not isinstance(exc, OSError):
        return None
    path = exc.filename
    if exc.errno == errno.ENOSPC:
        if path is None:
            return (
                "磁盘已满 / no space left on a device (the file is not named); "
                "check the disks of SANHEYI_HOME and TMPDIR"
            )
        return f"磁盘已满 / no space left on the device of {path}; free space on that disk"
    if path is None:
        return None
    target = f"{path} → {exc.filename2}" if exc.filename2 is not None else str(path)
    doing = _hub_frame(exc)
    place = f" (in {doing})" if doing else ""
    reason = exc.strerror or type(exc).__name__
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"权限不足 / {reason}: {target}{place}; the account running sanheyi needs access to it and to its "
            "directory (owner, mode, immutable flag)"
        )
    if exc.errno == errno.EROFS:
        return f"只读文件系统 / {reason}: {target}{place}; remount it writable or move SANHEYI_HOME"
    return f"文件操作失败 / {reason}: {target}{place}"


class MaskingFilter(logging.Filter):
    """Rewrites each record's message, traceback and stack with ID numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        # A stdlib formatter prints ``exc_text`` when it is set and renders it from ``exc_info``
        # only when it is not, so the traceback is rendered here, masked. ``exc_info`` stays for
        # renderers that ignore ``exc_text`` (structlog, in Airflow's task processes); what they
        # write is masked by :class:`MaskedFormatter`.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


class MaskedFormatter(logging.Formatter):
    """Wraps a handler's formatter and masks ID numbers and known secrets in everything it writes.

    Filters see a record before it is formatted; whatever the formatter adds afterwards (a
    traceback rendered from ``exc_info``, structlog's JSON with the exception's text) is only
    caught here, on the finished text.
    """

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        from connectors.credentials import scrub

        return mask_text(scrub(self.inner.format(record)))


# Airflow writes a task's log through the root logger's handlers (in its task processes) and, in
# its own processes, through the handlers of ``airflow.task`` as well.
_LOGGERS_TO_MASK = ("", "airflow.task")


def install_log_masking(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Mask personal data and secrets in what ``handlers`` write (default: the root logger's and
    ``airflow.task``'s). Idempotent: call it wherever hub code may run under handlers set up by
    someone else, e.g. at the start of an Airflow task.
    """
    from connectors.credentials import SecretFilter

    if handlers is None:
        handlers = [h for name in _LOGGERS_TO_MASK for h in logging.getLogger(name).handlers]
    for handler in handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
        if not any(isinstance(f, SecretFilter) for f in handler.filters):
            handler.addFilter(SecretFilter())  # credentials of self-built systems, whatever logger speaks
        if not isinstance(handler.formatter, MaskedFormatter):
            handler.setFormatter(MaskedFormatter(handler.formatter))


_CONTEXT: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("sanheyi_log_context", default=())


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add ``key=value`` fields (cycle, system, ...) to every line logged inside the block."""
    current = dict(_CONTEXT.get())
    current.update({key: str(value) for key, value in fields.items() if value is not None})
    token = _CONTEXT.set(tuple(current.items()))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class ContextFilter(logging.Filter):
    """Puts the context fields (and ``batch_id`` given as ``extra``) on the record as ``context``."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = dict(_CONTEXT.get())
        batch_id = getattr(record, "batch_id", None)
        if batch_id is not None:
            fields["batch"] = str(batch_id)
        record.context = " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]" if fields else ""
        return True


class _OneLineFormatter(logging.Formatter):
    """The operator's terminal gets one line per event; tracebacks go to the log file only."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


class _FailsInOneLine:
    """For a handler: when it cannot write (a full disk, a log file made read-only meanwhile, a closed
    stderr), one line on stderr says so, once, and the command goes on. The standard handler prints a
    traceback for every record instead, with the record's message and arguments, unmasked."""

    _failed: bool = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            if self._failed:
                return
            self._failed = True
            what = f"the log file {self.baseFilename}" if hasattr(self, "baseFilename") else "stderr"
            line = (
                f"sanheyi: 日志无法写入 / cannot write {what} ({exc.strerror or type(exc).__name__}); "
                "log lines are lost while it cannot be written\n"
            )
        else:  # a fault of the line itself (its arguments do not fit its format): where it is logged
            where = f"{record.pathname}:{record.lineno}"
            line = f"sanheyi: a log line could not be written ({type(exc).__name__}) at {where}\n"
        try:
            sys.stderr.write(line)
        except (OSError, ValueError):
            pass


class _LogFileHandler(_FailsInOneLine, logging.FileHandler):
    pass


class _ConsoleHandler(_FailsInOneLine, logging.StreamHandler):
    pass


def configure_logging(*, verbose: bool = False, log_dir: Path | None = None) -> None:
    """stderr for the operator (warnings, or progress with --verbose) and a file under the home.

    A log file that cannot be opened (not writable for this account, a directory in its place) leaves
    the command with stderr only and one warning that names the file; one that fails later (a full
    disk) says so in one line, once.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_sanheyi", False):
            root.removeHandler(handler)
            handler.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s")
    console = _ConsoleHandler()
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    console.setFormatter(_OneLineFormatter(fmt._fmt))
    # ``extra={"file_only": True}``: for the log file (e.g. a traceback the CLI sums up in one line)
    console.addFilter(lambda record: not getattr(record, "file_only", False))
    handlers: list[logging.Handler] = [console]
    log_dir = log_dir or Path(os.environ.get("SANHEYI_HOME") or "var") / "logs"
    log_file = log_dir / "sanheyi.log"
    unopened: OSError | None = None
    # Before ``sanheyi init`` there is no log directory, and nothing to warn about.
    if log_dir.exists():
        try:
            file_handler = _LogFileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            unopened = exc
        else:
            file_handler.setLevel(logging.INFO)
            file_handler.setFormatter(fmt)
            handlers.append(file_handler)
    for handler in handlers:
        handler._sanheyi = True  # type: ignore[attr-defined]
        handler.addFilter(ContextFilter())
        root.addHandler(handler)
    install_log_masking(handlers)
    root.setLevel(logging.INFO)
    if unopened is not None:
        logging.getLogger("sanheyi.logs").warning(
            "日志文件无法打开 / cannot open the log file %s (%s); logging to stderr only",
            log_file,
            unopened.strerror or type(unopened).__name__,
        )
    # third-party chatter (GE registers its docs, WeasyPrint reports every step) is not for operators
    for noisy in ("great_expectations", "weasyprint", "fontTools", "matplotlib", "zeep", "asyncssh", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
