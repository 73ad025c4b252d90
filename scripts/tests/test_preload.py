"""The preloaded fork server: fast, but never at the cost of correctness."""

import os
import signal
from pathlib import Path

from harness import process_table, processes_with_marker, run_entrypoint, wait_for

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
    # The retired one forks no more, and goes once the worker it forked has (reaped: no zombie either).
    wait_for(lambda: before not in process_table(), 15, message="the retired fork server to exit")


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


# -- learning what to preload (PRELOAD=1) ----------------------------------------------------------

# Installed packages of the test's own, in a site-packages directory outside the project (on PYTHONPATH).
VENDOR = {
    "heavyish": "import json.decoder, email.mime.text\nVALUE = 'heavyish'\n",
    "threaded_at_import": "import threading, time\n"
                          "threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n",
    "reaches_into_the_project": "import project_helper  # noqa: F401\n",  # a plugin scan, say
    "no_preloading_me": "import inspect\n"
                        "if any(f.function == 'preload_learned' for f in inspect.stack()):\n"
                        "    raise RuntimeError('not in a fork server')\n",
}
USES_VENDOR = '''

@bp.get("/vendor")
def vendor():
    import heavyish, no_preloading_me, threaded_at_import  # noqa: F401, E401
    return heavyish.VALUE
'''


def learning_server(devserver, project, tmp_path, **env):
    vendor = tmp_path / "site-packages"  # installed: only what is there (or in the stdlib) is learned
    vendor.mkdir(exist_ok=True)
    for name, code in VENDOR.items():
        (vendor / f"{name}.py").write_text(code)
    (project / "project_helper.py").write_text("VALUE = 1\n")  # the project's own code, outside kiosk/
    package = project / "kiosk" / "__init__.py"
    package.write_text(package.read_text().replace("from flask import Flask\n", "from flask import Flask\n"
                                                   + "".join(f"import {name}\n" for name in VENDOR), 1))
    return devserver(PYTHONPATH=str(vendor), **env)


def learned(project) -> dict:
    import json
    (cache,) = (project / ".cache" / "devserver").glob("preload-*.json")  # one per interpreter
    return json.loads(cache.read_text())


def test_the_fork_server_learns_what_the_app_imports_from_outside_the_project(devserver, project, tmp_path):
    server = learning_server(devserver, project, tmp_path)
    wait_for(lambda: "[devserver] preloading " in server.log(), 20, message="the learned preload taking over")
    cache = learned(project)
    assert "heavyish" in cache["modules"] and "email.mime.text" in cache["modules"]
    assert not [m for m in cache["modules"] if m.split(".")[0] in ("kiosk", "devserver")]  # never the project's
    # A module that started a thread at import, or whose import fails in a fork server, is left out, said once.
    assert cache["excluded"]["threaded_at_import"] == "it started a thread"
    assert cache["excluded"]["no_preloading_me"].startswith("its import failed: RuntimeError")
    assert cache["excluded"]["reaches_into_the_project"] == "it imported the project's own code"
    wait_for(lambda: server.log().count("not preloading threaded_at_import: it started a thread") == 1, 10,
             message="the unsafe module said once")
    assert "not preloading no_preloading_me: its import failed: RuntimeError: not in a fork server" in server.log()
    # and the app is served right, by workers forked from the learned fork server
    server.append("kiosk/views.py", USES_VENDOR)
    wait_for(lambda: server.get("/vendor").text == "heavyish", 15, message="the route on learned modules")
    server.append("kiosk/views.py", "\n")
    server.wait_reloads(2)
    assert server.get("/vendor").text == "heavyish"
    assert server.log().count("not preloading threaded_at_import") == 1


def test_what_was_learned_is_preloaded_at_the_next_start(devserver, project, tmp_path):
    first = learning_server(devserver, project, tmp_path)
    wait_for(lambda: "[devserver] preloading " in first.log(), 20, message="the learned preload")
    assert first.stop() == 0
    second = devserver(PYTHONPATH=str(tmp_path / "site-packages"))
    log = second.log()
    assert "[devserver] preloading " in log.split("serving kiosk", 1)[0]  # before the first reload
    assert "not preloading" not in log  # what is set aside is not tried again
    assert fork_server_pid(second)


def test_an_explicit_preload_list_learns_nothing(devserver, project, tmp_path):
    server = learning_server(devserver, project, tmp_path, PRELOAD="json")
    server.append("kiosk/views.py", "\n")
    server.wait_reloads(1)
    assert not list((project / ".cache").glob("devserver/preload-*.json"))


FORK_FRAGILE = """\
import os, signal
IMPORTED_IN = os.getpid()


def check():  # like a C extension whose state does not survive fork(): fine where it was imported
    if os.getpid() != IMPORTED_IN:
        os.kill(os.getpid(), signal.SIGSEGV)
"""


def test_a_worker_crashing_after_the_learned_preload_turns_learning_off(devserver, project, tmp_path):
    vendor = tmp_path / "site-packages"
    vendor.mkdir()
    (vendor / "forkfragile.py").write_text(FORK_FRAGILE)
    package = project / "kiosk" / "__init__.py"
    package.write_text(package.read_text().replace("from flask import Flask\n", "from flask import Flask\n\n"
                                                   "import forkfragile\n\nforkfragile.check()\n", 1))
    server = devserver(PYTHONPATH=str(vendor))
    wait_for(lambda: "[devserver] preloading " in server.log(), 20, message="the learned preload (forkfragile in it)")
    server.append("kiosk/views.py", '\n\n@bp.get("/after")\ndef after():\n    return "after"\n')
    wait_for(lambda: server.get("/after").text == "after", 20, message="the reload, from the base fork server")
    wait_for(lambda: "not preloading what the app imports any more: a worker forked from it was killed by "
             "SIGSEGV" in server.log(), 10, message="the verdict")
    assert learned(project)["off"]
    server.append("kiosk/views.py", "\n")  # and later reloads stay well
    server.wait_reloads(2)
    assert server.get("/after").text == "after"


def test_a_module_that_crashes_the_fork_server_is_named_and_left_out(devserver, project, tmp_path):
    vendor = tmp_path / "site-packages"
    vendor.mkdir()
    (vendor / "crashy.py").write_text("import inspect, os, signal\n"
                                      "if any(f.function == 'preload_learned' for f in inspect.stack()):\n"
                                      "    os.kill(os.getpid(), signal.SIGSEGV)  # as a C extension might\n")
    package = project / "kiosk" / "__init__.py"
    package.write_text(package.read_text().replace("from flask import Flask\n", "from flask import Flask\n\n"
                                                   "import crashy  # noqa: F401\n", 1))
    server = devserver(PYTHONPATH=str(vendor))
    wait_for(lambda: "not preloading crashy: the fork server" in server.log(), 20, message="the culprit named")
    assert "importing it" in server.log().split("not preloading crashy: ", 1)[1].splitlines()[0]
    assert learned(project)["excluded"]["crashy"].startswith("the fork server")
    server.append("kiosk/views.py", "\n")
    server.wait_reloads(1)
    assert server.get("/").status_code == 200
