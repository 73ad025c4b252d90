"""Step-debugging in the dev container (compose.debug.yaml): an editor on the host attaches to
debugpy through 127.0.0.1, with the project mapped to /app; a breakpoint hits in the first worker
and after a reload; while a worker is paused the container stays healthy, and a save that ends
the paused worker says so.
"""

import subprocess

import pytest

from compose_stack import Stack
from dap_client import ROUTE, DebugClient, breakpoint_line, hit_and_continue, request_in_background
from harness import free_port, wait_for

DEBUG = ["-f", "docker-compose.yml", "-f", "compose.debug.yaml"]


@pytest.fixture(scope="module")
def debugged(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("debug"), DEBUGPY_PORT=str(free_port()))
    with open(s.dir / "kiosk" / "views.py", "a") as f:
        f.write(ROUTE)
    s.write_env(ACCESS_LOG="0", GRACEFUL_TIMEOUT="1")
    try:
        s.compose(*DEBUG, "up", "-d", "--build", "web")
        s.wait_healthy()
        yield s
    finally:
        s.down()


def attach(s: Stack) -> tuple[DebugClient, str, int]:
    views = s.dir / "kiosk" / "views.py"
    client = DebugClient("127.0.0.1", int(s.env["DEBUGPY_PORT"]), {str(views): [breakpoint_line(views)]})
    client.attach({"pathMappings": [{"localRoot": str(s.dir), "remoteRoot": "/app"}]})
    return client, str(views), breakpoint_line(views)


def test_the_debugger_listens_on_loopback_only(debugged):
    bindings = debugged.inspect()["HostConfig"]["PortBindings"]["5678/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": debugged.env["DEBUGPY_PORT"]}]
    assert "debugpy listens on 0.0.0.0:5678" in debugged.logs()


def test_a_breakpoint_hits_in_the_container_in_the_first_worker_and_after_a_reload(debugged):
    client, path, line = attach(debugged)
    try:
        first = hit_and_continue(client, debugged.url + "/debugged", path, line)
        debugged.edit("kiosk/views.py", "# a breakpoint here", "# a breakpoint here (saved again)")
        wait_for(lambda: debugged.logs().count("reloaded in") >= 1, 30, message="the reload")
        second = hit_and_continue(client, debugged.url + "/debugged", path, line)
        assert second is not first
    finally:
        client.close()


def test_paused_at_a_breakpoint_the_container_stays_healthy_and_a_save_says_what_it_ends(debugged):
    client, path, line = attach(debugged)
    try:
        worker = client.wait_for_process(debugged.get("/pid").json()["pid"])
        request_in_background(debugged.url + "/debugged")
        stop = client.next_stop(timeout=20)
        assert stop.session is worker
        check = subprocess.run(["docker", "exec", debugged.container(), "python", "/app/scripts/healthcheck.py"],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0 and "paused in the debugger?" in check.stdout, check.stdout + check.stderr
        debugged.edit("kiosk/views.py", "def debugged():", "def debugged():  # saved while paused")
        wait_for(lambda: "Paused at a breakpoint? Its debug session ends with it." in debugged.logs(), 30,
                 message="the paused worker's end, said")
    finally:
        client.close()
