"""Reading one batch ahead keeps the order, the errors' places, and closes what it reads."""

from __future__ import annotations

import threading

import pytest

from connectors.read_ahead import read_ahead


def test_items_come_in_order_and_the_next_one_is_made_while_the_caller_holds_the_current():
    made: list[int] = []
    second_made = threading.Event()

    def source():
        for i in range(3):
            made.append(i)
            if i == 1:
                second_made.set()
            yield i

    items = read_ahead(source())
    assert next(items) == 0
    # the caller has not asked for item 1 yet, but it is being made
    assert second_made.wait(5)
    assert list(items) == [1, 2]
    assert made == [0, 1, 2]


def test_an_error_reaches_the_caller_after_every_item_before_it():
    def source():
        yield "a"
        yield "b"
        raise ValueError("file 3 is unreadable")

    got = []
    with pytest.raises(ValueError, match="file 3 is unreadable"):
        for item in read_ahead(source()):
            got.append(item)
    assert got == ["a", "b"]


def test_stopping_early_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            yield from range(100)
        finally:
            closed.set()

    items = read_ahead(source())
    assert next(items) == 0
    items.close()
    assert closed.is_set()
