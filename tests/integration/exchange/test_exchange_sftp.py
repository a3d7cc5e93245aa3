"""Delivery over a real SFTP server (asyncssh on 127.0.0.1, random port, throw-away keys)."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest
import xc_rows as rows
import yaml

from connectors.credentials import Credential
from exchange.changzhou import (
    DeliveryError,
    RetryPolicy,
    SftpTransport,
    build_package,
    collect_receipts,
    deliver_pending,
)
from exchange.changzhou import transport as transport_module
from sanheyi.cli import main
from warehouse import packages as wp

USER = "liyang"
PASSWORD = "correct-horse-battery"


@dataclass
class ServerState:
    root: Path
    cut_after: int | None = None  # abort the connection once this many bytes were written...
    cut_always: bool = False  # ...on every upload, not only the first
    cuts: int = 0
    written: int = 0
    uploads_opened: int = 0
    observations: list[dict] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)  # the user names clients logged in as
    passwords_tried: int = 0

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"


class _CuttingSftpServer(asyncssh.SFTPServer):
    """An SFTP server that can drop the connection in the middle of an upload."""

    def __init__(self, chan: asyncssh.SSHServerChannel, state: ServerState) -> None:
        super().__init__(chan, chroot=str(state.root).encode())
        self.state = state

    def open(self, path, pflags, attrs):
        if pflags & asyncssh.FXF_WRITE:
            self.state.uploads_opened += 1
            self.state.written = 0
        return super().open(path, pflags, attrs)

    def write(self, file_obj, offset, data):
        result = super().write(file_obj, offset, data)
        state = self.state
        state.written += len(data)
        if state.cut_after is not None and state.written >= state.cut_after and (state.cuts == 0 or state.cut_always):
            state.cuts += 1
            file_obj.flush()
            # what the prefecture would see at this moment
            state.observations.append({"visible": sorted(os.listdir(state.incoming)), "written": state.written})
            self.channel.get_connection().abort()
        return result


class _PasswordServer(asyncssh.SSHServer):
    def __init__(self, state: ServerState) -> None:
        self.state = state

    def begin_auth(self, username: str) -> bool:
        self.state.logins.append(username)
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        self.state.passwords_tried += 1
        return username == USER and password == PASSWORD


@dataclass
class SftpServer:
    port: int
    state: ServerState
    known_hosts: Path
    client_key: Path
    listen: Callable[[int], asyncssh.SSHAcceptor] = field(repr=False)
    close: Callable[[asyncssh.SSHAcceptor], None] = field(repr=False)

    def transport(self, **options) -> SftpTransport:
        options.setdefault("client_keys", [self.client_key])
        options.setdefault("retry", RetryPolicy(attempts=3, backoff=0.01, sleep=self.delays.append))
        options.setdefault("known_hosts", self.known_hosts)
        return SftpTransport("127.0.0.1", self.port, USER, "/incoming", **options)

    def stop(self) -> None:
        """The server goes away: its port refuses connections."""
        self.close(self.acceptor)
        self.acceptor = None

    def start(self) -> None:
        """Back again, on the same port with the same host key."""
        self.acceptor = self.listen(self.port)

    def __post_init__(self) -> None:
        self.delays: list[float] = []
        self.acceptor: asyncssh.SSHAcceptor | None = None


@pytest.fixture
def sftp_server(tmp_path: Path):
    root = tmp_path / "sftp-root"
    (root / "incoming").mkdir(parents=True)
    state = ServerState(root)
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key_file = tmp_path / "client_key"
    client_key.write_private_key(str(client_key_file))
    authorized = tmp_path / "authorized_keys"
    client_key.write_public_key(str(authorized))

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start(port: int) -> asyncssh.SSHAcceptor:
        return await asyncssh.listen(
            "127.0.0.1",
            port,
            server_host_keys=[host_key],
            authorized_client_keys=str(authorized),
            server_factory=lambda: _PasswordServer(state),
            sftp_factory=lambda chan: _CuttingSftpServer(chan, state),
            allow_scp=False,
            reuse_address=True,
        )

    def listen(port: int) -> asyncssh.SSHAcceptor:
        return asyncio.run_coroutine_threadsafe(start(port), loop).result(30)

    def close(acceptor: asyncssh.SSHAcceptor) -> None:
        acceptor.close()
        asyncio.run_coroutine_threadsafe(acceptor.wait_closed(), loop).result(30)

    acceptor = listen(0)
    port = acceptor.sockets[0].getsockname()[1]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_key.export_public_key().decode()}")
    server = SftpServer(port, state, known_hosts, client_key_file, listen, close)
    server.acceptor = acceptor
    try:
        yield server
    finally:
        if server.acceptor is not None:
            close(server.acceptor)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


@pytest.fixture
def big_package(lite, keys, store, now) -> Path:
    """A package of about a megabyte (opinions that do not compress), so an upload takes many writes."""
    steps = []
    for i in range(2000):
        row = rows.case_step(i, 1)
        row["payload"] = rows.canonical({**json.loads(row["payload"]), "opinion": secrets.token_hex(256)})
        steps.append(row)
    lite.add("case_step", steps)
    path = build_package(lite.engine, keys, store, now=now).path
    assert path.stat().st_size > 500_000
    return path


def test_delivery_over_sftp_and_a_resend_replaces_the_file(sftp_server, big_package):
    transport = sftp_server.transport()
    transport.deliver(big_package)
    assert os.listdir(sftp_server.state.incoming) == [big_package.name]
    assert (sftp_server.state.incoming / big_package.name).read_bytes() == big_package.read_bytes()
    transport.deliver(big_package)  # a resend renames over the file already there
    assert sftp_server.state.uploads_opened == 2
    assert os.listdir(sftp_server.state.incoming) == [big_package.name]
    assert (sftp_server.state.incoming / big_package.name).read_bytes() == big_package.read_bytes()
    assert sftp_server.delays == []


def test_cut_connection_is_retried_and_never_leaves_a_partial_file(sftp_server, big_package):
    size = big_package.stat().st_size
    sftp_server.state.cut_after = size // 3

    sftp_server.transport().deliver(big_package)

    state = sftp_server.state
    assert state.cuts == 1 and state.uploads_opened == 2
    [seen] = state.observations
    assert 0 < seen["written"] < size  # the first attempt really was cut half-way...
    assert seen["visible"] == [f".{big_package.name}.part"]  # ...and only under the temporary name
    assert os.listdir(state.incoming) == [big_package.name]  # exactly one file, complete, no .part left
    assert (state.incoming / big_package.name).read_bytes() == big_package.read_bytes()
    assert sftp_server.delays == [0.01]


def test_retries_are_bounded(sftp_server, big_package):
    sftp_server.state.cut_after = 1
    sftp_server.state.cut_always = True

    with pytest.raises(DeliveryError, match="failed after 3 attempts"):
        sftp_server.transport().deliver(big_package)

    assert sftp_server.state.uploads_opened == 3
    assert sftp_server.delays == [0.01, 0.02]
    assert big_package.name not in os.listdir(sftp_server.state.incoming)
    assert all(name.startswith(".") for name in os.listdir(sftp_server.state.incoming))


def test_receipts_are_collected_and_set_aside_over_sftp(sftp_server, lite, keys, store, now):
    lite.add_basic()
    build_package(lite.engine, keys, store, now=now)
    transport = sftp_server.transport()
    deliver_pending(lite.engine, transport, store, now=now)
    with lite.engine.connect() as conn:
        package = wp.get_package(conn, 1)
    assert (package.state, package.transport) == ("DELIVERED", "sftp")
    incoming = sftp_server.state.incoming
    receipt = {
        "sequence": 1,
        "manifest_sha256": package.manifest_sha256,
        "status": "ACCEPTED",
        "received_at": "2026-11-06T10:30:00+08:00",
        "errors": [],
    }
    (incoming / "receipt-0000000001.json").write_text(json.dumps(receipt))
    (incoming / "receipt-0000000002.json").write_text(json.dumps({**receipt, "sequence": 2}))

    outcomes = collect_receipts(lite.engine, transport, now)

    assert [(o.file_name, o.outcome) for o in outcomes] == [
        ("receipt-0000000001.json", "APPLIED"),
        ("receipt-0000000002.json", "REFUSED"),
    ]
    assert os.listdir(incoming / "receipts" / "applied") == ["receipt-0000000001.json"]
    assert os.listdir(incoming / "receipts" / "refused") == ["receipt-0000000002.json"]
    assert sorted(os.listdir(incoming)) == ["320481-320400-0000000001.zip", "receipts"]
    with lite.engine.connect() as conn:
        assert wp.get_package(conn, 1).state == "ACCEPTED"


def test_password_from_a_named_credential(sftp_server, big_package):
    credential = Credential(name="changzhou-sftp", username=USER, password=PASSWORD)
    options = {
        "known_hosts": sftp_server.known_hosts,
        "retry": RetryPolicy(attempts=3, sleep=sftp_server.delays.append),
    }
    SftpTransport.from_credential("127.0.0.1", sftp_server.port, "ignored", "/incoming", credential, **options).deliver(
        big_package
    )
    assert os.listdir(sftp_server.state.incoming) == [big_package.name]

    wrong = Credential(name="changzhou-sftp", username=USER, password="not-the-password")
    transport = SftpTransport.from_credential("127.0.0.1", sftp_server.port, USER, "/incoming", wrong, **options)
    with pytest.raises(DeliveryError) as raised:
        transport.deliver(big_package)
    assert "not-the-password" not in raised.value.message and "not-the-password" not in repr(transport)
    assert sftp_server.delays == []  # a refused login is not retried


def test_a_missing_or_unreadable_known_hosts_file_fails_at_once(sftp_server, big_package, tmp_path):
    for known_hosts in (tmp_path / "no_such_known_hosts", tmp_path):  # missing; a directory, unreadable as a file
        with pytest.raises(DeliveryError, match=r"not attempted: the known_hosts file .* cannot be read") as raised:
            sftp_server.transport(known_hosts=known_hosts).deliver(big_package)
        assert str(known_hosts) in raised.value.message
    assert sftp_server.delays == []  # a configuration fault: never retried
    assert sftp_server.state.logins == []


def test_unknown_host_key_is_refused(sftp_server, big_package, tmp_path):
    stranger = tmp_path / "other_known_hosts"
    stranger.write_text(
        f"[127.0.0.1]:{sftp_server.port} {asyncssh.generate_private_key('ssh-ed25519').export_public_key().decode()}"
    )
    with pytest.raises(DeliveryError):
        sftp_server.transport(known_hosts=stranger).deliver(big_package)
    assert os.listdir(sftp_server.state.incoming) == []
    assert sftp_server.delays == []


AS_OF = "2026-11-06T18:00:00+08:00"


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, list[str]]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


@pytest.fixture
def sftp_home(sftp_server, tmp_path, monkeypatch, capsys, examples_dir) -> Path:
    """A home with the standard's example files whose packages go to the SFTP server, password login."""
    home = tmp_path / "home"
    monkeypatch.setenv("SANHEYI_HOME", str(home))
    monkeypatch.delenv("SANHEYI_WAREHOUSE_URL", raising=False)
    assert main(["init"]) == 0
    shutil.copytree(examples_dir / "inbox" / "UNIFIED", home / "inbox" / "UNIFIED", dirs_exist_ok=True)
    config = yaml.safe_load((home / "config.yaml").read_text(encoding="utf-8"))
    config["exchange"]["transport"] = "sftp"
    config["exchange"]["sftp"] = {
        "host": "127.0.0.1",
        "port": sftp_server.port,
        "username": USER,
        "credential": "CHANGZHOU_SFTP",
        "remote_dir": "/incoming",
        "known_hosts": str(sftp_server.known_hosts),
    }
    (home / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("SANHEYI_CRED_CHANGZHOU_SFTP", json.dumps({"password": PASSWORD}))
    # the transport's own retries, without their real waits
    without_waiting = functools.partial(RetryPolicy, sleep=sftp_server.delays.append)
    monkeypatch.setattr(transport_module, "RetryPolicy", without_waiting)
    return home


def test_a_run_with_the_prefecture_out_of_reach_reports_and_delivers_next_time(sftp_server, sftp_home, capsys):
    sftp_server.stop()

    code, out, err = _cli(capsys, "run", "--as-of", AS_OF)

    assert code == 1
    assert "exchange: package 320481-320400-0000000001.zip" in out
    assert "packages [1] not delivered: they stay BUILT for the next run" in out
    assert "EXCHANGE FAILED delivery: " in out and "EXCHANGE FAILED receipts: " in out
    assert "failed after 5 attempts" in out and len(sftp_server.delays) == 8  # each retried, none waited for
    report = sftp_home / "reports" / "2026-11-01_2026-11-30"
    assert sorted(p.suffix for p in report.iterdir()) == [".html", ".pdf", ".xlsx"]
    assert (sftp_home / "reports" / "status.html").is_file()
    summary = [line for line in err if line.startswith("sanheyi: ")]
    assert summary == [err[-1]] and "exchange with Changzhou failed: delivery, receipts" in err[-1]
    code, out, _ = _cli(capsys, "exchange", "status", "--format", "json")
    assert [(p["sequence"], p["state"]) for p in json.loads(out)] == [(1, "BUILT")]
    assert os.listdir(sftp_server.state.incoming) == []

    sftp_server.start()
    code, out, err = _cli(capsys, "run", "--as-of", AS_OF)

    assert code == 0, err
    assert "no package; delivered [1]; 0 receipt(s) applied" in out
    name = "320481-320400-0000000001.zip"
    assert (sftp_server.state.incoming / name).read_bytes() == (sftp_home / "exchange" / "packages" / name).read_bytes()
    code, out, _ = _cli(capsys, "exchange", "status", "--format", "json")
    assert [(p["sequence"], p["state"]) for p in json.loads(out)] == [(1, "DELIVERED")]


def test_sanheyi_logs_in_with_the_credentials_user_name_and_private_key(sftp_server, sftp_home, capsys, monkeypatch):
    config = yaml.safe_load((sftp_home / "config.yaml").read_text(encoding="utf-8"))
    config["exchange"]["sftp"]["username"] = "configured-user"
    (sftp_home / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    private_key = sftp_server.client_key.read_text(encoding="utf-8")  # PEM, stored as the credential's password
    monkeypatch.setenv("SANHEYI_CRED_CHANGZHOU_SFTP", json.dumps({"username": USER, "password": private_key}))

    code, out, err = _cli(capsys, "run", "--as-of", AS_OF, "--stage", "ingest", "--stage", "exchange")

    assert code == 0, err
    assert os.listdir(sftp_server.state.incoming) == ["320481-320400-0000000001.zip"]
    assert set(sftp_server.state.logins) == {USER}
    assert sftp_server.state.passwords_tried == 0  # the key was never sent as a password
