"""File drop (§10.1): ``inbox/{system}/{entity}.{anything}.jsonl|csv`` read in chunks, columnar.

JSON Lines are parsed with ``pyarrow.json`` against the standard's field types; a stretch of lines
that pyarrow refuses (a broken line, a value of the wrong JSON type, two objects on one line) is
split and retried, down to single lines that are decoded with ``json`` and, when they are not a
JSON object, become ``unparsed`` (quarantined as PARSE). So a few bad lines cost a few small
re-parses, not a slow path for the whole file. CSV is read with ``pyarrow.csv`` as strings and then
typed per the schema. Files are never deleted: after a batch is stored the caller moves the file
with :func:`archive_file`; a file that cannot be parsed at all raises :class:`FileRejected` before
any of its batches is yielded, and the caller moves it with :func:`reject_file`.

Departments copy files in over SMB or FTP, often without a ``.part`` name, so a file may still be
growing while it is read. Only the bytes it had when it was opened are read, and :func:`archive_file`
leaves a file that changed since in the inbox: the next cycle reads it whole.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json

from connectors.base import (
    CheckResult,
    Cursor,
    FileRejected,
    RecordBatch,
    UnparsedLine,
    as_frame_column,
    column_from_values,
    field_arrow_types,
    json_line,
)
from connectors.read_ahead import read_ahead
from schemas.standard import ENTITIES, FIELD_ORDER

CHUNK_RECORDS = 100_000
FORMATS = ("jsonl", "csv")
PART_SUFFIX = ".part"
_BOM = codecs.BOM_UTF8
_SMALL = 32  # stretches of at most this many lines are decoded line by line
_SPLIT = 8  # a refused stretch is retried in this many parts
_JSON_WS = b" \t\r"
_INT_RE = r"^-?[0-9]{1,18}$"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboxFile:
    """A complete file waiting in the inbox, with the entity and format its name says."""

    path: Path
    entity: str
    fmt: str  # "jsonl" | "csv"

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class BadName:
    """A file in the inbox whose name does not follow §10.1 (it is rejected, not read)."""

    path: Path
    reason: str


def classify(path: Path) -> InboxFile | BadName | None:
    """What the inbox makes of a file name; ``None`` for files that are not ready (``.part``, hidden)."""
    name = path.name
    if name.startswith(".") or name.endswith(PART_SUFFIX):
        return None
    entity, _, rest = name.partition(".")
    ext = name.rsplit(".", 1)[-1] if rest else ""
    if entity not in ENTITIES:
        return BadName(
            path,
            f"未知实体 / unknown entity {entity!r} in the file name (expected one of "
            f"{', '.join(ENTITIES)}, e.g. case.20261125.jsonl)",
        )
    if ext not in FORMATS:
        return BadName(path, f"不支持的文件类型 / unsupported file type {ext!r} (expected .jsonl or .csv)")
    if entity == "power_item" and ext == "csv":
        return BadName(path, "权力事项只接受 JSON Lines / power_item comes as JSON Lines only, not CSV")
    return InboxFile(path, entity, ext)


def _order_key(f: InboxFile) -> tuple[int, str]:
    return (ENTITIES.index(f.entity), f.name)


# --- the connector ------------------------------------------------------------------------------


class FileDropConnector:
    """Reads ``{inbox_root}/{system_code}/`` (or ``directory``) in §10.1 order.

    ``read()`` yields the batches of every complete file, entities in dependency order and files in
    lexicographic order. When it reaches a file it cannot read at all it raises
    :class:`FileRejected` (``exc.path`` is the file) before yielding anything of that file: move the
    file with :func:`reject_file` and call ``read()`` again, which lists the inbox afresh (files that
    were archived or rejected are gone) and goes on with the next file.

    Cursor: ``{"file": name, "size": bytes, "head": sha256 of the first 64 KiB, "position": n,
    "done": bool}`` — the first ``n`` lines (JSONL) or valid data rows (CSV) of that file are stored.
    ``read(cursor)`` skips them if the same file is still in the inbox, so a crash between two
    batches of a large file does not read its head again.
    """

    def __init__(
        self,
        inbox_root: Path | str,
        system_code: str,
        *,
        directory: Path | str | None = None,
        chunk_records: int = CHUNK_RECORDS,
    ) -> None:
        self.system_code = system_code
        self.inbox_root = Path(inbox_root)
        self.directory = Path(directory) if directory is not None else self.inbox_root / system_code
        self.chunk_records = chunk_records

    # listing

    def scan(self) -> tuple[list[InboxFile], list[BadName]]:
        """Complete files in reading order, and files whose names are not acceptable."""
        if not self.directory.is_dir():
            return [], []
        good: list[InboxFile] = []
        bad: list[BadName] = []
        for p in self.directory.iterdir():
            if not p.is_file():
                continue
            c = classify(p)
            if isinstance(c, InboxFile):
                good.append(c)
            elif isinstance(c, BadName):
                bad.append(c)
        good.sort(key=_order_key)
        bad.sort(key=lambda b: b.path.name)
        return good, bad

    def pending_files(self) -> list[InboxFile]:
        """Complete files in reading order (what ``read()`` would read)."""
        return self.scan()[0]

    def origin(self, path: Path) -> str:
        return f"{self.inbox_root.name}/{self.system_code}/{path.name}"

    # reading

    def read(self, cursor: Cursor | None = None) -> Iterator[RecordBatch]:
        # The next batch — of this file or the next one — is parsed in a thread while the caller
        # validates and stores the current one: Arrow's readers release the GIL, so on two cores
        # parsing mostly hides behind the rest, at file boundaries too.
        return read_ahead(self._batches(cursor))

    def _batches(self, cursor: Cursor | None) -> Iterator[RecordBatch]:
        files, bad = self.scan()
        if bad:
            raise FileRejected(bad[0].reason, path=bad[0].path, system_code=self.system_code)
        for f in files:
            skip = 0
            if cursor and cursor.get("file") == f.name and not cursor.get("done"):
                try:
                    same = f.path.stat().st_size == cursor.get("size") and _head_sha256(f.path) == cursor.get("head")
                except OSError:
                    same = False
                if same:
                    skip = int(cursor.get("position", 0))
            yield from self.read_file(f, skip=skip)

    def read_file(self, f: InboxFile | Path, *, skip: int = 0) -> Iterator[RecordBatch]:
        """The batches of one file; raises :class:`FileRejected` before the first batch if unreadable."""
        if isinstance(f, Path):
            c = classify(f)
            if isinstance(c, BadName):
                raise FileRejected(c.reason, path=f, system_code=self.system_code)
            if c is None:
                raise FileRejected(
                    "文件未完成 / the file is not complete (.part)", path=f, system_code=self.system_code
                )
            f = c
        try:
            opened = OpenedFile.of(f.path)
            # checked and hashed here, in the thread that reads ahead, rather than by the busier one
            # that validates
            length, sha = _check_and_hash(f.path, opened)
            _remember(f.path, opened)
            size = opened.size
            head = _head_sha256(f.path)
            if f.fmt == "jsonl":
                chunks = _read_jsonl(f.path, f.entity, self.chunk_records, skip, length)
            else:
                chunks = _read_csv(f.path, f.entity, self.chunk_records, skip, length)
            first = next(chunks, None)
        except FileRejected as e:
            e.path = f.path
            e.system_code = self.system_code
            raise
        origin = self.origin(f.path)
        current = first
        while current is not None:
            if f.fmt == "jsonl":
                frame, raw, unparsed, position, last = current
                nxt = None if last else next(chunks, None)
            else:
                nxt = next(chunks, None)
                frame, raw, unparsed, position = current
                last = nxt is None
            yield RecordBatch(
                source_system=self.system_code,
                entity=f.entity,
                origin=origin,
                frame=frame,
                raw=raw,
                unparsed=unparsed,
                next_cursor={"file": f.name, "size": size, "head": head, "position": position, "done": last},
                file_path=f.path,
                file_sha256=sha,
                is_last_of_file=last,
            )
            current = nxt

    def check(self) -> CheckResult:
        """Is the directory there and readable; parse a sample of the first file. Never raises."""
        if not self.directory.is_dir():
            return CheckResult(
                False,
                self.system_code,
                f"收件目录不存在 / inbox directory {self.origin(self.directory)} does not exist",
            )
        try:
            files, bad = self.scan()
        except OSError as e:
            return CheckResult(
                False, self.system_code, f"收件目录无法读取 / inbox directory cannot be listed ({e.strerror})"
            )
        details = [f"{b.path.name}: {b.reason}" for b in bad]
        records = unparsed = 0
        ok = not bad
        for f in files[:1]:
            try:
                batch = next(self.read_file(f), None)
            except FileRejected as e:
                ok = False
                details.append(f"{f.name}: {e.message}")
                continue
            if batch is not None:
                records, unparsed = len(batch.frame), len(batch.unparsed)
                details.append(f"{f.name}: {records} records, {unparsed} unparsed lines in the first batch")
        msg = (
            f"可读取 / readable: {len(files)} file(s) waiting"
            if ok
            else f"存在无法读取的文件 / {len(details)} problem(s) in the inbox"
        )
        return CheckResult(ok, self.system_code, msg, tuple(details), records, unparsed)


def _head_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read(64 << 10)).hexdigest()


# --- files that may still be written ------------------------------------------------------------


@dataclass(frozen=True)
class OpenedFile:
    """A file as it was when it was opened for reading: which file, how long, last written when."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> OpenedFile:
        st = os.stat(path)
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def changed(self, path: Path) -> bool:
        """Has the file at ``path`` been written to, replaced or removed since?"""
        try:
            return OpenedFile.of(path) != self
        except OSError:
            return True


