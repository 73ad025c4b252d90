"""The supervisor's handle on one worker process: start it, talk to it, hear how it ended.

Each worker leads its own process group (a new session), so anything the app starts
(a subprocess, a forked helper) is ended with it and nothing outlives a reload. The worker
is gone when the process has exited (its pidfd says so), not when its control socket
closes: a process the app forked holds a copy of that socket. Its exit status then comes
through its own status pipe, written by whoever reaped it.

A worker asked of the fork server has no pid until the fork server answers: the request
waits in the fork server's socket while it preloads, so nothing here waits for it.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from queue import SimpleQueue

from devserver import processes, protocol
from devserver.protocol import Event, WorkerWords
from devserver.supervisor.children import STATUS_WAIT, start_child, start_thread
from devserver.supervisor.reaper import Reaper

FORK_TIMEOUT = 5.0  # seconds a ready fork server may take to answer a fork


class WorkerHandle:
    """A worker process. Its words become events on the supervisor's queue: (LOADED, handle) when it
    has loaded (`serves_app` says whether the app or its error), (DRAINING, handle) when it stopped
    accepting, (GONE, handle) when it has exited (`exit_status` then set, None if never reported),
    or when it never started (`start_failure` says why; `fork_refused`: fork() failed in the fork server)."""

    def __init__(self, control: socket.socket, status_fd: int, events: SimpleQueue, *, pid: int | None = None,
                 error: str | None = None, fork_deadline: float = FORK_TIMEOUT, origin: object = None):
        self.pid = pid
        self.control = control
        self.status_fd = status_fd
        self.events = events
        self.error = error  # the error page it serves instead of loading the app (protocol.error_page)
        self.origin = origin  # the fork server asked for it (None: spawned)
        self.fork_deadline = fork_deadline
        self.started = time.monotonic()
        self.loaded = False
        self.serves_app = False  # once loaded: the app (True) or the page with its error (False)
        self.draining = threading.Event()
        self.exit_status: int | None = None
        self.start_failure: str | None = None
        self.fork_refused: OSError | None = None
        self.imported: set[str] = set()  # modules from outside the project its app's import added
        self.lock = threading.Lock()
        self.has_pid = threading.Event()  # forked, or never will be
        self.abandoned = False
        self.signal_when_forked: int | None = None
        if pid is not None:
            self.has_pid.set()
        self.reader = threading.Thread(target=self._read, name=f"worker-{pid}", daemon=True)

    def start(self) -> WorkerHandle:
        """Start hearing it (raises OSError when no thread can start: then nothing of it is left open)."""
        try:
            start_thread(self.reader)
        except OSError:
            self.close()
            processes.close_quietly(self.status_fd)
            raise
        return self

    @property
    def error_only(self) -> bool:
        """It serves only an error page (never loads the app)."""
        return bool(self.error)

    def __repr__(self) -> str:
        return f"worker {self.pid}" if self.pid is not None else "a worker not forked yet"

    # -- the fork server's answer ------------------------------------------------------------
    def forked(self, pid: int) -> None:
        with self.lock:
            self.pid = pid
            signum = signal.SIGKILL if self.abandoned else self.signal_when_forked
            self.has_pid.set()
        if signum is not None:
            processes.signal_group(pid, signum)

    def not_forked(self, why: str, refused: OSError | None = None) -> None:
        with self.lock:
            if self.pid is None and self.start_failure is None:
                self.start_failure, self.fork_refused = why, refused
                self.abandoned = True  # a FORKED after all, late, is killed at once
            self.has_pid.set()

    # -- its life -----------------------------------------------------------------------------
    def _read(self) -> None:
        if not self.has_pid.wait(self.fork_deadline):
            self.not_forked("the fork server did not answer")
        with self.lock:
            self.abandoned = self.pid is None  # one forked after all, late, is killed at once
        if self.pid is None:
            self._gone()
            return
        process_fd = processes.pidfd(self.pid)
        processes.follow(self.control, process_fd, self._heard, size=protocol.MAX_MESSAGE)
        # Without a pidfd, the close of its channel is no proof of its exit: its status is.
        self.exit_status = processes.read_status(self.status_fd, STATUS_WAIT if process_fd is not None else None)
        self.status_fd = None
        self._gone()

    def _heard(self, message: bytes) -> None:
        word, _, rest = message.decode().partition(" ")
        if word == WorkerWords.IMPORTED:
            self.imported |= set(rest.split(","))
        elif word == WorkerWords.DRAINING:
            self.draining.set()
            self.events.put((Event.DRAINING, self))
        elif word in (WorkerWords.LOADED_OK, WorkerWords.LOADED_ERROR):
            self.serves_app = word == WorkerWords.LOADED_OK
            self.loaded = True
            self.events.put((Event.LOADED, self))

    def _gone(self) -> None:
        if self.status_fd is not None:
            processes.close_quietly(self.status_fd)
            self.status_fd = None
        self.events.put((Event.GONE, self))

    def send(self, word: str, channel: socket.socket | None = None) -> None:
        """One word, with a hand-over channel's end riding along when given."""
        protocol.send(self.control, word, [channel.fileno()] if channel else [])

    def signal_group(self, signum: int) -> None:
        """Signal the worker and everything it started (its process group); one not forked yet gets it
        once it is (SIGKILL: it is given up, and ends as soon as it is known)."""
        with self.lock:
            if self.pid is None:
                self.signal_when_forked = signum
                if signum == signal.SIGKILL:
                    self.abandoned = True
                    self.has_pid.set()  # nothing to wait for: it is gone as far as we are concerned
                return
        processes.signal_group(self.pid, signum)

    def close(self) -> None:
        self.control.close()


def spawn(listener: socket.socket, env: dict[str, str], events: SimpleQueue, reaper: Reaper, *,
          error: str | None = None) -> WorkerHandle:
    """A fresh interpreter running devserver.worker, with the listening socket and a control socket."""
    ours, theirs = protocol.control_pair()
    try:
        pid, status_fd = start_child("devserver.worker", listener, theirs,
                                     {**env, protocol.ERROR_ENV: error} if error else env, reaper)
    except BaseException:
        ours.close()
        raise
    return WorkerHandle(ours, status_fd, events, pid=pid, error=error).start()
