"""The supervisor never hangs and never dies, against real processes: an app that forks, a worker that
segfaults while its fork lives, a cache it cannot write, fork() failing under a pids limit, production's
SIGHUP with code that does not load, a stop while the fork server is stuck.

Bounds here are against the failure each test guards (a hang: forever, or the 30 s a fork sleeps).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import pytest
import requests

from harness import Polling, process_table, processes_with_marker, wait_for

FORKER = '''\
import os, signal, time
from flask import Flask

VERSION = "v1"
app = Flask(__name__)


@app.get("/")
def index():
    return f"{VERSION} {os.getpid()}"


@app.get("/fork")
def fork():
    """A child that runs gevent's hub (time.sleep is gevent's here), as the worker's copy would."""
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    return str(pid)


@app.get("/multiprocessing")
def fork_with_multiprocessing():
    import multiprocessing

    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(30,))
    child.start()
    return str(child.pid)


@app.get("/segfault")
def segfault():
    os.kill(os.getpid(), signal.SIGSEGV)
'''


def write_forker(project: Path, version: str = "v1") -> None:
    package = project / "forker"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(FORKER.replace('"v1"', f'"{version}"'))


@pytest.fixture
def forker(project, devserver):
    def start(**env):
        write_forker(project)
        env.setdefault("ACCESS_LOG", "0")
        return devserver(FLASK_APP="forker", **env)

    return start


def answers(server, count: int, keep_alive: bool) -> list[str]:
    session = requests.Session() if keep_alive else requests
    return [session.get(server.url + "/", timeout=10).text for _ in range(count)]


def alive(pid: int) -> bool:
    state = process_table().get(pid)
    return state is not None and state[1] != "Z"


@pytest.mark.parametrize("how", ["fork", "multiprocessing"])
def test_a_process_the_app_forks_never_answers_never_takes_an_order(forker, project, how):
    server = forker()
    worker = server.get("/").text.split()[1]
    child = int(server.get(f"/{how}").text)
    assert alive(child)
    replies = answers(server, 20, keep_alive=False) + answers(server, 20, keep_alive=True)
    assert replies == [f"v1 {worker}"] * 40, "the forked child answered some"
    for n in (2, 3):  # DRAIN and SERVE are read by the worker, never by its child
        write_forker(project, f"v{n}")
        wait_for(lambda n=n: server.get("/").text.startswith(f"v{n} "), 10, message=f"v{n} served\n{server.log()}")
        replies = answers(server, 20, keep_alive=False) + answers(server, 20, keep_alive=True)
        assert all(r.startswith(f"v{n} ") for r in replies), f"stale answers after v{n} served: {set(replies)}"
    wait_for(lambda: not alive(child), 10, message="the child ended with its worker")
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 10  # a hang waits for the child's 30 s, or forever


def test_a_worker_that_segfaults_while_its_fork_lives_is_seen_as_crashed(forker):
    server = forker()
    worker = server.get("/").text.split()[1]
    child = int(server.get("/fork").text)
    with pytest.raises(requests.RequestException):
        server.get("/segfault")
    wait_for(lambda: f"worker {worker} was killed by SIGSEGV while serving" in server.log(), 10,
             message=f"the crash said\n{server.log()}")  # not: the child holds its control socket for 30 s
    new = wait_for(lambda: server.get("/").status_code == 200 and server.get("/").text.split()[1], 10,
                   message="a new worker serving")
    assert new != worker
    wait_for(lambda: not alive(child), 5, message="the fork ended with its worker")


def test_a_preload_cache_it_cannot_write_costs_one_line_and_nothing_else(forker, project, tmp_path):
    (project / ".cache").mkdir()
    (project / ".cache" / "devserver").write_text("a file where the cache folder would go")
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    server = forker(XDG_CACHE_HOME=str(blocked))  # the fallback under the user's cache is blocked too
    for n in (2, 3, 4):
        write_forker(project, f"v{n}")
        wait_for(lambda n=n: server.get("/").text.startswith(f"v{n} "), 10, message=f"v{n}\n{server.log()}")
    assert server.log().count("warning: cannot write the list of modules to preload") == 1, server.log()
    assert "Traceback" not in server.log()


@pytest.fixture
def pids_cgroup():
    """A pids cgroup (v1 or v2) to put the server in, and a way to set its limit; removed afterwards."""
    for base in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        if (base / "cgroup.procs").exists():
            group = base / f"devserver-test-{uuid.uuid4().hex[:8]}"
            try:
                group.mkdir()
            except OSError:
                continue
            if (group / "pids.max").exists():
                break
            group.rmdir()
    else:
        pytest.fail("no pids cgroup can be made here (cgroup v1 pids or v2 with pids delegated, as root)")
    yield group
    (group / "pids.max").write_text("max")
    for pid in (group / "cgroup.procs").read_text().split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: not (group / "cgroup.procs").read_text().split(), 10, message="the cgroup empty")
    group.rmdir()


@pytest.mark.parametrize("preload", ["1", "0"], ids=["preloaded", "spawned"])
def test_fork_failing_with_eagain_keeps_the_current_generation_serving(forker, project, pids_cgroup, preload):
    server = forker(PRELOAD=preload)
    worker = server.get("/").text.split()[1]
    for pid in processes_with_marker(server.marker) + [server.process.pid]:
        try:
            (pids_cgroup / "cgroup.procs").write_text(str(pid))
        except OSError:
            pass  # exited meanwhile
    (pids_cgroup / "pids.max").write_text((pids_cgroup / "pids.current").read_text().strip())
    write_forker(project, "v2")
    wait_for(lambda: "could not start a worker: Resource temporarily unavailable" in server.log(), 10,
             message=f"the failed start said\n{server.log()}")
    assert server.log().count("could not start a worker") >= 1
    assert server.get("/").text == f"v1 {worker}"  # the current generation goes on
    (pids_cgroup / "pids.max").write_text("max")
    wait_for(lambda: server.get("/").text.startswith("v2 "), 30, message=f"v2 once forks work\n{server.log()}")
    assert "Traceback" not in server.log()


def test_sighup_without_reload_with_code_that_does_not_load_keeps_the_old_workers_serving(forker, project):
    """The supervisor with RELOAD=0 reloads on SIGHUP (production runs gunicorn: test_production.py)."""
    server = forker(RELOAD="0", FLASK_DEBUG="0", WEB_CONCURRENCY="2")
    with Polling(server.url + "/") as clients:
        (project / "forker" / "__init__.py").write_text("def broken(:\n")
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "the workers already running go on serving" in server.log(), 15,
                 message=f"the failed reload said\n{server.log()}")
        count = len(clients.statuses)
        wait_for(lambda: len(clients.statuses) > count + 20, 10, message="requests answered after it")
    assert clients.counts().keys() == {200}, clients.counts()
    assert server.process.poll() is None
    write_forker(project, "v2")
    server.process.send_signal(signal.SIGHUP)
    wait_for(lambda: server.get("/").text.startswith("v2 "), 15, message=f"v2 after the fix\n{server.log()}")


def test_a_stop_while_the_fork_server_is_still_preloading_exits_at_once(forker, project):
    """A fork server whose preload hangs: the first worker is asked of it and waits in its socket;
    the loop does not wait with it (it used to, for 15 s), so SIGTERM ends everything at once."""
    (project / "hangs_at_import.py").write_text("import time\ntime.sleep(3600)\n")
    server = forker(PRELOAD="hangs_at_import", wait=False)
    wait_for(lambda: "watching" in server.log(), 20, message="the loop running")  # the fork is asked then
    started = time.monotonic()
    assert server.stop() == 0, server.log()
    assert time.monotonic() - started < 3  # the good case: ~0.1 s; the old loop waited 15 s for the preload


def test_a_fork_server_that_stops_answering_is_replaced_and_the_change_served(forker, project):
    server = forker(PRELOAD="json")  # a list of its own: nothing learned, so one fork server only
    table = process_table()  # the fork server is the supervisor's child; its workers share its command line
    (forkserver,) = [pid for pid in processes_with_marker(server.marker) if table.get(pid, ("", "", 0))[2]
                     == server.process.pid and b"devserver.forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    os.kill(forkserver, signal.SIGSTOP)
    try:
        write_forker(project, "v2")  # asked of the stuck fork server, never answered: spawned after 5 s
        wait_for(lambda: server.get("/").text.startswith("v2 "), 30, message=f"v2 served\n{server.log()}")
        assert "the fork server did not answer: starting this worker the plain way" in server.log()
        write_forker(project, "v3")  # from the rebuilt fork server
        wait_for(lambda: server.get("/").text.startswith("v3 "), 10, message=f"v3 served\n{server.log()}")
        started = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - started < 5  # GRACEFUL_TIMEOUT; a stuck fork server must not hold the exit
    finally:
        try:
            os.kill(forkserver, signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_make_dev_after_a_requirements_change_installs_serves_and_stops(tmp_path):
    """`git pull`, then `make dev`, on a real .venv made by `make install`: the start-up install ran, then
    the old start-up loop spun forever on the site-packages batch it heard meanwhile, deaf to SIGTERM."""
    import shutil
    import subprocess

    from harness import ROOT, TEST_APP, free_port

    project = tmp_path / "project"
    project.mkdir()
    for name in ("Makefile", "requirements.txt", "requirements-test.txt", "requirements-dev.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "scripts", project / "scripts", ignore=shutil.ignore_patterns("__pycache__", "tests"))
    shutil.copytree(TEST_APP, project / "kiosk", ignore=shutil.ignore_patterns("__pycache__"))
    made = subprocess.run(["make", "-s", "install"], cwd=project, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stdout + made.stderr
    with open(project / "requirements.txt", "a") as f:
        f.write("humanize==4.17.0\n")  # what the pull brought
    # ... dated before the install, as a copy or a checkout that keeps times has it: make does not
    # reinstall (it would when the file is newer), so the server's own start-up install runs.
    installed = (project / ".venv" / ".installed").stat().st_mtime
    os.utime(project / "requirements.txt", (installed - 60, installed - 60))
    port = free_port()
    log = tmp_path / "dev.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "DEVSERVER_"))}
    with open(log, "wb") as out:
        dev = subprocess.Popen(["make", "-s", "dev"], cwd=project, stdout=out, stderr=subprocess.STDOUT,
                               env={**env, "FLASK_APP": "kiosk", "PORT": str(port), "PYTHONUNBUFFERED": "1"},
                               start_new_session=True)
    try:
        wait_for(lambda: "serving kiosk" in log.read_text(), 120, message=f"serving\n{log.read_text()}")
        said = log.read_text()
        assert "installing before the app starts" in said and "installed humanize==4.17.0" in said, said
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
        os.killpg(dev.pid, signal.SIGTERM)  # as a terminal's kill would: make and the server both get it
        dev.wait(15)
        assert "SIGTERM: stopping" in log.read_text()

        def ours() -> list[int]:
            found = []
            for pid in process_table():
                try:
                    if str(project).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                        found.append(pid)
                except OSError:
                    pass
            return found

        wait_for(lambda: not ours(), 10, message=f"every process of the server gone\n{log.read_text()}")
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()