# The archive step is given the file's path only (by sanheyi/ingest.py), so what each file was when it
# was opened is kept here, from read_file until the file is archived or rejected. Reading happens in
# the read-ahead thread, archiving in the caller's.
_opened: dict[Path, OpenedFile] = {}
_opened_lock = threading.Lock()


def _remember(path: Path, opened: OpenedFile) -> None:
    with _opened_lock:
        _opened[Path(path).absolute()] = opened


def _forget(path: Path) -> OpenedFile | None:
    with _opened_lock:
        return _opened.pop(Path(path).absolute(), None)


class _Prefix(io.RawIOBase):
    """The first ``length`` bytes of an open file, for readers that take a file object (pyarrow's CSV)."""

    def __init__(self, fh: io.BufferedReader, length: int) -> None:
        super().__init__()
        self._fh = fh
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left)
        if n <= 0:
            return 0
        got = self._fh.readinto(memoryview(buffer).cast("B")[:n]) or 0
        self._left -= got
        return got


# --- moving files -------------------------------------------------------------------------------


def _free_name(directory: Path, name: str) -> Path:
    dest = directory / name
    if not dest.exists() and not (directory / f"{name}.reason.txt").exists():
        return dest
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    n = 1
    while True:
        candidate = f"{stem}~{n}.{ext}" if ext else f"{stem}~{n}"
        dest = directory / candidate
        if not dest.exists() and not (directory / f"{candidate}.reason.txt").exists():
            return dest
        n += 1


