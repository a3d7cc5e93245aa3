"""Transports to the prefecture: an outbox directory (default) and SFTP, behind one contract.

Both write a package under a hidden temporary name (``.{name}.part``) and rename it into place only
when it is complete, so the receiver never sees a partial file under the final name. An interrupted
transfer is retried a bounded number of times with exponential backoff, each attempt starting the
temporary file afresh. Receipts (``receipt-{seq:010d}.json``) are read from the same place; once
handled they are moved aside into ``receipts/applied/`` or ``receipts/refused/`` there, never deleted.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, TypeVar

import asyncssh

from exchange.changzhou.errors import DeliveryError

log = logging.getLogger(__name__)

RECEIPT_GLOB = "receipt-*.json"
# Size of one SFTP write request (asyncssh keeps many in flight). Within what every server accepts
# (OpenSSH takes up to 256 KiB), and small enough that a cut connection loses little.
SFTP_BLOCK_SIZE = 64 * 1024
APPLIED = "applied"
REFUSED = "refused"
_T = TypeVar("_T")


class Transport(Protocol):
    """Where packages go and receipts come from."""

    @property
    def name(self) -> str: ...

    def deliver(self, package: Path) -> None:
        """Place ``package`` under its own name, atomically (temporary name, then rename)."""

    def list_receipts(self) -> list[str]:
        """File names of receipts waiting to be read, sorted."""

    def read_receipt(self, name: str) -> bytes: ...

    def set_aside(self, name: str, outcome: str) -> str:
        """Move a handled receipt into ``receipts/{outcome}/``; returns where it went."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff (``backoff * 2**n``, at most ``max_delay``)."""

    attempts: int = 5
    backoff: float = 1.0
    max_delay: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def run(self, action: Callable[[], _T], what: str, retriable: tuple[type[BaseException], ...]) -> _T:
        for attempt in range(1, self.attempts + 1):
            try:
                return action()
            except retriable as exc:
                if attempt == self.attempts:
                    raise DeliveryError(
                        f"投递失败(已重试 {self.attempts} 次) / {what} failed after {self.attempts} attempts: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                delay = min(self.backoff * 2 ** (attempt - 1), self.max_delay)
                log.warning("%s: attempt %d failed (%s); retrying in %.1fs", what, attempt, type(exc).__name__, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


def _aside_name(existing: set[str], name: str) -> str:
    """``name``, or ``name.1``, ``name.2``… when a receipt of that name was set aside before."""
    candidate, n = name, 0
    while candidate in existing:
        n += 1
        candidate = f"{name}.{n}"
    return candidate


class OutboxTransport:
    """Delivery into a local directory that the prefecture (or the demo receiver) reads."""

    name = "outbox"

    def __init__(self, directory: Path, *, retry: RetryPolicy | None = None) -> None:
        self.directory = directory
        self.retry = retry or RetryPolicy(attempts=3, backoff=0.5)

    def __repr__(self) -> str:
        return f"OutboxTransport({str(self.directory)!r})"

    def deliver(self, package: Path) -> None:
        self.retry.run(lambda: self._copy(package), f"outbox delivery of {package.name}", (OSError,))

    def _copy(self, package: Path) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)  # a directory that cannot be made fails the delivery
        part = self.directory / f".{package.name}.part"
        try:
            with package.open("rb") as source, part.open("wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
                target.flush()
                os.fsync(target.fileno())
            if part.stat().st_size != package.stat().st_size:
                raise OSError(f"short copy of {package.name}")
            os.replace(part, self.directory / package.name)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        _fsync_dir(self.directory)

    def list_receipts(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.glob(RECEIPT_GLOB) if p.is_file())

    def read_receipt(self, name: str) -> bytes:
        return (self.directory / name).read_bytes()

    def set_aside(self, name: str, outcome: str) -> str:
        target_dir = self.directory / "receipts" / outcome
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / _aside_name({p.name for p in target_dir.iterdir()}, name)
        os.replace(self.directory / name, target)
        return str(target.relative_to(self.directory))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Failures after which the same upload may well succeed: the link went away or timed out.
_SFTP_RETRIABLE: tuple[type[BaseException], ...] = (
    asyncssh.ConnectionLost,
    asyncssh.SFTPConnectionLost,
    asyncssh.SFTPEOFError,
    asyncssh.ChannelOpenError,
    asyncio.TimeoutError,
    ConnectionError,
    OSError,
)


class SftpTransport:
    """Delivery to the prefecture's SFTP server (asyncssh client; one connection per operation).

    Authentication uses ``password`` and/or ``client_keys`` (private key files or PEM text); the
    server's host key is checked against ``known_hosts`` (a file, or None for ``~/.ssh/known_hosts``),
    which must be readable: a missing one fails every operation at once, without retries.
    The methods are synchronous; do not call them from inside a running event loop.
    """

    name = "sftp"

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        remote_dir: str,
        *,
        password: str | None = None,
        client_keys: Sequence[Path | str] = (),
        known_hosts: Path | str | None = None,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.remote_dir = PurePosixPath(remote_dir)
        self._password = password
        self._client_keys = [
            asyncssh.import_private_key(k) if isinstance(k, str) and k.lstrip().startswith("-----BEGIN") else str(k)
            for k in client_keys
        ]
        # asyncssh reads ``()`` as "the default known_hosts file" and None as "check nothing": never None.
        self._known_hosts: str | tuple[()] = str(known_hosts) if known_hosts is not None else ()
        self.retry = retry or RetryPolicy()
        self.connect_timeout = connect_timeout

    @classmethod
    def from_credential(
        cls, host: str, port: int, username: str, remote_dir: str, credential: object, **options: object
    ) -> SftpTransport:
        """Build from a resolved named credential (anything with ``password`` / ``token`` attributes).

        A secret that is a PEM private key is used as the client key, any other as the password; a
        ``username`` on the credential overrides the configured one.
        """
        secret = getattr(credential, "token", None) or getattr(credential, "password", None)
        username = getattr(credential, "username", None) or username
        if isinstance(secret, str) and secret.lstrip().startswith("-----BEGIN"):
            return cls(host, port, username, remote_dir, client_keys=[secret], **options)  # type: ignore[arg-type]
        return cls(host, port, username, remote_dir, password=secret, **options)  # type: ignore[arg-type]

    def __repr__(self) -> str:  # no secrets
        return f"SftpTransport({self.username}@{self.host}:{self.port}{self.remote_dir})"

    def _connect(self) -> Any:
        return asyncssh.connect(
            self.host,
            self.port,
            username=self.username,
            password=self._password,
            client_keys=self._client_keys or None,
            known_hosts=self._known_hosts,
            connect_timeout=self.connect_timeout,
            agent_path=None,
        )

    def _remote(self, *parts: str) -> str:
        return str(self.remote_dir.joinpath(*parts))

    def _known_hosts_file(self) -> Path:
        return Path(self._known_hosts) if self._known_hosts else Path.home() / ".ssh" / "known_hosts"

    def _check_known_hosts(self, what: str) -> None:
        """The host key file must be readable before anything is tried: asyncssh would raise an
        OSError from the connection, which looks like a network fault and would be retried in vain."""
        path = self._known_hosts_file()
        try:
            path.open("rb").close()
        except OSError as exc:
            raise DeliveryError(
                f"SFTP 主机密钥文件不可读 / {what} not attempted: the known_hosts file {path} cannot be read "
                f"({type(exc).__name__}); configure the file that holds the prefecture server's host key "
                "(exchange.sftp.known_hosts)"
            ) from None

    def _run(self, coroutine_factory: Callable[[], Any], what: str) -> Any:
        self._check_known_hosts(what)  # a configuration fault: reported at once, never retried
        try:
            return self.retry.run(lambda: asyncio.run(coroutine_factory()), what, _SFTP_RETRIABLE)
        except asyncssh.Error as exc:  # refused login, unknown host key, no such directory: not retried
            raise DeliveryError(f"SFTP 操作失败 / {what} failed: {type(exc).__name__}: {exc.reason}") from None

    def deliver(self, package: Path) -> None:
        self._run(lambda: self._upload(package), f"SFTP delivery of {package.name}")

    async def _upload(self, package: Path) -> None:
        part = self._remote(f".{package.name}.part")
        final = self._remote(package.name)
        size = package.stat().st_size
        async with self._connect() as conn, conn.start_sftp_client() as sftp:
            # "wb" truncates whatever an interrupted attempt left behind.
            await sftp.put(str(package), part, block_size=SFTP_BLOCK_SIZE)
            written = (await sftp.stat(part)).size
            if written != size:
                raise ConnectionError(f"remote temporary file has {written} of {size} bytes")
            try:
                await sftp.posix_rename(part, final)
            except asyncssh.SFTPOpUnsupported:  # a server without the OpenSSH extension
                if await sftp.exists(final):
                    await sftp.remove(final)
                await sftp.rename(part, final)

    def list_receipts(self) -> list[str]:
        return self._run(self._list, "SFTP receipt listing")

    async def _list(self) -> list[str]:
        async with self._connect() as conn, conn.start_sftp_client() as sftp:
            names = await sftp.listdir(str(self.remote_dir))
            return sorted(n for n in names if fnmatch.fnmatch(n, RECEIPT_GLOB))

    def read_receipt(self, name: str) -> bytes:
        return self._run(lambda: self._read(name), f"SFTP read of {name}")

    async def _read(self, name: str) -> bytes:
        async with self._connect() as conn, conn.start_sftp_client() as sftp:
            async with sftp.open(self._remote(name), "rb") as handle:
                return await handle.read()

    def set_aside(self, name: str, outcome: str) -> str:
        return self._run(lambda: self._set_aside(name, outcome), f"SFTP move of {name}")

    async def _set_aside(self, name: str, outcome: str) -> str:
        async with self._connect() as conn, conn.start_sftp_client() as sftp:
            target_dir = self._remote("receipts", outcome)
            await sftp.makedirs(target_dir, exist_ok=True)
            existing = set(await sftp.listdir(target_dir))
            target = f"{target_dir}/{_aside_name(existing, name)}"
            await sftp.rename(self._remote(name), target)
            return f"receipts/{outcome}/{PurePosixPath(target).name}"
