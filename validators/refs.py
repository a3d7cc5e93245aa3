"""Look-ups into ReferenceData, prepared once per reference frame and reused by every batch."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_NO_TIME = np.iinfo(np.int64).min
_SEP = "\x1f"


def to_utc_ns(values: Any) -> np.ndarray:
    """Instants (tz-aware, or naive meaning UTC) as ns since the epoch; missing -> int64 min."""
    s = pd.Series(values, dtype=object if not hasattr(values, "dtype") else None)
    try:
        t = pd.to_datetime(s, utc=True)
    except (TypeError, ValueError):
        t = pd.to_datetime(pd.Series([_as_utc(v) for v in s], dtype=object), utc=True)
    out = t.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").to_numpy().astype(np.int64)
    out[t.isna().to_numpy()] = _NO_TIME
    return out


def _as_utc(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    ts = pd.Timestamp(v)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


class _Cache:
    """Prepared look-ups keyed by the identity of the reference frame (which is kept alive)."""

    def __init__(self, size: int = 4) -> None:
        self._items: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
        self._size = size

    def get(self, frame: Any, build: Any) -> Any:
        key = id(frame)
        hit = self._items.get(key)
        if hit is not None and hit[0] is frame:
            self._items.move_to_end(key)
            return hit[1]
        value = build(frame)
        self._items[key] = (frame, value)
        while len(self._items) > self._size:
            self._items.popitem(last=False)
        return value


class ItemVersions:
    """Power item versions: which version was in force at an instant."""

    def __init__(self, items: pd.DataFrame) -> None:
        df = items.reset_index(drop=True).copy()
        df["_vf"] = to_utc_ns(df["valid_from_at"]) if len(df) else np.zeros(0, dtype=np.int64)
        df = df.sort_values(["power_code", "_vf", "version"], kind="stable").reset_index(drop=True)
        self.frame = df
        self.index = pd.Index(df["power_code"].astype(object).drop_duplicates().to_numpy())
        first = df.groupby("power_code", sort=False).head(1)
        self._first = pd.Series(first.index.to_numpy(), index=first["power_code"].to_numpy())
        self.single = bool(len(df) == len(self.index))
        self.columns = {c: df[c].to_numpy(dtype=object) for c in ("state", "dept_code", "power_type")}
        self.columns["promised_limit"] = (
            pd.to_numeric(df["promised_limit"]).to_numpy(dtype=np.int64) if len(df) else np.zeros(0, dtype=np.int64)
        )

    def positions(self, codes: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Row of the version in force for each (code, instant); -1 for an unknown code."""
        gi = self.index.get_indexer(codes)
        pos = np.full(len(codes), -1, dtype=np.int64)
        found = gi >= 0
        if not found.any():
            return pos
        first = self._first.reindex(codes[found]).to_numpy(dtype=np.int64)
        if self.single:
            pos[found] = first
            return pos
        rows = np.flatnonzero(found)
        left = pd.DataFrame({"power_code": codes[found].astype(object), "t": at[found], "row": rows})
        left = left.sort_values("t", kind="stable")
        right = pd.DataFrame(
            {
                "power_code": self.frame["power_code"].astype(object).to_numpy(),
                "t": self.frame["_vf"].to_numpy(),
                "pos": np.arange(len(self.frame)),
            }
        )
        right = right.sort_values("t", kind="stable")
        m = pd.merge_asof(left, right, on="t", by="power_code", direction="backward")
        got = m["pos"].to_numpy(dtype=float)
        chosen = np.where(np.isnan(got), -1, got).astype(np.int64)
        out = np.full(len(codes), -1, dtype=np.int64)
        out[m["row"].to_numpy()] = chosen
        missing = found & (out < 0)
        out[missing] = self._first.reindex(codes[missing]).to_numpy(dtype=np.int64)
        return out

    def lookup(self, code_arr: pa.Array, at: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(found, attributes of the version in force) aligned with the batch rows."""
        n = len(mask)
        codes = code_arr.to_numpy(zero_copy_only=False).astype(object)
        pos = np.full(n, -1, dtype=np.int64)
        idx = np.flatnonzero(mask)
        if len(idx) and len(self.frame):
            pos[idx] = self.positions(codes[idx], at[idx])
        found = pos >= 0
        safe = np.where(found, pos, 0)
        out: dict[str, np.ndarray] = {}
        for c, values in self.columns.items():
            if len(values):
                out[c] = values[safe]
            else:
                out[c] = np.zeros(n, dtype=values.dtype)
        return found, out


class CaseIndex:
    """Known cases by (source_system, case_id)."""

    def __init__(self, cases: pd.DataFrame) -> None:
        df = cases.reset_index(drop=True)
        if len(df):
            keys = (df["source_system"].astype(str) + _SEP + df["case_id"].astype(str)).to_numpy(dtype=object)
        else:
            keys = np.zeros(0, dtype=object)
        keep = ~pd.Index(keys).duplicated(keep="last")
        self.index = pd.Index(keys[keep])
        self.received = to_utc_ns(df["received_at"])[keep] if len(df) else np.zeros(0, dtype=np.int64)
        self.power = df["power_code"].to_numpy(dtype=object)[keep] if "power_code" in df.columns else None

    def find(self, ss: pa.Array, cid: pa.Array, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        n = len(mask)
        gi = np.full(n, -1, dtype=np.int64)
        if mask.any() and len(self.index):
            # Each distinct case once (a batch of steps names each case about five times): Arrow
            # finds the distinct keys, and only those become Python strings for the index.
            joined = pc.binary_join_element_wise(ss, cid, _SEP)
            if isinstance(joined, pa.ChunkedArray):
                joined = joined.combine_chunks()
            encoded = pc.dictionary_encode(joined)
            distinct = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
            if len(distinct):
                at = self.index.get_indexer(distinct)
                codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
                gi = np.where(mask & (codes >= 0), at[np.maximum(codes, 0)], -1)
        known = gi >= 0
        safe = np.where(known, gi, 0)
        received = (
            np.where(known, self.received[safe], _NO_TIME)
            if len(self.received)
            else np.full(n, _NO_TIME, dtype=np.int64)
        )
        power = None
        if self.power is not None:
            power = np.where(known, self.power[safe], None) if len(self.power) else np.full(n, None, dtype=object)
        return known, received, power


_items_cache = _Cache()
_cases_cache = _Cache()


def item_versions(items: pd.DataFrame) -> ItemVersions:
    return _items_cache.get(items, ItemVersions)


def case_lookup(cases: pd.DataFrame) -> CaseIndex:
    return _cases_cache.get(cases, CaseIndex)


def at_or_latest(received: datetime | None) -> int:
    """The instant used to pick an item version: the received time, or 'latest' when unknown."""
    if received is None:
        return int(np.iinfo(np.int64).max)
    return int(to_utc_ns([received])[0])
