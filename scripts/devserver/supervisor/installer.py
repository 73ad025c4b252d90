"""Live installs: a changed requirements file is installed into the environment the workers run in.

The environment records what it was installed from: copies of the requirement files in
`<venv>/installed-from/` (the dev image's build and `make install` put them there). A file of the
project that differs from its copy is installed with uv (pip where there is no uv) into this very
environment, in a thread, while the old workers keep serving; the supervisor hears the outcome as
one event (Event.INSTALLED) and reloads once, or says why not. Nothing is uninstalled: a line
removed from a file leaves its package in place, which breaks nothing.

Why by hand: no installer watches a requirements file, and compose's `develop.watch` rebuild
replaces the whole container (seconds, a gap in serving) where installing one package takes less.

A saved file is installed without a word from anyone, a `git pull` that changes one too: a line that
does more than fetch a package from the index (editable, VCS, a path or URL, another index) is named
in one line before the install runs it (issue 28).
"""

from __future__ import annotations

import filecmp
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from devserver import install_app_first
from devserver.install_app_first import is_tools_file
from devserver.log import say
from devserver.processes import signal_group
from devserver.supervisor.children import run_command, start_thread
from devserver.supervisor.reaper import Reaper

RECORD_DIR = "installed-from"  # in the environment's prefix: the requirement files it was installed from
INSTALL_TIMEOUT = 900.0  # seconds: a build from source on a slow network, at most
UV_CHANGE = re.compile(r"^ ([-+~]) (\S+)", re.M)  # uv's " + humanize==4.17.0" lines (" (from git+...)" may follow)
PIP_INSTALLED = re.compile(r"^Successfully installed (.+)$", re.M)
COMMENT = re.compile(r"(^|\s+)#.*$")  # pip's: a `#` at the start or after a space (a URL's #egg= stays)
NAME_AT_URL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@\s*(\S+)")  # PEP 508 `name @ url`
PLAIN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?\s*(\[[^\]]*\])?\s*([<>=!~;(]|$)")  # name, then a version
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # https:, file:, git+ssh:
VCS = re.compile(r"^(git|hg|svn|bzr)\+", re.I)
ARCHIVE = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")
INDEX_OPTIONS = {  # options that change where packages come from, and what they do
    "-i": "another index: every package from there", "--index-url": "another index: every package from there",
    "--extra-index-url": "another index, searched too", "-f": "packages from there too",
    "--find-links": "packages from there too", "--trusted-host": "that host's TLS certificate goes unchecked",
}
EDITABLE = ("-e", "--editable")
FILE_OPTIONS = ("-r", "--requirement", "-c", "--constraint")
SHOWN_CHARS = 120


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
    """uv when it is there (the dev image and `make install` have it): the app's files, then the dev
    tools' around them, as the build installs them (install_app_first.py); else this environment's
    own pip, all files in one resolution."""
    uv = shutil.which("uv")
    if uv:
        layers = [arg for f in files for arg in ("--tools" if is_tools_file(f) else "--app", str(f))]
        return "uv", [sys.executable, install_app_first.__file__, "--python", sys.executable, "--uv", uv, *layers]
    requirements = [arg for f in files for arg in ("-r", str(f))]
    return "pip", [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *requirements]


def added_packages(tool: str, output: str) -> list[str]:
    if tool == "uv":
        return [spec for sign, spec in UV_CHANGE.findall(output) if sign != "-"]
    match = PIP_INSTALLED.search(output)  # "Successfully installed humanize-4.17.0 zope.event-6.2"
    return ["==".join(item.rpartition("-")[::2]) for item in match[1].split()] if match else []


def tell_conflicts(tell: Callable[[str], None] = say) -> None:
    """What the dev tools ask of the app's pins and do not get, as their last install found it (if any)."""
    report = install_app_first.conflicts_path(sys.executable)
    if report.is_file():
        tell(f"warning: {report.read_text().strip()}")


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


class Unusual(NamedTuple):
    """A requirements line that runs or fetches more than a package from the index: where, what, why."""

    file: str
    line: str
    why: str

    def __str__(self) -> str:
        return f"{self.line} ({self.why})"


def logical_lines(text: str) -> list[str]:
    """The lines pip reads: a trailing backslash joins the next line, comments and blank lines dropped."""
    lines, pending = [], []
    for line in text.splitlines():
        if line.endswith("\\") and not COMMENT.match(line):
            pending.append(line.rstrip("\\"))
            continue
        line = COMMENT.sub("", "".join([*pending, line])).strip()
        pending = []
        if line:
            lines.append(line)
    if pending and (line := COMMENT.sub("", "".join(pending)).strip()):
        lines.append(line)
    return lines


def masked(line: str) -> str:
    """The line as said in the log: no password or token of a URL, not too long."""
    line = re.sub(r"(://)[^/@\s]+@", r"\1***@", " ".join(line.split()))
    return line if len(line) <= SHOWN_CHARS else line[:SHOWN_CHARS - 1] + "…"


def option(line: str) -> tuple[str, str]:
    """`--index-url=URL`, `--index-url URL`, `-iURL`, `-i URL`: the option's name and its value."""
    first, _, rest = line.partition(" ")
    if first.startswith("--"):
        name, equals, value = first.partition("=")
        return name, value if equals else rest.strip()
    return first[:2], first[2:] or rest.strip()


def requirement_kind(requirement: str) -> str | None:
    """Why a requirement line is not a package from the index, or None when it is (`flask==3.1.0`, `requests>=2`,
    `foo[bar]==1.0; python_version<"3.12"`)."""
    requirement = re.split(r"\s+--?[A-Za-z]", requirement, maxsplit=1)[0]  # --hash=... and the like: its own
    at = NAME_AT_URL.match(requirement)
    url = at[2] if at else requirement if URL.match(requirement) and not PLAIN.match(requirement) else None
    if url is not None:
        if VCS.match(url):
            return "VCS: fetched from there and built"
        if url.lower().startswith("file:"):
            return "a local path: its build runs"
        return "a direct URL: fetched from there, not the index"
    spec = requirement.split(";", 1)[0].strip()
    if ("/" in spec or "\\" in spec or spec.startswith((".", "~")) or spec.lower().endswith(ARCHIVE)):
        return "a local path: its build runs"
    if PLAIN.match(requirement):
        return None
    return "not a plain requirement from the index"


def unusual_lines(files: list[Path]) -> list[Unusual]:
    """The lines of these requirement files (and of those they name with -r or -c) that run or fetch more than
    packages from the configured index: editable installs, VCS, paths and URLs, other indexes. Never raises:
    a file that cannot be read is for the installer to say."""
    found: list[Unusual] = []
    seen: set[Path] = set()
    base = files[0].parent if files else Path.cwd()

    def name_of(path: Path) -> str:
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            return str(path)

    def read(path: Path) -> None:
        try:
            resolved = path.resolve()
            if resolved in seen:
                return
            seen.add(resolved)
            text = path.read_text(encoding="utf-8", errors="replace")
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop
            return
        name = name_of(path)
        for line in logical_lines(text):
            if line.startswith("-"):
                flag, value = option(line)
                if flag in EDITABLE:
                    found.append(Unusual(name, masked(line), "editable: its build runs"))
                elif flag in INDEX_OPTIONS:
                    found.append(Unusual(name, masked(line), INDEX_OPTIONS[flag]))
                elif flag in FILE_OPTIONS and value:
                    if URL.match(value) and not re.match(r"^[A-Za-z]:[\\/]", value):  # not C:\ on Windows
                        found.append(Unusual(name, masked(line), "a requirements file fetched from there"))
                    else:
                        read(path.parent / value)
                continue  # other options (--pre, --only-binary, --hash...) fetch nothing new
            why = requirement_kind(line)
            if why:
                found.append(Unusual(name, masked(line), why))

    for path in files:
        read(path)
    return found


def unusual_message(found: list[Unusual], tool: str) -> str:
    """One line naming them, said before the install runs them."""
    files = list(dict.fromkeys(u.file for u in found))
    if len(files) == 1:
        lines = ", ".join(map(str, found))
    else:
        lines = "; ".join(f"{file}: " + ", ".join(str(u) for u in found if u.file == file) for file in files)
    verb = "asks" if len(files) == 1 else "ask"
    return (f"{' and '.join(files)} {verb} to run or fetch more than pinned packages from the index: {lines}; "
            f"installing {'it' if len(files) == 1 else 'them'} now, as {tool} install -r would")


def install(project: Path, reaper: Reaper, prefix: str = sys.prefix,
            started: Callable[[int], None] = lambda pid: None, tell: Callable[[str], None] = say) -> Installed:
    """Install the recorded files as the project has them now, all together (one resolution), into this
    environment; on success, record them as they were when the install began (a save during it is
    then still stale, and installed by the next run). `files` of the outcome: those that had changed.
    Lines that run or fetch more than packages from the index are named first, with `tell`.
    Never raises: what goes wrong (an unreadable file, a folder gone) is the outcome's error."""
    try:
        changed = stale_files(project, prefix)
        if not changed:
            return Installed(changed)
        files = [project / name for name in recorded_files(prefix) if (project / name).is_file()]
        snapshot = {path.name: path.read_bytes() for path in files}
        tool, argv = install_command(files)
        found = unusual_lines(files)
        if found:
            tell(unusual_message(found, "uv pip" if tool == "uv" else tool))
        start = time.monotonic()
        status, output = run_command(argv, reaper, INSTALL_TIMEOUT, started)
        result = Installed(changed, tool=tool, seconds=time.monotonic() - start)
        if status != 0:
            result.ok = False
            result.error = (installer_error(output) or f"{tool} exited with {status}") if status is not None \
                else f"{tool} took longer than {INSTALL_TIMEOUT:.0f} s and was stopped"
            return result
        result.added = added_packages(tool, output)
        tell_conflicts(tell)
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
            try:
                start_thread(self.thread)
            except OSError as exc:  # under a pids limit: an outcome all the same, so nothing waits for one
                self.thread = None
                failed = exc
            else:
                return
        self.done(Installed([], ok=False, error=f"cannot start the install: {failed.strerror}"))

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """End a running install and start none again (the server is stopping): uv or pip must not go
        on writing alone. A process starting right now is ended as soon as its pid is known."""
        with self.lock:
            self.stopped = True
            self.again = False
            pid = self.pid
        if pid is not None:
            signal_group(pid, signum)

    def kill(self) -> None:
        """The stop's deadline passed with the install still running."""
        self.stop(signal.SIGKILL)

    def _started(self, pid: int) -> None:
        with self.lock:
            self.pid = pid
            stopped = self.stopped
        if stopped:
            signal_group(pid, signal.SIGTERM)

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
