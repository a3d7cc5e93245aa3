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

import logging
import os
import re
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
