"""Synthetic identifiers carry check characters that python-stdnum accepts."""

from __future__ import annotations

from datetime import date

import numpy as np
from gen_checker import ric_ok
from stdnum.cn import ric, uscc

from simulators.idnumbers import (
    ORG_BODY_ALPHABET,
    make_ric,
    make_uscc,
    org_check_char,
    ric_batch,
    ric_check_digit,
    uscc_batch,
    uscc_check_char,
)


def test_known_numbers_from_stdnum_documentation_are_reproduced() -> None:
    assert make_ric(360426, date(1991, 1, 1), 7) == "360426199101010071"
    assert uscc_check_char("91110000600037341") == "L"
    assert org_check_char("60003734") == "1"


def test_liyang_id_numbers_have_valid_check_digit_and_birth_date() -> None:
    n = make_ric(320481, date(1988, 2, 29), 123)
    assert n.startswith("32048119880229123")
    assert ric.calc_check_digit(n) == n[-1]
    assert ric.get_birth_date(n) == date(1988, 2, 29)
    assert ric_ok(n)


def test_batch_id_numbers_match_scalar_ones_and_stdnum() -> None:
    rng = np.random.default_rng(5)
    area = rng.choice([320481, 320413, 341802], 500)
    births = [date(1940, 1, 1).toordinal() + int(x) for x in rng.integers(0, 25_000, 500)]
    ymd = np.array([int(date.fromordinal(o).strftime("%Y%m%d")) for o in births])
    seq = rng.integers(0, 1000, 500)
    batch = ric_batch(area, ymd, seq)
    for a, o, s, got in zip(area.tolist(), births, seq.tolist(), batch, strict=True):
        assert got == make_ric(a, date.fromordinal(o), s)
        assert ric.calc_check_digit(got) == got[-1] and ric_check_digit(got[:17]) == got[-1]
    assert any(x.endswith("X") for x in batch)  # the check value 10 is written X


def test_uscc_batch_matches_scalar_and_stdnum() -> None:
    rng = np.random.default_rng(6)
    body = rng.integers(0, len(ORG_BODY_ALPHABET), (400, 8))
    kinds = ["91" if i % 3 else "92" for i in range(400)]
    area = np.full(400, 320481)
    codes = uscc_batch(kinds, area, body)
    for k, row, code in zip(kinds, body.tolist(), codes, strict=True):
        org = "".join(ORG_BODY_ALPHABET[i] for i in row)
        assert code == make_uscc(k, 320481, org)
        assert uscc.is_valid(code), code
        assert code[:8] == f"{k}320481"


def test_department_codes_are_government_uscc() -> None:
    code = make_uscc("11", 320481, "01234567")
    assert uscc.is_valid(code) and code.startswith("11320481")
