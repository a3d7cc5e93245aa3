"""The display model: labels, changes, ranking, and the grouping of events for the charts."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from reports.labels import METRIC_BY_KEY
from reports.view import build_view, change, fmt_value, period_label


@pytest.mark.parametrize(
    ("start", "end", "label"),
    [
        (date(2026, 10, 1), date(2026, 10, 31), "2026年10月"),
        (date(2026, 2, 1), date(2026, 2, 28), "2026年2月"),
        (date(2026, 10, 1), date(2026, 12, 31), "2026年第四季度"),
        (date(2026, 1, 1), date(2026, 6, 30), "2026年上半年"),
        (date(2026, 1, 1), date(2026, 12, 31), "2026年度"),
        (date(2026, 6, 1), date(2026, 11, 30), "2026年6月1日至2026年11月30日"),
        (date(2026, 10, 8), date(2026, 10, 31), "2026年10月8日至2026年10月31日"),
    ],
)
def test_period_label(start: date, end: date, label: str) -> None:
    assert period_label(start, end) == label


def test_values_are_formatted_as_printed() -> None:
    assert fmt_value(METRIC_BY_KEY["on_time_rate"], 0.619) == "61.90%"
    assert fmt_value(METRIC_BY_KEY["on_time_rate"], None) == "—"
    assert fmt_value(METRIC_BY_KEY["score"], 82.0) == "82.00"
    assert fmt_value(METRIC_BY_KEY["received"], 21) == "21"


def test_changes_read_the_right_way() -> None:
    rate_up = change(METRIC_BY_KEY["on_time_rate"], 0.65, 0.619)
    assert (rate_up.text, rate_up.tone, rate_up.value) == ("+3.10 个百分点", "good", 3.1)
    overdue_up = change(METRIC_BY_KEY["overdue_rate"], 0.375, 0.3103)
    assert overdue_up.tone == "bad" and overdue_up.text == "+6.47 个百分点"
    assert change(METRIC_BY_KEY["red_cards"], 17, 19).text == "−2"
    assert change(METRIC_BY_KEY["red_cards"], 17, 19).tone == "good"
    assert change(METRIC_BY_KEY["received"], 21, 20).tone == "neutral"
    assert change(METRIC_BY_KEY["received"], 21, 21).text == "持平"
    assert change(METRIC_BY_KEY["on_time_rate"], None, 0.5).text == "—"


def test_ranking_orders_by_score_and_shares_ranks(bundle: dict[str, Any]) -> None:
    depts = bundle["statistics"]["departments"]
    depts[1]["score"] = depts[4]["score"]  # a tie
    view = build_view(bundle)
    scores = [d.row["score"] for d in view.departments]
    assert scores == sorted(scores, reverse=True)
    ranks = [d.rank for d in view.departments]
    assert ranks == [1, 1, 3, 4, 5, 6]


def test_power_types_in_code_list_order(bundle: dict[str, Any]) -> None:
    bundle["statistics"]["power_types"].reverse()
    view = build_view(bundle)
    assert [r["power_type"] for r in view.power_types][:3] == ["XK", "SP", "CF"]
    assert [r["label"] for r in view.power_types][-1] == "其他"


def test_events_grouped_by_rule_and_week(bundle: dict[str, Any]) -> None:
    view = build_view(bundle)
    active = [e for e in bundle["events"] if e["status"] == "ACTIVE"]
    assert view.active_events == len(active) == 36
    assert view.withdrawn_events == 2
    by_rule = {c.rule: c.count for c in view.rule_counts}
    assert by_rule["SX01"] == 12 and by_rule["TS01"] == 4 and sum(by_rule.values()) == 36
    # Weeks run Monday to Sunday, clipped to the period: Thu 1 Oct .. Sun 4 Oct first.
    assert [w.label for w in view.week_counts] == [
        "10-01~10-04",
        "10-05~10-11",
        "10-12~10-18",
        "10-19~10-25",
        "10-26~10-31",
    ]
    assert sum(w.yellow for w in view.week_counts) == 17
    assert sum(w.red for w in view.week_counts) == 19
    assert view.week_unit == "周"


def test_a_long_period_is_grouped_by_month(bundle: dict[str, Any]) -> None:
    bundle["statistics"]["period"] = {"from": "2026-01-01", "to": "2026-10-31"}
    view = build_view(bundle)
    assert view.week_unit == "月"
    assert [w.label for w in view.week_counts][:2] == ["2026-01", "2026-02"]
    assert len(view.week_counts) == 10


def test_unfinished_period_says_so(bundle: dict[str, Any]) -> None:
    bundle["statistics"]["as_of"] = "2026-10-20T09:00:00+08:00"
    view = build_view(bundle)
    assert view.period_end == date(2026, 10, 20)
    assert "本期未结束，数据计至 2026-10-20" in view.period_text
    assert view.week_counts[-1].end == date(2026, 10, 20)


def test_complaint_events_are_listed_by_complaint_id(bundle: dict[str, Any]) -> None:
    view = build_view(bundle)
    complaint = next(e for e in view.events if e.rule == "TS01")
    assert complaint.ref.startswith("TS") and complaint.ref_kind == "投诉"
    assert complaint.source == "统建平台"
