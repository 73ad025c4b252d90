"""What the app imported from outside the project: what a fork server may preload for the next worker.

Only installed packages and the standard library qualify. A module whose file is in the project
tree (outside a virtualenv's site-packages) is the user's code, and a preloaded copy of it would
be served stale after an edit: never. Neither is anything of the dev server's own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

NOT_LEARNED = ("devserver", "__main__", "__mp_main__")


def outside_project(names: set[str], root: Path) -> list[str]:
    """The names in `names` (modules now in sys.modules) that are installed or standard, sorted."""
    root = Path(os.path.realpath(root))  # works for a directory deleted a moment ago too
    return sorted(name for name in names if name.split(".", 1)[0] not in NOT_LEARNED
                  and not name.startswith("_frozen") and is_installed(sys.modules.get(name), root) is True)


def in_project(root: Path) -> set[str]:
    """The modules now imported from the project: a preloaded module that pulled one in is unsafe."""
    root = Path(os.path.realpath(root))  # works for a directory deleted a moment ago too
    return {name for name, module in list(sys.modules.items()) if is_installed(module, root) is False}


def is_installed(module, root: Path) -> bool | None:
    """True: installed or standard; False: the project's own code; None: cannot tell (a namespace
    package, which may be the project's, or no module at all)."""
    if module is None:
        return None
    path = getattr(module, "__file__", None)
    if path is None:
        return None if getattr(module, "__path__", None) is not None else True  # built in: True
    path = Path(os.path.realpath(path))
    return not (root in path.parents and not {"site-packages", "dist-packages"} & set(path.parts))
