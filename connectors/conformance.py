"""The conformance check of a self-built system's interface (§6), for the project office.

It connects with the stored credential, reads a sample, validates it against the standard (with
the system's applied scope), and for the paged interfaces (rest, soap, sql) checks that paging
loses and repeats nothing compared with an unpaged read, that a cursor in the future returns
nothing, and that re-reading from the last cursor returns nothing new besides the look-back.
For SOAP it also compares the remote's WSDL with the published one. The result is written as a
JSON and a bilingual HTML report under ``{home}/reports/conformance/`` and returned.

Reports name records by key (``case_id``) only; violation messages never carry field values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pandas as pd

from connectors.application import Catalogue
from connectors.base import FileRejected, RecordBatch
from connectors.remote import MAX_PAGE_SIZE, PagedConnector, decode_cursor, parse_instant
from schemas.errors import HubError
from schemas.standard import KEY_FIELDS, STANDARD_VERSION

__all__ = ["SAMPLE_LIMIT", "CheckStep", "ConformanceReport", "run_conformance_check"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
SAMPLE_LIMIT = MAX_PAGE_SIZE  # records per entity: one unpaged page
MAX_FINDINGS = 30
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")


@dataclass(frozen=True)
class CheckStep:
    name: str
    title_zh: str
    title_en: str
    status: str  # PASS / FAIL / SKIP
    detail_zh: str
    detail_en: str
    findings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"findings": list(self.findings)}


@dataclass(frozen=True)
class ConformanceReport:
    system_code: str
    system_name: str
    interface_type: str
    checked_at: datetime
    passed: bool
    steps: tuple[CheckStep, ...]
    counts: Mapping[str, Mapping[str, int]]
    json_path: Path
    html_path: Path
    sha256: str  # of the JSON report's bytes

    def step(self, name: str) -> CheckStep:
        return next(s for s in self.steps if s.name == name)


@dataclass
class _Sample:
    batches: list[RecordBatch] = field(default_factory=list)
    complete: bool = True
    last_cursor: Mapping[str, Any] | None = None

    @property
    def records(self) -> int:
        return sum(len(b.frame) for b in self.batches)


def _mask(text: str) -> str:
    return _ID_LIKE.sub(lambda m: m.group(0)[:6] + "*" * (len(m.group(0)) - 10) + m.group(0)[-4:], text)


def _keys(batches: Iterable[RecordBatch], entity: str) -> list[tuple[Any, ...]]:
    """``(key..., version)`` of each record, in order (records without them give ``None`` parts)."""
    fields = [*KEY_FIELDS[entity], "version"]
    out: list[tuple[Any, ...]] = []
    for batch in batches:
        frame = batch.frame
        columns = [frame[f].tolist() if f in frame.columns else [None] * len(frame) for f in fields]
        out.extend(tuple(_plain(v) for v in row) for row in zip(*columns, strict=True))
    return out


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _take(batches: Iterator[RecordBatch], limit: int) -> _Sample:
    sample = _Sample()
    for batch in batches:
        sample.batches.append(batch)
        sample.last_cursor = batch.next_cursor
        if sample.records >= limit:
            sample.complete = next(batches, None) is None
            break
    close = getattr(batches, "close", None)
    if close is not None:
        close()
    return sample


# --- references -----------------------------------------------------------------------------


def _references(catalogue: Any, references: Any, scope: frozenset[str]) -> tuple[Any, bool]:
    """The validators' ReferenceData with the system's scope; ``True`` when built from codes only."""
    from validators.model import ReferenceData

    if references is None and isinstance(catalogue, ReferenceData):
        references = catalogue
    if references is not None:
        return dataclasses.replace(references, scope=scope), False
    # Only codes are known: item state and promised limits cannot be checked beyond "exists, A".
    assert isinstance(catalogue, Catalogue)
    items = pd.DataFrame(
        {
            "power_code": list(catalogue.power_items),
            "version": 1,
            "state": "A",
            "dept_code": list(catalogue.power_items.values()),
            "promised_limit": 10**6,
            "power_type": [c[:2] for c in catalogue.power_items],
            "valid_from_at": pd.Timestamp("1970-01-01", tz="UTC"),
        }
    )
    return ReferenceData(departments=catalogue.departments, power_items=items, scope=scope), True


def _with_cases(references: Any, valid: pd.DataFrame) -> Any:
    """References that also know the sample's valid cases (so their steps are not held)."""
    if valid.empty:
        return references
    columns = [c for c in ("source_system", "case_id", "received_at", "power_code") if c in valid.columns]
    known = references.cases
    merged = pd.concat([known, valid[columns]], ignore_index=True) if not known.empty else valid[columns].copy()
    return dataclasses.replace(references, cases=merged.drop_duplicates(["source_system", "case_id"], keep="last"))


