"""Fewer malloc arenas for the ingesting process, so its threads do not multiply its memory.

glibc gives every thread that allocates an arena of its own, up to eight per core. The ingest runs
several threads that allocate large, short-lived frames (reading ahead, validating, committing,
checkpointing), and each arena keeps the pages its frees leave behind: on 1,000,000 cases the peak
RSS grew from 1.6 to 2.0 GiB with the same data in memory. Two arenas keep it at 1.6 GiB and run as
fast (docs/performance.md). Arrow's own buffers come from its allocator and are not affected.

The limit is set when the ``sanheyi`` package is imported: a thread keeps the arena it first
allocated from, so a limit set once numpy, Arrow or the data quality worker have started threads
only stops further arenas (four already exist by then, and the peak stayed at 2.0 GiB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # from glibc's malloc.h
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Let glibc create no arena beyond the ``arenas``-th from now on; False where the C library is
    not glibc. Threads started afterwards share the arenas there are."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_ARENA_MAX, arenas))
