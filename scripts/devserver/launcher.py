"""How the supervisor gets a new worker: forked from the preloaded fork server, or spawned fresh.

Forking is the fast path (tens of ms instead of ~0.5 s). Spawning is the fallback,
with the same behaviour apart from speed: when PRELOAD=0, on a platform without
fork, when a PRELOAD module fails to import, or when the fork server died and
could not be rebuilt in time. A dead fork server is rebuilt and the reload still happens.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from queue import Empty, SimpleQueue

from devserver import protocol
from devserver.log import say
from devserver.workers import Worker, reap, spawn, start_child

READY_TIMEOUT = 15.0  # importing the preloaded packages, on a slow machine
FORK_TIMEOUT = 5.0
STATUS_WAIT = 0.3  # a forked worker's exit status comes from the fork server, just after its socket closes


class ForkServerGone(Exception):
    pass


class ForkServer:
    """The supervisor's handle on one fork server process."""

    def __init__(self, listener: socket.socket, env: dict[str, str], statuses: dict[int, int]):
        self.statuses = statuses
        self.ready = threading.Event()
        self.dead = threading.Event()
        self.failure: str | None = None
        self.replies: SimpleQueue = SimpleQueue()
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.pid = start_child("devserver.forkserver", listener, theirs, env)
        threading.Thread(target=self._read, name="forkserver", daemon=True).start()

    def _read(self) -> None:
        try:
            while message := self.control.recv(4096):
                for line in message.decode().splitlines():
                    word, _, rest = line.partition(" ")
                    if word == "ready":
                        self.ready.set()
                    elif word == "forked":
                        self.replies.put(int(rest))
                    elif word == "exit":
                        pid, status = rest.split()
                        self.statuses[int(pid)] = int(status)
                    elif word == "preload-failed":
                        self.failure = rest
        except OSError:
            pass
        self.dead.set()
        self.replies.put(None)

    def wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.ready.is_set() and not self.dead.is_set() and time.monotonic() < deadline:
            self.ready.wait(0.05)
        return self.ready.is_set() and not self.dead.is_set()

    def fork(self, error: str | None) -> tuple[int, socket.socket]:
        ours, theirs = protocol.control_pair()
        message = f"fork-error {error}" if error else "fork"
        try:
            socket.send_fds(self.control, [message.encode()], [theirs.fileno()])
            pid = self.replies.get(timeout=FORK_TIMEOUT)
        except (OSError, Empty):
            pid = None
        finally:
            theirs.close()
        if pid is None:
            ours.close()
            raise ForkServerGone
        return pid, ours

    def stop(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.control.close()


class Launcher:
    def __init__(self, listener: socket.socket, env: dict[str, str], events: SimpleQueue, *,
                 preload: bool, preload_modules: tuple[str, ...]):
        self.listener = listener
        self.env = {**env, protocol.PRELOAD_MODULES_ENV: ",".join(preload_modules)}
        self.events = events
        self.preload = preload and hasattr(os, "fork")
        self.statuses: dict[int, int] = {}
        self.server: ForkServer | None = None

    @property
    def mode(self) -> str:
        return "preloaded fork" if self.preload else "fresh interpreter"

    def start(self) -> None:
        """Start the fork server (the first launch waits until it has preloaded)."""
        if self.preload:
            self.server = ForkServer(self.listener, self.env, self.statuses)

    def rebuild(self, why: str) -> None:
        if not self.preload:
            return
        if self.server:
            self.server.stop()
        say(f"rebuilding the preloaded fork server: {why}")
        self.server = ForkServer(self.listener, self.env, self.statuses)

    def launch(self, error: str | None = None) -> Worker:
        server = self._usable_server()
        if server is not None:
            try:
                pid, control = server.fork(error)
                return Worker(pid, control, self.events, error_only=bool(error))
            except ForkServerGone:
                say("the fork server did not answer: starting this worker the plain way")
                self.rebuild("it stopped answering")
        return spawn(self.listener, self.env, self.events, error=error)

    def _usable_server(self) -> ForkServer | None:
        if not self.preload or self.server is None:
            return None
        if self.server.dead.is_set() and not self.server.failure:
            self.rebuild("it died")
        if not self.server.ready.is_set():
            if not self.server.wait_ready():
                if self.server.failure:
                    say(f"error: PRELOAD could not import {self.server.failure}; preloading is off "
                        "until the next start (fix PRELOAD, or set PRELOAD=0)")
                    self.preload = False
                return None
        return self.server

    def exit_status(self, worker: Worker) -> int | None:
        """The worker's exit status: its socket closes just before the status can be had
        (reaped here, or reported by the fork server), so wait for it briefly."""
        deadline = time.monotonic() + STATUS_WAIT
        while worker.pid not in self.statuses and time.monotonic() < deadline:
            self.statuses.update(reap())
            time.sleep(0.005)
        return self.statuses.pop(worker.pid, None)

    def pids(self) -> set[int]:
        """The fork server's, if there is one: a child of ours that is not a worker."""
        return {self.server.pid} if self.server else set()

    def stop(self) -> None:
        if self.server:
            self.server.stop()
