"""The task worker kind (TASK_WORKER), for Celery (gevent and prefork pools) and RQ, on a real Redis.

Each test starts `scripts/entrypoint.py` with TASK_WORKER on a project copy holding a small
package of tasks (`errands`, written here: a Flask app, and the queue's app or functions), and a
redis-server of its own on a free loopback port. The tasks record in Redis each run (an INCR per
task id), so a task run twice or never shows; results carry the code's MARK, so the code that
ran them shows.

- a task running across a save finishes on the old code, its result stored; a later one runs the new;
- 20 reloads under a stream of 1-2 s tasks: none lost, none run twice;
- a syntax error is said once, the running worker keeps consuming, the fix is consumed by a new one;
- kill -9 of the task worker: restarted after a back-off. Celery with acks_late redelivers the task
  it was running once Redis' visibility timeout has passed (kombu sweeps for such messages every 100 s
  by default: unacked_restore_interval x unacked_restore_throttle, 1 s here); RQ marks such a job
  abandoned (failed, or retried where it was enqueued with a Retry) at its own cleanup, not tested here;
- SIGTERM ends the worker within TASK_GRACE with its task finished, and leaves no process;
- a task longer than TASK_GRACE is cut at a reload, with one line saying so;
- a task that blocks Celery's gevent pool is reported at the user's line;
- the image's health check (scripts/healthcheck.py) asks the queue: healthy while this host's worker
  consumes, unhealthy once it is gone.

Slow (minutes): `pytest -m tasks`. Needs `redis-server` on the host (Debian: apt-get install
redis-server); under CI=true it must be there (.ci/run installs it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from harness import DevServer, free_port, wait_for

redis = pytest.importorskip("redis")
pytestmark = pytest.mark.tasks

CELERY_APP = '''"""Tasks for test_task_worker.py (Celery)."""
import os
import time

import redis
from celery import Celery
from flask import Flask

MARK = "v1"
URL = os.environ["TEST_REDIS_URL"]
app = Flask(__name__)
celery = Celery(__name__, broker=URL, backend=URL)
celery.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
                   # kombu's own knobs for a short visibility timeout: sweep for unacknowledged messages each second.
                   broker_transport_options={"visibility_timeout": float(os.environ.get("VISIBILITY", "3600")),
                                             "unacked_restore_interval": 1, "unacked_restore_throttle": 1},
                   task_acks_late=os.environ.get("ACKS_LATE") == "1")
runs = redis.Redis.from_url(URL)
# The task worker's pid: this process's with the gevent pool, its parent's in a prefork pool's child.
WORKER = os.getpid if os.environ["POOL"] == "gevent" else os.getppid


@celery.task(bind=True)
def echo(self, text, seconds=0.0):
    runs.incr("runs:" + self.request.id)
    runs.set("started:" + self.request.id, WORKER())
    time.sleep(seconds)
    return f"{MARK} {text} {WORKER()}"


@celery.task
def block():
    import ctypes
    ctypes.CDLL(None).sleep(1)  # libc's sleep: holds gevent's loop
'''

RQ_APP = '''"""Tasks for test_task_worker.py (RQ)."""
import os
import time

import redis
from flask import Flask
from rq import get_current_job

MARK = "v1"
URL = os.environ["TEST_REDIS_URL"]
app = Flask(__name__)
runs = redis.Redis.from_url(URL)


def echo(text, seconds=0.0):
    job = get_current_job()
    runs.incr("runs:" + job.id)
    runs.set("started:" + job.id, os.getppid())  # the worker's pid (a job runs in its work horse)
    time.sleep(seconds)
    return f"{MARK} {text} {os.getppid()}"
'''

WORKERS = {
    "celery": "celery -A errands.celery worker -P gevent -c 8 --without-mingle --without-gossip -l INFO",
    "celery-prefork": "celery -A errands.celery worker -P prefork -c 4 --without-mingle --without-gossip -l INFO",
    "rq": "rq worker --url {url}",
}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A redis-server of the module's own, in memory only."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (Debian: apt-get install redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; under CI=true the task worker's tests must run", pytrace=False)
        pytest.skip(message)
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no", "--databases", "64", "--dir", str(tmp_path_factory.mktemp("redis"))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)

    def up() -> bool:
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    try:
        wait_for(up, 20, message="redis-server answers")
        yield url
    finally:
        process.terminate()
        process.wait(10)


class Queue:
    """The test's side of one queue: enqueue `echo`, read its result and how often it ran."""

    def __init__(self, kind: str, url: str, db: int):
        self.kind = kind
        self.url = url.rsplit("/", 1)[0] + f"/{db}"
        self.redis = redis.Redis.from_url(self.url)
        self.redis.flushdb()
        if kind == "rq":
            import rq

            self.rq = rq.Queue(connection=self.redis)
        else:
            from celery import Celery

            self.celery = Celery("client", broker=self.url, backend=self.url)

    def send(self, text: str, seconds: float = 0.0) -> str:
        if self.kind == "rq":
            return self.rq.enqueue("errands.echo", text, seconds, job_id=uuid.uuid4().hex).id
        return self.celery.send_task("errands.echo", (text, seconds)).id

    def result(self, task_id: str) -> str | None:
        """The result once stored, else None (a failure raises)."""
        if self.kind == "rq":
            from rq.job import Job, JobStatus

            job = Job.fetch(task_id, connection=self.redis)
            status = job.get_status(refresh=True)
            if status == JobStatus.FAILED:
                raise AssertionError(f"job {task_id} failed: {job.latest_result()}")
            return job.return_value() if status == JobStatus.FINISHED else None
        result = self.celery.AsyncResult(task_id)
        if result.state == "FAILURE":
            raise AssertionError(f"task {task_id} failed: {result.result!r}")
        return result.result if result.state == "SUCCESS" else None

    def wait_result(self, task_id: str, timeout: float = 30) -> str:
        return wait_for(lambda: self.result(task_id), timeout, 0.02, f"the result of {task_id}")

    def runs(self, task_id: str) -> int:
        return int(self.redis.get("runs:" + task_id) or 0)

    def started(self, task_id: str) -> bool:
        return self.redis.get("started:" + task_id) is not None

    def worker_of(self, task_id: str) -> int:
        return int(self.redis.get("started:" + task_id))


