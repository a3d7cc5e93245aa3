"""Identity numbers: GB 11643 without the area code, GB 32100; vectorised equals per value."""

from __future__ import annotations

import random
from datetime import date

import numpy as np
from stdnum.cn import ric

from validators.ids import USCC_ALPHABET, sfz_problem, sfz_problems, uscc_problem, uscc_problems


def test_liyang_numbers_pass_although_stdnum_rejects_their_area() -> None:
    number = "32048119540307570X"  # Liyang (320481) before the code existed in stdnum's area list
    assert not ric.is_valid(number)
    assert sfz_problem(number) is None
    assert sfz_problem("320481195403075700") == "sfz_check"
    # 30 February: with the check digit GB 11643 gives for it (2) the birth date is what is wrong;
    # with any other digit the check digit is reported (it is checked first).
    assert sfz_problem("320481195402305702") == "sfz_birth"
    assert sfz_problem("320481195402305708") == "sfz_check"


def test_birth_date_rules() -> None:
    def with_check(body: str) -> str:
        return body + ric.calc_check_digit(body + "0")

    assert sfz_problem(with_check("32048118991231001")) == "sfz_birth"  # before 1900
    assert sfz_problem(with_check("32048120260230001")) == "sfz_birth"  # 30 February
    assert sfz_problem(with_check("32048120261001001"), received=date(2026, 9, 30)) == "sfz_birth"
    assert sfz_problem(with_check("32048120240229001")) is None  # leap day
    assert sfz_problem("32048119540307570x") == "sfz_format"


def test_uscc_check_character() -> None:
    assert uscc_problem("11320481466004118J") is None
    assert uscc_problem("11320481466004118K") == "uscc_check"
    assert uscc_problem("1132048146600411") == "uscc_format"
    # Y (other registration authorities) is a valid first character; GB 32100 gives L as its check
    assert uscc_problem("Y1320481466004118L") is None
    assert uscc_problem("Y1320481466004118J") == "uscc_check"


def _matrix(values: list[str]) -> np.ndarray:
    return np.frombuffer("".join(values).encode(), dtype=np.uint8).reshape(len(values), 18)


def test_vectorised_sfz_equals_per_value() -> None:
    rng = random.Random(5)
    values = []
    for _ in range(3000):
        body = (
            f"{rng.randint(110000, 659999)}{rng.randint(1890, 2030)}{rng.randint(0, 13):02d}"
            f"{rng.randint(0, 32):02d}{rng.randint(0, 999):03d}"
        )
        check = ric.calc_check_digit(body + "0") if rng.random() < 0.7 else rng.choice("0123456789X")
        values.append(body + check)
    received = date(2026, 9, 30)
    days = np.full(len(values), (received - date(1970, 1, 1)).days)
    got = sfz_problems(_matrix(values), days)
    names = {0: None, 1: "sfz_check", 2: "sfz_birth"}
    assert [names[int(g)] for g in got] == [sfz_problem(v, received) for v in values]


def test_vectorised_uscc_equals_per_value() -> None:
    rng = random.Random(6)
    values = [
        "".join(rng.choice(USCC_ALPHABET) for _ in range(2))
        + f"{rng.randint(0, 999999):06d}"
        + "".join(rng.choice(USCC_ALPHABET) for _ in range(10))
        for _ in range(3000)
    ]
    got = uscc_problems(_matrix(values))
    assert [("uscc_check" if g else None) for g in got] == [uscc_problem(v) for v in values]
