"""Says so when importing the app takes long, and where it waits (the user's own line).

Why: an app that waits at import for a database that never answers, or loops, looks
like a hung server: the request spins and the log is silent. A native thread (not a
greenlet: the import may block gevent's hub) looks at the loading code at 3, 6, 12, ...
seconds and names the innermost frame in the project's own files, and the module being imported
when that is what it is doing: a cold import of many modules (compiled from source where nothing
was compiled before) is slow too, and is no service that waits.
"""

from __future__ import annotations

import linecache
import sys

from gevent import monkey

from devserver import placement
from devserver.log import say

FIRST_REPORT = 3.0

start_new_thread, allocate_lock, get_ident = monkey.get_original("_thread", ["start_new_thread", "allocate_lock",
                                                                               "get_ident"])


class LoadWatch:
    """`with LoadWatch(root):` around the app's import."""

    def __init__(self, project_root: str):
        self.root = project_root
        self.project = placement.places(project_root)
        self.done = allocate_lock()

    def __enter__(self) -> LoadWatch:
        import greenlet

        self.loading = greenlet.getcurrent()
        self.thread = get_ident()
        self.done.acquire()
        start_new_thread(self.watch, ())
        return self

    def __exit__(self, *exc) -> None:
        self.done.release()

    def watch(self) -> None:
        waited, interval = 0.0, FIRST_REPORT
        while not self.done.acquire(timeout=interval):
            waited += interval
            say(self.report(waited))
            interval *= 2
        self.done.release()

    def report(self, waited: float) -> str:
        where, importing = self.where(), self.importing()
        return (f"still loading the app after {waited:g}s" + (f", at {where}" if where else "")
                + (f", importing {importing}: slow imports (many modules, one that waits for a service, a "
                   "loop at import) hold every request" if importing else
                   ": code that waits for a service (a database?) or loops holds every request"))

    def frame(self):
        return self.loading.gr_frame or sys._current_frames().get(self.thread)

    def importing(self) -> str | None:
        """The module an import of the user's is busy with (the name importlib's innermost _find_and_load
        holds), or None where the user's own code is what runs (a wait, a loop: the frame where() names)."""
        frame = self.frame()
        while frame is not None:
            if frame.f_code.co_name == "_find_and_load" and frame.f_code.co_filename.startswith("<frozen importlib"):
                return frame.f_locals.get("name")
            if placement.placed(frame.f_code.co_filename, self.project) is False:
                return None
            frame = frame.f_back
        return None

    def where(self) -> str | None:
        """The innermost frame of the loading code that is the user's (not a library, not the dev server)."""
        frame = placement.users_frame(self.frame(), self.project)
        if frame is None:
            return None
        path, line = frame.f_code.co_filename, frame.f_lineno
        return f"{placement.as_seen(path, self.root)}:{line} ({linecache.getline(path, line).strip()})"
