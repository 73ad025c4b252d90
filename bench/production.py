"""Production throughput and latency: this project's server under gunicorn against plain gunicorn -k gevent.

    python bench/production.py [--seconds 10] [--warmup 2] [--connections 64] [--workers 2] [--rounds 3]
                               [--engines ours gunicorn pywsgi] [--routes json sleep] [--https] [--no-proxy]
                               [--ref REF] [--candidate DIR ...] [--quiet 0.25] [--quiet-wait 10] [--retries 2]

Same app, same machine, one run. Engines, each serving one small Flask app (benchapp.py, written
here) with --workers processes on a free 127.0.0.1 port:

  ours       the production entrypoint: APP_ENV=production python scripts/entrypoint.py, i.e. gunicorn's
             arbiter over devserver.production.worker.Worker, WEB_CONCURRENCY=--workers, SHUTDOWN_DELAY=0,
             ACCESS_LOG=0, on a copy of scripts/ (the working tree's, or --ref's as committed).
  gunicorn   plain `gunicorn -k gevent -w N --no-control-socket benchapp:app` (gunicorn's own HTTP parser
             over gevent; no access log by default; the control socket off, as ours has it).
  pywsgi     `gunicorn -k gevent_pywsgi`: gevent's pywsgi, the server ours builds on. A reference that
             splits "pywsgi against gunicorn's parser" from "what our handler adds".
  candidateN --candidate DIR ...: ours again, from other scripts/ folders (changes to try, side by side).

Paths: direct (wrk to the server); proxy (wrk to Caddy, `caddy run` as a host process, a plain-HTTP
reverse_proxy: no TLS, so what it adds is the proxy's HTTP work, not encryption); with --https also a
Caddy `tls internal` site (TLS 1.3 on kept-alive connections: one handshake per connection).

Routes: json (a small JSON object: the framework and server's floor) and sleep (gevent.sleep(0.01),
then JSON: the I/O-bound shape, a request waiting 10 ms on a database or an API).

Every engine and the proxy are started first and idle while another is measured. Each cell (path,
route, engine) is a --warmup run of wrk, discarded, then --seconds of `wrk --latency` with
--connections kept-alive connections; the engines take turns cell by cell (order reversed each time),
so the cells compared are measured seconds apart. Columns: req/s; p50 and p99 latency (wrk's, from its
samples); the server's CPU per request (all its processes, user + system: the figure least moved by
other load); errors (socket errors and timeouts at 5 s, non-2xx); "others", the CPU that processes not
started here used meanwhile (cores; steal counted, irq time not). Before each cell the run waits up to --quiet-wait
seconds for the machine to be quiet (others under --quiet cores), and a cell during which others used
more is measured again (--retries times at most; the quietest kept). With --rounds R, each figure is
the median of R, and each ratio the median of the R ratios measured side by side.

The machine has 2 cores that the server, Caddy and wrk share: throughput is what the three get
together. Compare the ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import requests
import urllib3

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "scripts" / "tests")]

from contenders import running  # noqa: E402 - bench/ is on sys.path when this runs as a script

from devserver.settings import VARIABLES  # noqa: E402 - after the path
from harness import free_port  # noqa: E402

CLOCK = os.sysconf("SC_CLK_TCK")
SECRET = "b" * 40
BENCH_APP = '''\
"""The benchmark's app: a JSON route, and one that waits 10 ms on I/O (gevent.sleep) first."""

import gevent
from flask import Flask

app = Flask(__name__)


@app.get("/json")
def json_route():
    return {"message": "Hello, World!", "ok": True}


@app.get("/sleep")
def sleep_route():
    gevent.sleep(0.01)
    return {"message": "Hello, World!", "slept_ms": 10}
