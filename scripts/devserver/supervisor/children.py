"""Starting a child process of the supervisor (a spawned worker, the fork server, an installer), and
hearing how it ended.

A child gets the listening socket and its end of a control socket (their numbers in its
environment), leads a session of its own, and is registered with the reaper together with
the write end of its status pipe before it can possibly be reaped.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from devserver import protocol
from devserver.processes import read_status, signal_group
from devserver.supervisor.reaper import Reaper

SCRIPTS_DIR = str(Path(__file__).resolve().parents[2])
STATUS_WAIT = 1.0  # after its control socket closed, how long a child's exit status may take to be reported


def child_env(listener: socket.socket, control: socket.socket, env: dict[str, str]) -> dict[str, str]:
    """The environment of a process started by the supervisor: ours, the settings, the two descriptors."""
    return {**os.environ, **env,
            protocol.LISTEN_FD_ENV: str(listener.fileno()),
            protocol.CONTROL_FD_ENV: str(control.fileno()),
            "PYTHONPATH": os.pathsep.join(filter(None, [SCRIPTS_DIR, os.environ.get("PYTHONPATH")]))}


def start_child(module: str, listener: socket.socket, control: socket.socket, env: dict[str, str],
                reaper: Reaper) -> tuple[int, int]:
    """Start `python -m module` with the listening socket and its end of a control socket; returns its
    pid and the read end of its status pipe (the reaper writes its exit status there).

    It leads a new session: its own process group, and Ctrl-C in a terminal reaches only the supervisor.
    """
    root = os.environ[protocol.ROOT_ENV]
    try:
        process, status_r = popen_reaped(reaper, [sys.executable, "-m", module],
                                         env=child_env(listener, control, env),
                                         pass_fds=(listener.fileno(), control.fileno()),
                                         cwd=root if os.path.isdir(root) else "/")
    finally:
        control.close()  # the child's end, now the child's alone (or nobody's: it did not start)
    return process.pid, status_r


def popen_reaped(reaper: Reaper, argv: list[str], **popen_args) -> tuple[subprocess.Popen, int]:
    """Popen in a session of its own, registered with the reaper before it can be reaped; returns the
    process and the read end of its status pipe (the reaper writes its exit status there)."""
    status_r, status_w = os.pipe()
    try:
        with reaper.starting_child() as register:
            process = subprocess.Popen(argv, start_new_session=True, **popen_args)
            register(process.pid, status_w)
    except BaseException:  # EAGAIN under a pids limit, say: no pipe is left behind
        os.close(status_r)
        os.close(status_w)
        raise
    # The reaper collects every child (the supervisor may be PID 1), so Popen must not wait for this one.
    process.returncode = 0
    return process, status_r


def start_thread(thread: threading.Thread) -> None:
    """Start a thread, or raise the OSError a failed fork would (EAGAIN): under a pids limit a thread is
    a process too, and threading says so with a RuntimeError."""
    try:
        thread.start()
    except RuntimeError as exc:
        raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), str(exc)) from exc


def run_command(argv: list[str], reaper: Reaper, timeout: float,
                started: Callable[[int], None] = lambda pid: None) -> tuple[int | None, str]:
    """Run a command to its end (an installer) in a process group of its own (`started` gets its pid) and
    return its exit status (None: killed at `timeout`, or unknown) and its output, stdout and stderr
    together. Not subprocess.run: the reaper reaps it."""
    process, status_r = popen_reaped(reaper, argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace")
    started(process.pid)
    deadline = time.monotonic() + timeout
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        signal_group(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        os.close(status_r)
        return None, output
    return read_status(status_r, max(STATUS_WAIT, deadline - time.monotonic())), output
