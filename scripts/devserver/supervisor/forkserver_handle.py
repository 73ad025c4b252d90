"""The supervisor's handle on the fork server process (forkserver/main.py): start it, ask it for workers."""

from __future__ import annotations

import os
import signal
import socket
import threading
from queue import Empty, SimpleQueue

from devserver import processes, protocol
from devserver.protocol import ForkServerWords
from devserver.supervisor.children import STATUS_WAIT, start_child
from devserver.supervisor.reaper import Reaper

READY_TIMEOUT = 15.0  # importing the preloaded packages, on a slow machine
FORK_TIMEOUT = 5.0


class ForkServerGone(Exception):
    pass


class ForkServerHandle:
    """One fork server process. `ready` once it has preloaded, `dead` once its control socket closed;
    `failure` says which PRELOAD module it could not import."""

    def __init__(self, listener: socket.socket, env: dict[str, str], reaper: Reaper, learned: list[str] = ()):
        self.listener = listener
        self.env = env
        self.reaper = reaper
        self.pid: int | None = None
        self.ready = threading.Event()
        self.dead = threading.Event()  # its control socket closed
        self.settled = threading.Event()  # ready or dead, whichever came first
        self.failure: str | None = None
        self.learned = list(learned)  # the learned modules it is asked to preload (listed in env's file)
        self.left_out: dict[str, str] = {}  # those it could not, and why
        self.importing: str | None = None  # the learned module it was importing when last heard of
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
                if word == ForkServerWords.READY:
                    self.importing = None
                    self.ready.set()
                    self.settled.set()
                elif word == ForkServerWords.FORKED:
                    self.replies.put(int(rest))
                elif word == ForkServerWords.PRELOAD_FAILED:
                    self.failure = rest
                elif word in (ForkServerWords.LEFT_OUT, ForkServerWords.UNSAFE):
                    name, _, why = rest.partition(": ")
                    self.left_out[name] = why
                    self.importing = None
                elif word == ForkServerWords.IMPORTING:
                    self.importing = rest
        except OSError:
            pass
        self.control.close()
        self.dead.set()
        self.settled.set()
        self.replies.put(None)
        self.exit_status = processes.read_status(status_fd, STATUS_WAIT)

    def wait_ready(self) -> bool:
        """Wait until it has preloaded (True) or died, or READY_TIMEOUT passed (False)."""
        self.settled.wait(READY_TIMEOUT)
        return self.ready.is_set() and not self.dead.is_set()

    def fork(self, error: str | None) -> tuple[int, socket.socket, int]:
        """A new worker: its pid, the supervisor's end of its control socket, and the read end of its
        status pipe (the fork server reaps it and writes its exit status there)."""
        ours, theirs = protocol.control_pair()
        status_r, status_w = os.pipe()
        word = f"{ForkServerWords.FORK_ERROR} {error}" if error else ForkServerWords.FORK
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
        """Retire it: it forks no more, and stays only until the workers it forked have exited and
        their statuses are written. One still preloading has none, and is killed."""
        if self.control is not None:
            # End of input for it, our reading end left open: close() would send nothing while the
            # reader thread is blocked in recv (that holds the socket), and it would linger, forking
            # nothing, until the server stopped. The reader sees EOF when the process itself is gone.
            try:
                self.control.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # gone already
        if self.pid is not None and not self.ready.is_set():
            processes.signal_group(self.pid, signal.SIGKILL)
