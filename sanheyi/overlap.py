"""Validating the next batch while the current one loads, without changing what gets stored.

A bulk load mostly waits without the interpreter's lock: for PostgreSQL to take in a ``COPY``, or for
SQLite to run the staged upsert (``warehouse/staging.py``). The next batch can be validated
meanwhile. Batches are still committed one at a time and in order, by one loader thread; only the
preparation of batch *n + 1* (validation: reads, no writes) moves ahead, and only where it cannot
depend on batch *n*:

- the two batches are of the same system and entity: a batch of steps is checked against the cases
  loaded before it, so the first batch of another entity waits until the one before is stored;
- batch *n* was stored as it should (``redo`` says otherwise: held, say) — then batch *n + 1* is
  prepared again, after it, as it would have been without the overlap;
- reading batch *n + 1* cannot matter (``read_past``): an interface's next page is not fetched
  before its page *n* is stored, since a held page ends the source's reading for the cycle.

Reports come back in the order of the batches. What reading or preparing raises reaches the caller
after the report of the batch that was loading meanwhile; what a commit raises, at that batch.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

B = TypeVar("B")  # a batch
P = TypeVar("P")  # a prepared batch
R = TypeVar("R")  # what committing it reports

_NOTHING = object()


class _Loading(Generic[B, R]):
    def __init__(self, batch: B, future: Future[R]) -> None:
        self.batch = batch
        self.future = future


def _reported(loading: _Loading[B, R]) -> tuple[B, R]:
    # No local name keeps a stored batch (its frames) once it is reported: the next batches are
    # read and prepared meanwhile, and memory holds as few batches as it can.
    return loading.batch, loading.future.result()


def store_in_order(
    batches: Iterable[B],
    prepare: Callable[[B], P],
    commit: Callable[[P], R],
    *,
    beside: Callable[[B, B], bool],
    redo: Callable[[R], bool],
    read_past: Callable[[B], bool] = lambda _batch: True,
) -> Iterator[tuple[B, R]]:
    """Yield ``(batch, commit(prepare(batch)))`` for every batch in order, preparing the next
    batch while the current one commits (in a thread) where ``beside(current, next)`` allows.
    The next batch is not even read while a batch that ``read_past`` refuses commits.

    The caller may stop after any report: the batch prepared meanwhile is then never committed.
    """
    iterator = iter(batches)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-commit") as loader:
        loading: _Loading[B, R] | None = None
        try:
            while True:
                try:
                    if loading is not None and not read_past(loading.batch):
                        yield _reported(loading)
                        loading = None
                    batch = next(iterator, _NOTHING)
                    if batch is _NOTHING:
                        break
                    if loading is not None and not beside(loading.batch, batch):
                        yield _reported(loading)
                        loading = None
                    prepared = prepare(batch)
                except GeneratorExit:  # the caller stopped at one of the reports above: yield nothing more
                    raise
                except BaseException:
                    if loading is not None:  # the batch loading meanwhile is reported first
                        yield _reported(loading)
                        loading = None
                    raise
                if loading is not None:
                    report = loading.future.result()
                    yield loading.batch, report
                    loading = None
                    if redo(report):
                        prepared = prepare(batch)
                # the commit sees the caller's context variables (the log context: cycle, system)
                loading = _Loading(batch, loader.submit(contextvars.copy_context().run, commit, prepared))
            if loading is not None:
                yield _reported(loading)
                loading = None
        finally:
            if loading is not None:  # the caller stopped or failed: never leave a commit running
                loading.future.exception()
