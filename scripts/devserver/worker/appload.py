"""Turn FLASK_APP into the WSGI callable a worker serves, or into an error page if it can't.

Locating the app is Flask's own code (`flask.cli.prepare_import` and
`locate_app`), so `module`, `module:app`, `module:create_app()` and
`path/to/file.py` mean exactly what they mean to `flask run`.
"""

from __future__ import annotations

import html
import io
import os
import re
import sys
import traceback

from devserver.log import say
from devserver.settings import Settings
from devserver.stamps import stamp
from devserver.worker import freshsource
from devserver.worker.loadwatch import LoadWatch


def locate(flask_app: str):
    """Import the user's module and find the Flask app in it, as `flask run` does."""
    from flask.cli import locate_app, prepare_import

    path, name = (re.split(r":(?![\\/])", flask_app, maxsplit=1) + [None])[:2]
    return locate_app(prepare_import(path), name)


def configure(app, settings: Settings) -> None:
    """Apply the parsed flags over whatever the factory left in app.config."""
    app.debug = settings.debug
    app.config["TEMPLATES_AUTO_RELOAD"] = settings.templates_auto_reload
    # Flask caches the Jinja environment at first use, and auto_reload with it.
    if "jinja_env" in app.__dict__:
        app.jinja_env.auto_reload = settings.templates_auto_reload


def with_debugger(app, settings: Settings, without=None):
    """Werkzeug's interactive debugger, only ever in debug (production + debug never starts), and only for
    the developer's own machine (worker/debugger.py; `without`: what everyone else gets). The PIN is the
    supervisor's, the same across reloads; it logs it once, so no worker logs it again."""
    if not settings.debug or settings.production:
        return app
    from devserver.worker.debugger import debugged

    return debugged(app, settings, without)


def load(settings: Settings, also=None, also_what: str = "") -> tuple[object, str | None]:
    """The app ready to serve and None, or an app answering with the load error and that error's line.
    `also`: what else to import after the app, `also_what` naming it in the error (a task worker's queue app)."""
    freshsource.install(os.getcwd())
    what = f"the app (FLASK_APP={settings.flask_app!r})"
    try:
        with LoadWatch(os.getcwd()):
            stamp("import")
            app = locate(settings.flask_app)
            stamp("imported")
            if also is not None:
                what = also_what
                also()
        configure(app, settings)
        return with_debugger(app, settings), None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the user's code may raise anything, SystemExit included
        exc = unwrapped(exc)
        exc.__traceback__ = users_frames(exc.__traceback__)
        if not isinstance(exc, Exception):
            exc = exited_while_loading(exc)
        say(f"error: could not load {what}:")
        sys.stderr.write("".join(traceback.format_exception(exc)))
        say(advice(exc, settings.reload))
        return error_app(exc, settings), one_line(exc)


def advice(exc: BaseException, reloads: bool = True) -> str:
    """What to do next. Not the code's fault when the container's user may not touch a file. Where
    nothing reloads (RELOAD=0), a restart is what brings the fix in."""
    then = "the server reloads by itself once the file is fixed." if reloads else \
        "then restart the server (RELOAD=0: nothing reloads it)."
    if isinstance(exc, PermissionError):
        where = f" {exc.filename}" if exc.filename else ""
        return (f"the server's user (uid {os.getuid()}) may not use{where}: give it access (in the container: "
                "set UID and GID in .env to your own, `id -u` and `id -g`, then `docker compose up --build`); "
                + then)
    return "fix the code and save: the server reloads by itself." if reloads else f"fix the code, {then}"


class AppExitedWhileLoading(RuntimeError):
    """The app called sys.exit() (or raised another BaseException) at import.

    Re-raised as it is, a SystemExit would end the worker behind the error page instead
    of showing it (Werkzeug's debugger catches only Exception).
    """


def exited_while_loading(exc: BaseException) -> AppExitedWhileLoading:
    if isinstance(exc, SystemExit):
        message = f"the app called sys.exit({exc.code!r}) while loading"
    else:
        message = f"the app raised {type(exc).__name__} while loading"
    wrapped = AppExitedWhileLoading(message)
    wrapped.__cause__ = exc
    wrapped.__traceback__ = exc.__traceback__
    return wrapped


def users_frames(tb):
    """Drop the loader's own frames (this module, Flask's cli.py) from the front of a traceback."""
    import flask.cli

    ours = (__file__, flask.cli.__file__)
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename in ours:
        tb = tb.tb_next
    return tb


def unwrapped(exc: BaseException) -> BaseException:
    """The user's own ImportError rather than Flask's NoAppException that folds it into text."""
    from flask.cli import NoAppException

    if isinstance(exc, NoAppException) and str(exc).startswith("While importing") and exc.__context__:
        return exc.__context__
    return exc


def one_line(exc: BaseException) -> str:
    """The exception in one line: its type and the first line of its message (the health check's answer)."""
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


def summary(exc: BaseException) -> str:
    """What a person needs first: the exception's own lines, without the traceback."""
    return "".join(traceback.format_exception_only(exc)).strip()


def error_app(exc: BaseException | str, settings: Settings, status: int = 500):
    """Answer every request with the error, so the port is never dead.

    500: the app failed to load. With debug on, the error is raised inside Werkzeug's
    debugger (as Flask's own reloader does), which shows the traceback; otherwise a
    page with just the error. 503: the app crashed and restarts shortly (the message
    says when); the page says so, with Retry-After.
    """
    message = exc if isinstance(exc, str) else summary(exc)
    if status == 503:
        title, next_step = "The app crashed", "It restarts by itself; this page is served until then."
        headers = [("Retry-After", "1")]
    else:
        title = "The app failed to load"
        next_step = "Fix the code and save: the server reloads by itself." if settings.reload else \
            "Fix the code, then restart the server."
        headers = []

    def plain(environ, start_response):
        body = (
            f"<!doctype html><title>{title}</title><h1>{title}</h1>"
            f"<pre>{html.escape(message)}</pre><p>{next_step}</p>"
        ).encode()
        start_response("503 Service Unavailable" if status == 503 else "500 Internal Server Error",
                       [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                        ("Cache-Control", "no-store"), *headers])
        return [body]

    if isinstance(exc, str) or not settings.debug or settings.production:
        return plain

    original = exc.__traceback__  # each raise would add a frame: start from this one every time

    def reraise(environ, start_response):
        raise exc.with_traceback(original)

    outsiders = error_app("The app failed to load: the server log has why.", settings, status)
    debugged = with_debugger(reraise, settings, without=outsiders)

    def logged_once(environ, start_response):
        # The traceback was logged when the load failed; the debugger would log it on every request.
        return debugged({**environ, "wsgi.errors": io.StringIO()}, start_response)

    return logged_once
