"""Requirements files and installed packages: what a change to them means for the workers.

A requirements file the environment was installed from is installed live (installer.py) while
the workers serve, and at start what changed since the environment was made is installed
before the first worker. Once installed, or when installed packages change some other way
(`pip install` by hand), the fork server must be rebuilt and the app reloaded, once. This
module decides and says so; the supervisor does what it answers: a Reload, or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devserver.log import say
from devserver.placement import installed
from devserver.supervisor.installer import Installed, Installer, stale_files
from devserver.supervisor.watcher import is_requirements, site_packages_listing


@dataclass
class Reload:
    """Rebuild the fork server (`why`), then start a generation (`cause`)."""

    why: str
    cause: str


class Dependencies:
    def __init__(self, root: Path, installer: Installer | None, as_seen: Callable[[str], str], in_compose: bool):
        self.root = root
        self.in_compose = in_compose  # where `docker compose up --build` is the way to bake it in
        self.installer = installer  # None: requirements changes are not installed (LIVE_INSTALL=0, production)
        self.as_seen = as_seen
        self.site_packages = site_packages_listing()  # as the fork server last saw it

    def install_at_start(self) -> bool:
        """What changed in the requirements since this environment was made (an image built before the
        change) is installed before the first worker, so a plain `docker compose up` never serves it
        stale. True if an install started: its end (INSTALLED) lets the first worker start."""
        if not self.installer:
            return False
        try:
            stale = stale_files(self.root)
        except OSError:
            stale = ["the requirements"]  # unreadable: the install says what is wrong
        if not stale:
            return False
        rebuild = " (`docker compose up --build` bakes it into the image)" if self.in_compose else ""
        say(f"{', '.join(stale)} changed since this environment was installed: installing before the app "
            f"starts{rebuild}")
        self.installer.request()
        return True

    def saved_while_installing(self, paths: set[str]) -> None:
        """A requirements file saved during the start-up install: one more run after it (never lost)."""
        if self.installer and any(is_requirements(p) for p in paths):
            self.installer.request()

    def installed_at_start(self, result: Installed) -> None:
        self.site_packages = site_packages_listing()
        if result.ok:
            say(f"installed {', '.join(result.added) or 'nothing new'} in {result.seconds:.1f} s ({result.tool})")
        else:
            say(f"error: could not install {', '.join(result.files) or 'the requirements'}: {result.error}. "
                "Starting on the packages installed")

    def changed(self, paths: set[str]) -> Reload | None:
        """Requirements files or installed packages changed (the dependency watcher's batch)."""
        names = sorted(self.as_seen(p) for p in paths)
        if self.installer and any(is_requirements(p) for p in paths):
            installed_from = [n for n in names if self.installer.installs(n)]
            if not installed_from:
                return None  # a requirements file this environment was not installed from (requirements-dev.txt)
            if not self.installer.running:
                say(f"{', '.join(installed_from)} changed: installing (the app keeps serving meanwhile)")
            self.installer.request()
            return None
        if self.installer and self.installer.running:
            return None  # the install's own changes to site-packages: its end (INSTALLED) decides
        listing = site_packages_listing()
        project_files = [p for p in paths if not installed(p, self.root)]
        if listing == self.site_packages and not project_files:
            return None  # an install's own changes, heard after its end: nothing new
        self.site_packages = listing
        return Reload(f"{', '.join(names[:3])} changed", "dependencies changed")

    def installed(self, result: Installed) -> Reload | None:
        """An install ended: reload once if what is installed changed (whatever the installer's output
        said), and say how it went."""
        files = ", ".join(result.files) or "the requirements"
        took = f" ({result.tool}, {result.seconds:.1f} s)" if result.tool else ""
        listing = site_packages_listing()
        changed = listing != self.site_packages
        added = ", ".join(result.added) or f"{files}"
        if not result.ok:
            say(f"error: could not install {files}{took}: {result.error}. The app keeps running on the packages "
                f"it had{' (and those installed before the error)' if changed else ''}: fix {files} and save")
        elif changed:
            say(f"installed {added} in {result.seconds:.1f} s ({result.tool})")
        elif result.files:
            say(f"{files}: nothing new to install{took}")
        else:
            say("the requirements files are as installed: nothing to install")
        if not changed:
            return None
        self.site_packages = listing
        return Reload(f"installed {added}", f"installed {added}")
