"""The supervisor: owns the port, watches files, and swaps workers so nothing is ever refused.

It is not monkey-patched and never imports the user's app, so nothing the app
does can take it down. Its loop (loop.py) reads one queue of events, in order (protocol.Event),
and hands each to its handler here through one error boundary:

  CHANGE  -> start a new generation of workers (the current one keeps serving)
  DEPS    -> a requirements file changed: install it (installer.py), the workers serving meanwhile;
             an installed package changed: rebuild the fork server, then reload
  INSTALLED -> an install ended: rebuild the fork server and reload once, or say why not
  LOADED  -> when the whole new generation has loaded: old ones DRAIN, new ones SERVE
  DRAINING -> an old worker stopped accepting: once all have (or after DRAIN_ACK_TIMEOUT), new ones SERVE
  GONE    -> a retired worker finished; a serving one crashed (restart, with back-off)
  SIGNAL  -> TERM/INT: drain everything and exit 0; HUP: reload now

The loop is in one of three phases: installing (what changed in the requirements since the
environment was made, before the first worker), serving, stopping (draining, up to
GRACEFUL_TIMEOUT).

A reload overlaps: the old worker serves until the new one has imported the app.

With TASK_WORKER the workers are task workers (worker/tasks.py): one a generation, no port, no
hand-over channel, and no error page: a generation that does not load is ended and the running
one keeps consuming. An old one's DRAIN is its queue's warm shutdown, bounded by TASK_GRACE.
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from queue import SimpleQueue

from devserver import handover, orphans, protocol
from devserver.log import say
from devserver.placement import as_seen
from devserver.processes import describe_exit
from devserver.protocol import Event, WorkerWords
from devserver.settings import ProjectCode, Settings
from devserver.stamps import stamp
from devserver.supervisor import roles
from devserver.supervisor.dependencies import Dependencies, Reload
from devserver.supervisor.installer import Installed
from devserver.supervisor.loop import EventLoop
from devserver.supervisor.settling import Settling
from devserver.supervisor.watcher import Watcher
from devserver.supervisor.worker_handle import WorkerHandle

DRAIN_ACK_TIMEOUT = 1.0  # how long the old workers may take to stop accepting, before the new ones serve anyway
RETIRE_MARGIN = 2.0  # past GRACEFUL_TIMEOUT: time to pass the last connections on and exit, then SIGKILL
STOP_MARGIN = 0.5  # stopping: past GRACEFUL_TIMEOUT, a worker still there is SIGKILLed...
STOP_DEADLINE = 0.9  # ... and past this, the server exits whatever is left (within GRACEFUL_TIMEOUT + 1 s)
CRASH_BACKOFF_MAX = 10.0
CRASH_CAUSE = "restart after a crash"
STABLE_AFTER = 30.0  # a worker that lived this long resets the crash back-off
SILENT_LOAD = 10.0  # a generation still loading after this long is said to be (a hang shows nothing else)
INSTALLING, SERVING, STOPPING = "installing", "serving", "stopping"  # the loop's phases


@dataclass
class Handover:
    """A promoted generation waiting for the old one to stop accepting before it serves."""

    old: list[WorkerHandle]
    take: socket.socket | None  # the new workers' end of the hand-over channel
    deadline: float  # after which the new ones serve anyway
    generation: str  # what SERVE names (live reload)
    cause: str
    since: float  # when the generation started: the reload's time


class Supervisor(EventLoop):
    """The generations of workers, on the event loop. Built with its collaborators (start.py), so the
    generation logic runs in a test with a launcher of its own and no process."""

    def __init__(self, settings: Settings, listener: socket.socket, launcher: roles.Launcher, events: SimpleQueue,
                 installer: roles.Installer | None = None, watchers: tuple[Watcher, ...] = (),
                 root: Path | None = None):
        super().__init__(events)
        self.settings = settings
        self.root = root or Path.cwd()  # kept: the directory may be deleted while we run
        self.listener = listener
        self.launcher = launcher
        self.phase = SERVING
        self.current: list[WorkerHandle] = []  # serving (or about to: see handover)
        self.handover: Handover | None = None  # promoted, waiting for the old workers to stop accepting
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
        self.restart_cause = CRASH_CAUSE
        self.promote_at: float | None = None  # an error generation waits for the files to settle
        self.settling = Settling()
        self.stop_code = 0
        self.stop_deadline = 0.0
        self.watchers = watchers
        self.installer = installer  # None: requirements changes are not installed (LIVE_INSTALL=0, production)
        self.dependencies = Dependencies(self.root, installer, self.as_seen, in_compose=bool(settings.public_url))
        self.tasks = bool(settings.task_worker)  # task workers, not web ones
        # What a worker being replaced or stopped gets to finish its requests, or its running tasks.
        self.grace = settings.task_grace if self.tasks else settings.graceful_timeout

    # -- the loop's hooks ------------------------------------------------------------------
    def begin(self) -> None:
        try:
            orphans.become_subreaper()
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(signum, lambda signum, frame: self.events.put((Event.SIGNAL, signum)))
            for watcher in self.watchers:
                watcher.start()
            if self.watchers:
                say(f"watching {', '.join(self.watched(p) for p in self.settings.reload_paths)} for changes "
                    f"(workers start as a {self.launcher.mode})")
            if self.dependencies.install_at_start():
                self.phase = INSTALLING  # until INSTALLED; a stop signal meanwhile ends the install and the server
        finally:
            if self.phase == SERVING:
                self.start_serving()  # also when something above failed: serve all the same

    def start_serving(self) -> None:
        self.phase = SERVING
        self.guarded("starting the fork server", self.launcher.start)  # without one, workers are spawned
        self.start_generation("start")

    def deadlines(self) -> list[float]:
        return [d for d in (self.promote_at, self.handover and self.handover.deadline) if d is not None]

    def ending(self) -> None:
        if self.phase == STOPPING:
            self.end_if_stopped(time.monotonic())

    def on_change(self, paths: set[str]) -> None:
        if self.phase != SERVING:
            return  # installing: the first generation loads the files as they are then; stopping: nothing
        paths = self.merged(Event.CHANGE, paths)  # one generation for every change queued behind this one
        self.settling.changed(paths, time.monotonic())
        names = sorted(self.as_seen(p) for p in paths)
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
        if self.phase == SERVING:
            self.reload_for(self.dependencies.changed(paths))
        elif self.phase == INSTALLING:
            self.dependencies.saved_while_installing(paths)  # installed next, before the first worker

    def on_installed(self, result: Installed) -> None:
        if self.phase == INSTALLING:
            self.dependencies.installed_at_start(result)
            self.start_serving()
        elif self.phase == SERVING:
            self.reload_for(self.dependencies.installed(result))

    def reload_for(self, reload: Reload | None) -> None:
        if reload is not None:
            self.launcher.rebuild(reload.why, dependencies_changed=True)
            self.start_generation(reload.cause)

    def on_signal(self, signum: int) -> None:
        if self.phase == STOPPING:
            installing = self.installer is not None and self.installer.running
            if signum == signal.SIGINT and self.stop_code == 0 and (self.retiring or installing):
                say(f"second Ctrl-C: killing the {'workers' if self.retiring else 'install'} now")
                self.served.clear()  # said already, and not for want of time
                self.stop_deadline = 0.0
                for worker in self.retiring:
                    self.retiring[worker] = 0.0
        elif signum == signal.SIGHUP:
            self.start_generation("SIGHUP")
        else:
            self.shutdown(signal.Signals(signum).name + (" during the install" if self.phase == INSTALLING else ""))

    def on_loaded(self, worker: WorkerHandle) -> None:
        if worker in self.pending:
            self.consider_promoting()

    def on_draining(self, worker: WorkerHandle) -> None:
        self.end_handover()

    def consider_promoting(self) -> None:
        """Promote the pending generation once all of it has loaded: at once when it serves the app (or
        is an error page of ours), else once the files have settled (settling.py)."""
        if not self.pending or not all(w.loaded for w in self.pending):
            return
        if self.tasks and not all(w.serves_app for w in self.pending):
            return self.tasks_not_loaded("could not load the new code (see above)")
        if all(w.serves_app for w in self.pending) or any(w.error_only for w in self.pending):
            return self.promote()
        now = time.monotonic()
        at = self.settling.error_may_show_at(now)
        if now >= at:
            self.promote()
        else:
            self.promote_at = at

    def on_gone(self, worker: WorkerHandle) -> None:
        worker.signal_group(signal.SIGKILL)  # whatever the app started (its forks) goes with it
        worker.close()
        self.served.discard(worker)
        if self.retiring.pop(worker, None) is not None:
            return self.end_handover()  # retired as planned
        status = describe_exit(worker.exit_status)
        if worker in self.pending and worker.start_failure is not None:
            return self.launch_again(worker)  # never started: the fork server's doing, not the app's
        if worker in self.pending:
            self.pending.remove(worker)  # gone and reaped: nothing left to kill or wait for
            self.end_unserved(self.pending)
            if worker.error_only:  # the error page itself failed: that is our bug, not the user's
                return self.fail(f"error: the error-page worker {status}; please report this")
            if worker.exit_status is not None and worker.exit_status < 0 and self.launcher.distrust_learned(
                    f"a worker forked from it {status} while loading the app"):
                return self.start_generation(self.pending_cause)  # again, from the base fork server
            self.launcher.verdict(False)  # crashed from the base preload too: the app's doing
            if self.tasks:
                return self.tasks_not_loaded(f"{status} while loading the app")
            if not self.settings.reload:
                return self.keep_serving_or_fail(f"the worker {status} while loading the app (see above)")
            say(f"error: the worker {status} while loading the app; serving an error page until the next change")
            self.start_generation(self.pending_cause, error=protocol.error_page(
                protocol.LOAD_FAILED, f"The worker {status} while loading the app: see the server log."))
        elif worker in self.current:
            self.current.remove(worker)
            lived = time.monotonic() - worker.started
            delay = self.backoff(fresh=lived > STABLE_AFTER or worker.error_only)
            say(f"error: the app crashed: {worker} {status} while serving; starting a new one in {delay:g}s "
                + ("(tasks wait in the queue meanwhile)" if self.tasks else "(requests meanwhile get a 503 page)"))
            # Nobody serves: say so rather than leave requests hanging (tasks wait in their queue).
            if not self.current and not self.pending and not self.tasks:
                self.start_generation(CRASH_CAUSE, error=protocol.error_page(
                    protocol.CRASHED, f"The app's worker {status} while serving. A new one starts in {delay:g}s; "
                                      "the server log has what happened."))
            self.restart_at, self.restart_cause = time.monotonic() + delay, CRASH_CAUSE
            self.end_handover()  # it may have been the last one it waited for

    def tasks_not_loaded(self, why: str) -> None:
        """A task worker's new generation did not load: ended; the running one (if any) goes on consuming."""
        self.end_unserved(self.pending)
        if self.current:
            say(f"error: the new task worker {why}: the running one keeps consuming with the code it has "
                "until the next change")
        elif not self.settings.reload:
            self.fail(f"error: the task worker {why}; with RELOAD=0 nothing will reload it: fix it and start again")
        else:
            say(f"error: the task worker {why}: no task is consumed until the next change")

    def launch_again(self, worker: WorkerHandle) -> None:
        """A worker of the pending generation that was never forked: another in its place."""
        index = self.pending.index(worker)
        del self.pending[index]  # gone already: never to be waited for again
        try:
            self.pending.insert(index, self.launcher.launch_again(worker))
        except OSError as exc:
            self.cannot_start(exc)

    # -- generations ----------------------------------------------------------------------
    def start_generation(self, cause: str, error: str | None = None) -> None:
        """Start workers for the current code; the serving ones stay until these have loaded."""
        if self.phase != SERVING:
            return
        if self.pending:
            self.end_unserved(self.pending)  # superseded before they served anything
        self.restart_at = None
        self.promote_at = None
        self.pending_since = time.monotonic()
        self.slow_load_said = False
        self.pending_cause = cause
        self.generation += 1
        stamp("launch")
        try:
            for _ in range(1 if self.tasks else self.settings.processes):  # a task worker has its own pool
                self.pending.append(self.launcher.launch(error))
        except OSError as exc:
            self.cannot_start(exc)

    def backoff(self, fresh: bool = False) -> float:
        """Seconds before the next try after a crash or a failed start: 0.5 doubling to CRASH_BACKOFF_MAX;
        `fresh`: the one that crashed had lived long (or was an error page), so counting starts again."""
        self.crashes = 1 if fresh else self.crashes + 1
        return min(CRASH_BACKOFF_MAX, 0.5 * 2 ** (self.crashes - 1))

    def cannot_start(self, exc: OSError) -> None:
        """No process could be started (fork or Popen failed): a failed generation, tried again after a
        back-off; whatever serves keeps serving."""
        self.end_unserved(self.pending)
        delay = self.backoff()
        why = {errno.EAGAIN: "too many processes (the app may be leaking them; compose's pids_limit is 512)",
               errno.ENOMEM: "not enough memory",
               errno.EMFILE: "too many open files (the app may be leaking them)"}.get(exc.errno, "")
        serving = "the current workers keep serving" if self.current else "requests wait"
        say(f"error: could not start a worker: {exc.strerror or exc}{': ' + why if why else ''}; {serving}, "
            f"and it is tried again in {delay:g}s")
        self.restart_at, self.restart_cause = time.monotonic() + delay, self.pending_cause

    def promote(self) -> None:
        """Swap generations: old workers stop accepting (acknowledged) before new ones accept.

        That order means no request sent after the new code first answers is answered
        by the old code; connections that arrive in between wait in the backlog. The
        acknowledgements are events (DRAINING): `end_handover` sends SERVE once all are in.
        """
        self.launcher.tend()  # what the fork server they came from preloads is said before they serve
        new, old = self.pending, self.current
        # The old workers pass every connection they are not answering to the new ones, through one
        # channel (made first: EMFILE here must leave the generations as they are).
        try:
            give, take = handover.channel() if old and not self.tasks else (None, None)
        except OSError as exc:
            return self.cannot_start(exc)  # EMFILE: the generation is tried again after a back-off
        self.pending = []
        self.promote_at = None
        self.settling.served()
        ok = all(w.serves_app for w in new)
        if not ok and not self.settings.reload:
            for end in (give, take):
                if end is not None:
                    end.close()
            if old:  # a SIGHUP (RELOAD=0) brought code that does not load: what serves goes on
                self.end_unserved(new)
                return self.keep_serving_or_fail("the new code could not be loaded (see above)")
            self.current = new
            return self.fail("error: the app could not be loaded (see above); with RELOAD=0 nothing will "
                             "reload it: fix it and start again")
        self.end_handover(force=True)  # a hand-over still waiting: its new workers serve now
        stamp("drain")
        for worker in old:  # connections go to whichever new worker reads first
            worker.send(WorkerWords.DRAIN, give)
            self.retire(worker, self.grace + RETIRE_MARGIN)
        if give is not None:
            give.close()  # the workers hold their own copies
        self.current = new
        self.handover = Handover(old, take, time.monotonic() + DRAIN_ACK_TIMEOUT, f"{self.boot}-{self.generation}",
                                 self.pending_cause, self.pending_since)
        if not any(w.error_only for w in new):
            self.launcher.verdict(ok)  # after a crash blamed on the learned preload: was it?
        if ok:  # what the app imported from outside the project: the fork server may preload it
            self.restart_at = None  # a crash while it loaded: the app serves again, nothing to restart
            self.launcher.preload_next(set().union(*(w.imported for w in new)))
        self.end_handover()

    def end_handover(self, force: bool = False) -> None:
        """Once every old worker has stopped accepting (or exited, or DRAIN_ACK_TIMEOUT passed, or
        `force`): the new ones serve, and the reload is said."""
        handing = self.handover
        if handing is None:
            return
        if not force and time.monotonic() < handing.deadline and not all(
                w.draining.is_set() or w not in self.retiring for w in handing.old):
            return
        self.handover = None
        stamp("serve")
        new = self.current
        for worker in new:
            worker.send(f"{WorkerWords.SERVE} {handing.generation}", handing.take)
        if handing.take is not None:
            handing.take.close()
        if not any(w.error_only for w in new):  # an error page's cause was said when it was found
            say(served(handing.cause, new, (time.monotonic() - handing.since) * 1000, self.settings, self.tasks))

    def retire(self, worker: WorkerHandle, grace: float) -> None:
        self.retiring[worker] = time.monotonic() + grace
        self.served.add(worker)

    def end_unserved(self, workers: list[WorkerHandle]) -> None:
        """End workers that never served: nothing to drain."""
        for worker in workers:
            worker.signal_group(signal.SIGKILL)
            self.retiring[worker] = time.monotonic()
        workers.clear()

    def housekeeping(self) -> None:
        self.launcher.tend()  # a fork server that preloads more may take over
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
                    if self.tasks:
                        say(f"{worker} had not finished after TASK_GRACE={self.grace:g}s and more: ending it; a "
                            f"task it was still running is cut (it runs again only where the queue redelivers "
                            f"it).{paused}")
                    else:
                        say(f"{worker} still had requests after GRACEFUL_TIMEOUT={self.grace:g}s and more: "
                            f"ending it.{paused}")
                worker.signal_group(signal.SIGKILL)
        if self.pending and not self.slow_load_said and now - self.pending_since > SILENT_LOAD:
            self.slow_load_said = True
            serving = "the current code keeps serving" if self.current else "requests wait"
            hint = (" if the log says nothing about where it is, it may be stuck before the app: under a "
                    "debugger, GEVENT_SUPPORT=True must be set (DEBUGGER=debugpy sets it)") \
                if self.settings.debugger or sys.gettrace() is not None else \
                " a slow import or a busy machine: the loading worker says where it is"
            say(f"the new worker has not loaded the app after {SILENT_LOAD:g}s ({serving});{hint}")
        if self.promote_at is not None and now >= self.promote_at and self.pending:
            self.promote_at = None
            self.consider_promoting()
        self.end_handover()
        if self.restart_at is not None and now >= self.restart_at and not self.pending:
            self.start_generation(self.restart_cause)

    # -- the end ---------------------------------------------------------------------------
    def keep_serving_or_fail(self, why: str) -> None:
        """Without reload (RELOAD=0: a SIGHUP's), new code that does not load: the workers that serve go on."""
        if self.current:
            say(f"error: {why}: the workers already running go on serving the code they have; fix it, "
                "then send SIGHUP again (or restart)")
        else:
            self.fail(f"error: {why}")

    def fail(self, message: str) -> None:
        say(message)
        self.shutdown(None, code=1)

    def shutdown(self, why: str | None, code: int = 0) -> None:
        """Stop: drain every worker (bounded by GRACEFUL_TIMEOUT), end their groups, then exit (the
        stopping phase of the loop, which ends in `end_if_stopped`)."""
        if self.phase == STOPPING:
            return
        if why:
            say(f"{why}: stopping ({'running tasks' if self.tasks else 'in-flight requests'} get up to "
                f"{self.grace:g}s)")
        self.phase = STOPPING
        self.stop_code = code
        self.stop_deadline = time.monotonic() + self.grace + STOP_DEADLINE
        self.restart_at = self.promote_at = None
        for watcher in self.watchers:
            watcher.stop()
        if self.installer:
            self.installer.stop()
        self.end_handover(force=True)
        self.end_unserved(self.pending)
        for worker in self.current:
            worker.send(WorkerWords.STOP)
            self.retire(worker, self.grace + STOP_MARGIN)
        self.current = []
        self.end_if_stopped(time.monotonic())

    def end_if_stopped(self, now: float) -> None:
        """Exit once every worker and install has ended, or at the stop deadline whatever is left."""
        if (self.retiring or self.installer and self.installer.running) and now < self.stop_deadline:
            return
        try:
            for worker in self.retiring:
                worker.signal_group(signal.SIGKILL)
            if self.installer:
                self.installer.kill()
            self.launcher.stop()
            self.launcher.kill()
            self.listener.close()
        finally:
            self.exit_code = self.stop_code  # whatever failed above, the server ends

    def as_seen(self, path) -> str:
        return as_seen(path, self.root)

    def watched(self, path) -> str:
        """A watched path as the start-up line names it (a module at the root: the project's code only)."""
        return as_seen(path, self.root) + (" (its Python files, packages, templates and static files)"
                                           if isinstance(path, ProjectCode) else "")


