"""The Swarm stack (deploy/swarm/), on a real single-node swarm: rolling updates lose nothing.

A swarm of this machine's own (`docker swarm init --advertise-addr 127.0.0.1`, left at the end), or
the single-node one this node already manages, kept; any other swarm is not touched: skipped, or
under CI=true failed. Three versions of a test app, built as the prod image from a copy of the
project, deployed with deploy/swarm/deploy.sh (the release job, then stack.yml) while clients keep
asking through Caddy: new-connection clients, keep-alive clients and a slow request across every
update.

- v1, two replicas: healthy and serving through the proxy, which the app believes (X-Forwarded-*).
- v2: not one request fails or is lost, and every replica serves v2 within UPDATE_BOUND.
- v3 never turns healthy (its image's health check fails, while its app would answer "v3"): the
  update rolls back by itself within ROLLBACK_BOUND, v2 serves throughout, no client ever sees v3.
- the release job ran exactly once per deploy.

Where the stack has a task worker (stack.yml's `worker`, whose TASK_WORKER runs Celery or RQ), the test app
has a task of its own (app/tasks.py: `work` takes its seconds and answers its version) and the stack a Redis
(a stack file of the test's, deployed into the same stack first, published on a free port of this node
with a password of its own, so that this machine queues tasks and reads their results):
- v1's worker turns healthy by the image's own check (which says unhealthy for a container whose worker
  does not answer), and runs what the web queues (the web has REDIS_URL too).
- v2: a task started on v1 just before the update finishes there, held past Docker's default stop grace
  period after the old worker was told to stop (its warm shutdown); a stream of 1-2 s tasks queued across
  the update runs every task exactly once (Celery's v1 worker runs some beside the held one, RQ's none:
  one job at a time); tasks queued once the old worker is gone run v2.
- v3's tasks do not load, so its Celery worker exits at its start (RQ's, which imports a job when it runs
  it, fails the health check instead): the worker's update rolls back too, deploy.sh says so, and the v2
  worker (never stopped: start-first) still consumes.

Slow (minutes): `pytest -m swarm`. Needs a Docker engine 20.10+ that can run a swarm.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import urllib3

from harness import ROOT, free_port

pytestmark = pytest.mark.swarm

SWARM = ROOT / "deploy" / "swarm"
# Every replica serves v2 this long after the deploy began, at most. Measured: the last v1 answer about
# 21 s after it (the release job, then two tasks, each a start, a 2 s health interval, the 5 s delay).
# The bound is wide: what it guards against is an update that never finishes, or stops one task
# short (a stuck task, a health check that never passes).
UPDATE_BOUND = 120.0
# A version that never turns healthy is rolled back this long after the deploy began, at most.
# Measured: about 70 s (the release job, v3's 30 s start period and failed checks, the monitor, then
# the task back to v2). A task worker's update rolls back meanwhile (Celery's v3 worker exits at its
# start: 22 s after the update began), or later where only its health check fails (RQ's: its start
# period and three failed checks 30 s apart, then the rollback's monitor; deploy.sh returned 172 s after
# it began). Guards against an update left paused or half done with nobody to roll it back.
ROLLBACK_BOUND = 300.0
CLIENT_PAUSE = 0.02  # between a client's requests: the count stays bounded, the machine responsive

# The task worker's part. The stack's queue: the first word of the TASK_WORKER stack.yml sets (celery, rq),
# or None where the stack has no worker.
TASK_WORKER = re.compile(r"(?m)^\s+TASK_WORKER:\s*(\S+)")
TASK = "app.tasks.work"  # the test app's task, by the name both queues import it by
HOLD = "swarmtest:hold"  # the key the held task waits for
# How long the held task goes on after its worker was told to stop: past Docker's default stop grace
# period (10 s), which would have killed it, and well within the worker's stop_grace_period (35 s).
HOLD_PAST_STOP = 12.0
STREAM_PACE = 1.0  # seconds between two tasks of the stream
STREAM_AFTER = 3  # tasks queued once the old worker is gone, which only the new one can run
STREAM_LIMIT = 150  # the stream's bound, whatever happens: 2.5 minutes of tasks
# Every task's result, this long after the stream ended at most. Measured: 0.1 s with Celery (the stream's
# last tasks take 2 s, and it stops 3 s after the old worker went), 19 s with RQ (one job at a time: what
# queued up while v1's worker held its one). Guards against tasks lost, or never run.
RESULTS_BOUND = 120.0

TEST_APP = '''"""The app of test_swarm.py: its version, the task that answered, a slow route."""

import socket
import time

from flask import Flask, request

VERSION = "{version}"
app = Flask(__name__)


@app.get("/")
def index():
    return f"{{VERSION}} {{socket.gethostname()}}"


@app.get("/slow")
def slow():
    time.sleep(float(request.args.get("seconds", "3")))
    return f"{{VERSION}} {{socket.gethostname()}} slow"


@app.get("/who")
def who():
    return {{"version": VERSION, "remote_addr": request.remote_addr, "scheme": request.scheme, "host": request.host}}


@app.get("/queue/<int:number>")
def queue(number):
    from app.tasks import enqueue  # where the stack has a task worker: the test's app/tasks.py

    return {{"id": enqueue(number, 0)}}
'''
# The test app's tasks, app/tasks.py: `work`, a plain function (what RQ's worker runs, imported by name), then
# the part of the queue the stack's worker runs (QUEUES): Celery's app, which its TASK_WORKER names (-A
# app.tasks), with `work` as a task; and for either, how the web queues it (its /queue/<number>).
TEST_TASKS = '''"""The tasks of test_swarm.py: `work` takes its seconds, notes its run in Redis, answers its version."""

import os
import socket
import time

import redis

VERSION = "{version}"
REDIS_URL = os.environ["REDIS_URL"]  # the stack's, or nothing runs
store = redis.Redis.from_url(REDIS_URL)


def work(number: int, seconds: float, hold: str = "") -> str:
    """`seconds`, then until the key `hold` is set (given one); each run noted in swarmtest:runs."""
    store.set(f"swarmtest:started:{{number}}", VERSION)
    time.sleep(seconds)
    deadline = time.monotonic() + 300  # held only while the test lives
    while hold and not store.exists(hold) and time.monotonic() < deadline:
        time.sleep(0.2)
    answer = f"{{VERSION}} {{socket.gethostname()}} {{number}}"
    store.rpush("swarmtest:runs", answer)
    return answer
'''
QUEUES = {
    "celery": '''

from celery import Celery

celery = Celery(__name__, broker=REDIS_URL, backend=REDIS_URL)
celery.conf.update(broker_connection_retry_on_startup=True)
celery.task(name="{task}")(work)


def enqueue(number: int, seconds: float) -> str:
    return celery.send_task("{task}", args=[number, seconds]).id
''',
    "rq": '''

from rq import Queue


def enqueue(number: int, seconds: float) -> str:
    return Queue(connection=store).enqueue(work, number, seconds).id
''',
}
# v3's image: it loads and answers, but its health check never passes.
FAILING_HEALTHCHECK = '\nHEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 ' \
                      'CMD ["python", "-c", "raise SystemExit(1)"]\n'
# ... and its tasks do not load: Celery's worker, which imports them at its start (-A app.tasks), exits at
# once, as a version with an import error would. Where only the health check failed, the worker's update
# would roll back after its start period and three failed checks 30 s apart (ROLLBACK_BOUND): the same
# rollback, a minute and a half later. (RQ imports a job when it runs one: its v3 worker runs, fails its
# checks, and is rolled back so.)
BROKEN_TASKS = 'raise ImportError("the tasks of test_swarm.py\'s v3 do not load")\n'


def docker(*args: str, timeout: float = 300, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def wait_for(predicate, timeout: float, message: str, interval: float = 0.5):
    """predicate()'s first truthy value, polled until the deadline; else an AssertionError naming message."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not after {timeout:.0f}s: {message}")
        time.sleep(interval)


