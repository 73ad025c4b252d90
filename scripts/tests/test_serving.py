"""gevent's concurrency, the debugger's on/off behaviour, and stopping."""

import os
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from harness import DevServer, process_table, processes_with_marker, wait_for

# Records that a request is inside the app, then blocks: tests poll the file, not a clock.
SLOW = '''

@bp.get("/slow")
def slow():
    from pathlib import Path
    with open(Path(__file__).parent.parent / "entered.txt", "a") as f:
        f.write("x")
    time.sleep(float(request.args["seconds"]))
    return "done"
'''


def add_slow_route(server):
    server.append("kiosk/views.py", SLOW)
    server.wait_reloads(1)
    return lambda count: (server.project / "entered.txt").exists() and len(
        (server.project / "entered.txt").read_text()) >= count


RAISES = '''

@bp.get("/boom")
def boom():
    raise RuntimeError("kaboom-from-the-app")
'''


def test_blocking_routes_hold_nothing_back(devserver):
    server = devserver(ACCESS_LOG="0")
    entered = add_slow_route(server)
    with ThreadPoolExecutor(max_workers=20) as pool:
        sleepers = [pool.submit(server.get, "/slow?seconds=3") for _ in range(20)]
        # A blocking sleep lets one in every 3 s (60 s for 20): far past this deadline.
        wait_for(lambda: entered(20), 20, message="20 requests inside the app")
        start = time.monotonic()
        for _ in range(10):
            assert server.get("/").status_code == 200
        fast = time.monotonic() - start
        asleep = sum(not future.done() for future in sleepers)
        results = [future.result() for future in sleepers]
    assert all(r.status_code == 200 and r.text == "done" for r in results)
    # Held back, a request to / is answered only once a sleeper's 3 s are over; the ten take ~0.05 s.
    assert asleep == 20, f"10 requests to / took {fast:.2f}s: {20 - asleep} of the 20 sleepers had finished first"


def test_raising_route_shows_the_debugger_with_debug_on(devserver):
    server = devserver(WERKZEUG_DEBUG_PIN="123-456-789")
    server.append("kiosk/views.py", RAISES)
    server.wait_reloads(1)
    page = server.get("/boom")
    assert page.status_code == 500
    assert "Werkzeug Debugger" in page.text and "kaboom-from-the-app" in page.text
    assert server.get("/console").status_code == 200
    assert server.log().count("PIN is 123-456-789") == 1  # logged once, not per worker


def test_raising_route_is_a_plain_500_with_debug_off(devserver):
    server = devserver(FLASK_DEBUG="0")
    server.append("kiosk/views.py", RAISES)
    server.wait_reloads(1)
    page = server.get("/boom")
    assert page.status_code == 500
    assert "kaboom" not in page.text and "Traceback" not in page.text and "Werkzeug" not in page.text
    assert server.get("/console").status_code == 404


def test_debugger_pin_is_generated_once_and_kept_across_reloads(devserver):
    server = devserver()
    server.append("kiosk/views.py", "\n")
    server.wait_reloads(1)
    assert server.log().count("its PIN is") == 1


def test_pin_off_warns(devserver):
    server = devserver(WERKZEUG_DEBUG_PIN="off")
    assert "WERKZEUG_DEBUG_PIN=off: anyone who can reach this port can run code" in server.log()


def test_debugger_refuses_untrusted_host_unless_configured(devserver):
    server = devserver(DEBUGGER_TRUSTED_HOSTS="myapp.test")
    assert server.get("/console", headers={"Host": "evil.example"}).status_code == 400
    assert server.get("/console", headers={"Host": "myapp.test:5000"}).status_code == 200


def test_sigterm_lets_the_in_flight_request_finish_and_exits_in_time(devserver):
    server = devserver(GRACEFUL_TIMEOUT="30")  # waiting it out would be the failure: make it stand out
    entered = add_slow_route(server)
    result = {}
    request = threading.Thread(target=lambda: result.update(r=server.get("/slow?seconds=1.5")))
    request.start()
    wait_for(lambda: entered(1), 5, message="the request inside the app")
    start = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    took = time.monotonic() - start
    request.join(15)
    assert result["r"].status_code == 200 and result["r"].text == "done"
    # ~1.5 s (the request's rest, then the exit); a stop that waits out GRACEFUL_TIMEOUT takes 30 s.
    assert took < 10.0, f"stopping took {took:.2f}s"


