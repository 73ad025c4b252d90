"""What a deploy by `docker compose up -d` costs the clients: the production container replaced under load.

    python bench/compose_replace.py [--seconds 4]

The same clients as the Swarm rolling-update test (scripts/tests/docker/test_swarm.py: kept-alive and
new-connection clients, and slow requests) ask the prod service straight (PROD_PORT) while
`docker compose --profile prod up -d --force-recreate --no-deps prod` replaces its container, as a
one-host deploy does. Prints the requests that failed and the longest time without an answer; the
Swarm figure (start-first rolling update behind Caddy) is the test's, 0 failed. Set PYTHON_IMAGE where
python:3.13-slim cannot be pulled. Uses the integration tests' Stack (a throwaway compose project).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "scripts" / "tests"), str(ROOT / "scripts" / "tests" / "docker")]

from compose_stack import Stack


class Clients:
    """Kept-alive and new-connection clients asking without pause, and one asking `/testsleep` (1 s) in a loop."""

    def __init__(self, url: str):
        self.url = url
        self.done = threading.Event()
        self.results: list[tuple[float, bool]] = []  # (when it ended, answered)
        self.threads = [threading.Thread(target=self.ask, args=(keep, "/pid")) for keep in (True, True, False, False)]
        self.threads.append(threading.Thread(target=self.ask, args=(True, "/testsleep?seconds=1")))

    def ask(self, keep_alive: bool, path: str) -> None:
        session = requests.Session() if keep_alive else requests
        while not self.done.is_set():
            try:
                ok = session.get(self.url + path, timeout=30).status_code == 200
            except requests.RequestException:
                ok = False
            self.results.append((time.monotonic(), ok))

    def longest_gap(self) -> float:
        answered = sorted(t for t, ok in self.results if ok)
        return max((b - a for a, b in zip(answered, answered[1:], strict=False)), default=0.0)

    def __enter__(self) -> Clients:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="of load before and after the replacement")
    args = parser.parse_args()
    stack = Stack(Path(tempfile.mkdtemp(prefix="bench-compose-replace-")), SECRET_KEY="bench-" + "x" * 40)
    stack.write_env(ACCESS_LOG="0", SHUTDOWN_DELAY="0")
    url = f"http://127.0.0.1:{stack.env['PROD_PORT']}"
    try:
        stack.compose("--profile", "prod", "up", "-d", "--build", "prod")
        stack.wait_healthy("prod", timeout=180)
        with Clients(url) as clients:
            time.sleep(args.seconds)
            started = time.monotonic()
            stack.compose("--profile", "prod", "up", "-d", "--force-recreate", "--no-deps", "prod")
            replaced = time.monotonic() - started
            stack.wait_healthy("prod", timeout=180)
            time.sleep(args.seconds)
        failed = sum(1 for _, ok in clients.results if not ok)
        print(f"docker compose up -d replacing prod ({replaced:.1f} s): {failed} failed of {len(clients.results)} "
              f"requests; longest time without an answer {clients.longest_gap():.1f} s")
        print("docker stack deploy, start-first behind Caddy (scripts/tests/docker/test_swarm.py): 0 failed")
    finally:
        stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
