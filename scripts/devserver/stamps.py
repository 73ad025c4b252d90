"""Where a reload's milliseconds go: each process notes when it passes a phase (the reload benchmark reads them).

Off unless DEVSERVER_STAMPS names a file (only the benchmark sets it): then each phase appends one
line, "MONOTONIC_SECONDS PID PHASE". CLOCK_MONOTONIC is one clock for every process of the machine
(Linux), so the benchmark lines these up with its own time.monotonic() for the write and the answer.
No profiler: one short append per phase, a few microseconds.
"""

import os
import time

STAMPS_ENV = "DEVSERVER_STAMPS"
PATH = os.environ.get(STAMPS_ENV)  # read at import: the fork server's copy is every forked worker's


def stamp(phase: str) -> None:
    if PATH:
        with open(PATH, "a") as f:  # O_APPEND: one write per line, whole, whichever process writes
            f.write(f"{time.monotonic():.6f} {os.getpid()} {phase}\n")
