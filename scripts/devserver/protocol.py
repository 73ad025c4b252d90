"""The words the supervisor and a worker exchange over their private socket pair, one per message.

A worker's control socket closing means the worker is gone (or, seen from the
worker, that the supervisor is): no polling, no orphans.
"""

# Environment variables that carry the inherited descriptors to a worker.
LISTEN_FD_ENV = "DEVSERVER_LISTEN_FD"
CONTROL_FD_ENV = "DEVSERVER_CONTROL_FD"
# Set by the supervisor when a worker must only serve an error (nothing to import).
ERROR_ENV = "DEVSERVER_ERROR"
# Extra modules the fork server imports once (PRELOAD=a,b), comma-separated.
PRELOAD_MODULES_ENV = "DEVSERVER_PRELOAD_MODULES"

# worker -> supervisor
LOADED_OK = "loaded ok"
LOADED_ERROR = "loaded error"
DRAINING = "draining"
# supervisor -> worker
SERVE = "serve"  # start accepting on the shared socket (+ the channel the predecessors pass connections on)
DRAIN = "drain"  # a successor is serving: stop accepting, pass connections to it (+ its channel)
STOP = "stop"  # shutting down: stop accepting, finish in-flight requests, close the rest


def control_pair():
    """(supervisor's end, worker's end): message boundaries kept, descriptors can ride along."""
    import socket

    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
