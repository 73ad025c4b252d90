"""What the blocking detector (BLOCKING_WARN_MS) costs: requests per second to a small route, with and without.

    python bench/blocking.py [--seconds 5] [--clients 4]

Same app, same machine, one run: the dev server serving /pid, first with the detector off
(BLOCKING_WARN_MS=0), then on (100 ms, the development default), alternating twice.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "scripts" / "tests")]

from harness import free_port, wait_for  # noqa: E402


def throughput(warn_ms: str, seconds: float, clients: int) -> float:
    work = Path(tempfile.mkdtemp(prefix="bench-blocking-"))
    shutil.copytree(ROOT / "scripts", work / "scripts", ignore=shutil.ignore_patterns("tests", "__pycache__"))
    shutil.copytree(ROOT / "scripts" / "tests" / "apps" / "kiosk", work / "kiosk")
    port = free_port()
    env = {**os.environ, "FLASK_APP": "kiosk", "PORT": str(port), "ACCESS_LOG": "0", "BLOCKING_WARN_MS": warn_ms}
    server = subprocess.Popen([sys.executable, str(work / "scripts" / "entrypoint.py")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/pid"
    try:
        wait_for(lambda: requests.get(url, timeout=1).ok, 30, message="start-up")
        counts = [0] * clients
        end = time.monotonic() + seconds

        def client(i: int) -> None:
            session = requests.Session()
            while time.monotonic() < end:
                session.get(url, timeout=5)
                counts[i] += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(counts) / seconds
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"0": [], "100": []}
    for _ in range(2):
        for warn_ms in results:
            results[warn_ms].append(throughput(warn_ms, args.seconds, args.clients))
    off, on = (sum(results[k]) / len(results[k]) for k in ("0", "100"))
    print(f"detector off: {off:.0f} req/s   on (100 ms): {on:.0f} req/s   on/off: {on / off:.3f}")


if __name__ == "__main__":
    main()
