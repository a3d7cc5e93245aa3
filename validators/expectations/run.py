"""Running a suite on one batch in an ephemeral Great Expectations context.

The context (a pandas data source with one dataframe asset per entity, the five suites and one
validation definition per entity) is made once per process and reused: making it costs far more than
a run. Great Expectations itself is imported on the first check only, so a cycle without new data
does not pay for its import.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from schemas.standard import ENTITIES, KEY_FIELDS
from validators.expectations.model import (
    BLOCK,
    PASS,
    SEVERITY_BLOCK,
    WARN,
    BatchHistory,
    CheckFailure,
    CheckSpec,
    QualityResult,
    Thresholds,
)
from validators.expectations.suites import (
    DRIFT_COLUMNS,
    NOT_QUARANTINED,
    NULL_WATCH_COLUMNS,
    OUTCOME_COLUMN,
    OUTCOMES,
    SUITES,
    build_suite,
    frame_columns,
    parameter_name,
)
from validators.model import ValidationOutcome

_RUNS_PER_CONTEXT = 200  # validation results pile up in the context's memory store: start afresh now and then
_lock = threading.Lock()
_state: dict[str, Any] = {}


def _context() -> tuple[Any, dict[str, Any]]:
    """The process's ephemeral context and validation definition per entity."""
    if _state.get("runs", 0) >= _RUNS_PER_CONTEXT:
        _state.clear()
    if "definitions" not in _state:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # nothing may leave this machine
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        # in-memory stores and no Data Docs site of its own (the hub renders its pages from the warehouse)
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False), analytics_enabled=False
        )
        context = gx.get_context(mode="ephemeral", project_config=config)
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        source = context.data_sources.add_pandas("sanheyi_batches")
        definitions = {}
        for entity in ENTITIES:
            batch_definition = source.add_dataframe_asset(entity).add_batch_definition_whole_dataframe("batch")
            suite = context.suites.add(build_suite(entity))
            definitions[entity] = context.validation_definitions.add(
                gx.ValidationDefinition(name=f"sanheyi.{entity}", data=batch_definition, suite=suite)
            )
        _state.update(context=context, definitions=definitions, runs=0, version=gx.__version__)
    _state["runs"] += 1
    return _state["context"], _state["definitions"]


def quality_frame(outcome: ValidationOutcome, unparsed: int = 0) -> pd.DataFrame:
    """One row per received record: its outcome and the suite's columns (typed values of valid and
    held records; nothing for quarantined ones, whose values cannot be trusted). Watched optional
    fields are reduced to "filled or not", so no free text reaches the suite.

    The outcome, drift and null-watch columns are categories, not Python objects: the suite's null
    and set checks then work on integer codes, and the frame travels to the worker process as codes.
    """
    entity = outcome.entity
    columns = list(frame_columns(entity))
    parts, outcome_codes = [], []
    for code, frame in enumerate((outcome.valid, outcome.held)):
        if frame is not None and len(frame) and all(c in frame.columns for c in columns):
            parts.append(frame[columns].reset_index(drop=True))
            outcome_codes.append(np.full(len(frame), code, dtype=np.int8))
    base = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    total = len(base) + len(outcome.quarantined) + unparsed
    base = base.reindex(pd.RangeIndex(total))
    codes = np.full(total, OUTCOMES.index("quarantined"), dtype=np.int8)
    if outcome_codes:
        known = np.concatenate(outcome_codes)
        codes[: len(known)] = known
    base[OUTCOME_COLUMN] = pd.Categorical.from_codes(codes, categories=list(OUTCOMES))
    for column in NULL_WATCH_COLUMNS[entity]:
        filled = base[column].notna().to_numpy()
        base[column] = pd.Categorical.from_codes(np.where(filled, 0, -1), categories=[True])
    for column in DRIFT_COLUMNS[entity]:
        base[column] = _categories(base[column])
    base["updated_at"] = pd.to_datetime(base["updated_at"], utc=True)
    return base


def _categories(series: pd.Series) -> pd.Categorical:
    """``series`` as a categorical, nulls missing; Arrow strings are encoded without a Python object
    per value."""
    if isinstance(series.dtype, pd.ArrowDtype):
        values = pa.array(series.array)
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        encoded = pc.dictionary_encode(values)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        return pd.Categorical.from_codes(codes, categories=encoded.dictionary.to_pylist())
    return pd.Categorical(series.astype(object).where(series.notna(), None))


def _mean(values: tuple[float, ...] | tuple[int, ...]) -> float:
    return sum(values) / len(values)