def _validate(samples: Mapping[str, _Sample], references: Any) -> tuple[dict[str, dict[str, int]], list[str], int]:
    """Counts per entity, findings, and how many of the held steps belong to cases the sample rejected
    (the others belong to cases the sample does not hold)."""
    try:
        from validators import validate_batch
    except ImportError:  # the rule engine is not installed: schema and scope only
        return (*_validate_schema_only(samples, references.scope), 0)

    counts: dict[str, dict[str, int]] = {}
    findings: list[str] = []
    rejected_cases: set[str] = set()
    held_of_rejected = 0
    for entity, sample in samples.items():
        c = counts.setdefault(entity, {"received": 0, "valid": 0, "held": 0, "quarantined": 0, "unparsed": 0})
        for batch in sample.batches:
            outcome = validate_batch(batch, references)
            c["received"] += len(batch.frame) + len(batch.unparsed)
            c["valid"] += len(outcome.valid)
            c["held"] += len(outcome.held)
            c["quarantined"] += len(outcome.quarantined)
            c["unparsed"] += len(batch.unparsed)
            if entity == "case":
                references = _with_cases(references, outcome.valid)
                rejected_cases.update(item.record_key for item in outcome.quarantined)
            if entity == "case_step" and len(outcome.held):
                held_keys = outcome.held["source_system"].astype(str) + "/" + outcome.held["case_id"].astype(str)
                held_of_rejected += int(held_keys.isin(rejected_cases).sum())
            for item in outcome.quarantined:
                rules = "; ".join(f"{v.path or '(record)'} {v.rule_id}: {v.message_en}" for v in item.violations[:3])
                findings.append(f"{entity} {item.record_key} ({item.origin} line {item.line_no}): {rules}")
            for line in batch.unparsed:
                findings.append(f"{entity} {batch.origin} line {line.line_no}: PARSE {line.message}")
    return counts, [_mask(f) for f in findings], held_of_rejected


def _validate_schema_only(
    samples: Mapping[str, _Sample], scope: frozenset[str] | None
) -> tuple[dict[str, dict[str, int]], list[str]]:
    """JSON Schema and scope checks of each record (messages name the field and rule, never values)."""
    from jsonschema import Draft202012Validator

    from schemas.standard import load_schema

    counts: dict[str, dict[str, int]] = {}
    findings: list[str] = []
    for entity, sample in samples.items():
        validator = Draft202012Validator(load_schema(entity))
        c = counts.setdefault(entity, {"received": 0, "valid": 0, "held": 0, "quarantined": 0, "unparsed": 0})
        for batch in sample.batches:
            c["received"] += len(batch.frame) + len(batch.unparsed)
            c["unparsed"] += len(batch.unparsed)
            for line in batch.unparsed:
                findings.append(f"{entity} {batch.origin} line {line.line_no}: PARSE {line.message}")
            for raw, line_no in zip(batch.raw, batch.frame["_line"].tolist(), strict=True):
                record = json.loads(raw)
                problems = [
                    f"{'/'.join(map(str, e.absolute_path)) or '(record)'} {e.validator}"
                    for e in validator.iter_errors(record)
                ]
                if record.get("source_system") != batch.source_system:
                    problems.append("source_system SCOPE")
                if scope is not None and entity == "case" and record.get("power_code") not in scope:
                    problems.append("power_code SCOPE")
                if problems:
                    c["quarantined"] += 1
                    key = "/".join(str(record.get(k)) for k in KEY_FIELDS[entity])
                    findings.append(f"{entity} {key} ({batch.origin} line {line_no}): {'; '.join(problems[:3])}")
                else:
                    c["valid"] += 1
    return counts, [_mask(f) for f in findings]


