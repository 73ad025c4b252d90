"""Edit-to-serving latency and dropped requests during reloads, side by side in one run.

    python bench/reload.py [--edits 20] [--clients 2] [--only NAME ...]

Each contender serves the same app from its own copy of app/. Keep-alive clients poll
/version without pause while the benchmark edits the route N times. For each edit:
latency = time from the write until a client first gets the new version. Failed = a
refused/reset connection or a 5xx. Stale = a request sent after the new version was
first served, answered by the old one. The machine is shared and noisy: compare the
ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
ROUTE = '\n\n@bp.get("/version")\ndef version():\n    return "{n}"\n'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Contender:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    available: bool = True


def contenders(port: int) -> list[Contender]:
    py = sys.executable
    bin_dir = Path(py).parent
    ours = {"ACCESS_LOG": "0", "FLASK_DEBUG": "1", "PORT": str(port)}
    return [
        Contender("devserver (preloaded fork)", [py, "scripts/entrypoint.py"], {**ours, "PRELOAD": "1"}),
        Contender("devserver PRELOAD=0 (spawn)", [py, "scripts/entrypoint.py"], {**ours, "PRELOAD": "0"}),
        Contender("flask run --debug", [py, "-m", "flask", "--app", "app", "run", "--debug", "--port", str(port)]),
        Contender("gunicorn -k gevent --reload", [str(bin_dir / "gunicorn"), "-k", "gevent", "--reload",
                                                  "-b", f"127.0.0.1:{port}", "app:create_app()"],
                  available=(bin_dir / "gunicorn").exists()),
        Contender("watchfiles CLI + gevent server",
                  [str(bin_dir / "watchfiles"), f"{py} {ROOT / 'bench' / 'naive_gevent_server.py'} {port}", "app"]),
    ]


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    stale: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)


class Pollers:
    """Keep-alive clients that poll /version and note when each version is first seen."""

    def __init__(self, url: str, clients: int):
        self.url = url
        self.first_seen: dict[int, float] = {}
        self.result = Result()
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.poll, daemon=True) for _ in range(clients)]

    def poll(self) -> None:
        session = requests.Session()
        while not self.done.is_set():
            sent = time.monotonic()
            version, error = None, None
            try:
                response = session.get(self.url, timeout=10)
                if response.status_code == 200:
                    version = int(response.text)
                else:
                    error = f"HTTP {response.status_code}"
            except (requests.RequestException, ValueError) as exc:
                error = repr(exc)[:120]
            received = time.monotonic()
            with self.lock:
                self.result.requests += 1
                if error:
                    self.result.failed += 1
                    self.result.errors.append(error)
                    continue
                if version not in self.first_seen:
                    self.first_seen[version] = received
                newest = max(self.first_seen)
                if version < newest and sent > self.first_seen[newest]:
                    self.result.stale += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        for t in self.threads:
            t.join(15)


def run_contender(contender: Contender, edits: int, clients: int, port: int) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        for part in ("app", "scripts"):
            shutil.copytree(ROOT / part, workdir / part, ignore=shutil.ignore_patterns("__pycache__"))
        views = workdir / "app" / "views.py"
        base = views.read_text()
        views.write_text(base + ROUTE.format(n=0))
        env = {k: v for k, v in os.environ.items() if k not in ("FLASK_APP", "PORT", "FLASK_DEBUG")}
        env.update(contender.env, PYTHONDONTWRITEBYTECODE="1")
        log = open(workdir / "server.log", "wb")
        process = subprocess.Popen(contender.command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        url = f"http://127.0.0.1:{port}/version"
        try:
            try:
                wait(lambda: requests.get(url, timeout=1).text == "0", 30)
            except TimeoutError:
                log.flush()
                tail = (workdir / "server.log").read_text(errors="replace")[-600:]
                return Result(errors=[f"did not start within 30 s; its log ends:\n{tail}"])
            with Pollers(url, clients) as pollers:
                for n in range(1, edits + 1):
                    time.sleep(0.3)  # let the previous reload settle (old worker retired) before the next edit
                    start = time.monotonic()
                    views.write_text(base + ROUTE.format(n=n))
                    wait(lambda n=n: n in pollers.first_seen, 30)
                    pollers.result.latencies.append(pollers.first_seen[n] - start)
                time.sleep(0.3)
            return pollers.result
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            log.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except requests.RequestException:
            pass
        time.sleep(0.002)
    raise TimeoutError("timed out")


def timed_edits(views: Path, base: str, url: str, edits: int) -> list[float]:
    """One client: edit the route, time until it serves the new version, N times (settling between)."""
    session, latencies = requests.Session(), []
    for n in range(1, edits + 1):
        time.sleep(0.3)
        start = time.monotonic()
        views.write_text(base + ROUTE.format(n=n))
        wait(lambda n=n: session.get(url, timeout=5).text == str(n), 60)
        latencies.append(time.monotonic() - start)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="contender names to run (default: all)")
    args = parser.parse_args()
    rows = []
    port = free_port()  # contenders run one after another, each stopped before the next starts
    for contender in contenders(port):
        if args.only and not any(name in contender.name for name in args.only):
            continue
        if not contender.available:
            print(f"skipping {contender.name}: not installed (make install)")
            continue
        print(f"running {contender.name} ({args.edits} edits, {args.clients} keep-alive clients)...", flush=True)
        result = run_contender(contender, args.edits, args.clients, port)
        rows.append((contender.name, result))
    reference = next((statistics.median(r.latencies) for n, r in rows if n == "flask run --debug"), None)
    print(f"\n{'contender':<34}{'median ms':>10}{'p90 ms':>9}{'vs flask':>10}{'requests':>10}{'failed':>8}{'stale':>7}")
    for name, r in rows:
        if not r.latencies:
            print(f"{name:<34}  failed: {r.errors[0] if r.errors else 'no result'}")
            continue
        median = statistics.median(r.latencies)
        ratio = f"{median / reference:.2f}x" if reference else "-"
        print(f"{name:<34}{median * 1000:>10.0f}{percentile(r.latencies, 0.9) * 1000:>9.0f}{ratio:>10}"
              f"{r.requests:>10}{r.failed:>8}{r.stale:>7}")
        for error in sorted(set(r.errors))[:3]:
            print(f"    e.g. {error}")


if __name__ == "__main__":
    main()
