"""What the host tests share: a real dev server process on a copy of the project, and polling."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

from devserver.protocol import ENV_FILE_READ_ENV
from devserver.settings import SETTINGS_ENV, VARIABLES

ROOT = Path(__file__).resolve().parents[2]  # the project: scripts/tests/ is two levels down
# The app these tests serve, never the user's app/ (see apps/README.md).
TEST_APP = Path(__file__).resolve().parent / "apps" / "kiosk"


# Variables the server reads: a test sets each it needs, none leaks in from the caller's shell.
CONFIG_VARIABLES = VARIABLES | {ENV_FILE_READ_ENV, SETTINGS_ENV}


def wait_for(predicate, timeout: float, interval: float = 0.02, message: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last one
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last error: {last_error!r})")


class Polling:
    """Clients asking `url` without pause for as long as the block lasts: a browser tab (`True`: one
    kept-alive session) or a script (`False`: a new connection per request) each. `statuses` has every
    answer's status, -1 for a request that got none."""

    def __init__(self, url: str, keep_alive: tuple[bool, ...] = (True, True), pause_after_failure: float = 0.0):
        self.url = url
        self.pause_after_failure = pause_after_failure
        self.statuses: list[int] = []
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._poll, args=(keep,)) for keep in keep_alive]

    def _poll(self, keep_alive: bool) -> None:
        session = requests.Session() if keep_alive else requests
        while not self.done.is_set():
            try:
                self.statuses.append(session.get(self.url, timeout=10).status_code)
            except requests.RequestException:
                self.statuses.append(-1)
                time.sleep(self.pause_after_failure)

    def counts(self) -> dict[int, int]:
        return {status: self.statuses.count(status) for status in set(self.statuses)}

    def __enter__(self) -> Polling:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join(15)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_project(dest: Path) -> Path:
    """The dev server and the test app (as kiosk/), copied so a test may edit them."""
    shutil.copytree(ROOT / "scripts", dest / "scripts", ignore=shutil.ignore_patterns("__pycache__", "tests"))
    shutil.copytree(TEST_APP, dest / "kiosk", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def processes_with_marker(marker: str) -> list[int]:
    """PIDs whose environment carries the marker: every process a server started, at any depth."""
    found = []
    needle = f"DEVSERVER_TEST_ID={marker}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def process_table() -> dict[int, tuple[str, str, int]]:
    """pid -> (command name, state letter, parent pid), read from /proc/*/stat."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited while we looked
            name, rest = stat.split(" (", 1)[1].rsplit(")", 1)
            fields = rest.split()
            table[int(entry.name)] = (name, fields[0], int(fields[1]))
    return table


class DevServer:
    """`python scripts/entrypoint.py` on a project copy, with its log in a file."""

    def __init__(self, project: Path, **env: str):
        self.project = project
        self.port = int(env.pop("PORT", 0)) or free_port()
        self.marker = uuid.uuid4().hex
        inherited = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
        # LIVE_INSTALL=0: these servers run in the tests' own environment, which no test may install into
        # (the live installs are tested in the dev container: docker/test_live_install.py).
        self.env = {**inherited, "PORT": str(self.port), "DEVSERVER_TEST_ID": self.marker,
                    "PYTHONUNBUFFERED": "1", "FLASK_APP": "kiosk", "LIVE_INSTALL": "0", **env}
        # Beside the project, not in it: a test may delete the whole project directory.
        self.log_path = project.with_name(f"{project.name}.{self.port}.log")
        self.process: subprocess.Popen | None = None
        self.process_prefix: list[str] = []  # e.g. unshare, to run the server as PID 1
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> DevServer:
        self.log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen([*self.process_prefix, sys.executable,
                                         str(self.project / "scripts" / "entrypoint.py")],
                                        env=self.env, stdout=self.log_file, stderr=subprocess.STDOUT,
                                        cwd="/")  # any directory works: it finds the project itself
        if wait:
            self.wait_serving()
        return self

    def wait_serving(self, timeout: float = 20) -> None:
        wait_for(lambda: "serving " in self.log() or self.process.poll() is not None, timeout, message="start")
        assert self.process.poll() is None, f"server exited early:\n{self.log()}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=kwargs.pop("timeout", 10), **kwargs)

    def worker_pid(self) -> int:
        return self.get("/pid").json()["pid"]

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.project / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1))

    def append(self, relative: str, text: str) -> None:
        """Add to a file (before start(): part of the app from the first worker on)."""
        with open(self.project / relative, "a") as f:
            f.write(text)

    def wait_reloads(self, count: int, timeout: float = 15) -> None:
        wait_for(lambda: self.log().count("reloaded in") + self.log().count("the app failed to load") >= count,
                 timeout, message=f"{count} reload(s)")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"server did not stop within {timeout}s:\n{self.log()}") from None
        self.log_file.close()
        return self.process.returncode

    def kill_leftovers(self) -> list[str]:
        """Processes of this server still alive shortly after it stopped (then killed)."""
        try:
            wait_for(lambda: not processes_with_marker(self.marker), 3, 0.05, "no process left")
        except AssertionError:
            pass
        leftovers = processes_with_marker(self.marker)
        described = []
        for pid in leftovers:
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                described.append(f"{pid} {command[:160]}")
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, OSError):
                pass
        return described


def run_entrypoint(project: Path, *command: str, timeout: float = 20, **env: str) -> subprocess.CompletedProcess:
    """Run the entrypoint to completion (for start-up refusals), or the `command` it is given."""
    inherited = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    full_env = {**inherited, "PYTHONUNBUFFERED": "1", "FLASK_APP": "kiosk", **env}
    return subprocess.run([sys.executable, str(project / "scripts" / "entrypoint.py"), *command], env=full_env,
                          capture_output=True, text=True, timeout=timeout)
