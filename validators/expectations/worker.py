"""Running the data quality suites in a worker process, beside the load of the same batch.

A suite run is mostly Python (Great Expectations builds and resolves a graph of metrics for every
run), so in a thread it would take turns with the loader for the interpreter's one lock; in a process
of its own it runs on the second core while the batch is written. The caller keeps the batch's
transaction open until the verdict is in, so a blocking check still loads nothing of the batch.

The worker starts with the first batch checked and imports Great Expectations then (a cycle
without new data pays for neither). If it cannot be started, or dies, suites run in the calling
process instead: slower, same verdicts. It exits with the process that started it, even one that
was killed.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from validators.expectations.model import QualityResult
from validators.expectations.run import PreparedCheck, SuiteOutcome, finish_check, run_suite, warm_up

log = logging.getLogger(__name__)

_PARENT_POLL_SECONDS = 2.0


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initialiser: end the worker when the process that started it is gone (even SIGKILLed)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="suite-worker-parent-watch", daemon=True).start()


class PendingCheck:
    """A suite run under way; :meth:`result` waits for it and gives the batch's verdict."""

    def __init__(self, prepared: PreparedCheck, future: Future | None, worker: SuiteWorker) -> None:
        self._prepared, self._future, self._worker = prepared, future, worker

    def result(self) -> QualityResult:
        prepared = self._prepared
        suite: SuiteOutcome | None = None
        if self._future is not None:
            try:
                suite = self._future.result()
            except BrokenProcessPool:
                self._worker.stop("the data quality worker process ended unexpectedly")
        if suite is None:
            suite = run_suite(prepared.entity, prepared.frame, prepared.params)
        return finish_check(prepared, suite)


class SuiteWorker:
    """One worker process for suite runs, started on first use (see the module docstring)."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._warm: Future | None = None
        self._failed = False
        self._lock = threading.Lock()

    def _ensure(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._pool is None and not self._failed:
                try:
                    self._pool = ProcessPoolExecutor(
                        max_workers=1,
                        # spawn: a fresh interpreter, whatever threads and connections this process holds
                        mp_context=multiprocessing.get_context("spawn"),
                        initializer=_exit_with_parent,
                        initargs=(os.getpid(),),
                    )
                    self._warm = self._pool.submit(warm_up)
                except (OSError, RuntimeError, AssertionError) as exc:  # e.g. a daemonic process may not start one
                    self._failed = True
                    log.warning("data quality suites run in this process: no worker process (%s)", exc)
            return self._pool

    def start(self, prepared: PreparedCheck) -> PendingCheck:
        pool = self._ensure()
        future = None
        if pool is not None:
            try:
                future = pool.submit(run_suite, prepared.entity, prepared.frame, prepared.params)
            except (BrokenProcessPool, RuntimeError):
                self.stop("the data quality worker process is not available")
        return PendingCheck(prepared, future, self)

    def ready(self) -> None:
        """Start the worker now and wait until Great Expectations is imported in it."""
        if self._ensure() is not None and self._warm is not None:
            self._warm.result()

    def stop(self, reason: str | None = None, *, wait: bool = False) -> None:
        """Shut the worker down; with a ``reason``, suites run in this process from now on."""
        with self._lock:
            pool, self._pool = self._pool, None
            if reason is not None:
                self._failed = True
                log.warning("data quality suites run in this process from now on: %s", reason)
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)


_WORKER = SuiteWorker()
atexit.register(_WORKER.stop)


def prestart() -> None:
    """Start the worker and wait until it is ready (benchmarks time the steady state apart)."""
    _WORKER.ready()


def shutdown() -> None:
    """Stop the worker and wait for it to exit (a later check starts a new one)."""
    _WORKER.stop(wait=True)


def start_check(prepared: PreparedCheck) -> PendingCheck:
    """Start the suite run of one batch in the worker process; the verdict comes from ``.result()``."""
    return _WORKER.start(prepared)
