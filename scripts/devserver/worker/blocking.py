"""Say when the app blocks gevent's event loop: the one way a gevent app stops serving others silently.

A call that does not yield (a C driver's own socket I/O, a CPU-bound loop, the real time.sleep
reached past the monkey-patching) holds every other request. gevent's monitor thread notices
a loop that has not turned for BLOCKING_WARN_MS; this turns its report into one block in the
log: for how long at least, which request was running, the line of the user's own code it
was on (not gevent's frames), and the database driver that blocks when it is a known one.
One block is one report, however many of the monitor's checks it lasts; the same spot blocking
again is counted, not repeated.

gevent has no public name for MonitorWarning (gevent._monitor); add_monitoring_function is
the documented IPeriodicMonitorThread interface.
"""

from __future__ import annotations

import linecache
import re
import sys
import warnings
from pathlib import Path

import gevent
from gevent import events
from gevent._monitor import MonitorWarning

from devserver import placement
from devserver.log import say

# C database drivers that wait for the server by themselves (README.md, "gevent rules"): top-level module -> advice.
DRIVERS = {
    "psycopg2": ("psycopg2", "psycogreen's patch_psycopg() makes it cooperate, or use psycopg 3"),
    "MySQLdb": ("mysqlclient (MySQLdb)", "PyMySQL cooperates"),
}
RULES = "README.md#gevent-rules"
DEVELOPMENT_ADVICE = ("  Every other request waited meanwhile. Make the call cooperative (a pure-Python or "
                      "gevent-aware driver, gevent.sleep, a threadpool), or raise BLOCKING_WARN_MS.")
TASKS_ADVICE = ("  Every other task of this worker waited meanwhile (Celery's gevent pool runs them in one loop). "
                "Make the call cooperative, run such tasks on a prefork worker, or raise BLOCKING_WARN_MS.")


class BlockingReport:
    def __init__(self, server, root: Path, threshold_ms: int, advice: str = DEVELOPMENT_ADVICE):
        self.server = server
        self.advice = advice  # the report's last line: what to do
        self.root = root
        self.project = placement.places(root)
        self.threshold_ms = threshold_ms
        self.seen: dict[tuple[str, int], int] = {}  # spot -> blocks there
        # The block going on: while one lasts, each of the monitor's checks reports it again; a check that
        # finds the loop turning (between two blocks, however close) reports nothing, and ends it.
        self.blocking: int | None = None  # id() of the greenlet holding the loop
        self.reported = False  # by the check now running

    def start(self) -> None:
        gevent.config.max_blocking_time = self.threshold_ms / 1000
        gevent.config.print_blocking_reports = False  # ours instead: short, and about the user's code
        events.subscribers.append(self.on_event)
        # From inside the running hub: gevent's monitor stops for good if its first check finds the hub not
        # started yet (a worker's hub first runs when it starts serving).
        gevent.get_hub().loop.run_callback(self.start_monitor)

    def start_monitor(self) -> None:
        gevent.config.monitor_thread = True
        with warnings.catch_warnings():  # gevent would also watch memory, with psutil, which it lacks here
            warnings.simplefilter("ignore", MonitorWarning)
            monitor = gevent.get_hub().start_periodic_monitoring_thread()  # threads do not survive a fork
        # The same period as the blocking check, added after it: runs right after it, at each of its checks.
        monitor.add_monitoring_function(self.on_check, gevent.config.max_blocking_time)

    def on_event(self, event) -> None:
        if isinstance(event, events.EventLoopBlocked):
            hub = event.hub
            self.blocked(event.greenlet, sys._current_frames().get(hub.thread_ident) if hub is not None else None)

    def on_check(self, _hub) -> None:
        """After each of the monitor's checks: one that reported nothing ends the block."""
        if not self.reported:
            self.blocking = None
        self.reported = False

    def blocked(self, greenlet, frame) -> None:
        """A check found the loop held by `greenlet`, at `frame` (the innermost of the blocked thread)."""
        self.reported = True
        if self.blocking == id(greenlet):
            return  # the same block, still going (by now, maybe past the user's line)
        self.blocking = id(greenlet)
        where = placement.users_frame(frame, self.project)
        spot = (where.f_code.co_filename, where.f_lineno) if where else ("?", 0)
        times = self.seen[spot] = self.seen.get(spot, 0) + 1
        if times & (times - 1):
            return  # said at 1, 2, 4, 8... times: counted, not repeated
        request = self.request_of(greenlet)
        if where:
            place = f"{placement.as_seen(spot[0], self.root)}:{spot[1]}"
        elif frame is not None:  # no frame of the user's: where it waits, in installed code
            place = f"code outside the project, {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        else:
            place = "code outside the project"
        if times > 1:
            say(f"warning: the event loop was blocked again at {place} ({times} times so far)")
            return
        lines = [f"warning: the event loop was blocked for more than {self.threshold_ms} ms"
                 + (f" while serving {request}" if request else "") + f", at {place}:"]
        if where:
            lines.append(f"    {linecache.getline(spot[0], spot[1]).strip()}")
        driver = blocking_driver(frame, where)
        if driver:
            name, advice = DRIVERS[driver]
            lines.append(f"  It waits inside {name}, a driver that blocks gevent: {advice} (see {RULES}).")
        lines.append(self.advice)
        say("\n".join(lines))

    def request_of(self, greenlet) -> str | None:
        """The request the greenlet was answering (None for a task worker's, which has no server)."""
        for handler in list(self.server.handlers if self.server is not None else ()):
            if handler.greenlet is greenlet and getattr(handler, "command", None):
                return f"{handler.command} {handler.path}"
        return None


def blocking_driver(frame, stop=None) -> str | None:
    """The known blocking driver (a key of DRIVERS) the blocked thread waits in: a frame of its own between
    `frame` (the innermost) and `stop` (the user's), or one of its objects that the innermost frame's line
    names (a driver written in C has no frame: SQLAlchemy's `cursor.execute(statement, parameters)`)."""
    innermost = frame
    while frame is not None and frame is not stop:
        if (driver := top_module(frame.f_globals.get("__name__"))) in DRIVERS:
            return driver if blocks(driver) else None
        frame = frame.f_back
    if innermost is None:
        return None
    named = set(re.findall(r"[A-Za-z_]\w*", linecache.getline(innermost.f_code.co_filename, innermost.f_lineno)))
    try:
        held = [value for name, value in innermost.f_locals.items() if name in named]
    except Exception:  # noqa: BLE001 - a frame's locals are a bonus here, never a reason to fail the report
        return None
    for value in held:
        if (driver := top_module(type(value).__module__)) in DRIVERS:
            return driver if blocks(driver) else None
    return None


def top_module(name) -> str:
    return name.partition(".")[0] if isinstance(name, str) else ""


def blocks(driver: str) -> bool:
    """psycopg2 made cooperative (psycogreen sets its wait callback) no longer blocks."""
    extensions = sys.modules.get("psycopg2.extensions") if driver == "psycopg2" else None
    return extensions is None or getattr(extensions, "get_wait_callback", lambda: None)() is None