def served(cause: str, workers: list[WorkerHandle], elapsed_ms: float, settings: Settings, tasks: bool = False) -> str:
    """What the log says once a generation serves: the start-up banner, or how the reload went."""
    if tasks and cause == "start":
        return f"task worker loaded in {elapsed_ms:.0f} ms: {' '.join(settings.task_worker)}"
    if tasks and cause == CRASH_CAUSE:
        return f"task worker restarted after the crash in {elapsed_ms:.0f} ms"
    if tasks:
        return (f"task worker reloaded in {elapsed_ms:.0f} ms: {cause} (a running task finishes on the code it "
                f"started with, within TASK_GRACE={settings.task_grace:g}s)")
    if cause == "start":
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        banner = (f"serving {settings.flask_app} on http://{host}:{settings.port} "
                  f"({len(workers)} worker{'s' if len(workers) > 1 else ''}, ready in {elapsed_ms:.0f} ms)")
        # PUBLIC_URL, set by compose: where the published port is on the host.
        return banner + (f"\nopen {settings.public_url} in your browser" if settings.public_url else "")
    if not all(w.serves_app for w in workers):
        return "the app failed to load: every request gets the error page until the next change"
    if cause == CRASH_CAUSE:
        return f"restarted after the crash in {elapsed_ms:.0f} ms"
    return f"reloaded in {elapsed_ms:.0f} ms: {cause}"
