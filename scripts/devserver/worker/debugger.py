"""Werkzeug's interactive debugger, for the developer's own machine only.

Werkzeug checks the Host header for its console, not for its traceback pages, and it answers
whoever reaches the port: in the container that is every other container on the compose
network. Here a request gets the debugger (console, tracebacks with their source and locals)
only when it comes from this machine (own_machine.py) under a trusted Host; every other one
gets the app without it, and an error is a bare 500 with nothing of the traceback (the log
keeps it). The PIN is handed over here, so it need not sit in the environment of the app's
processes.
"""

from __future__ import annotations

import sys
import traceback

from werkzeug.debug import DebuggedApplication
from werkzeug.exceptions import BadRequest
from werkzeug.sansio.utils import host_is_trusted

from devserver.own_machine import is_own_machine, own_machine_addresses
from devserver.settings import Settings

REFUSED = (b"Internal Server Error\n\nThe debugger answers only the developer's own machine "
           b"(see the server log for the traceback).\n")


def debugged(app, settings: Settings, without=None):
    """`app` under the debugger for this machine's requests; `without` (default: `app` with errors as a
    bare 500) for everyone else's."""
    debugger = DebuggedApplication(app, evalex=True, pin_logging=False)
    # Werkzeug before 3.0.3 (an app's old pins) checks no Host at all (CVE-2024-34069): the gate does.
    checks_hosts = hasattr(debugger, "trusted_hosts")
    trusted = debugger.trusted_hosts if checks_hosts else [".localhost", "127.0.0.1"]
    trusted.extend(settings.trusted_hosts)
    debugger.pin_cookie_name  # noqa: B018 - computed now (it sets a PIN of its own too, replaced next)
    debugger.pin = None if settings.debug_pin in (None, "off") else settings.debug_pin
    return OwnMachineOnly(debugger, without or bare_errors(app), own_machine_addresses(), trusted, checks_hosts)


class OwnMachineOnly:
    """WSGI: the debugger for this machine under a trusted Host, the app without it for anyone else."""

    def __init__(self, debugger: DebuggedApplication, without, others: frozenset[str], trusted_hosts: list[str],
                 debugger_checks_hosts: bool = True):
        self.debugger = debugger
        self.without = without
        self.others = others
        self.trusted_hosts = trusted_hosts
        self.debugger_checks_hosts = debugger_checks_hosts

    def __call__(self, environ, start_response):
        if not is_own_machine(environ.get("REMOTE_ADDR", ""), self.others):
            return self.without(environ, start_response)
        if host_is_trusted(environ.get("HTTP_HOST"), self.trusted_hosts):
            return self.debugger(environ, start_response)
        if self.asks_the_debugger(environ):  # its console or a command, under an untrusted Host: 400
            if self.debugger_checks_hosts:
                return self.debugger(environ, start_response)  # Werkzeug's own answer
            return BadRequest("untrusted Host for the debugger (DEBUGGER_TRUSTED_HOSTS)")(environ, start_response)
        return self.without(environ, start_response)  # a traceback page is no less than the console

    def asks_the_debugger(self, environ) -> bool:
        return environ.get("PATH_INFO") == self.debugger.console_path or "__debugger__=" in environ.get(
            "QUERY_STRING", "")


def bare_errors(app):
    """The app, its errors answered with a bare 500 (the traceback goes to the log only)."""

    def serve(environ, start_response):
        try:
            return app(environ, start_response)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain; charset=utf-8"),
                                                         ("Content-Length", str(len(REFUSED)))])
            return [REFUSED]

    return serve
