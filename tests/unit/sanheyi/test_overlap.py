"""Batches are validated ahead only where that cannot change what is stored, and stored in order."""

from __future__ import annotations

import threading
from contextvars import ContextVar

import pytest

from sanheyi.overlap import store_in_order


class Recorder:
    """prepare/commit that log what happened, in order, across the two threads."""

    def __init__(self, *, held: frozenset[str] = frozenset(), failing: frozenset[str] = frozenset()) -> None:
        self.events: list[str] = []
        self.lock = threading.Lock()
        self.held = held
        self.failing = failing

    def log(self, event: str) -> None:
        with self.lock:
            self.events.append(event)

    def prepare(self, batch: str) -> str:
        self.log(f"prepare {batch}")
        return batch

    def commit(self, batch: str) -> str:
        if batch in self.failing:
            raise RuntimeError(f"commit of {batch} failed")
        self.log(f"commit {batch}")
        return "HELD" if batch in self.held else "LOADED"


def same_entity(current: str, following: str) -> bool:
    return current[0] == following[0]


def run(recorder: Recorder, batches: list[str]) -> list[tuple[str, str]]:
    return list(
        store_in_order(
            batches, recorder.prepare, recorder.commit, beside=same_entity, redo=lambda report: report == "HELD"
        )
    )


def test_every_batch_is_committed_once_in_order_with_its_report():
    recorder = Recorder(held=frozenset({"c2"}))
    assert run(recorder, ["c1", "c2", "c3", "s1"]) == [
        ("c1", "LOADED"),
        ("c2", "HELD"),
        ("c3", "LOADED"),
        ("s1", "LOADED"),
    ]
    assert [e for e in recorder.events if e.startswith("commit")] == [
        "commit c1",
        "commit c2",
        "commit c3",
        "commit s1",
    ]


def test_the_next_batch_of_the_same_entity_is_prepared_while_the_current_one_commits():
    next_prepared = threading.Event()
    recorder = Recorder()

    def commit(batch: str) -> str:
        if batch == "c1":  # would wait forever if c2 were only prepared after c1 is stored
            assert next_prepared.wait(10)
        return recorder.commit(batch)

    def prepare(batch: str) -> str:
        if batch == "c2":
            next_prepared.set()
        return recorder.prepare(batch)

    reports = list(store_in_order(["c1", "c2"], prepare, commit, beside=same_entity, redo=lambda r: False))
    assert reports == [("c1", "LOADED"), ("c2", "LOADED")]


def test_a_batch_of_another_entity_is_prepared_only_after_the_one_before_is_stored():
    recorder = Recorder()
    run(recorder, ["c1", "s1"])
    assert recorder.events.index("commit c1") < recorder.events.index("prepare s1")


def test_a_batch_that_may_not_be_read_past_is_stored_before_the_next_one_is_read():
    recorder = Recorder()
    read: list[str] = []

    def batches():
        for batch in ["p1", "p2", "c1", "c2"]:
            read.append(batch)
            recorder.log(f"read {batch}")
            yield batch

    reports = list(
        store_in_order(
            batches(),
            recorder.prepare,
            recorder.commit,
            beside=same_entity,
            redo=lambda r: False,
            read_past=lambda batch: not batch.startswith("p"),  # pages of an interface
        )
    )
    assert [batch for batch, _ in reports] == ["p1", "p2", "c1", "c2"]
    assert recorder.events.index("commit p1") < recorder.events.index("read p2")
    assert recorder.events.index("commit p2") < recorder.events.index("read c1")


def test_after_a_held_batch_the_next_one_is_prepared_again():
    recorder = Recorder(held=frozenset({"c1"}))
    run(recorder, ["c1", "c2"])
    assert recorder.events.count("prepare c2") == 2
    assert "prepare c2" in recorder.events[recorder.events.index("commit c1") :]


def test_a_caller_stopping_after_a_report_leaves_the_batch_prepared_meanwhile_uncommitted():
    recorder = Recorder()
    stored = store_in_order(
        ["c1", "c2", "c3"], recorder.prepare, recorder.commit, beside=same_entity, redo=lambda r: False
    )
    assert next(stored) == ("c1", "LOADED")
    stored.close()
    assert "commit c2" not in recorder.events


def test_a_caller_stopping_at_a_batch_not_read_past_closes_cleanly():
    """As the ingest stops at a held interface page: the generator ends, nothing more is read or committed."""
    recorder = Recorder()
    read: list[str] = []

    def pages():
        for page in ["p1", "p2"]:
            read.append(page)
            yield page

    stored = store_in_order(
        pages(), recorder.prepare, recorder.commit, beside=same_entity, redo=lambda r: False, read_past=lambda b: False
    )
    assert next(stored) == ("p1", "LOADED")
    stored.close()  # raised "generator ignored GeneratorExit" when the stop was caught as a failure
    assert read == ["p1"]
    assert "commit p2" not in recorder.events


def test_a_reading_error_comes_after_the_report_of_the_batch_loading_meanwhile():
    recorder = Recorder()

    def batches():
        yield "c1"
        raise ValueError("file c2 is unreadable")

    got = []
    stored = store_in_order(batches(), recorder.prepare, recorder.commit, beside=same_entity, redo=lambda r: False)
    with pytest.raises(ValueError, match="unreadable"):
        for item in stored:
            got.append(item)
    assert got == [("c1", "LOADED")]


def test_a_failed_commit_is_raised_at_its_batch():
    recorder = Recorder(failing=frozenset({"c2"}))
    got = []
    with pytest.raises(RuntimeError, match="commit of c2 failed"):
        for item in store_in_order(
            ["c1", "c2", "c3"], recorder.prepare, recorder.commit, beside=same_entity, redo=lambda r: False
        ):
            got.append(item)
    assert got == [("c1", "LOADED")]
    assert "commit c3" not in recorder.events


def test_the_commit_sees_the_callers_log_context():
    system: ContextVar[str] = ContextVar("system", default="?")
    seen = []

    def commit(batch: str) -> str:
        seen.append(system.get())
        return "LOADED"

    token = system.set("SJ001")
    try:
        list(store_in_order(["c1", "c2"], lambda b: b, commit, beside=same_entity, redo=lambda r: False))
    finally:
        system.reset(token)
    assert seen == ["SJ001", "SJ001"]
