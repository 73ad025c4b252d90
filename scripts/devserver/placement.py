"""Whose code a file is: installed (or standard), the user's, or neither. Decided here once.

Installed or standard: a file in a site-packages (or dist-packages) directory, the standard
library, a built-in module. The user's: a file under the project or a watched path
(RELOAD_PATHS), by its real place, so a symlink counts where it points; a virtualenv inside
the project is still installed. Neither: the dev server's own code (by where this package
really is, whatever the folders around it are named), pseudo-files that name no file on
disk (`<string>` from exec, `<frozen ...>`), anything else on sys.path (a sibling checkout,
an editable install). Used by the learned preload (worker/imports.py, the fork server),
freshsource (which directories compile from source), the load watch and the blocking report
(the user's innermost frame), and the supervisor (a change in site-packages or the project).
"""

from __future__ import annotations

import os
import sysconfig
from functools import cache
from pathlib import Path

INSTALLED_DIRS = {"site-packages", "dist-packages"}
STDLIB = {os.path.realpath(sysconfig.get_paths()[key]) for key in ("stdlib", "platstdlib")}
DEVSERVER = os.path.dirname(os.path.realpath(__file__)) + os.sep  # this package: scripts/devserver


def places(root, watched=()) -> tuple[str, ...]:
    """The project and every watched path, as real paths (works for a directory deleted a moment ago too)."""
    return tuple(os.path.realpath(p) + os.sep for p in (root, *watched))


def placed(path: str, edited: tuple[str, ...]) -> bool | None:
    """True: installed or standard; False: the user's (under one of `edited`, from places()); None: neither."""
    if not path or path.startswith("<") and path.endswith(">"):
        return None  # exec'd or frozen code: no file the user edits
    return placed_absolute(os.path.abspath(path), edited)


@cache
def placed_absolute(path: str, edited: tuple[str, ...]) -> bool | None:
    real = os.path.realpath(path)
    if real.startswith(DEVSERVER):
        return None
    for place in edited:
        if real.startswith(place):
            # Installed packages in a virtualenv inside the project are still installed.
            return not INSTALLED_DIRS.isdisjoint(Path(real[len(place):]).parts[:-1])
    if not INSTALLED_DIRS.isdisjoint(Path(real).parts[:-1]) or any(real.startswith(s + os.sep) for s in STDLIB):
        return True
    return None


def installed(path: str, root) -> bool:
    """Whether the file at `path` is installed or standard code, for a project at `root`."""
    return placed(str(path), places(root)) is True


def module_placed(module, edited: tuple[str, ...]) -> bool | None:
    """placed() for a module: a built-in one is True; a namespace package or no module at all is None."""
    if module is None:
        return None
    path = getattr(module, "__file__", None)
    if path is None:
        return None if getattr(module, "__path__", None) is not None else True
    return placed(path, edited)


def users_frame(frame, edited: tuple[str, ...]):
    """The innermost frame, from `frame` outwards, in the user's own code; None if there is none."""
    while frame is not None:
        if placed(frame.f_code.co_filename, edited) is False:
            return frame
        frame = frame.f_back
    return None


def as_seen(path, root) -> str:
    """A path as the user sees it: relative to the project root when inside it (as written or really), else as is."""
    for inner, outer in ((path, root), (os.path.realpath(path), os.path.realpath(root))):
        try:
            return str(Path(inner).relative_to(outer))
        except ValueError:
            pass
    return str(path)
