"""Processes the app starts in a session of their own (setsid, daemonizing libraries) end with it.

A worker's process group is killed when it goes, but a child that called setsid()
left that group, and a double fork leaves the worker's children too: both used to
outlive reloads, one more each time. Linux's child subreaper (prctl) makes such
orphans children of the nearest subreaper ancestor instead of init. Every worker
is one, and ends its children when it exits; the supervisor is one, and ends the
orphans of a worker that died without doing so. Elsewhere (macOS) this is a no-op.
No library wraps PR_SET_CHILD_SUBREAPER, hence ctypes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

from devserver.processes import signal_group
from devserver.protocol import CONTROL_FD_ENV

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children(pid: int) -> set[int]:
    """The live children of `pid` (Linux's /proc/PID/task/*/children; empty elsewhere)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(child) for child in (task / "children").read_text().split())
        except (OSError, ValueError):
            pass
    return found


def from_workers(pids) -> set[int]:
    """Those started by a worker's app (they inherit its environment): as PID 1 the supervisor also
    adopts what `docker exec` started, which is none of its business."""
    marker = f"{CONTROL_FD_ENV}=".encode()
    found = set()
    for pid in pids:
        try:
            if any(entry.startswith(marker) for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")):
                found.add(pid)
        except OSError:
            pass
    return found


def end(pids) -> None:
    """SIGKILL each process and, where it leads one, its process group."""
    for pid in pids:
        signal_group(pid, signal.SIGKILL)
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
