"""Edit-to-serving latency and unanswered requests during reloads, side by side in one run.

    python bench/reload.py [--edits 20] [--clients 2] [--slow-edits 5] [--shape SHAPE ...] [--only NAME ...]
                           [--app demo|heavy]

Each contender serves the same app from a fresh copy of app/ (started once per contender and
shape) while the benchmark edits the route. Traffic shapes, one table each (default: all):

  keepalive       --clients keep-alive clients poll /version without pause (an open browser tab).
  new-connection  --clients clients poll /version without pause on a new connection per request
                  (curl, a browser's first request).
  slow            per edit (--slow-edits of them), a connection is opened and used once on the old
                  code; 0.3 s after the save it asks /slow (2 s): a request still running while the
                  reload happens.

Columns:
  median, p90  edit-to-serving latency: from the write until a client first gets the new version
               (polling shapes; "-" for slow, whose request answers ~2 s later whatever happens).
  vs flask     median latency / `flask run --debug`'s median in the same table.
  requests     requests sent (slow: the /slow requests only).
  failed       answered, but with a non-2xx status (or a body that is no version).
  lost         no complete response at all: connection refused, closed or reset, the reply empty
               or cut short, or nothing within 10 s. Failed and lost are disjoint.
  stale        answered by the old version although sent after the new one was first served
               (slow: answered by the old version at all, though sent 0.3 s after the save).

The machine is shared and noisy: compare the ratios within one run, not absolute numbers
across runs.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from devserver.stamps import STAMPS_ENV  # noqa: E402 - the name the processes read

VERSION_ROUTE = '\n\nimport time\n\n\n@bp.get("/version")\ndef version():\n    return "{n}"\n'
ROUTE = VERSION_ROUTE + '\n\n@bp.get("/slow")\ndef slow():\n    time.sleep(2)\n    return "{n}"\n'
# --app heavy: what a real app imports beside Flask (~0.4 s of imports): an ORM model, a validated schema.
HEAVY_MODELS = """\
from pydantic import BaseModel
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))


class ProductIn(BaseModel):
    name: str
    price: float
