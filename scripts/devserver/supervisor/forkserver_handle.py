"""The supervisor's handle on the fork server process (forkserver/main.py): start it, ask it for workers.

Nothing here waits for it. A fork asked before it has preloaded waits in its socket, and its
answer (the worker's pid) reaches the worker's handle from this handle's reader thread.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections import deque
from pathlib import Path
from queue import SimpleQueue

from devserver import processes, protocol
from devserver.protocol import ForkServerWords
from devserver.supervisor.children import STATUS_WAIT, start_child, start_thread
from devserver.supervisor.reaper import Reaper
from devserver.supervisor.worker_handle import FORK_TIMEOUT, WorkerHandle

READY_TIMEOUT = 15.0  # importing the preloaded packages, on a slow machine


class ForkServerHandle:
    """One fork server process. `ready` once it has preloaded; `closed` once it forks no more (its
    control socket closed: retired, or dying); `exited` once the process has exited. `failure` says
    which PRELOAD module it could not import."""

    def __init__(self, listener: socket.socket, env: dict[str, str], reaper: Reaper, learned: list[str] = ()):
        self.listener = listener
        self.env = env
        self.reaper = reaper
        self.pid: int | None = None
        self.ready = threading.Event()
        self.closed = threading.Event()
        self.exited = threading.Event()
        self.failure: str | None = None
        self.learned = list(learned)  # the learned modules it is asked to preload (listed in env's file)
        self.left_out: dict[str, str] = {}  # those it could not, and why
        self.importing: str | None = None  # the learned module it was importing when last heard of
        self.exit_status: int | None = None
        self.heard_ready = False  # the launcher has taken in what it preloaded
        self.lock = threading.Lock()
        self.awaiting: deque[WorkerHandle] = deque()  # forks asked for, in order, not answered yet
        self.control: socket.socket | None = None

    def start(self) -> ForkServerHandle:
        self.control, theirs = protocol.control_pair()
        try:
            self.pid, status_fd = start_child("devserver.forkserver", self.listener, theirs, self.env, self.reaper)
        except BaseException:
            self.control.close()
            raise
        process_fd = processes.pidfd(self.pid)
        try:
            start_thread(threading.Thread(target=self._read, args=(process_fd, status_fd), name="forkserver",
                                          daemon=True))
        except OSError:
            processes.signal_group(self.pid, signal.SIGKILL)  # nobody would hear it: it must not run
            for fd in (process_fd, status_fd):
                if fd not in (None, processes.PROCESS_GONE):
                    processes.close_quietly(fd)
            self.control.close()
            raise
        return self

    def __repr__(self) -> str:
        return f"fork server {self.pid}"

    def _read(self, process_fd: int | None, status_fd: int) -> None:
        processes.follow(self.control, process_fd, self._heard, self._closed, size=protocol.MAX_MESSAGE)
        with self.lock:
            self.control.close()
        # Without a pidfd the channel's close is all there is, and a retired fork server closes it long
        # before it exits: its status (written by the reaper, or EOF if that cannot be) is the exit.
        self.exit_status = processes.read_status(status_fd, STATUS_WAIT if process_fd is not None else None)
        listing = self.env.get(protocol.PRELOAD_LEARNED_ENV)
        if listing:  # it reads and deletes its list; one killed before it did must not leave the file behind
            Path(listing).unlink(missing_ok=True)
        self.exited.set()

    def _heard(self, message: bytes) -> None:
        word, _, rest = message.decode().partition(" ")
        if word == ForkServerWords.READY:
            self.importing = None
            self.ready.set()
        elif word in (ForkServerWords.FORKED, ForkServerWords.FORK_FAILED):
            with self.lock:
                worker = self.awaiting.popleft() if self.awaiting else None
            if worker is not None and word == ForkServerWords.FORKED:
                worker.forked(int(rest))
            elif worker is not None:
                code, _, text = rest.partition(" ")
                worker.not_forked(f"fork() failed: {text}", refused=OSError(int(code), text))
        elif word == ForkServerWords.PRELOAD_FAILED:
            self.failure = rest
        elif word in (ForkServerWords.LEFT_OUT, ForkServerWords.UNSAFE):
            name, _, why = rest.partition(": ")
            self.left_out[name] = why
            self.importing = None
        elif word == ForkServerWords.IMPORTING:
            self.importing = rest

    def _closed(self) -> None:
        """It forks no more: the forks still awaited never will be."""
        with self.lock:
            self.closed.set()
            awaiting, self.awaiting = list(self.awaiting), deque()
        for worker in awaiting:
            worker.not_forked(f"the {self} {'could not preload ' + self.failure if self.failure else 'stopped'}")

    def fork(self, error: str | None, events: SimpleQueue) -> WorkerHandle:
        """Ask for a new worker; its handle learns its pid when the fork server answers. The fork server
        reaps the worker and writes its exit status into the pipe whose write end rides along."""
        ours, theirs = protocol.control_pair()
        try:
            status_r, status_w = os.pipe()
        except OSError:
            ours.close()
            theirs.close()
            raise
        word = f"{ForkServerWords.FORK_ERROR} {error}" if error else ForkServerWords.FORK
        worker = WorkerHandle(ours, status_r, events, error=error, origin=self,
                              fork_deadline=FORK_TIMEOUT + (0 if self.ready.is_set() else READY_TIMEOUT))
        try:
            worker.start()  # first: a thread that cannot start must not leave a worker forked for nobody
        except OSError:
            theirs.close()
            os.close(status_w)
            raise
        try:
            with self.lock:
                asked = not self.closed.is_set() and protocol.send(self.control, word, [theirs.fileno(), status_w])
                if asked:
                    self.awaiting.append(worker)
        finally:
            theirs.close()
            os.close(status_w)  # the fork server's copy is the one that counts
        if not asked:
            worker.not_forked(f"the {self} stopped")
        return worker

    def stop(self) -> None:
        """Retire it: it forks no more, and stays only until the workers it forked have exited and
        their statuses are written. One still preloading has none, and is killed."""
        if self.control is not None:
            # End of input for it, our reading end left open: close() would send nothing while the
            # reader thread is blocked in select on it. The reader hears the close when it exits.
            try:
                self.control.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # gone already
        if self.pid is not None and not self.ready.is_set():
            processes.signal_group(self.pid, signal.SIGKILL)

    def kill(self) -> None:
        """The server is stopping and its workers are gone: a fork server that is stuck (SIGSTOP) goes too."""
        if self.pid is not None and not self.exited.is_set():
            processes.signal_group(self.pid, signal.SIGKILL)
