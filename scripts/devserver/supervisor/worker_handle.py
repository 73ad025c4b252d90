"""The supervisor's handle on one worker process: start it, talk to it, hear how it ended.

Each worker leads its own process group (a new session), so anything the app starts
(a subprocess, a forked helper) is ended with it and nothing outlives a reload. Its
control socket closing is how the supervisor learns it is gone; its exit status then
comes through its own status pipe, written by whoever reaped it.
"""

from __future__ import annotations

import socket
import threading
import time
from queue import SimpleQueue

from devserver import processes, protocol
from devserver.protocol import Event, WorkerWords
from devserver.supervisor.children import STATUS_WAIT, start_child
from devserver.supervisor.reaper import Reaper


class WorkerHandle:
    """A worker process. Its words become events on the supervisor's queue: (LOADED, handle) when it
    has loaded (`serves_app` says whether the app or its error), (GONE, handle) when it has exited
    (`exit_status` then set, None if never reported)."""

    def __init__(self, pid: int, control: socket.socket, status_fd: int, events: SimpleQueue, *,
                 error_only: bool = False):
        self.pid = pid
        self.control = control
        self.status_fd = status_fd
        self.events = events
        self.error_only = error_only
        self.started = time.monotonic()
        self.loaded = False
        self.serves_app = False  # once loaded: the app (True) or the page with its error (False)
        self.draining = threading.Event()
        self.exit_status: int | None = None
        self.imported: set[str] = set()  # modules from outside the project its app's import added
        self.reader = threading.Thread(target=self._read, name=f"worker-{pid}", daemon=True)

    def start(self) -> WorkerHandle:
        self.reader.start()
        return self

    def __repr__(self) -> str:
        return f"worker {self.pid}"

    def _read(self) -> None:
        try:
            while message := self.control.recv(protocol.MAX_MESSAGE):
                word, _, rest = message.decode().partition(" ")
                if word == WorkerWords.IMPORTED:
                    self.imported |= set(rest.split(","))
                elif word == WorkerWords.DRAINING:
                    self.draining.set()
                elif message.decode() in (WorkerWords.LOADED_OK, WorkerWords.LOADED_ERROR):
                    self.serves_app = message.decode() == WorkerWords.LOADED_OK
                    self.loaded = True
                    self.events.put((Event.LOADED, self))
        except OSError:
            pass
        self.exit_status = processes.read_status(self.status_fd, STATUS_WAIT)
        self.events.put((Event.GONE, self))

    def send(self, word: str, channel: socket.socket | None = None) -> None:
        """One word, with a hand-over channel's end riding along when given."""
        protocol.send(self.control, word, [channel.fileno()] if channel else [])

    def signal_group(self, signum: int) -> None:
        """Signal the worker and everything it started (its process group)."""
        processes.signal_group(self.pid, signum)

    def close(self) -> None:
        self.control.close()


def spawn(listener: socket.socket, env: dict[str, str], events: SimpleQueue, reaper: Reaper, *,
          error: str | None = None) -> WorkerHandle:
    """A fresh interpreter running devserver.worker, with the listening socket and a control socket."""
    ours, theirs = protocol.control_pair()
    pid, status_fd = start_child("devserver.worker", listener, theirs,
                                 {**env, protocol.ERROR_ENV: error} if error else env, reaper)
    return WorkerHandle(pid, ours, status_fd, events, error_only=bool(error)).start()
