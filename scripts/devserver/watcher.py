"""Which file changes mean "reload", and the thread that reports them.

The filtering is watchfiles' DefaultFilter (VCS dirs, caches, virtualenvs,
node_modules, editor swap and backup files), extended with what a Flask
project writes while it runs, so the app can't trigger its own reload loop.
"""

from __future__ import annotations

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


class Watcher(threading.Thread):
    """Calls `on_change(paths)` with each batch of changed files, until stop()."""

    def __init__(self, paths, on_change: Callable[[set[str]], None], *, templates_reload_themselves: bool,
                 force_polling: bool | None, step_ms: int = 50):
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
                                 raise_interrupt=False):
                self.on_change({path for _, path in changes})
        except Exception as exc:  # a watcher failure must not take the server down
            say(f"error: watching files stopped ({exc}); restart to reload again. If this says "
                "'inotify watch limit reached', narrow RELOAD_PATHS or raise fs.inotify.max_user_watches")

    def stop(self) -> None:
        self.stop_event.set()