'''
ROUTES = {"json": "/json", "sleep": "/sleep"}
# What would change what a server does, never taken from the caller's shell.
STRIPPED = VARIABLES | {"GUNICORN_CMD_ARGS", "PYTHONPATH"}
LABELS = {
    "ours": "ours (entrypoint, production)",
    "gunicorn": "gunicorn -k gevent",
    "pywsgi": "gunicorn -k gevent_pywsgi",
}
CANDIDATE = "candidate"  # --candidate's engines: candidate1, candidate2, ...


def label(name: str) -> str:
    return LABELS.get(name) or f"{name} (--candidate)"


def ours_like(name: str) -> bool:
    """The engines that are this project's server."""
    return name == "ours" or name.startswith(CANDIDATE)
LoadFn = Callable[[str, float, int, int], tuple[float, float, float, int]]


def proc_stat(pid: int | str) -> list[str] | None:
    """/proc/PID/stat's fields after the command name: [0] state, [3] session, [11] utime, [12] stime."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def session_pids(sid: int) -> list[int]:
    """The live processes of session `sid` (one started with start_new_session, and its children)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := proc_stat(entry)) and int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry))
    return found


def in_its_session(process: subprocess.Popen) -> list[int]:
    """What a process started is in its session (contenders.running's leftovers)."""
    return session_pids(process.pid)


def session_cpu(sid: int) -> float:
    """CPU seconds (user + system) that the live processes of session `sid` have used."""
    total = 0
    for pid in session_pids(sid):
        if fields := proc_stat(pid):
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy, all CPUs: user, system and steal (not ours to use). Not
    irq and softirq time, which belongs to no process: much of it is the loopback traffic measured here."""
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(v) for v in
                                                                Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + steal) / CLOCK


def children_cpu() -> float:
    """CPU seconds of the children this process has waited for: around a load run, the client's alone
    (the servers and the proxy are waited for only when stopped, at the end)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def terminate_on_sigterm() -> None:
    """SIGTERM ends the run as Ctrl-C does: the finally blocks stop what was started."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # Caddy's own CA, in the run's folder


def wait_until(url: str, timeout: float, process: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}); its log ends:\n{tail(log)}")
        with suppress(requests.RequestException):
            if requests.get(url, timeout=1, verify=False).ok:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not answering {url} after {timeout:g} s; its log ends:\n{tail(log)}")


def tail(log: Path, size: int = 1500) -> str:
    return log.read_text(errors="replace")[-size:] if log.exists() else "(no log)"


# -- the engines and the proxy -----------------------------------------------------------------------------

@dataclass
class Engine:
    name: str
    directory: Path  # its project copy: scripts/ (ours) and benchapp.py
    port: int = 0
    urls: dict[str, str] = field(default_factory=dict)  # path -> base URL
    sid: int = 0  # its session: the arbiter and its workers

    @property
    def label(self) -> str:
        return label(self.name)

    def command(self, workers: int) -> tuple[list[str], dict[str, str]]:
        py = sys.executable
        if ours_like(self.name):
            return [py, "scripts/entrypoint.py"], {
                "APP_ENV": "production", "SECRET_KEY": SECRET, "FLASK_DEBUG": "0", "FLASK_APP": "benchapp",
                "WEB_CONCURRENCY": str(workers), "SHUTDOWN_DELAY": "0", "ACCESS_LOG": "0",
                "HOST": "127.0.0.1", "PORT": str(self.port)}
        worker_class = {"gunicorn": "gevent", "pywsgi": "gevent_pywsgi"}[self.name]
        # No control socket, as ours (gunicorn 27's is $HOME/.gunicorn/gunicorn.ctl: one for all runs of a user).
        return [str(Path(py).parent / "gunicorn"), "-k", worker_class, "-w", str(workers),
                "-b", f"127.0.0.1:{self.port}", "--no-control-socket", "benchapp:app"], {}


def project_copy(directory: Path, source: Path | None = None, ref: str | None = None) -> str:
    """scripts/ (from the working tree, `source`, or git `ref`) and benchapp.py in `directory`; what, in words."""
    directory.mkdir(parents=True)
    (directory / "benchapp.py").write_text(BENCH_APP)
    if ref:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "scripts"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(directory), "--exclude", "scripts/tests"], input=archive, check=True)
        commit = git("rev-parse", "--short", ref)
        return f"scripts/ at {ref} ({commit})"
    source = source or ROOT / "scripts"
    shutil.copytree(source, directory / "scripts", ignore=shutil.ignore_patterns("tests", "__pycache__"))
    if source == ROOT / "scripts":
        return f"scripts/ of the working tree ({git('describe', '--always', '--dirty') or 'not a git checkout'})"
    return f"scripts/ from {source}"


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()


GLOBAL_OPTIONS = """\
{
\tadmin off
\tauto_https disable_redirects
\tskip_install_trust
\tlocal_certs
}
"""


@contextmanager
def caddy(work: Path, engines: list[Engine], https: bool) -> Iterator[int]:
    """One `caddy run` with a plain-HTTP site per engine (and a `tls internal` one with --https): their
    URLs in each engine's urls. Yields Caddy's session id."""
    home = work / "caddy"
    home.mkdir()
    sites = []
    for engine in engines:
        port = free_port()
        engine.urls["proxy"] = f"http://127.0.0.1:{port}"
        sites.append(f"http://127.0.0.1:{port} {{\n\treverse_proxy 127.0.0.1:{engine.port}\n}}\n")
        if https:
            port = free_port()
            engine.urls["https"] = f"https://127.0.0.1:{port}"
            sites.append(f"https://127.0.0.1:{port} {{\n\ttls internal\n\treverse_proxy 127.0.0.1:{engine.port}\n}}\n")
    (home / "Caddyfile").write_text(GLOBAL_OPTIONS + "\n" + "\n".join(sites))
    # Its certificates and state in the run's folder, never in the user's.
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config")}
    log = home / "caddy.log"
    command = ["caddy", "run", "--config", str(home / "Caddyfile"), "--adapter", "caddyfile"]
    with running(command, home, env, log, in_its_session) as process:
        for engine in engines:
            for path in ("proxy", "https"):
                if path in engine.urls:
                    wait_until(engine.urls[path] + "/json", 30, process, log, "caddy")
        yield process.pid


def caddy_version() -> str:
    result = subprocess.run(["caddy", "version"], capture_output=True, text=True)
    return result.stdout.split()[0] if result.stdout else "?"


# -- the load ----------------------------------------------------------------------------------------------

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def seconds_of(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * UNITS[match[2]]


def parse_wrk(output: str) -> tuple[float, float, float, int]:
    """(req/s, p50 s, p99 s, errors) from `wrk --latency`'s report."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])
    p50 = seconds_of(re.search(r"^\s+50%\s+(\S+)", output, re.M)[1])
    p99 = seconds_of(re.search(r"^\s+99%\s+(\S+)", output, re.M)[1])
    errors = 0
    if socket_errors := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        errors += sum(int(n) for n in socket_errors.groups())
    if non_2xx := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(non_2xx[1])
    return rps, p50, p99, errors


def wrk(url: str, seconds: float, connections: int, threads: int) -> tuple[float, float, float, int]:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s", "--latency", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    return parse_wrk(result.stdout)


# wrk's stand-in: kept-alive connections in one gevent process, timing each request as wrk does.
PY_CLIENT = r'''
import json, ssl, sys, time
from urllib.parse import urlsplit
from gevent import monkey; monkey.patch_all()
import gevent, socket
url, connections, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
parts = urlsplit(url)
request = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
latencies, errors, end = [], [0], time.monotonic() + seconds
def client():
    context = ssl._create_unverified_context() if parts.scheme == "https" else None
    while time.monotonic() < end:
        try:
            s = socket.create_connection((parts.hostname, parts.port), timeout=5)
            s = context.wrap_socket(s, server_hostname=parts.hostname) if context else s
            f = s.makefile("rb")
            while time.monotonic() < end:
                t = time.monotonic()
                s.sendall(request)
                status, length = f.readline(), 0
                while (line := f.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                f.read(length)
                latencies.append(time.monotonic() - t)
                errors[0] += not status.startswith(b"HTTP/1.1 2")
            s.close()
        except OSError:
            errors[0] += 1
gevent.joinall([gevent.spawn(client) for _ in range(connections)])
latencies.sort()
n = len(latencies)
print(json.dumps([n / seconds, latencies[n // 2] if n else 0, latencies[int(n * .99)] if n else 0, errors[0]]))
'''


def python_client(url: str, seconds: float, connections: int, threads: int) -> tuple[float, float, float, int]:
    """One gevent process: it takes a good part of a core itself, so the servers get less."""
    result = subprocess.run([sys.executable, "-c", PY_CLIENT, url, str(connections), str(seconds)],
                            capture_output=True, text=True, timeout=seconds + 60)
    if result.returncode != 0:
        raise RuntimeError(f"the Python client failed: {result.stderr.strip()[-500:]}")
    rps, p50, p99, errors = json.loads(result.stdout)
    return rps, p50, p99, errors


@dataclass
class Sample:
    rps: float
    p50: float  # seconds
    p99: float
    cpu_per_request: float  # seconds of the server's CPU
    errors: int
    client: float  # the client's CPU, in cores (1.0: one whole core)
    others: float  # the CPU that processes not started here used meanwhile, in cores


def wait_for_quiet(threshold: float, longest: float) -> float:
    """Wait (at most `longest` s) until the machine's CPU use, all of it others' while everything of ours
    idles, is under `threshold` cores over a second. That use, last measured."""
    deadline = time.monotonic() + longest
    while True:
        before, t0 = machine_cpu(), time.monotonic()
        time.sleep(1)
        busy = (machine_cpu() - before) / (time.monotonic() - t0)
        if busy < threshold or time.monotonic() >= deadline:
            return busy


def measure(load: LoadFn, engine: Engine, path: str, route: str, caddy_sid: int | None,
            args: argparse.Namespace) -> Sample:
    url = engine.urls[path] + ROUTES[route]
    wait_for_quiet(args.quiet, args.quiet_wait)
    if args.warmup:
        load(url, args.warmup, args.connections, args.threads)
    proxy = (lambda: session_cpu(caddy_sid)) if caddy_sid and path != "direct" else (lambda: 0.0)
    server0, proxy0, client0, machine0, t0 = session_cpu(engine.sid), proxy(), children_cpu(), machine_cpu(), \
        time.monotonic()
    rps, p50, p99, errors = load(url, args.seconds, args.connections, args.threads)
    elapsed = time.monotonic() - t0
    server, client = session_cpu(engine.sid) - server0, children_cpu() - client0
    others = machine_cpu() - machine0 - server - (proxy() - proxy0) - client
    return Sample(rps, p50, p99, server / max(1.0, rps * args.seconds), errors, client / elapsed,
                  max(0.0, others / elapsed))


# -- the run -----------------------------------------------------------------------------------------------

Cells = dict[tuple[str, str, str], list[Sample]]  # (engine, path, route) -> a sample per round


def run(engines: list[Engine], paths: list[str], load: LoadFn, work: Path, args: argparse.Namespace,
        cells: Cells) -> None:
    """Start every engine (and the proxy), then measure cell by cell, the engines taking turns."""
    with ExitStack() as stack:
        for engine in engines:
            engine.port = free_port()
            command, extra = engine.command(args.workers)
            env = {k: v for k, v in os.environ.items() if k not in STRIPPED}
            env.update(extra, PYTHONDONTWRITEBYTECODE="1")
            log = work / f"{engine.name}.log"
            server = stack.enter_context(running(command, engine.directory, env, log, in_its_session))
            engine.sid = server.pid
            engine.urls["direct"] = f"http://127.0.0.1:{engine.port}"
            wait_until(engine.urls["direct"] + "/json", 60, server, log, engine.label)
        caddy_sid = None
        if len(paths) > 1:
            caddy_sid = stack.enter_context(caddy(work, engines, "https" in paths))
        time.sleep(1)  # every worker booted (gunicorn starts them one after another)
        cells_in_order = [(path, route) for path in paths for route in args.routes]
        for round_number in range(args.rounds):
            print(f"round {round_number + 1} of {args.rounds}", flush=True)
            for index, (path, route) in enumerate(cells_in_order):
                # The engines' order reversed from cell to cell and, for each cell, from round to round.
                for engine in engines if (round_number + index) % 2 == 0 else engines[::-1]:
                    sample = measure_cell(load, engine, path, route, caddy_sid, args)
                    cells.setdefault((engine.name, path, route), []).append(sample)
        for engine in engines:
            if session_pids(engine.sid) == []:
                raise RuntimeError(f"{engine.label} exited during the run; its log ends:\n"
                                   f"{tail(work / f'{engine.name}.log')}")


def measure_cell(load: LoadFn, engine: Engine, path: str, route: str, caddy_sid: int | None,
                 args: argparse.Namespace) -> Sample:
    """One cell's sample: measured again while others' load was over --quiet (--retries times), the quietest."""
    sample, tries = measure(load, engine, path, route, caddy_sid, args), 1
    while sample.others > args.quiet and tries <= args.retries:
        sample, tries = min(sample, measure(load, engine, path, route, caddy_sid, args), key=lambda s: s.others), \
            tries + 1
    print(f"  {engine.label:<31}{path:<8}{route:<7}{sample.rps:>7.0f} req/s  p50 {sample.p50 * 1e3:7.2f} ms  "
          f"p99 {sample.p99 * 1e3:7.1f} ms  {sample.cpu_per_request * 1e6:4.0f} us CPU/req  {sample.errors} errors  "
          f"others {sample.others:.2f} cores" + f" (quietest of {tries})" * (tries > 1), flush=True)
    return sample


def median(samples: list[Sample], name: str) -> float:
    return statistics.median(getattr(s, name) for s in samples)


def print_tables(cells: Cells, engines: list[str], paths: list[str], routes: list[str]) -> None:
    print(f"\n{'engine':<31}{'path':<8}{'route':<7}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>11}"
          f"{'errors':>7}{'others':>8}{'req/s min-max':>15}")
    for path in paths:
        for route in routes:
            for name in engines:
                if not (samples := cells.get((name, path, route))):
                    continue
                rps = [s.rps for s in samples]
                print(f"{label(name):<31}{path:<8}{route:<7}{median(samples, 'rps'):>8.0f}"
                      f"{median(samples, 'p50') * 1e3:>9.2f}{median(samples, 'p99') * 1e3:>9.1f}"
                      f"{median(samples, 'cpu_per_request') * 1e6:>11.0f}{sum(s.errors for s in samples):>7}"
                      f"{median(samples, 'others'):>8.2f}{f'{min(rps):.0f}-{max(rps):.0f}':>15}")
    for ours in (n for n in engines if ours_like(n)):  # each of ours against the others; a candidate against ours
        for other in (n for n in engines if n != ours and not (n.startswith(CANDIDATE) and ours_like(ours))):
            print_ratios(cells, ours, other, paths, routes)


def print_ratios(cells: Cells, ours: str, other: str, paths: list[str], routes: list[str]) -> None:
    """Each ratio: the median over the rounds of the two engines' figures measured side by side."""
    print(f"\n{label(ours)} / {label(other)}: medians of the per-round ratios (goal: req/s >= 0.95x, "
          "p99 <= 1.00x)")
    print(f"{'path':<8}{'route':<7}{'req/s':>8}{'min-max':>13}{'p99':>8}{'min-max':>13}{'CPU/req':>9}  verdict")
    for path in paths:
        for route in routes:
            a, b = cells.get((ours, path, route)), cells.get((other, path, route))
            if not a or not b:
                continue
            pairs = list(zip(a, b, strict=False))
            rps = [x.rps / y.rps for x, y in pairs]
            p99 = [x.p99 / y.p99 for x, y in pairs]
            cpu = statistics.median(x.cpu_per_request / y.cpu_per_request for x, y in pairs)
            r, p = statistics.median(rps), statistics.median(p99)
            verdict = {(True, True): "meets", (False, True): "req/s short", (True, False): "p99 worse",
                       (False, False): "both short"}[(r >= 0.95, p <= 1.0)]
            print(f"{path:<8}{route:<7}{r:>7.2f}x{f'{min(rps):.2f}-{max(rps):.2f}':>13}{p:>7.2f}x"
                  f"{f'{min(p99):.2f}-{max(p99):.2f}':>13}{cpu:>8.2f}x  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per cell (whole: wrk's)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before each cell, discarded")
    parser.add_argument("--connections", type=int, default=64, help="kept-alive connections wrk holds open")
    parser.add_argument("--threads", type=int, default=1, help="wrk's threads (one leaves the server more CPU)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes per engine")
    parser.add_argument("--rounds", type=int, default=3, help="measure each cell this many times (medians shown)")
    parser.add_argument("--engines", nargs="+", choices=list(LABELS),
                        default=["ours", "gunicorn"])
    parser.add_argument("--routes", nargs="+", choices=list(ROUTES), default=list(ROUTES))
    parser.add_argument("--https", action="store_true", help="also through Caddy with `tls internal`")
    parser.add_argument("--no-proxy", action="store_true", help="direct only: no Caddy")
    parser.add_argument("--ref", help="ours from scripts/ as committed at this git ref, not the working tree")
    parser.add_argument("--candidate", type=Path, nargs="+", default=[],
                        help="also ours from these scripts/ folders (changes to try)")
    parser.add_argument("--quiet", type=float, default=0.25,
                        help="before each cell, wait for others' CPU use under this many cores...")
    parser.add_argument("--quiet-wait", type=float, default=10, help="...for at most this many seconds")
    parser.add_argument("--retries", type=int, default=2,
                        help="a cell during which others used more than --quiet cores is measured again, this "
                             "many times at most; the quietest is kept")
    args = parser.parse_args()
    terminate_on_sigterm()

    load: LoadFn = wrk
    if not shutil.which("wrk"):
        load = python_client
        print("WARNING: wrk not found (Debian: apt-get install -y wrk): falling back to a Python (gevent) client, "
              "which takes a good part of a core itself: lower figures, blunter ratios")
    paths = ["direct"]
    if not args.no_proxy:
        if shutil.which("caddy"):
            paths += ["proxy", "https"] if args.https else ["proxy"]
        else:
            print("WARNING: caddy not found (Debian: apt-get install -y caddy): direct rows only")

    work = Path(tempfile.mkdtemp(prefix="bench-production-"))
    cells: Cells = {}
    candidates = {f"{CANDIDATE}{i}": folder.resolve() for i, folder in enumerate(args.candidate, 1)}
    names = args.engines + list(candidates)
    try:
        engines, copied = [], {}
        for name in names:
            directory = work / name
            if name in candidates:
                copied[name] = project_copy(directory, source=candidates[name])
            elif name == "ours":
                copied[name] = project_copy(directory, ref=args.ref)
            else:
                project_copy(directory, source=ROOT / "scripts")  # the same app; scripts/ unused
            engines.append(Engine(name, directory))
        print("; ".join(f"{name}: {what}" for name, what in copied.items()))
        print(f"{args.workers} workers per engine; {os.cpu_count()} CPUs shared by the server, the proxy and the "
              f"client; {'wrk' if load is wrk else 'the Python client'} -t{args.threads} -c{args.connections}, "
              f"{args.warmup:g} s warm-up + {args.seconds:g} s per cell, {args.rounds} round(s)"
              + (f"; proxy: Caddy {caddy_version()}, plain-HTTP reverse_proxy (no TLS)" if "proxy" in paths else "")
              + ("; https: the same Caddy, tls internal" if "https" in paths else ""), flush=True)
        run(engines, paths, load, work, args, cells)
    except KeyboardInterrupt:
        print("\ninterrupted: every process started here was stopped", file=sys.stderr)
        if not cells:
            sys.exit(130)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_tables(cells, names, paths, args.routes)
    if samples := [s for c in cells.values() for s in c]:
        client = "wrk" if load is wrk else "the Python client"
        print(f"\n{client} used {statistics.mean(s.client for s in samples):.2f} cores on average (at most "
              f"{max(s.client for s in samples):.2f}); others (processes not started here) "
              f"{statistics.mean(s.others for s in samples):.2f} on average, at most "
              f"{max(s.others for s in samples):.2f}")


if __name__ == "__main__":
    main()
