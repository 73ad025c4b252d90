"""Stand-ins for the supervisor's collaborators, so its generation logic runs in-process, in milliseconds.

A FakeWorker is what WorkerHandle is to the supervisor (words sent, signals, loaded, gone) with
no process behind it; a FakeLauncher hands them out. Each declares the role it plays
(devserver/supervisor/roles.py), as the real ones answer to. The end-to-end tests run the real ones.
"""

from __future__ import annotations

import itertools
import signal
import socket
import threading
import time
from pathlib import Path
from queue import SimpleQueue

from devserver.protocol import Event, WorkerWords
from devserver.settings import load_settings
from devserver.supervisor import roles
from devserver.supervisor.supervisor import Supervisor

APPS = Path(__file__).resolve().parent / "apps"  # has kiosk/, the package FLASK_APP names here
pids = itertools.count(1000)


class FakeWorker(roles.Worker):
    def __init__(self, events: SimpleQueue, error: str | None):
        self.pid = next(pids)
        self.events = events
        self.error = error
        self.start_failure: str | None = None
        self.fork_refused: OSError | None = None
        self.started = time.monotonic()
        self.loaded = False
        self.serves_app = False
        self.draining = threading.Event()
        self.exit_status: int | None = None
        self.imported: set[str] = set()
        self.words: list[str] = []
        self.channels: list[object] = []
        self.signals: list[int] = []
        self.killed = False
        self.acknowledges = True  # DRAIN is acknowledged at once (False: the test says when, DRAINING)

    @property
    def error_only(self) -> bool:
        """It serves only an error page (never loads the app)."""
        return bool(self.error)

    def __repr__(self) -> str:
        return f"worker {self.pid}"

    def send(self, word: str, channel=None) -> None:
        word, _, self.detail = word.partition(" ")  # e.g. SERVE's generation
        self.words.append(word)
        self.channels.append(channel)
        if word == WorkerWords.STOP or word == WorkerWords.DRAIN and self.acknowledges:
            self.draining.set()
        if word == WorkerWords.STOP:
            self.events.put(self.exit(0))  # it has no request to finish

    def signal_group(self, signum: int) -> None:
        self.signals.append(signum)
        if signum == signal.SIGKILL and self.exit_status is None and not self.killed:
            self.killed = True
            self.events.put(self.exit(-signal.SIGKILL))  # as a real process would, soon after

    def close(self) -> None:
        pass

    # what the real worker would report
    def load(self, ok: bool = True) -> tuple[str, FakeWorker]:
        self.loaded, self.serves_app = True, ok and not self.error_only
        return Event.LOADED, self

    def exit(self, status: int | None = 0) -> tuple[str, FakeWorker]:
        self.exit_status = status
        return Event.GONE, self

    def never_forked(self, why: str = "the fork server stopped", refused: OSError | None = None):
        self.start_failure, self.fork_refused = why, refused
        return Event.GONE, self


class FakeLauncher(roles.Launcher):
    mode = "fake"
    preload = False

    def __init__(self, events: SimpleQueue):
        self.events = events
        self.launched: list[FakeWorker] = []
        self.rebuilt: list[str] = []
        self.learned: set[str] = set()
        self.refuse: OSError | None = None  # launch() raises it (EAGAIN, say)
        self.stopped = False

    def start(self) -> None:
        pass

    def launch(self, error: str | None = None, fresh: bool = False) -> FakeWorker:
        if self.refuse is not None:
            raise self.refuse
        worker = FakeWorker(self.events, error)
        worker.fresh = fresh
        self.launched.append(worker)
        return worker

    def launch_again(self, worker: FakeWorker) -> FakeWorker:
        if worker.fork_refused is not None:
            raise worker.fork_refused
        return self.launch(worker.error, fresh=True)

    def rebuild(self, why: str, dependencies_changed: bool = False) -> None:
        self.rebuilt.append(why)

    def preload_next(self, imported: set[str]) -> None:
        self.learned |= imported

    def tend(self) -> None:
        pass

    def distrust_learned(self, why: str) -> bool:
        return False

    def verdict(self, loaded: bool) -> None:
        pass

    def pids(self) -> set[int]:
        return set()

    def stop(self) -> None:
        self.stopped = True

    def kill(self) -> None:
        pass


class FakeInstaller(roles.Installer):
    """Counts the installs asked for; `running` as the test says."""

    def __init__(self):
        self.requests = 0
        self.running = False
        self.stopped = False

    def request(self) -> None:
        if not self.stopped:
            self.requests += 1
            self.running = True

    def stop(self) -> None:
        self.stopped = True  # a real install then ends: the test says when (running = False)

    def kill(self) -> None:
        self.running = False

    def installs(self, path: str) -> bool:
        return Path(path).name in ("requirements.txt", "requirements-test.txt")


def make_supervisor(root: Path = APPS, installer: FakeInstaller | None = None, **env: str) -> Supervisor:
    """A supervisor on fakes, with the settings `env` gives (FLASK_APP=kiosk unless said), not yet running."""
    settings = load_settings({"FLASK_APP": "kiosk", **env}, cwd=root)
    events: SimpleQueue = SimpleQueue()
    supervisor = Supervisor(settings, socket.socket(), launcher=FakeLauncher(events), events=events,
                            installer=installer)
    supervisor.root = root
    return supervisor


def handle(supervisor: Supervisor, event: tuple[str, object]) -> None:
    """One turn of the supervisor's loop, for this event (its own dispatch); a bug it caught fails the test."""
    supervisor.dispatch(*event)
    assert not supervisor.bugs_said, supervisor.bugs_said


def run_queued(supervisor: Supervisor, limit: int = 100) -> None:
    """Turns of the loop for what is queued (the fakes queue GONE on STOP), until it exits or nothing is left."""
    for _ in range(limit):
        if supervisor.exit_code is not None:
            return
        event = supervisor.next_event(0)
        if event[0] == Event.TICK and supervisor.phase != "stopping":
            return
        handle(supervisor, event)


KILL = signal.SIGKILL
