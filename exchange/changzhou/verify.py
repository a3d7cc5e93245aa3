"""The verifier the receiving side runs on a package (Interface Standard v1 §8).

It checks the zip structure, every manifest field, each data file's SHA-256, size and line count
(every line one JSON object), the signature over the exact ``manifest.json`` bytes with the given
public key, and, given the previous package, that the sequence follows it and the chain hash is
that of its ``manifest.json``. Each fault is one line; no fault means the package is valid.

Standalone, for a receiver without the hub's command line::

    python -m exchange.changzhou.verify PACKAGE --public-key FILE [--previous PACKAGE]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
import uuid
import zipfile
import zlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from exchange.changzhou.errors import KeyFileError
from exchange.changzhou.manifest import (
    ALGORITHMS,
    ENTITIES,
    PACKAGE_NAME,
    RECEIVER,
    SENDER,
    STANDARD_VERSION,
    data_path,
    package_file_name,
)
from exchange.changzhou.signing import Verifier, load_verifier

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MANIFEST_FIELDS = (
    "standard_version",
    "package_id",
    "sender",
    "receiver",
    "sequence",
    "created_at",
    "previous_manifest_sha256",
    "files",
    "signature",
)
_FILE_FIELDS = {"path", "entity", "records", "bytes", "sha256"}
_MAX_LINE_FAULTS = 5  # per file; a broken file would otherwise print one fault per line
# What json.loads raises on text that is no JSON it can read: JSONDecodeError and UnicodeDecodeError
# are ValueErrors, so is an integer of more digits than Python converts; nesting too deep recurses.
_UNPARSABLE = (ValueError, RecursionError)
# What reading a zip entry raises on a damaged or unusual archive (an unknown compression method is
# NotImplementedError, an encrypted entry RuntimeError).
_UNREADABLE_ENTRY = (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError)


def _reason(exc: BaseException) -> str:
    # A RecursionError's text speaks of the interpreter, not of the file.
    return "JSON nested too deeply" if isinstance(exc, RecursionError) else str(exc)


def _is_int(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _check_manifest(manifest: Any, faults: list[str]) -> bool:
    """Field checks; False when the manifest is too broken to check the files against it."""
    if not isinstance(manifest, dict):
        faults.append("manifest.json 不是 JSON 对象 / manifest.json is not a JSON object")
        return False
    missing = [f for f in _MANIFEST_FIELDS if f not in manifest]
    unknown = sorted(set(manifest) - set(_MANIFEST_FIELDS))
    if missing:
        faults.append(f"清单缺少字段 / manifest.json lacks {', '.join(missing)}")
    if unknown:
        faults.append(f"清单含未知字段 / manifest.json has unknown fields {', '.join(unknown)}")
    if manifest.get("standard_version") != STANDARD_VERSION:
        faults.append(f"标准版本不符 / standard_version is not {STANDARD_VERSION!r}")
    try:
        package_id = manifest.get("package_id")
        if not isinstance(package_id, str):
            raise ValueError
        uuid.UUID(package_id)
    except ValueError:
        faults.append("package_id 不是 UUID / package_id is not a UUID")
    if manifest.get("sender") != SENDER or manifest.get("receiver") != RECEIVER:
        faults.append(f"发送/接收方不符 / sender and receiver must be {SENDER} and {RECEIVER}")
    sequence = manifest.get("sequence")
    if not _is_int(sequence, 1):
        faults.append("sequence 不是正整数 / sequence is not a whole number >= 1")
    created_at = manifest.get("created_at")
    try:
        if not isinstance(created_at, str) or datetime.fromisoformat(created_at).tzinfo is None:
            raise ValueError
    except ValueError:
        faults.append("created_at 不是带时区的时间 / created_at is not an RFC 3339 date-time with offset")
    previous = manifest.get("previous_manifest_sha256")
    if _is_int(sequence, 1) and sequence == 1 and previous is not None:
        faults.append("第 1 号包的 previous_manifest_sha256 须为 null / package 1 must have a null previous hash")
    if _is_int(sequence, 2) and not (isinstance(previous, str) and _HEX64.match(previous)):
        faults.append("previous_manifest_sha256 不是 64 位十六进制 / previous_manifest_sha256 is not 64 hex digits")
    signature = manifest.get("signature")
    if (
        not isinstance(signature, dict)
        or set(signature) != {"algorithm", "key_id"}
        or signature.get("algorithm") not in ALGORITHMS
        or not isinstance(signature.get("key_id"), str)
    ):
        faults.append(f"signature 字段无效 / signature must be {{algorithm: {' or '.join(ALGORITHMS)}, key_id}}")
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        faults.append("files 须为非空列表 / files must be a non-empty list")
        return False
    seen: set[str] = set()
    usable = True
    for index, entry in enumerate(files):
        where = f"files[{index}]"
        if not isinstance(entry, dict) or set(entry) != _FILE_FIELDS:
            faults.append(f"{where} 字段不符 / {where} must have exactly {', '.join(sorted(_FILE_FIELDS))}")
            usable = False
            continue
        # Every value is checked for its type before it is used: a list or an object where a string
        # belongs must end in a fault line, never in an exception (a list cannot even be a set member).
        entity, path = entry["entity"], entry["path"]
        if not isinstance(entity, str) or not isinstance(path, str):
            faults.append(f"{where} 实体或路径不是字符串 / {where}: entity and path must be strings")
            usable = False
        elif entity not in ENTITIES or path != data_path(entity):
            faults.append(f"{where} 实体或路径无效 / {where}: unknown entity or path {path!r}")
            usable = False
        elif entity in seen:
            faults.append(f"{where} 实体重复 / {where}: entity {entity} listed twice")
            usable = False
        else:
            seen.add(entity)
        if not _is_int(entry["records"], 1) or not _is_int(entry["bytes"], 1):
            faults.append(f"{where} records/bytes 无效 / {where}: records and bytes must be whole numbers >= 1")
            usable = False
        if not isinstance(entry["sha256"], str) or not _HEX64.match(entry["sha256"]):
            faults.append(f"{where} sha256 无效 / {where}: sha256 is not 64 hex digits")
            usable = False
    return usable


def _check_data_file(archive: zipfile.ZipFile, entry: dict[str, Any], faults: list[str]) -> None:
    path = entry["path"]
    digest = hashlib.sha256()
    size = lines = bad_lines = 0
    tail = b""
    last_byte = b""
    try:
        with archive.open(path) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
                last_byte = block[-1:]
                parts = (tail + block).split(b"\n")
                tail = parts.pop()
                for line in parts:
                    lines += 1
                    if bad_lines < _MAX_LINE_FAULTS and not _is_json_object(line):
                        bad_lines += 1
                        faults.append(f"{path} 第 {lines} 行不是 JSON 对象 / {path} line {lines}: not a JSON object")
    except (zipfile.LargeZipFile, *_UNREADABLE_ENTRY) as exc:
        faults.append(f"{path} 已损坏 / {path} is corrupted in the archive (tampered data): {exc}")
        return
    if tail or last_byte != b"\n":
        faults.append(f"{path} 末行没有换行 / {path} does not end with a newline")
    if digest.hexdigest() != entry["sha256"]:
        faults.append(f"{path} 校验和不符 / {path}: sha256 differs from the manifest (tampered data)")
    if size != entry["bytes"]:
        faults.append(f"{path} 字节数不符 / {path}: {size} bytes, manifest says {entry['bytes']}")
    if lines != entry["records"]:
        faults.append(f"{path} 记录数不符 / {path}: {lines} lines, manifest says {entry['records']} records")


def _is_json_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except _UNPARSABLE:
        return False


def _check_signature(archive: zipfile.ZipFile, body: bytes, manifest: dict[str, Any], verifier: Verifier) -> list[str]:
    claimed = manifest.get("signature") if isinstance(manifest.get("signature"), dict) else {}
    try:
        raw = archive.read("manifest.sig")
    except _UNREADABLE_ENTRY as exc:
        return [f"manifest.sig 已损坏 / manifest.sig is corrupted in the archive: {exc}"]
    try:
        signature = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        return ["manifest.sig 不是 base64 / manifest.sig is not base64"]
    if claimed.get("algorithm") != verifier.algorithm:
        return [
            f"签名算法与公钥不符 / manifest says {claimed.get('algorithm')} but the public key is "
            f"{verifier.algorithm} (wrong key)"
        ]
    if claimed.get("key_id") != verifier.key_id:
        return [
            f"签名密钥不符 / signed with key_id {claimed.get('key_id')}, the given public key is "
            f"{verifier.key_id} (wrong key)"
        ]
    if not verifier.verify(body, signature):
        return ["签名验证失败 / the signature does not verify: manifest.json was altered or the signature forged"]
    return []


def _check_chain(manifest: dict[str, Any], previous: Path) -> list[str]:
    try:
        with zipfile.ZipFile(previous) as archive:
            previous_body = archive.read("manifest.json")
        previous_manifest = json.loads(previous_body)
        previous_sequence = previous_manifest["sequence"]
        if not _is_int(previous_sequence, 1):
            raise ValueError("no sequence")
    except (*_UNREADABLE_ENTRY, *_UNPARSABLE, KeyError, TypeError) as exc:
        return [f"前一个包无法读取 / previous package {previous.name} is unreadable: {_reason(exc)}"]
    faults = []
    sequence = manifest.get("sequence")
    if _is_int(sequence, 1) and sequence != previous_sequence + 1:
        if sequence > previous_sequence + 1:
            faults.append(
                f"序号不连续 / sequence gap: previous package is {previous_sequence}, this is {sequence} "
                f"(expected {previous_sequence + 1})"
            )
        else:
            faults.append(
                f"序号不在前一个包之后 / sequence {sequence} does not follow previous package {previous_sequence}"
            )
    if manifest.get("previous_manifest_sha256") != hashlib.sha256(previous_body).hexdigest():
        faults.append(
            "哈希链断裂 / broken chain: previous_manifest_sha256 is not the SHA-256 of the previous "
            "package's manifest.json"
        )
    return faults


def verify_package(path: Path, public_key_pem: bytes, previous: Path | None = None) -> list[str]:
    """Faults found in the package at ``path`` (empty when valid), one line each."""
    faults: list[str] = []
    verifier: Verifier | None
    try:
        verifier = load_verifier(public_key_pem)
    except KeyFileError as exc:
        faults.append(f"公钥无法使用 / public key unusable: {exc.message}")
        verifier = None
    if not path.is_file():
        return [*faults, f"找不到交换包 / no such package file: {path}"]
    if not zipfile.is_zipfile(path):
        return [*faults, f"不是 zip 文件 / {path.name} is not a zip archive"]
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return [*faults, f"zip 结构损坏 / {path.name}: broken zip structure: {exc}"]
    with archive:
        names = [info.filename for info in archive.infolist()]
        if len(names) != len(set(names)):
            faults.append("zip 中有重名条目 / the archive holds two entries with the same name")
        for required in ("manifest.json", "manifest.sig"):
            if required not in names:
                faults.append(f"缺少 {required} / {required} is missing")
        if "manifest.json" not in names:
            return faults
        try:
            body = archive.read("manifest.json")
            manifest = json.loads(body.decode("utf-8"))
        except (*_UNREADABLE_ENTRY, *_UNPARSABLE) as exc:
            return [*faults, f"manifest.json 无法解析 / manifest.json is unreadable: {_reason(exc)}"]
        usable = _check_manifest(manifest, faults)
        if not isinstance(manifest, dict):
            return faults
        sequence = manifest.get("sequence")
        if _is_int(sequence, 1) and path.name != package_file_name(sequence):
            named = PACKAGE_NAME.match(path.name)
            note = f"file name says {int(named.group(1))}" if named else "file name is not 320481-320400-{seq}.zip"
            faults.append(f"文件名与序号不符 / {path.name}: {note}, manifest says {sequence}")
        if usable:
            listed = {entry["path"] for entry in manifest["files"]}
            for extra in sorted(set(names) - listed - {"manifest.json", "manifest.sig"}):
                faults.append(f"包中有清单未列出的文件 / {extra} is in the archive but not in the manifest")
            for entry in manifest["files"]:
                if entry["path"] not in names:
                    faults.append(f"缺少数据文件 / {entry['path']} is listed in the manifest but missing")
                else:
                    _check_data_file(archive, entry, faults)
        if verifier is not None and "manifest.sig" in names:
            faults.extend(_check_signature(archive, body, manifest, verifier))
    if previous is not None:
        faults.extend(_check_chain(manifest, previous))
    return faults


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exchange.changzhou.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("package", type=Path)
    parser.add_argument("--public-key", type=Path, required=True)
    parser.add_argument("--previous", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        pem = args.public_key.read_bytes()
    except OSError as exc:
        print(f"FAULT: 公钥不可读 / cannot read public key {args.public_key}: {exc.strerror}")
        return 1
    faults = verify_package(args.package, pem, args.previous)
    for fault in faults:
        print(f"FAULT: {fault}")
    if not faults:
        print(f"OK: {args.package.name}")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
