"""Fixtures for the real stack: Docker engine, compose, the built image, on a copy of the project.

Each stack has a compose project name of its own and is taken down even when a test fails.
Without a Docker engine these tests skip, except under CI=true, where that is a failure.
"""

import os

import pytest

from compose_stack import Stack, docker_works


@pytest.fixture(scope="session", autouse=True)
def require_docker():
    if not docker_works():
        message = "no working Docker engine with compose v2 (start Docker)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}: under CI=true the Docker tests must run", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The dev stack, up and healthy, shared by a module's tests."""
    s = Stack(tmp_path_factory.mktemp("stack"))
    try:
        s.up()
        yield s
    finally:
        s.down()


@pytest.fixture
def new_stack(tmp_path):
    """A stack of a test's own, for tests that configure or stop it."""
    stacks = []

    def make(**env):
        s = Stack(tmp_path / str(len(stacks)), **env)
        stacks.append(s)
        return s

    yield make
    for s in stacks:
        s.down()
