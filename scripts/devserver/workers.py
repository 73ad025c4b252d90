"""The supervisor's handle on one worker process: start it, talk to it, end its whole group.

Each worker leads its own process group (a new session), so anything the app
starts (a subprocess, a forked helper) is ended with it and nothing outlives a
reload. Its control socket closing is how the supervisor learns it is gone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import SimpleQueue

from devserver import protocol

SCRIPTS_DIR = str(Path(__file__).resolve().parent.parent)


class Worker:
    """A running worker; events ("loaded" | "gone", worker) go to the supervisor's queue."""

    def __init__(self, pid: int, control: socket.socket, events: SimpleQueue, *, error_only: bool = False):
        self.pid = pid
        self.control = control
        self.events = events
        self.error_only = error_only
        self.started = time.monotonic()
        self.ok: bool | None = None  # set when loaded
        self.draining = threading.Event()
        self.exit_status: int | None = None
        threading.Thread(target=self._read, name=f"worker-{pid}", daemon=True).start()

    def __repr__(self) -> str:
        return f"worker {self.pid}"

    def _read(self) -> None:
        try:
            while message := self.control.recv(256):
                word = message.decode()
                if word in (protocol.LOADED_OK, protocol.LOADED_ERROR):
                    self.ok = word == protocol.LOADED_OK
                    self.events.put(("loaded", self))
                elif word == protocol.DRAINING:
                    self.draining.set()
        except OSError:
            pass
        self.events.put(("gone", self))

    def send(self, word: str, channel: socket.socket | None = None) -> None:
        """One word, with a hand-over channel's end riding along when given."""
        try:
            socket.send_fds(self.control, [word.encode()], [channel.fileno()] if channel else [])
        except OSError:
            pass  # already gone: its reader reports that

    def signal_group(self, signum: int) -> None:
        """Signal the worker and everything it started (its process group)."""
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        self.control.close()


def child_env(listener: socket.socket, control: socket.socket, env: dict[str, str]) -> dict[str, str]:
    """The environment of a process started by the supervisor: ours, the settings, the two descriptors."""
    return {**os.environ, **env,
            protocol.LISTEN_FD_ENV: str(listener.fileno()),
            protocol.CONTROL_FD_ENV: str(control.fileno()),

            "PYTHONPATH": os.pathsep.join(filter(None, [SCRIPTS_DIR, os.environ.get("PYTHONPATH")]))}


def start_child(module: str, listener: socket.socket, control: socket.socket, env: dict[str, str]) -> int:
    """Start `python -m module` with the listening socket and its end of a control socket; returns its pid.

    It leads a new session: its own process group, and Ctrl-C in a terminal reaches only the supervisor.
    """
    process = subprocess.Popen([sys.executable, "-m", module], env=child_env(listener, control, env),
                               pass_fds=(listener.fileno(), control.fileno()), start_new_session=True,
                               cwd=root if os.path.isdir(root := os.environ[protocol.ROOT_ENV]) else "/")
    control.close()  # the child's end, now the child's alone
    # The supervisor reaps every child itself (it may be PID 1), so Popen must not wait for this one.
    process.returncode = 0
    return process.pid


def spawn(listener: socket.socket, env: dict[str, str], events: SimpleQueue, *, error: str | None = None) -> Worker:
    """A fresh interpreter running devserver.worker, with the listening socket and a control socket."""
    ours, theirs = protocol.control_pair()
    pid = start_child("devserver.worker", listener, theirs, {**env, protocol.ERROR_ENV: error} if error else env)
    return Worker(pid, ours, events, error_only=bool(error))


def reap() -> dict[int, int]:
    """Collect every exited child (PID 1's duty in a container); returns pid -> exit status."""
    statuses = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        statuses[pid] = os.waitstatus_to_exitcode(status)
    return statuses


def describe_exit(status: int | None) -> str:
    if status is None:
        return "exited"
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"
