"""Which file changes mean "reload", and the thread that reports them.

The filtering is watchfiles' DefaultFilter (VCS dirs, caches, virtualenvs,
node_modules, editor swap and backup files), extended with the editors' temp
files it misses and with what a Flask project writes while it runs (SQLite
files, the instance folder, logs and rotated logs, a logs/ folder), so the app can't trigger
its own reload loop. The project root watched by default for a module there (FLASK_APP=blog.py:
settings.ProjectCode) reports its code only, not the data or uploads beside it.

A batch of changes is reported as the files the user saved (saved_files): an
editor's save is several operations on temp and backup files around the one file.
"""

from __future__ import annotations

import os
import re
import sysconfig
import threading
from collections.abc import Callable
from pathlib import Path

from watchfiles import Change, DefaultFilter, watch

from devserver.log import say
from devserver.settings import ProjectCode
from devserver.stamps import stamp


def is_requirements(path: str) -> bool:
    name = Path(path).name
    return name.startswith("requirements") and name.endswith(".txt")


class SourceFilter(DefaultFilter):
    ignore_dirs = (*DefaultFilter.ignore_dirs, "venv", "env", ".nox", ".ruff_cache", "site-packages",
                   ".cache", "htmlcov", "instance", "logs")
    ignore_entity_patterns = (
        *DefaultFilter.ignore_entity_patterns,
        r"\.log$",  # logs written into the tree
        r"\.log\.",  # and rotated ones: app.log.1, app.log.2026-12-01, app.log.3.gz
        r"\.(db|sqlite3?)(-journal|-wal|-shm|-mj[0-9A-Fa-f]+)?$",  # SQLite databases and their journals
        r"^\.coverage",
        # Editors' temp and backup files DefaultFilter misses (it has ~, .sw?, .#name):
        r"^4913$",  # vim's write-permission probe file
        r"___jb_\w{3}___$",  # JetBrains safe write: name___jb_tmp___, name___jb_old___ (DefaultFilter's
        # own pattern wants a dot before the underscores, which these names do not have)
        r"^#.*#$",  # emacs auto-save
        r"\.kate-swp$",  # Kate's swap file
        r"^\.goutputstream-",  # gedit's (GIO's) temp file, renamed over the saved file
    )

    def __init__(self, templates_reload_themselves: bool, roots=(), report_assets: bool = False):
        super().__init__()
        # Flask serves static files from disk, and Jinja re-reads templates when
        # TEMPLATES_AUTO_RELOAD is on: restarting the worker for those buys nothing.
        self.skip_dirs = {"static"} | ({"templates"} if templates_reload_themselves else set())
        self.report_assets = report_assets  # let those through, told apart by is_asset (live reload)
        self.roots = sorted((str(r).rstrip(os.sep) + os.sep for r in roots), key=len, reverse=True)
        # The project root watched for its code only (FLASK_APP a module at the root): see code_only.
        self.code_roots = tuple(str(r).rstrip(os.sep) + os.sep for r in roots if isinstance(r, ProjectCode))

    def is_asset(self, path: str) -> bool:
        """A file a worker restart buys nothing for (static/, and templates/ when they reload themselves)."""
        return any(part in self.skip_dirs for part in self.below_root(path).split(os.sep))

    def below_root(self, path: str) -> str:
        """The part of `path` below the watched root it is in: a project that itself lives in a
        folder named `templates`, `instance` or `venv` must not have every file ignored. A root
        itself (a watched file, say) is just its name."""
        for root in self.roots:
            if path.startswith(root):
                return path[len(root):]
            if path == root[:-len(os.sep)]:
                return os.path.basename(path)
        return path

    def __call__(self, change, path: str) -> bool:
        relative = self.below_root(path)
        parts = relative.split(os.sep)
        if is_requirements(parts[-1]):
            return False  # the dependency watcher's: installed, then one reload (RELOAD_PATHS=. included)
        if not self.report_assets and any(part in self.skip_dirs for part in parts):
            return False
        if not self.code_only(path, parts):
            return False
        return super().__call__(change, relative)  # watchfiles' own matching, on the part below the root

    def code_only(self, path: str, parts: list[str]) -> bool:
        """False for what a ProjectCode root does not report: anything but a Python file, a file of a
        package at the root (a directory with an __init__.py), a template or a static file."""
        root = next((r for r in self.code_roots if path.startswith(r)), None)
        if root is None or parts[-1].endswith(".py") or not {"templates", "static"}.isdisjoint(parts[:-1]):
            return True
        return len(parts) > 1 and os.path.isfile(os.path.join(root, parts[0], "__init__.py"))

    def unreadable_dirs(self, root: str) -> list[str]:
        """Directories under `root` this user cannot list (their changes cannot be seen)."""
        found: list[str] = []

        def note(error: OSError) -> None:
            if isinstance(error, PermissionError) and error.filename:
                found.append(error.filename)

        for _, subdirs, _ in os.walk(root, onerror=note):
            subdirs[:] = [d for d in subdirs if d not in self.ignore_dirs and d not in self.skip_dirs]
        return found


