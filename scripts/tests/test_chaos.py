"""A bounded chaos run: random saves (valid and broken), requirements edits, SIGHUPs, kill -9 of random
children, app crashes and forks, under new-connection and keep-alive traffic. After every step the
supervisor is alive and answers the health check; after a valid save the new code is served; at the
end SIGTERM exits 0 with nothing left behind.

Reproducible: the seed is in every failure message; CHAOS_SEEDS=7,8 and CHAOS_STEPS=60 run others.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import time

import pytest
import requests

from harness import Polling, process_table, processes_with_marker, wait_for

APP = '''\
import os, time
from flask import Flask

VERSION = "v0"
app = Flask(__name__)


@app.get("/")
def index():
    return VERSION


@app.get("/die")
def die():
    os._exit(3)


@app.get("/fork")
def fork():
    if os.fork() == 0:
        time.sleep(20)
        os._exit(0)
    return "forked"
'''

SEEDS = [int(s) for s in os.environ.get("CHAOS_SEEDS", "1,2,3").split(",")]
STEPS = int(os.environ.get("CHAOS_STEPS", "60"))
GRACEFUL_TIMEOUT = 2


def health(url: str) -> int:
    """The status of `OPTIONS *` (the health check's question); 0 when nothing answers."""
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return int(conn.recv(64).split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def children(server) -> list[int]:
    """The server's processes below the supervisor: workers, fork servers, the app's forks."""
    table = process_table()
    return [pid for pid in processes_with_marker(server.marker)
            if pid != server.process.pid and table.get(pid, ("", "Z", 0))[1] != "Z"]


@pytest.mark.parametrize("seed", SEEDS)
def test_chaos(project, devserver, seed):
    rng = random.Random(seed)
    package = project / "chaos"
    package.mkdir()
    (package / "__init__.py").write_text(APP)
    (project / "requirements.txt").write_text("# the app's\n")
    server = devserver(FLASK_APP="chaos", ACCESS_LOG="0", GRACEFUL_TIMEOUT=str(GRACEFUL_TIMEOUT))
    version = 0
    done: list[str] = []

    def context() -> str:
        return f"seed {seed}, steps {done}\n{server.log()[-4000:]}"

    def save(text: str) -> None:
        (package / "__init__.py").write_text(text)

    # A script's clients and a browser tab's; a killed worker's connection fails, and the next one goes on.
    with Polling(server.url + "/", keep_alive=(False, True), pause_after_failure=0.01):
        for step in range(STEPS):
            action = rng.choice(["save", "save", "broken", "requirements", "sighup", "kill", "crash", "fork"])
            done.append(action)
            if action == "save":
                version += 1
                save(APP.replace('"v0"', f'"v{version}"'))
            elif action == "broken":
                save(APP.replace('"v0"', f'"v{version}"') + "\ndef broken(:\n")
            elif action == "requirements":
                with open(project / "requirements.txt", "a") as f:
                    f.write(f"# edit {step}\n")
            elif action == "sighup":
                server.process.send_signal(signal.SIGHUP)
            elif action == "kill":
                candidates = children(server)
                if candidates:
                    try:
                        os.kill(rng.choice(candidates), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            elif action in ("crash", "fork"):
                try:
                    server.get(f"/{action.replace('crash', 'die')}", timeout=5)
                except requests.RequestException:
                    pass
            assert server.process.poll() is None, f"the supervisor exited: {context()}"
            wait_for(lambda: health(server.url) in (200, 503), 10, message=f"a health answer: {context()}")
            if action == "save":
                wait_for(lambda v=version: server.get("/").text == f"v{v}", 10,
                         message=f"v{version} served: {context()}")
        version += 1
        save(APP.replace('"v0"', f'"v{version}"'))
        wait_for(lambda: server.get("/").text == f"v{version}", 10, message=f"the last save served: {context()}")
    started = time.monotonic()
    assert server.stop() == 0, context()
    assert time.monotonic() - started < GRACEFUL_TIMEOUT + 1 + 2, context()  # and a margin; a hang: forever
    assert not server.kill_leftovers(), context()
    assert "failed handling" not in server.log(), context()
