"""What the app imported from outside the project: what a fork server may preload for the next worker.

Only what cannot be edited as source qualifies: installed and standard modules, built-in ones
(placement.py decides, for every part of the dev server). A module under the project or under
a watched path (RELOAD_PATHS, a symlink's real place included) is code the user edits, and a
preloaded copy of it would be served stale: never. Neither is a module from anywhere else on
sys.path (a sibling checkout, an editable install), nor the dev server's.
"""

from __future__ import annotations

import sys
from pathlib import Path

from devserver.placement import module_placed, places

NOT_LEARNED = ("devserver", "__main__", "__mp_main__")


def outside_project(names, root: Path, watched=()) -> list[str]:
    """The names in `names` (modules now in sys.modules) that are installed or standard, sorted."""
    edited = places(root, watched)
    return sorted(name for name in names if name.split(".", 1)[0] not in NOT_LEARNED
                  and not name.startswith("_frozen") and module_placed(sys.modules.get(name), edited) is True)


def in_project(names, root: Path) -> set[str]:
    """Those of `names` imported from the project: a preloaded module that pulled one in is unsafe."""
    edited = places(root)
    return {name for name in names if module_placed(sys.modules.get(name), edited) is False}
