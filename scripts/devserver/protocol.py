"""Every word on every channel between the dev server's processes, and the variables that carry descriptors.

Channels, all Unix socket pairs, one word per message (SOCK_SEQPACKET keeps message boundaries;
a descriptor can ride along by SCM_RIGHTS):
  supervisor <-> worker       the worker's life: loaded, serve, drain, stop (worker/main.py)
  supervisor <-> fork server  fork a worker, which pid it got (forkserver/main.py)
  supervisor's own queue      the events its loop handles (supervisor/supervisor.py)
  retiring worker -> successor  client connections handed over, one per message (handover.py)
and one status pipe per child, written by whoever reaps it (processes.write_status).
A process is gone when it has exited (processes.follow), not when its control socket closes.
"""

import socket

# Environment variables that carry what a child inherits.
LISTEN_FD_ENV = "DEVSERVER_LISTEN_FD"  # the shared listening socket
CONTROL_FD_ENV = "DEVSERVER_CONTROL_FD"  # the child's end of its control socket
ERROR_ENV = "DEVSERVER_ERROR"  # a worker that must only serve an error page: "STATUS MESSAGE"
ROOT_ENV = "DEVSERVER_ROOT"  # the project, where every child works (by path: it may be re-created)
PRELOAD_MODULES_ENV = "DEVSERVER_PRELOAD_MODULES"  # extra modules the fork server imports once, a,b
PRELOAD_LEARNED_ENV = "DEVSERVER_PRELOAD_LEARNED"  # a file listing what the app imported last time (PRELOAD=1)
CANDIDATE_ENV = "DEVSERVER_CANDIDATE"  # a fork server built in the background, to take over once ready
ENV_FILE_READ_ENV = "DEVSERVER_ENV_FILE_READ"  # set by docker-compose.yml: compose has read .env


class WorkerWords:
    """supervisor <-> worker."""

    # worker -> supervisor
    IMPORTED = "imported"  # + " a,b.c,...": modules from outside the project the app's import added
    LOADED_OK = "loaded-ok"  # the app is imported: ready to serve it
    LOADED_ERROR = "loaded-error"  # it failed: ready to serve the error page
    DRAINING = "draining"  # no longer accepting
    # supervisor -> worker
    SERVE = "serve"  # + " GENERATION": start accepting on the shared socket (+ the channel the predecessors
    # pass connections on); the generation names the code it serves, for live reload
    ASSETS = "assets"  # + " PATH\nPATH...": templates or static files changed (live reload tells the browser)
    DRAIN = "drain"  # a successor is serving: stop accepting, pass connections to it (+ its channel)
    STOP = "stop"  # shutting down: stop accepting, finish in-flight requests, close the rest


class ForkServerWords:
    """supervisor <-> fork server."""

    # fork server -> supervisor
    READY = "ready"  # preloaded: forks from now on are fast
    FORKED = "forked"  # + " PID": the worker just forked
    FORK_FAILED = "fork-failed"  # + " ERRNO STRERROR": fork() itself failed (EAGAIN under a pids limit, say)
    PRELOAD_FAILED = "preload-failed"  # + " MODULE: ERROR": a PRELOAD module did not import; it exits
    IMPORTING = "importing"  # + " MODULE": a learned module it imports now (a crash inside names it)
    LEFT_OUT = "left-out"  # + " MODULE: WHY": a learned module it did not preload (its import failed)
    UNSAFE = "unsafe"  # + " MODULE: WHY": a learned module started a thread or opened a socket; it exits
    # supervisor -> fork server, each with two descriptors: the worker's control end, its status pipe
    FORK = "fork"  # fork a worker that loads the app
    FORK_ERROR = "fork-error"  # + " STATUS MESSAGE": fork a worker that serves only this error


NOT_IMPORTABLE = "not importable by name"  # LEFT_OUT's WHY for a name only an extension put in sys.modules


class Event:
    """What the supervisor's loop handles, one method `on_<event>` each."""

    CHANGE = "change"  # watched files changed (the paths): start a new generation
    DEPS = "deps"  # requirements or installed packages changed: install, or rebuild the fork server and reload
    INSTALLED = "installed"  # a live install ended (installer.Installed): reload once, or say why not
    ASSETS = "assets"  # templates or static files changed (the paths): tell the serving workers (live reload)
    LOADED = "loaded"  # a worker has loaded (the worker)
    DRAINING = "draining"  # an old worker stopped accepting (the worker): its successors may serve
    GONE = "gone"  # a worker has exited, its status known, or never started (the worker)
    SIGNAL = "signal"  # TERM/INT: stop; HUP: reload (the signal number)
    TICK = "tick"  # nothing happened for a while: housekeeping only


# retiring worker -> successor: HANDOVER_MARK + the bytes read ahead, with the connection's descriptor.
# Never an empty message: an empty read means the other side is gone.
HANDOVER_MARK = b"C"

LOAD_FAILED = 500  # error-page statuses: the app could not be imported
CRASHED = 503  # the app's worker died while serving; a new one starts after a back-off


def error_page(status: int, message: str) -> str:
    """What ERROR_ENV (or the fork server's FORK_ERROR) carries."""
    return f"{status} {message}"


def parse_error_page(value: str) -> tuple[int, str]:
    status, _, message = value.partition(" ")
    return int(status), message


MAX_MESSAGE = 1 << 18  # what one read takes from a control socket: IMPORTED and ASSETS lists are long


def control_pair() -> tuple[socket.socket, socket.socket]:
    """(parent's end, child's end): message boundaries kept, descriptors can ride along."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(control: socket.socket, word: str | bytes, fds: list[int] = ()) -> bool:
    """One message (with descriptors riding along); False when the other side is gone (its reader says so)."""
    try:
        socket.send_fds(control, [word.encode() if isinstance(word, str) else word], list(fds))
        return True
    except OSError:
        return False


def receive(control: socket.socket, max_fds: int = 0) -> tuple[bytes, list[int]]:
    """One message and the descriptors that rode along (close-on-exec); b"" once the other side is gone.
    The one reader of every channel here, with the one buffer size."""
    try:
        message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, max_fds, socket.MSG_CMSG_CLOEXEC)
    except OSError:
        return b"", []
    return message, fds
