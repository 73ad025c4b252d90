"""The health check asks the server, not the app: any app is healthy while its current code serves.

scripts/healthcheck.py is run as the container runs it (a process, against the real server).
"""

import http.client
import os
import subprocess
import sys

from harness import ROOT, wait_for


def health_check(server, **env: str) -> subprocess.CompletedProcess:
    """The check as the container runs it, told the server's PORT (and HOST: the default unless given)."""
    inherited = {k: v for k, v in os.environ.items() if k != "HOST"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "healthcheck.py")], capture_output=True,
                          text=True, timeout=10, env={**inherited, "PORT": str(server.port), **env})


def options(server, target: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("OPTIONS", target)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_healthy_while_the_app_serves_and_never_logged(devserver):
    server = devserver()
    result = health_check(server)
    assert result.returncode == 0 and result.stdout.strip() == "serving kiosk", result
    assert server.get("/").status_code == 200  # a request that is logged, after the checks
    wait_for(lambda: '"GET / HTTP/1.1" 200' in server.log(), 5, message="the access log line")
    assert "OPTIONS" not in server.log()
    # Not the question spelt otherwise: neither is a form of request target (RFC 9112 3.2), and the strict
    # reading (strict_http.py) refuses both, as gunicorn does.
    assert options(server, "*?probe=1")[0] == options(server, "%2A")[0] == 400


def test_unhealthy_while_the_newest_code_fails_to_load_and_healthy_once_fixed(devserver):
    server = devserver()
    server.append("kiosk/views.py", "\nraise RuntimeError('the database is not there')\n")
    server.wait_reloads(1)
    result = wait_for(lambda: (r := health_check(server)).returncode == 1 and r, 10, message="unhealthy")
    assert result.stderr.strip() == "unhealthy: not serving the app: RuntimeError: the database is not there"
    server.edit("kiosk/views.py", "\nraise RuntimeError('the database is not there')\n", "\n")
    wait_for(lambda: health_check(server).returncode == 0, 10, message="healthy again")


def test_unhealthy_when_no_worker_answers():
    """Nothing listening on the port: the check fails with its reason, quickly. As in the server's
    container, where the entrypoint runs: this machine's own PID 1 (an init, a sandbox's agent) is no
    command the image was given (test_given_command.py covers that reading)."""
    inherited = {k: v for k, v in os.environ.items() if k != "HOST"}
    check = ("import sys, healthcheck; healthcheck.command_instead = lambda: None; "  # the server's container
             "sys.exit(healthcheck.main())")
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=10,
                            cwd=ROOT / "scripts", env={**inherited, "PORT": "1"})  # nothing listens on port 1
    assert result.returncode == 1 and result.stderr.startswith("unhealthy: no answer on port 1:")


def test_the_app_keeps_every_url_and_method(devserver):
    """Only `OPTIONS *` is the server's: OPTIONS on a path, and /healthz, are the app's as before."""
    server = devserver()
    server.append("kiosk/views.py", '\n\n@bp.get("/healthz")\ndef healthz():\n    return "the app\'s own"\n')
    server.wait_reloads(1)
    assert server.get("/healthz").text == "the app's own"
    status, _ = options(server, "/")
    assert status == 200  # Flask's automatic OPTIONS answer for /
    assert options(server, "*") == (200, "serving kiosk\n")


def test_a_load_error_is_logged_once_not_on_every_request(devserver):
    server = devserver()
    server.append("kiosk/views.py", "\nraise RuntimeError('broken-at-import')\n")
    server.wait_reloads(1)
    for _ in range(3):
        page = server.get("/")
        assert page.status_code == 500 and "broken-at-import" in page.text
    health_check(server)
    wait_for(lambda: server.log().count('"GET / HTTP/1.1" 500') == 3, 5, message="three access log lines")
    assert server.log().count("Traceback") == 1, server.log()


def test_asked_where_the_server_listens(devserver):
    """HOST as the server reads it: a server on another address is asked there, not on 127.0.0.1."""
    server = devserver(HOST="127.0.0.2")  # loopback too, on Linux: not the address the check used to ask
    result = health_check(server, HOST="127.0.0.2")
    assert result.returncode == 0 and result.stdout.strip() == "serving kiosk", result
    assert health_check(server).stderr.startswith(f"unhealthy: no answer on port {server.port}:")


def test_every_interface_is_asked_on_loopback(devserver):
    server = devserver(HOST="::")  # IPv6 and IPv4 both (listener.py)
    for host in ("::", "0.0.0.0", "::1", "[::1]"):
        result = health_check(server, HOST=host)
        assert result.returncode == 0 and result.stdout.strip() == "serving kiosk", (host, result)
