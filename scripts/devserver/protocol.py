"""The words the supervisor and a worker exchange over their private socket pair, one per message.

A worker's control socket closing means the worker is gone (or, seen from the
worker, that the supervisor is): no polling, no orphans.
"""

# Environment variables that carry the inherited descriptors to a worker.
LISTEN_FD_ENV = "DEVSERVER_LISTEN_FD"
CONTROL_FD_ENV = "DEVSERVER_CONTROL_FD"
# Set by the supervisor when a worker must only serve an error (nothing to import): "STATUS MESSAGE".
ERROR_ENV = "DEVSERVER_ERROR"
# The project's root, where every worker works (by path: the directory may have been re-created).
ROOT_ENV = "DEVSERVER_ROOT"
# Extra modules the fork server imports once (PRELOAD=a,b), comma-separated.
PRELOAD_MODULES_ENV = "DEVSERVER_PRELOAD_MODULES"
# Set by docker-compose.yml: compose has read .env (env_file), so the entrypoint does not.
ENV_FILE_READ_ENV = "DEVSERVER_ENV_FILE_READ"

# worker -> supervisor
LOADED_OK = "loaded ok"
LOADED_ERROR = "loaded error"
DRAINING = "draining"
# supervisor -> worker
SERVE = "serve"  # start accepting on the shared socket (+ the channel the predecessors pass connections on)
DRAIN = "drain"  # a successor is serving: stop accepting, pass connections to it (+ its channel)
STOP = "stop"  # shutting down: stop accepting, finish in-flight requests, close the rest

LOAD_FAILED = 500  # error-page statuses: the app could not be imported
CRASHED = 503  # the app's worker died while serving; a new one starts after a back-off


def error_page(status: int, message: str) -> str:
    """What ERROR_ENV (or the fork server's fork-error) carries."""
    return f"{status} {message}"


def parse_error_page(value: str) -> tuple[int, str]:
    status, _, message = value.partition(" ")
    return int(status), message


def control_pair():
    """(supervisor's end, worker's end): message boundaries kept, descriptors can ride along."""
    import socket

    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
