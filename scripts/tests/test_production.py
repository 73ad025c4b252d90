"""Production's engine, for real on this machine: the entrypoint with APP_ENV=production runs gunicorn's
arbiter over this project's worker class (devserver/production/), on a copy of the project with the
test app. What gunicorn alone does not do is checked here: a stuck worker replaced with its line named,
max-requests recycling that fails no request, SIGTERM's delay, a HUP to broken code refused, the
trusted proxies. The same image behind Caddy is in docker/test_production_stack.py.
"""

import errno
import http.client
import re
import signal
import socket
import threading
import time

import pytest
import requests

from devserver.production.application import load_error_line
from devserver.production.proxies import TrustedProxies
from devserver.settings import load_settings
from harness import DevServer, Polling, wait_for

SECRET = "test-secret-" + "x" * 32
ROUTES = '''

@bp.get("/spin")
def spin():
    with open(request.args["mark"], "w") as f:  # which worker is about to be stuck
        f.write(str(os.getpid()))
    while True:  # a CPU loop: the event loop never turns again
        pass


@bp.get("/csleep")
def csleep():
    import ctypes

    with open(request.args["mark"], "w") as f:
        f.write(str(os.getpid()))
    ctypes.CDLL(None).sleep(60)  # a blocking C call: gevent cannot switch away
    return "woke"


@bp.get("/whoami")
def whoami():
    return jsonify(remote_addr=request.remote_addr, scheme=request.scheme, host=request.host,
                   url=request.url_root)
'''


def health(server: DevServer) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("OPTIONS", "*")
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


@pytest.fixture
def production(project):
    """Start the production server on the project copy with `env`; stopped at the end, leftovers checked."""
    servers = []
    with open(project / "kiosk" / "views.py", "a") as f:
        f.write(ROUTES)

    def start(**env) -> DevServer:
        server = DevServer(project, **{"APP_ENV": "production", "FLASK_DEBUG": "0", "SECRET_KEY": SECRET,
                                       "SHUTDOWN_DELAY": "0", **env})
        servers.append(server)
        server.start(wait=False)
        wait_for(lambda: health(server) == 200 or server.process.poll() is not None, 30, message="healthy")
        assert server.process.poll() is None, server.log()
        return server

    yield start
    for server in servers:
        server.stop(timeout=40)
        leftovers = server.kill_leftovers()
        assert not leftovers, f"processes left behind: {leftovers}\n{server.log()}"


def worker_pids(server: DevServer) -> set[int]:
    return {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", server.log())}


def test_a_stuck_worker_is_replaced_and_its_line_named_while_the_others_serve(production, tmp_path):
    """One worker in a CPU loop, one in a blocking C call; the third answers meanwhile, and both are
    replaced past WORKER_TIMEOUT. The failure guarded: never replaced (gunicorn's heartbeat not kept)."""
    server = production(WEB_CONCURRENCY="3", WORKER_TIMEOUT="8")
    booted = worker_pids(server)
    assert len(booted) == 3

    def stuck(path):
        try:
            requests.get(server.url + path, timeout=60)
        except requests.RequestException:
            pass  # its worker is killed under it

    started = time.monotonic()
    stuck_pids = []
    for path in ("/spin", "/csleep"):  # one after the other: a worker accepts no second one once stuck
        mark = tmp_path / path.strip("/")
        threading.Thread(target=stuck, args=(f"{path}?mark={mark}",), daemon=True).start()
        stuck_pids.append(int(wait_for(lambda m=mark: m.exists() and m.read_text(), 10, 0.02, f"{path} running")))
    assert len(set(stuck_pids)) == 2
    assert server.get("/pid").json()["pid"] not in stuck_pids  # the third worker answers while two are stuck
    wait_for(lambda: len(worker_pids(server) - booted) >= 2, 40, 0.2, "two new workers")
    replaced_after = time.monotonic() - started
    log = server.log()
    assert "while serving GET /spin" in log and "while True:" in log, log  # the CPU loop's request and line
    assert "while serving GET /csleep" in log and "ctypes.CDLL(None).sleep(60)" in log, log
    assert "kiosk/views.py:" in log
    assert log.count("WORKER TIMEOUT") >= 2, log
    assert replaced_after < 8 + 20, replaced_after  # measured ~9 s: WORKER_TIMEOUT + gunicorn's checks
    wait_for(lambda: health(server) == 200, 10, message="healthy again")


def test_max_requests_recycles_workers_under_load_and_fails_no_request(production):
    """Kept-alive and new connections, without a pause: every worker is replaced several times."""
    server = production(WEB_CONCURRENCY="2", MAX_REQUESTS="40", GRACEFUL_TIMEOUT="5")
    with Polling(server.url + "/pid", keep_alive=(True, False) * 3) as clients:
        wait_for(lambda: server.log().count("(MAX_REQUESTS)") >= 4, 60, 0.1, "four recycled workers")
    assert clients.counts().keys() == {200}, clients.counts()
    assert len(clients.statuses) > 160


def test_sigterm_answers_through_the_delay_with_503_health_then_stops(production):
    """Clients keep sending during SHUTDOWN_DELAY: none fails; the health check says 503 at once."""
    server = production(WEB_CONCURRENCY="2", SHUTDOWN_DELAY="3", GRACEFUL_TIMEOUT="5")
    with Polling(server.url + "/pid", keep_alive=(True, False) * 2) as clients:
        wait_for(lambda: len(clients.statuses) > 20, 10, message="load")
        server.process.send_signal(signal.SIGTERM)
        sent_at = time.monotonic()
        wait_for(lambda: health(server) == 503, 2, 0.05, "503 from the health check")
        before = len(clients.statuses)
        wait_for(lambda: time.monotonic() - sent_at > 2.5, 5, 0.1, "the delay nearly over")
    assert clients.counts().keys() == {200}, clients.counts()
    assert len(clients.statuses) > before + 20  # still answered during the delay
    assert server.process.wait(20) == 0


def test_a_hup_to_code_that_does_not_load_is_refused_and_the_old_workers_serve(production):
    server = production(WEB_CONCURRENCY="2")
    booted = worker_pids(server)
    wait_for(lambda: {server.get("/pid").json()["pid"] for _ in range(8)} == booted, 20, 0.1, "both serving")
    server.edit("kiosk/views.py", '@bp.get("/pid")', 'syntax error here\n@bp.get("/pid")')
    server.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in server.log(), 60, 0.1, "the refusal")
    assert "SyntaxError" in server.log().split("reload refused")[1].splitlines()[0]
    assert server.get("/pid").status_code == 200 and worker_pids(server) == booted
    server.edit("kiosk/views.py", 'syntax error here\n', '')
    server.process.send_signal(signal.SIGHUP)
    wait_for(lambda: len(worker_pids(server) - booted) == 2, 60, 0.1, "new workers")
    wait_for(lambda: server.get("/pid").json()["pid"] not in booted, 30, 0.1, "the new code served")