def test_idle_server_stops_at_once_despite_an_idle_keep_alive_connection(devserver):
    server = devserver(GRACEFUL_TIMEOUT="30")  # what a stop held by the idle connection would take
    session = requests.Session()
    assert session.get(server.url + "/").status_code == 200  # leaves a kept-alive connection open
    start = time.monotonic()
    assert server.stop(signal.SIGINT) == 0
    assert time.monotonic() - start < 10.0  # ~0.1 s; held by the idle connection: GRACEFUL_TIMEOUT, 30 s


def test_requests_longer_than_graceful_timeout_are_cut_at_the_deadline(devserver):
    server = devserver(GRACEFUL_TIMEOUT="1")
    entered = add_slow_route(server)
    errors = []

    def call():
        try:
            server.get("/slow?seconds=30", timeout=20)
        except requests.RequestException as exc:
            errors.append(exc)

    request = threading.Thread(target=call)
    request.start()
    wait_for(lambda: entered(1), 5, message="the request inside the app")
    start = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - start < 10.0  # ~1.2 s (the 1 s deadline, then the exit); not cut: 30 s
    request.join(10)
    assert errors  # the 30 s request did not get to finish


def test_processes_the_app_started_do_not_outlive_it(devserver):
    server = devserver()
    server.append("kiosk/views.py", '''

@bp.get("/spawn")
def spawn():
    import subprocess
    return str(subprocess.Popen(["sleep", "300"]).pid)
''')
    server.wait_reloads(1)
    child = int(server.get("/spawn").text)
    server.append("kiosk/views.py", "\n")  # a reload retires the worker that started it
    server.wait_reloads(2)
    wait_for(lambda: not _alive(child), 10, message="the app's child to be gone")


def _alive(pid: int) -> bool:
    entry = process_table().get(pid)
    return entry is not None and entry[1] != "Z"


def test_as_pid_1_it_reaps_orphans_the_app_leaves(project, tmp_path):
    """In a PID namespace of its own the supervisor is PID 1: orphans are re-parented to it and
    must not pile up as zombies (as under `docker run` without --init)."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root for a PID namespace")
    server = DevServer(project, FLASK_DEBUG="0")
    server.append("kiosk/views.py", ORPHANS)
    server.process_prefix = ["unshare", "--pid", "--fork", "--kill-child"]
    server.start()
    supervisor = wait_for(lambda: _child_named(server.process.pid, "python"), 10, message="the supervisor")
    nspid = next(line for line in Path(f"/proc/{supervisor}/status").read_text().splitlines()
                 if line.startswith("NSpid:"))
    assert nspid.split()[-1] == "1", nspid  # its PID inside the namespace
    for _ in range(5):
        assert server.get("/orphan").status_code == 200
    # Each orphan (a sleep of 0.2 s) is re-parented to PID 1 and exits: nothing may stay a zombie.
    wait_for(lambda: not _zombie_children(supervisor) and _orphans_gone(server), 10,
             message="orphans reaped")
    os.kill(supervisor, signal.SIGTERM)  # what `docker stop` does to PID 1 (unshare forwards nothing)
    assert server.process.wait(10) == 0
    server.stop()
    assert not server.kill_leftovers()


ORPHANS = '''

@bp.get("/orphan")
def orphan():
    import subprocess
    subprocess.run(["sh", "-c", "sleep 0.2 &"], check=True)  # sh exits; its sleep is orphaned
    return "ok"
'''


def _child_named(parent: int, name: str) -> int | None:
    return next((pid for pid, (comm, _, ppid) in process_table().items() if ppid == parent and comm == name), None)


def _zombie_children(parent: int) -> list[int]:
    return [pid for pid, (_, state, ppid) in process_table().items() if state == "Z" and ppid == parent]


def _orphans_gone(server) -> bool:
    return not any(b"sleep" in Path(f"/proc/{pid}/cmdline").read_bytes()
                   for pid in processes_with_marker(server.marker) if Path(f"/proc/{pid}").exists())
