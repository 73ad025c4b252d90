"""The preloaded template process: pays for gevent, Flask, Werkzeug and Jinja once, then forks workers.

Most of a worker's start is importing those packages with monkey-patching (~0.5 s);
a fork of a process that already has them, plus importing the user's app, takes
tens of milliseconds. This process never imports anything from the user's source
tree, so every forked worker imports the app fresh: nothing of one worker reaches
the next.

Its own loop uses the unpatched blocking select/fork/waitpid and starts no greenlet
and no thread, so a forked child carries no gevent state but what gevent.reinit()
resets. Talks to the supervisor over its control socket (the words: protocol.ForkServerWords):
  <- FORK or FORK_ERROR + " STATUS MESSAGE", with two descriptors: the new worker's control
     socket and the write end of its status pipe                  -> FORKED + " PID"
     or FORK_FAILED + " ERROR" when fork() itself fails (it goes on)
  -> READY once preloaded; PRELOAD_FAILED + " MODULE: ERROR" (then it exits)
It reaps the workers it forked and writes each one's exit status into that worker's pipe.
When its control socket closes (it is rebuilt, or the server stops) it forks no more and
closes the listening socket, but stays until the last of its workers has exited and been
reported: their parent, and so the only one who can tell how they ended.
"""

from gevent import monkey

monkey.patch_all()

import errno
import importlib
import os
import signal
import sys
import threading
from pathlib import Path

import flask  # noqa: F401 - the point of this process: imported once, shared by every fork
import flask.cli  # noqa: F401
import gevent
import gevent.pywsgi  # noqa: F401
import jinja2  # noqa: F401
import werkzeug.debug  # noqa: F401

from devserver import processes, protocol
from devserver.protocol import NOT_IMPORTABLE, ForkServerWords
from devserver.worker import imports
from devserver.worker import main as worker

real_select = monkey.get_original("select", "select")
real_fork = monkey.get_original("os", "fork")
real_waitpid = monkey.get_original("os", "waitpid")
RealSocket = monkey.get_original("socket", "socket")
# gevent's patched signal.signal hands SIGCHLD to libev's child watcher, which needs a running
# hub; this loop runs none, so it installs its handlers with the original function.
real_signal = monkey.get_original("signal", "signal")

def preload_extras(control) -> None:
    for name in filter(None, os.environ.get(protocol.PRELOAD_MODULES_ENV, "").split(",")):
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - tell the supervisor, which falls back to spawning
            protocol.send(control, f"{ForkServerWords.PRELOAD_FAILED} {name}: {type(exc).__name__}: {exc}")
            sys.exit(1)


def preload_learned(control) -> None:
    """Import what the app imported last time, each module only if it is safe to fork after.

    The list comes in a file (PRELOAD_LEARNED_ENV names it): thousands of names overflow an
    environment variable. Each import is announced first (IMPORTING), so a crash inside one
    names the culprit. A module whose import fails is left out (said, and this process goes
    on). One that started a thread, opened a socket or a file, or imported the project's own
    code cannot be undone: this process says so and exits, and the supervisor builds the next
    fork server without it.
    """
    listing = os.environ.pop(protocol.PRELOAD_LEARNED_ENV, "")  # not the app's business
    os.environ.pop(protocol.CANDIDATE_ENV, None)
    if not listing:
        return
    try:
        with open(listing) as f:
            names = f.read().split()
        os.unlink(listing)
    except OSError:
        return
    project_root = Path(os.environ.get(protocol.ROOT_ENV, "."))  # by path: it may be gone for a moment
    for name in names:
        if name in sys.modules:
            continue
        before, threads, python_threads, fds = set(sys.modules), os_threads(), threading.active_count(), open_fds()
        protocol.send(control, f"{ForkServerWords.IMPORTING} {name}")
        try:
            importlib.import_module(name)
            failure = None
        except BaseException as exc:  # noqa: BLE001 - whatever it raises, leave it out
            sys.modules.pop(name, None)
            failure = exc
        # Even an import that failed may have got far enough to start something.
        opened = {fd: kind for fd, kind in open_fds().items() if fds.get(fd) != kind}
        unsafe = ("it started a thread" if os_threads() > threads or threading.active_count() > python_threads
                  else "it opened a socket" if any(kind == "socket" for kind in opened.values())
                  else "it left a file open" if opened
                  else "it imported the project's own code" if imports.in_project(set(sys.modules) - before,
                                                                                  project_root) else None)
        if unsafe:
            protocol.send(control, f"{ForkServerWords.UNSAFE} {name}: {unsafe}")
            processes.exit_now(1)
        if failure is not None:
            # A name an extension put in sys.modules, or a package uninstalled since: no word.
            missing = getattr(failure, "name", None) if isinstance(failure, ModuleNotFoundError) else None
            quiet = missing is not None and (name == missing or name.startswith(missing + "."))
            why = NOT_IMPORTABLE if quiet else f"its import failed: {type(failure).__name__}: {failure}"
            protocol.send(control, f"{ForkServerWords.LEFT_OUT} {name}: {why}")
    # An import that ran a subprocess made gevent's hub, with a child watcher that would not work
    # in a forked worker: each worker makes its own. gevent has no public way to ask for the hub
    # without making one: its private _hub_local, as in gevent 25 and 26 (pyproject.toml's range).
    hub = gevent._hub_local.get_hub_if_exists()
    if hub is not None:
        hub.destroy(destroy_loop=True)


