"""Signing: Ed25519 and SM2-SM3 behind one contract, the standard's test vector, key files."""

from __future__ import annotations

import shutil
import stat
import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from exchange.changzhou import sm2
from exchange.changzhou.errors import KeyFileError
from exchange.changzhou.signing import KeyStore, generate_keys, load_signer, load_verifier

# GB/T 32918.5-2017 (SM2 part 5: parameter definition), the signature example on the recommended
# curve: default identity 1234567812345678, message "message digest".
VECTOR_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
VECTOR_X = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
VECTOR_Y = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
VECTOR_E = bytes.fromhex("F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640")
VECTOR_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
VECTOR_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
VECTOR_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA


def test_sm2_standard_vector():
    assert sm2.public_point(VECTOR_D) == (VECTOR_X, VECTOR_Y)
    assert sm2.z_digest(b"message digest", (VECTOR_X, VECTOR_Y)) == VECTOR_E
    assert sm2.sign_digest(VECTOR_D, VECTOR_E, VECTOR_K) == (VECTOR_R, VECTOR_S)


def test_sm2_signatures_are_deterministic_and_verify():
    point = (VECTOR_X, VECTOR_Y)
    signature = sm2.sign(VECTOR_D, point, b"manifest bytes")
    assert signature == sm2.sign(VECTOR_D, point, b"manifest bytes")
    assert sm2.verify(point, b"manifest bytes", signature)
    assert not sm2.verify(point, b"manifest bytez", signature)
    r, s = decode_dss_signature(signature)
    assert 1 <= r < sm2.N and 1 <= s < sm2.N
    assert sm2.sign(VECTOR_D, point, b"other") != signature


def test_sm2_rejects_malformed_signatures():
    point = (VECTOR_X, VECTOR_Y)
    assert not sm2.verify(point, b"m", b"")
    assert not sm2.verify(point, b"m", b"\x30\x06\x02\x01\x00\x02\x01\x00")  # r = s = 0
    assert not sm2.verify(point, b"m", b"not DER at all")


@pytest.mark.parametrize("algorithm", ["Ed25519", "SM2-SM3"])
def test_generated_keys_sign_and_verify(tmp_path, algorithm):
    store = generate_keys(tmp_path / "keys", algorithm)
    signer = store.signer()
    verifier = load_verifier(store.public_key_pem())
    assert signer.algorithm == verifier.algorithm == store.algorithm == algorithm
    assert signer.key_id == verifier.key_id == store.key_id and len(store.key_id) == 16
    signature = signer.sign(b"manifest")
    assert verifier.verify(b"manifest", signature)
    assert not verifier.verify(b"manifesT", signature)
    assert stat.S_IMODE(store.private_key_file.stat().st_mode) == 0o600
    assert store.public_key_file == tmp_path / "keys" / "exchange.pub"
    assert store.public_key_pem().startswith(b"-----BEGIN PUBLIC KEY-----\n")


def test_generate_keys_is_idempotent_and_never_overwrites(tmp_path):
    keys = tmp_path / "keys"
    first = generate_keys(keys)
    private, public = first.private_key_file.read_bytes(), first.public_key_file.read_bytes()
    again = generate_keys(keys)
    assert again.key_id == first.key_id
    assert (again.private_key_file.read_bytes(), again.public_key_file.read_bytes()) == (private, public)

    with pytest.raises(KeyFileError, match="already holds an Ed25519 key but SM2-SM3 is configured"):
        generate_keys(keys, "SM2-SM3")
    assert first.private_key_file.read_bytes() == private

    first.public_key_file.unlink()  # a lost public key is re-derived, the private key kept
    assert generate_keys(keys).public_key_file.read_bytes() == public


def test_public_key_without_private_key_is_not_replaced(tmp_path):
    keys = tmp_path / "keys"
    generate_keys(keys).private_key_file.unlink()
    with pytest.raises(KeyFileError, match="exists without exchange.key"):
        generate_keys(keys)


def test_mismatched_key_pair_is_refused(tmp_path):
    a, b = generate_keys(tmp_path / "a"), generate_keys(tmp_path / "b")
    shutil.copy(b.public_key_file, a.public_key_file)
    with pytest.raises(KeyFileError, match="does not belong to"):
        KeyStore(tmp_path / "a").signer()


def test_unusable_public_keys(tmp_path):
    with pytest.raises(KeyFileError, match="not a PEM"):
        load_verifier(b"ssh-ed25519 AAAA")
    rsa_like = b"-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAA==\n-----END PUBLIC KEY-----\n"
    with pytest.raises(KeyFileError, match="unsupported key type"):
        load_verifier(rsa_like)
    with pytest.raises(KeyFileError, match="unknown signature algorithm"):
        generate_keys(tmp_path / "k", "RSA")


# The openssl command is installed by scripts/install-system-deps.sh: these tests never skip.


def test_openssl_verifies_our_sm2_signature_and_reads_our_key(tmp_path):
    """An independent implementation agrees on the key format and the signature (GM/T 0009 default ID)."""
    store = generate_keys(tmp_path / "keys", "SM2-SM3")
    message = tmp_path / "manifest.json"
    message.write_bytes(b'{"sequence": 1}\n')
    signature = tmp_path / "manifest.der"
    signature.write_bytes(store.signer().sign(message.read_bytes()))
    result = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(store.public_key_file), "-rawin",
         "-in", str(message), "-sigfile", str(signature), "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    derived = subprocess.run(
        ["openssl", "pkey", "-in", str(store.private_key_file), "-pubout"], capture_output=True, check=True
    ).stdout
    assert derived == store.public_key_pem()


def test_an_openssl_sm2_key_can_sign(tmp_path):
    key = tmp_path / "openssl.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", str(key)], check=True, capture_output=True)
    public = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout"], capture_output=True, check=True).stdout
    signer = load_signer(key.read_bytes())
    verifier = load_verifier(public)
    assert signer.algorithm == "SM2-SM3" and signer.key_id == verifier.key_id
    assert verifier.verify(b"data", signer.sign(b"data"))
