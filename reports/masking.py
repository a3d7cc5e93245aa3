"""Masking of identity numbers for anything a report shows (interface standard §9)."""

from __future__ import annotations

import re
from datetime import date

__all__ = ["mask_id", "mask_ids_in_text", "mask_key"]

# An ID-number-shaped token that is not part of a longer alphanumeric run: 18-digit 居民身份证
# (last character may be X), the old 15-digit form, or an 18-character 统一社会信用代码.
_ID_TOKEN = re.compile(
    r"(?<![0-9A-Za-z])"
    r"(\d{17}[\dXx]|\d{15}|[0-9A-HJ-NP-RTUW-Y]{2}\d{6}[0-9A-HJ-NP-RTUW-Y]{10})"
    r"(?![0-9A-Za-z])"
)
_SFZ_SHAPE = re.compile(r"\d{17}[\dXx]|\d{15}")


def mask_id(value: str | None) -> str | None:
    """Mask an ID as its first 6 and last 4 characters with ``*`` between.

    ``320481199001011234`` becomes ``320481********1234``. Values of 10 characters or fewer
    (passports, for example) would stay readable under that rule, so they keep only a quarter
    at each end instead (``E12345678`` becomes ``E1*****78``).
    """
    if value is None:
        return None
    n = len(value)
    if n > 10:
        return value[:6] + "*" * (n - 10) + value[-4:]
    keep = n // 4
    if keep == 0:
        return "*" * n
    return value[:keep] + "*" * (n - 2 * keep) + value[-keep:]


def mask_ids_in_text(text: str | None) -> str | None:
    """Mask every ID-number-shaped token in free text (e.g. a validator message echoing a value).

    Free text cannot say whose number it holds, so every such token is masked, including an
    unlucky department code; keys and codes are shown in their own columns.
    """
    if text is None:
        return None
    return _ID_TOKEN.sub(lambda m: mask_id(m.group(0)) or "", text)


def mask_key(key: str | None) -> str | None:
    """Mask the parts of a record key that look like a 居民身份证 number with a plausible birth date.

    Record keys are case ids and the like, which are shown in full; a key part that is really an
    ID number (a source that put the applicant's ID into ``case_id``) is masked.
    """
    if key is None:
        return None

    def _one(m: re.Match[str]) -> str:
        token = m.group(0)
        if _SFZ_SHAPE.fullmatch(token) and _has_birth_date(token):
            return mask_id(token) or ""
        return token

    return re.sub(r"[0-9A-Za-z]+", _one, key)


def _has_birth_date(token: str) -> bool:
    if len(token) == 18:
        y, m, d = token[6:10], token[10:12], token[12:14]
    else:
        y, m, d = "19" + token[6:8], token[8:10], token[10:12]
    try:
        born = date(int(y), int(m), int(d))
    except ValueError:
        return False
    return 1900 <= born.year <= 2100
