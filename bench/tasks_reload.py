"""Edit-to-new-code latency and tasks lost across reloads of a task worker (Celery, RQ), side by side in one run.

    python bench/tasks_reload.py [--edits 10] [--queues celery rq] [--only NAME ...] [--in-flight 2]
                                 [--settle 3] [--drain 30] [--celery-options "-P gevent -c 8"] [--bytecode]
                                 [--ref REF] [--logs DIR]

For each queue, three contenders run the same task module (benchtasks.py, written here), one after
another, each in a fresh temp project, against one redis-server of the run's own (a free 127.0.0.1
port, `--save "" --appendonly no`, emptied before each contender). The worker command is the same
for all three:

  celery  celery -A benchtasks worker -P gevent -c 8 -Q probe,celery --loglevel INFO
  rq      rq worker --url redis://127.0.0.1:PORT/0 probe default

(-c 8: more pool slots than tasks in flight, so a probe never waits for a slot; Celery's default is one
per CPU.)

Contenders:
  ours        TASK_WORKER="<that command>" python scripts/entrypoint.py, in a project holding a copy of
              scripts/ (the working tree's, or --ref's as committed; the first line printed says which)
              and tasksapp.py (FLASK_APP=tasksapp: a Flask app that imports benchtasks, as an
              app that enqueues them does); RELOAD's defaults (the root's Python files), LIVE_INSTALL=0,
              BLOCKING_WARN_MS=0. On a change a new worker loads; then the old one gets its queue's warm
              shutdown, the new one consumes.
  watchfiles  `watchfiles --filter python celery.__main__.main --args '<its arguments>'`, as
              cookiecutter-django's start-celeryworker has it (RQ: `rq.cli.main`): on a change SIGINT
              (the queue's warm shutdown), SIGKILL 5 s later, then a new worker.
  watchmedo   `watchmedo auto-restart --directory=. --pattern='*.py' --recursive -- <that command>`:
              SIGINT to the worker's process group, SIGKILL 10 s later, then a new worker.

Each contender: start-up, one warm-up edit (ours' preload learns what the worker imports), then a
stream of tasks begins: tasks of 1 to 2 s (the same sequence for every contender) that INCR a
runs:<id> key when they start and a done:<id> key when they end, --in-flight of them sent and not
done at any time. Meanwhile --edits edits of benchtasks' MARKER, --settle s apart. After each edit,
probes (a task that stores MARKER under its id) go to the `probe` queue, which the worker reads
first, one every 0.1 s at most (at once after one answers, or 0.5 s after one that did not), until
one answers with the new marker. After the last edit the stream stops and the run waits (--drain s
at most; less once nothing is queued and nothing completed for 6 s) for the tasks still out, the
probes' too.

Columns:
  median, p90   edit-to-new-code latency: from the write until a probe's answer carries the new marker.
  vs watchfiles median latency / the watchfiles contender's median, in the same table.
  sent          stream tasks sent.
  completed     tasks that ran to their end (done:<id> set).
  lost          tasks that never started (runs:<id> never set) and were not failed by the queue: the
                message is gone, or waits where no worker will take it within the run.
  twice         tasks that started more than once (part of completed or killed).
  killed        tasks that started but never finished, or that the queue marked failed (Celery's FAILURE
                or REVOKED, RQ's failed registry). completed + lost + killed = sent.

The queues' defaults, as a user has them:
  Celery  task_acks_late=False: a task is acknowledged when the worker starts it, so one cut mid-run
          (its worker killed) is never delivered again: killed. The messages a worker had prefetched but
          not started (up to 4 per pool slot) are unacknowledged: a warm shutdown (SIGTERM, the first
          SIGINT) waits for the running tasks and puts those back in the queue; a SIGKILL leaves them in
          Redis' `unacked` hash until the visibility timeout (1 hour), so here they are lost. Mingle (on
          by default) waits 1 s for other workers' replies at each start.
  RQ      one job at a time, each in a forked work horse; a warm shutdown (SIGINT, SIGTERM) waits for
          the job, a second signal (1 s on or later) kills it (cold shutdown); a job whose horse dies goes
          to the failed registry (no retry by default), or stays in the started registry when its worker
          died too (until another worker's cleanup finds it abandoned). Plain `rq worker` never imports benchtasks
          itself: each horse imports it afresh, so a job can see a change before any restart. Ours
          loads the app, and so benchtasks, in the worker, and its horses run that generation's code.

Bytecode: the contenders run with PYTHONDONTWRITEBYTECODE=1, as the dev image sets it. Where the
venv holds no compiled bytecode (uv compiles none unless asked; this machine's .venv has none), each
new interpreter compiles what it imports from source: Celery and gevent take ~3.5 s here, ~1.4 s from
bytecode, and that is in every restart of watchfiles' and watchmedo's, not in ours' (its workers are
forked from a process that has them loaded). --bytecode lets every contender write and read bytecode
in a cache of the run's (PYTHONPYCACHEPREFIX), as a venv that pip installed (and compiled) would.

Under each row, notes: the queue's own failure reasons, messages left in Redis, the probes sent and
any never answered (a probe is a task too: one never answered is a message lost), how many workers
started (from the log) and, for ours, the "task worker reloaded in N ms" its log reported.

The machine is shared and noisy: compare the ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "scripts" / "tests")]

from contenders import running  # noqa: E402 - bench/ is on sys.path when this runs as a script

from devserver.settings import VARIABLES  # noqa: E402 - after the path
from harness import free_port  # noqa: E402

# What would change what a contender does, never taken from the caller's shell.
STRIPPED = VARIABLES | {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "CELERY_CONFIG_MODULE"}
# In every contender's environment: its processes are found by it at the end, whatever their session.
MARK = "BENCH_TASKS_RELOAD"

APP = '''\
"""The benchmark's Flask app: what enqueues the tasks imports them."""

