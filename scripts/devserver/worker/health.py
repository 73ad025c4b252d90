"""The health check's answer, and what it says: one place for both.

The question is `OPTIONS *` (scripts/healthcheck.py asks it): it asks about the server, not
about any URL (RFC 9110, 9.3.7), so answering it here claims no route of the app's and never
reaches the app. The worker answers it on the very path requests take (the shared socket, a
worker's accept, its handler): 200 while it serves the app, 503 while it serves the load error
instead. So the check tells whether the current code is being served.

Plain Python, no gevent: the health check imports the question from here.
"""

from __future__ import annotations

HEALTH_METHOD, HEALTH_TARGET = "OPTIONS", "*"

# Set in the environ of a request the worker answers itself (this one, live reload's stream and
# scripts): the access log (server.py) leaves it out. The container asks every few seconds, and a
# browser at every page view: a line each would bury the app's log.
UNLOGGED = "devserver.unlogged"


def answer(flask_app: str, problem: str | None) -> tuple[bool, str]:
    """(healthy, the answer's text) for a worker that loaded FLASK_APP, or failed to with `problem`."""
    if problem is None:
        return True, f"serving {flask_app}"
    return False, f"not serving the app: {problem.strip().splitlines()[0]}"


class HealthAnswer:
    """WSGI in front of the app: answers the health check, passes every other request through."""

    def __init__(self, application, flask_app: str, problem: str | None):
        self.application = application
        healthy, detail = answer(flask_app, problem)
        self.status = "200 OK" if healthy else "503 Service Unavailable"
        self.body = f"{detail}\n".encode()

    def stopping(self) -> None:
        """The server is stopping (it may answer for SHUTDOWN_DELAY still): a load balancer must stop sending."""
        self.status = "503 Service Unavailable"
        self.body = b"stopping\n"

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] != HEALTH_METHOD or environ.get("PATH_INFO") != HEALTH_TARGET:
            return self.application(environ, start_response)
        environ[UNLOGGED] = True
        start_response(self.status, [("Content-Type", "text/plain; charset=utf-8"),
                                     ("Content-Length", str(len(self.body))), ("Cache-Control", "no-store")])
        return [self.body]
