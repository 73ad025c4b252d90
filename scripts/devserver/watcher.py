"""Which file changes mean "reload", and the thread that reports them.

The filtering is watchfiles' DefaultFilter (VCS dirs, caches, virtualenvs,
node_modules, editor swap and backup files), extended with what a Flask
project writes while it runs, so the app can't trigger its own reload loop.
"""

from __future__ import annotations

import sysconfig
import threading
from collections.abc import Callable
from pathlib import Path

from watchfiles import DefaultFilter, watch

from devserver.log import say


class SourceFilter(DefaultFilter):
    ignore_dirs = (*DefaultFilter.ignore_dirs, "venv", "env", ".nox", ".ruff_cache", "site-packages",
                   ".cache", "htmlcov", "instance")
    ignore_entity_patterns = (
        *DefaultFilter.ignore_entity_patterns,
        r"\.log$",  # logs written into the tree
        r"\.(db|sqlite3?)(-journal|-wal|-shm)?$",  # SQLite files a dev app writes
        r"^\.coverage",
        r"^4913$",  # vim's write-permission probe file
    )

    def __init__(self, templates_reload_themselves: bool):
        super().__init__()
        # Flask serves static files from disk, and Jinja re-reads templates when
        # TEMPLATES_AUTO_RELOAD is on: restarting the worker for those buys nothing.
        self.skip_dirs = {"static"} | ({"templates"} if templates_reload_themselves else set())

    def __call__(self, change, path: str) -> bool:
        if self.skip_dirs.intersection(Path(path).parts):
            return False
        return super().__call__(change, path)


# The quiet window that ends a batch of changes. An editor's save (write, rename, chmod, a
# backup file) lands within a millisecond or two (measured by replaying the saves of
# tests/editor_saves.py one after another).
STEP_MS = 20


class DependencyFilter(DefaultFilter):
    """Requirements files in the project, and packages appearing or going in site-packages."""

    def __call__(self, change, path: str) -> bool:
        name = Path(path).name
        return (name.startswith("requirements") and name.endswith(".txt")) or name in ("pyproject.toml", "setup.cfg") \
            or name.endswith((".dist-info", ".egg-info", ".pth"))


class Watcher(threading.Thread):
    """Calls `on_change(paths)` with each batch of changed files, until stop()."""

    recursive = True

    def __init__(self, paths, on_change: Callable[[set[str]], None], *, templates_reload_themselves: bool,
                 force_polling: bool | None, step_ms: int = STEP_MS):
        super().__init__(name="watcher", daemon=True)
        self.paths = [str(p) for p in paths]
        self.on_change = on_change
        self.filter = SourceFilter(templates_reload_themselves)
        self.force_polling = force_polling
        self.step_ms = step_ms
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            for changes in watch(*self.paths, watch_filter=self.filter, stop_event=self.stop_event,
                                 step=self.step_ms, force_polling=self.force_polling,
                                 recursive=self.recursive, raise_interrupt=False):
                self.on_change({path for _, path in changes})
        except Exception as exc:  # a watcher failure must not take the server down
            say(f"error: watching files stopped ({exc}); restart to reload again. If this says "
                "'inotify watch limit reached', narrow RELOAD_PATHS or raise fs.inotify.max_user_watches")

    def stop(self) -> None:
        self.stop_event.set()


class DependencyWatcher(Watcher):
    """Watches what the preloaded fork server depends on: the project's requirements files and the
    top level of site-packages (an install or upgrade adds or removes a *.dist-info there).

    Not recursive: site-packages holds thousands of directories, each an inotify watch.
    """

    recursive = False

    def __init__(self, on_change: Callable[[set[str]], None], *, force_polling: bool | None):
        paths = {Path.cwd()} | {Path(sysconfig.get_path(key)) for key in ("purelib", "platlib")}
        super().__init__(sorted(p for p in paths if p.is_dir()), on_change, templates_reload_themselves=False,
                         force_polling=force_polling, step_ms=200)
        self.name = "dependency-watcher"
        self.filter = DependencyFilter()
