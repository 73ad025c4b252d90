"""What the supervisor needs of its collaborators: a worker, a launcher, an installer.

Declared once, so the real classes (worker_handle, launcher, installer) and the tests' fakes
(scripts/tests/devserver_fakes.py) answer to the same list, and a test says when one of them
lacks a part.
"""

from __future__ import annotations

import socket
import threading
from typing import Protocol


class Worker(Protocol):
    pid: int | None
    started: float
    error: str | None
    error_only: bool
    loaded: bool
    serves_app: bool
    draining: threading.Event
    exit_status: int | None
    start_failure: str | None
    fork_refused: OSError | None
    imported: set[str]

    def send(self, word: str, channel: socket.socket | None = None) -> None: ...
    def signal_group(self, signum: int) -> None: ...
    def close(self) -> None: ...


class Launcher(Protocol):
    mode: str
    preload: bool

    def start(self) -> None: ...
    def launch(self, error: str | None = None, fresh: bool = False) -> Worker: ...
    def launch_again(self, worker: Worker) -> Worker: ...
    def rebuild(self, why: str, dependencies_changed: bool = False) -> None: ...
    def preload_next(self, imported: set[str]) -> None: ...
    def tend(self) -> None: ...
    def distrust_learned(self, why: str) -> bool: ...
    def verdict(self, loaded: bool) -> None: ...
    def pids(self) -> set[int]: ...
    def stop(self) -> None: ...
    def kill(self) -> None: ...


class Installer(Protocol):
    running: bool  # an install is under way (the real one's is a property)

    def installs(self, path: str) -> bool: ...
    def request(self) -> None: ...
    def stop(self) -> None: ...
    def kill(self) -> None: ...


def missing(role: type, implementation: type) -> list[str]:
    """The parts of `role` that `implementation` (a class) lacks: methods, properties, attributes set
    in its __init__ (found by name in its source, as annotations alone do not say)."""
    import inspect

    source = inspect.getsource(implementation)
    names = {name for name in dir(role) if not name.startswith("_")} | set(getattr(role, "__annotations__", {}))
    return sorted(name for name in names if not hasattr(implementation, name) and f"self.{name}" not in source)
