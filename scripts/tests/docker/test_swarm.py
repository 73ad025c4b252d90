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

Slow (minutes): `pytest -m swarm`. Needs a Docker engine 20.10+ that can run a swarm.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
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
# Measured: about 75 s (the release job, v3's 30 s start period and failed checks, the monitor, then
# the task back to v2). Guards against an update left paused or half done with nobody to roll it back.
ROLLBACK_BOUND = 180.0
CLIENT_PAUSE = 0.02  # between a client's requests: the count stays bounded, the machine responsive

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
'''
# v3's image: it loads and answers, but its health check never passes.
FAILING_HEALTHCHECK = '\nHEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 ' \
                      'CMD ["python", "-c", "raise SystemExit(1)"]\n'


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


class Project:
    """A copy of the project with the test app as FLASK_APP, built as the prod image, one tag per version."""

    def __init__(self, base: Path, name: str):
        self.dir = base / "project"
        shutil.copytree(ROOT, self.dir, ignore=shutil.ignore_patterns(
            ".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".env"))
        (self.dir / ".flaskenv").write_text("FLASK_APP=swarmapp\n")
        self.dockerfile = (self.dir / "Dockerfile").read_text()
        self.name = name
        self.images: list[str] = []

    def build(self, version: str, healthy: bool = True) -> str:
        (self.dir / "swarmapp.py").write_text(TEST_APP.format(version=version))
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


def report(clients: Clients) -> str:
    return f"{len(clients.failures)} failed of {len(clients.answers) + len(clients.failures)}: {clients.failures[:10]}"


def test_rolling_updates_through_the_swarm_stack_lose_nothing_and_a_bad_one_rolls_back(swarm, tmp_path):
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    name = f"swt{uuid.uuid4().hex[:8]}"
    project = Project(tmp_path, name)
    stack = None
    try:
        v1, v2 = project.build("v1"), project.build("v2")
        v3 = project.build("v3", healthy=False)
        stack = SwarmStack(name)

        # v1: two healthy replicas, served through Caddy, which the app believes.
        result = stack.deploy(v1)
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{stack.logs('web')}"
        wait_for(lambda: serving(stack, "v1"), 120, f"v1 on both replicas through the proxy\n{stack.logs('proxy')}")
        who = requests.get(stack.url + "/who", timeout=5, verify=False,
                           headers={"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "ftp"}).json()
        assert who["scheme"] == "https", who  # X-Forwarded-Proto from the proxy, believed
        assert who["remote_addr"] != "6.6.6.6", who  # and a client's own never
        overlay = json.loads(docker("network", "inspect", f"{name}_app").stdout)[0]["IPAM"]["Config"][0]["Subnet"]
        assert not who["remote_addr"].startswith(overlay.rsplit(".", 2)[0] + "."), (who, overlay)  # not Caddy's
        assert stack.release_runs() == Counter({v1: 1})

        with Clients(stack.url) as clients:
            wait_for(lambda: len(clients.since(time.monotonic() - 1)) > 5, 30, "the clients get answers")

            # v2: nothing lost, every replica on v2 within the bound.
            start = time.monotonic()
            result = stack.deploy(v2)
            deployed = time.monotonic() - start
            assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{stack.logs('web')}"
            hosts = wait_for(lambda: serving(stack, "v2"), UPDATE_BOUND, "v2 on both replicas")
            all_v2 = max(a[1] for a in clients.answers if a[2] == "v1" and a[0] != "slow") - start
            time.sleep(1)  # answers of the last second: only v2
            recent = clients.since(time.monotonic() - 1)
            assert recent and {a[2] for a in recent} == {"v2"}, recent[-5:]
            assert {a[3] for a in recent if a[0] != "slow"} <= hosts
            print(f"\nv2: deploy.sh {deployed:.1f}s, last v1 answer {all_v2:.1f}s after the deploy began, "
                  f"{len(clients.answers)} answers ({Counter(a[0] for a in clients.answers)}), "
                  f"{len(clients.failures)} failed")
            assert not clients.failures, report(clients)
            assert all_v2 < UPDATE_BOUND
            slow_versions = {a[2] for a in clients.answers if a[0] == "slow"}
            assert slow_versions == {"v1", "v2"}, slow_versions  # slow requests ran on both sides of it
            assert [t["Spec"]["ContainerSpec"]["Image"] for t in stack.running("web")] == [v2, v2]

            # v3: never healthy; rolled back by itself, v2 serving throughout, v3 never seen.
            before = len(clients.answers)
            start = time.monotonic()
            result = stack.deploy(v3)
            assert result.returncode != 0, f"deploy.sh reported success for a version that never turned healthy:\n" \
                                           f"{result.stdout}\n{result.stderr}"

            def rolled_back():
                status = stack.service("web").get("UpdateStatus", {})
                return status.get("State") == "rollback_completed" and status

            status = wait_for(rolled_back, ROLLBACK_BOUND, f"v3 rolled back\n{stack.service('web')}")
            rollback = time.monotonic() - start
            assert stack.service("web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == v2
            wait_for(lambda: serving(stack, "v2"), 60, "v2 on both replicas after the rollback")
            print(f"v3: rolled back {rollback:.1f}s after the deploy began ({status.get('Message')}); "
                  f"{len(clients.answers) - before} answers meanwhile, {len(clients.failures)} failed")
        assert not clients.failures, report(clients)
        assert {a[2] for a in clients.answers[before:]} == {"v2"}
        assert rollback < ROLLBACK_BOUND

        # The release job: once per deploy, v3's included (it ran before the update that failed: a
        # migration must suit the version before it, which a rollback keeps serving).
        assert stack.release_runs() == Counter({v1: 1, v2: 1, v3: 1}), stack.release_runs()
    finally:
        try:
            if stack:
                stack.remove()
        finally:
            for image in [*project.images, f"{name}-web:prod"]:
                docker("rmi", "-f", image, check=False)
