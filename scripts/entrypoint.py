#!/usr/bin/env python3
"""The container's entrypoint (and `make dev` on the host): check the configuration, bind the port, supervise.

    compose -> entrypoint.py -> devserver/supervisor/ -> devserver/worker/ -> the Flask app     (development)
    compose -> entrypoint.py -> devserver/production/ (gunicorn) -> its worker -> the Flask app (production)
    compose -> entrypoint.py -> devserver/supervisor/ -> devserver/worker/tasks.py -> Celery or RQ -> tasks
                                                                         (TASK_WORKER; in production the queue's own)

Given a command, it runs that instead, with the environment the app has in a worker
(`docker compose run --rm web flask shell`, `pytest`, a worker service's `command: rq worker`);
given `release`, the release step (release.py). Runs from any directory: the app is looked up in
the project root, the folder above scripts/.
"""

import dataclasses
import os
import secrets
import sys
from pathlib import Path

SCRIPTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS_DIR))

from devserver.log import say, unprefixed
from devserver.protocol import ENV_FILE_READ_ENV, ROOT_ENV
from devserver.release import release
from devserver.settings import EXIT_CONFIG, ConfigError, Settings, load_settings
from devserver.stepdebug import run_under_debugpy, under_a_debugger, with_gevent_support
from devserver.supervisor.debugpy_relay import start_from_env as start_debugpy_relay
from devserver.supervisor.listener import BindError, bind, no_port
from devserver.supervisor.start import supervise

ENV_FILES = (".env", ".flaskenv")  # the private one first: it wins over the committed one, as in Flask


def read_env_file(root: Path) -> None:
    """The project's optional .env and .flaskenv, under the real environment (which wins), as
    Docker Compose reads them (docker-compose.yml's env_file) and as Flask's CLI does: a variable
    set in the environment stays, one in .env wins over the same in .flaskenv.

    python-dotenv, the parser Flask itself uses, rather than the shell: a CRLF, a BOM,
    `KEY = value` or a read-only shell variable (UID) then mean what they mean to compose.
    Under compose (ENV_FILE_READ_ENV set) compose has read them already, and read them last at
    `up`: reading them again would mix an edited file with what compose passed.
    """
    if os.environ.get(ENV_FILE_READ_ENV):
        return
    from dotenv import dotenv_values

    for path in (root / name for name in ENV_FILES):
        if not path.exists():
            continue
        try:
            if path.is_dir():
                raise IsADirectoryError(21, "is a directory", str(path))
            values = dotenv_values(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}: "
                              "make it a readable UTF-8 text file of KEY=value lines, or remove it") from None
        for name, value in values.items():
            if value is not None:
                os.environ.setdefault(name, value)


def with_debugger_pin(settings: Settings) -> Settings:
    """One PIN for the whole run, handed to every worker so it survives reloads, logged once.

    Werkzeug prints its PIN only under its own reloader (WERKZEUG_RUN_MAIN), never under gevent.
    """
    if not settings.debug:
        return settings
    if settings.debug_pin == "off":
        say("WARNING: WERKZEUG_DEBUG_PIN=off: anyone who can reach this port can run code on this machine")
        return settings
    pin = settings.debug_pin or "-".join(f"{secrets.randbelow(1000):03d}" for _ in range(3))
    say(f"debugger is on; its PIN is {pin}")
    return dataclasses.replace(settings, debug_pin=pin)


def run_given(command: list[str]) -> int:
    """Run `command` in this process's place with the app's environment as a worker has it (FLASK_APP,
    FLASK_DEBUG: `flask` commands debug as the workers do). Settings the server would refuse are said,
    not enforced: a shell must still open to fix them."""
    try:
        os.environ.update(load_settings().exported_env())
    except ConfigError as exc:
        for line in str(exc).splitlines():
            say(f"warning: the server would not start: {line}")
    fix = "give a command this image has (docker compose run --rm web sh, then look around)"
    if command == ["release"]:
        command, fix = release(SCRIPTS_DIR.parent), "set RELEASE_COMMAND to a command this image has"
        if not command:
            return 0
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        say(f"error: cannot run {command[0]!r}: {exc.strerror}: {fix}")
        return 127


def serve_production(settings: Settings) -> int:
    """Production: gunicorn's arbiter over our gevent workers (devserver/production/), its log unprefixed."""
    from devserver.production.application import serve

    unprefixed()
    return serve(settings)


def main(argv: list[str] | None = None) -> int:
    """Serve, or run the command in `argv` (default: this process's arguments)."""
    command = sys.argv[1:] if argv is None else argv
    os.chdir(SCRIPTS_DIR.parent)
    os.environ[ROOT_ENV] = str(SCRIPTS_DIR.parent)  # where every child works, by path
    try:
        read_env_file(SCRIPTS_DIR.parent)
        if command:
            return run_given(command)
        settings = load_settings()
        if settings.debugger and not under_a_debugger():
            run_under_debugpy(settings, __file__)  # this script again, under debugpy: never returns
        if under_a_debugger():
            with_gevent_support()
            start_debugpy_relay()  # in the container: the published port, for this machine only
    except ConfigError as exc:
        for line in str(exc).splitlines():
            say(f"error: {line}")
        return EXIT_CONFIG
    if settings.task_worker and settings.production:
        return run_given(list(settings.task_worker))  # the queue's own worker, as its docs run it: nothing reloads
    if settings.production:
        return serve_production(settings)
    if settings.task_worker:
        return supervise(settings, no_port())  # reloaded as the web workers are (devserver/worker/tasks.py)
    try:
        listener = bind(settings.host, settings.port)
    except BindError as exc:
        say(f"error: {exc}")
        return 1
    return supervise(with_debugger_pin(settings), listener)


if __name__ == "__main__":
    sys.exit(main())