DB = iter(range(1, 64))  # each test its own Redis database: nothing left from another


@pytest.fixture(params=list(WORKERS))
def tasks(request, project, redis_url):
    """(start, queue): start the task worker of the param's queue on the project; stopped at the end."""
    kind = request.param
    queue = Queue("rq" if kind == "rq" else "celery", redis_url, next(DB))
    (project / "errands").mkdir()
    (project / "errands" / "__init__.py").write_text(RQ_APP if kind == "rq" else CELERY_APP)
    servers = []

    def start(**env) -> DevServer:
        env = {"TASK_WORKER": WORKERS[kind].format(url=queue.url), "FLASK_APP": "errands",
               "TEST_REDIS_URL": queue.url, "POOL": kind.partition("-")[2] or "gevent", "BLOCKING_WARN_MS": "0",
               **env}
        server = DevServer(project, **env)
        servers.append(server)
        server.start(wait=False)
        wait_for(lambda: "task worker loaded" in server.log() or server.process.poll() is not None, 60,
                 message="the task worker loads")
        assert server.process.poll() is None, server.log()
        return server

    yield start, queue, kind
    for server in servers:
        server.stop(timeout=40)
        leftovers = server.kill_leftovers()
        assert not leftovers, f"processes left behind: {leftovers}\n{server.log()}"


def reloads(server: DevServer) -> int:
    return server.log().count("task worker reloaded")


def edit_mark(server: DevServer, old: str, new: str) -> None:
    count = reloads(server)
    server.edit("errands/__init__.py", f'MARK = "{old}"', f'MARK = "{new}"')
    wait_for(lambda: reloads(server) > count, 30, message=f"the reload to {new}\n{server.log()}")


def test_a_task_running_across_a_save_finishes_on_the_old_code_and_later_ones_run_the_new(tasks):
    start, queue, _ = tasks
    server = start()
    assert queue.wait_result(queue.send("warm")).startswith("v1 warm")
    slow = queue.send("slow", 2)
    wait_for(lambda: queue.started(slow), 20, message="the slow task starts")
    edit_mark(server, "v1", "v2")
    after = queue.send("after")
    assert queue.wait_result(after).startswith("v2 after"), server.log()
    assert queue.wait_result(slow).startswith("v1 slow"), server.log()  # finished on the code it started on
    assert queue.worker_of(after) != queue.worker_of(slow)
    assert (queue.runs(slow), queue.runs(after)) == (1, 1)


def test_twenty_reloads_under_a_stream_of_tasks_lose_none_and_run_none_twice(tasks):
    start, queue, _ = tasks
    server = start()
    queue.wait_result(queue.send("warm"))
    sent = []
    for edit in range(20):
        sent += [queue.send(f"t{edit}-{n}", 1 + n / 2) for n in range(3)]  # 1, 1.5 and 2 s
        time.sleep(0.3)  # a few in flight at each save
        edit_mark(server, f"v{edit + 1}", f"v{edit + 2}")
    for task_id in sent:
        queue.wait_result(task_id, timeout=120)
    twice = [t for t in sent if queue.runs(t) != 1]
    assert not twice, f"{len(twice)} of {len(sent)} ran other than once: {[queue.runs(t) for t in twice]}"
    assert "had not finished after TASK_GRACE" not in server.log()


