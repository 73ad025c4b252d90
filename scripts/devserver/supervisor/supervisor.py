"""The supervisor: owns the port, watches files, and swaps workers so nothing is ever refused.

It is not monkey-patched and never imports the user's app, so nothing the app
does can take it down. One loop reads one queue of events, in order (protocol.Event):

  CHANGE  -> start a new generation of workers (the current one keeps serving)
  DEPS    -> a requirements file changed: install it (installer.py), the workers serving meanwhile;
             an installed package changed: rebuild the fork server, then reload
  INSTALLED -> an install ended: rebuild the fork server and reload once, or say why not
  LOADED  -> when the whole new generation has loaded: old ones DRAIN, new ones SERVE
  GONE    -> a retired worker finished; a serving one crashed (restart, with back-off)
  SIGNAL  -> TERM/INT: drain everything and exit 0; HUP: reload now

A reload overlaps: the old worker serves until the new one has imported the app.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import time
from collections import deque
from pathlib import Path
from queue import Empty, SimpleQueue

from devserver import handover, orphans, protocol
from devserver.log import say
from devserver.processes import describe_exit
from devserver.protocol import Event, WorkerWords
from devserver.settings import Settings
from devserver.supervisor.installer import Installed, Installer, recorded_files, stale_files
from devserver.supervisor.launcher import Launcher
from devserver.supervisor.preload_cache import PreloadCache, cache_file
from devserver.supervisor.reaper import Reaper
from devserver.supervisor.watcher import (
    DependencyWatcher,
    Watcher,
    is_requirements,
    site_packages,
    site_packages_listing,
)
from devserver.supervisor.worker_handle import WorkerHandle

TICK = 0.25  # seconds between housekeeping rounds (orphans, deadlines) when nothing happens
DRAIN_ACK_TIMEOUT = 1.0  # how long an old worker may take to stop accepting
RETIRE_MARGIN = 2.0  # past GRACEFUL_TIMEOUT: time to pass the last connections on and exit, then SIGKILL
CRASH_BACKOFF_MAX = 10.0
CRASH_CAUSE = "restart after a crash"
STABLE_AFTER = 30.0  # a worker that lived this long resets the crash back-off
ERROR_SETTLE = 0.2  # an error page is served once the files have been quiet this long
ERROR_SETTLE_MAX = 1.0  # or this long after the first change it shows, whichever comes first
SILENT_LOAD = 10.0  # a generation still loading after this long is said to be (a hang shows nothing else)


class Supervisor:
    """The loop and the generations of workers. Built with its collaborators (see `supervise`), so the
    generation logic runs in a test with a launcher of its own and no process."""

    def __init__(self, settings: Settings, listener: socket.socket, launcher: Launcher, events: SimpleQueue,
                 installer: Installer | None = None):
        self.settings = settings
        self.root = Path.cwd()  # kept: the directory may be deleted while we run
        self.listener = listener
        self.launcher = launcher
        self.events = events
        self.backlog: deque = deque()  # events taken off the queue early, handled before the queue
        self.current: list[WorkerHandle] = []  # serving
        self.pending: list[WorkerHandle] = []  # loading, to replace current
        self.pending_since = 0.0
        self.slow_load_said = False
        self.served: set[WorkerHandle] = set()  # retiring workers that served: their SIGKILL is said
        self.pending_cause = ""
        self.generation = 0  # counts the generations started: SERVE names the one to the browser
        self.boot = secrets.token_hex(4)  # ... with this, so a restarted server's 1 is not the last one's
        self.retiring: dict[WorkerHandle, float] = {}  # -> deadline for a SIGKILL
        self.crashes = 0
        self.restart_at: float | None = None
        self.promote_at: float | None = None  # an error generation waits for the files to settle
        self.last_change = 0.0
        self.first_unserved_change = float("inf")
        self.exit_code: int | None = None
        self.watchers: list[Watcher] = []
        self.installer = installer  # None: requirements changes are not installed (LIVE_INSTALL=0, production)
        self.site_packages = site_packages_listing()  # as the fork server last saw it

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> int:
        orphans.become_subreaper()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda signum, frame: self.events.put((Event.SIGNAL, signum)))
        if self.settings.reload:
            self.watchers.append(Watcher(self.settings.reload_paths,
                                         lambda paths: self.events.put((Event.CHANGE, paths)),
                                         on_assets=(lambda paths: self.events.put((Event.ASSETS, paths)))
                                         if self.settings.live_reload else None,
                                         templates_reload_themselves=self.settings.templates_auto_reload,
                                         force_polling=self.settings.force_polling, shown=self.shown))
            if self.launcher.preload or self.installer:
                self.watchers.append(DependencyWatcher(lambda paths: self.events.put((Event.DEPS, paths)),
                                                       force_polling=self.settings.force_polling))
            for watcher in self.watchers:
                watcher.start()
            say(f"watching {', '.join(self.shown(p) for p in self.settings.reload_paths)} for changes "
                f"(workers start as a {self.launcher.mode})")
        if self.installer:
            self.install_at_start()
            if self.exit_code is not None:
                return self.shutdown_before_start()
        self.launcher.start()
        self.start_generation("start")
        while self.exit_code is None:
            timeout = TICK if self.promote_at is None else min(TICK, max(0.0, self.promote_at - time.monotonic()))
            event, arg = self.next_event(timeout)
            getattr(self, f"on_{event}")(arg)
            self.housekeeping()
        return self.exit_code

    def next_event(self, timeout: float) -> tuple[str, object]:
        if self.backlog:
            return self.backlog.popleft()
        try:
            return self.events.get(timeout=timeout)
        except Empty:
            return Event.TICK, None

    def on_tick(self, _) -> None:
        pass

    def on_change(self, paths: set[str]) -> None:
        while True:  # merge every change queued behind this one; other events keep their order
            try:
                event, arg = self.events.get_nowait()
            except Empty:
                break
            if event == Event.CHANGE:
                paths |= arg
            else:
                self.backlog.append((event, arg))
        self.last_change = time.monotonic()
        self.first_unserved_change = min(self.first_unserved_change, self.last_change)
        names = sorted(self.shown(p) for p in paths)
        cause = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        self.start_generation(f"{cause} changed")

    def on_assets(self, paths: set[str]) -> None:
        """Templates or static files changed: no new worker, but the browsers showing them reload (live reload).
        While new code is loading, its serving reloads the pages anyway: only stylesheets are worth a word."""
        if self.pending:
            paths = {p for p in paths if p.endswith(".css")}
        if not paths:
            return
        for worker in self.current:
            worker.send(f"{WorkerWords.ASSETS} " + "\n".join(sorted(paths)))

    def on_deps(self, paths: set[str]) -> None:
        names = sorted(self.shown(p) for p in paths)
        if self.installer and any(is_requirements(p) for p in paths):
            installed_from = [n for n in names if self.installer.installs(n)]
            if not installed_from:
                return  # a requirements file this environment was not installed from (requirements-dev.txt here)
            if not self.installer.running:
                say(f"{', '.join(installed_from)} changed: installing (the app keeps serving meanwhile)")
            return self.installer.request()
        if self.installer and self.installer.running:
            return  # the install's own changes to site-packages: its end (INSTALLED) decides
        listing = site_packages_listing()
        project_files = [p for p in paths if not p.startswith(tuple(str(d) for d in site_packages()))]
        if listing == self.site_packages and not project_files:
            return  # an install's own changes, heard after its end: nothing new
        self.site_packages = listing
        self.launcher.rebuild(f"{', '.join(names[:3])} changed", dependencies_changed=True)
        self.start_generation("dependencies changed")

    def on_installed(self, result: Installed) -> None:
        """Reload once if what is installed changed (whatever the installer's output said), and say how it went."""
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
        if changed:
            self.site_packages = listing
            self.launcher.rebuild(f"installed {added}", dependencies_changed=True)
            self.start_generation(f"installed {added}")

    def install_at_start(self) -> None:
        """Before the first worker: what changed in the requirements since this environment was made (an
        image built before the change) is installed, so a plain `docker compose up` never serves it stale.
        The loop keeps running meanwhile: a stop signal ends the install and the server."""
        try:
            stale = stale_files(self.root)
        except OSError:
            stale = ["the requirements"]  # unreadable: the install says what is wrong
        if not stale:
            return
        rebuild = " (`docker compose up --build` bakes it into the image)" if os.environ.get("PUBLIC_URL") else ""
        say(f"{', '.join(stale)} changed since this environment was installed: installing before the app "
            f"starts{rebuild}")
        self.installer.request()
        while True:
            event, arg = self.next_event(TICK)
            if event == Event.INSTALLED:
                return self.on_installed_at_start(arg)
            if event == Event.SIGNAL and arg != signal.SIGHUP:
                self.installer.stop()
                self.exit_code = 0
                return say(f"{signal.Signals(arg).name}: stopping (the install is stopped)")
            if event not in (Event.TICK, Event.SIGNAL):
                self.backlog.append((event, arg))

    def on_installed_at_start(self, result: Installed) -> None:
        self.site_packages = site_packages_listing()
        if result.ok:
            say(f"installed {', '.join(result.added) or 'nothing new'} in {result.seconds:.1f} s ({result.tool})")
        else:
            say(f"error: could not install {', '.join(result.files) or 'the requirements'}: {result.error}. "
                "Starting on the packages installed")

    def on_signal(self, signum: int) -> None:
        if signum == signal.SIGHUP:
            self.start_generation("SIGHUP")
        else:
            self.shutdown(signal.Signals(signum).name)

    def on_loaded(self, worker: WorkerHandle) -> None:
        if worker not in self.pending or not all(w.loaded for w in self.pending):
            return
        # Saves that never pause must not hide an error for good: at most ERROR_SETTLE_MAX.
        settled = min(self.last_change + ERROR_SETTLE, self.first_unserved_change + ERROR_SETTLE_MAX)
        if all(w.serves_app for w in self.pending) or worker.error_only or time.monotonic() >= settled:
            self.promote()
        else:
            # An editor may still be writing (truncate, then write): a file state that lived a
            # few tens of milliseconds must not reach the browser as an error page.
            self.promote_at = settled

    def on_gone(self, worker: WorkerHandle) -> None:
        worker.signal_group(signal.SIGKILL)  # whatever the app started goes with it
        worker.close()
        self.served.discard(worker)
        if self.retiring.pop(worker, None) is not None:
            return  # retired as planned
        status = describe_exit(worker.exit_status)
        if worker in self.pending:
            self.pending.remove(worker)  # gone and reaped: nothing left to kill or wait for
            self.discard(self.pending)
            if worker.error_only:  # the error page itself failed: that is our bug, not the user's
                return self.fail(f"error: the error-page worker {status}; please report this")
            if worker.exit_status is not None and worker.exit_status < 0 and self.launcher.distrust_learned(
                    f"a worker forked from it {status} while loading the app"):
                return self.start_generation(self.pending_cause)  # again, from the base fork server
            self.launcher.verdict(False)  # crashed from the base preload too: the app's doing
            if not self.settings.reload:
                return self.fail(f"error: the worker {status} while loading the app (see above)")
            say(f"error: the worker {status} while loading the app; serving an error page until the next change")
            self.start_generation(self.pending_cause, error=protocol.error_page(
                protocol.LOAD_FAILED, f"The worker {status} while loading the app: see the server log."))
        elif worker in self.current:
            self.current.remove(worker)
            lived = time.monotonic() - worker.started
            self.crashes = 1 if lived > STABLE_AFTER or worker.error_only else self.crashes + 1
            delay = min(CRASH_BACKOFF_MAX, 0.5 * 2 ** (self.crashes - 1))
            say(f"error: the app crashed: {worker} {status} while serving; starting a new one in {delay:g}s "
                "(requests meanwhile get a 503 page)")
            if not self.current and not self.pending:  # nobody serves: say so rather than leave requests hanging
                self.start_generation(CRASH_CAUSE, error=protocol.error_page(
                    protocol.CRASHED, f"The app's worker {status} while serving. A new one starts in {delay:g}s; "
                                      "the server log has what happened."))
            self.restart_at = time.monotonic() + delay

    # -- generations ----------------------------------------------------------------------
    def start_generation(self, cause: str, error: str | None = None) -> None:
        """Start workers for the current code; the serving ones stay until these have loaded."""
        if self.pending:
            self.discard(self.pending)  # superseded before they served anything
        self.restart_at = None
        self.promote_at = None
        self.pending_since = time.monotonic()
        self.slow_load_said = False
        self.pending_cause = cause
        self.generation += 1
        self.pending = [self.launcher.launch(error) for _ in range(self.settings.processes)]

    def promote(self) -> None:
        """Swap generations: old workers stop accepting (acknowledged) before new ones accept.

        That order means no request sent after the new code first answers is answered
        by the old code; connections that arrive in between wait in the backlog.
        """
        new, old = self.pending, self.current
        self.pending = []
        self.promote_at = None
        self.first_unserved_change = float("inf")
        ok = all(w.serves_app for w in new)
        if not ok and not self.settings.reload:
            self.current = new
            return self.fail("error: the app could not be loaded (see above); with RELOAD=0 nothing will "
                             "reload it: fix it and start again")
        # The old workers pass every connection they are not answering to the new ones, through
        # one channel: connections go to whichever new worker reads first.
        give, take = handover.channel() if old else (None, None)
        for worker in old:
            worker.send(WorkerWords.DRAIN, give)
        for worker in old:
            worker.draining.wait(DRAIN_ACK_TIMEOUT)
            self.retire(worker, self.settings.graceful_timeout + RETIRE_MARGIN)
        for worker in new:
            worker.send(f"{WorkerWords.SERVE} {self.boot}-{self.generation}", take)
        for end in (give, take):
            if end is not None:
                end.close()  # the workers hold their own copies
        self.current = new
        if not any(w.error_only for w in new):
            self.launcher.verdict(ok)  # after a crash blamed on the learned preload: was it?
        if ok:  # what the app imported from outside the project: the fork server may preload it
            self.launcher.learn(set().union(*(w.imported for w in new)))
        elapsed = (time.monotonic() - self.pending_since) * 1000
        if self.pending_cause == "start":
            host = f"[{self.settings.host}]" if ":" in self.settings.host else self.settings.host
            say(f"serving {self.settings.flask_app} on http://{host}:{self.settings.port} "
                f"({len(new)} worker{'s' if len(new) > 1 else ''}, ready in {elapsed:.0f} ms)")
            if os.environ.get("PUBLIC_URL"):  # set by compose: where the published port is on the host
                say(f"open {os.environ['PUBLIC_URL']} in your browser")
        elif any(w.error_only for w in new):
            pass  # said when the error was found
        elif ok and self.pending_cause == CRASH_CAUSE:
            say(f"restarted after the crash in {elapsed:.0f} ms")
        elif ok:
            say(f"reloaded in {elapsed:.0f} ms: {self.pending_cause}")
        else:
            say("the app failed to load: every request gets the error page until the next change")

    def retire(self, worker: WorkerHandle, grace: float) -> None:
        self.retiring[worker] = time.monotonic() + grace
        self.served.add(worker)

    def discard(self, workers: list[WorkerHandle]) -> None:
        """End workers that never served: nothing to drain."""
        for worker in workers:
            worker.signal_group(signal.SIGKILL)
            self.retiring[worker] = time.monotonic()
        workers.clear()

    def housekeeping(self) -> None:
        self.launcher.housekeeping()  # a fork server that preloads more may take over
        # What a dead worker's app left running (setsid, double fork) was handed to us: end it.
        tracked = {w.pid for w in (*self.current, *self.pending, *self.retiring)}
        orphans.end(orphans.from_workers(orphans.children(os.getpid()) - tracked - self.launcher.pids()))
        now = time.monotonic()
        for worker, deadline in list(self.retiring.items()):
            if now >= deadline:
                if worker in self.served:
                    self.served.discard(worker)
                    paused = " Paused at a breakpoint? Its debug session ends with it." \
                        if self.settings.debugger else ""
                    say(f"{worker} still had requests after GRACEFUL_TIMEOUT={self.settings.graceful_timeout:g}s "
                        f"and more: ending it.{paused}")
                worker.signal_group(signal.SIGKILL)
        if self.pending and not self.slow_load_said and now - self.pending_since > SILENT_LOAD:
            self.slow_load_said = True
            serving = "the current code keeps serving" if self.current else "requests wait"
            say(f"the new worker has not loaded the app after {SILENT_LOAD:g}s ({serving}); if the log says "
                "nothing about where it is, it may be stuck before the app: under a debugger, GEVENT_SUPPORT=True "
                "must be set (DEBUGGER=debugpy sets it)")
        if self.promote_at is not None and now >= self.promote_at and self.pending:
            self.promote_at = None
            self.promote()
        if self.restart_at is not None and now >= self.restart_at and not self.pending:
            self.start_generation(CRASH_CAUSE)

    # -- the end ---------------------------------------------------------------------------
    def fail(self, message: str) -> None:
        say(message)
        self.shutdown(None, code=1)

    def shutdown(self, why: str | None, code: int = 0) -> None:
        """Drain every worker (bounded by GRACEFUL_TIMEOUT), then end their groups, then exit."""
        if why:
            say(f"{why}: stopping (in-flight requests get up to {self.settings.graceful_timeout:g}s)")
        for watcher in self.watchers:
            watcher.stop()
        if self.installer:
            self.installer.stop()
        self.discard(self.pending)
        for worker in self.current:
            worker.send(WorkerWords.STOP)
            self.retire(worker, self.settings.graceful_timeout + 0.5)
        self.current = []
        hard_deadline = time.monotonic() + self.settings.graceful_timeout + 2
        while self.retiring and time.monotonic() < hard_deadline:
            event, arg = self.next_event(0.05)
            if event == Event.GONE:
                self.on_gone(arg)
            elif event == Event.SIGNAL and arg == signal.SIGINT and why:
                say("second Ctrl-C: killing the workers now")
                self.served.clear()  # said already, and not for want of time
                for worker in self.retiring:
                    self.retiring[worker] = 0.0
            self.housekeeping()
        for worker in self.retiring:
            worker.signal_group(signal.SIGKILL)
        self.launcher.stop()
        self.listener.close()
        self.exit_code = code

    def shutdown_before_start(self) -> int:
        """Stopped while installing at start: no worker yet, nothing to drain."""
        for watcher in self.watchers:
            watcher.stop()
        self.listener.close()
        return self.exit_code

    def shown(self, path) -> str:
        """A path as the user thinks of it: relative to the project when inside it."""
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)


def supervise(settings: Settings, listener: socket.socket) -> int:
    """Build the supervisor and what it works with, run it; returns the exit status."""
    events: SimpleQueue = SimpleQueue()
    reaper = Reaper().start()
    launcher = Launcher(listener, settings.worker_env(), events, reaper,
                        preload=settings.preload.enabled, preload_modules=settings.preload.modules,
                        cache=None if settings.production else PreloadCache(cache_file(Path.cwd())).load())
    installer = Installer(Path.cwd(), reaper, lambda result: events.put((Event.INSTALLED, result))) \
        if settings.live_install and recorded_files() else None
    return Supervisor(settings, listener, launcher, events, installer).run()
