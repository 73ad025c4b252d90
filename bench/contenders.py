"""How the benchmarks here start and stop what they measure: processes in a session of their own,
stopped at the end whatever happens (an exception, Ctrl-C, SIGTERM): TERM to the session, KILL after
15 s, then KILL for whatever the caller finds left of it within 10 s more."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

Leftovers = Callable[[subprocess.Popen], list[int]]  # the live pids of what the process started


@contextmanager
def running(command: list[str], cwd: Path, env: dict[str, str], log: Path,
            leftovers: Leftovers) -> Iterator[subprocess.Popen]:
    """`command` in a session of its own, its output in `log`; stopped at the end with its leftovers."""
    with open(log, "ab") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield process
    finally:
        stop(process, leftovers)


def stop(process: subprocess.Popen, leftovers: Leftovers) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    deadline = time.monotonic() + 10  # what it started goes with it, or is ended
    while leftovers(process) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in leftovers(process):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
