"""Reap every child of the supervisor, and write each known child's exit status into its status pipe.

The supervisor may be PID 1 in a container (and is a child subreaper everywhere on Linux),
so every process that ends under it must be reaped, or it stays a zombie. One thread waits
for them all; a child the supervisor started is registered with the write end of its own
status pipe, and its handle reads the status from the other end. Orphans the app left
behind are reaped and forgotten. So anything else the supervisor starts must be started
through children.popen_reaped (which holds `starting_child` while it starts and registers
the child) and read its status from its pipe: a plain subprocess.run() here would find its
child already reaped.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

from devserver.processes import write_status

IDLE_WAIT = 0.5  # seconds between looks when there is no child: one may be adopted (subreaper)


class Reaper:
    def __init__(self):
        self.lock = threading.Lock()
        self.status_pipes: dict[int, int] = {}  # pid -> write end of its status pipe
        self.children_started = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="reaper", daemon=True)

    def start(self) -> Reaper:
        self.thread.start()
        return self

    @contextmanager
    def starting_child(self):
        """Hold while starting a child and registering it: the child cannot be reaped in between."""
        with self.lock:
            yield self._register
        self.children_started.set()

    def _register(self, pid: int, status_fd: int) -> None:
        self.status_pipes[pid] = status_fd

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread once no child is left (in a test's process: it would reap every later child)."""
        self.stopping = True
        self.children_started.set()
        self.thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                if self.stopping:
                    return
                self.children_started.wait(IDLE_WAIT)
                self.children_started.clear()
                continue
            with self.lock:
                status_fd = self.status_pipes.pop(pid, None)
            if status_fd is not None:
                write_status(status_fd, os.waitstatus_to_exitcode(status))