# --- the steps ------------------------------------------------------------------------------


def _step(name: str, status: str, detail_zh: str, detail_en: str, findings: Sequence[str] = ()) -> CheckStep:
    titles = {
        "connect": ("连接与凭据", "connection and credential"),
        "sample": ("读取样本", "reading a sample"),
        "validate": ("记录符合标准", "records conform to the standard"),
        "paging": ("分页无遗漏无重复", "paging loses and repeats nothing"),
        "cursor": ("游标与增量读取", "cursor and incremental reads"),
        "wsdl": ("WSDL 与发布版一致", "WSDL matches the published one"),
    }
    zh, en = titles[name]
    shown = tuple(findings[:MAX_FINDINGS])
    if len(findings) > MAX_FINDINGS:
        shown += (f"... {len(findings) - MAX_FINDINGS} more",)
    return CheckStep(name, zh, en, status, detail_zh, detail_en, shown)


def _read_samples(connector: Any, entities: Sequence[str]) -> dict[str, _Sample]:
    if isinstance(connector, PagedConnector):
        unpaged = connector.reconfigured(page_size=MAX_PAGE_SIZE)
        try:
            return {e: _take(iter(unpaged.read_entity(e, None)), SAMPLE_LIMIT) for e in entities}
        finally:
            unpaged.close()
    samples: dict[str, _Sample] = {}
    for batch in connector.read(None):
        sample = samples.setdefault(batch.entity, _Sample())
        sample.batches.append(batch)
    return samples


