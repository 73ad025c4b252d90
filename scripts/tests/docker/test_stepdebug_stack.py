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
    assert "debugpy listens on 127.0.0.1:5678" in debugged.logs()


# Run in a second container on the compose network: what any other container there (a database's
# image, a worker running a dependency's code) can do. Prints one JSON object.
NEIGHBOUR = """
import json, socket, urllib.request, urllib.error

def get(path, host):
    request = urllib.request.Request("http://web:5000" + path, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")

def dap():
    try:
        with socket.create_connection(("web", 5678), timeout=10) as s:
            body = json.dumps({"seq": 1, "type": "request", "command": "initialize",
                               "arguments": {"adapterID": "x"}}).encode()
            s.sendall(b"Content-Length: %d\\r\\n\\r\\n" % len(body) + body)
            return s.recv(65536).decode(errors="replace")
    except OSError as e:
        return "error: " + str(e)

console = get("/console", "localhost:5000")  # a trusted Host: only the peer is wrong
boom = get("/boom", "localhost:5000")
print(json.dumps({"console": console, "boom": boom, "dap": dap()}))
"""


def test_another_container_gets_no_console_no_traceback_and_no_debugpy(debugged):
    import json

    image = debugged.inspect()["Config"]["Image"]
    network = next(iter(debugged.inspect()["NetworkSettings"]["Networks"]))
    ran = subprocess.run(["docker", "run", "--rm", "--network", network, "--entrypoint", "python", image, "-c",
                          NEIGHBOUR], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout.strip().splitlines()[-1])
    status, page = seen["console"]
    assert status != 200 and "Interactive Console" not in page, seen["console"]
    status, page = seen["boom"]
    assert status == 500 and "kaboom-from-the-app" not in page and "Traceback" not in page, page[:500]
    assert "Content-Length" not in seen["dap"], seen["dap"]  # no DAP answer: refused by the relay
    assert "refused a debugger connection from" in debugged.logs()
    # ... while this machine, through the published port, gets all three.
    console = debugged.get("/console", headers={"Host": f"127.0.0.1:{debugged.port}"})
    assert console.status_code == 200 and "Interactive Console" in console.text
    boom = debugged.get("/boom")
    assert boom.status_code == 500 and "kaboom-from-the-app" in boom.text and "Traceback" in boom.text
    client, _, _ = attach(debugged)  # debugpy answers through the relay, the worker's own session too
    try:
        client.wait_for_process(debugged.get("/pid").json()["pid"])
    finally:
        client.close()


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