@pytest.fixture(scope="module")
def swarm():
    """A swarm of this node's own, left at the end. A single-node swarm this node already manages is used
    as it is and kept (the stack has its own names and ports); any other swarm is never touched."""
    state, manager, nodes = docker(
        "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.Nodes}}").stdout.split()
    if state == "active" and manager == "true" and nodes == "1":
        yield
        return
    if state != "inactive":
        message = (f"this Docker node is in a swarm ({state}, manager: {manager}, nodes: {nodes}) that the test "
                   "can't deploy on alone: leave it (docker swarm leave --force) or run on another node")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; under CI=true it must run", pytrace=False)
        pytest.skip(message)
    docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        yield
    finally:
        docker("swarm", "leave", "--force", check=False)


def stack_queue() -> str | None:
    """The queue the stack's task worker runs (celery, rq), or None where stack.yml has no worker."""
    found = TASK_WORKER.search((SWARM / "stack.yml").read_text())
    return found.group(1) if found else None


class Project:
    """A copy of the project with the test app as FLASK_APP, built as the prod image, one tag per version.
    The app/ package is the test's own: an empty one, with the test's tasks where the stack has a worker."""

    def __init__(self, base: Path, name: str, queue: str | None):
        self.dir = base / "project"
        shutil.copytree(ROOT, self.dir, ignore=shutil.ignore_patterns(
            ".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".env"))
        (self.dir / ".flaskenv").write_text("FLASK_APP=swarmapp\n")
        shutil.rmtree(self.dir / "app", ignore_errors=True)
        (self.dir / "app").mkdir()
        (self.dir / "app" / "__init__.py").write_text("")
        self.dockerfile = (self.dir / "Dockerfile").read_text()
        self.name = name
        self.queue = queue
        self.images: list[str] = []

    def build(self, version: str, healthy: bool = True) -> str:
        (self.dir / "swarmapp.py").write_text(TEST_APP.format(version=version))
        if self.queue:
            tasks = ("" if healthy else BROKEN_TASKS) + TEST_TASKS + QUEUES[self.queue]
            (self.dir / "app" / "tasks.py").write_text(tasks.format(version=version, task=TASK))
        # The prod stage is the Dockerfile's last: a HEALTHCHECK appended is the prod image's.
        (self.dir / "Dockerfile").write_text(self.dockerfile + ("" if healthy else FAILING_HEALTHCHECK))
        tag = f"{self.name}-web:{version}"
        # Through compose, whose builder has BuildKit (the Dockerfile's cache mounts) where the docker
        # CLI has no buildx: the prod service's build, tagged as the version.
        env = {**os.environ, "COMPOSE_PROJECT_NAME": self.name, "UID": "1000", "GID": "1000"}
        result = subprocess.run(["docker", "compose", "--profile", "prod", "build", "-q", "prod"], cwd=self.dir,
                                env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"build of {version} failed:\n{result.stdout}\n{result.stderr}"
        docker("tag", f"{self.name}-web:prod", tag)
        self.images.append(tag)
        return tag


class Clients:
    """Threads asking through the proxy until stopped: new-connection ones, keep-alive ones, one slow one.
    Every answer is recorded: (client kind, monotonic time, the version it named, or the error)."""

    def __init__(self, url: str, new_connection: int = 2, keep_alive: int = 2):
        self.url = url
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.answers: list[tuple[str, float, str, str]] = []  # (kind, time, version, host)
        self.failures: list[tuple[str, float, str]] = []
        kinds = ["new"] * new_connection + ["keepalive"] * keep_alive + ["slow"]
        self.threads = [threading.Thread(target=self.run, args=(kind,), daemon=True) for kind in kinds]

    def run(self, kind: str) -> None:
        session = requests.Session()
        session.verify = False  # Caddy's own CA for the test's address; what is checked is the answer
        path = "/slow?seconds=3" if kind == "slow" else "/"
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                if kind == "new":
                    response = requests.get(self.url + path, timeout=30, verify=False,
                                            headers={"Connection": "close"})
                else:
                    # verify here too: a session's own is overridden by REQUESTS_CA_BUNDLE (requests' env merge)
                    response = session.get(self.url + path, timeout=30, verify=False)
                words = response.text.split()
                if response.status_code != 200 or len(words) < 2 or not words[0].startswith("v"):
                    raise AssertionError(f"{response.status_code} {response.text[:200]!r}")
                with self.lock:
                    self.answers.append((kind, time.monotonic(), words[0], words[1]))
            except Exception as exc:  # every failure counts, whatever it is
                with self.lock:
                    self.failures.append((kind, started, f"{type(exc).__name__}: {exc}"))
            self.stopping.wait(CLIENT_PAUSE)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=40)
        assert not any(thread.is_alive() for thread in self.threads), "a client is stuck"

    def since(self, start: float) -> list[tuple[str, float, str, str]]:
        with self.lock:
            return [a for a in self.answers if a[1] >= start]


class SwarmStack:
    """deploy/swarm/ deployed as a stack of its own name, with its own secret, Caddyfile config and ports."""

    def __init__(self, name: str):
        self.name = name
        self.https_port = free_port()
        self.env = {**os.environ,
                    "DOMAIN": "localhost",  # Caddy's own CA; the clients ask localhost (SNI: an address has none)
                    "HTTPS_PORT": str(self.https_port), "HTTP_PORT": str(free_port()),
                    "CADDY_IMAGE": os.environ.get("CADDY_IMAGE", "caddy:2"),
                    "SECRET_KEY_SECRET": f"{name}-secret-key", "CADDYFILE_CONFIG": f"{name}-caddyfile",
                    "WEB_CONCURRENCY": "1",
                    "DEPLOY_OPTIONS": "--resolve-image never"}  # images of this node only, no registry
        self.url = f"https://localhost:{self.https_port}"
        docker("secret", "create", self.env["SECRET_KEY_SECRET"], "-", input=uuid.uuid4().hex * 2)

    def start_redis(self, base: Path) -> str:
        """A Redis service in this stack, from a stack file of the test's on the stack's network (the user's
        own, as stack.yml's REDIS_URL expects), published on a free port of this node for this machine's
        client, with a password of its own (a host-mode port is open on every interface). The URL from here."""
        password, port = uuid.uuid4().hex, free_port()
        self.env["REDIS_URL"] = f"redis://:{password}@redis:6379/0"  # what the web and the worker are given
        spec = {
            "services": {"redis": {
                "image": os.environ.get("REDIS_IMAGE", "redis:7"),
                # Nothing kept on disk: a tmpfs data directory, no snapshots.
                "command": ["redis-server", "--requirepass", password, "--save", "", "--appendonly", "no"],
                "ports": [{"target": 6379, "published": port, "protocol": "tcp", "mode": "host"}],
                "volumes": [{"type": "tmpfs", "target": "/data"}],
                "networks": ["app"],
                "deploy": {"endpoint_mode": "dnsrr"},  # its tasks' own addresses: no virtual IP (IPVS)
            }},
            "networks": {"app": {"driver": "overlay"}},  # the stack's: stack.yml's network of the same name
        }
        path = base / "redis.yml"
        path.write_text(json.dumps(spec, indent=2))  # JSON is YAML
        docker("stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", str(path), self.name)
        return f"redis://:{password}@127.0.0.1:{port}/0"

    def deploy(self, image: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([str(SWARM / "deploy.sh"), self.name, image], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def service(self, service: str) -> dict:
        return json.loads(docker("service", "inspect", f"{self.name}_{service}").stdout)[0]

    def tasks(self, service: str) -> list[dict]:
        ids = docker("service", "ps", "-q", "--no-trunc", f"{self.name}_{service}").stdout.split()
        return json.loads(docker("inspect", *ids).stdout) if ids else []

    def release_runs(self) -> Counter:
        """How many times the release job ran to completion, per image."""
        return Counter(t["Spec"]["ContainerSpec"]["Image"] for t in self.tasks("release")
                       if t["Status"]["State"] == "complete")

    def running(self, service: str) -> list[dict]:
        return [t for t in self.tasks(service) if t["Status"]["State"] == "running"]

    def logs(self, service: str) -> str:
        return docker("service", "logs", "--raw", "--tail", "60", f"{self.name}_{service}", check=False).stdout

    def remove(self) -> None:
        docker("stack", "rm", self.name, check=False)
        label = f"label=com.docker.stack.namespace={self.name}"

        def gone() -> bool:
            return not any(docker(*kind, "--filter", label, check=False).stdout.strip() for kind in (
                ("service", "ls", "-q"), ("network", "ls", "-q"), ("ps", "-q"), ("config", "ls", "-q")))

        try:
            wait_for(gone, 90, f"stack {self.name} removed")
        finally:
            # Swarm keeps a finished job's container (the release's) with the task's history: removed here.
            leftover = docker("ps", "-aq", "--filter", label, check=False).stdout.split()
            if leftover:
                docker("rm", "-f", *leftover, check=False)
            docker("secret", "rm", self.env["SECRET_KEY_SECRET"], check=False)
            for volume in ("caddy-data", "caddy-config"):
                docker("volume", "rm", f"{self.name}_{volume}", check=False)


class TaskQueue:
    """The stack's queue from this machine (its Redis's published port): Celery's or RQ's client, whichever
    the stack's worker runs, and Redis itself for what the test's task notes there."""

    def __init__(self, kind: str, url: str):
        import redis

        self.kind = kind
        self.store = redis.Redis.from_url(url, socket_timeout=10)
        if kind == "celery":
            from celery import Celery

            self.celery = Celery("swarm-test", broker=url, backend=url)
        else:
            from rq import Queue

            self.rq = Queue(connection=self.store)

    def ping(self) -> bool:
        try:
            return self.store.ping()
        except Exception:  # noqa: BLE001 - not up yet, whatever the client says
            return False

    def enqueue(self, number: int, seconds: float, hold: str = "") -> str:
        if self.kind == "celery":
            return self.celery.send_task(TASK, args=[number, seconds, hold]).id
        return self.rq.enqueue(TASK, number, seconds, hold).id

    def result(self, task_id: str) -> str | None:
        """The task's answer once it succeeded, None until then; an AssertionError if it failed."""
        if self.kind == "celery":
            result = self.celery.AsyncResult(task_id)
            if result.state == "FAILURE":
                raise AssertionError(f"task {task_id} failed: {result.traceback}")
            return result.result if result.state == "SUCCESS" else None
        from rq.job import Job, JobStatus

        job = Job.fetch(task_id, connection=self.store)
        status = job.get_status()
        if status == JobStatus.FAILED:
            raise AssertionError(f"job {task_id} failed: {job.latest_result().exc_string}")
        return job.return_value() if status == JobStatus.FINISHED else None

    def started(self, number: int) -> bool:
        return bool(self.store.exists(f"swarmtest:started:{number}"))

    def release(self, key: str) -> None:
        self.store.set(key, "1")

    def runs(self) -> dict[int, list[str]]:
        """Each task number's runs, as the task noted them ("<version> <host> <number>")."""
        runs: dict[int, list[str]] = {}
        for entry in self.store.lrange("swarmtest:runs", 0, -1):
            answer = entry.decode()
            runs.setdefault(int(answer.split()[-1]), []).append(answer)
        return runs

    def results(self, ids: dict[int, str], timeout: float) -> dict[int, str]:
        """Every task's answer (number: id), waited for until the deadline; else which are missing."""
        answers: dict[int, str] = {}

        def all_done() -> bool:
            for number, task_id in ids.items():
                if number not in answers and (answer := self.result(task_id)) is not None:
                    answers[number] = answer
            return len(answers) == len(ids)

        try:
            wait_for(all_done, timeout, "every task's result")
        except AssertionError:
            missing = sorted(set(ids) - set(answers))
            raise AssertionError(f"no result after {timeout:.0f}s for {len(missing)} of {len(ids)} tasks: {missing}; "
                                 f"runs noted: {self.runs()}") from None
        return answers

    def close(self) -> None:
        if self.kind == "celery":
            self.celery.close()
        self.store.close()


class TaskStream(threading.Thread):
    """Queues a task of 1 or 2 s every STREAM_PACE s, numbered from `first`, until STREAM_AFTER more once told
    the old worker is gone (old_gone), or stopped, or at STREAM_LIMIT: (number, queued once it was gone, id)."""

    def __init__(self, queue: TaskQueue, first: int):
        super().__init__(daemon=True)
        self.queue, self.first = queue, first
        self.queued: list[tuple[int, bool, str]] = []
        self.old_gone = threading.Event()
        self.stopping = threading.Event()
        self.error: Exception | None = None

    def run(self) -> None:
        after = 0
        try:
            while after < STREAM_AFTER and len(self.queued) < STREAM_LIMIT and not self.stopping.is_set():
                gone = self.old_gone.is_set()
                number = self.first + len(self.queued)
                self.queued.append((number, gone, self.queue.enqueue(number, 1 + number % 2)))
                after += gone
                self.stopping.wait(STREAM_PACE)
        except Exception as exc:  # noqa: BLE001 - said by the test, whatever it is
            self.error = exc

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)
        assert not self.is_alive(), "the task stream is stuck"
        assert self.error is None, f"queueing a task failed: {self.error!r}"


def container(task: dict) -> dict:
    """The container of a Swarm task (this node's: the swarm has one)."""
    return json.loads(docker("inspect", task["Status"]["ContainerStatus"]["ContainerID"]).stdout)[0]


def worker_tasks(stack: SwarmStack, image: str) -> list[dict]:
    return [t for t in stack.tasks("worker") if t["Spec"]["ContainerSpec"]["Image"] == image]


def healthy_worker(stack: SwarmStack, image: str, elsewhere: bool = False) -> dict:
    """The one running worker, of `image`, healthy by the image's own check (not a test of the stack's): its
    Swarm task. With `elsewhere`, that the check is no formality: in a container whose worker does not answer
    (the web's, given the worker's TASK_WORKER) it says unhealthy."""
    running = stack.running("worker")
    assert [t["Spec"]["ContainerSpec"]["Image"] for t in running] == [image], running
    worker = container(running[0])
    assert worker["State"]["Health"]["Status"] == "healthy", worker["State"]
    image_check = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]["Healthcheck"]["Test"]
    assert worker["Config"]["Healthcheck"]["Test"] == image_check, worker["Config"]["Healthcheck"]
    assert worker["State"]["Health"]["Log"][-1]["ExitCode"] == 0, worker["State"]["Health"]["Log"]
    if not elsewhere:
        return running[0]
    task_worker = next(e for e in worker["Config"]["Env"] if e.startswith("TASK_WORKER="))
    web = stack.running("web")[0]["Status"]["ContainerStatus"]["ContainerID"]
    command = ["sh", "-c", image_check[1]] if image_check[0] == "CMD-SHELL" else image_check[1:]
    checked = docker("exec", "-e", task_worker, web, *command, check=False, timeout=60)
    assert checked.returncode == 1, f"healthy where no worker runs:\n{checked.stdout}\n{checked.stderr}"
    return running[0]


def serving(stack: SwarmStack, version: str, replicas: int = 2):
    """The hosts answering `version` through the proxy, once `replicas` distinct ones have."""
    hosts = set()
    for _ in range(20):
        try:
            words = requests.get(stack.url + "/", timeout=5, verify=False).text.split()
        except requests.RequestException:
            return None
        if words[:1] == [version]:
            hosts.add(words[1])
    return hosts if len(hosts) >= replicas else None


def failed(stack: SwarmStack, result: subprocess.CompletedProcess) -> str:
    """What deploy.sh said, and the app's services' logs."""
    return f"{result.stdout}\n{result.stderr}\n{stack.logs('web')}\n{stack.logs('worker')}"


def report(clients: Clients) -> str:
    return f"{len(clients.failures)} failed of {len(clients.answers) + len(clients.failures)}: {clients.failures[:10]}"


def test_rolling_updates_through_the_swarm_stack_lose_nothing_and_a_bad_one_rolls_back(swarm, tmp_path):
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    name = f"swt{uuid.uuid4().hex[:8]}"
    kind = stack_queue()
    project = Project(tmp_path, name, kind)
    stack = queue = stream = None
    try:
        v1, v2 = project.build("v1"), project.build("v2")
        v3 = project.build("v3", healthy=False)
        stack = SwarmStack(name)
        if kind:
            queue = TaskQueue(kind, stack.start_redis(tmp_path))
            wait_for(queue.ping, 120, "the stack's Redis answers on its published port")

        # v1: two healthy replicas, served through Caddy, which the app believes.
        start = time.monotonic()
        result = stack.deploy(v1)
        print(f"\nv1: deploy.sh {time.monotonic() - start:.1f}s")
        assert result.returncode == 0, failed(stack, result)
        wait_for(lambda: serving(stack, "v1"), 120, f"v1 on both replicas through the proxy\n{stack.logs('proxy')}")
        who = requests.get(stack.url + "/who", timeout=5, verify=False,
                           headers={"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "ftp"}).json()
        assert who["scheme"] == "https", who  # X-Forwarded-Proto from the proxy, believed
        assert who["remote_addr"] != "6.6.6.6", who  # and a client's own never
        overlay = json.loads(docker("network", "inspect", f"{name}_app").stdout)[0]["IPAM"]["Config"][0]["Subnet"]
        assert not who["remote_addr"].startswith(overlay.rsplit(".", 2)[0] + "."), (who, overlay)  # not Caddy's
        assert stack.release_runs() == Counter({v1: 1})
        if kind:
            # v1's worker: healthy by the image's check, running what the web queues on the same Redis.
            healthy_worker(stack, v1, elsewhere=True)
            queued = requests.get(stack.url + "/queue/1000", timeout=10, verify=False)
            assert queued.status_code == 200, queued.text
            answer = queue.results({1000: queued.json()["id"]}, 60)[1000]
            assert answer.startswith("v1 "), answer

        with Clients(stack.url) as clients:
            wait_for(lambda: len(clients.since(time.monotonic() - 1)) > 5, 30, "the clients get answers")

            # v2: nothing lost, every replica on v2 within the bound.
            if kind:
                # A task running on v1 when the update begins, held there until after its worker was told to
                # stop; and a stream of tasks across the update.
                held = queue.enqueue(0, 0, hold=HOLD)
                wait_for(lambda: queue.started(0), 60, "the held task running on v1's worker")
                stream = TaskStream(queue, first=1)
                stream.start()
            start = time.monotonic()
            with ThreadPoolExecutor(1) as pool:
                deploying = pool.submit(lambda: (stack.deploy(v2), time.monotonic() - start))
                if kind:
                    def told_to_stop():
                        return [t for t in worker_tasks(stack, v1) if t["DesiredState"] == "shutdown"]

                    old = wait_for(told_to_stop, UPDATE_BOUND, "v1's worker told to stop")[0]
                    told = time.monotonic()
                    print(f"worker: v1's told to stop {told - start:.1f}s after the deploy began")
                    time.sleep(HOLD_PAST_STOP)  # not a wait for readiness: the held task runs on meanwhile
                    queue.release(HOLD)

                    def stopped():
                        task = next(t for t in stack.tasks("worker") if t["ID"] == old["ID"])
                        return task["Status"]["State"] not in ("running", "starting") and task

                    old = wait_for(stopped, 60, "v1's worker gone")
                    gone = time.monotonic() - told
                    stream.old_gone.set()
                result, deployed = deploying.result()
            assert result.returncode == 0, failed(stack, result)
            # deploy.sh's word on each service of stack.yml (not the release job's, nor the test's Redis).
            said = dict(m.groups() for m in re.finditer(r"(?m)^([a-z][\w-]*): running (\S+)$", result.stdout))
            assert said == {"web": v2, "proxy": stack.env["CADDY_IMAGE"]} | ({"worker": v2} if kind else {}), \
                result.stdout
            hosts = wait_for(lambda: serving(stack, "v2"), UPDATE_BOUND, "v2 on both replicas")
            all_v2 = max(a[1] for a in clients.answers if a[2] == "v1" and a[0] != "slow") - start
            time.sleep(1)  # answers of the last second: only v2
            recent = clients.since(time.monotonic() - 1)
            assert recent and {a[2] for a in recent} == {"v2"}, recent[-5:]
            assert {a[3] for a in recent if a[0] != "slow"} <= hosts
            print(f"v2: deploy.sh {deployed:.1f}s, last v1 answer {all_v2:.1f}s after the deploy began, "
                  f"{len(clients.answers)} answers ({Counter(a[0] for a in clients.answers)}), "
                  f"{len(clients.failures)} failed")
            assert not clients.failures, report(clients)
            assert all_v2 < UPDATE_BOUND
            slow_versions = {a[2] for a in clients.answers if a[0] == "slow"}
            assert slow_versions == {"v1", "v2"}, slow_versions  # slow requests ran on both sides of it
            assert [t["Spec"]["ContainerSpec"]["Image"] for t in stack.running("web")] == [v2, v2]
            if kind:
                check_the_workers_update(stack, queue, stream, held, old, v2, gone)
                v2_worker = healthy_worker(stack, v2)

            # v3: never healthy; rolled back by itself, v2 serving throughout, v3 never seen.
            before = len(clients.answers)
            start = time.monotonic()
            result = stack.deploy(v3)
            took = time.monotonic() - start
            assert result.returncode != 0, f"deploy.sh reported success for a version that never turned healthy:\n" \
                                           f"{result.stdout}\n{result.stderr}"
            services = ["web", "worker"] if kind else ["web"]

            def rolled_back():
                statuses = [stack.service(s).get("UpdateStatus", {}) for s in services]
                return all(s.get("State") == "rollback_completed" for s in statuses) and statuses

            statuses = wait_for(rolled_back, ROLLBACK_BOUND, f"v3 rolled back\n{[stack.service(s) for s in services]}")
            rollback = time.monotonic() - start
            for service in services:
                assert stack.service(service)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == v2
                assert f"{service}: update rollback_completed, running {v2}" in result.stderr, result.stderr
            wait_for(lambda: serving(stack, "v2"), 60, "v2 on both replicas after the rollback")
            print(f"v3: deploy.sh {took:.1f}s, rolled back {rollback:.1f}s after the deploy began "
                  f"({[(s.get('StartedAt'), s.get('CompletedAt'), s.get('Message')) for s in statuses]}); "
                  f"{len(clients.answers) - before} answers meanwhile, {len(clients.failures)} failed")
        assert not clients.failures, report(clients)
        assert {a[2] for a in clients.answers[before:]} == {"v2"}
        assert rollback < ROLLBACK_BOUND
        if kind:
            # The v2 worker was never stopped (v3's never turned healthy, so it never took over) and consumes.
            assert healthy_worker(stack, v2)["ID"] == v2_worker["ID"]
            answer = queue.results({2000: queue.enqueue(2000, 0)}, 60)[2000]
            assert answer.startswith("v2 "), answer

        # The release job: once per deploy, v3's included (it ran before the update that failed: a
        # migration must suit the version before it, which a rollback keeps serving).
        assert stack.release_runs() == Counter({v1: 1, v2: 1, v3: 1}), stack.release_runs()
    finally:
        try:
            if stream:
                stream.stopping.set()
            if queue:
                queue.close()
            if stack:
                stack.remove()
        finally:
            for image in [*project.images, f"{name}-web:prod"]:
                docker("rmi", "-f", image, check=False)


def check_the_workers_update(stack: SwarmStack, queue: TaskQueue, stream: TaskStream, held: str, old: dict,
                             v2: str, gone: float) -> None:
    """v1 to v2 for the worker: the held task finished on v1 after its worker was told to stop (Swarm had
    waited, past Docker's default grace period); the stream's tasks each ran exactly once, none lost, on v1
    then v2; those queued once v1's worker was gone on v2."""
    stream.stop()
    started = time.monotonic()
    ids = {0: held, **{number: task_id for number, _, task_id in stream.queued}}
    answers = queue.results(ids, RESULTS_BOUND)
    waited = time.monotonic() - started
    runs = queue.runs()
    assert {n: r for n, r in runs.items() if n in ids and len(r) != 1} == {}, runs  # once each: none twice
    assert {n: answers[n] for n in ids if [answers[n]] != runs.get(n)} == {}, (answers, runs)
    assert answers[0].startswith("v1 "), answers[0]  # started on v1, finished there during the warm shutdown
    exit_code = old["Status"]["ContainerStatus"].get("ExitCode")
    assert exit_code == 0, f"v1's worker exited {exit_code} (137: SIGKILL), not by its warm shutdown\n" \
                           f"{stack.logs('worker')}"
    versions = [answers[n].split()[0] for n, _, _ in stream.queued]
    after = [answers[n] for n, gone_then, _ in stream.queued if gone_then]
    assert len(after) == STREAM_AFTER and all(a.startswith("v2 ") for a in after), after
    # The stream went across the switchover: tasks queued while v1's worker consumed, or had them reserved
    # (run by v1, or by v2 once v1's stopped taking any: RQ's one job at a time is the held one).
    assert len(stream.queued) - STREAM_AFTER > 10, stream.queued
    print(f"worker: {len(ids)} tasks, each run once ({Counter(versions)} of the stream; the held one on v1), "
          f"v1's worker gone {gone:.1f}s after it was told to stop (exit {exit_code}), last results {waited:.1f}s "
          f"after the stream")
