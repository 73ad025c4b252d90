"""Build the supervisor and what it works with (the reaper, the launcher, the installer, the watchers),
then run it: the one place where the real collaborators are chosen, so the supervisor itself runs
in a test with fakes (scripts/tests/devserver_fakes.py)."""

from __future__ import annotations

import socket
from pathlib import Path
from queue import SimpleQueue

from devserver.placement import as_seen
from devserver.protocol import Event
from devserver.settings import Settings
from devserver.supervisor.installer import Installer, recorded_files, tell_conflicts
from devserver.supervisor.launcher import Launcher
from devserver.supervisor.preload_cache import PreloadCache, cache_file
from devserver.supervisor.reaper import Reaper
from devserver.supervisor.supervisor import Supervisor
from devserver.supervisor.watcher import DependencyWatcher, Watcher


def watchers(settings: Settings, events: SimpleQueue, dependencies: bool, as_seen) -> tuple[Watcher, ...]:
    """The source watcher (CHANGE, and ASSETS with live reload) and, when the fork server preloads or
    requirements are installed live, the dependency watcher (DEPS). None without reload."""
    if not settings.reload:
        return ()
    source = Watcher(settings.reload_paths, lambda paths: events.put((Event.CHANGE, paths)),
                     on_assets=(lambda paths: events.put((Event.ASSETS, paths)))
                     if settings.live_reload and not settings.task_worker else None,
                     templates_reload_themselves=settings.templates_auto_reload,
                     force_polling=settings.force_polling, as_seen=as_seen)
    if not dependencies:
        return (source,)
    return source, DependencyWatcher(lambda paths: events.put((Event.DEPS, paths)),
                                     force_polling=settings.force_polling)


def supervise(settings: Settings, listener: socket.socket) -> int:
    """Build the supervisor and what it works with, run it; returns the exit status."""
    events: SimpleQueue = SimpleQueue()
    reaper = Reaper().start()
    kind = "tasks" if settings.task_worker else ""  # a task worker learns what it imports apart from the web's
    launcher = Launcher(listener, settings.worker_env(), events, reaper,
                        preload=settings.preload.enabled, preload_modules=settings.preload.modules,
                        cache=None if settings.production else PreloadCache(cache_file(Path.cwd(), kind)).load())
    installer = Installer(Path.cwd(), reaper, lambda result: events.put((Event.INSTALLED, result))) \
        if settings.live_install and recorded_files() else None
    if not settings.production:
        tell_conflicts()
    root = Path.cwd()
    return Supervisor(settings, listener, launcher, events, installer, root=root,
                      watchers=watchers(settings, events, launcher.preload or bool(installer),
                                        lambda path: as_seen(path, root))).run()
