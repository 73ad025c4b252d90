"""Dev Containers (.devcontainer/devcontainer.json) with npm's @devcontainers/cli, as VS Code runs
it: `devcontainer up` brings the compose stack up with the dev server serving, and
`devcontainer exec` runs the app's tests inside, as the container user, with the image's tools.
"""

import json
import os
import shutil
import subprocess

import pytest

from compose_stack import Stack


def devcontainer(s: Stack, subcommand: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["devcontainer", subcommand, "--workspace-folder", str(s.dir), *args], env=s.env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def inside(tmp_path_factory):
    if not shutil.which("devcontainer"):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("no devcontainer CLI: .ci/run installs it (scripts/ci/ensure-devcontainer-cli.sh)")
        pytest.skip("no devcontainer CLI (npm install -g @devcontainers/cli)")
    s = Stack(tmp_path_factory.mktemp("devcontainer"))
    try:
        up = devcontainer(s, "up")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        outcome = json.loads(up.stdout.strip().splitlines()[-1])
        assert outcome["outcome"] == "success", outcome
        yield s
    finally:
        s.down()


def test_devcontainer_up_keeps_the_dev_server_serving(inside):
    inside.wait_healthy()
    assert inside.get("/pid").status_code == 200
    assert "serving kiosk on" in inside.logs()


def test_devcontainer_exec_runs_the_apps_tests_as_the_container_user(inside):
    who = devcontainer(inside, "exec", "sh", "-c", "id -un && pwd && command -v python git ruff")
    assert who.returncode == 0, who.stderr
    assert who.stdout.split()[:3] == ["app", "/app", "/opt/venv/bin/python"], who.stdout
    tests = devcontainer(inside, "exec", "pytest", "-q", "-p", "no:cacheprovider", "tests")
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout
