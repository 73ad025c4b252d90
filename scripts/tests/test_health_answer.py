"""The health answer (worker/health.py) and where the health check asks (scripts/healthcheck.py), in process.

Through a real server and the check's own process: test_health.py.
"""

import pytest
from flask import Flask
from werkzeug.test import Client, create_environ

import healthcheck
from devserver.worker.health import HEALTH_METHOD, HEALTH_TARGET, UNLOGGED, HealthAnswer, answer


def flask_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def index():
        return "the app's own"

    return app


def ask(application, method: str = HEALTH_METHOD, path: str = HEALTH_TARGET):
    """Call the WSGI app directly: (status, headers, body, the environ it saw)."""
    environ = create_environ(method=method)
    environ["PATH_INFO"] = path  # as pywsgi gives it for `OPTIONS *` (and for `%2A`, unquoted)
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen.update(status=status, headers=dict(headers))

    body = b"".join(application(environ, start_response))
    return seen["status"], seen["headers"], body, environ


def test_a_worker_that_serves_the_app_says_so():
    status, headers, body, environ = ask(HealthAnswer(flask_app(), "kiosk", None))
    assert (status, body) == ("200 OK", b"serving kiosk\n")
    assert headers == {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body)),
                       "Cache-Control": "no-store"}
    assert environ[UNLOGGED] is True  # the access log leaves it out


def test_a_worker_that_serves_the_load_error_says_its_first_line():
    problem = "RuntimeError: the database is not there\n  and a second line\n"
    status, _, body, _ = ask(HealthAnswer(flask_app(), "kiosk", problem))
    assert status == "503 Service Unavailable"
    assert body == b"not serving the app: RuntimeError: the database is not there\n"


def test_the_text_and_the_verdict_come_from_one_place():
    assert answer("blog:create_app()", None) == (True, "serving blog:create_app()")
    assert answer("blog", "\n  SyntaxError: invalid syntax (views.py, line 3)\nmore") == (
        False, "not serving the app: SyntaxError: invalid syntax (views.py, line 3)")


def the_app(environ, start_response):
    start_response("204 No Content", [])
    return [f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}".encode()]


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("OPTIONS", "/"), ("GET", "*"), ("OPTIONS", "/*"),
                                              ("options", "*")])
def test_every_other_request_is_the_apps(method, path):
    status, _, body, environ = ask(HealthAnswer(the_app, "kiosk", None), method, path)
    assert (status, body) == ("204 No Content", f"{method} {path}".encode())
    assert UNLOGGED not in environ


def test_through_werkzeugs_client():
    response = Client(HealthAnswer(flask_app(), "kiosk", None)).get("/")
    assert response.status_code == 200 and response.text == "the app's own"


@pytest.mark.parametrize(("environ", "asked"), [
    ({}, ("127.0.0.1", 5000)),  # the settings' defaults
    ({"HOST": " ", "PORT": ""}, ("127.0.0.1", 5000)),  # blank: the default, as the server reads it
    ({"HOST": "0.0.0.0", "PORT": "5000"}, ("127.0.0.1", 5000)),  # the container: every interface, asked on loopback
    ({"HOST": "::", "PORT": "8001"}, ("::1", 8001)),
    ({"HOST": "::1"}, ("::1", 5000)),
    ({"HOST": "[::1]", "PORT": "8001"}, ("::1", 8001)),  # http.client brackets it in the Host header
    ({"HOST": "192.0.2.7", "PORT": " 80 "}, ("192.0.2.7", 80)),
    ({"HOST": "localhost"}, ("localhost", 5000)),
])
def test_the_check_asks_where_the_server_listens(environ, asked):
    assert healthcheck.where(environ) == asked


def test_a_bad_port_is_the_settings_own_error(capsys, monkeypatch):
    monkeypatch.setenv("PORT", "50000000")
    assert healthcheck.main() == 1
    assert capsys.readouterr().err == "unhealthy: PORT='50000000' is not a port: use a whole number from 1 to 65535\n"
