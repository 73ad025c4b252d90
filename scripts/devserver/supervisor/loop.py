"""The supervisor's loop: one queue of events, each handled by its `on_<event>` method through one
error boundary, then housekeeping (gunicorn's arbiter: dispatch by name, `except Exception` around
it; uvicorn's BaseReload: the loop in a base, the work in the subclass).

A handler never waits: what takes time is an event or a deadline (`deadlines`), so the loop wakes
for it, and a signal is acted on within one TICK whatever is going on.
"""

from __future__ import annotations

import time
import traceback
from collections import deque
from queue import Empty, SimpleQueue

from devserver.log import say
from devserver.protocol import Event

TICK = 0.25  # seconds between housekeeping rounds (orphans, deadlines) when nothing happens


class EventLoop:
    def __init__(self, events: SimpleQueue):
        self.events = events
        self.backlog: deque = deque()  # events taken off the queue early, handled before the queue
        self.bugs_said: set[str] = set()
        self.exit_code: int | None = None  # set: the loop ends with it

    # -- what a subclass gives -----------------------------------------------------------
    def begin(self) -> None:
        """Once, before the first event."""

    def housekeeping(self) -> None:
        """After every event (and every TICK): deadlines, orphans."""

    def ending(self) -> None:
        """After housekeeping, apart: whatever failed there, a stop must still end."""

    def deadlines(self) -> list[float]:
        """Times (monotonic) the loop must wake for before a TICK has passed."""
        return []

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> int:
        self.guarded("starting", self.begin)
        while self.exit_code is None:
            self.dispatch(*self.next_event(self.wait()))
        return self.exit_code

    def dispatch(self, event: str, arg: object) -> None:
        """One event, then housekeeping. The one error boundary: a bug of ours is said once, with its
        traceback, and the server goes on with what it has."""
        self.guarded(event, getattr(self, f"on_{event}"), arg)
        self.guarded("housekeeping", self.housekeeping)
        self.guarded("stopping", self.ending)

    def guarded(self, what: str, handler, *args) -> None:
        try:
            handler(*args)
        except Exception as exc:  # noqa: BLE001 - the supervisor must outlive its own bugs
            told = "".join(traceback.format_exception(exc))
            if told not in self.bugs_said:
                self.bugs_said.add(told)
                say(f"error: the dev server failed handling {what}, and goes on serving what it has. "
                    f"Please report this:\n{told}")

    def wait(self) -> float:
        """How long the loop may wait for an event: a TICK, or less when a deadline comes first."""
        return min([TICK] + [max(0.0, d - time.monotonic()) for d in self.deadlines()])

    def next_event(self, timeout: float) -> tuple[str, object]:
        if self.backlog:
            return self.backlog.popleft()
        try:
            return self.events.get(timeout=timeout)
        except Empty:
            return Event.TICK, None

    def merged(self, kind: str, first: set) -> set:
        """`first` with every event of `kind` queued behind it merged in; other events keep their order."""
        while True:
            try:
                event, arg = self.events.get_nowait()
            except Empty:
                return first
            if event == kind:
                first |= arg
            else:
                self.backlog.append((event, arg))

    def on_tick(self, _) -> None:
        pass
