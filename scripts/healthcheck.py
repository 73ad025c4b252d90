"""The container's health check: healthy when a worker serves the app's current code.

It asks `OPTIONS *` on this container's port: a question about the server, which the
worker answers itself (devserver/worker/server.py, HealthAnswer), so it claims no URL of the
app's, never reaches the app and is never logged. 200: the current code is served.
503: the newest code failed to load, and its error page is served. No answer: no
worker serves. A Python file because slim images have no curl; run by HEALTHCHECK in
the Dockerfile.

Under a step debugger (DEBUGGER=debugpy) a worker paused at a breakpoint answers nothing: then a
connection the server accepts (the supervisor's socket) is enough, so a debugging session does
not turn the container unhealthy.
"""

import http.client
import os
import sys


def main() -> int:
    connection = http.client.HTTPConnection("127.0.0.1", int(os.environ.get("PORT", "5000")), timeout=2)
    try:
        connection.request("OPTIONS", "*")
        response = connection.getresponse()
        detail = response.read().decode(errors="replace").strip()
    except TimeoutError as exc:
        from devserver.settings import parse_debugger  # its parser, as the server read DEBUGGER

        if parse_debugger("DEBUGGER", os.environ.get("DEBUGGER", "")) and connection.sock is not None:
            print("no answer, but the port accepts: a worker paused in the debugger?")
            return 0
        print(f"unhealthy: no answer on port {connection.port}: {exc}", file=sys.stderr)
        return 1
    except (OSError, http.client.HTTPException) as exc:
        print(f"unhealthy: no answer on port {connection.port}: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if response.status != 200:
        print(f"unhealthy: {detail or response.status}", file=sys.stderr)
        return 1
    print(detail)
    return 0


if __name__ == "__main__":
    sys.exit(main())
