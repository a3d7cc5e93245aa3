"""Masking of identity numbers in anything a report shows (interface standard §9)."""

from __future__ import annotations

import pytest

from reports import mask_id
from reports.masking import mask_ids_in_text, mask_key


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("320481199001011234", "320481********1234"),  # the standard's example
        ("32048119900101123X", "320481********123X"),
        ("320481900101123", "320481*****1123"),  # old 15-digit number
        ("91320481MA1W2X3Y4B", "913204********3Y4B"),  # 统一社会信用代码
        ("ABCDEFGHIJK", "ABCDEF*HIJK"),  # 11 characters: one star
        ("E12345678", "E1*****78"),  # short values keep far less than 6 + 4
        ("1234", "1**4"),
        ("123", "***"),
        ("", ""),
    ],
)
def test_mask_id(value: str, masked: str) -> None:
    assert mask_id(value) == masked
    assert len(mask_id(value) or "") == len(value)


def test_mask_id_none() -> None:
    assert mask_id(None) is None


def test_free_text_masks_every_id_shaped_token() -> None:
    text = "证件号码320481199001011234校验位错误（原值 320481199001011235），代码 91320481MA1W2X3Y4B"
    masked = mask_ids_in_text(text)
    assert masked == ("证件号码320481********1234校验位错误（原值 320481********1235），代码 913204********3Y4B")


def test_free_text_leaves_case_ids_and_short_numbers() -> None:
    text = "办件 LY3204810000065 第 3 步，金额 150.00 元，日期 2026-10-01"
    assert mask_ids_in_text(text) == text


def test_record_key_masks_only_a_real_looking_id() -> None:
    assert mask_key("LY3204810000065") == "LY3204810000065"
    assert mask_key("202610010000000123") == "202610010000000123"  # digits 7-14 are no birth date
    assert mask_key("320481199001011234") == "320481********1234"
    assert mask_key("320481199001011234/2") == "320481********1234/2"  # a step key
