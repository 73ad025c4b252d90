"""Live installs: a changed requirements file is installed into the environment the workers run in.

The environment records what it was installed from: copies of the requirement files in
`<venv>/installed-from/` (the dev image's build and `make install` put them there). A file of the
project that differs from its copy is installed with uv (pip where there is no uv) into this very
environment, in a thread, while the old workers keep serving; the supervisor hears the outcome as
one event (Event.INSTALLED) and reloads once, or says why not. Nothing is uninstalled: a line
removed from a file leaves its package in place, which breaks nothing.

Why by hand: no installer watches a requirements file, and compose's `develop.watch` rebuild
replaces the whole container (seconds, a gap in serving) where installing one package takes less.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devserver.supervisor.children import run_command
from devserver.supervisor.reaper import Reaper

RECORD_DIR = "installed-from"  # in the environment's prefix: the requirement files it was installed from
INSTALL_TIMEOUT = 900.0  # seconds: a build from source on a slow network, at most
UV_CHANGE = re.compile(r"^ ([-+~]) (\S+)", re.M)  # uv's " + humanize==4.17.0" lines (" (from git+...)" may follow)
PIP_INSTALLED = re.compile(r"^Successfully installed (.+)$", re.M)


@dataclass
class Installed:
    """How an install went: `ok`, what was added or upgraded (`name==version`), the installer's error."""

    files: list[str]
    ok: bool = True
    added: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    tool: str = ""


def record_dir(prefix: str = sys.prefix) -> Path:
    return Path(prefix) / RECORD_DIR


def recorded_files(prefix: str = sys.prefix) -> list[str]:
    """The requirement files this environment was installed from; none: it is not ours to install into."""
    directory = record_dir(prefix)
    return sorted(p.name for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []


def stale_files(project: Path, prefix: str = sys.prefix) -> list[str]:
    """The recorded files that differ in the project now (a file deleted there is not installed)."""
    return [name for name in recorded_files(prefix)
            if (project / name).is_file() and not filecmp.cmp(project / name, record_dir(prefix) / name, shallow=False)]


def install_command(files: list[Path]) -> tuple[str, list[str]]:
    """uv when it is there (the dev image has it), else this environment's own pip."""
    requirements = [arg for f in files for arg in ("-r", str(f))]
    uv = shutil.which("uv")
    if uv:
        return "uv", [uv, "pip", "install", "--python", sys.executable, *requirements]
    return "pip", [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *requirements]


def added_packages(tool: str, output: str) -> list[str]:
    if tool == "uv":
        return [spec for sign, spec in UV_CHANGE.findall(output) if sign != "-"]
    match = PIP_INSTALLED.search(output)  # "Successfully installed humanize-4.17.0 zope.event-6.2"
    return ["==".join(item.rpartition("-")[::2]) for item in match[1].split()] if match else []


def installer_error(output: str) -> str:
    """The installer's own words, on one line: from uv's `error:` on, or pip's `ERROR:` lines."""
    lines = [re.sub(r"^[×╰─▶│ ]+", "", line).strip() for line in output.splitlines()
             if line.strip() and not line.startswith("Using Python")]
    start = next((i for i, line in enumerate(lines) if line.lower().startswith("error:")), None)
    chosen = lines[start:] if start is not None else lines[-3:]
    if start is not None and chosen[0].startswith("ERROR:"):  # pip: its ERROR lines only
        chosen = [line for line in chosen if line.startswith("ERROR:")]
    first, *rest = [re.sub(r"^(error|ERROR|cause|hint):\s*", "", line) for line in chosen] or [""]
    text = first + (": " + " ".join(rest) if rest else "")
    return text[:600].rstrip(".") + ("…" if len(text) > 600 else "")


def install(project: Path, reaper: Reaper, prefix: str = sys.prefix,
            started: Callable[[int], None] = lambda pid: None) -> Installed:
    """Install the recorded files as the project has them now, all together (one resolution), into this
    environment; on success, record them as they were when the install began (a save during it is
    then still stale, and installed by the next run). `files` of the outcome: those that had changed.
    Never raises: what goes wrong (an unreadable file, a folder gone) is the outcome's error."""
    try:
        changed = stale_files(project, prefix)
        if not changed:
            return Installed(changed)
        files = [project / name for name in recorded_files(prefix) if (project / name).is_file()]
        snapshot = {path.name: path.read_bytes() for path in files}
        tool, argv = install_command(files)
        start = time.monotonic()
        status, output = run_command(argv, reaper, INSTALL_TIMEOUT, started)
        result = Installed(changed, tool=tool, seconds=time.monotonic() - start)
        if status != 0:
            result.ok = False
            result.error = (installer_error(output) or f"{tool} exited with {status}") if status is not None \
                else f"{tool} took longer than {INSTALL_TIMEOUT:.0f} s and was stopped"
            return result
        result.added = added_packages(tool, output)
        for name, content in snapshot.items():
            (record_dir(prefix) / name).write_bytes(content)
        return result
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        return Installed([], ok=False, error=f"cannot install:{where}: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - the supervisor must not lose its installer to a surprise
        return Installed([], ok=False, error=f"cannot install: {type(exc).__name__}: {exc}")


class Installer:
    """Runs installs one at a time in a thread; a change during an install means one more after it.

    `done(Installed)` is called from the thread once the files are quiet: one outcome for a burst
    of saves (the packages added by every run in it, the errors of the last).
    """

    def __init__(self, project: Path, reaper: Reaper, done: Callable[[Installed], None]):
        self.project = project
        self.reaper = reaper
        self.done = done
        self.lock = threading.Lock()  # holds `thread`, `again`, `pid` and `stopped` together
        self.thread: threading.Thread | None = None
        self.again = False
        self.pid: int | None = None  # the installer running now, for stop()
        self.stopped = False  # for good: no install runs or starts after stop()

    @property
    def running(self) -> bool:
        return self.thread is not None

    def installs(self, path: str) -> bool:
        """Whether this environment was installed from that file (requirements-dev.txt is not, in the image)."""
        return Path(path).name in recorded_files()

    def request(self) -> None:
        with self.lock:
            if self.stopped:
                return
            if self.thread is not None:
                self.again = True
                return
            self.thread = threading.Thread(target=self._run, name="installer", daemon=True)
            self.thread.start()

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """End a running install and start none again (the server is stopping): uv or pip must not go
        on writing alone. A process starting right now is ended as soon as its pid is known."""
        with self.lock:
            self.stopped = True
            self.again = False
            pid = self.pid
        if pid is not None:
            try:
                os.killpg(pid, signum)
            except OSError:
                pass

    def kill(self) -> None:
        """The stop's deadline passed with the install still running."""
        self.stop(signal.SIGKILL)

    def _started(self, pid: int) -> None:
        with self.lock:
            self.pid = pid
            stopped = self.stopped
        if stopped:
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                pass

    def _run(self) -> None:
        merged = Installed([])
        while True:
            result = install(self.project, self.reaper, started=self._started)
            with self.lock:
                self.pid = None
            merged.added += result.added
            merged.files += [name for name in result.files if name not in merged.files]
            merged.seconds += result.seconds
            merged.tool = result.tool or merged.tool
            merged.ok, merged.error = result.ok, result.error
            with self.lock:
                if not self.again or self.stopped:
                    self.done(merged)  # before `running` ends: the supervisor hears its own changes as its
                    self.thread = None
                    break
                self.again = False
