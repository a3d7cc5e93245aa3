"""The ingesting process's threads share a bounded number of malloc arenas (sanheyi/malloc_arenas.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Four threads allocate at once and keep what they allocated; glibc's malloc_stats() then prints one
# "Arena N:" block per arena to stderr. The hub sets its limit when its package is imported.
_PROGRAM = """
import ctypes, sys, threading
if sys.argv[1] == "hub":
    import sanheyi
import numpy  # starts threads of its own
kept = []
start = threading.Barrier(4)
def allocate():
    start.wait()
    kept.append([bytearray(4000) for _ in range(2000)])
threads = [threading.Thread(target=allocate) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _PROGRAM, mode], capture_output=True, text=True, check=True)
    return sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_in_a_process_of_the_hub_threads_share_two_arenas() -> None:
    assert _arenas("plain") > 2  # the control: each thread gets an arena of its own
    assert _arenas("hub") == 2
