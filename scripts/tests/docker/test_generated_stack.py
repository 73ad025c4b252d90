"""A project made with `make new` (with PostgreSQL) runs in Docker under its own name and port,
its demo's database route answers, and it keeps its own checks green after its owner changes the demo:
its CI's `make test` runs its own tests (the integration ones against its stack), and the dev
environment's suite stays at hand in `make test-devserver`.

Template scaffolding (left out of the projects it makes, see copier.yml); the rest of the
check of `make new` is in scripts/tests/template/.
"""

import os
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import pytest

from compose_stack import Stack
from made_project import make_new


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(project, name, port): `make new DATABASE=postgres`."""
    return make_new(tmp_path_factory.mktemp("generated"), database="postgres")


def test_a_new_project_comes_up_under_its_own_name_and_port_with_its_database(made, tmp_path):
    project, name, port = made
    stack = Stack(tmp_path, source=project, name=name, port=port)
    stack.write_env(FLASK_APP="app")  # its own demo, as `docker compose up` serves it
    try:
        stack.up()  # no profile to turn on: the db service is part of the project
        labels = stack.inspect()["Config"]["Labels"]
        assert labels["com.docker.compose.project"] == name
        assert stack.inspect()["Config"]["Image"] == f"{name}-web:dev"
        assert "It works." in stack.get("/").text
        assert stack.inspect("db")["State"]["Health"]["Status"] == "healthy"
        answer = stack.get("/db?seconds=0.1")
        assert answer.status_code == 200, answer.text
        assert answer.json()["postgres"].startswith("17") and answer.json()["slept"] == 0.1
    finally:
        stack.down()


def make(project: Path, target: str, report: Path, *pytest_options: str) -> dict[str, list[str]]:
    """`make <target>` under CI=true, as its CI runs it; {test: its outcomes (skipped, failure, error)}
    from pytest's JUnit report."""
    env = {**os.environ, "CI": "true", "PYTEST_ADDOPTS": " ".join([f"--junitxml={report}", *pytest_options])}
    result = subprocess.run(["make", "-s", target], cwd=project, env=env, capture_output=True, text=True,
                            timeout=1800)
    assert result.returncode == 0, f"make {target}:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    return {f"{case.get('classname')}.{case.get('name')}": [child.tag for child in case
                                                            if child.tag in ("skipped", "failure", "error")]
            for case in ElementTree.parse(report).iter("testcase")}


def test_with_its_demo_changed_it_passes_its_own_make_lint_and_make_test(made, tmp_path):
    """What its CI runs (.github/workflows/ci.yml), after the owner makes the demo their own: its own
    tests, the integration ones really run against its stack, and not the dev environment's suite."""
    project, _, _ = made
    page = project / "app" / "templates" / "index.html"
    page.write_text(page.read_text().replace("It works.", "Welcome to the shop."))
    views = project / "app" / "views.py"
    views.write_text(views.read_text().replace('@bp.get("/")\ndef index():', '@bp.get("/")\n@bp.get("/home")\n'
                                               'def index():'))
    lint = subprocess.run(["make", "-s", "lint"], cwd=project, env={**os.environ, "CI": "true"},
                          capture_output=True, text=True, timeout=600)
    assert lint.returncode == 0, f"make lint:\n{lint.stdout[-6000:]}\n{lint.stderr[-3000:]}"
    ran = make(project, "test", tmp_path / "test.xml")
    assert ran and all(test.startswith("tests.") for test in ran), sorted(ran)
    assert any(test.startswith("tests.integration.") for test in ran), sorted(ran)
    assert not {test: outcomes for test, outcomes in ran.items() if outcomes}


def test_its_make_test_devserver_runs_the_dev_environments_suite(made, tmp_path):
    """The target is there and runs scripts/tests; its fast unit part only, the rest is this template's CI's."""
    project, _, _ = made
    ran = make(project, "test-devserver", tmp_path / "devserver.xml", "-k", "test_settings.py")
    assert len(ran) > 10 and all(test.startswith("scripts.tests.test_settings.") for test in ran), sorted(ran)
    assert not {test: outcomes for test, outcomes in ran.items() if outcomes}
