"""When a generation that failed to load may show its error: once the files have settled.

An editor's save is not one instant. Many truncate the file, then write it; a busy machine
stretches the gap. An error page for a file state that lived a few tens of milliseconds must
not reach the browser, and an error that is really there must not hide for long. So:
- a changed file written again since its change was heard is not settled (that change's
  event is on its way; if none comes, it is settled the next time it is looked at);
- an empty changed file is an editor between truncating and writing, unless it stays empty
  for EMPTY_SETTLE;
- otherwise an error waits for ERROR_SETTLE of quiet, and at most ERROR_SETTLE_MAX after
  the first change not yet served (saves that never pause must not hide an error for good);
  a file in flux for IN_FLUX_MAX shows its error all the same.
"""

from __future__ import annotations

import os
import stat

ERROR_SETTLE = 0.2
ERROR_SETTLE_MAX = 1.0
EMPTY_SETTLE = 1.0
IN_FLUX_MAX = 5.0  # a file rewritten without pause (a generator, a sync) shows its error after this, at most


def file_state(path: str) -> tuple[int, int, int] | None:
    """What tells one version of a file from the next: (size, mtime, inode); None when it is not a file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino) if stat.S_ISREG(st.st_mode) else None


class Settling:
    """The changes not served yet, and when an error from them may show."""

    def __init__(self):
        self.last_change = 0.0
        self.first_unserved_change = float("inf")
        self.unserved: dict[str, tuple | None] = {}  # changed files -> their state when heard of

    def changed(self, paths: set[str], now: float) -> None:
        self.last_change = now
        self.first_unserved_change = min(self.first_unserved_change, now)
        self.unserved.update({path: file_state(path) for path in paths})

    def served(self) -> None:
        self.first_unserved_change = float("inf")
        self.unserved = {}

    def error_may_show_at(self, now: float) -> float:
        """The time from which an error page may be served (`now` or earlier: at once)."""
        if now < self.first_unserved_change + IN_FLUX_MAX and self.in_flux(now):
            return now + ERROR_SETTLE  # looked at again then; a change event may supersede it first
        return min(self.last_change + ERROR_SETTLE, self.first_unserved_change + ERROR_SETTLE_MAX)

    def in_flux(self, now: float) -> bool:
        in_flux = False
        for path, heard in self.unserved.items():
            state = file_state(path)
            if state != heard:
                self.unserved[path] = state  # as it is now: settled next time, if no event comes
                in_flux = True
            elif state is not None and state[0] == 0 and now - self.last_change < EMPTY_SETTLE:
                in_flux = True
        return in_flux
