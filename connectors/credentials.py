"""Credentials of self-built systems, resolved by name and kept out of every message.

The registry stores only the *name* of a credential (interface standard §6). The secret is
resolved at run time, in this order:

1. an injected mapping (the Airflow DAGs inject Connections this way; tests inject fixtures);
2. the environment variable ``SANHEYI_CRED_{NAME}`` (``NAME`` upper-cased, every character other
   than ``A-Z0-9`` turned into ``_``), holding either a JSON object
   ``{"username": ..., "password": ..., "token": ...}`` (any subset) or a plain secret, which is
   used as the bearer token (REST), the password (SOAP WS-Security, SQL) as the type needs.

A resolved secret is registered with :data:`SCRUBBER`; :func:`scrub` replaces every registered
value (and its URL-encoded form) by ``***`` in any text, and :class:`SecretFilter` does the same
for log records. Connectors run every message they raise through it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

from connectors.remote import ConnectorConfigError

__all__ = [
    "ENV_PREFIX",
    "SCRUBBER",
    "Credential",
    "CredentialResolver",
    "SecretFilter",
    "SecretScrubber",
    "env_var_name",
    "install_log_filter",
    "scrub",
]

ENV_PREFIX = "SANHEYI_CRED_"
MASK = "***"
# Shorter values would mask innocent text ("a", "id"); such secrets are refused when resolved.
_MIN_SECRET_LEN = 4


def env_var_name(name: str) -> str:
    """The environment variable that holds credential ``name``."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())


class SecretScrubber:
    """A process-wide set of secret values to blank out of text."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *values: str | None) -> None:
        with self._lock:
            for value in values:
                if value and len(value) >= _MIN_SECRET_LEN:
                    for form in {value, quote(value, safe=""), quote_plus(value)}:
                        self._values.add(form)
            # Longest first, so a secret that contains another is masked whole.
            alternatives = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)


SCRUBBER = SecretScrubber()


def scrub(text: object) -> str:
    """``str(text)`` with every known secret replaced by ``***``."""
    return SCRUBBER.scrub(str(text))


class SecretFilter(logging.Filter):
    """A logging filter that scrubs known secrets from the message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's own error path
            return True
        cleaned = SCRUBBER.scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        # The formatter renders the exception later; pre-render it scrubbed. A stdlib formatter
        # prints ``exc_text`` once it is set, and an ``exc_text`` another filter (ID masking)
        # already rendered is scrubbed as it is rather than rendered afresh. ``exc_info`` stays for
        # renderers that ignore ``exc_text`` (structlog, in Airflow's task processes), which
        # sanheyi.logs.MaskedFormatter covers.
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = SCRUBBER.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = SCRUBBER.scrub(record.stack_info)
        return True


def install_log_filter(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Attach :class:`SecretFilter` to ``handlers`` (default: the root logger's), idempotently.

    A filter on a handler sees the records of every logger (a filter on a logger would miss the
    records of its child loggers, e.g. ``zeep.transports``), so this is where it belongs.
    """
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        if not any(isinstance(f, SecretFilter) for f in handler.filters):
            handler.addFilter(SecretFilter())


@dataclass(frozen=True)
class Credential:
    """A resolved credential. ``repr`` never shows the secret parts."""

    name: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @property
    def secret(self) -> str | None:
        """The one secret for interfaces that take a single value (bearer token or password)."""
        return self.token or self.password

    def __str__(self) -> str:
        return f"Credential({self.name})"


CredentialSource = Mapping[str, "Credential | Mapping[str, str] | str"]


class CredentialResolver:
    """Resolves credential names from an injected mapping, then from the environment."""

    def __init__(self, injected: CredentialSource | None = None, *, environ: Mapping[str, str] | None = None) -> None:
        self._injected = dict(injected or {})
        self._environ = environ if environ is not None else os.environ

    def resolve(self, name: str | None) -> Credential | None:
        """The credential ``name`` (``None`` for ``None``); raises if a named one is missing."""
        if name is None:
            return None
        if name in self._injected:
            credential = _coerce(name, self._injected[name])
        else:
            raw = self._environ.get(env_var_name(name))
            if raw is None:
                raise ConnectorConfigError(
                    f"凭据 {name} 未配置 (环境变量 {env_var_name(name)} 或注入的连接) / "
                    f"credential {name} is not configured (set {env_var_name(name)} or inject it)"
                )
            credential = _parse_env(name, raw)
        for secret in (credential.password, credential.token):
            if secret is not None and len(secret) < _MIN_SECRET_LEN:
                raise ConnectorConfigError(
                    f"凭据 {name} 的密钥过短 / the secret of credential {name} is too short "
                    f"(at least {_MIN_SECRET_LEN} characters)"
                )
        SCRUBBER.add(credential.password, credential.token)
        return credential


def _coerce(name: str, value: Credential | Mapping[str, str] | str) -> Credential:
    if isinstance(value, Credential):
        return value
    if isinstance(value, str):
        return Credential(name=name, password=value, token=value)
    return _from_mapping(name, value)


def _from_mapping(name: str, value: Mapping[str, object]) -> Credential:
    unknown = set(value) - {"username", "login", "password", "token"}
    if unknown:
        raise ConnectorConfigError(
            f"凭据 {name} 含未知字段 / credential {name} has unknown fields: {', '.join(sorted(unknown))}"
        )
    username = value.get("username", value.get("login"))
    password = value.get("password")
    token = value.get("token")
    return Credential(
        name=name,
        username=None if username is None else str(username),
        password=None if password is None else str(password),
        token=None if token is None else str(token),
    )


def _parse_env(name: str, raw: str) -> Credential:
    text = raw.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            # Never echo the value: it is the secret.
            raise ConnectorConfigError(
                f"凭据 {name} 的 JSON 无法解析 / credential {name}: {env_var_name(name)} is not valid JSON"
            ) from None
        if not isinstance(value, dict):
            raise ConnectorConfigError(f"credential {name}: {env_var_name(name)} must hold a JSON object")
        return _from_mapping(name, value)
    return Credential(name=name, password=text, token=text)
