"""Synthetic identifiers with valid check characters: 居民身份证 (GB 11643), organisation codes
(GB 11714) and unified social credit codes (GB 32100).

Scalar functions for single values, and ``*_batch`` functions that take numpy arrays and return
lists of strings for bulk generation.
"""

from __future__ import annotations

from datetime import date

import numpy as np

RIC_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
RIC_CHECK = "10X98765432"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# Characters allowed in the body of an organisation code inside a USCC (letters I, O, S, V, Z are
# not used in USCCs).
ORG_BODY_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def ric_check_digit(body17: str) -> str:
    """GB 11643 check character for the first 17 digits of a 居民身份证 number."""
    total = sum(int(c) * int(w) for c, w in zip(body17, RIC_WEIGHTS, strict=True))
    return RIC_CHECK[total % 11]


def make_ric(area: int, birth: date, seq: int) -> str:
    """An 18-character ID number; ``seq`` (0..999) is odd for men, even for women."""
    body = f"{area:06d}{birth:%Y%m%d}{seq:03d}"
    return body + ric_check_digit(body)


def ric_batch(area: np.ndarray, birth_ymd: np.ndarray, seq: np.ndarray) -> list[str]:
    """Vectorised ``make_ric``: ``birth_ymd`` as integers ``YYYYMMDD``."""
    body = area.astype(np.int64) * 10**11 + birth_ymd.astype(np.int64) * 1000 + seq.astype(np.int64)
    total = np.zeros(len(body), dtype=np.int64)
    rest = body.copy()
    for w in RIC_WEIGHTS[::-1]:
        total += (rest % 10) * w
        rest //= 10
    checks = np.array(list(RIC_CHECK))[total % 11]
    return [f"{b}{c}" for b, c in zip(body.tolist(), checks.tolist(), strict=True)]


def _char_value(c: str) -> int:
    return int(c) if c.isdigit() else ord(c) - ord("A") + 10


def org_check_char(body8: str) -> str:
    """GB 11714 check character of an organisation code body (8 digits or capital letters)."""
    rem = 11 - sum(_char_value(c) * w for c, w in zip(body8, ORG_WEIGHTS, strict=True)) % 11
    return "X" if rem == 10 else "0" if rem == 11 else str(rem)


def uscc_check_char(body17: str) -> str:
    """GB 32100 check character for the first 17 characters of a USCC."""
    total = sum(USCC_ALPHABET.index(c) * int(w) for c, w in zip(body17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def make_uscc(kind: str, area: int, org_body8: str) -> str:
    """A USCC: ``kind`` is the registering authority and entity type (``"11"`` 机关, ``"12"`` 事业单位,
    ``"91"`` 企业, ``"92"`` 个体工商户), then the area code and an organisation code with its check."""
    body = f"{kind}{area:06d}{org_body8}{org_check_char(org_body8)}"
    return body + uscc_check_char(body)


def uscc_batch(kind: list[str], area: np.ndarray, org_body: np.ndarray) -> list[str]:
    """Vectorised ``make_uscc``; ``org_body`` is an ``(n, 8)`` array of indexes into ``ORG_BODY_ALPHABET``."""
    n = len(area)
    alpha = np.array(list(ORG_BODY_ALPHABET))
    # values for GB 11714 (digits 0-9, letters A=10 ... Z=35)
    org_values = np.array([_char_value(c) for c in ORG_BODY_ALPHABET], dtype=np.int64)
    vals = org_values[org_body]
    rem = 11 - (vals * np.array(ORG_WEIGHTS, dtype=np.int64)).sum(axis=1) % 11
    org_check = np.where(rem == 10, "X", np.where(rem == 11, "0", rem.astype(str)))
    org_body_str = ["".join(row) for row in alpha[org_body].tolist()]
    heads = [
        f"{k}{a:06d}{b}{c}" for k, a, b, c in zip(kind, area.tolist(), org_body_str, org_check.tolist(), strict=True)
    ]
    index = {c: i for i, c in enumerate(USCC_ALPHABET)}
    idx = np.array([[index[c] for c in h] for h in heads], dtype=np.int64).reshape(n, 17)
    total = (idx * USCC_WEIGHTS).sum(axis=1)
    checks = np.array(list(USCC_ALPHABET))[(31 - total % 31) % 31]
    return [h + c for h, c in zip(heads, checks.tolist(), strict=True)]
