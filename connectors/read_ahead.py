"""Reading one item ahead in a thread, so that parsing overlaps the caller's work on the last item."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_END = object()


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """Yield what ``items`` yields, in order, producing the next item while the caller holds this one.

    ``items`` runs in one worker thread only (never two steps at once). What it raises reaches the
    caller at the place it was raised, after every item before it. When the caller stops early, the
    step in progress finishes and ``items`` is closed.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
    # the reading sees the caller's context variables (the log context), as it would unthreaded
    context = contextvars.copy_context()
    pending: Future = pool.submit(context.run, next, items, _END)
    try:
        while True:
            item = pending.result()
            if item is _END:
                return
            pending = pool.submit(context.run, next, items, _END)
            yield item  # type: ignore[misc]
    finally:
        pool.shutdown(wait=True)
        close = getattr(items, "close", None)
        if close is not None:
            close()