# Names never given for a save while a real file of the same batch changed: what SourceFilter
# ignores (editors' swap, backup and temp files), and temp names no filter may ignore, as a
# user's file could be named so: sed -i's sedXXXXXX, tempfile's tmpXXXXXXXX, name.tmp[.pid].
TEMPORARY = re.compile("|".join((r"^sed[A-Za-z0-9]{6}$", r"^tmp[a-z0-9_]{8}$", r"\.te?mp(\.\d+)?$",
                                 *SourceFilter.ignore_entity_patterns)))


def looks_temporary(path: str) -> bool:
    return bool(TEMPORARY.search(os.path.basename(path)))


def saved_files(changes: set[tuple[Change, str]], exists: Callable[[str], bool] = os.path.lexists) -> set[str]:
    """The files a batch of changes is about, as the user would name them: what they saved.

    An editor's save (sed -i, JetBrains' safe write, vim, atomic writers) creates, renames and
    deletes temp and backup files around the saved one. Named are the files that exist now and
    files that were there and are deleted; not a file created and gone again within the batch,
    nor a temp or backup name, unless nothing else changed (a deletion alone names what went).
    """
    added = {path for change, path in changes if change == Change.added}
    paths = {path for _, path in changes}
    present = {path for path in paths if exists(path)}
    removed = paths - present - added  # deleted, not created in the batch: the user removed it
    return {path for path in present | removed if not looks_temporary(path)} or present or paths


# The quiet window that ends a batch of changes. An editor's save (write, rename, chmod, a
# backup file) lands within a millisecond or two (measured by replaying the saves of
# scripts/tests/editor_saves.py one after another).
STEP_MS = 20


def site_packages() -> list[Path]:
    return sorted({Path(sysconfig.get_path(key)) for key in ("purelib", "platlib")})


def site_packages_listing() -> frozenset[str]:
    """What is installed, as the top level of site-packages names it (a version is in each dist-info name)."""
    return frozenset(entry.name for directory in site_packages() if directory.is_dir()
                     for entry in os.scandir(directory))


class DependencyFilter(DefaultFilter):
    """Requirements files in the project, and packages appearing or going in site-packages."""

    def __call__(self, change, path: str) -> bool:
        name = Path(path).name
        return is_requirements(path) or name in ("pyproject.toml", "setup.cfg") \
            or name.endswith((".dist-info", ".egg-info", ".pth"))


# How often the watched roots are checked for being deleted or re-created (a `git checkout`
# that removes a package, a build step): inotify cannot follow a directory that is replaced.
ROOT_CHECK_MS = 500


