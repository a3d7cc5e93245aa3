"""Logging for the hub: one line per event, batch ids in the text, personal data masked everywhere.

The masking filter is a safety net under the rule that personal data is never logged: whatever a
library or a message lets slip, an 18-character ID number is cut to its first 6 and last 4
characters before any handler writes it.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

# 居民身份证: 17 digits and a digit or X, standing alone. (Department and power codes have letters
# in them and stay readable.)
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


def mask_text(text: str) -> str:
    """Mask every ID number in ``text`` as first 6 + ``********`` + last 4 (§9)."""
    return _ID_NUMBER.sub(lambda m: m.group(0)[:6] + "********" + m.group(0)[-4:], text)


class MaskingFilter(logging.Filter):
    """Rewrites each record's message with ID numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(*, verbose: bool = False, log_dir: Path | None = None) -> None:
    """stderr for the operator (warnings, or progress with --verbose) and a file under the home."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_sanheyi", False):
            root.removeHandler(handler)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = logging.StreamHandler()
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    console.setFormatter(fmt)
    handlers: list[logging.Handler] = [console]
    log_dir = log_dir or Path(os.environ.get("SANHEYI_HOME") or "var") / "logs"
    if log_dir.is_dir():
        file_handler = logging.FileHandler(log_dir / "sanheyi.log", encoding="utf-8")
        file_handler.setLevel(logging.INFO)
        file_handler.setFormatter(fmt)
        handlers.append(file_handler)
    from connectors.credentials import SecretFilter

    for handler in handlers:
        handler._sanheyi = True  # type: ignore[attr-defined]
        handler.addFilter(MaskingFilter())
        handler.addFilter(SecretFilter())  # credentials of self-built systems, whatever logger speaks
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    # third-party chatter (GE registers its docs, WeasyPrint reports every step) is not for operators
    for noisy in ("great_expectations", "weasyprint", "fontTools", "matplotlib", "zeep", "asyncssh", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
