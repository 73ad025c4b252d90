"""The container's health check: healthy when a worker serves the app's current code.

It asks `OPTIONS *` where the server listens (HOST and PORT, read as the server reads them;
0.0.0.0 or :: asks this machine's loopback): a question about the server, which the worker
answers itself (devserver/worker/health.py), so it claims no URL of the app's, never reaches
the app and is never logged. 200: the current code is served. 503: the newest code failed to
load, and its error page is served. No answer: no worker serves. A Python file because slim
images have no curl; run by HEALTHCHECK in the Dockerfile.

A task worker's container (TASK_WORKER: the compose `worker` and `prod-worker` services, the
orchestrators' workers) has no server either: the queue is asked whether this host's worker
consumes (devserver/task_health.py), so one health check serves every container of the image.

A container the image was given a command (a worker service's `command: rq worker`) has no server
to ask: it says so and counts as healthy, since there is nothing of ours to check (give such a
service a health check of its own, as docker-compose.yml's example does).

Under a step debugger (DEBUGGER=debugpy) a worker paused at a breakpoint answers nothing: then a
connection the server accepts (the supervisor's socket) is enough, so a debugging session does
not turn the container unhealthy.
"""

import http.client
import os
import sys
from pathlib import Path

from devserver import task_health
from devserver.settings import ConfigError, parse_debugger, read_variable
from devserver.worker.health import HEALTH_METHOD, HEALTH_TARGET

ENTRYPOINT = "entrypoint.py"
# Where a server bound to every interface is asked: this machine's own (a bound :: takes IPv4 too).
LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def where(environ) -> tuple[str, int]:
    """(host, port) to ask: where the server listens, from HOST and PORT read as the settings read them."""
    host = read_variable("HOST", environ).removeprefix("[").removesuffix("]")  # IPv6 as a URL writes it
    return LOOPBACK.get(host, host), read_variable("PORT", environ)


def command_instead(proc: Path = Path("/proc")) -> str | None:
    """The command this container runs in the server's place, or None where the server runs: the
    entrypoint given no arguments is the server; given some, it became them (PID 1 keeps them, as
    tini's `-- python entrypoint.py rq worker`)."""
    def arguments(pid: Path) -> list[str]:
        try:
            return [a.decode(errors="replace") for a in (pid / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            return []  # gone meanwhile, or not ours to read

    for pid in proc.glob("[0-9]*"):
        args = arguments(pid)
        if args and args[-1].endswith(ENTRYPOINT):
            return None
    first = arguments(proc / "1")
    given = next((first[i + 1:] for i, a in enumerate(first) if a.endswith(ENTRYPOINT)), first)
    return " ".join(given) or None


def main() -> int:
    try:
        task_worker = read_variable("TASK_WORKER", os.environ)
        host, port = where(os.environ)
    except ConfigError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if task_worker:
        return task_worker_health(task_worker)
    # An IPv6 host is bracketed where it must be (the Host header) by http.client itself.
    connection = http.client.HTTPConnection(host, port, timeout=2)
    try:
        connection.request(HEALTH_METHOD, HEALTH_TARGET)
        response = connection.getresponse()
        detail = response.read().decode(errors="replace").strip()
    except TimeoutError as exc:
        if parse_debugger("DEBUGGER", os.environ.get("DEBUGGER", "")) and connection.sock is not None:
            print("no answer, but the port accepts: a worker paused in the debugger?")
            return 0
        print(f"unhealthy: no answer on port {connection.port}: {exc}", file=sys.stderr)
        return 1
    except (OSError, http.client.HTTPException) as exc:
        instead = command_instead()
        if instead:
            print(f"no server to check: this container runs `{instead}`; give its service a healthcheck of "
                  "its own, or `healthcheck: {disable: true}`")
            return 0
        print(f"unhealthy: no answer on port {connection.port}: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if response.status != 200:
        print(f"unhealthy: {detail or response.status}", file=sys.stderr)
        return 1
    print(detail)
    return 0


def task_worker_health(words: tuple[str, ...]) -> int:
    """The queue's answer about this host's worker; an error asking it (the broker down) is unhealthy too."""
    try:
        healthy, detail = task_health.check(words)
    except Exception as exc:  # noqa: BLE001 - whatever the queue's client raises: the worker cannot consume either
        healthy, detail = False, f"asking the queue failed: {type(exc).__name__}: {exc}"
    print(detail if healthy else f"unhealthy: {detail}", file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
