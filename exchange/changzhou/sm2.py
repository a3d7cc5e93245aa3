"""SM2 signatures with SM3 (GB/T 32918.2, GB/T 32905) on the recommended curve sm2p256v1.

The arithmetic is the ``gmssl`` library's; this module adds what a signing service needs around it:
key files in the PKCS#8 / SubjectPublicKeyInfo layout that OpenSSL 3 reads and writes, DER-encoded
signatures (GM/T 0009), range and curve checks before verifying, and a deterministic per-message
nonce (RFC 6979, HMAC-SHA-256) instead of the library's ``random.choice`` nonce, so that a package
rebuilt after a crash is byte-for-byte the same and no nonce ever comes from a non-cryptographic
generator. The signer's identity is the default ``1234567812345678`` of GM/T 0009, as in OpenSSL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from gmssl import sm2 as _gmssl_sm2

_TABLE = _gmssl_sm2.default_ecc_table
N = int(_TABLE["n"], 16)
P = int(_TABLE["p"], 16)
A = int(_TABLE["a"], 16)
B = int(_TABLE["b"], 16)

# DER of the object identifiers that name an SM2 key.
OID_EC_PUBLIC_KEY = bytes.fromhex("06072a8648ce3d0201")  # 1.2.840.10045.2.1
OID_SM2 = bytes.fromhex("06082a811ccf5501822d")  # 1.2.156.10197.1.301


class Sm2KeyError(ValueError):
    """Key material that is not a valid SM2 key on sm2p256v1."""


def _der(tag: int, body: bytes) -> bytes:
    length = len(body)
    if length < 0x80:
        return bytes([tag, length]) + body
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + body


def read_der(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """One DER element at ``pos``: (tag, body, position after it)."""
    if pos + 2 > len(data):
        raise Sm2KeyError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if size == 0 or size > 4 or pos + size > len(data):
            raise Sm2KeyError("bad DER length")
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if pos + length > len(data):
        raise Sm2KeyError("truncated DER")
    return tag, data[pos : pos + length], pos + length


def read_der_sequence(body: bytes) -> list[tuple[int, bytes]]:
    items = []
    pos = 0
    while pos < len(body):
        tag, value, pos = read_der(body, pos)
        items.append((tag, value))
    return items


def _point_hex(x: int, y: int) -> str:
    return f"{x:064x}{y:064x}"


def _on_curve(x: int, y: int) -> bool:
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def _crypt(d: int | None, point: tuple[int, int] | None) -> _gmssl_sm2.CryptSM2:
    crypt = _gmssl_sm2.CryptSM2(private_key=f"{d:064x}" if d is not None else "", public_key="")
    # Set after construction: the constructor's ``lstrip("04")`` also eats leading 0/4 digits of x.
    crypt.public_key = _point_hex(*point) if point is not None else ""
    return crypt


def public_point(d: int) -> tuple[int, int]:
    """The public point d·G (via the library's scalar multiplication)."""
    if not 1 <= d <= N - 2:
        raise Sm2KeyError("SM2 private key out of range")
    xy = _crypt(d, None)._kg(d, _TABLE["g"])
    return int(xy[:64], 16), int(xy[64:], 16)


def generate_private() -> int:
    return secrets.randbelow(N - 2) + 1


def z_digest(message: bytes, point: tuple[int, int]) -> bytes:
    """e = SM3(Z_A || M) with the default identity (GB/T 32918.2 §6.1)."""
    return bytes.fromhex(_crypt(None, point)._sm3_z(message))


def _deterministic_nonces(d: int, digest: bytes) -> Iterator[int]:
    """RFC 6979 §3.2 with HMAC-SHA-256 over the SM2 group order."""
    x = d.to_bytes(32, "big")
    h1 = (int.from_bytes(digest, "big") % N).to_bytes(32, "big")
    v = b"\x01" * 32
    k = b"\x00" * 32
    k = hmac.new(k, v + b"\x00" + x + h1, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    k = hmac.new(k, v + b"\x01" + x + h1, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    while True:
        v = hmac.new(k, v, hashlib.sha256).digest()
        candidate = int.from_bytes(v, "big")
        if 1 <= candidate < N:
            yield candidate
        k = hmac.new(k, v + b"\x00", hashlib.sha256).digest()
        v = hmac.new(k, v, hashlib.sha256).digest()


def sign_digest(d: int, digest: bytes, nonce: int) -> tuple[int, int] | None:
    """(r, s) for the digest e with nonce k, or None when k is unusable (r = 0, r + k = n, s = 0)."""
    raw = _crypt(d, None).sign(digest, f"{nonce:064x}")
    if raw is None:
        return None
    return int(raw[:64], 16), int(raw[64:], 16)


def sign(d: int, point: tuple[int, int], message: bytes) -> bytes:
    """DER-encoded SM2-SM3 signature of ``message``, deterministic for one key and message."""
    digest = z_digest(message, point)
    for nonce in _deterministic_nonces(d, digest):
        pair = sign_digest(d, digest, nonce)
        if pair is not None:
            return encode_dss_signature(*pair)
    raise AssertionError("unreachable")  # pragma: no cover - the nonce stream is endless


def verify(point: tuple[int, int], message: bytes, signature: bytes) -> bool:
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        return False
    if not (1 <= r < N and 1 <= s < N):
        return False
    if encode_dss_signature(r, s) != signature:  # reject non-canonical encodings
        return False
    digest = z_digest(message, point)
    try:
        return bool(_crypt(None, point).verify(f"{r:064x}{s:064x}", digest))
    except (TypeError, ValueError):
        return False


# --- key files ---------------------------------------------------------------------------------


def _algorithm_identifier() -> bytes:
    return _der(0x30, OID_EC_PUBLIC_KEY + OID_SM2)


def _point_octets(point: tuple[int, int]) -> bytes:
    return b"\x04" + point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")


def public_key_der(point: tuple[int, int]) -> bytes:
    """SubjectPublicKeyInfo (ecPublicKey, curve sm2p256v1), as ``openssl pkey -pubout`` writes it."""
    return _der(0x30, _algorithm_identifier() + _der(0x03, b"\x00" + _point_octets(point)))


def private_key_der(d: int, point: tuple[int, int]) -> bytes:
    """PKCS#8 PrivateKeyInfo holding an RFC 5915 ECPrivateKey, as ``openssl genpkey -algorithm SM2`` writes."""
    ec_private = _der(
        0x30,
        _der(0x02, b"\x01")
        + _der(0x04, d.to_bytes(32, "big"))
        + _der(0xA1, _der(0x03, b"\x00" + _point_octets(point))),
    )
    return _der(0x30, _der(0x02, b"\x00") + _algorithm_identifier() + _der(0x04, ec_private))


def _point_from_octets(octets: bytes) -> tuple[int, int]:
    if len(octets) != 65 or octets[0] != 4:
        raise Sm2KeyError("SM2 public key must be an uncompressed point")
    x = int.from_bytes(octets[1:33], "big")
    y = int.from_bytes(octets[33:], "big")
    if not _on_curve(x, y):
        raise Sm2KeyError("SM2 public key is not on the curve sm2p256v1")
    return x, y


def is_sm2_algorithm(algorithm_identifier: bytes) -> bool:
    """True for (ecPublicKey, sm2p256v1), and for the bare SM2 OID some older tools write."""
    items = read_der_sequence(algorithm_identifier)
    encoded = [_der(tag, body) for tag, body in items]
    return encoded[:2] == [OID_EC_PUBLIC_KEY, OID_SM2] or encoded[:1] == [OID_SM2]


def point_from_public_der(der: bytes) -> tuple[int, int]:
    tag, body, _ = read_der(der)
    items = read_der_sequence(body) if tag == 0x30 else []
    if len(items) != 2 or items[0][0] != 0x30 or items[1][0] != 0x03 or not is_sm2_algorithm(items[0][1]):
        raise Sm2KeyError("not an SM2 public key")
    bits = items[1][1]
    if not bits or bits[0] != 0:
        raise Sm2KeyError("bad SM2 public key bit string")
    return _point_from_octets(bits[1:])


def private_from_der(der: bytes) -> tuple[int, tuple[int, int]]:
    """(d, public point) from a PKCS#8 SM2 private key."""
    tag, body, _ = read_der(der)
    items = read_der_sequence(body) if tag == 0x30 else []
    if len(items) < 3 or items[1][0] != 0x30 or items[2][0] != 0x04 or not is_sm2_algorithm(items[1][1]):
        raise Sm2KeyError("not an SM2 private key (PKCS#8)")
    tag, ec_body, _ = read_der(items[2][1])
    ec_items = read_der_sequence(ec_body) if tag == 0x30 else []
    if len(ec_items) < 2 or ec_items[1][0] != 0x04:
        raise Sm2KeyError("bad SM2 ECPrivateKey")
    d = int.from_bytes(ec_items[1][1], "big")
    point = public_point(d)
    for tag, value in ec_items[2:]:
        if tag == 0xA1:  # the public key stored beside it must be the one d gives
            _, bits, _ = read_der(value)
            if _point_from_octets(bits[1:]) != point:
                raise Sm2KeyError("SM2 private and public key do not belong together")
    return d, point
