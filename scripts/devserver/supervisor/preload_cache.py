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
import sys
import tempfile
from pathlib import Path


def cache_file(root: Path, kind: str = "") -> Path:
    """<project>/.cache/devserver/preload-<interpreter>.json, or under the user's cache when the project
    cannot be written. One per interpreter: the host's .venv and the container's differ. One per `kind`
    too: a task worker (`tasks`) imports its queue's modules, which the web workers need not preload,
    and the compose web and worker services share the project."""
    interpreter = hashlib.sha256(f"{sys.prefix} {sys.version}".encode()).hexdigest()[:12]
    name = f"preload-{kind + '-' if kind else ''}{interpreter}.json"
    place = root / ".cache" / "devserver"
    existing = next((p for p in (place, place.parent, root) if p.exists()), None)
    if existing is not None and existing.is_dir() and os.access(existing, os.W_OK):
        return place / name
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "devserver"
    return home / f"{hashlib.sha256(str(root).encode()).hexdigest()[:16]}-{name}"


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
            data = {"modules": sorted(self.modules), "excluded": self.excluded, "off": self.off}
            with tempfile.NamedTemporaryFile("w", dir=self.path.parent, suffix=".tmp", delete=False) as f:
                f.write(json.dumps(data, indent=1))
            os.replace(f.name, self.path)  # whole or not at all, whoever writes at the same time
        except OSError:
            pass  # learned again after the next start

    def write_list(self, modules: list[str]) -> str:
        """A file listing `modules` for a fork server to read (and delete): its path."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.path.parent, prefix="preload-list-", delete=False) as f:
            f.write("\n".join(modules))
        return f.name

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
    """'212 modules from 14 packages: sqlalchemy, pydantic, ...' (installed packages first, largest first)."""
    packages: dict[str, int] = {}
    for name in modules:
        top = name.split(".", 1)[0]
        packages[top] = packages.get(top, 0) + 1
    standard = sys.stdlib_module_names
    ranked = sorted(packages, key=lambda top: (top.lstrip("_") in standard or top.startswith("_"),
                                               -packages[top], top))
    shown = ", ".join(ranked[:6]) + (", ..." if len(ranked) > 6 else "")
    return f"{len(modules)} modules from {len(ranked)} packages: {shown}"