def os_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # not Linux: count what Python knows of
        return threading.active_count()


def open_fds() -> dict[int, str]:
    """This process's descriptors and their kind, "socket" or "file" (Linux; empty elsewhere).
    Pipes and event descriptors (gevent's, the interpreter's) do not count."""
    found = {}
    try:
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:"):
                found[int(fd)] = "socket"
            elif target.startswith("/") and not target.startswith(("/dev/", "/proc/")):
                found[int(fd)] = "file"
    except OSError:
        pass
    return found


def become_worker(listen_fd: int, worker_control_fd: int, error: str | None, own_fds: list[int]) -> None:
    """In the forked child: shed everything of the fork server, then run the ordinary worker."""
    code = 1
    try:
        os.setsid()  # a process group of its own: the supervisor ends it and what it starts together
        signal.set_wakeup_fd(-1)
        real_signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in own_fds:
            os.close(fd)
        gevent.reinit()
        if error:
            os.environ[protocol.ERROR_ENV] = error
        code = worker.serve(listen_fd, worker_control_fd)
    except BaseException:  # noqa: BLE001 - a child must never return into the fork server's loop
        import traceback

        traceback.print_exc()
    finally:
        processes.exit_now(code)


def main() -> None:
    listen_fd = int(os.environ[protocol.LISTEN_FD_ENV])
    control = RealSocket(fileno=int(os.environ[protocol.CONTROL_FD_ENV]))
    preload_extras(control)
    preload_learned(control)
    # SIGCHLD wakes select() through this pipe, so exits are reported at once.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    real_signal(signal.SIGCHLD, lambda *_: None)
    real_signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when this process ends
    status_pipes: dict[int, int] = {}  # each live worker's: where its exit status goes
    protocol.send(control, ForkServerWords.READY)
    while True:
        readable, _, _ = real_select([fd for fd in (control, wake_r) if fd is not None], [], [])
        if wake_r in readable:
            os.read(wake_r, 512)
            for pid, status in processes.reap(real_waitpid):
                if pid in status_pipes:
                    processes.write_status(status_pipes.pop(pid), status)
        if control is not None and control in readable:
            message, fds = protocol.receive(control, 2)  # one message: a SOCK_SEQPACKET pair
            if not message:  # retired (rebuilt, or the server stops): fork no more, stay to report exits
                control.close()
                os.close(listen_fd)
                control = None
            else:
                fork_worker(control, message, fds, listen_fd, status_pipes, [wake_r, wake_w])
        if control is None and not status_pipes:
            return  # every worker it forked has exited and been reported


def fork_worker(control, message: bytes, fds: list[int], listen_fd: int, status_pipes: dict[int, int],
                own_fds: list[int]) -> None:
    """Fork one worker for a FORK or FORK_ERROR message; report its pid."""
    word, _, rest = message.decode().partition(" ")
    if word not in (ForkServerWords.FORK, ForkServerWords.FORK_ERROR) or len(fds) != 2:
        for fd in fds:
            os.close(fd)
        # Answered all the same (descriptors cut short at our fd limit): replies pair with requests in order.
        protocol.send(control, f"{ForkServerWords.FORK_FAILED} {errno.EMFILE} {os.strerror(errno.EMFILE)}")
        return
    worker_control, status_fd = fds
    try:
        pid = real_fork()
    except OSError as exc:  # EAGAIN under a pids limit, ENOMEM: this process goes on, the supervisor says it
        os.close(worker_control)
        os.close(status_fd)
        protocol.send(control, f"{ForkServerWords.FORK_FAILED} {exc.errno} {exc.strerror}")
        return
    if pid == 0:
        become_worker(listen_fd, worker_control, rest if word == ForkServerWords.FORK_ERROR else None,
                      [control.fileno(), *own_fds, status_fd, *status_pipes.values()])
    os.close(worker_control)
    status_pipes[pid] = status_fd
    protocol.send(control, f"{ForkServerWords.FORKED} {pid}")


if __name__ == "__main__":
    main()