def test_a_syntax_error_is_said_once_the_running_worker_keeps_consuming_and_the_fix_is_consumed(tasks):
    start, queue, _ = tasks
    server = start()
    assert queue.wait_result(queue.send("before")).startswith("v1")
    server.edit("errands/__init__.py", 'MARK = "v1"', 'MARK = "v2" +')
    wait_for(lambda: "the running one keeps consuming" in server.log(), 30, message=f"the load error\n{server.log()}")
    assert server.log().count("SyntaxError") == 1, server.log()
    assert queue.wait_result(queue.send("meanwhile")).startswith("v1 meanwhile")
    count = reloads(server)
    server.edit("errands/__init__.py", 'MARK = "v2" +', 'MARK = "v3"')
    wait_for(lambda: reloads(server) > count, 30, message=f"the fix loads\n{server.log()}")
    assert queue.wait_result(queue.send("fixed")).startswith("v3 fixed")
    assert server.log().count("SyntaxError") == 1


def test_a_task_worker_killed_is_restarted_after_a_back_off(tasks):
    start, queue, kind = tasks
    server = start(ACKS_LATE="1", VISIBILITY="3")
    first = queue.send("first", 30)
    wait_for(lambda: queue.started(first), 20, message="the task starts")
    os.kill(queue.worker_of(first), signal.SIGKILL)
    wait_for(lambda: "the app crashed" in server.log(), 20, message=f"the crash is said\n{server.log()}")
    assert "starting a new one in 0.5s (tasks wait in the queue meanwhile)" in server.log()
    wait_for(lambda: "restarted after the crash" in server.log(), 30, message=f"the restart\n{server.log()}")
    assert queue.wait_result(queue.send("second")).startswith("v1 second")
    if kind != "rq":
        # acks_late: unacknowledged, so kombu hands it out again after the visibility timeout (3 s here).
        queue.redis.delete("started:" + first)
        wait_for(lambda: queue.started(first), 60, message=f"the killed task redelivered\n{server.log()}")
        assert queue.runs(first) == 2


def test_sigterm_ends_the_task_worker_within_the_grace_its_task_finished_and_nothing_left(tasks):
    start, queue, _ = tasks
    server = start(TASK_GRACE="20")
    task = queue.send("last", 2)
    wait_for(lambda: queue.started(task), 20, message="the task starts")
    began = time.monotonic()
    assert server.stop(timeout=40) == 0, server.log()
    assert time.monotonic() - began < 20 + 5, server.log()  # the failure it guards: waiting for ever
    assert queue.wait_result(task, timeout=5).startswith("v1 last")  # warm: it finished, result stored
    assert "running tasks get up to 20s" in server.log()
    assert "had not finished after TASK_GRACE" not in server.log()


def test_a_task_longer_than_the_grace_is_cut_at_a_reload_with_one_line(tasks):
    start, queue, _ = tasks
    server = start(TASK_GRACE="1")
    long = queue.send("long", 60)
    wait_for(lambda: queue.started(long), 20, message="the long task starts")
    edit_mark(server, "v1", "v2")
    wait_for(lambda: "had not finished after TASK_GRACE=1s" in server.log(), 20,
             message=f"the cut is said\n{server.log()}")
    assert server.log().count("had not finished after TASK_GRACE") == 1
    assert queue.wait_result(queue.send("next")).startswith("v2 next")


@pytest.mark.parametrize("tasks", ["celery"], indirect=True)  # the one pool that runs tasks in the worker's loop
def test_a_task_that_blocks_the_gevent_pool_is_reported_at_the_users_line(tasks):
    start, queue, _ = tasks
    server = start(BLOCKING_WARN_MS="100")
    queue.wait_result(queue.send("warm"))
    assert "event loop was blocked" not in server.log()  # the worker's own start-up is not reported
    result = queue.celery.send_task("errands.block")
    wait_for(lambda: result.state == "SUCCESS", 30, message="the blocking task ends")
    wait_for(lambda: "event loop was blocked for more than 100 ms, at errands/__init__.py:" in server.log(), 10,
             message=f"the report\n{server.log()}")
    assert "Every other task of this worker waited meanwhile" in server.log()


def health_check(server: DevServer) -> subprocess.CompletedProcess:
    """scripts/healthcheck.py as the container runs it: the worker's environment, in the project."""
    return subprocess.run([sys.executable, str(server.project / "scripts" / "healthcheck.py")], cwd=server.project,
                          env=server.env, capture_output=True, text=True, timeout=60)


def test_the_images_health_check_asks_the_queue_about_this_hosts_worker(tasks):
    start, queue, kind = tasks
    server = start()
    queue.wait_result(queue.send("consuming"))
    healthy = health_check(server)
    assert healthy.returncode == 0, healthy
    assert ("is registered and runs" if kind == "rq" else f"celery@{socket.gethostname()} answers") in healthy.stdout
    assert server.stop(timeout=40) == 0, server.log()
    gone = health_check(server)
    assert gone.returncode == 1, gone
    assert ("unhealthy: no RQ worker" if kind == "rq" else "did not answer a ping") in gone.stderr, gone
