"""The supervisor's handle on the fork server process (forkserver/main.py): start it, ask it for workers."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from queue import Empty, SimpleQueue

from devserver import processes, protocol
from devserver.protocol import ForkServer as Words
from devserver.supervisor.reaper import Reaper
from devserver.supervisor.worker_handle import STATUS_WAIT, start_child

READY_TIMEOUT = 15.0  # importing the preloaded packages, on a slow machine
FORK_TIMEOUT = 5.0


class ForkServerGone(Exception):
    pass


class ForkServerHandle:
    """One fork server process. `ready` once it has preloaded, `dead` once its control socket closed;
    `failure` says which PRELOAD module it could not import."""

    def __init__(self, listener: socket.socket, env: dict[str, str], reaper: Reaper):
        self.listener = listener
        self.env = env
        self.reaper = reaper
        self.pid: int | None = None
        self.ready = threading.Event()
        self.dead = threading.Event()
        self.failure: str | None = None
        self.exit_status: int | None = None
        self.replies: SimpleQueue = SimpleQueue()
        self.control: socket.socket | None = None

    def start(self) -> ForkServerHandle:
        self.control, theirs = protocol.control_pair()
        self.pid, status_fd = start_child("devserver.forkserver", self.listener, theirs, self.env, self.reaper)
        threading.Thread(target=self._read, args=(status_fd,), name="forkserver", daemon=True).start()
        return self

    def _read(self, status_fd: int) -> None:
        try:
            while message := self.control.recv(4096):
                word, _, rest = message.decode().partition(" ")
                if word == Words.READY:
                    self.ready.set()
                elif word == Words.FORKED:
                    self.replies.put(int(rest))
                elif word == Words.PRELOAD_FAILED:
                    self.failure = rest
        except OSError:
            pass
        self.exit_status = processes.read_status(status_fd, STATUS_WAIT)
        self.dead.set()
        self.replies.put(None)

    def wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.ready.is_set() and not self.dead.is_set() and time.monotonic() < deadline:
            self.ready.wait(0.05)
        return self.ready.is_set() and not self.dead.is_set()

    def fork(self, error: str | None) -> tuple[int, socket.socket, int]:
        """A new worker: its pid, the supervisor's end of its control socket, and the read end of its
        status pipe (the fork server reaps it and writes its exit status there)."""
        ours, theirs = protocol.control_pair()
        status_r, status_w = os.pipe()
        word = f"{Words.FORK_ERROR} {error}" if error else Words.FORK
        try:
            pid = self.replies.get(timeout=FORK_TIMEOUT) if protocol.send(
                self.control, word, [theirs.fileno(), status_w]) else None
        except Empty:
            pid = None
        finally:
            theirs.close()
            os.close(status_w)  # the fork server's copy is the one that counts
        if pid is None:
            ours.close()
            os.close(status_r)
            raise ForkServerGone
        return pid, ours, status_r

    def stop(self) -> None:
        if self.pid is not None:
            processes.signal_group(self.pid, signal.SIGKILL)
        if self.control is not None:
            self.control.close()
