"""Your app on the real stack: `docker compose up` under a project name of its own, torn down after.

A test asks for `stack_url` and gets the base URL of the dev service, built from this checkout
and healthy (a worker serves the current code). Nothing is shared with a stack you may already
run: the compose project name, the image tag and the host port are new for each test session.
Without a Docker engine these tests skip; under CI=true that is a failure instead.
"""

import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 180  # building the image the first time included


def compose(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", "compose", *args], cwd=PROJECT, env=env, capture_output=True, text=True,
                            timeout=WAIT_SECONDS + 120)
    if check and result.returncode != 0:
        raise AssertionError(f"docker compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def docker_works() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
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
    owner = PROJECT.stat().st_uid  # the container writes into the mount as the checkout's owner
    env = {**os.environ, "COMPOSE_PROJECT_NAME": f"it-{uuid.uuid4().hex[:12]}", "PORT": str(port)}
    if owner:
        env.update(UID=str(owner), GID=str(PROJECT.stat().st_gid))
    try:
        result = compose("up", "--detach", "--build", "--wait", "--wait-timeout", str(WAIT_SECONDS), "web",
                         env=env, check=False)
        if result.returncode != 0:
            logs = compose("logs", "--no-color", "web", env=env, check=False).stdout
            raise AssertionError(f"the stack did not get healthy:\n{result.stderr}\n{logs}")
        yield f"http://127.0.0.1:{port}"
    finally:
        compose("down", "--volumes", "--rmi", "all", "--remove-orphans", "--timeout", "2", env=env, check=False)