from flask import Flask

import benchtasks  # noqa: F401

app = Flask(__name__)
'''
TASKS_BODY = '''
store = redis.Redis.from_url(URL)


def marker(probe):
    """A probe: this code's MARKER, stored under the probe's id."""
    store.set("bench:result:" + probe, MARKER)
    return MARKER


def work(task_id, seconds):
    """The stream's task: counts its starts and its ends."""
    store.incr("bench:runs:" + task_id)
    time.sleep(seconds)
    store.incr("bench:done:" + task_id)
    return MARKER
'''
CELERY_TASKS = '''\
"""The benchmark's tasks, for Celery."""

import time

import redis
from celery import Celery

URL = "{url}"
app = Celery("benchtasks", broker=URL, backend=URL)
''' + TASKS_BODY + '''

marker = app.task(name="marker")(marker)
work = app.task(name="work")(work)
'''
RQ_TASKS = '''\
"""The benchmark's tasks, for RQ."""

import time

import redis

URL = "{url}"
''' + TASKS_BODY
MARKER_LINE = "\nMARKER = {n}\n"  # the edits rewrite the module's last line

TICK = 0.01  # the polling loop's step
STREAM_TICK = 0.05  # how often the stream is topped up
STUCK = 10  # a stream task not done this long after it was sent no longer counts as in flight
PROBE_EVERY = 0.1  # at most one probe per this long
PROBE_AGAIN = 0.5  # a probe unanswered this long: another one anyway
QUIET = 6  # the drain ends once nothing is queued and nothing completed this long
START_TIMEOUT = 60
EDIT_TIMEOUT = 60


def marked(mark: str) -> list[int]:
    """The live processes whose environment has MARK=mark."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if needle not in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                continue
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            found.append(int(entry))
    return found


def terminate_on_sigterm() -> None:
    """SIGTERM ends the run as Ctrl-C does: the finally blocks stop what was started."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


def tail(log: Path, size: int = 1500) -> str:
    return log.read_text(errors="replace")[-size:] if log.exists() else "(no log)"


def clean_env(mark: str, extra: dict[str, str], pycache: Path | None = None) -> dict[str, str]:
    """The caller's environment less what would change the contenders; bytecode as the dev image has it
    (PYTHONDONTWRITEBYTECODE=1), or with `pycache`, written and read there (PYTHONPYCACHEPREFIX)."""
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    env.update(extra, PYTHONUNBUFFERED="1", PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env[MARK] = mark
    return env


@contextmanager
def redis_server(directory: Path, port: int, mark: str) -> Iterator[redis.Redis]:
    """The run's own redis-server: loopback, a free port, nothing written to disk."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(directory), "--daemonize", "no"]
    log = directory / "redis.log"
    with running(command, directory, clean_env(mark, {}), log, lambda _: marked(mark)) as process:
        store = redis.Redis(port=port, socket_timeout=10)
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited ({process.returncode}); its log ends:\n{tail(log)}")
            with suppress(redis.RedisError):
                if store.ping():
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server not answering on port {port}; its log ends:\n{tail(log)}")
            time.sleep(0.05)
        yield store


# -- the queues --------------------------------------------------------------------------------------------

class CeleryQueue:
    name = "celery"
    watchfiles_target = "celery.__main__.main"

    def __init__(self, url: str, args: argparse.Namespace):
        from celery import Celery

        self.url = url
        self.app = Celery("bench", broker=url, backend=url)
        self.words = ["celery", "-A", "benchtasks", "worker", *shlex.split(args.celery_options),
                      "-Q", "probe,celery", "--loglevel", "INFO"]
        self.module = CELERY_TASKS.format(url=url)
        self.title = f"celery ({args.celery_options})"

    def send_work(self, task_id: str, seconds: float) -> None:
        self.app.send_task("work", args=[task_id, seconds], task_id=task_id, queue="celery")

    def send_probe(self, probe: str) -> None:
        self.app.send_task("marker", args=[probe], task_id=probe, queue="probe")

    def waiting(self, store: redis.Redis) -> int:
        """Messages in the queues (not those a worker holds unacknowledged)."""
        return store.llen("celery") + store.llen("probe")

    def failures(self, store: redis.Redis, ids: list[str]) -> dict[str, str]:
        failed = {}
        for task_id in ids:
            result = self.app.AsyncResult(task_id)
            if result.state in ("FAILURE", "REVOKED"):
                failed[task_id] = f"{result.state}: {result.result!r}"[:120]
        return failed

    def leftovers(self, store: redis.Redis) -> list[str]:
        notes = []
        if unacked := store.hlen("unacked"):
            notes.append(f"{unacked} messages left unacknowledged in Redis (prefetched by a worker that did not "
                         "give them back; redelivered after the visibility timeout, 1 h)")
        if queued := store.llen("celery"):
            notes.append(f"{queued} stream tasks still queued")
        return notes

    @staticmethod
    def starts(log: str) -> int:
        return len(re.findall(r"celery@\S+ ready\.", log))


class RQQueue:
    name = "rq"
    watchfiles_target = "rq.cli.main"

    def __init__(self, url: str, args: argparse.Namespace):
        from rq import Queue

        self.url = url
        connection = redis.Redis.from_url(url)
        self.work = Queue("default", connection=connection)
        self.probes = Queue("probe", connection=connection)
        self.words = ["rq", "worker", "--url", url, "probe", "default"]
        self.module = RQ_TASKS.format(url=url)
        self.title = "rq"

    def send_work(self, task_id: str, seconds: float) -> None:
        self.work.enqueue("benchtasks.work", task_id, seconds, job_id=task_id, result_ttl=3600, failure_ttl=3600)

    def send_probe(self, probe: str) -> None:
        self.probes.enqueue("benchtasks.marker", probe, job_id=probe, result_ttl=60, failure_ttl=600)

    def waiting(self, store: redis.Redis) -> int:
        return self.work.count + self.probes.count

    def failures(self, store: redis.Redis, ids: list[str]) -> dict[str, str]:
        from rq.job import Job

        failed = {}
        in_registry = set(self.work.failed_job_registry.get_job_ids())
        for task_id in ids:
            if task_id not in in_registry:
                continue
            why = "in the failed registry"
            with suppress(Exception):
                latest = Job.fetch(task_id, connection=self.work.connection).latest_result()
                if latest is not None and latest.exc_string:
                    why = latest.exc_string.strip().splitlines()[-1]
            failed[task_id] = why[:120]
        return failed

    def leftovers(self, store: redis.Redis) -> list[str]:
        notes = []
        if started := len(self.work.started_job_registry.get_job_ids()):
            notes.append(f"{started} jobs still in the started registry (their worker gone)")
        if queued := self.work.count:
            notes.append(f"{queued} stream jobs still queued")
        return notes

    @staticmethod
    def starts(log: str) -> int:
        return len(re.findall(r"Worker \S+ started with PID", log))


QUEUES = {"celery": CeleryQueue, "rq": RQQueue}


# -- the contenders ----------------------------------------------------------------------------------------

@dataclass
class Contender:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)


def contenders(queue) -> list[Contender]:
    py = sys.executable
    return [
        Contender("ours (TASK_WORKER)", [py, "scripts/entrypoint.py"],
                  {"TASK_WORKER": shlex.join(queue.words), "FLASK_APP": "tasksapp", "LIVE_INSTALL": "0",
                   "BLOCKING_WARN_MS": "0"}),
        Contender("watchfiles CLI", [str(BIN / "watchfiles"), "--filter", "python", queue.watchfiles_target,
                                     "--args", shlex.join(queue.words[1:])]),
        Contender("watchmedo auto-restart", [str(BIN / "watchmedo"), "auto-restart", "--directory=.",
                                             "--pattern=*.py", "--recursive", "--", *queue.words]),
    ]


REFERENCE = "watchfiles CLI"


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    completed: int = 0
    lost: int = 0
    twice: int = 0
    killed: int = 0
    notes: list[str] = field(default_factory=list)
    stopped: str = ""  # why the edits ended early, if they did


class Bench:
    """One contender's probes and stream, driven from one loop (pump) that also watches the process."""

    def __init__(self, queue, store: redis.Redis, process: subprocess.Popen, in_flight: int):
        self.queue = queue
        self.store = store
        self.process = process
        self.in_flight = in_flight
        self.durations = random.Random(1)  # the same tasks for every contender
        self.sent: dict[str, float] = {}  # stream task -> when sent
        self.done: set[str] = set()
        self.streaming = False
        self.next_top_up = 0.0
        self.probes: dict[str, float] = {}  # unanswered probe -> when sent
        self.all_probes: list[str] = []
        self.last_probe = 0.0
        self.answered = True  # the last probe sent has answered

    def alive(self, what: str) -> None:
        if self.process.poll() is not None:
            raise TimeoutError(f"the contender exited ({self.process.returncode}) while waiting for {what}")

    def tick(self) -> None:
        """Note the stream tasks done; while streaming, keep --in-flight of them out."""
        now = time.monotonic()
        if now < self.next_top_up:
            return
        self.next_top_up = now + STREAM_TICK
        self.refresh_done()
        if self.streaming:
            out = sum(1 for task, at in self.sent.items() if task not in self.done and now - at < STUCK)
            for _ in range(self.in_flight - out):
                task = f"w{len(self.sent)}"
                self.sent[task] = time.monotonic()
                self.queue.send_work(task, round(self.durations.uniform(1, 2), 2))

    def refresh_done(self) -> None:
        if not (open_tasks := [t for t in self.sent if t not in self.done]):
            return
        for task, value in zip(open_tasks, self.store.mget([f"bench:done:{t}" for t in open_tasks]), strict=True):
            if value is not None:
                self.done.add(task)

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.alive("the pause between edits")
            self.tick()
            time.sleep(TICK)

    def wait_marker(self, n: int, timeout: float, what: str) -> float:
        """Probe until one answers with marker n; when its answer was read."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.alive(what)
            self.tick()
            now = time.monotonic()
            if now - self.last_probe >= PROBE_EVERY and (self.answered or now - self.last_probe >= PROBE_AGAIN):
                probe = uuid.uuid4().hex[:12]
                self.probes[probe] = now
                self.all_probes.append(probe)
                self.last_probe, self.answered = now, False
                self.queue.send_probe(probe)
            if self.probes:
                ids = list(self.probes)
                answers = self.store.mget([f"bench:result:{p}" for p in ids])
                seen = time.monotonic()
                for probe, answer in zip(ids, answers, strict=True):
                    if answer is None:
                        if seen - self.probes[probe] > EDIT_TIMEOUT:
                            del self.probes[probe]  # lost with a worker: forgotten
                        continue
                    del self.probes[probe]
                    self.answered = True
                    if int(answer) == n:
                        return seen
            time.sleep(TICK)
        raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")

    def drain(self, longest: float) -> None:
        """Wait for the stream tasks still out: until all are done, or nothing is queued and nothing
        completed for QUIET s, or `longest` s."""
        deadline = time.monotonic() + longest
        progress_at, done = time.monotonic(), len(self.done)
        while time.monotonic() < deadline and (len(self.done) < len(self.sent) or self.queue.waiting(self.store)):
            self.tick()
            if len(self.done) != done:
                progress_at, done = time.monotonic(), len(self.done)
            elif time.monotonic() - progress_at > QUIET and self.queue.waiting(self.store) == 0:
                break
            time.sleep(0.1)

    def account(self, result: Result) -> None:
        ids = list(self.sent)
        runs = [int(v or 0) for v in self.store.mget([f"bench:runs:{t}" for t in ids])] if ids else []
        ends = [int(v or 0) for v in self.store.mget([f"bench:done:{t}" for t in ids])] if ids else []
        failed = self.queue.failures(self.store, [t for t, e in zip(ids, ends, strict=True) if not e])
        result.sent = len(ids)
        for task, started, ended in zip(ids, runs, ends, strict=True):
            result.twice += started > 1
            if ended:
                result.completed += 1
            elif started or task in failed:
                result.killed += 1
            else:
                result.lost += 1
        for why in sorted(set(failed.values()))[:2]:
            result.notes.append(f"failed: {why}")
        result.notes.extend(self.queue.leftovers(self.store))
        # Probes are tasks too: one never answered is a message lost (or one still queued, if the run stopped).
        probes = self.all_probes
        answers = self.store.mget([f"bench:result:{p}" for p in probes]) if probes else []
        unanswered = sum(answer is None for answer in answers)
        result.notes.append(f"probes: {len(probes)} sent, "
                            + (f"{unanswered} never answered" if unanswered else "all answered"))


def run_contender(queue, contender: Contender, args: argparse.Namespace, store: redis.Redis, work: Path,
                  mark: str) -> Result:
    """Start the contender in a fresh project, warm it up, edit with the stream running, drain, count, stop."""
    store.flushall()
    project = work / "project"
    copy_scripts(project, args.ref)
    (project / "tasksapp.py").write_text(APP)
    tasks = project / "benchtasks.py"
    tasks.write_text(queue.module + MARKER_LINE.format(n=-1))
    log = work / "worker.log"  # outside the project: nobody watches it
    result = Result()
    try:
        # Its leftovers by their mark, whatever their session: watchmedo starts its worker in another
        # session, and an RQ work horse may outlive its worker.
        with running(contender.command, project, clean_env(mark, contender.env, args.pycache), log,
                     lambda _: marked(mark)) as process:
            bench = Bench(queue, store, process, args.in_flight)
            try:
                bench.wait_marker(-1, START_TIMEOUT, "the first worker to consume")
                # One reload before measuring: ours' preload learns what the worker imports, and every
                # contender has restarted once.
                tasks.write_text(queue.module + MARKER_LINE.format(n=0))
                bench.wait_marker(0, EDIT_TIMEOUT, "the warm-up reload")
                bench.streaming = True
                for n in range(1, args.edits + 1):
                    bench.pump(args.settle)  # the previous reload settles, with the stream running
                    start = time.monotonic()
                    tasks.write_text(queue.module + MARKER_LINE.format(n=n))
                    result.latencies.append(bench.wait_marker(n, EDIT_TIMEOUT, f"marker {n}") - start)
            except TimeoutError as exc:
                result.stopped = f"{exc}; its log ends:\n{tail(log, 600)}"
            bench.streaming = False
            if process.poll() is None:
                bench.drain(args.drain)
            bench.account(result)
    finally:
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"\W+", "-", f"{queue.name} {contender.name}").strip("-")
            shutil.copyfile(log, args.logs / f"{name}.log")
    text = log.read_text(errors="replace")
    result.notes.append(f"workers started: {queue.starts(text)} (the first, the warm-up's, then the edits')")
    if reloads := [int(ms) for ms in re.findall(r"task worker reloaded in (\d+) ms", text)]:
        result.notes.append(f"its log: \"task worker reloaded in\" median {statistics.median(reloads):.0f} ms, "
                            f"max {max(reloads)} ms ({len(reloads)} reloads)")
    for phrase in ("SIGINT timed out", "still running a task after TASK_GRACE", "cold shut down", "Traceback"):
        if count := text.count(phrase):
            result.notes.append(f"its log: {phrase!r} x{count}")
    return result


def copy_scripts(project: Path, ref: str | None) -> None:
    """scripts/ into the project: the working tree's, or git `ref`'s as committed."""
    project.mkdir(parents=True)
    if not ref:
        shutil.copytree(ROOT / "scripts", project / "scripts", ignore=shutil.ignore_patterns("tests", "__pycache__"))
        return
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "scripts"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(project), "--exclude", "scripts/tests"], input=archive, check=True)


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()


def measured(ref: str | None) -> str:
    """Which scripts/ ours runs, in words: a ref's commit, or the working tree's and what differs in it."""
    if ref:
        return f"scripts/ at {ref} ({git('rev-parse', '--short', ref)})"
    changed = (git("diff", "--name-only", "HEAD", "--", "scripts/devserver").splitlines()
               + git("ls-files", "--others", "--exclude-standard", "--", "scripts/devserver").splitlines())
    names = ", ".join(changed[:6]) + (", ..." if len(changed) > 6 else "")
    digest = hashlib.sha1()
    for path in sorted((ROOT / "scripts" / "devserver").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return (f"scripts/ of the working tree ({git('describe', '--always', '--dirty') or 'not a git checkout'}"
            + (f"; changed in scripts/devserver: {names}" if changed else "")
            + f"; scripts/devserver's content {digest.hexdigest()[:10]})")


# -- the tables --------------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def print_table(title: str, rows: list[tuple[str, Result]]) -> None:
    reference = next((statistics.median(r.latencies) for n, r in rows if n == REFERENCE and r.latencies), None)
    print(f"\n{title}")
    print(f"{'contender':<26}{'median ms':>10}{'p90 ms':>9}{'vs watchfiles':>15}{'sent':>7}{'completed':>11}"
          f"{'lost':>6}{'twice':>7}{'killed':>8}")
    for name, r in rows:
        median, p90, ratio = "-", "-", "-"
        if r.latencies:
            median = f"{statistics.median(r.latencies) * 1000:.0f}"
            p90 = f"{percentile(r.latencies, 0.9) * 1000:.0f}"
            ratio = f"{statistics.median(r.latencies) / reference:.2f}x" if reference else "-"
        print(f"{name:<26}{median:>10}{p90:>9}{ratio:>15}{r.sent:>7}{r.completed:>11}{r.lost:>6}{r.twice:>7}"
              f"{r.killed:>8}")
        if r.stopped:
            print(f"    stopped early: {r.stopped}")
        for note in r.notes:
            print(f"    {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=10, help="measured edits per contender")
    parser.add_argument("--queues", nargs="+", choices=list(QUEUES), default=list(QUEUES))
    parser.add_argument("--only", nargs="*", help="contenders whose name contains one of these (default: all)")
    parser.add_argument("--in-flight", type=int, default=2, help="stream tasks sent and not done at any time")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds between the new code answering and the next edit (an old worker finishes its "
                             "task)")
    parser.add_argument("--drain", type=float, default=30.0,
                        help="at most this long for the tasks still out at the end")
    parser.add_argument("--celery-options", default="-P gevent -c 8", help="the celery worker's options")
    parser.add_argument("--logs", type=Path, help="copy each contender's log into this folder")
    parser.add_argument("--ref", help="ours from scripts/ as committed at this git ref (default: the working tree)")
    parser.add_argument("--bytecode", action="store_true",
                        help="let the contenders compile and cache bytecode (PYTHONPYCACHEPREFIX, in the run's "
                             "folder) rather than run as the dev image does, PYTHONDONTWRITEBYTECODE=1")
    args = parser.parse_args()
    args.pycache = None
    terminate_on_sigterm()
    scripts = measured(args.ref)
    print(f"ours: {scripts}", flush=True)
    tables: dict[str, list[tuple[str, Result]]] = {}
    titles: dict[str, str] = {}
    code = 0
    run = f"{os.getpid()}-{time.time_ns()}"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-tasks-") as tmp, ExitStack() as stack:
            work = Path(tmp)
            if args.bytecode:
                args.pycache = work / "pycache"
            port = free_port()
            store = stack.enter_context(redis_server(work, port, f"{run}-redis"))
            url = f"redis://127.0.0.1:{port}/0"
            for queue_name in args.queues:
                queue = QUEUES[queue_name](url, args)
                titles[queue_name] = (f"{queue.title}: tasks of 1-2 s, {args.in_flight} in flight, {args.edits} edits "
                                      f"{args.settle:g} s apart")
                tables[queue_name] = []
                for index, contender in enumerate(contenders(queue)):
                    if args.only and not any(name in contender.name for name in args.only):
                        continue
                    print(f"running {queue_name}: {contender.name}...", flush=True)
                    directory = work / f"{queue_name}-{index}"
                    directory.mkdir()
                    tables[queue_name].append((contender.name, run_contender(
                        queue, contender, args, store, directory, f"{run}-{queue_name}-{index}")))
    except KeyboardInterrupt:
        print("\ninterrupted: the tables so far", flush=True)
        code = 130
    for queue_name, rows in tables.items():
        print_table(titles[queue_name], rows)
    if (now := measured(args.ref)) != scripts:
        print(f"\nwarning: scripts/ changed during the run (each contender copied it at its start); now: {now}")
    return code


if __name__ == "__main__":
    sys.exit(main())