def _move(path: Path, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    while True:
        dest = _free_name(directory, path.name)
        try:
            os.link(path, dest)  # fails instead of overwriting if the name was taken meanwhile
        except FileExistsError:
            continue
        except OSError:
            if dest.exists():
                continue
            shutil.move(str(path), str(dest))
            return dest
        os.unlink(path)
        return dest


def archive_file(path: Path, archive_root: Path, system: str) -> Path | None:
    """Move a file that was read to ``archive_root/{system}/`` (never overwrites); the new path.

    A file that was written to, replaced or removed since :meth:`FileDropConnector.read_file` opened it
    (a department still copying it in) is left where it is, with a warning, and ``None`` is returned:
    what was read of it is stored, and the next cycle reads it whole (the stored part again comes
    back as duplicates).
    """
    path = Path(path)
    opened = _forget(path)
    if opened is not None and opened.changed(path):
        log.warning(
            "文件在读取期间被修改, 留在收件目录, 下一周期重新读取 / %s changed while it was read: "
            "left in the inbox, to be read again in the next cycle",
            path.name,
        )
        return None
    return _move(path, Path(archive_root) / system)


def reject_file(path: Path, rejected_root: Path, system: str, reason: str) -> Path:
    """Move an unreadable file to ``rejected_root/{system}/`` with ``{name}.reason.txt`` beside it."""
    _forget(path)
    dest = _move(Path(path), Path(rejected_root) / system)
    dest.with_name(dest.name + ".reason.txt").write_text(reason.rstrip("\n") + "\n", encoding="utf-8")
    return dest


# --- encoding -----------------------------------------------------------------------------------


def _check_and_hash(path: Path, opened: OpenedFile, block: int = 16 << 20) -> tuple[int, str]:
    """Reject a file that is not plain UTF-8 (a BOM, or bytes that are not UTF-8); otherwise how many
    of its bytes to read and their SHA-256, in one pass over the bytes it had when it was opened.

    When those bytes end inside a line (no line break after it) and the file has changed by the end
    of the pass, that line is the one a writer was in the middle of: it is left out, rather than
    stored cut short or quarantined, and the file, not archived, is read whole in the next cycle.

    Arrow's UTF-8 check is vectorised; blocks are cut after a newline, which never splits a
    character. Python's decoder runs only to report where a fault is.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        if fh.read(len(_BOM)) == _BOM:
            raise FileRejected(
                "文件带有 BOM / the file starts with a UTF-8 byte order mark (BOM); "
                "Interface Standard v1 requires UTF-8 without BOM"
            )
        fh.seek(0)
        left = opened.size
        offset = 0
        carry = b""
        while True:
            data = fh.read(min(block, left))
            left -= len(data)
            buf = carry + data
            if not data:
                break
            cut = buf.rfind(b"\n") + 1
            if cut:
                buf, carry = buf[:cut], buf[cut:]
            else:
                carry, buf = buf, b""
            if buf:
                _check_utf8_block(buf, offset)
                # blocks this large are hashed without the interpreter's lock
                digest.update(buf)
                offset += len(buf)
    # a line may end in CR alone (CSV)
    whole = carry.rfind(b"\r") + 1
    tail = carry[whole:]
    if tail and opened.changed(path):
        carry = carry[:whole]
    if carry:
        _check_utf8_block(carry, offset)
        digest.update(carry)
        offset += len(carry)
    return offset, digest.hexdigest()


def _check_utf8_block(buf: bytes, offset: int) -> None:
    arr = pa.Array.from_buffers(
        pa.binary(), 1, [None, pa.py_buffer(np.array([0, len(buf)], dtype=np.int32)), pa.py_buffer(buf)]
    )
    try:
        arr.cast(pa.string())
        return
    except pa.ArrowInvalid:
        pass
    try:
        buf.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FileRejected(
            f"文件不是 UTF-8 编码 / the file is not UTF-8 (invalid byte at offset {offset + e.start})"
        ) from None


# --- JSON Lines ---------------------------------------------------------------------------------


class LineView(Sequence[str]):
    """Raw text of selected lines of a buffer, decoded only when asked for (quarantine, held)."""

    def __init__(self, data: bytes, starts: np.ndarray, ends: np.ndarray) -> None:
        self._data = data
        self._starts = starts
        self._ends = ends

    def __len__(self) -> int:
        return len(self._starts)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self._data[self._starts[i] : self._ends[i]].decode("utf-8").rstrip("\r")

    def __iter__(self) -> Iterator[str]:
        data = self._data
        for a, b in zip(self._starts.tolist(), self._ends.tolist(), strict=True):
            yield data[a:b].decode("utf-8").rstrip("\r")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _decode_line(raw: bytes) -> tuple[dict | None, str]:
    try:
        obj = json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        return None, f"不是有效的 JSON / not valid JSON: {e.msg} (column {e.colno})"
    except ValueError as e:
        return None, f"不是有效的 JSON / not valid JSON: {e}"
    if not isinstance(obj, dict):
        return None, f"不是 JSON 对象 / not a JSON object (a JSON {type(obj).__name__})"
    return obj, ""


def _iter_line_chunks(
    path: Path, max_lines: int, skip: int, length: int, block: int = 16 << 20
) -> Iterator[tuple[bytes, int]]:
    """(bytes of up to ``max_lines`` whole lines of the first ``length`` bytes, 1-based number of the
    first line)."""
    with open(path, "rb") as fh:
        line_no = 1
        carry = b""
        pending: list[bytes] = []
        pending_lines = 0
        eof = False
        while not eof:
            data = fh.read(min(block, length))
            length -= len(data)
            eof = not data
            buf = carry + data
            if eof:
                carry = b""
                if buf and not buf.endswith(b"\n"):
                    buf += b"\n"
            else:
                cut = buf.rfind(b"\n") + 1
                buf, carry = buf[:cut], buf[cut:]
            pos = 0
            while pos < len(buf):
                if skip:
                    arr = np.frombuffer(buf, dtype=np.uint8, offset=pos)
                    nl = np.flatnonzero(arr == 10)
                    take = min(skip, len(nl))
                    skip -= take
                    line_no += take
                    pos = pos + int(nl[take - 1]) + 1 if take else len(buf)
                    continue
                want = max_lines - pending_lines
                arr = np.frombuffer(buf, dtype=np.uint8, offset=pos)
                nl = np.flatnonzero(arr == 10)
                if len(nl) >= want:
                    end = pos + int(nl[want - 1]) + 1
                    pending.append(buf[pos:end])
                    yield b"".join(pending), line_no
                    line_no += max_lines
                    pending, pending_lines = [], 0
                    pos = end
                else:
                    pending.append(buf[pos:])
                    pending_lines += len(nl)
                    pos = len(buf)
        if pending_lines:
            yield b"".join(pending), line_no


def _with_last(chunks: Iterator[tuple[bytes, int]], skip: int) -> Iterator[tuple[bytes, int, bool]]:
    """Mark the last raw chunk (an empty file still gives one, empty, chunk)."""
    prev = next(chunks, None)
    if prev is None:
        yield b"", skip + 1, True
        return
    for item in chunks:
        yield prev[0], prev[1], False
        prev = item
    yield prev[0], prev[1], True


def _read_jsonl(path: Path, entity: str, max_lines: int, skip: int, length: int):
    """(frame, raw, unparsed, position, is_last) per chunk of the first ``length`` bytes."""
    types = field_arrow_types(entity)
    schema = pa.schema(list(types.items()))
    for data, first_line, last in _with_last(_iter_line_chunks(path, max_lines, skip, length), skip):
        frame, raw, unparsed, n_lines = parse_jsonl(entity, data, first_line, _schema=schema, _types=types)
        yield frame, raw, unparsed, first_line - 1 + n_lines, last
        if last:
            return


@dataclass
class _ArrowPiece:
    rows: np.ndarray  # indices into the record lines
    table: pa.Table


@dataclass
class _PyPiece:
    rows: np.ndarray
    records: list[dict]


def parse_jsonl(
    entity: str,
    data: bytes,
    first_line: int = 1,
    *,
    _schema: pa.Schema | None = None,
    _types: dict[str, pa.DataType] | None = None,
) -> tuple[pd.DataFrame, LineView, list[UnparsedLine], int]:
    """Parse whole JSON lines into (frame, raw view, unparsed lines, number of lines consumed)."""
    types = _types or field_arrow_types(entity)
    schema = _schema or pa.schema(list(types.items()))
    fields = FIELD_ORDER[entity]
    buf = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [len(data)]))
    if len(data) == 0 or data.endswith(b"\n"):
        starts, ends = starts[:-1], ends[:-1]
    n_lines = len(starts)
    # Blank lines are not records. Records are at least two bytes; only short lines can be blank,
    # and a long blank line is caught by the row count check below.
    blank = np.zeros(n_lines, dtype=bool)
    for i in np.flatnonzero(ends - starts <= 64):
        if not data[starts[i] : ends[i]].strip(_JSON_WS):
            blank[i] = True
    rec = np.flatnonzero(~blank)
    r_starts, r_ends = starts[rec], ends[rec]
    pieces: list[_ArrowPiece | _PyPiece] = []
    unparsed: list[UnparsedLine] = []

    def decode_lines(lo: int, hi: int) -> None:
        keep: list[int] = []
        records: list[dict] = []
        for k in range(lo, hi):
            raw = data[r_starts[k] : r_ends[k]]
            obj, msg = _decode_line(raw)
            if obj is None:
                unparsed.append(UnparsedLine(first_line + int(rec[k]), raw.decode("utf-8").rstrip("\r"), msg))
            else:
                keep.append(k)
                records.append(obj)
        if keep:
            pieces.append(_PyPiece(np.asarray(keep, dtype=np.int64), records))

    def parse(lo: int, hi: int) -> None:
        n = hi - lo
        if n <= 0:
            return
        if n <= _SMALL:
            decode_lines(lo, hi)
            return
        try:
            table = pa_json.read_json(
                io.BytesIO(data[r_starts[lo] : r_ends[hi - 1]]),
                read_options=pa_json.ReadOptions(use_threads=n > 10_000),
                parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
            )
            if table.num_rows != n:
                raise ValueError("row count differs from line count")
        except (pa.ArrowInvalid, ValueError):
            step = -(-n // _SPLIT)
            for a in range(lo, hi, step):
                parse(a, min(a + step, hi))
            return
        pieces.append(_ArrowPiece(np.arange(lo, hi, dtype=np.int64), table))

    parse(0, len(rec))
    frame, order = _assemble(pieces, fields, types, data, r_starts, r_ends)
    frame["_line"] = (first_line + rec[order]).astype(np.int64)
    raw = LineView(data, r_starts[order], r_ends[order])
    unparsed.sort(key=lambda u: u.line_no)
    return frame, raw, unparsed, n_lines


def _extra_keys(
    piece: _ArrowPiece | _PyPiece, known: set[str], data: bytes, r_starts: np.ndarray, r_ends: np.ndarray
) -> np.ndarray:
    n = len(piece.rows)
    out = np.full(n, None, dtype=object)
    if isinstance(piece, _PyPiece):
        out[:] = [sorted(k for k in r if k not in known) or None for r in piece.records]
        return out
    extra_cols = [c for c in piece.table.column_names if c not in known]
    if not extra_cols:
        return out
    # A column exists when some line has the key; a null there may be a line without it or with
    # ``"key": null``, which only the line itself can tell.
    for c in extra_cols:
        col = piece.table.column(c)
        present = col.is_valid().to_numpy(zero_copy_only=False)
        needle = json.dumps(c, ensure_ascii=False).encode()
        for j in np.flatnonzero(~present):
            k = piece.rows[j]
            line = data[r_starts[k] : r_ends[k]]
            if needle in line and c in json.loads(line):
                present[j] = True
        for j in np.flatnonzero(present):
            out[j] = [*(out[j] or []), c]
    for j in range(n):
        if out[j] is not None:
            out[j] = sorted(out[j])
    return out


def _assemble(
    pieces: list[_ArrowPiece | _PyPiece],
    fields: Sequence[str],
    types: dict[str, pa.DataType],
    data: bytes,
    r_starts: np.ndarray,
    r_ends: np.ndarray,
) -> tuple[pd.DataFrame, np.ndarray]:
    pieces = sorted(pieces, key=lambda p: int(p.rows[0]))
    order = np.concatenate([p.rows for p in pieces]) if pieces else np.zeros(0, dtype=np.int64)
    known = set(fields)
    columns: dict[str, Any] = {}
    for name in fields:
        t = types[name]
        parts: list[Any] = []
        typed = True
        for p in pieces:
            if isinstance(p, _ArrowPiece):
                parts.append(p.table.column(name))
            else:
                col = column_from_values([r.get(name) for r in p.records], t)
                if isinstance(col, pa.Array):
                    parts.append(pa.chunked_array([col], type=t))
                else:
                    typed = False
                    parts.append(col)
        if typed:
            chunks = [c for part in parts for c in part.chunks]
            arr = pa.chunked_array(chunks, type=t) if chunks else pa.chunked_array([], type=t)
            columns[name] = as_frame_column(arr)
        else:
            values: list[Any] = []
            for part in parts:
                values.extend(part.to_pylist() if isinstance(part, pa.ChunkedArray) else list(part))
            obj = np.empty(len(values), dtype=object)
            obj[:] = values
            columns[name] = obj
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(order)))
    extras = [_extra_keys(p, known, data, r_starts, r_ends) for p in pieces]
    extra = np.concatenate(extras) if extras else np.zeros(0, dtype=object)
    frame["_extra"] = extra
    return frame, order


# --- CSV ----------------------------------------------------------------------------------------


def _csv_header(path: Path, entity: str, length: int) -> list[str]:
    """The header's column names. A column the standard does not know is kept: every record with a
    value in it is quarantined as ``EXTRA_FIELD`` (§1), as a JSON record with an unknown key is."""
    with open(path, "rb") as fh:
        head = fh.read(min(1 << 20, length))
    # the csv module finds the end of the header whatever the line ending (LF, CRLF or CR alone)
    try:
        names = next(csv.reader(io.StringIO(head.decode("utf-8", errors="replace"), newline=""), strict=True), [])
    except csv.Error:
        raise FileRejected(
            "CSV 表头无法解析 / the CSV header row cannot be parsed (check its quotes and separators)"
        ) from None
    if not any(name.strip() for name in names):
        raise FileRejected("CSV 缺少表头 / the CSV file has no header row (first line empty)")
    known = FIELD_ORDER[entity]
    if "flow" in names:
        raise FileRejected("CSV 不允许 flow 字段 / field flow is not allowed in CSV")
    if not any(name in known for name in names):
        # Not one column name: the header row is missing and the first line is a record (name, ID
        # number), which must not be echoed into the CLI, the log, the ``.reason.txt`` file or reports.
        raise FileRejected(
            f"CSV 表头中没有任何字段名（共 {len(names)} 列），可能缺少表头行 / none of the {len(names)} cells "
            "of the first line is a field name: the header row may be missing (the first line must name "
            f"the columns); 应为 / expected: {', '.join(known)}"
        )
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise FileRejected(f"CSV 表头字段重复 / the CSV header repeats column(s) {', '.join(dups)}")
    return names


class CsvRowView(Sequence[str]):
    """Each CSV row re-serialised as a JSON object (header order, typed values), built on demand."""

    def __init__(self, names: list[str], columns: dict[str, Any], n: int) -> None:
        self._names = names
        self._columns = columns
        self._n = n

    def __len__(self) -> int:
        return self._n

    def _value(self, name: str, i: int) -> Any:
        col = self._columns[name]
        if isinstance(col, np.ndarray):
            return col[i]
        return col[i].as_py()

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += self._n
        return json_line({name: self._value(name, i) for name in self._names})

    def __iter__(self) -> Iterator[str]:
        columns = [
            self._columns[n] if isinstance(self._columns[n], np.ndarray) else self._columns[n].to_pylist()
            for n in self._names
        ]
        for values in zip(*columns, strict=True):
            yield json_line(dict(zip(self._names, values, strict=True)))


def _type_csv_column(arr: pa.Array, arrow_type: pa.DataType) -> Any:
    """Integers become int64 when every cell is an integer; otherwise objects keep the bad text."""
    if arrow_type != pa.int64():
        return arr
    ok = pc.match_substring_regex(arr, _INT_RE)
    bad = pc.and_(arr.is_valid(), pc.invert(ok))
    if not pc.any(bad).as_py():
        return pc.cast(arr, pa.int64())
    values = arr.to_pylist()
    okv = ok.to_pylist()
    out = np.empty(len(values), dtype=object)
    out[:] = [int(v) if v is not None and good else v for v, good in zip(values, okv, strict=True)]
    return out


def _read_csv(path: Path, entity: str, max_rows: int, skip: int, length: int):
    """(frame, raw, unparsed, position) per chunk of the first ``length`` bytes."""
    names = _csv_header(path, entity, length)
    with open(path, "rb") as fh:
        yield from _read_csv_rows(_Prefix(fh, length), names, entity, max_rows, skip)


def _read_csv_rows(source: io.RawIOBase, names: list[str], entity: str, max_rows: int, skip: int):
    types = field_arrow_types(entity)
    invalid: list[tuple[int | None, str, str]] = []

    def on_invalid(row: Any) -> str:
        invalid.append(
            (
                row.number,
                row.text,
                f"CSV 行字段数不符 / expected {row.expected_columns} fields, got {row.actual_columns}",
            )
        )
        return "skip"

    reader = pa_csv.open_csv(
        source,
        read_options=pa_csv.ReadOptions(use_threads=False, block_size=8 << 20),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pa_csv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    )
    next_line = 2  # the header is line 1
    position = 0  # valid data rows consumed (yielded or skipped)
    pending: list[pa.RecordBatch] = []
    pending_invalid: list[UnparsedLine] = []
    pending_lines: list[np.ndarray] = []
    pending_rows = 0
    yielded = False

    def flush() -> tuple[pd.DataFrame, CsvRowView, list[UnparsedLine], int]:
        table = pa.Table.from_batches(pending, schema=reader.schema) if pending else None
        n = table.num_rows if table is not None else 0
        cols: dict[str, Any] = {}
        raw_cols: dict[str, Any] = {}
        extra = np.full(n, None, dtype=object)
        for name in names:
            arr = table.column(name).combine_chunks() if table is not None else pa.array([], pa.string())
            if name not in types:
                # A column the standard does not know stays text, in the raw record only; each row with
                # a value in it lists it under ``_extra`` (as the JSON Lines reader does for unknown
                # keys), for the validator to flag EXTRA_FIELD. Kept out of the frame: its name could
                # be one of the frame's own (``_line``).
                raw_cols[name] = arr
                for i in np.flatnonzero(arr.is_valid().to_numpy(zero_copy_only=False)).tolist():
                    extra[i] = [*(extra[i] or []), name]
                continue
            typed = _type_csv_column(arr, types[name])
            raw_cols[name] = typed
            cols[name] = as_frame_column(typed)
        frame = pd.DataFrame(cols, index=pd.RangeIndex(n))
        lines = np.concatenate(pending_lines) if pending_lines else np.zeros(0, dtype=np.int64)
        frame["_line"] = lines.astype(np.int64)
        if any(name not in types for name in names):
            frame["_extra"] = extra
        return frame, CsvRowView(names, raw_cols, n), sorted(pending_invalid, key=lambda u: u.line_no), position

    for batch in reader:
        bad = sorted((num if num is not None else next_line, text, msg) for num, text, msg in invalid)
        invalid.clear()
        bad_lines = {b[0] for b in bad}
        lines = []
        ln = next_line
        for _ in range(batch.num_rows):
            while ln in bad_lines:
                ln += 1
            lines.append(ln)
            ln += 1
        next_line = max([ln, *(b[0] + 1 for b in bad)])
        line_arr = np.asarray(lines, dtype=np.int64)
        if skip:  # resume: rows (and broken rows before them) already stored
            drop = min(skip, batch.num_rows)
            skip -= drop
            position += drop
            last_dropped = int(line_arr[drop - 1]) if drop else 0
            bad = [b for b in bad if b[0] > last_dropped] if not skip else []
            batch, line_arr = batch.slice(drop), line_arr[drop:]
        pending_invalid.extend(UnparsedLine(b[0], b[1], b[2]) for b in bad)
        offset = 0
        while offset < batch.num_rows:
            take = min(max_rows - pending_rows, batch.num_rows - offset)
            pending.append(batch.slice(offset, take))
            pending_lines.append(line_arr[offset : offset + take])
            pending_rows += take
            position += take
            offset += take
            if pending_rows >= max_rows:
                yield flush()
                pending, pending_lines, pending_invalid, pending_rows = [], [], [], 0
                yielded = True
    # rows the parser refused after its last batch (a file whose only rows are broken yields none)
    tail = sorted((num if num is not None else next_line, text, msg) for num, text, msg in invalid)
    pending_invalid.extend(UnparsedLine(b[0], b[1], b[2]) for b in tail if not skip)
    if pending_rows or pending_invalid or not yielded:
        yield flush()