class Watcher(threading.Thread):
    """Calls `on_change(paths)` with each batch of changes, named by the files saved (saved_files), until stop().

    Never stops for the tree's sake: an unreadable directory is skipped with a warning, and a
    watched directory that disappears is waited for and watched again when it returns.
    """

    recursive = True

    def __init__(self, paths, on_change: Callable[[set[str]], None], *, templates_reload_themselves: bool,
                 force_polling: bool | None, step_ms: int = STEP_MS, as_seen: Callable[[str], str] = str,
                 on_assets: Callable[[set[str]], None] | None = None):
        super().__init__(name="watcher", daemon=True)
        paths = list(paths)
        self.paths = [str(p) for p in paths]
        self.on_change = on_change
        self.on_assets = on_assets  # templates and static files, when someone wants them (live reload)
        self.filter = SourceFilter(templates_reload_themselves, paths, report_assets=on_assets is not None)
        self.force_polling = force_polling
        self.step_ms = step_ms
        self.as_seen = as_seen
        self.stop_event = threading.Event()

    def run(self) -> None:
        first, unreported = True, False
        while not self.stop_event.is_set():
            if not self.wait_for_roots():
                return
            roots = self.identities()
            if first and self.recursive:
                threading.Thread(target=self.warn_unreadable, name="watcher-check", daemon=True).start()
            elif unreported:
                self.on_change(set(self.paths))  # what came back may differ from what was served
            first, unreported = False, True
            try:
                for changes in watch(*self.paths, watch_filter=self.filter, stop_event=self.stop_event,
                                     step=self.step_ms, force_polling=self.force_polling, recursive=self.recursive,
                                     raise_interrupt=False, ignore_permission_denied=True,
                                     yield_on_timeout=True, rust_timeout=ROOT_CHECK_MS):
                    now = self.identities()
                    if changes and None not in now.values():  # a vanished root is reported when back
                        stamp("change")
                        self.report(saved_files(changes))
                    if now != roots:
                        # Report once watching again: files written before the new watch began are
                        # seen by no event. A file root replaced by an editor's save was just reported.
                        unreported = not changes or None in now.values()
                        break
            except Exception as exc:  # a watcher failure must not take the server down
                if self.identities() != roots:
                    continue  # a root went away mid-watch: wait for it
                say(f"error: watching files stopped ({exc}). If this says 'inotify watch limit reached', narrow "
                    "RELOAD_PATHS or raise fs.inotify.max_user_watches; then restart")
                return

    def report(self, paths: set[str]) -> None:
        assets = {p for p in paths if self.filter.is_asset(p)} if self.on_assets else set()
        if paths - assets:
            self.on_change(paths - assets)
        if assets:
            self.on_assets(assets)

    def identities(self) -> dict[str, tuple[int, int] | None]:
        """Each root's (device, inode), None when it is gone: a re-created directory is a new inode."""
        found: dict[str, tuple[int, int] | None] = {}
        for path in self.paths:
            try:
                stat = os.stat(path)
                found[path] = (stat.st_dev, stat.st_ino)
            except OSError:
                found[path] = None
        return found

    def wait_for_roots(self) -> bool:
        """Until every watched path exists (True), or stop() (False); says what it waits for, once."""
        missing = [p for p, identity in self.identities().items() if identity is None]
        if not missing:
            return True
        say(f"warning: {', '.join(self.as_seen(p) for p in missing)} can no longer be seen: "
            "reloading waits until it is back")
        while not self.stop_event.wait(ROOT_CHECK_MS / 1000):
            if all(identity is not None for identity in self.identities().values()):
                say(f"{', '.join(self.as_seen(p) for p in missing)} is back: watching it again")
                return True
        return False

    def warn_unreadable(self) -> None:
        for path in self.paths:
            if os.path.isdir(path):
                for directory in self.filter.unreadable_dirs(path):
                    say(f"warning: cannot read {self.as_seen(directory)} (permission denied): changes inside it are "
                        "not watched. Make it readable for this user (e.g. chown or chmod), or move it out of "
                        "RELOAD_PATHS")

    def stop(self) -> None:
        self.stop_event.set()


class DependencyWatcher(Watcher):
    """Watches what the preloaded fork server depends on: the project's requirements files and the
    top level of site-packages (an install or upgrade adds or removes a *.dist-info there).

    Not recursive: site-packages holds thousands of directories, each an inotify watch.
    """

    recursive = False

    def __init__(self, on_change: Callable[[set[str]], None], *, force_polling: bool | None):
        paths = {Path.cwd(), *site_packages()}
        super().__init__(sorted(p for p in paths if p.is_dir()), on_change, templates_reload_themselves=False,
                         force_polling=force_polling, step_ms=200)
        self.name = "dependency-watcher"
        self.filter = DependencyFilter()
