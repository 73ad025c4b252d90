#!/usr/bin/env python3
"""The container's entrypoint (and `make dev` on the host): check the configuration, bind the port, supervise.

    compose -> entrypoint.py -> devserver.supervisor -> devserver.worker -> the Flask app

Runs from any directory: the app is looked up in the project root, the folder above scripts/.
"""

import os
import secrets
import sys
from pathlib import Path

SCRIPTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS_DIR))

from devserver.listener import BindError, bind  # noqa: E402
from devserver.log import say  # noqa: E402
from devserver.protocol import ROOT_ENV  # noqa: E402
from devserver.settings import EXIT_CONFIG, ConfigError, load_settings  # noqa: E402
from devserver.supervisor import Supervisor  # noqa: E402


def read_env_file(root: Path) -> None:
    """The project's optional .env, under the real environment (which wins), as Docker Compose reads it.

    python-dotenv, the parser Flask itself uses, rather than the shell: a CRLF, a BOM,
    `KEY = value` or a read-only shell variable (UID) then mean what they mean to compose.
    In the container compose has already set these; on the host (`make dev`) this reads them.
    """
    from dotenv import dotenv_values

    for name, value in dotenv_values(root / ".env").items():
        if value is not None:
            os.environ.setdefault(name, value)


def debugger_pin(settings) -> str | None:
    """One PIN for the whole run, handed to every worker so it survives reloads, logged once.

    Werkzeug prints its PIN only under its own reloader (WERKZEUG_RUN_MAIN), never under gevent.
    """
    if not settings.debug:
        return None
    if settings.debug_pin == "off":
        say("WARNING: WERKZEUG_DEBUG_PIN=off: anyone who can reach this port can run code on this machine")
        return "off"
    pin = settings.debug_pin or "-".join(f"{secrets.randbelow(1000):03d}" for _ in range(3))
    say(f"debugger is on; its PIN is {pin}")
    return pin


def main() -> int:
    os.chdir(SCRIPTS_DIR.parent)
    os.environ[ROOT_ENV] = str(SCRIPTS_DIR.parent)  # where every child works, by path
    read_env_file(SCRIPTS_DIR.parent)
    try:
        settings = load_settings()
    except ConfigError as exc:
        for line in str(exc).splitlines():
            say(f"error: {line}")
        return EXIT_CONFIG
    try:
        listener = bind(settings.host, settings.port)
    except BindError as exc:
        say(f"error: {exc}")
        return 1
    env = settings.worker_env()
    pin = debugger_pin(settings)
    if pin:
        env["WERKZEUG_DEBUG_PIN"] = pin
    return Supervisor(settings, listener, env).run()


if __name__ == "__main__":
    sys.exit(main())