"""
SETTLE = 0.3  # between edits: the previous reload settles (old worker retired) before the next edit
SLOW_AFTER = 0.3  # the slow shape's request leaves this long after the save


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
        Contender("flask run --debug", [py, "-m", "flask", "--app", "app", "run", "--debug", "--port", str(port)],
                  {"PYTHONPATH": str(ROOT / "bench" / "without_watchdog")}),
        Contender("gunicorn -k gevent --reload", [str(bin_dir / "gunicorn"), "-k", "gevent", "--reload",
                                                  "-b", f"127.0.0.1:{port}", "app:create_app()"],
                  available=(bin_dir / "gunicorn").exists()),
        Contender("watchfiles CLI + gevent server",
                  [str(bin_dir / "watchfiles"), f"{py} {ROOT / 'bench' / 'naive_gevent_server.py'} {port}", "app"]),
    ]


@dataclass
class Site:
    """A running contender's app copy: the views file the edits rewrite, its original text, its URL."""

    views: Path
    base: str
    url: str


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    marks: list[tuple[float, float]] = field(default_factory=list)  # each edit's (written, first served)
    phases: dict[str, list[float]] = field(default_factory=dict)  # phase -> its ms in each edit (stamps)
    requests: int = 0
    failed: int = 0
    lost: int = 0
    stale: int = 0
    errors: list[str] = field(default_factory=list)
    stopped: str = ""  # why the run ended early, if it did

    def count(self, problem: tuple[str, str] | None) -> None:
        """Count one request and, when it went unanswered, how ("failed" or "lost") and why."""
        self.requests += 1
        if problem:
            kind, why = problem
            self.failed += kind == "failed"
            self.lost += kind == "lost"
            self.errors.append(f"{kind}: {why}")


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception: requests wraps the socket error (refused, reset, ...) several levels deep."""
    for _ in range(10):
        inner = exc.__cause__ or exc.__context__ or getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return exc


def ask(get: Callable[..., requests.Response], url: str, timeout: float = 10) -> tuple[int | None, tuple | None]:
    """Send one request: (version, None) if answered 2xx, else (None, (kind, why)), kind "failed" or "lost".

    Failed: the server answered, with an error. Lost: no complete answer at all, which a browser shows
    as its own error page and a script gets as an exception.
    """
    try:
        response = get(url, timeout=timeout)
    except requests.RequestException as exc:
        return None, ("lost", repr(root_cause(exc))[:120])
    if not 200 <= response.status_code < 300:
        return None, ("failed", f"HTTP {response.status_code}")
    try:
        return int(response.text), None
    except ValueError:
        return None, ("failed", f"not a version: {response.text[:40]!r}")


class Pollers:
    """Clients that poll /version without pause and note when each version is first seen.

    keep_alive=False opens a new connection per request, which meets a reload at a different point
    (the listening socket) than a kept-alive connection does (an old worker's open connection).
    """

    def __init__(self, url: str, clients: int, keep_alive: bool, result: Result):
        self.url = url
        self.keep_alive = keep_alive
        self.first_seen: dict[int, float] = {}
        self.result = result
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.poll, daemon=True) for _ in range(clients)]

    def poll(self) -> None:
        get = requests.Session().get if self.keep_alive else requests.get
        while not self.done.is_set():
            sent = time.monotonic()
            version, problem = ask(get, self.url)
            received = time.monotonic()
            with self.lock:
                self.result.count(problem)
                if problem:
                    continue
                self.first_seen.setdefault(version, received)
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


def polled(site: Site, result: Result, edits: int, clients: int, keep_alive: bool) -> None:
    """The keepalive and new-connection shapes: latency and unanswered requests under steady polling."""
    with Pollers(site.url + "/version", clients, keep_alive, result) as pollers:
        result.latencies = timed_edits(site.views, site.base, site.url + "/version", edits, pollers.first_seen.get,
                                       marks=result.marks)
        time.sleep(SETTLE)  # requests sent after the last edit can still come back stale


def slow_edit(site: Site, n: int) -> tuple[int | None, tuple | None]:
    """Edit to version n; 0.3 s later, send a 2 s request on a connection the old code accepted. Its answer."""
    session = requests.Session()
    wait(lambda: session.get(site.url + "/version", timeout=5).text == str(n - 1), 10,
         f"version {n - 1} on a fresh kept-alive connection")
    site.views.write_text(site.base + ROUTE.format(n=n))
    time.sleep(SLOW_AFTER)
    answer = ask(session.get, site.url + "/slow")
    wait(lambda: requests.get(site.url + "/version", timeout=5).text == str(n), 60, f"version {n} served")
    session.close()
    return answer


def slow(site: Site, result: Result, edits: int) -> None:
    """The slow shape: does a request that outlasts the reload get a complete answer, and from which code?"""
    for n in range(1, edits + 1):
        time.sleep(SETTLE)
        version, problem = slow_edit(site, n)
        result.count(problem)
        result.stale += version is not None and version < n


SHAPES: dict[str, Callable[[Site, Result, argparse.Namespace], None]] = {
    "keepalive": lambda site, result, args: polled(site, result, args.edits, args.clients, keep_alive=True),
    "new-connection": lambda site, result, args: polled(site, result, args.edits, args.clients, keep_alive=False),
    "slow": lambda site, result, args: slow(site, result, args.slow_edits),
}


def run_contender(contender: Contender, shape: str, args: argparse.Namespace, port: int) -> Result:
    """Start the contender on a fresh app copy, measure one shape, stop it: no shape inherits another's state."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    result = Result()
    try:
        for part in ("app", "scripts"):
            shutil.copytree(ROOT / part, workdir / part, ignore=shutil.ignore_patterns("__pycache__"))
        views = workdir / "app" / "views.py"
        if args.app == "heavy":
            (workdir / "app" / "models.py").write_text(HEAVY_MODELS)
            views.write_text(views.read_text() + "\nfrom app import models  # noqa: E402, F401\n")
        base = views.read_text()
        views.write_text(base + ROUTE.format(n=-1))
        env = {k: v for k, v in os.environ.items() if k not in ("FLASK_APP", "PORT", "FLASK_DEBUG")}
        env.update(contender.env, PYTHONDONTWRITEBYTECODE="1", **{STAMPS_ENV: str(workdir / "stamps")})
        log_path = workdir / "server.log"
        log = open(log_path, "wb")
        process = subprocess.Popen(contender.command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            wait(lambda: requests.get(url + "/version", timeout=1).text == "-1", 30, "start-up")
            # One reload (to version 0) before measuring: what the first worker imported is then
            # preloaded (PRELOAD=1 learns it), and every contender has reloaded once.
            views.write_text(base + ROUTE.format(n=0))
            wait(lambda: requests.get(url + "/version", timeout=1).text == "0", 60, "the warm-up reload")
            time.sleep(SETTLE)
            SHAPES[shape](Site(views, base, url), result, args)
            result.phases = phases(workdir / "stamps", result.marks)
        except TimeoutError as exc:
            log.flush()
            result.stopped = f"{exc}; its log ends:\n{log_path.read_text(errors='replace')[-600:]}"
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            log.close()
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def wait(predicate, timeout: float, what: str = "the condition"):
    """Call predicate until it returns something truthy (request errors count as not yet); return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := predicate():
                return value
        except requests.RequestException:
            pass
        time.sleep(0.002)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


def timed_edits(views: Path, base: str, url: str, edits: int,
                served_at: Callable[[int], float | None] | None = None, route: str = ROUTE,
                marks: list[tuple[float, float]] | None = None) -> list[float]:
    """Edit the route N times (settling between) and time each until version n is served.

    served_at(n) is when version n was first served, or None if not yet; by default one keep-alive
    client asks `url` and the answer's arrival is the time. `marks` gets each edit's (written, served).
    """
    if served_at is None:
        session = requests.Session()

        def served_at(n: int) -> float | None:
            return time.monotonic() if session.get(url, timeout=5).text == str(n) else None

    latencies = []
    for n in range(1, edits + 1):
        time.sleep(SETTLE)
        start = time.monotonic()
        views.write_text(base + route.format(n=n))
        served = wait(lambda n=n: served_at(n), 60, f"version {n} served")
        latencies.append(served - start)
        if marks is not None:
            marks.append((start, served))
    return latencies


# A reload's phases in order, each named by the stamp (devserver/stamps.py) that ends it; the
# first starts at the benchmark's write, the last ends when a client gets the new version.
PHASES = [
    ("change", "file written, until the watcher yields the change"),
    ("launch", "change, until the supervisor asks for a worker"),
    ("worker", "asked, until the worker process runs (fork)"),
    ("import", "worker start, until it imports the app (settings, project setup)"),
    ("imported", "the app's import and factory"),
    ("loaded", "imported, until LOADED_OK (debugger, server, blocking report)"),
    ("drain", "LOADED_OK, until the supervisor sends DRAIN"),
    ("serve", "DRAIN, until the old worker stops accepting and SERVE is sent"),
    ("serving", "SERVE sent, until the new worker accepts"),
    ("shown", "accepting, until a client gets the new version"),
]


def phases(stamps: Path, marks: list[tuple[float, float]]) -> dict[str, list[float]]:
    """Each phase's milliseconds in each edit, from the stamps between its write and its first answer.

    Within an edit, each phase is the first stamp of its name after the one before it (one worker a
    generation, as the benchmark runs). Empty when the contender stamps nothing (not ours).
    """
    try:
        stamped = sorted((float(t), name) for t, _, name in
                         (line.split(" ", 2) for line in stamps.read_text().splitlines()))
    except (OSError, ValueError):
        return {}
    found: dict[str, list[float]] = {}
    for written, served in marks:
        at, times = written, {}
        for name, _ in PHASES[:-1]:
            at = next((t for t, n in stamped if n == name and at <= t <= served), None)
            if at is None:
                break
            times[name] = at
        else:
            times["shown"] = served
            previous = written
            for name, _ in PHASES:
                found.setdefault(name, []).append((times[name] - previous) * 1000)
                previous = times[name]
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def print_table(shape: str, rows: list[tuple[str, Result]]) -> None:
    """One shape's table; the latency ratio is against flask run in this same table, "-" where unmeasured."""
    reference = next((statistics.median(r.latencies) for n, r in rows if n == "flask run --debug" and r.latencies),
                     None)
    print(f"\n{shape}")
    print(f"{'contender':<34}{'median ms':>10}{'p90 ms':>9}{'vs flask':>10}{'requests':>10}{'failed':>8}"
          f"{'lost':>7}{'stale':>7}")
    for name, r in rows:
        median, p90, ratio = "-", "-", "-"
        if r.latencies:
            median = f"{statistics.median(r.latencies) * 1000:.0f}"
            p90 = f"{percentile(r.latencies, 0.9) * 1000:.0f}"
            ratio = f"{statistics.median(r.latencies) / reference:.2f}x" if reference else "-"
        print(f"{name:<34}{median:>10}{p90:>9}{ratio:>10}{r.requests:>10}{r.failed:>8}{r.lost:>7}{r.stale:>7}")
        if r.phases:
            print("    phases, median ms: " + ", ".join(f"{name} {statistics.median(ms):.1f}"
                                                     for name, ms in r.phases.items()))
        if r.stopped:
            print(f"    stopped early: {r.stopped}")
        for kind in ("failed", "lost"):
            for error in sorted({e for e in r.errors if e.startswith(kind)})[:2]:
                print(f"    e.g. {error}")


def print_phases() -> None:
    print("\nphases (each ends at the stamp it is named by): "
          + "; ".join(f"{name}: {what}" for name, what in PHASES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=20, help="edits per polling shape")
    parser.add_argument("--clients", type=int, default=2, help="polling clients per polling shape")
    parser.add_argument("--slow-edits", type=int, default=5, help="edits (one slow request each) for the slow shape")
    parser.add_argument("--shape", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--only", nargs="*", help="contender names to run (default: all)")
    parser.add_argument("--app", choices=["demo", "heavy"], default="demo",
                        help="demo: the template's app; heavy: plus SQLAlchemy and pydantic models")
    args = parser.parse_args()
    port = free_port()  # contenders run one after another, each stopped before the next starts
    selected = []
    for contender in contenders(port):
        if args.only and not any(name in contender.name for name in args.only):
            continue
        if not contender.available:
            print(f"skipping {contender.name}: not installed (pip install -r bench/requirements.txt)")
            continue
        selected.append(contender)
    tables = {}
    for shape in args.shape:  # shape by shape: each table's rows are measured close together in time
        tables[shape] = []
        for contender in selected:
            print(f"running {contender.name}, {shape}...", flush=True)
            tables[shape].append((contender.name, run_contender(contender, shape, args, port)))
    for shape, rows in tables.items():
        print_table(shape, rows)
    print_phases()


if __name__ == "__main__":
    main()
