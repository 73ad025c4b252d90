"""Step-debugging with debugpy (DEBUGGER=debugpy): the whole server runs under debugpy's listener.

Why the whole server and not `debugpy.listen()` in the app: a reload starts the new worker while
the old one still serves, and the old one holds the port; under `python -m debugpy --listen`, the
adapter owns the port and every process started or forked below it (the fork server, each
worker) becomes a debug session of its own, which an editor with `subProcess` on attaches to.
gevent's processes hang under debugpy unless GEVENT_SUPPORT=True is in their environment before
debugpy starts in them: it is set here for every process, whoever started the debugger.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from devserver.log import say
from devserver.protocol import ENV_FILE_READ_ENV
from devserver.settings import ConfigError, Settings, read_variable
from devserver.supervisor.debugpy_relay import RELAY_ENV, relay_spec

GEVENT_SUPPORT = "GEVENT_SUPPORT"


def under_a_debugger() -> bool:
    """debugpy (or PyCharm's pydevd) runs in this process: started by us, `python -m debugpy` or an editor."""
    return "pydevd" in sys.modules


def with_gevent_support() -> None:
    """For the processes we start: without it their first fork or monkey-patching hangs in pydevd."""
    if not read_variable(GEVENT_SUPPORT):  # as its row in settings.py parses it, from os.environ now
        os.environ[GEVENT_SUPPORT] = "True"
        say("a debugger runs this server: GEVENT_SUPPORT=True is set for the fork server and the workers")


def run_under_debugpy(settings: Settings, script: str) -> None:
    """Start this script again under debugpy's listener; returns only if it cannot."""
    if importlib.util.find_spec("debugpy") is None:
        raise ConfigError("DEBUGGER=debugpy, but debugpy is not installed in this environment: "
                          "`pip install debugpy` (requirements-test.txt has it: `make install`, or the dev image)")
    os.environ[GEVENT_SUPPORT] = "True"
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # its warning about frozen modules
    # A debugger runs any code for whoever reaches it, with no PIN: on a machine of your own it listens
    # on loopback only, whatever HOST says. In the container the published port must reach it, so it
    # listens on the container's loopback, beside, and a relay in the supervisor takes the published
    # port for connections from this machine only (supervisor/debugpy_relay.py).
    address = f"127.0.0.1:{settings.debugpy_port}"
    if os.environ.get(ENV_FILE_READ_ENV):
        relayed = ("127.0.0.1", settings.debugpy_port + 1)
        os.environ[RELAY_ENV] = relay_spec((settings.host, settings.debugpy_port), relayed)
        address = f"{relayed[0]}:{relayed[1]}"
    say(f"debugpy listens on 127.0.0.1:{settings.debugpy_port}: attach your editor there (VS Code: \"Attach to "
        "the dev server\" in .vscode/launch.json); breakpoints hit in every worker, across reloads")
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-X", "frozen_modules=off", "-m", "debugpy", "--listen", address,
                              script, *sys.argv[1:]])
