"""How the supervisor gets a new worker: forked from the preloaded fork server, or spawned fresh.

Forking is the fast path (tens of ms instead of ~0.5 s). Spawning is the fallback,
with the same behaviour apart from speed: when PRELOAD=0, on a platform without
fork, when a PRELOAD module fails to import, or when the fork server died and
could not be rebuilt in time. A dead fork server is rebuilt and the reload still happens.
"""

from __future__ import annotations

import os
import socket
from queue import SimpleQueue

from devserver import protocol
from devserver.log import say
from devserver.processes import describe_exit
from devserver.supervisor.forkserver_handle import ForkServerGone, ForkServerHandle
from devserver.supervisor.reaper import Reaper
from devserver.supervisor.worker_handle import WorkerHandle, spawn


class Launcher:
    def __init__(self, listener: socket.socket, env: dict[str, str], events: SimpleQueue, reaper: Reaper, *,
                 preload: bool, preload_modules: tuple[str, ...]):
        self.listener = listener
        self.env = {**env, protocol.PRELOAD_MODULES_ENV: ",".join(preload_modules)}
        self.events = events
        self.reaper = reaper
        self.preload = preload and hasattr(os, "fork")
        self.forkserver: ForkServerHandle | None = None

    @property
    def mode(self) -> str:
        return "preloaded fork" if self.preload else "fresh interpreter"

    def start(self) -> None:
        """Start the fork server (the first launch waits until it has preloaded)."""
        if self.preload:
            self.forkserver = ForkServerHandle(self.listener, self.env, self.reaper).start()

    def rebuild(self, why: str) -> None:
        if not self.preload:
            return
        if self.forkserver:
            self.forkserver.stop()
        say(f"rebuilding the preloaded fork server: {why}")
        self.forkserver = ForkServerHandle(self.listener, self.env, self.reaper).start()

    def launch(self, error: str | None = None) -> WorkerHandle:
        forkserver = self._usable_forkserver()
        if forkserver is not None:
            try:
                pid, control, status_fd = forkserver.fork(error)
                return WorkerHandle(pid, control, status_fd, self.events, error_only=bool(error)).start()
            except ForkServerGone:
                say("the fork server did not answer: starting this worker the plain way")
                self.rebuild("it stopped answering")
        return spawn(self.listener, self.env, self.events, self.reaper, error=error)

    def _usable_forkserver(self) -> ForkServerHandle | None:
        if not self.preload or self.forkserver is None:
            return None
        if self.forkserver.dead.is_set() and not self.forkserver.failure:
            self.rebuild(f"it {describe_exit(self.forkserver.exit_status)}")
        if not self.forkserver.ready.is_set():
            if not self.forkserver.wait_ready():
                if self.forkserver.failure:
                    say(f"error: PRELOAD could not import {self.forkserver.failure}; preloading is off "
                        "until the next start (fix PRELOAD, or set PRELOAD=0)")
                    self.preload = False
                return None
        return self.forkserver

    def pids(self) -> set[int]:
        """The fork server's, if there is one: a child of ours that is not a worker."""
        return {self.forkserver.pid} if self.forkserver else set()

    def stop(self) -> None:
        if self.forkserver:
            self.forkserver.stop()
