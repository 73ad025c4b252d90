"""What the app imported from outside the project: what a fork server may preload for the next worker.

Only what cannot be edited as source qualifies: modules whose file is in a site-packages (or
dist-packages) directory or in the standard library, and built-in ones. A module under the
project or under a watched path (RELOAD_PATHS, a symlink's real place included) is code the
user edits, and a preloaded copy of it would be served stale: never. Neither is a module
from anywhere else on sys.path (a sibling checkout, an editable install), nor the dev server's.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from functools import cache
from pathlib import Path

NOT_LEARNED = ("devserver", "__main__", "__mp_main__")
INSTALLED_DIRS = {"site-packages", "dist-packages"}
STDLIB = {os.path.realpath(sysconfig.get_paths()[key]) for key in ("stdlib", "platstdlib")}


def outside_project(names, root: Path, watched=()) -> list[str]:
    """The names in `names` (modules now in sys.modules) that are installed or standard, sorted."""
    edited = editable_places(root, watched)
    return sorted(name for name in names if name.split(".", 1)[0] not in NOT_LEARNED
                  and not name.startswith("_frozen") and is_installed(sys.modules.get(name), edited) is True)


def in_project(names, root: Path) -> set[str]:
    """Those of `names` imported from the project: a preloaded module that pulled one in is unsafe."""
    edited = editable_places(root, ())
    return {name for name in names if is_installed(sys.modules.get(name), edited) is False}


def editable_places(root: Path, watched) -> tuple[str, ...]:
    """The project and every watched path, as real paths (works for a directory deleted a moment ago too)."""
    return tuple(os.path.realpath(p) + os.sep for p in (root, *watched))


def is_installed(module, edited: tuple[str, ...]) -> bool | None:
    """True: installed or standard; False: code under the project or a watched path; None: anything
    else (elsewhere on sys.path, a namespace package, no module at all), which is never learned."""
    if module is None:
        return None
    path = getattr(module, "__file__", None)
    if path is None:
        return None if getattr(module, "__path__", None) is not None else True  # built in: True
    return placed(path, edited)


@cache
def placed(path: str, edited: tuple[str, ...]) -> bool | None:
    real = os.path.realpath(path)
    for place in edited:
        if real.startswith(place):
            # Installed packages in a virtualenv inside the project are still installed.
            return not INSTALLED_DIRS.isdisjoint(Path(real[len(place):]).parts[:-1])
    if not INSTALLED_DIRS.isdisjoint(Path(real).parts[:-1]) or any(real.startswith(s + os.sep) for s in STDLIB):
        return True
    return None
