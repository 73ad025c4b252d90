"""debugpy's port in the container, for the developer's machine only.

debugpy has no allow-list: whoever reaches its port drives a debugger, which runs any code. In
the container it must be reachable through the published port, so it cannot listen on loopback
alone; instead it listens on the container's loopback, and this relay takes the published port,
passing on connections from the developer's machine only (own_machine.py) and refusing the rest
(another container on the compose network), said once per address. It runs in the supervisor,
in plain threads, for as long as the server runs.
"""

from __future__ import annotations

import os
import socket
import threading

from devserver.log import say
from devserver.own_machine import is_own_machine, own_machine_addresses

RELAY_ENV = "DEVSERVER_DEBUGPY_RELAY"  # "HOST:PORT>TARGET_HOST:TARGET_PORT", set before debugpy starts us
CHUNK = 65536


def relay_spec(listen: tuple[str, int], target: tuple[str, int]) -> str:
    return f"{listen[0]}:{listen[1]}>{target[0]}:{target[1]}"


def start_from_env() -> None:
    """Start the relay the environment asks for (run_under_debugpy sets it), once: not for our children."""
    spec = os.environ.pop(RELAY_ENV, "")
    if not spec:
        return
    listen, target = ((host, int(port)) for host, _, port in (end.rpartition(":") for end in spec.split(">")))
    try:
        Relay(listen, target).start()
    except OSError as exc:
        say(f"error: debugpy's port {listen[0]}:{listen[1]} cannot be opened ({exc.strerror or exc}): no editor "
            "can attach; the server runs on")


class Relay:
    def __init__(self, listen: tuple[str, int], target: tuple[str, int]):
        self.listen = listen
        self.target = target
        self.others = own_machine_addresses()
        self.refused: set[str] = set()

    def start(self) -> Relay:
        self.listener = socket.create_server(self.listen, reuse_port=False)
        threading.Thread(target=self._accept, name="debugpy-relay", daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                client, peer = self.listener.accept()
            except OSError:
                return
            if not is_own_machine(peer[0], self.others):
                if peer[0] not in self.refused:
                    self.refused.add(peer[0])
                    say(f"refused a debugger connection from {peer[0]}: debugpy answers only this machine "
                        "(through the published port)")
                client.close()
                continue
            threading.Thread(target=self._connect, args=(client,), name="debugpy-relay", daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        threading.Thread(target=pipe, args=(upstream, client), name="debugpy-relay", daemon=True).start()
        pipe(client, upstream)


def pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy until `source` ends, then end `sink`'s sending side (the other direction ends on its own)."""
    try:
        while data := source.recv(CHUNK):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        source.close()
