"""Column conversions shared by the rules: Shanghai dates as epoch days, money as cents, key lookups."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from supervision.errors import SupervisionInputError

SHANGHAI = "Asia/Shanghai"
NO_DAY = np.iinfo(np.int64).min  # marks a missing date in epoch-day arrays

STATUS_IN_PROGRESS, STATUS_COMPLETED, STATUS_WITHDRAWN, STATUS_TERMINATED = 0, 1, 2, 3
CASE_STATUS = {"IN_PROGRESS": 0, "COMPLETED": 1, "WITHDRAWN": 2, "TERMINATED": 3}
POWER_TYPES = ("XK", "SP", "CF", "QZ", "ZS", "QR", "CJ", "JC", "GF", "ZY", "JL", "QT")
STEP_CODES = ("SL", "SH", "PZ", "BJ", "SD", "LA", "DC", "GZ", "TZ", "JD", "ZX", "TB", "BZ")


def text(values: pd.Series) -> pa.Array:
    """A text column as an Arrow large_string array (nulls kept; non-string values stringified)."""
    if len(values) == 0:
        return pa.array([], type=pa.large_string())
    try:
        arr = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        arr = pa.array(
            [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v) for v in values],
            type=pa.large_string(),
        )
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr


def epoch_days(values: pd.Series, label: str) -> np.ndarray:
    """Asia/Shanghai calendar date of each instant, as days since 1970-01-01 (NO_DAY where null)."""
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        if values.isna().all():
            return np.full(len(values), NO_DAY, dtype=np.int64)
        raise SupervisionInputError(f"{label} must be a tz-aware datetime column, got {values.dtype}")
    local = values.dt.tz_convert(SHANGHAI).dt.tz_localize(None)
    days = local.to_numpy().astype("datetime64[D]").astype(np.int64)
    missing = values.isna().to_numpy()
    if missing.any():
        days[missing] = NO_DAY
    return days


def instants_us(values: pd.Series) -> np.ndarray:
    """Instants as microseconds since the epoch (UTC); nulls become the minimum int64."""
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        return np.full(len(values), NO_DAY, dtype=np.int64)
    out = values.to_numpy(dtype="datetime64[us]").astype(np.int64)
    return out


def day_of(instant: dt.datetime) -> int:
    """Epoch day of an aware instant's Asia/Shanghai date."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise SupervisionInputError("as_of must be an aware datetime (with a UTC offset)")
    local = pd.Timestamp(instant).tz_convert(SHANGHAI)
    return (local.date() - dt.date(1970, 1, 1)).days


def money_cents(values: pd.Series, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Decimal strings in yuan -> (int64 cents, present mask). Exact: no float on the way."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    arr = text(values)
    arr = pc.utf8_trim_whitespace(arr)
    arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.large_string()), arr)
    try:
        dec = pc.cast(arr, pa.decimal128(18, 2))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise SupervisionInputError(f"{label}: a value is not a money amount with at most 2 decimals") from None
    cents = pc.cast(pc.multiply(dec, pa.scalar(100, pa.decimal128(3, 0))), pa.int64())
    present = pc.is_valid(cents).to_numpy(zero_copy_only=False)
    out = pc.fill_null(cents, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    return out, present


def blank(values: pd.Series) -> np.ndarray:
    """True where a free-text value is null or all blank (which §1 treats as null)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    arr = text(values)
    trimmed = pc.utf8_trim_whitespace(arr)
    return pc.fill_null(pc.equal(trimmed, ""), True).to_numpy(zero_copy_only=False)


def codes(values: pd.Series, vocabulary: tuple[str, ...] | dict[str, int]) -> np.ndarray:
    """Map a code column to small ints by ``vocabulary``; unknown or null -> -1."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    vocab = list(vocabulary) if not isinstance(vocabulary, dict) else list(vocabulary)
    arr = text(values)
    idx = pc.index_in(arr, value_set=pa.array(vocab, type=pa.large_string()))
    out = pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    if isinstance(vocabulary, dict):
        mapped = np.array([vocabulary[v] for v in vocab], dtype=np.int64)
        out = np.where(out >= 0, mapped[np.clip(out, 0, None)], -1)
    return out


def lookup(keys: pd.Series, table: pd.Series) -> np.ndarray:
    """Position of each key in ``table`` (-1 when absent); ``table`` values are unique."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(table) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    idx = pc.index_in(text(keys), value_set=text(table))
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def lookup_pairs(keys_a: pd.Series, keys_b: pd.Series, table_a: pd.Series, table_b: pd.Series) -> np.ndarray:
    """Position of each (a, b) key in the table of (a, b) pairs (-1 when absent); pairs are unique."""
    return lookup_pairs_many([(keys_a, keys_b)], table_a, table_b)[0]


def lookup_pairs_many(
    queries: list[tuple[pd.Series, pd.Series]], table_a: pd.Series, table_b: pd.Series
) -> list[np.ndarray]:
    """:func:`lookup_pairs` for several query sets at once (one hash of the table for all of them).

    Used for (source_system, case_id). The second column is hashed alone and the first checked at the
    position found; only rows where that check fails (a case id used by two systems) are looked up again
    by the joined pair.
    """
    sizes = [len(a) for a, _ in queries]
    total = sum(sizes)
    if total == 0 or len(table_a) == 0:
        return [np.full(n, -1, dtype=np.int64) for n in sizes]
    qa = pa.concat_arrays([text(a) for a, _ in queries])
    qb = pa.concat_arrays([text(b) for _, b in queries])
    ta, tb = text(table_a), text(table_b)
    idx = pc.index_in(qb, value_set=tb)
    found = pc.is_valid(idx).to_numpy(zero_copy_only=False)
    pos = pc.fill_null(idx, 0)
    same = pc.fill_null(pc.equal(pc.take(ta, pos), qa), False).to_numpy(zero_copy_only=False)
    out = pos.to_numpy(zero_copy_only=False).astype(np.int64)
    out[~(found & same)] = -1
    retry = np.flatnonzero(found & ~same)
    if retry.size:
        sep = pa.scalar("\x1f", pa.large_string())
        joined_table = pc.binary_join_element_wise(ta, tb, sep)
        sel = pa.array(retry)
        joined = pc.binary_join_element_wise(pc.take(qa, sel), pc.take(qb, sel), sep)
        again = pc.index_in(joined, value_set=joined_table)
        out[retry] = pc.fill_null(again, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.split(out, np.cumsum(sizes)[:-1])


def int_column(values: pd.Series, label: str) -> np.ndarray:
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    if values.isna().any():
        raise SupervisionInputError(f"{label} must not be null")
    return values.to_numpy(dtype=np.int64)


def frame(columns: dict[str, object], order: tuple[str, ...]) -> pd.DataFrame:
    """A DataFrame from numpy / Arrow columns without copying them into one block.

    Arrow text becomes pandas' ``str`` dtype (zero-copy); numpy object arrays stay object columns
    (str / date / None) instead of being inferred as ``str``, where a missing value would become NaN.
    """
    series = []
    for name in order:
        v = columns[name]
        if isinstance(v, (pa.Array, pa.ChunkedArray)):
            s = v.to_pandas() if len(v) else pd.Series([], dtype="str")
            s = pd.Series(s.array, name=name, copy=False)
        elif isinstance(v, np.ndarray) and v.dtype == object:
            s = pd.Series(v, dtype=object, copy=False, name=name)
        else:
            s = pd.Series(v, copy=False, name=name)
        series.append(s)
    return pd.concat(series, axis=1)