def _parameters(
    specs: tuple[CheckSpec, ...],
    frame: pd.DataFrame,
    history: BatchHistory,
    *,
    now: datetime,
    whole_origin: bool,
    limits: Thresholds,
    stored_until: datetime | None = None,
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Suite parameters for this run, the checks that do not apply (with why) and the expected text.

    ``stored_until``: the newest ``updated_at`` among the batch's records the warehouse holds already
    in that very version; the future check tolerates it (it was let through once).
    """
    params: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    expected: dict[str, str] = {}
    rows = len(frame)
    valid_rows = int((frame[OUTCOME_COLUMN] != "quarantined").sum())
    n = limits.history_batches
    for spec in specs:
        key = parameter_name(spec)
        if spec.kind == "volume":
            volumes = history.volumes[:n]
            if not whole_origin:
                skipped[spec.name] = "the batch is a part of a larger origin (a chunk of a file, a page)"
            elif len(volumes) < limits.min_history:
                skipped[spec.name] = f"fewer than {limits.min_history} earlier whole files"
            else:
                mean = _mean(volumes)
                params[key] = math.ceil(limits.volume_drop_ratio * mean)
                expected[spec.name] = (
                    f">= {params[key]} records ({limits.volume_drop_ratio:.0%} of the mean "
                    f"{mean:.0f} of the last {len(volumes)} whole files)"
                )
            params.setdefault(key, 0)
        elif spec.kind == "quarantine_rate":
            rate = limits.quarantine_block_rate if spec.severity == SEVERITY_BLOCK else limits.quarantine_warn_rate
            if rows < limits.quarantine_min_rows:
                skipped[spec.name] = f"fewer than {limits.quarantine_min_rows} records"
                params[key] = 0.0
            else:
                params[key] = 1.0 - rate
                expected[spec.name] = f"<= {rate:.0%} quarantined"
        elif spec.kind == "duplicates":
            params[key] = 1.0 - limits.duplicate_warn_rate
            expected[spec.name] = f"<= {limits.duplicate_warn_rate:.0%} of the records repeat a key and version"
        elif spec.kind == "future":
            latest = now + timedelta(minutes=limits.future_tolerance_minutes)
            expected[spec.name] = f"<= {latest.isoformat()} (the run's instant + {limits.future_tolerance_minutes} min)"
            if stored_until is not None and stored_until > latest:
                latest = stored_until
                expected[spec.name] += f", or {stored_until.isoformat()}: the newest record stored already"
            params[key] = pd.Timestamp(latest).tz_convert("UTC").to_pydatetime()
            if not valid_rows:
                skipped[spec.name] = "no valid records"
        elif spec.kind == "stale":
            earliest = now - timedelta(days=limits.stale_after_days)
            params[key] = pd.Timestamp(earliest).tz_convert("UTC").to_pydatetime()
            expected[spec.name] = f">= {earliest.isoformat()} ({limits.stale_after_days} days before the run)"
            if not valid_rows:
                skipped[spec.name] = "no valid records"
        elif spec.kind == "new_value":
            seen = history.seen_values.get(spec.column or "", frozenset())
            if history.earlier_batches < limits.min_history or not seen:
                skipped[spec.name] = f"fewer than {limits.min_history} earlier batches from this source"
                # a set that holds whatever the batch has: the expectation passes
                present = frame[spec.column].dropna().unique().tolist()
                params[key] = sorted(set(present) | {""})
            else:
                params[key] = sorted(seen)
                expected[spec.name] = f"values sent before: {', '.join(sorted(seen)[:20])}"
        elif spec.kind == "null_rate":
            usual = history.null_fractions.get(spec.column or "", ())[:n]
            if len(usual) < limits.min_history:
                skipped[spec.name] = f"fewer than {limits.min_history} earlier batches"
                params[key] = 0.0
            elif not valid_rows:
                skipped[spec.name] = "no valid records"
                params[key] = 0.0
            else:
                mean = _mean(usual)
                params[key] = max(0.0, 1.0 - mean - limits.null_rise)
                expected[spec.name] = (
                    f"empty in <= {min(1.0, mean + limits.null_rise):.0%} of the records (usually {mean:.0%})"
                )
    return params, skipped, expected


def _failure(
    entity: str, spec: CheckSpec, frame: pd.DataFrame, history: BatchHistory, expected: str, now: datetime
) -> CheckFailure:
    """Describe one failed expectation in Chinese and English (codes and counts only).

    The suite runs with ``BOOLEAN_ONLY`` results (the cheapest); the few failed checks of a batch are
    described from the same frame here.
    """
    kept = frame[frame[OUTCOME_COLUMN] != "quarantined"]
    observed: Any
    if spec.kind == "volume":
        observed = len(frame)
        zh = f"记录数骤降：本批 {observed} 条（应 {expected}）"
        en = f"sudden drop in volume: {observed} records (expected {expected})"
    elif spec.kind == "quarantine_rate":
        count, total = int((frame[OUTCOME_COLUMN] == "quarantined").sum()), len(frame)
        share = count / total if total else 0.0
        observed = {"records": count, "of": total, "share": round(share, 4)}
        zh = f"隔离记录 {count} 条，占 {share:.0%}（应 {expected}）"
        en = f"{count} of {total} records ({share:.0%}) quarantined (expected {expected})"
        if spec.severity == SEVERITY_BLOCK:
            zh += "，批次暂停入库，请与报送单位核实后放行"
            en += "; the batch is held: check with the sender, then release it"
    elif spec.kind == "duplicates":
        count = int(kept.duplicated([*KEY_FIELDS[entity], "version"], keep=False).sum())
        share = count / len(kept) if len(kept) else 0.0
        observed = {"records": count, "of": len(kept), "share": round(share, 4)}
        zh = f"批内同键同版本重复记录 {count} 条，占 {share:.0%}"
        en = f"{count} records ({share:.0%}) repeat a key and version within the batch"
    elif spec.kind in ("future", "stale"):
        newest = kept["updated_at"].max()
        # in the offset of the run's instant, so both times in the message read alike
        observed = None if pd.isna(newest) else pd.Timestamp(newest).tz_convert(now.tzinfo).isoformat()
        if spec.kind == "future":
            zh = f"最新 updated_at 为 {observed}，晚于运行时刻 {now.isoformat()}：来源时钟或导出有误，批次暂停入库"
            en = (
                f"newest updated_at {observed} is after the run's instant {now.isoformat()}: the source's clock "
                "or export is wrong; the batch is held"
            )
        else:
            zh = f"最新 updated_at 为 {observed}，早于 {expected}：是否为旧的导出？"
            en = f"newest updated_at {observed} (expected {expected}): an old export?"
    elif spec.kind == "new_value":
        seen = history.seen_values.get(spec.column or "", frozenset())
        column = kept[spec.column].dropna().astype(str)
        new = sorted(set(column.unique()) - set(seen))
        observed = {"new_values": new[:20], "records": int(column.isin(new).sum())}
        zh = f"{spec.column} 出现该来源从未报送过的代码：{', '.join(new[:20])}（{observed['records']} 条）"
        en = (
            f"{spec.column}: value(s) never sent by this source before: {', '.join(new[:20])} "
            f"({observed['records']} records)"
        )
    else:  # null_rate
        empty = round(float(kept[spec.column].isna().mean()), 4) if len(kept) else None
        observed = {"empty_share": empty}
        shown = "?" if empty is None else f"{empty:.0%}"
        zh = f"{spec.column} 为空的比例 {shown}（应 {expected}）"
        en = f"{spec.column} empty in {shown} of the records (expected {expected})"
    return CheckFailure(spec.name, spec.severity, spec.expectation, spec.column, observed, expected, zh, en)


def _null_fractions(frame: pd.DataFrame, entity: str) -> dict[str, float]:
    kept = frame[frame[OUTCOME_COLUMN].isin(NOT_QUARANTINED)]
    if kept.empty:
        return {}
    return {c: round(float(kept[c].isna().mean()), 4) for c in NULL_WATCH_COLUMNS[entity]}


@dataclass(frozen=True)
class PreparedCheck:
    """One batch's suite run, ready to go: the frame and parameters the suite needs (picklable, so
    the run can happen in another process) and what is needed afterwards to describe its outcome."""

    entity: str
    frame: pd.DataFrame
    params: dict[str, Any]
    skipped: dict[str, str]
    expected: dict[str, str]
    history: BatchHistory
    now: datetime
    whole_origin: bool
    released: bool


@dataclass(frozen=True)
class SuiteOutcome:
    """What the suite said, expectation by expectation: (check name, success, raised an exception)."""

    results: tuple[tuple[str | None, bool, bool], ...]
    seconds: float
    version: str


def prepare_check(
    outcome: ValidationOutcome,
    *,
    history: BatchHistory,
    now: datetime,
    unparsed: int = 0,
    whole_origin: bool = False,
    released: bool = False,
    thresholds: Thresholds | None = None,
    frame: pd.DataFrame | None = None,
    stored_until: datetime | None = None,
) -> PreparedCheck:
    """The suite's frame and parameters for one validated batch (see :func:`check_batch`).

    ``frame``: ``quality_frame(outcome, unparsed)``, when the caller built it ahead (it depends on the
    batch alone; the history, read here, depends on what was committed before).
    """
    limits = thresholds or Thresholds()
    entity = outcome.entity
    if frame is None:
        frame = quality_frame(outcome, unparsed)
    params, skipped, expected = _parameters(
        SUITES[entity], frame, history, now=now, whole_origin=whole_origin, limits=limits, stored_until=stored_until
    )
    return PreparedCheck(entity, frame, params, skipped, expected, history, now, whole_origin, released)


def run_suite(entity: str, frame: pd.DataFrame, params: dict[str, Any]) -> SuiteOutcome:
    """Run ``entity``'s suite on ``frame`` in this process's Great Expectations context."""
    started = time.perf_counter()
    with _lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, definitions = _context()
        result = definitions[entity].run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=params,
            result_format="BOOLEAN_ONLY",
        )
    results = tuple(
        (
            (item.expectation_config.meta or {}).get("check"),
            bool(item.success),
            bool(item.exception_info and item.exception_info.get("raised_exception")),
        )
        for item in result.results
    )
    return SuiteOutcome(results, time.perf_counter() - started, _state.get("version", "?"))


def warm_up() -> str:
    """Import Great Expectations and make the context now (a worker does this before its first batch)."""
    _context()
    _state["runs"] -= 1  # not a run
    return _state["version"]


def finish_check(prepared: PreparedCheck, suite: SuiteOutcome) -> QualityResult:
    """Turn the suite's outcome into the verdict and the summary of failed checks."""
    entity, frame, history, now = prepared.entity, prepared.frame, prepared.history, prepared.now
    specs = SUITES[entity]
    skipped = dict(prepared.skipped)
    by_name = {spec.name: spec for spec in specs}
    failures: list[CheckFailure] = []
    for name, success, raised in suite.results:
        spec = by_name.get(name or "")
        if spec is None or spec.name in skipped or success:
            continue
        if raised:
            skipped[spec.name] = "the check could not be computed on this batch"
            continue
        failures.append(_failure(entity, spec, frame, history, prepared.expected.get(spec.name, ""), now))
    order = {spec.name: i for i, spec in enumerate(specs)}
    failures.sort(key=lambda f: order[f.check])
    released = prepared.released
    overridden = tuple(f.check for f in failures if f.severity == SEVERITY_BLOCK) if released else ()
    if any(f.severity == SEVERITY_BLOCK for f in failures) and not released:
        verdict = BLOCK
    else:
        verdict = WARN if failures else PASS
    kept = frame[OUTCOME_COLUMN].isin(NOT_QUARANTINED)
    seen = {c: tuple(sorted(str(v) for v in frame.loc[kept, c].dropna().unique())) for c in DRIFT_COLUMNS[entity]}
    observed: Mapping[str, Any] = {
        "rows": len(frame),
        "valid_rows": int(kept.sum()),
        "whole_origin": prepared.whole_origin,
        "null_fraction": _null_fractions(frame, entity),
    }
    return QualityResult(
        entity=entity,
        verdict=verdict,
        failures=tuple(failures),
        skipped=dict(sorted(skipped.items())),
        observed=observed,
        seen_values=seen,
        rows=len(frame),
        seconds=suite.seconds,
        engine=f"great_expectations {suite.version}",
        overridden=overridden,
    )


def check_batch(
    outcome: ValidationOutcome,
    *,
    history: BatchHistory,
    now: datetime,
    unparsed: int = 0,
    whole_origin: bool = False,
    released: bool = False,
    thresholds: Thresholds | None = None,
) -> QualityResult:
    """Run ``outcome.entity``'s suite on one validated batch, in this process.

    ``whole_origin``: the batch is a whole file (volume is compared only between whole files).
    ``released``: a data engineer released the batch after a block; blocking checks that fail are
    recorded as overridden and do not hold it again.
    """
    prepared = prepare_check(
        outcome,
        history=history,
        now=now,
        unparsed=unparsed,
        whole_origin=whole_origin,
        released=released,
        thresholds=thresholds,
    )
    return finish_check(prepared, run_suite(prepared.entity, prepared.frame, prepared.params))
