"""Run the app under gunicorn, configured from the settings (config.py): the production entrypoint's server.

Two things gunicorn alone does not do, and this does:
- a load error says what it means in production in one line (a read-only root filesystem, above all,
  where Flask's tutorial creates its instance folder), never "fix the code and save";
- a HUP whose new code does not load is refused, and the workers that serve go on: gunicorn alone
  would start workers that fail to boot and halt.
"""

from __future__ import annotations

import errno
import subprocess
import sys
import traceback
from pathlib import Path

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.errors import AppImportError

from devserver.production.config import gunicorn_config
from devserver.production.proxies import TrustedProxies
from devserver.settings import Settings
from devserver.worker import appload

CHECK_SECONDS = 120.0  # importing the new code before a reload, at most
# Run in a fresh interpreter before a reload: does the code on disk now load? The last line says why not.
CHECK = """
import sys
sys.path.insert(0, sys.argv[1])
from devserver.worker.appload import locate
try:
    locate(sys.argv[2])
except BaseException as exc:
    print(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
    sys.exit(1)
"""


def load_error_line(exc: BaseException, settings: Settings) -> str:
    """What a load error means in production, in one line."""
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        where = exc.filename or "a path in the image"
        return (f"the app wrote to {where} while loading, and production's root filesystem is read-only: write "
                "to the instance folder (docker-compose.yml's prod mounts a volume at /app/instance), to /tmp "
                "(memory), or to a volume of your own")
    if isinstance(exc, PermissionError):
        return f"the app may not use {exc.filename or 'a file'} while loading: {exc.strerror}"
    return f"could not load the app (FLASK_APP={settings.flask_app!r}): {appload.one_line(exc)}"


def load_app(settings: Settings):
    """The app, configured, behind the trusted proxies' gate; a load error is logged with the user's frames
    and raised as gunicorn's AppImportError (it exits: the orchestrator restarts it, the log says why)."""
    try:
        app = appload.locate(settings.flask_app)
        appload.configure(app, settings)
    except BaseException as exc:  # the user's code may raise anything, SystemExit included
        exc = appload.unwrapped(exc)
        exc.__traceback__ = appload.users_frames(exc.__traceback__)
        sys.stderr.write("".join(traceback.format_exception(exc)))
        raise AppImportError(f"error: {load_error_line(exc, settings)}") from None
    return TrustedProxies(app, settings.trusted_proxies)


class RefusingArbiter(Arbiter):
    """gunicorn's arbiter, refusing a reload (HUP) to code that does not load."""

    def reload(self):
        problem = new_code_problem(self.app.settings)
        if problem:
            self.log.error("reload refused: the new code does not load (%s); the workers that serve go on", problem)
            return
        super().reload()


def new_code_problem(settings: Settings) -> str | None:
    scripts = str(Path(__file__).resolve().parents[2])
    try:
        result = subprocess.run([sys.executable, "-c", CHECK, scripts, settings.flask_app], capture_output=True,
                                text=True, timeout=CHECK_SECONDS, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"importing it took over {CHECK_SECONDS:g}s"
    if result.returncode == 0:
        return None
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


class Application(BaseApplication):
    """gunicorn's application: its configuration from our settings, its WSGI app from FLASK_APP."""

    def __init__(self, settings: Settings):
        self.settings = settings
        super().__init__()

    def load_config(self):
        for name, value in gunicorn_config(self.settings).items():
            self.cfg.set(name, value)

    def load(self):
        return load_app(self.settings)

    def run(self):
        RefusingArbiter(self).run()


def serve(settings: Settings) -> int:
    """Serve until stopped (gunicorn exits the process itself: a halt's status is its own)."""
    Application(settings).run()
    return 0
