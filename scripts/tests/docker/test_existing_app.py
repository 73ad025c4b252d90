"""An existing app moves in (issue 27): a team's app with Flask-Migrate migrations, a task worker, old
pins that contradict the template's test tools and its tests in a top-level tests.py, brought into a
project made with `make new` the way the README says, and nothing more:

- its package and migrations/ beside `app/`, `tests.py` at the root, its integration test in
  tests/integration/, `FLASK_APP` in the committed `.flaskenv`, its pins added to requirements.txt;
- its worker as docker-compose.yml's comment on a second process says: a service with the common block
  and its own command. The project is made without a task queue of ours (TASKS=none): the app brings its
  own worker.

Then what its CI runs, `make test` under CI=true, builds on the first try, runs the release step
(its migrations) before the tests, and runs the app's own tests, and the worker runs as the app's
second process. The app is scripts/tests/apps/ledger. Template scaffolding (copier.yml leaves it out).
"""

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

from compose_stack import Stack, container_uid
from made_project import make_new

LEDGER = Path(__file__).resolve().parent.parent / "apps" / "ledger"
STOP_GRACE = 30  # the worker's stop_grace_period here: a stop that waits for SIGKILL takes this long
DOCKER_SOCKET = "/var/run/docker.sock"
UNMET = "`pytest` requires `pygments>=2.15`"  # what the tools ask of the ledger's pins and do not get


