"""Signing of manifests: one small contract, Ed25519 (default) and SM2-SM3 behind it, and the key files.

Keys live in ``{home}/keys/``: ``exchange.key`` (PKCS#8 PEM, mode 0600) and ``exchange.pub``
(SubjectPublicKeyInfo PEM, the file the prefecture receives). ``key_id`` is the first 16 hex digits
of SHA-256 over the public key's DER, so both sides can name a key without exchanging anything else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exchange.changzhou import sm2
from exchange.changzhou.errors import KeyFileError
from exchange.changzhou.manifest import ALGORITHMS

ED25519 = "Ed25519"
SM2_SM3 = "SM2-SM3"
PRIVATE_KEY_FILE = "exchange.key"
PUBLIC_KEY_FILE = "exchange.pub"

_OID_ED25519 = bytes.fromhex("06032b6570")  # 1.3.101.112


class Signer(Protocol):
    """Signs the exact bytes of a manifest."""

    @property
    def algorithm(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


class Verifier(Protocol):
    """Checks a signature made by the matching :class:`Signer`."""

    @property
    def algorithm(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    def verify(self, data: bytes, signature: bytes) -> bool: ...


def key_id_of(public_der: bytes) -> str:
    return hashlib.sha256(public_der).hexdigest()[:16]


@dataclass(frozen=True)
class Ed25519Signer:
    private_key: Ed25519PrivateKey
    algorithm: str = ED25519

    @property
    def key_id(self) -> str:
        return key_id_of(_ed25519_public_der(self.private_key.public_key()))

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


@dataclass(frozen=True)
class Ed25519Verifier:
    public_key: Ed25519PublicKey
    algorithm: str = ED25519

    @property
    def key_id(self) -> str:
        return key_id_of(_ed25519_public_der(self.public_key))

    def verify(self, data: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, data)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Sm2Signer:
    private_value: int
    point: tuple[int, int]
    algorithm: str = SM2_SM3

    @property
    def key_id(self) -> str:
        return key_id_of(sm2.public_key_der(self.point))

    def sign(self, data: bytes) -> bytes:
        return sm2.sign(self.private_value, self.point, data)

    def __repr__(self) -> str:  # never print the private value
        return f"Sm2Signer(key_id={self.key_id!r})"


@dataclass(frozen=True)
class Sm2Verifier:
    point: tuple[int, int]
    algorithm: str = SM2_SM3

    @property
    def key_id(self) -> str:
        return key_id_of(sm2.public_key_der(self.point))

    def verify(self, data: bytes, signature: bytes) -> bool:
        return sm2.verify(self.point, data, signature)


def _ed25519_public_der(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n").encode("ascii")


def _unpem(data: bytes, label: str) -> bytes:
    text = data.decode("ascii", errors="replace")
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    if begin not in text or end not in text:
        raise KeyFileError(f"不是 PEM 格式的{label} / not a PEM '{label}'")
    body = text.split(begin, 1)[1].split(end, 1)[0]
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except binascii.Error:
        raise KeyFileError(f"PEM 内容无法解码 / PEM '{label}' body is not base64") from None


def _algorithm_of(der: bytes, index: int) -> str:
    """The algorithm named by the AlgorithmIdentifier at ``index`` of the outer SEQUENCE."""
    try:
        tag, body, _ = sm2.read_der(der)
        items = sm2.read_der_sequence(body) if tag == 0x30 else []
        if len(items) <= index or items[index][0] != 0x30:
            raise sm2.Sm2KeyError("no algorithm identifier")
        identifier = items[index][1]
        if identifier.startswith(_OID_ED25519):
            return ED25519
        if sm2.is_sm2_algorithm(identifier):
            return SM2_SM3
    except sm2.Sm2KeyError:
        pass
    raise KeyFileError("不支持的密钥类型(仅 Ed25519 / SM2) / unsupported key type (Ed25519 or SM2 only)")


def load_verifier(public_key_pem: bytes) -> Verifier:
    """A verifier for a PEM public key; the algorithm is read from the key itself."""
    der = _unpem(public_key_pem, "PUBLIC KEY")
    algorithm = _algorithm_of(der, 0)
    try:
        if algorithm == ED25519:
            key = serialization.load_der_public_key(der)
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not Ed25519")
            return Ed25519Verifier(key)
        return Sm2Verifier(sm2.point_from_public_der(der))
    except (ValueError, sm2.Sm2KeyError) as exc:
        raise KeyFileError(f"公钥无效 / invalid public key: {exc}") from None


def load_signer(private_key_pem: bytes) -> Signer:
    der = _unpem(private_key_pem, "PRIVATE KEY")
    algorithm = _algorithm_of(der, 1)
    try:
        if algorithm == ED25519:
            key = serialization.load_der_private_key(der, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("not Ed25519")
            return Ed25519Signer(key)
        d, point = sm2.private_from_der(der)
        return Sm2Signer(d, point)
    except (ValueError, sm2.Sm2KeyError) as exc:
        raise KeyFileError(f"私钥无效 / invalid private key: {exc}") from None


def _public_pem_of(signer: Signer) -> bytes:
    if isinstance(signer, Ed25519Signer):
        return _pem("PUBLIC KEY", _ed25519_public_der(signer.private_key.public_key()))
    if isinstance(signer, Sm2Signer):
        return _pem("PUBLIC KEY", sm2.public_key_der(signer.point))
    raise KeyFileError(f"unsupported signer {signer.algorithm}")  # pragma: no cover


@dataclass(frozen=True)
class KeyStore:
    """The key pair in ``keys_dir``; the private key is read each time a signer is asked for."""

    keys_dir: Path

    @property
    def private_key_file(self) -> Path:
        return self.keys_dir / PRIVATE_KEY_FILE

    @property
    def public_key_file(self) -> Path:
        return self.keys_dir / PUBLIC_KEY_FILE

    def signer(self) -> Signer:
        try:
            data = self.private_key_file.read_bytes()
        except OSError as exc:
            raise KeyFileError(
                f"签名私钥不可读,请先运行 sanheyi init / signing key unreadable ({exc.strerror}): "
                f"{self.private_key_file}"
            ) from None
        signer = load_signer(data)
        if self.public_key_file.exists() and load_verifier(self.public_key_pem()).key_id != signer.key_id:
            raise KeyFileError(
                f"公钥与私钥不匹配 / {PUBLIC_KEY_FILE} does not belong to {PRIVATE_KEY_FILE} in {self.keys_dir}"
            )
        return signer

    def public_key_pem(self) -> bytes:
        try:
            return self.public_key_file.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"公钥不可读 / public key unreadable ({exc.strerror}): {self.public_key_file}") from None

    @property
    def algorithm(self) -> str:
        return load_verifier(self.public_key_pem()).algorithm

    @property
    def key_id(self) -> str:
        return load_verifier(self.public_key_pem()).key_id


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode``; never overwrite (O_EXCL), never leave it half written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask says
        os.write(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


def generate_keys(keys_dir: Path, algorithm: str = ED25519) -> KeyStore:
    """Create the key pair unless it exists (idempotent, never overwrites); return the store.

    An existing private key of another algorithm is an error, not a reason to replace it: the
    prefecture holds its public key.
    """
    if algorithm not in ALGORITHMS:
        raise KeyFileError(f"未知签名算法 / unknown signature algorithm {algorithm!r} (Ed25519 or SM2-SM3)")
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = KeyStore(keys_dir)
    if not store.private_key_file.exists():
        if store.public_key_file.exists():
            raise KeyFileError(
                f"只有公钥而无私钥,不会生成新密钥 / {PUBLIC_KEY_FILE} exists without {PRIVATE_KEY_FILE} in "
                f"{keys_dir}; restore the private key or move the public key away"
            )
        if algorithm == ED25519:
            private_der = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        else:
            d = sm2.generate_private()
            private_der = sm2.private_key_der(d, sm2.public_point(d))
        try:
            _write_new(store.private_key_file, _pem("PRIVATE KEY", private_der), 0o600)
        except FileExistsError:
            pass  # another process created it meanwhile: use that one
    signer = store.signer()
    if signer.algorithm != algorithm:
        raise KeyFileError(
            f"已有 {signer.algorithm} 密钥,与配置的 {algorithm} 不符 / {keys_dir} already holds an "
            f"{signer.algorithm} key but {algorithm} is configured; keep the configuration or move the keys away"
        )
    if not store.public_key_file.exists():
        try:
            _write_new(store.public_key_file, _public_pem_of(signer), 0o644)
        except FileExistsError:
            pass
    return store