def _paging_step(connector: PagedConnector, samples: Mapping[str, _Sample]) -> CheckStep:
    findings: list[str] = []
    compared: list[str] = []
    for entity, sample in samples.items():
        expected = _keys(sample.batches, entity)
        if len(expected) < 2:
            continue
        page_size = max(1, min(len(expected) // 3, 100))
        paged_connector = connector.reconfigured(page_size=page_size)
        try:
            paged = _take(iter(paged_connector.read_entity(entity, None)), len(expected))
        finally:
            paged_connector.close()
        got = _keys(paged.batches, entity)[: len(expected)]
        pages = len(paged.batches)
        compared.append(f"{entity}: {len(expected)} records, page size {page_size}, {pages} pages")
        repeated = [k for k, n in _count(got).items() if n > 1]
        missing = set(expected) - set(got)
        if repeated:
            findings.append(f"{entity}: {len(repeated)} record(s) repeated across pages, e.g. {_fmt(repeated[0])}")
        if missing:
            findings.append(
                f"{entity}: {len(missing)} record(s) lost across pages, e.g. {_fmt(sorted(missing, key=str)[0])}"
            )
        if not repeated and not missing and got != expected:
            findings.append(f"{entity}: the paged read returns the records in another order than the unpaged read")
    if not compared:
        return _step("paging", SKIP, "样本不足两条, 无法检查分页", "fewer than two records: paging not checked")
    status = FAIL if findings else PASS
    return _step(
        "paging",
        status,
        "小页读取与整页读取一致" if status == PASS else "分页读取与整页读取不一致",
        "; ".join(compared),
        findings,
    )


def _count(items: Iterable[Any]) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def _fmt(key: tuple[Any, ...]) -> str:
    return _mask("/".join(str(k) for k in key[:-1]) + f" v{key[-1]}")


def _order_findings(entity: str, sample: _Sample) -> list[str]:
    previous: tuple[Any, ...] | None = None
    for batch in sample.batches:
        frame = batch.frame
        if "updated_at" not in frame.columns or "version" not in frame.columns:
            continue
        for at, version in zip(frame["updated_at"].tolist(), frame["version"].tolist(), strict=True):
            try:
                current = (parse_instant(str(at)), int(version))
            except (TypeError, ValueError):
                continue
            if previous is not None and current < previous:
                return [f"{entity}: records are not ordered by (updated_at, version) ({batch.origin})"]
            previous = current
    return []


def _cursor_step(connector: PagedConnector, samples: Mapping[str, _Sample], now: datetime) -> CheckStep:
    findings: list[str] = []
    notes: list[str] = []
    for entity, sample in samples.items():
        findings += _order_findings(entity, sample)
    future = connector.cursor_at(now + timedelta(days=1))
    for entity in samples:
        got = _take(iter(connector.read_entity(entity, future)), 1)
        if got.records:
            findings.append(f"{entity}: a cursor one day in the future still returns records (since is ignored?)")
    for entity, sample in samples.items():
        if not sample.batches or sample.last_cursor is None:
            continue
        position = decode_cursor(sample.last_cursor, connector.system_code).get(entity)
        if position is None:
            continue
        seen = set(_keys(sample.batches, entity))
        again = _take(iter(connector.read_entity(entity, sample.last_cursor)), SAMPLE_LIMIT)
        floor = position.updated_at - connector.lookback
        new = []
        early = 0
        for batch in again.batches:
            for key, at in zip(_keys([batch], entity), batch.frame["updated_at"].tolist(), strict=True):
                try:
                    instant = parse_instant(str(at))
                except (TypeError, ValueError):
                    continue
                if instant < floor - timedelta(seconds=1):
                    early += 1
                if sample.complete and key not in seen:
                    new.append(key)
        notes.append(f"{entity}: re-read from the last cursor returned {again.records} record(s) (look-back)")
        if early:
            findings.append(f"{entity}: {early} record(s) older than since were returned (since is not honoured)")
        if new:
            findings.append(
                f"{entity}: re-reading from the last cursor returned {len(new)} record(s) not in the first read, "
                f"e.g. {_fmt(new[0])}"
            )
    status = FAIL if findings else PASS
    return _step(
        "cursor",
        status,
        "未来游标无记录; 自末游标重读仅返回回看窗口内已读记录" if status == PASS else "游标行为不符合标准",
        "; ".join(notes) or "a cursor in the future returns nothing",
        findings,
    )


def run_conformance_check(
    system: Any,
    connector: Any,
    catalogue: Any,
    reports_dir: Path,
    now: datetime,
    *,
    references: Any = None,
) -> ConformanceReport:
    """Check ``connector`` (the interface of registered ``system``) and write the reports.

    ``catalogue`` is a :class:`connectors.application.Catalogue` or the validators' ``ReferenceData``;
    pass the warehouse's ``ReferenceData`` as ``references`` for the full rules (item state and
    promised limits), otherwise the check knows item codes only and says so in the report.
    """
    kind = system.interface.type
    scope = frozenset(system.power_codes)
    steps: list[CheckStep] = []
    counts: dict[str, dict[str, int]] = {}
    entities = tuple(getattr(connector, "entities", ("case", "case_step")))

    result = connector.check()
    details = [_mask(d) for d in getattr(result, "details", ())]
    if not result.ok:
        steps.append(_step("connect", FAIL, "无法连接或凭据被拒绝", _mask(result.message), details))
    else:
        steps.append(_step("connect", PASS, "接口可连接, 凭据有效", _mask(result.message), details))
        samples: dict[str, _Sample] | None = None
        try:
            samples = _read_samples(connector, entities)
        except (HubError, FileRejected) as exc:
            steps.append(_step("sample", FAIL, "读取样本失败", _mask(exc.message)))
        if samples is not None:
            total = sum(s.records + sum(len(b.unparsed) for b in s.batches) for s in samples.values())
            partial = [e for e, s in samples.items() if not s.complete]
            summary = ", ".join(f"{e}: {s.records}" for e, s in samples.items()) or "none"
            if total == 0:
                steps.append(
                    _step(
                        "sample",
                        FAIL,
                        "接口中没有记录, 无法验证; 请提供测试记录",
                        "the interface offers no records to check; provide sample records",
                    )
                )
            else:
                note = f" (first {SAMPLE_LIMIT} of {', '.join(partial)})" if partial else ""
                steps.append(_step("sample", PASS, f"样本记录: {summary}", f"sample records: {summary}{note}"))
                refs, simplified = _references(catalogue, references, scope)
                counts, findings, held_of_rejected = _validate(samples, refs)
                bad = sum(c["quarantined"] + c["unparsed"] for c in counts.values())
                held = sum(c["held"] for c in counts.values())
                extra_en = " Item states and promised limits were not checked (codes only)." if simplified else ""
                # a step waits for its case, as the loader holds it: counted apart, not failed
                if held_of_rejected:
                    extra_en += f" {held_of_rejected} step(s) of cases rejected above were held, not failed."
                if held - held_of_rejected:
                    extra_en += f" {held - held_of_rejected} step(s) of cases not in the sample were held, not failed."
                steps.append(
                    _step(
                        "validate",
                        FAIL if bad else PASS,
                        f"{bad} 条记录不符合标准" if bad else "全部样本记录符合标准",
                        (f"{bad} record(s) break the standard." if bad else "every sampled record conforms.")
                        + extra_en,
                        findings,
                    )
                )
                if isinstance(connector, PagedConnector):
                    try:
                        steps.append(_paging_step(connector, samples))
                        steps.append(_cursor_step(connector, samples, now))
                    except HubError as exc:
                        steps.append(_step("cursor", FAIL, "分页或游标读取失败", _mask(exc.message)))
                else:
                    steps.append(_step("paging", SKIP, "文件接口不分页", "not applicable to a file drop"))
                    steps.append(_step("cursor", SKIP, "文件接口按文件归档, 无游标", "not applicable to a file drop"))
        if hasattr(connector, "remote_wsdl_differences"):
            differences = [_mask(d) for d in connector.remote_wsdl_differences()]
            steps.append(
                _step(
                    "wsdl",
                    FAIL if differences else PASS,
                    "对方 WSDL 与发布版不一致" if differences else "对方 WSDL 与发布版一致",
                    f"{len(differences)} difference(s)" if differences else "the remote WSDL matches",
                    differences,
                )
            )
    close = getattr(connector, "close", None)
    if close is not None:
        close()
    passed = bool(steps) and all(s.status != FAIL for s in steps) and any(s.name == "validate" for s in steps)
    return _write_reports(system, kind, now, passed, tuple(steps), counts, reports_dir)


# --- reports --------------------------------------------------------------------------------

_HTML = jinja2.Environment(autoescape=True).from_string(
    """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>符合性检查报告 {{ r.system_code }} / Conformance report</title>
<style>
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #999;padding:.3em .6em;text-align:left;vertical-align:top}
.PASS{color:#1a7f37;font-weight:bold}.FAIL{color:#c62828;font-weight:bold}.SKIP{color:#777}
.verdict{font-size:1.4em}small{color:#555}
</style></head><body>
<h1>自建系统接口符合性检查报告<br><small>Conformance check of a self-built system's interface</small></h1>
<p class="verdict">结论 / Verdict:
 <span class="{{ 'PASS' if r.passed else 'FAIL' }}">{{ '通过 PASS' if r.passed else '未通过 FAIL' }}</span></p>
<table>
<tr><th>系统代码 / System</th><td>{{ r.system_code }} — {{ r.system_name }}</td></tr>
<tr><th>部门 / Department</th><td>{{ r.dept_code }}</td></tr>
<tr><th>接口 / Interface</th><td>{{ r.interface.type }} · {{ r.interface.address }}
 {% if r.interface.credential %}· 凭据 / credential: {{ r.interface.credential }}{% endif %}</td></tr>
<tr><th>批准范围 / Scope</th><td>{{ r.power_codes|join(', ') }}</td></tr>
<tr><th>检查时间 / Checked at</th><td>{{ r.checked_at }}</td></tr>
<tr><th>标准版本 / Standard</th><td>{{ r.standard_version }}</td></tr>
<tr><th>有效期 / Valid until</th><td>{{ r.valid_until }} (批准须在检查后 30 天内 / approval within 30 days)</td></tr>
</table>
<h2>检查项 / Checks</h2>
<table><tr><th>检查项 / Check</th><th>结果 / Result</th><th>说明 / Detail</th></tr>
{% for s in r.steps %}<tr><td>{{ s.title_zh }}<br><small>{{ s.title_en }}</small></td>
<td class="{{ s.status }}">{{ {'PASS': '通过 PASS', 'FAIL': '未通过 FAIL', 'SKIP': '不适用 SKIP'}[s.status] }}</td>
<td>{{ s.detail_zh }}<br><small>{{ s.detail_en }}</small>
{% if s.findings %}<ul>{% for f in s.findings %}<li><small>{{ f }}</small></li>{% endfor %}</ul>{% endif %}</td></tr>
{% endfor %}</table>
{% if r.counts %}<h2>样本统计 / Sample counts</h2>
<table><tr><th>实体 / Entity</th><th>收到 / received</th><th>有效 / valid</th><th>待挂接 / held</th>
<th>不合格 / quarantined</th><th>无法解析 / unparsed</th></tr>
{% for e, c in r.counts.items() %}<tr><td>{{ e }}</td><td>{{ c.received }}</td><td>{{ c.valid }}</td>
<td>{{ c.held }}</td><td>{{ c.quarantined }}</td><td>{{ c.unparsed }}</td></tr>{% endfor %}</table>{% endif %}
<p><small>报告不含个人信息; 记录以办件编号标识。<br>
The report holds no personal data; records are named by key.</small></p>
</body></html>
"""
)


def _free_stem(directory: Path, stem: str) -> str:
    candidate = stem
    for n in itertools.count(2):
        if not (directory / f"{candidate}.json").exists() and not (directory / f"{candidate}.html").exists():
            return candidate
        candidate = f"{stem}-{n}"
    raise AssertionError("unreachable")


def _write_reports(
    system: Any,
    kind: str,
    now: datetime,
    passed: bool,
    steps: tuple[CheckStep, ...],
    counts: Mapping[str, Mapping[str, int]],
    reports_dir: Path,
) -> ConformanceReport:
    reports_dir.mkdir(parents=True, exist_ok=True)
    local = now.astimezone(SHANGHAI)
    stem = _free_stem(reports_dir, f"{system.system_code}-{local.strftime('%Y%m%dT%H%M%S')}")
    document = {
        "standard_version": STANDARD_VERSION,
        "system_code": system.system_code,
        "system_name": system.system_name,
        "dept_code": system.dept_code,
        "interface": {
            "type": kind,
            "address": system.interface.address,
            "credential": system.interface.credential,
        },
        "power_codes": list(system.power_codes),
        "checked_at": local.isoformat(),
        "valid_until": (local + timedelta(days=30)).isoformat(),
        "passed": passed,
        "steps": [s.to_dict() for s in steps],
        "counts": {e: dict(c) for e, c in counts.items()},
    }
    data = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    json_path = reports_dir / f"{stem}.json"
    html_path = reports_dir / f"{stem}.html"
    _atomic_write(json_path, data)
    _atomic_write(html_path, _HTML.render(r=document).encode("utf-8"))
    return ConformanceReport(
        system_code=system.system_code,
        system_name=system.system_name,
        interface_type=kind,
        checked_at=now,
        passed=passed,
        steps=steps,
        counts=counts,
        json_path=json_path,
        html_path=html_path,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _atomic_write(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".part")
    temporary.write_bytes(data)
    temporary.replace(path)
