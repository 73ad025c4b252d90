"""Your app on the real stack: `docker compose up` under a project name of its own, torn down after.

A test asks for `stack_url` and gets the base URL of the dev service, built from this checkout,
released (`docker compose run --rm web release`: your migrations, as a deploy runs them before
the new version serves) and healthy (a worker serves the current code). It is the stack `docker
compose up` runs: your working tree is mounted, so what the app writes (its instance/ folder)
lands in it. Nothing else is shared with a stack you may already run: the compose project name,
the image tag and the host port are new for each test session. `stack_url` is also a handle on
that stack: `stack_url.project`, `stack_url.exec("flask", "routes")`, `stack_url.logs()`,
`stack_url.compose("ps")`.
# tasks:begin
A test that asks for `task_worker` gets a real task worker on your code as it is here, consuming from the
stack's Redis (started for it: `redis_url`): what the test queues through the stack, it runs
(tests/integration/test_queued_tasks.py).
# tasks:end
Without a Docker engine these tests skip; under CI=true that is a failure instead.
"""

import json
import os
import socket
import subprocess
# tasks:begin
# rq:begin
# import sys
# rq:end
# tasks:end
import uuid
from pathlib import Path

import pytest
# tasks:begin
import redis
# tasks:end

PROJECT = Path(__file__).resolve().parents[2]
BUILD_SECONDS = 900  # building the image, the first time on a slow network
HEALTHY_SECONDS = 120  # from started to healthy


def compose(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["docker", "compose", *args], cwd=PROJECT, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        what = f"docker compose {' '.join(args)} took over {timeout:g}s"
        raise AssertionError(f"{what}:\n{exc.stdout}\n{exc.stderr}") from None


class Stack(str):
    """The dev service's base URL (a str: `stack_url + "/signup"`) and a handle on its compose project."""

    def __new__(cls, url: str, env: dict):
        stack = super().__new__(cls, url)
        stack.env = env
        stack.project = env["COMPOSE_PROJECT_NAME"]
        return stack

    def compose(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """`docker compose <args>` on this stack, e.g. stack_url.compose("ps")."""
        return compose(*args, env=self.env, timeout=timeout)

    def exec(self, *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """A command in the running web container, e.g. stack_url.exec("flask", "db", "current")."""
        return self.compose("exec", "-T", "web", *command, timeout=timeout)

    def logs(self) -> str:
        """What the web service has logged so far."""
        return self.compose("logs", "--no-color", "web").stdout


def docker_works() -> bool:
    """A Docker engine that answers, and compose v2."""
    try:
        return all(subprocess.run(command, capture_output=True, timeout=30).returncode == 0
                   for command in (["docker", "info"], ["docker", "compose", "version"]))
    except (OSError, subprocess.TimeoutExpired):
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def stack_url():
    if not docker_works():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("no working Docker engine: under CI=true the integration tests must run", pytrace=False)
        pytest.skip("no working Docker engine (start Docker to run the integration tests)")
    port = free_port()
    env = {**os.environ, "COMPOSE_PROJECT_NAME": f"it-{uuid.uuid4().hex[:12]}", "PORT": str(port),
           # A database or a Redis service, if the project has one, beside yours.
           "DB_PORT": str(free_port()), "REDIS_PORT": str(free_port())}
    owner = PROJECT.stat()  # the container runs as the checkout's owner, who can read it (root's may be 0700)
    env.update(UID=str(owner.st_uid), GID=str(owner.st_gid))
    try:
        for step in (["build", "web"], ["run", "--rm", "-T", "web", "release"],
                     ["up", "--detach", "--wait", "--wait-timeout", str(HEALTHY_SECONDS), "web"]):
            result = compose(*step, env=env, timeout=BUILD_SECONDS)
            if result.returncode != 0:
                logs = compose("logs", "--no-color", "web", env=env).stdout
                raise AssertionError(f"docker compose {' '.join(step[:3])} failed:\n{result.stdout}\n"
                                     f"{result.stderr}\n{logs}")
        yield Stack(f"http://127.0.0.1:{port}", env)
    finally:
        # The image built here goes too, not the ones pulled (a database's): `--rmi all` would take those.
        config = compose("config", "--format", "json", env=env).stdout
        built = json.loads(config)["services"]["web"]["image"] if config else None
        compose("--profile", "*", "down", "--volumes", "--remove-orphans", "--timeout", "2", env=env)
        if built:
            subprocess.run(["docker", "rmi", "--force", built], capture_output=True)
# tasks:begin


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def redis_url(stack_url):
    """The stack's Redis as this machine reaches it (its port on 127.0.0.1), started and healthy."""
    url = f"redis://127.0.0.1:{stack_url.env['REDIS_PORT']}/0"
    up = stack_url.compose("up", "--detach", "--wait", "--wait-timeout", str(HEALTHY_SECONDS), "redis")
    try:
        if up.returncode != 0:
            raise redis.ConnectionError((up.stderr.strip() or up.stdout.strip() or "it did not start").splitlines()[-1])
        redis.Redis.from_url(url, socket_timeout=5).ping()
    except redis.RedisError as exc:
        why = f"the stack's Redis is not reachable at {url}: {exc}"
        if in_ci():
            pytest.fail(f"{why} (under CI=true the task tests must run)", pytrace=False)
        pytest.skip(why)
    return url
# celery:begin


@pytest.fixture(scope="session")
def task_worker(redis_url):
    """A real Celery worker on the stack's Redis, in this process (a thread: celery.contrib.testing), on your
    code as it is here: what your test queues through the stack (its routes) it runs, and the stack reads the
    results. Stopped after the last test."""
    from celery.contrib.testing.worker import start_worker

    from app.tasks import celery

    celery.conf.update(broker_url=redis_url, result_backend=redis_url)  # what the worker's thread connects to
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker
# celery:end
# rq:begin
#
#
# @pytest.fixture(scope="session")
# def task_worker(redis_url):
#     """A real RQ worker on the stack's Redis (`rq worker`, a process of its own, in this project), on your code
#     as it is here: what your test queues through the stack (its routes) it runs, and the stack reads the
#     results. Stopped after the last test."""
#     rq = os.path.join(os.path.dirname(sys.executable), "rq")  # the command beside this Python
#     worker = subprocess.Popen([rq, "worker", "--url", redis_url, "--quiet"], cwd=PROJECT)
#     try:
#         yield worker
#     finally:
#         worker.terminate()  # RQ's warm shutdown: the job it runs finishes first
#         worker.wait(30)
# rq:end
# tasks:end