def raw_status(port: int, request: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        return int(s.recv(65536).split(b" ", 2)[1])


def test_limits_give_414_and_431(production):
    server = production(LIMIT_REQUEST_LINE="200", LIMIT_REQUEST_FIELD_SIZE="300", LIMIT_REQUEST_FIELDS="20")
    assert raw_status(server.port, b"GET /" + b"a" * 400 + b" HTTP/1.1\r\nHost: x\r\n\r\n") == 414
    assert raw_status(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 600 + b"\r\n\r\n") == 431
    many = b"".join(b"X-%d: y\r\n" % i for i in range(40))
    assert raw_status(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n") == 431


def test_forwarded_headers_count_from_a_trusted_proxy_only(production):
    forged = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    untrusted = production(TRUSTED_PROXIES="10.9.9.9")
    seen = untrusted.get("/whoami", headers=forged).json()
    assert seen["remote_addr"] == "127.0.0.1" and seen["scheme"] == "http", seen
    assert "evil.example" not in seen["url"], seen
    untrusted.stop()
    trusted = production(TRUSTED_PROXIES="127.0.0.1")
    seen = trusted.get("/whoami", headers=forged).json()
    assert seen["remote_addr"] == "6.6.6.6" and seen["scheme"] == "https" and seen["host"] == "evil.example"


@pytest.mark.unit
def test_a_read_only_filesystem_at_load_is_one_line_that_says_where_to_write():
    error = OSError(errno.EROFS, "Read-only file system", "/app/logs")
    line = load_error_line(error, load_settings({"APP_ENV": "production", "SECRET_KEY": SECRET}))
    assert "\n" not in line and "/app/logs" in line and "read-only" in line
    assert "/app/instance" in line and "/tmp" in line and "save" not in line


@pytest.mark.unit
def test_a_trusted_proxy_named_by_host_is_looked_up_when_it_comes_not_before():
    """compose starts the proxy after the app: its name resolves only later, and is looked up then."""
    seen = {}

    def app(environ, start_response):
        seen.clear()
        seen.update(environ)
        start_response("200 OK", [])
        return [b""]

    gate = TrustedProxies(app, ("localhost",))
    assert gate.resolved == []  # nothing looked up at start
    environ = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6", "HTTP_X_FORWARDED_PROTO": "https",
               "wsgi.url_scheme": "http", "HTTP_HOST": "x", "SERVER_NAME": "x", "SERVER_PORT": "80"}
    gate(dict(environ), lambda *a: None)
    assert seen["REMOTE_ADDR"] == "6.6.6.6" and seen["wsgi.url_scheme"] == "https"
    gate({**environ, "REMOTE_ADDR": "10.1.2.3"}, lambda *a: None)  # not the proxy: its headers dropped
    assert seen["REMOTE_ADDR"] == "10.1.2.3" and "HTTP_X_FORWARDED_FOR" not in seen
