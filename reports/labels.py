"""Chinese display names of the codes and metrics a report shows (interface standard §2, §5.4, §7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.standard import CODELISTS

REPORT_TITLE = "溧阳市行政权力网上公开透明运行 电子监察统计报告"
PROVISIONAL_MARK = "含推定日历"

POWER_TYPES: dict[str, str] = CODELISTS["power_type"]  # in the order of §2

RULES: dict[str, str] = {
    "SX01": "即将到期",
    "SX02": "超期",
    "LC01": "缺少必经环节",
    "LC02": "环节顺序异常",
    "LC03": "不予未说明理由",
    "NR01": "收费不符",
    "CL01": "裁量越界",
    "TS01": "投诉逾期",
}

# The card each rule raises (§5.4); used to colour rules that have no event in the period.
RULE_CARDS: dict[str, str] = {
    "SX01": "YELLOW",
    "SX02": "RED",
    "LC01": "RED",
    "LC02": "RED",
    "LC03": "YELLOW",
    "NR01": "RED",
    "CL01": "RED",
    "TS01": "YELLOW",
}

CARDS: dict[str, str] = {"YELLOW": "黄牌", "RED": "红牌"}
EVENT_STATUS: dict[str, str] = {"ACTIVE": "有效", "WITHDRAWN": "已撤销"}
GRADES: tuple[str, ...] = ("优秀", "良好", "合格", "不合格")

ENTITIES: dict[str, str] = {
    "department": "部门",
    "power_item": "权力事项",
    "case": "办件",
    "case_step": "办理环节",
    "complaint": "投诉",
    "supervision_event": "监察信号",
}

ORIGINS: dict[str, str] = {"file": "文件", "interface": "接口"}
UNIFIED_NAME = "统建平台"

Kind = Literal["count", "rate", "score", "grade"]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    kind: Kind
    # True when a rise is good news, False when it is bad news, None when neutral.
    higher_is_better: bool | None = None


# Every metric of §7, in the order of the standard.
METRICS: tuple[Metric, ...] = (
    Metric("received", "受理件数", "count"),
    Metric("completed", "办结件数", "count"),
    Metric("on_time", "按时办结", "count"),
    Metric("early", "提前办结", "count"),
    Metric("overdue", "超期办结", "count", False),
    Metric("on_time_rate", "按时办结率", "rate", True),
    Metric("early_rate", "提前办结率", "rate", True),
    Metric("denied", "不予办结", "count"),
    Metric("denial_rate", "不予率", "rate"),
    Metric("open_at_end", "期末在办", "count"),
    Metric("open_overdue", "期末在办超期", "count", False),
    Metric("overdue_rate", "超期率", "rate", False),
    Metric("yellow_cards", "黄牌", "count", False),
    Metric("red_cards", "红牌", "count", False),
    Metric("complaints", "投诉件数", "count", False),
    Metric("complaints_substantiated", "投诉属实", "count", False),
    Metric("satisfaction_rate", "满意率", "rate", True),
    Metric("process_ok_rate", "流程规范率", "rate", True),
    Metric("content_ok_rate", "内容合规率", "rate", True),
    Metric("complaint_on_time_rate", "投诉按时办结率", "rate", True),
    Metric("score", "综合得分", "score", True),
    Metric("grade", "等级", "grade"),
)
METRIC_BY_KEY: dict[str, Metric] = {m.key: m for m in METRICS}

# The headline figures of the summary, with their change from the previous period.
SUMMARY_KEYS: tuple[str, ...] = (
    "received",
    "completed",
    "on_time_rate",
    "overdue_rate",
    "yellow_cards",
    "red_cards",
    "complaints",
    "score",
)

# Ranking table (HTML/PDF): the score, its indicators and the cards that lower it.
RANKING_KEYS: tuple[str, ...] = (
    "on_time_rate",
    "early_rate",
    "process_ok_rate",
    "content_ok_rate",
    "satisfaction_rate",
    "complaint_on_time_rate",
    "yellow_cards",
    "red_cards",
)

# Case-flow table (HTML/PDF): the counts behind the rates.
VOLUME_KEYS: tuple[str, ...] = (
    "received",
    "completed",
    "on_time",
    "early",
    "overdue",
    "denied",
    "denial_rate",
    "open_at_end",
    "open_overdue",
    "overdue_rate",
    "complaints",
    "complaints_substantiated",
)

# Power-type table (HTML/PDF); score and grade are not computed per power type (§7).
POWER_TYPE_KEYS: tuple[str, ...] = (
    "received",
    "completed",
    "on_time_rate",
    "overdue_rate",
    "open_at_end",
    "open_overdue",
    "denial_rate",
    "satisfaction_rate",
    "process_ok_rate",
    "content_ok_rate",
    "yellow_cards",
    "red_cards",
    "complaints",
)


def rule_label(rule: str) -> str:
    name = RULES.get(rule)
    return f"{rule} {name}" if name else rule


def power_type_label(code: str | None) -> str:
    if not code:
        return "—"
    return POWER_TYPES.get(code, code)


def source_label(system: str | None) -> str:
    if not system:
        return "—"
    return UNIFIED_NAME if system == "UNIFIED" else system
