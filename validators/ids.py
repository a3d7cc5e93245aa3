"""Identity numbers: GB 11643 (居民身份证) and GB 32100 (统一社会信用代码), per value and in columns.

The resident ID's 6-digit area code is deliberately not checked (§2): area codes change, and the
code at issue need not match the birth year. ``stdnum.cn.ric.validate`` looks the area up in its
own list and rejects valid Liyang numbers (e.g. ``32048119540307570X``), so only its check digit
and birth date helpers are used.
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
from stdnum.cn import ric, uscc

SFZ_RE = r"^[0-9]{17}[0-9X]$"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_RE = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
_SFZ = re.compile(SFZ_RE.replace("$", r"\Z"))
_USCC = re.compile(USCC_RE.replace("$", r"\Z"))
_SFZ_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64)
_USCC_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(USCC_ALPHABET):
    _USCC_VALUE[ord(_c)] = _i
_USCC_CHAR = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
MIN_BIRTH = date(1900, 1, 1)


def sfz_problem(number: str, received: date | None = None) -> str | None:
    """``None`` if valid, else the variant: ``sfz_format``, ``sfz_check`` or ``sfz_birth``.

    The birth date must be a real date from 1900 on and not after ``received`` (when known).
    """
    if not _SFZ.search(number):
        return "sfz_format"
    if ric.calc_check_digit(number) != number[-1]:
        return "sfz_check"
    try:
        born = ric.get_birth_date(number)
    except Exception:  # stdnum raises InvalidComponent for an impossible date
        return "sfz_birth"
    if born < MIN_BIRTH or (received is not None and born > received):
        return "sfz_birth"
    return None


def uscc_problem(code: str) -> str | None:
    """``None`` if valid, else ``uscc_format`` or ``uscc_check``."""
    if not _USCC.search(code):
        return "uscc_format"
    if uscc.calc_check_digit(code) != code[-1]:
        return "uscc_check"
    return None


def sfz_problems(digits: np.ndarray, received_days: np.ndarray | None = None) -> np.ndarray:
    """Vectorised :func:`sfz_problem` for an n x 18 byte matrix of format-valid numbers.

    Returns 0 (valid), 1 (check digit) or 2 (birth date) per row. ``received_days``: days since
    1970-01-01 of the received date, or a negative sentinel when unknown.
    """
    n = len(digits)
    out = np.zeros(n, dtype=np.int8)
    if n == 0:
        return out
    d = digits.astype(np.int64) - 48
    s = d[:, :17] @ _SFZ_WEIGHTS
    check = (12 - s % 11) % 11
    last = digits[:, 17]
    expected = np.where(check == 10, ord("X"), check + 48)
    out[expected != last] = 1
    year = d[:, 6] * 1000 + d[:, 7] * 100 + d[:, 8] * 10 + d[:, 9]
    month = d[:, 10] * 10 + d[:, 11]
    day = d[:, 12] * 10 + d[:, 13]
    ok = (year >= 1900) & (month >= 1) & (month <= 12) & (day >= 1)
    ym = (np.clip(year, 1900, 9999) - 1970) * 12 + np.clip(month, 1, 12) - 1
    first = ym.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    nxt = (ym + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    ok &= day <= (nxt - first)
    if received_days is not None:
        born = first + day - 1
        ok &= ~((received_days >= -(10**8)) & (born > received_days))
    out[(out == 0) & ~ok] = 2
    return out


def uscc_problems(chars: np.ndarray) -> np.ndarray:
    """Vectorised :func:`uscc_problem` for an n x 18 byte matrix of format-valid codes: 0 or 1."""
    if len(chars) == 0:
        return np.zeros(0, dtype=np.int8)
    v = _USCC_VALUE[chars]
    s = v[:, :17] @ _USCC_WEIGHTS
    expected = _USCC_CHAR[(31 - s % 31) % 31]
    return (expected != chars[:, 17]).astype(np.int8)