def bring_in(project: Path) -> None:
    """The README's "Your own app", step by step."""
    for name in ("ledger", "migrations"):
        shutil.copytree(LEDGER / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(LEDGER / "tests.py", project / "tests.py")
    shutil.copy(LEDGER / "tests" / "integration" / "test_ledger_stack.py", project / "tests" / "integration")
    with open(project / "requirements.txt", "a") as f:
        f.write((LEDGER / "requirements-app.txt").read_text())
    flaskenv = project / ".flaskenv"
    flaskenv.write_text(re.sub(r"(?m)^FLASK_APP=.*$", "FLASK_APP=ledger", flaskenv.read_text()))
    assert "FLASK_APP=ledger" in flaskenv.read_text()
    compose = project / "docker-compose.yml"
    compose.write_text(with_worker(compose.read_text()))


def with_worker(text: str) -> str:
    """docker-compose.yml with the ledger's worker, written as its comment on a second process says (the
    common block, the dev build and image, the source mount, a command), with a health check of its own
    and a long stop grace period (a stop that hangs shows)."""
    comment = re.search(r"(?m)^  # A second process of your app .*\n(?:  # .*\n)*", text)
    assert comment and "`command:`" in comment[0], "docker-compose.yml says nothing of a second process"
    image = re.search(r"(?m)^    image: (.*-web:dev)$", text)[1]  # the web service's
    service = f"""  worker:
    <<: *common
    build:
      <<: *build
      target: dev
    image: {image}
    command: ["python", "-m", "ledger.worker"]
    volumes:
      - .:/app
    healthcheck:
      test: ["CMD", "python", "-c", "import ledger"]
      interval: 2s
    stop_grace_period: {STOP_GRACE}s
"""
    return text.replace(comment[0], comment[0] + service)


@pytest.fixture(scope="module")
def moved_in():
    """(project, name, port): the ledger in a made project, owned by the container user as a
    developer's checkout is, in a folder that user can reach (pytest's own are root's alone)."""
    base = Path(tempfile.mkdtemp(prefix="moved-in-"))
    try:
        project, name, port = make_new(base, tasks="none")
        bring_in(project)
        (base / "home").mkdir()  # the owner's: caches (uv's, pip's) and reports
        subprocess.run(["chown", "-R", f"{container_uid()}:{container_uid()}", str(base)], check=True)
        yield project, name, port
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_its_ci_builds_releases_and_runs_its_own_tests_first_try(moved_in):
    """`make test` under CI=true: the host's .venv and the image install its old pins with the tools on
    the first try, stack_url runs its migrations before the tests, and pytest finds its tests.py."""
    project, _, _ = moved_in
    home = project.parent / "home"
    report = home / "report.xml"
    uid = container_uid()
    env = {**os.environ, "CI": "true", "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "PYTEST_ADDOPTS": f"--junitxml={report}"}
    # As the checkout's owner, as a developer runs it (with the Docker socket's group, as in the docker
    # group): files the tests and the stack write in the checkout are then theirs, not root's.
    as_owner = ["setpriv", f"--reuid={uid}", f"--regid={uid}", f"--groups={os.stat(DOCKER_SOCKET).st_gid}"]
    result = subprocess.run([*as_owner, "make", "-s", "test"], cwd=project, env=env, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, f"make test:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    cases = {f"{case.get('classname')}.{case.get('name')}": [child.tag for child in case
                                                              if child.tag in ("skipped", "failure", "error")]
             for case in ElementTree.parse(report).iter("testcase")}
    assert "tests.LedgerCase.test_an_entry_is_counted" in cases, sorted(cases)
    assert {"tests.integration.test_ledger_stack.test_the_release_step_migrated_the_database",
            "tests.integration.test_ledger_stack.test_a_flask_command_gets_the_workers_debug_setting"} <= set(cases)
    assert not any(case.startswith("scripts.") for case in cases), sorted(cases)
    assert not {case: outcomes for case, outcomes in cases.items() if outcomes}
    assert UNMET in result.stdout  # the host's install named what the tools do not get, once


def test_its_worker_runs_its_command_beside_the_web_service(moved_in, tmp_path):
    project, name, port = moved_in
    s = Stack(tmp_path, source=project, name=name, port=port)
    (s.dir / ".env").write_text("")  # Stack names its own test app there; this project has .flaskenv
    shutil.rmtree(s.dir / "instance", ignore_errors=True)  # a fresh clone's: no database yet (git ignores it)
    try:
        s.compose("build", "web")
        release = s.compose("run", "--rm", "-T", "web", "release")
        assert "release: flask db upgrade" in release.stdout + release.stderr
        assert "Running upgrade  -> 4b48a065e983" in release.stdout + release.stderr
        s.compose("up", "-d", "web", "worker")
        s.wait_healthy("web")
        s.wait_healthy("worker")  # by its own check
        assert UNMET in s.logs("web"), s.logs("web")  # the dev server names it at every start

        worker = s.logs("worker")
        assert "ledger worker ready" in worker and "sees 0 entries" in worker, worker
        assert "[devserver]" not in worker and "PIN" not in worker, worker  # not a second dev server
        inspected = s.inspect("worker")["HostConfig"]
        assert inspected["Init"] is True and inspected["CapDrop"] == ["ALL"], inspected
        assert "no-new-privileges:true" in inspected["SecurityOpt"]

        # The image's own check, asked in the worker: no server there, and it says what runs instead.
        check = s.compose("exec", "-T", "worker", "python", "/app/scripts/healthcheck.py")
        assert "this container runs `python -m ledger.worker`" in check.stdout, check.stdout + check.stderr

        # A command the image is given gets the workers' environment: the app from .flaskenv, debug on.
        state = s.compose("run", "--rm", "-T", "web", "flask", "debug-state")
        assert state.stdout.strip().endswith("debug=True"), state.stdout + state.stderr

        start = time.monotonic()
        s.compose("stop", "worker")
        assert time.monotonic() - start < STOP_GRACE / 3  # SIGTERM reached it: tini passed it on
        assert "ledger worker stopped" in s.logs("worker")
    finally:
        s.down()


def test_what_it_writes_stays_out_of_git(moved_in):
    """Its file log outside debug mode, rotated, in a logs/ folder: ignored by git (and by the images)."""
    project, _, _ = moved_in
    written = ["logs/ledger.log", "logs/ledger.log.1", "instance/ledger.sqlite"]
    ignored = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(project), "check-ignore", *written],
                             capture_output=True, text=True)
    assert ignored.stdout.split() == written, ignored
