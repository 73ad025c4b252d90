#!/usr/bin/env python3
"""The release step: what runs once before a new version of the app serves, its migrations.

    docker compose run --rm web release          # the image's entrypoint, given `release`
    python scripts/entrypoint.py release         # the same, on the host (make release)

One place that compose, the tests' stack (tests/integration/conftest.py), Swarm and Kubernetes
call through the entrypoint, as Heroku's `release:` phase does. RELEASE_COMMAND names it; by
default `flask db upgrade` where the project has Flask-Migrate's `migrations/env.py`, else there
is nothing to do.
"""

import os
import shlex
from pathlib import Path

from devserver.log import say
from devserver.settings import read_variable

FLASK_MIGRATE = ("flask", "db", "upgrade")
NOTHING = "none"


def release_command(root: Path, environ=os.environ) -> list[str]:
    """The command to run, [] for none: RELEASE_COMMAND as set, else Flask-Migrate's upgrade if it is there."""
    text = read_variable("RELEASE_COMMAND", environ).strip()
    if text.lower() == NOTHING:
        return []
    if text:
        return shlex.split(text)
    return list(FLASK_MIGRATE) if (root / "migrations" / "env.py").is_file() else []


def release(root: Path) -> list[str]:
    """The release step's command, said; [] (and said) when there is nothing to do. The entrypoint runs
    it in its own place, so its exit status is the release's."""
    command = release_command(root)
    if not command:
        say("release: nothing to do (no RELEASE_COMMAND, no migrations/env.py)")
    else:
        say(f"release: {shlex.join(command)}")
    return command
