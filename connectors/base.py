"""The contract every source interface (file, rest, soap, sql) implements, and the batch it yields.

A connector knows how to read records of Interface Standard v1 from one system; it does not know
about validation or the warehouse. It hands over *raw* values in columns (``RecordBatch.frame``)
plus the raw text of each record, and the validators decide what is valid.

Frame convention (what ``validators.validate_batch`` expects):

- one row per parsed record, in source order; one column per standard field the source sent
  (missing column = the field is absent in every record; ``None``/``NaN``/``NA`` = absent or null);
  values as decoded JSON: ``str``, ``int``, ``float``, ``bool``, ``list``, ``dict``. Columns may use
  ``pd.ArrowDtype`` when every value already has the standard's type (the fast path);
- ``_line``: 1-based line (or position) of the record in its origin;
- ``_extra``: optional; per row, the names of fields not in the standard that the record carries
  (``None`` when there are none). Without it, any non-standard column with a value counts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa

from schemas.errors import DataError, FatalError, HubError, RetriableError
from schemas.standard import FIELD_ORDER, load_schema

#: A connector's position, JSON-serialisable (stored in ``ops_cursor``).
Cursor = dict[str, Any]


class ConnectorConfigError(FatalError):
    """The connector is configured wrongly (missing directory, bad address): fix the configuration."""


class ConnectorUnavailable(RetriableError):
    """The source cannot be reached right now; the same read may succeed later."""


class ConnectorDataError(DataError):
    """What the source delivered cannot be used as it is."""


class FileRejected(ConnectorDataError):
    """A whole file cannot be parsed (encoding, BOM, bad CSV header, wrong name or format).

    The caller moves it to ``rejected/{system}/`` with ``reason`` beside it. ``message`` is one line in
    Chinese and English and never contains record values.
    """

    def __init__(self, message: str, *, path: Path | None = None, system_code: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.system_code = system_code

    @property
    def reason(self) -> str:
        return self.message


@dataclass(frozen=True)
class UnparsedLine:
    """A line that is not a JSON object (or a CSV row that cannot be split): quarantined as PARSE."""

    line_no: int
    raw: str
    message: str


@dataclass(frozen=True)
class RecordBatch:
    """Records of one entity from one origin, with the cursor to commit once they are stored."""

    source_system: str  # the system the batch ARRIVED from (not the records' own field)
    entity: str
    origin: str  # "inbox/UNIFIED/case.20261125a.jsonl", "rest:/records?cursor=..."
    frame: pd.DataFrame
    raw: Sequence[str]  # raw text of each frame row, same order (a list, Series or lazy view)
    unparsed: list[UnparsedLine] = field(default_factory=list)
    next_cursor: Cursor | None = None
    file_path: Path | None = None
    file_sha256: str | None = None  # of the whole file, for every batch of a file
    is_last_of_file: bool = True

    @property
    def received(self) -> int:
        """Records received in this batch: parsed rows plus unparsed lines."""
        return len(self.frame) + len(self.unparsed)


@dataclass(frozen=True)
class CheckResult:
    """Outcome of ``Connector.check()``: can the source be reached and does it deliver records."""

    ok: bool
    system_code: str
    message: str  # one line for the project office, no secrets, no personal data
    details: tuple[str, ...] = ()
    sample_records: int = 0  # records read as a sample
    sample_unparsed: int = 0  # sample lines that were not records at all


@runtime_checkable
class Connector(Protocol):
    """A source interface of one system (§6, §10.1)."""

    system_code: str

    def check(self) -> CheckResult:
        """Connect and read a sample. Never raises for faults in the data; reports them."""
        ...

    def read(self, cursor: Cursor | None) -> Iterator[RecordBatch]:
        """Batches in §10.1 order; each carries the cursor to commit after it is stored."""
        ...


@dataclass(frozen=True)
class UnavailableConnector:
    """Stands for a system whose connector could not be built (a credential not configured, say):
    reading it raises the error that stopped it, so the ingest records that one system as failed
    and goes on with the others."""

    system_code: str
    error: HubError

    def check(self) -> CheckResult:
        return CheckResult(ok=False, system_code=self.system_code, message=self.error.message)

    def read(self, cursor: Cursor | None) -> Iterator[RecordBatch]:
        raise self.error


# --- helpers shared by connectors --------------------------------------------------------------

_ARROW_TYPES = {"string": pa.string(), "integer": pa.int64()}


def field_arrow_types(entity: str) -> dict[str, pa.DataType]:
    """The Arrow type each standard field has when its value is well-typed."""
    out: dict[str, pa.DataType] = {}
    for name, spec in load_schema(entity)["properties"].items():
        t = spec.get("type")
        t = [x for x in t if x != "null"][0] if isinstance(t, list) else t
        out[name] = pa.list_(pa.string()) if t == "array" else _ARROW_TYPES[t]
    return out


def _is_null(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def column_from_values(values: list[Any], arrow_type: pa.DataType) -> pa.Array | np.ndarray:
    """An Arrow array when every value has the standard's JSON type, else an object array as is."""
    # JSON true is no integer, and a string is no list (pyarrow would take either)
    wrong: tuple[type, ...] = (
        (bool, float) if arrow_type == pa.int64() else (str, bytes, dict) if pa.types.is_list(arrow_type) else ()
    )
    if not any(isinstance(v, wrong) and not _is_null(v) for v in values):
        try:
            return pa.array(values, type=arrow_type, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
            pass
    out = np.empty(len(values), dtype=object)
    out[:] = [None if _is_null(v) else v for v in values]
    return out


def as_frame_column(col: pa.Array | pa.ChunkedArray | np.ndarray) -> Any:
    """Wrap an Arrow array as a pandas ArrowDtype column (object arrays pass through)."""
    if isinstance(col, np.ndarray):
        return col
    return pd.arrays.ArrowExtensionArray(col)


def records_to_frame(entity: str, records: Sequence[Mapping[str, Any]], lines: Sequence[int]) -> pd.DataFrame:
    """Build a frame (see the module docstring) from decoded JSON objects, e.g. a REST page."""
    fields = FIELD_ORDER[entity]
    known = set(fields)
    types = field_arrow_types(entity)
    data: dict[str, Any] = {}
    for name in fields:
        data[name] = as_frame_column(column_from_values([r.get(name) for r in records], types[name]))
    extra = np.empty(len(records), dtype=object)
    extra[:] = [sorted(k for k in r if k not in known) or None for r in records]
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(records)))
    frame["_extra"] = extra
    frame["_line"] = np.asarray(lines, dtype=np.int64)
    return frame


def json_line(record: Mapping[str, Any]) -> str:
    """The raw text of a record that did not arrive as a JSON line (CSV row, SOAP, SQL row)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))
