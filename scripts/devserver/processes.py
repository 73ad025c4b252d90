"""What every process here does with child processes: reap them, report their exit, signal their
group, and leave without Python's teardown.

A child's exit status travels through a pipe of its own (CPython's forkserver does the same):
whoever reaps the child writes the status there, the supervisor's handle on the child reads
it. No status table is shared between threads, and nobody polls for one.
"""

from __future__ import annotations

import os
import select
import signal
import sys
from collections.abc import Callable, Iterator


def reap(waitpid: Callable = os.waitpid) -> Iterator[tuple[int, int]]:
    """Every child that has exited, as (pid, exit status: negative for a signal). `waitpid`: the
    fork server passes the original, unpatched one."""
    while True:
        try:
            pid, status = waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, os.waitstatus_to_exitcode(status)


def write_status(fd: int, status: int) -> None:
    """Report a reaped child's exit status on its status pipe, and close our end of it."""
    try:
        os.write(fd, f"{status}\n".encode())
    except OSError:
        pass  # its reader is gone
    finally:
        os.close(fd)


def read_status(fd: int, timeout: float) -> int | None:
    """A child's exit status from its status pipe (None: not reported within `timeout`, or the
    reaper died first); closes the pipe."""
    try:
        if not select.select([fd], [], [], timeout)[0]:
            return None
        text = os.read(fd, 64).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def signal_group(pid: int, signum: int) -> None:
    """Signal a process and everything it started (its process group); gone already is fine."""
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def describe_exit(status: int | None) -> str:
    if status is None:
        return "exited"
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


def exit_now(code: int) -> None:
    """Flush what was said, then leave at once: no interpreter teardown (greenlets the app left
    behind must not delay the exit, and a forked child must never run its parent's clean-up)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
