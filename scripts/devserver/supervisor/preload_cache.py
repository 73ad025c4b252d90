"""What the fork server preloads when PRELOAD=1: learned from the app, kept across restarts.

Each worker that loads the app says which modules from outside the project the import added
(worker/imports.py). Those join the learned set; a module a fork server could not preload
safely is set aside with the reason, and never tried again until a dependency changes. The
set lives in a file outside the watched tree (the project's .cache/, or the user's cache
when the project cannot be written), so the first reload after a restart is already fast.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

FILE_NAME = "preload.json"


def cache_file(root: Path) -> Path:
    """<project>/.cache/devserver/preload.json, or under ~/.cache when the project is not writable."""
    project_cache = root / ".cache" / "devserver"
    try:
        project_cache.mkdir(parents=True, exist_ok=True)
        if os.access(project_cache, os.W_OK):
            return project_cache / FILE_NAME
    except OSError:
        pass
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "devserver"
    return home / f"{hashlib.sha256(str(root).encode()).hexdigest()[:16]}-{FILE_NAME}"


class PreloadCache:
    def __init__(self, path: Path):
        self.path = path
        self.modules: set[str] = set()
        self.excluded: dict[str, str] = {}  # module -> why it is not preloaded
        self.off: str | None = None  # why nothing learned is preloaded (a forked worker crashed)

    def load(self) -> PreloadCache:
        try:
            data = json.loads(self.path.read_text())
            self.modules = set(data.get("modules", []))
            self.excluded = dict(data.get("excluded", {}))
            self.off = data.get("off")
        except (OSError, ValueError, AttributeError):
            pass  # none yet, or unreadable: learn again
        return self

    def save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            data = {"modules": sorted(self.modules), "excluded": self.excluded, "off": self.off}
            temporary.write_text(json.dumps(data, indent=1))
            temporary.replace(self.path)
        except OSError:
            pass  # learned again after the next start

    def learn(self, names: set[str]) -> bool:
        """Add what a worker imported; True when the set to preload grew."""
        new = names - self.modules - set(self.excluded)
        self.modules |= new
        return bool(new) and not self.off

    def exclude(self, name: str, why: str) -> None:
        self.excluded[name] = why
        self.modules.discard(name)

    def forget_exclusions(self) -> None:
        """Dependencies changed: what failed may import now, and may survive a fork now."""
        self.excluded.clear()
        self.off = None

    def preloaded(self) -> list[str]:
        return [] if self.off else sorted(self.modules - set(self.excluded))


def summary(modules: list[str]) -> str:
    """'212 modules from 14 packages: sqlalchemy, pydantic, ...' (the largest packages first)."""
    packages: dict[str, int] = {}
    for name in modules:
        top = name.split(".", 1)[0]
        packages[top] = packages.get(top, 0) + 1
    ranked = sorted(packages, key=lambda top: (-packages[top], top))
    shown = ", ".join(ranked[:6]) + (", ..." if len(ranked) > 6 else "")
    return f"{len(modules)} modules from {len(ranked)} packages: {shown}"
