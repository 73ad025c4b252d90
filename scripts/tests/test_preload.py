"""The preloaded fork server: fast, but never at the cost of correctness."""

import os
import signal
from pathlib import Path

from harness import processes_with_marker, run_entrypoint, wait_for

STATE = '''

@bp.get("/state")
def state():
    import flask
    seen = getattr(flask, "left_by_an_earlier_worker", "nothing")
    flask.left_by_an_earlier_worker = "something"
    return seen
'''


def fork_server_pid(server) -> int:
    """The fork server the serving worker was forked from (a retired one stays until its workers exit)."""
    status = Path(f"/proc/{server.worker_pid()}/status").read_text()
    parent = int(status.split("PPid:\t", 1)[1].split()[0])
    assert b"devserver.forkserver" in Path(f"/proc/{parent}/cmdline").read_bytes(), "no fork server running"
    return parent


def test_workers_are_forked_and_reload_fast(devserver):
    server = devserver()
    assert "workers start as a preloaded fork" in server.log()
    first = server.worker_pid()
    assert Path(f"/proc/{first}/status").read_text().count(f"PPid:\t{fork_server_pid(server)}") == 1


def test_no_state_of_one_worker_reaches_the_next(devserver):
    server = devserver()
    server.append("kiosk/views.py", STATE)
    server.wait_reloads(1)
    assert server.get("/state").text == "nothing"
    assert server.get("/state").text == "something"  # the same worker keeps its own state
    server.append("kiosk/views.py", "\n")
    server.wait_reloads(2)
    assert server.get("/state").text == "nothing"  # a new worker starts clean


def test_a_dead_fork_server_is_rebuilt_and_the_reload_still_happens(devserver):
    server = devserver()
    os.kill(fork_server_pid(server), signal.SIGKILL)
    server.append("kiosk/views.py", '\n\n@bp.get("/after")\ndef after():\n    return "after"\n')
    wait_for(lambda: server.get("/after").text == "after", 20, message="the reload after the fork server died")
    assert "rebuilding the preloaded fork server: it was killed by SIGKILL" in server.log() \
        or "the fork server did not answer" in server.log()
    server.append("kiosk/views.py", "\n")  # and the rebuilt one serves later reloads
    server.wait_reloads(2)
    assert fork_server_pid(server)


def test_a_requirements_change_rebuilds_the_fork_server(devserver, project):
    (project / "requirements.txt").write_text("Flask\n")
    server = devserver()
    before = fork_server_pid(server)
    (project / "requirements.txt").write_text("Flask\ngevent\n")
    wait_for(lambda: "reloaded in" in server.log() and "dependencies changed" in server.log(), 20,
             message="a rebuild and reload")
    assert "rebuilding the preloaded fork server: requirements.txt changed" in server.log()
    wait_for(lambda: fork_server_pid(server) != before, 10, message="a new fork server")


def test_preload_lists_extra_modules(devserver):
    server = devserver(PRELOAD="json,email.mime.text")
    assert "preloaded fork" in server.log() and server.get("/").status_code == 200


def test_a_preload_module_that_fails_falls_back_to_spawning(devserver):
    server = devserver(PRELOAD="json,nosuchmodule_xyz")
    assert "PRELOAD could not import nosuchmodule_xyz: ModuleNotFoundError" in server.log()
    assert server.get("/").status_code == 200
    server.append("kiosk/views.py", "\n")
    server.wait_reloads(1)
    assert server.get("/").status_code == 200


def test_preload_value_is_checked(project):
    result = run_entrypoint(project, PRELOAD="yes;rm -rf")
    assert result.returncode == 2
    assert "PRELOAD='yes;rm -rf' is neither on/off nor a list of modules" in result.stderr


def test_preload_off_spawns_fresh_interpreters(devserver):
    server = devserver(PRELOAD="0")
    assert "workers start as a fresh interpreter" in server.log()
    assert not any(b"devserver.forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
                   for pid in processes_with_marker(server.marker))
