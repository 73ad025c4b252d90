"""How the supervisor gets a new worker: forked from the preloaded fork server, or spawned fresh.

Forking is the fast path (tens of ms instead of ~0.5 s). Spawning is the fallback,
with the same behaviour apart from speed: when PRELOAD=0, on a platform without
fork, when a PRELOAD module fails to import, or when the fork server died or did not
answer. A dead fork server is rebuilt and the reload still happens. Nothing here waits
for a fork server: a fork asked of one still preloading is answered once it is ready.

With PRELOAD=1 the fork server also preloads what the app imported last time from outside
the project (preload_cache.py). When that grows, a new fork server is built beside the one in
use and takes over once it is ready: no reload waits for it.
"""

from __future__ import annotations

import os
import socket
from queue import SimpleQueue

from devserver import protocol
from devserver.log import say
from devserver.processes import describe_exit
from devserver.protocol import NOT_IMPORTABLE
from devserver.supervisor.forkserver_handle import ForkServerHandle
from devserver.supervisor.preload_cache import PreloadCache, summary
from devserver.supervisor.reaper import Reaper
from devserver.supervisor.worker_handle import WorkerHandle, spawn


class Launcher:
    def __init__(self, listener: socket.socket, env: dict[str, str], events: SimpleQueue, reaper: Reaper, *,
                 preload: bool, preload_modules: tuple[str, ...], cache: PreloadCache | None = None):
        self.listener = listener
        self.env = {**env, protocol.PRELOAD_MODULES_ENV: ",".join(preload_modules)}
        self.events = events
        self.reaper = reaper
        self.preload = preload and hasattr(os, "fork")
        # PRELOAD=1 learns what to preload; an explicit list is all it preloads.
        self.cache = cache if self.preload and not preload_modules else None
        self.forkserver: ForkServerHandle | None = None
        self.candidate: ForkServerHandle | None = None  # preloading more, to take over once ready
        self.retired: list[ForkServerHandle] = []  # still reporting their workers' exits
        self.announced: list[str] = []
        self.suspect: str | None = None  # why the learned preload may be to blame for a crash
        self.list_unwritable_said = False

    @property
    def mode(self) -> str:
        return "preloaded fork" if self.preload else "fresh interpreter"

    def start(self) -> None:
        """Start the fork server (the first launch waits until it has preloaded)."""
        if self.preload:
            self.forkserver = self._new_forkserver()

    def _new_forkserver(self, candidate: bool = False) -> ForkServerHandle:
        learned = self.cache.preloaded() if self.cache and not self.suspect else []
        env = dict(self.env)
        if learned:  # in a file: thousands of names overflow an environment variable
            try:
                env[protocol.PRELOAD_LEARNED_ENV] = self.cache.write_list(learned)
            except OSError as exc:  # a full disk, a cache folder that is a file: serve without it
                if not self.list_unwritable_said:
                    self.list_unwritable_said = True
                    say(f"warning: cannot write the list of modules to preload ({exc.strerror or exc}: "
                        f"{exc.filename or self.cache.path.parent}); the fork server preloads only Flask and "
                        "gevent until it can")
                learned = []
        if candidate:
            env[protocol.CANDIDATE_ENV] = "1"
        return ForkServerHandle(self.listener, env, self.reaper, learned).start()

    def _retire(self, forkserver: ForkServerHandle | None) -> None:
        """It forks no more, and stays (a child of ours, not an orphan) until its workers have exited."""
        if forkserver is not None:
            forkserver.stop()
            self.retired.append(forkserver)

    def rebuild(self, why: str, dependencies_changed: bool = False) -> None:
        if not self.preload:
            return
        for old in (self.forkserver, self.candidate):
            self._retire(old)
        self.candidate = None
        if dependencies_changed and self.cache:
            self.cache.forget_exclusions()  # what failed to import may import now
        say(f"rebuilding the preloaded fork server: {why}")
        self.forkserver = self._new_forkserver()

    def preload_next(self, imported: set[str]) -> None:
        """What the workers that just loaded imported from outside the project: preload it next time."""
        if not self.cache:
            return
        if self.cache.learn(imported):
            self.cache.save()
        elif self.candidate or self.suspect or not self.forkserver \
                or self.forkserver.learned == self.cache.preloaded():
            return  # nothing new, being built already, or under suspicion
        self._retire(self.candidate)
        # Also when an earlier candidate failed to start (the tree was mid-rewrite): tried again here.
        self.candidate = self._new_forkserver(candidate=True)

    def distrust_learned(self, why: str) -> bool:
        """A worker forked from a fork server that preloads learned modules crashed while loading: try
        the base preload. False if none was in use (nothing to blame). `verdict` says who it was."""
        if not self.cache or self.suspect or not self.forkserver or not self.forkserver.learned:
            return False
        self.suspect = why
        self.rebuild("trying without what it learned to preload, after a crash")
        return True

    def verdict(self, loaded: bool) -> None:
        """The load after `distrust_learned`: if it worked from the base preload, the learned one was to
        blame (said once, kept across restarts); if not, the app was, and learning goes on."""
        if not self.suspect:
            return
        if loaded:
            say(f"not preloading what the app imports any more: {self.suspect}, and not without it (a C "
                "extension that does not survive fork(), probably). A dependency change tries again")
            self.cache.off = self.suspect
            self.cache.save()
        self.suspect = None

    def tend(self) -> None:
        """Let a fork server that preloads more take over once it is ready; learn from one that failed;
        take in what the one in use preloaded once it is ready."""
        self.retired = [f for f in self.retired if not f.exited.is_set()]  # ours until it has exited
        current = self.forkserver
        if current is not None and current.ready.is_set() and not current.heard_ready:
            current.heard_ready = True
            if self.cache:
                self._set_aside_failures(current)
                self._announce(current)
        candidate = self.candidate
        if candidate is None:
            return
        if candidate.closed.is_set():
            self.candidate = None
            if self._set_aside_failures(candidate):
                self.candidate = self._new_forkserver(candidate=True)  # again, without what it could not preload
        elif candidate.ready.is_set():
            self.candidate = None
            candidate.heard_ready = True
            self._set_aside_failures(candidate)
            old, self.forkserver = self.forkserver, candidate
            self._retire(old)
            self._announce(candidate)

    def _set_aside_failures(self, forkserver: ForkServerHandle) -> bool:
        """Set aside what it could not preload, said once each; True if anything was."""
        if forkserver.closed.is_set() and forkserver.importing and not forkserver.ready.is_set():
            # It died inside that import (a crash, not an exception): the module is the culprit.
            forkserver.left_out[forkserver.importing] = f"the fork server {describe_exit(forkserver.exit_status)} " \
                                                        "importing it"
            forkserver.importing = None
        for name, why in forkserver.left_out.items():
            if why != NOT_IMPORTABLE:
                say(f"not preloading {name}: {why}")
            self.cache.exclude(name, why)
        if forkserver.left_out:
            self.cache.save()
        return bool(forkserver.left_out)

    def _announce(self, forkserver: ForkServerHandle) -> None:
        preloaded = [m for m in forkserver.learned if m not in forkserver.left_out]
        if preloaded and preloaded != self.announced:
            self.announced = preloaded
            say(f"preloading {summary(preloaded)}")

    def launch(self, error: str | None = None, fresh: bool = False) -> WorkerHandle:
        """A new worker: asked of the fork server (its pid comes later), or spawned (`fresh`, or no fork
        server). Raises OSError when no process can be started (EAGAIN, EMFILE)."""
        forkserver = None if fresh else self._usable_forkserver()
        if forkserver is not None:
            return forkserver.fork(error, self.events)
        return spawn(self.listener, self.env, self.events, self.reaper, error=error)

    def launch_again(self, worker: WorkerHandle) -> WorkerHandle:
        """A worker the fork server never forked: the fork server's trouble, not the app's. Said once
        for the fork server in use, which is rebuilt (or preloading turned off); this one is spawned.
        Raises fork()'s OSError when that failed (EAGAIN): spawning would fail the same way."""
        if worker.fork_refused is not None:
            raise worker.fork_refused
        forkserver = worker.origin
        if forkserver is self.forkserver and self.preload and not forkserver.closed.is_set() \
                and not forkserver.ready.is_set():
            pass  # still preloading (a slow machine, a heavy preload): spawn this one, let it finish
        elif forkserver is self.forkserver and self.preload:
            if forkserver.failure:
                say(f"error: PRELOAD could not import {forkserver.failure}; preloading is off until the next "
                    "start (fix PRELOAD, or set PRELOAD=0)")
                self.preload = False
            elif forkserver.closed.is_set():
                self._replace_dead()
            else:
                say(f"{worker.start_failure}: starting this worker the plain way")
                self.rebuild("it stopped answering")
        return self.launch(worker.error, fresh=True)

    def _usable_forkserver(self) -> ForkServerHandle | None:
        if not self.preload or self.forkserver is None:
            return None
        self.tend()
        if self.forkserver.closed.is_set():
            if self.forkserver.failure:
                return None  # a worker asked of it says so (launch_again)
            self._replace_dead()
        return self.forkserver  # ready or not: a fork asked now waits in its socket until it has preloaded

    def _replace_dead(self) -> None:
        """The fork server in use died: a new one, without what it could not preload (or died importing)."""
        if self.cache and self._set_aside_failures(self.forkserver):
            self.forkserver = self._new_forkserver()
        else:
            self.rebuild(f"it {describe_exit(self.forkserver.exit_status)}")

    def pids(self) -> set[int]:
        """The fork servers', retired ones included: children of ours that are not workers."""
        return {f.pid for f in (self.forkserver, self.candidate, *self.retired) if f and f.pid}

    def stop(self) -> None:
        for forkserver in (self.forkserver, self.candidate):
            if forkserver:
                forkserver.stop()

    def kill(self) -> None:
        """The server has stopped and its workers are gone: every fork server still there goes too."""
        for forkserver in (self.forkserver, self.candidate, *self.retired):
            if forkserver:
                forkserver.kill()

