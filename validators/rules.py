"""The rule catalogue: stable ids, their order (the first violation is a record's main reason) and
their messages in Chinese and English. Messages name the field and the rule, never the value."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from schemas.standard import CODELIST_TITLES, CODELISTS
from validators.model import Violation


@dataclass(frozen=True)
class Rule:
    rule_id: str
    title_zh: str
    title_en: str
    family: str  # the family of examples/expected/quarantine.json the rule belongs to


# Order = rank: SCOPE first (the record should not be here at all), then the schema rules, then the
# rules within one record, then the references.
RULES: tuple[Rule, ...] = (
    Rule("PARSE", "无法解析", "not a JSON object / CSV row cannot be split", "PARSE"),
    Rule("SCOPE", "超出报送范围", "outside the sending system's scope", "SCOPE"),
    Rule("MISSING_FIELD", "缺少必填字段", "required field missing or null", "MISSING_FIELD"),
    Rule("EXTRA_FIELD", "未定义字段", "field not in the standard", "EXTRA_FIELD"),
    Rule("TYPE", "类型错误", "wrong JSON type", "TYPE"),
    Rule("BAD_CODE", "代码不在代码表中", "code not in its code list", "BAD_CODE"),
    Rule("PATTERN", "格式错误", "identifier format", "PATTERN"),
    Rule("NAIVE_DATETIME", "时间缺少时区偏移", "date-time without offset", "NAIVE_DATETIME"),
    Rule("DATETIME_FORMAT", "时间格式错误", "invalid date-time", "NAIVE_DATETIME"),
    Rule("MONEY_FORMAT", "金额格式错误", "money format", "MONEY_FORMAT"),
    Rule("RANGE", "数值超出范围", "number or list length out of range", "RANGE"),
    Rule("ID_CHECKDIGIT", "证件号码校验错误", "identity number invalid", "ID_CHECKDIGIT"),
    Rule("REQUIRED_IFF", "条件必填/条件为空", "required iff / allowed only when", "REQUIRED_IFF"),
    Rule("TIME_ORDER", "时间先后错误", "times out of order", "TIME_ORDER"),
    Rule("POWER_CODE_TYPE", "权力编码与类别不符", "power code prefix differs from power_type", "POWER_CODE_TYPE"),
    Rule("PENALTY_RANGE", "裁量范围错误", "penalty range", "PENALTY_RANGE"),
    Rule("UNKNOWN_DEPT", "未知部门", "unknown department", "UNKNOWN_DEPT"),
    Rule("UNKNOWN_POWER", "未知权力事项", "unknown power item", "UNKNOWN_POWER"),
    Rule("POWER_NOT_ACTIVE", "权力事项非在用", "power item not in use on the received date", "UNKNOWN_POWER"),
    Rule("DEPT_MISMATCH", "部门与事项不符", "department differs from the power item's", "DEPT_MISMATCH"),
    Rule("PROMISE_ABOVE_ITEM", "承诺时限超限", "promised limit above the allowed limit", "PROMISE_ABOVE_ITEM"),
    Rule("PENALTY_NOT_CF", "非处罚事项不得有罚款", "penalty amount on an item that is not CF", "PENALTY_RANGE"),
    Rule("UNKNOWN_CASE", "未知办件", "unknown case", "UNKNOWN_CASE"),
)
RULE_IDS: tuple[str, ...] = tuple(r.rule_id for r in RULES)
RULE_RANK: dict[str, int] = {r: i for i, r in enumerate(RULE_IDS)}
FAMILY: dict[str, str] = {r.rule_id: r.family for r in RULES}

# Rules decided outside validation (listed in docs/validation-rules.md for completeness).
LOADER_RULES = ("VERSION_CONFLICT", "ORPHAN_STEP")

_TYPE_ZH = {"string": "字符串", "integer": "整数", "array": "数组"}


def _codes_text(codelist: str, only: tuple[str, ...] | None = None) -> str:
    return "/".join(only or CODELISTS[codelist])


# variant -> (zh, en) with {path} and keyword params; one place for every message.
_MESSAGES: dict[tuple[str, str], tuple[str, str]] = {
    ("PARSE", ""): ("无法解析为 JSON 对象", "not a JSON object"),
    ("SCOPE", "source"): (
        "source_system 与报送系统不一致",
        "source_system differs from the system the record arrived from",
    ),
    ("SCOPE", "scope"): (
        "权力事项不在该自建系统获批的范围内",
        "power_code is outside the approved scope of the self-built system",
    ),
    ("SCOPE", "case_scope"): (
        "环节所属办件的权力事项不在该自建系统获批的范围内",
        "the step's case is outside the approved scope of the self-built system",
    ),
    ("SCOPE", "unified_only"): (
        "该类数据只能由统建平台报送",
        "this entity is sent only by the unified platform (UNIFIED)",
    ),
    ("MISSING_FIELD", ""): ("{path} 为必填字段，缺失或为空", "{path}: required field is missing or null"),
    ("EXTRA_FIELD", ""): ("{path} 不是接口标准定义的字段", "{path}: field is not part of Interface Standard v1"),
    ("TYPE", ""): ("{path} 类型错误，应为{type_zh}", "{path}: wrong type, expected {type}"),
    ("BAD_CODE", ""): (
        "{path} 不是代码表“{list_zh}”中的代码（{codes}）",
        "{path}: not a code of list {list} ({codes})",
    ),
    ("PATTERN", ""): ("{path} 格式不符合接口标准", "{path}: does not match the required format"),
    ("NAIVE_DATETIME", ""): (
        "{path} 缺少时区偏移，应如 2026-09-30T10:15:00+08:00",
        "{path}: date-time without an offset, expected e.g. 2026-09-30T10:15:00+08:00",
    ),
    ("DATETIME_FORMAT", ""): (
        "{path} 不是有效的日期时间（RFC 3339，带时区偏移）",
        "{path}: not a valid RFC 3339 date-time with offset",
    ),
    ("MONEY_FORMAT", ""): (
        '{path} 金额格式错误，应为以元为单位的十进制字符串，如 "150.00"',
        '{path}: money must be a decimal string in yuan, e.g. "150.00"',
    ),
    ("RANGE", "number"): ("{path} 超出允许范围 {lo}..{hi}", "{path}: out of the allowed range {lo}..{hi}"),
    ("RANGE", "items"): ("{path} 元素个数应为 {lo}..{hi}", "{path}: must have {lo}..{hi} items"),
    ("ID_CHECKDIGIT", "sfz_format"): (
        "{path} 不是 18 位居民身份证号码格式",
        "{path}: not an 18-character resident ID number",
    ),
    ("ID_CHECKDIGIT", "sfz_check"): (
        "{path} 居民身份证号码校验位错误（GB 11643）",
        "{path}: check digit wrong (GB 11643)",
    ),
    ("ID_CHECKDIGIT", "sfz_birth"): (
        "{path} 居民身份证号码中的出生日期无效",
        "{path}: birth date in the ID number is not a valid date",
    ),
    ("ID_CHECKDIGIT", "uscc_format"): (
        "{path} 不是 18 位统一社会信用代码格式",
        "{path}: not an 18-character unified social credit code",
    ),
    ("ID_CHECKDIGIT", "uscc_check"): (
        "{path} 统一社会信用代码校验码错误（GB 32100）",
        "{path}: check character wrong (GB 32100)",
    ),
    ("REQUIRED_IFF", "finished_required"): (
        "状态不是在办时必须填写 {path}",
        "{path}: required when status is not IN_PROGRESS",
    ),
    ("REQUIRED_IFF", "finished_null"): ("在办件不得填写 {path}", "{path}: must be null while status is IN_PROGRESS"),
    ("REQUIRED_IFF", "result_required"): (
        "办结（COMPLETED）时必须填写 {path}",
        "{path}: required when status is COMPLETED",
    ),
    ("REQUIRED_IFF", "only_completed"): (
        "仅办结（COMPLETED）时可填写 {path}",
        "{path}: allowed only when status is COMPLETED",
    ),
    ("REQUIRED_IFF", "closed_required"): (
        "投诉办结（CLOSED）时必须填写 {path}",
        "{path}: required when status is CLOSED",
    ),
    ("REQUIRED_IFF", "closed_null"): ("投诉未办结时不得填写 {path}", "{path}: must be null while status is OPEN"),
    ("REQUIRED_IFF", "case_pair"): (
        "case_source_system 与 case_id 须同时填写或同时为空",
        "{path}: case_source_system and case_id are set together or both null",
    ),
    ("TIME_ORDER", "finished_before_received"): ("{path} 早于受理时间 received_at", "{path}: before received_at"),
    ("TIME_ORDER", "finished_before_started"): (
        "{path} 早于环节开始时间 started_at",
        "{path}: before the step's started_at",
    ),
    ("TIME_ORDER", "started_before_case"): ("{path} 早于所属办件的受理时间", "{path}: before the case's received_at"),
    ("TIME_ORDER", "closed_before_received"): ("{path} 早于投诉受理时间 received_at", "{path}: before received_at"),
    ("POWER_CODE_TYPE", ""): (
        "权力编码前两位与权力类别 power_type 不一致",
        "{path}: its first two letters differ from power_type",
    ),
    ("PENALTY_RANGE", "pair"): (
        "penalty_min 与 penalty_max 须同时填写或同时为空",
        "{path}: penalty_min and penalty_max are set together or both null",
    ),
    ("PENALTY_RANGE", "order"): (
        "裁量下限 penalty_min 大于上限 penalty_max",
        "{path}: penalty_min is greater than penalty_max",
    ),
    ("PENALTY_RANGE", "only_cf"): (
        "只有行政处罚（CF）事项可设裁量范围",
        "{path}: a penalty range is allowed only for CF items",
    ),
    ("UNKNOWN_DEPT", ""): ("{path} 不是已知部门", "{path}: not a known department"),
    ("UNKNOWN_POWER", ""): ("{path} 不在权力事项目录中", "{path}: not in the power catalogue"),
    ("POWER_NOT_ACTIVE", ""): (
        "权力事项在受理日不是在用（A）状态",
        "{path}: the power item is not in state A on the received date",
    ),
    ("DEPT_MISMATCH", ""): ("{path} 与权力事项的承办部门不一致", "{path}: differs from the power item's dept_code"),
    ("PROMISE_ABOVE_ITEM", "case"): ("承诺时限大于权力事项的承诺时限", "{path}: above the power item's promised_limit"),
    ("PROMISE_ABOVE_ITEM", "legal"): ("承诺时限大于法定时限 legal_limit", "{path}: above legal_limit"),
    ("PENALTY_NOT_CF", ""): (
        "只有行政处罚（CF）事项的办件可填写罚款金额",
        "{path}: a penalty amount is allowed only for cases of CF items",
    ),
    ("UNKNOWN_CASE", ""): ("被投诉办件不存在", "{path}: the complained-about case is not known"),
}


@cache
def violation(rule_id: str, path: str, variant: str = "", **params: object) -> Violation:
    """The violation of ``rule_id`` at ``path`` (cached: one object per distinct message)."""
    zh, en = _MESSAGES[(rule_id, variant)]
    values = {"path": path, **params}
    return Violation(path, rule_id, zh.format(**values), en.format(**values))


def type_violation(path: str, json_type: str) -> Violation:
    return violation("TYPE", path, type=json_type, type_zh=_TYPE_ZH.get(json_type, json_type))


def code_violation(path: str, codelist: str, only: tuple[str, ...] | None = None) -> Violation:
    title_zh, title_en = CODELIST_TITLES[codelist]
    return violation("BAD_CODE", path, list=codelist, list_zh=title_zh, codes=_codes_text(codelist, only))


def sort_key(v: Violation, field_index: dict[str, int]) -> tuple[int, int, str]:
    base = v.path.split("[", 1)[0]
    return (RULE_RANK[v.rule_id], field_index.get(base, -1), v.path)


def message_catalogue() -> list[tuple[str, str, str, str]]:
    """(rule_id, variant, zh, en) of every message, for the docs."""
    return [(r, var, zh, en) for (r, var), (zh, en) in _MESSAGES.items()]
