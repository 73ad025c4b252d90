"""Say when the app blocks gevent's event loop: the one way a gevent app stops serving others silently.

A call that does not yield (a C driver's own socket I/O, a CPU-bound loop, the real time.sleep
reached past the monkey-patching) holds every other request. gevent's monitor thread notices
a loop that has not turned for BLOCKING_WARN_MS; this turns its report into one block in the
log: for how long at least, which request was running, and the line of the user's own code
it was on (not gevent's frames). The same spot again is counted, not repeated.
"""

from __future__ import annotations

import linecache
import sys
import time
import warnings
from pathlib import Path

import gevent
from gevent import events
from gevent._monitor import MonitorWarning

from devserver import placement
from devserver.log import say


class BlockingReport:
    def __init__(self, server, root: Path, threshold_ms: int):
        self.server = server
        self.root = root
        self.project = placement.places(root)
        self.threshold_ms = threshold_ms
        self.seen: dict[tuple[str, int], int] = {}  # spot -> times
        # The block being reported: a long one fires at each of the monitor's checks (one per threshold),
        # while a check between two blocks sees the switch and fires nothing.
        self.episode: tuple[int, float] = (0, 0.0)  # (greenlet, when it last fired)

    def start(self) -> None:
        gevent.config.monitor_thread = True
        gevent.config.max_blocking_time = self.threshold_ms / 1000
        gevent.config.print_blocking_reports = False  # ours instead: short, and about the user's code
        events.subscribers.append(self.on_event)
        with warnings.catch_warnings():  # gevent would also watch memory, with psutil, which it lacks here
            warnings.simplefilter("ignore", MonitorWarning)
            gevent.get_hub().start_periodic_monitoring_thread()  # threads do not survive a fork: this worker's

    def on_event(self, event) -> None:
        if not isinstance(event, events.EventLoopBlocked):
            return
        now, (greenlet, last) = time.monotonic(), self.episode
        self.episode = (id(event.greenlet), now)
        if greenlet == id(event.greenlet) and now - last < 1.5 * self.threshold_ms / 1000:
            return  # the same block, still going (by now, maybe past the user's line)
        frame = sys._current_frames().get(event.hub.thread_ident) if event.hub is not None else None
        where = placement.users_frame(frame, self.project)
        spot = (where.f_code.co_filename, where.f_lineno) if where else ("?", 0)
        times = self.seen[spot] = self.seen.get(spot, 0) + 1
        if times & (times - 1):
            return  # said at 1, 2, 4, 8... times: counted, not repeated
        request = self.request_of(event.greenlet)
        place = f"{placement.as_seen(spot[0], self.root)}:{spot[1]}" if where else "code outside the project"
        if times > 1:
            say(f"warning: the event loop was blocked again at {place} ({times} times so far)")
            return
        lines = [f"warning: the event loop was blocked for more than {self.threshold_ms} ms"
                 + (f" while serving {request}" if request else "") + f", at {place}:"]
        if where:
            lines.append(f"    {linecache.getline(spot[0], spot[1]).strip()}")
        lines.append("  Every other request waited meanwhile. Make the call cooperative (a pure-Python or "
                     "gevent-aware driver, gevent.sleep, a threadpool), or raise BLOCKING_WARN_MS.")
        say("\n".join(lines))

    def request_of(self, greenlet) -> str | None:
        for handler in list(self.server.handlers):
            if handler.greenlet is greenlet and getattr(handler, "command", None):
                return f"{handler.command} {handler.path}"
        return None
