"""Every environment variable the dev server reads: declared once, parsed strictly, documented from here.

Each `Setting` row carries, by keyword, its name, parser, default, type and the line that
documents it, as gunicorn's `config.py` does. Everything else comes from `SETTINGS`: the
`Settings` class (a field per row that has one, of the row's type), parsing (`load_settings`),
the workers' environment and its JSON (`Settings.worker_env`, `dumps`, `loads`), the README's
table and `.env.example` (`settings_docs.py`) and the tests' list of variables; a test fails if
the files drift from it. Variables set for the server rather than by the user are rows too
(PUBLIC_URL, set by compose; GEVENT_SUPPORT, read by pydevd and set by stepdebug.py).

Why the parsers are by hand: Flask's own parsing is too lenient for a server that may run
a debugger (`FLASK_DEBUG=False` stays the truthy string "False" through
`from_prefixed_env`, and `flask.helpers.get_debug_flag` reads "off" as on). A bad value
stops start-up with one line naming the variable, the value and what is accepted; the
caller exits with status 2.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

EXIT_CONFIG = 2
DEFAULT_PORT = 5000  # the project's port: `make dev` serves here, where compose publishes the dev service

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
APP_ENVS = ("development", "production")
SECRET_HINT = ("set it to a long random value, "
               "e.g. SECRET_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))')")


class ConfigError(Exception):
    """One or more bad variables; str() is the lines shown to the user."""


# -- parsers: (name, raw text) -> value, or ConfigError naming the variable, the value and the fix ----------

def parse_bool(name: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off")


def parse_number(kind: Callable[[str], float], low: float, high: float, what: str) -> Callable[[str, str], float]:
    """A parser for numbers of type `kind` from `low` to `high`; `what` ends the error line."""

    def parse(name: str, raw: str):
        try:
            value = kind(raw.strip())
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise ConfigError(f"{name}={raw!r} is not {what}")
        return value

    return parse


parse_port = parse_number(int, 1, 65535, "a port: use a whole number from 1 to 65535")
parse_seconds = parse_number(float, 0, 3600, "a duration: use seconds from 0 to 3600, e.g. 5 or 0.5")
parse_count = parse_number(int, 1, 256, "a process count: use a whole number from 1 to 256")
parse_millis = parse_number(int, 0, 60000, "a time in milliseconds: use a whole number from 0 (off) to 60000")
parse_requests = parse_number(int, 0, 10**9, "a count of requests: use a whole number, 0 for never")
parse_connections = parse_number(int, 1, 100000, "a count of connections: use a whole number from 1 to 100000")
parse_limit = parse_number(int, 0, 1 << 20, "a limit in bytes or fields: use a whole number from 0 (none) to 1048576")


def parse_app_env(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in APP_ENVS:
        raise ConfigError(f"{name}={raw!r} is not known: use one of {', '.join(APP_ENVS)}")
    return value


def parse_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_names(name: str, raw: str) -> tuple[str, ...]:
    return tuple(parse_list(raw))


def parse_text(name: str, raw: str) -> str:
    return raw.strip()


def parse_pin(name: str, raw: str) -> str | None:
    """Werkzeug compares the PIN with dashes removed; 'off' disables it; empty: a new one each start."""
    value = raw.strip()
    if not value or value.lower() == "off":
        return value.lower() or None
    if len(value.replace("-", "")) < 6 or not value.replace("-", "").isdigit():
        raise ConfigError(
            f"{name}={raw!r} is not a PIN: use at least 6 digits (dashes allowed, e.g. 123-456-789), "
            "or 'off' to disable the PIN (unsafe)"
        )
    return value


def parse_debugger(name: str, raw: str) -> str | None:
    """The step debugger to run under: debugpy, or none."""
    value = raw.strip().lower()
    if value in ("", *FALSE_WORDS):
        return None
    if value != "debugpy":
        raise ConfigError(f"{name}={raw!r} is not a debugger this server runs: use debugpy, or 0 for none")
    return value


QUEUE_WORKERS = {"celery": "celery -A app.tasks worker -P gevent", "rq": "rq worker"}  # command -> its example


def parse_task_worker(name: str, raw: str) -> tuple[str, ...]:
    """A queue's worker command, split as a shell would; only the ones the server knows how to reload."""
    try:
        words = tuple(shlex.split(raw))
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a command ({exc}): "
                          f"e.g. {name}=\"{QUEUE_WORKERS['celery']}\"") from None
    examples = " or ".join(f"`{example}`" for example in QUEUE_WORKERS.values())
    if words and words[0] not in QUEUE_WORKERS:
        raise ConfigError(f"{name}={raw!r} runs {words[0]!r}: the server runs and reloads Celery's and RQ's workers "
                          f"({examples}); run another program as a compose service's `command:`")
    if words and "worker" not in words[1:]:
        raise ConfigError(f"{name}={raw!r} is not {words[0]}'s worker command: use {QUEUE_WORKERS[words[0]]!r}")
    return words


def option(words: tuple[str, ...], *names: str) -> str | None:
    """The value of a command-line option given as `-A x`, `--app x` or `--app=x`."""
    for index, word in enumerate(words):
        for name in names:
            if word == name and index + 1 < len(words):
                return words[index + 1]
            if name.startswith("--") and word.startswith(name + "="):
                return word.split("=", 1)[1]
    return None


def parse_polling(name: str, raw: str) -> bool | None:
    """Unset (None) lets watchfiles decide: it detects WSL and qemu."""
    return parse_bool(name, raw) if raw.strip() else None


def parse_secret(name: str, raw: str) -> str:
    """As set, spaces and all: the app uses it as it is."""
    return raw


def parse_gevent_support(name: str, raw: str) -> bool:
    """On as pydevd needs it; anything else is off (never an error: the server sets it, under a debugger)."""
    return raw.lower() in ("true", "1")


class Preload(NamedTuple):
    enabled: bool
    modules: tuple[str, ...]


def parse_preload(name: str, raw: str) -> Preload:
    """On/off, or a comma-separated list of extra modules to preload (which means on)."""
    try:
        return Preload(parse_bool(name, raw), ())
    except ConfigError:
        modules = tuple(parse_list(raw))
        if modules and all(all(part.isidentifier() for part in m.split(".")) for m in modules):
            return Preload(True, modules)
        raise ConfigError(f"{name}={raw!r} is neither on/off nor a list of modules: use 1, 0, or module "
                          "names to import once for every worker, e.g. PRELOAD=sqlalchemy,requests") from None


# -- defaults that depend on other settings -------------------------------------------------------------

def default_processes() -> int:
    """CPUs this process may run on (cgroup CPU quotas are not visible here: set WEB_CONCURRENCY)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class ProjectCode(type(Path())):
    """The project root, watched for its code only: the watcher reports its Python files, the
    files of its packages (a directory with an `__init__.py` at the root) and templates and static
    files, not the data, uploads or logs an app writes beside them (watcher.SourceFilter)."""


def default_app_dir(flask_app: str, cwd: Path) -> Path:
    """The directory to watch by default: the package FLASK_APP names, else the module's directory;
    a module at the project root (`blog.py`, `blog:create_app()`) has the project's code (ProjectCode).

    Worked out from the string alone: the supervisor never imports the user's code.
    """
    target = flask_app.split(":", 1)[0].strip()
    if target.endswith(".py") or "/" in target:
        path = (cwd / target).resolve()
        if path.is_dir():
            return path
        return ProjectCode(path.parent) if path.parent == cwd.resolve() else path.parent
    package = cwd / target.split(".", 1)[0]
    return package if package.is_dir() else ProjectCode(cwd)


# -- the declarations ----------------------------------------------------------------------------------

Default = str | Callable[[dict], str]  # raw text, or raw text worked out from the values parsed so far


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One environment variable, declared by keyword.

    `doc` is what it does and `default_doc` its default as the README says it; `default` is raw text,
    parsed as a value would be. `field` is its attribute of Settings, of type `type` (which also says
    how the workers read it back from JSON: `from_json`); None: read by compose, watchfiles or pydevd,
    declared here to be documented with the rest. `example` is what .env.example shows when that is
    not the default; `to_env` how workers and the app see the parsed value (None: as set).
    """

    name: str
    doc: str
    default_doc: str
    default: Default = ""
    parse: Callable[[str, str], object] = parse_text
    field: str | None = None
    type: Any = str
    example: str | None = None
    to_env: Callable[[object], str] | None = None  # for the settings Flask and Werkzeug read themselves
    # Production never reads it and has this raw text instead (a copied .env may hold anything).
    in_production: str | None = None
    blank_is_unset: bool = True  # False: a blank value is read as it is (a blank SECRET_KEY is not an unset one)
    secret: bool = False  # left out of the repr of Settings
    set_by: str | None = None  # who sets it, when not the user: left out of .env.example
    service: str | None = None  # an optional compose service's (documented apart, only in projects that have it)

    def default_for(self, values: dict) -> str:
        return self.default(values) if callable(self.default) else self.default

    @property
    def development_default(self) -> str:
        """The default as a fresh clone has it (development, debug on)."""
        return self.default_for({"app_env": "development", "debug": True})

    def raw_text(self, env: Mapping[str, str], values: dict) -> str:
        """The text to parse: as set, else the default (and production's own where it has one)."""
        if self.in_production is not None and production(values):
            return self.in_production
        raw = env.get(self.name)
        if raw is None and self.secret:
            raw = secret_from_file(self.name, env)
        if raw is None or (self.blank_is_unset and raw.strip() == ""):
            return self.default_for(values)
        return raw


FILE_SUFFIX = "_FILE"  # SECRET_KEY_FILE=/run/secrets/secret_key: the official images' convention


def secret_from_file(name: str, env: Mapping[str, str]) -> str | None:
    """A secret's value from the file `<name>_FILE` names (a Docker or Kubernetes secret), its final
    newline dropped; None when there is no such variable."""
    path = env.get(name + FILE_SUFFIX)
    if path is None:
        return None
    try:
        return Path(path).read_text().removesuffix("\n").removesuffix("\r")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{name}{FILE_SUFFIX}={path!r} cannot be read: {reason}: point it at the secret's "
                          f"file (Docker: /run/secrets/<name>), or set {name} itself") from None


def flag(value: object) -> str:
    return "1" if value else "0"


def production(values: dict) -> bool:
    return values.get("app_env") == "production"


SETTINGS: tuple[Setting, ...] = (
    Setting(name="FLASK_APP",
            doc="the app, in `flask run` syntax: `package`, `module:app`, `module:create_app()`, `wsgi.py`; "
                "set in the committed `.flaskenv`",
            default_doc="`app`", default="app", field="flask_app", to_env=str),
    Setting(name="HOST",
            doc="address to bind (the container always binds 0.0.0.0 inside; compose publishes 127.0.0.1 only)",
            default_doc="`127.0.0.1` (`0.0.0.0` in the container)", default="127.0.0.1", field="host"),
    Setting(name="PORT", doc="port; with compose, the host side of the mapping (the container listens on 5000)",
            default_doc=f"`{DEFAULT_PORT}`", default=str(DEFAULT_PORT), parse=parse_port, field="port", type=int),
    Setting(name="APP_ENV", doc="`production` refuses `FLASK_DEBUG=1`, requires `SECRET_KEY`, never reloads",
            default_doc="`development`", default="development", parse=parse_app_env, field="app_env", to_env=str),
    Setting(name="FLASK_DEBUG",
            doc="debug mode and Werkzeug's interactive debugger (1/0, true/false, yes/no, on/off)",
            default_doc="`1` (`0` in production)", default=lambda v: flag(not production(v)), parse=parse_bool,
            field="debug", type=bool, example="1", to_env=flag),
    Setting(name="FLASK_TEMPLATES_AUTO_RELOAD",
            doc="Jinja re-reads edited templates; template edits then need no worker restart",
            default_doc="follows `FLASK_DEBUG`", default=lambda v: flag(v["debug"]), parse=parse_bool,
            field="templates_auto_reload", type=bool, example="1",
            # JSON literals: Flask's from_prefixed_env turns them into real booleans.
            to_env=lambda value: "true" if value else "false"),
    Setting(name="RELOAD", doc="restart the app when a watched file changes",
            default_doc="`1` (always `0` in production)", default="1", parse=parse_bool, field="reload", type=bool,
            in_production="0"),
    Setting(name="RELOAD_PATHS",
            doc="what to watch, comma-separated, relative to the project (ignored in production)",
            default_doc="the package `FLASK_APP` names; for a module at the root, the project's Python files, "
                        "packages and templates", parse=parse_names, field="reload_paths",
            type=tuple[Path, ...],  # resolved against the project by reload_paths()
            example="app", in_production=""),
    Setting(name="WATCHFILES_FORCE_POLLING",
            doc="`1`: poll instead of inotify, where bind mounts give no file events "
                "(Docker Desktop on Windows/WSL2, some VMs)",
            default_doc="unset (watchfiles decides)", parse=parse_polling, field="force_polling", type=bool | None,
            example="1", in_production=""),
    Setting(name="WATCHFILES_POLL_DELAY_MS",
            doc="how often to poll, in milliseconds, when polling (read by watchfiles)",
            default_doc="`300`", default="300"),
    Setting(name="GRACEFUL_TIMEOUT", doc="seconds in-flight requests get on a reload or a stop",
            default_doc="`5`", default="5", parse=parse_seconds, field="graceful_timeout", type=float),
    Setting(name="SECRET_KEY",
            doc="Flask's secret key; required in production: "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`; or `SECRET_KEY_FILE`, a file "
                "holding it (a Docker or Kubernetes secret)",
            default_doc="unset", parse=parse_secret, field="secret_key", blank_is_unset=False, secret=True),
    Setting(name="FLASK_SECRET_KEY",
            doc="the same key under the name Flask's `from_prefixed_env()` reads; either one satisfies production",
            default_doc="unset", parse=parse_secret, field="flask_secret_key", blank_is_unset=False, secret=True),
    Setting(name="WEB_CONCURRENCY", doc="worker processes sharing the socket",
            default_doc="`1` (production: CPUs available)",
            default=lambda v: str(default_processes()) if production(v) else "1", parse=parse_count,
            field="processes", type=int, example="1"),
    Setting(name="WORKER_TIMEOUT",
            doc="production: a worker whose event loop is stuck this long (a CPU loop, a blocking C call) is "
                "replaced by gunicorn, and the log names the request and your line; `0` never",
            default_doc="`30`", default="30", parse=parse_seconds, field="worker_timeout", type=float),
    Setting(name="MAX_REQUESTS",
            doc="production: a worker is replaced after this many requests (plus up to a tenth, so not all at "
                "once), to bound a leak; nothing in flight is dropped; `0` never",
            default_doc="`0`", default="0", parse=parse_requests, field="max_requests", type=int, example="10000"),
    Setting(name="WORKER_CONNECTIONS",
            doc="production: connections one worker serves at once; more wait in the listen queue",
            default_doc="`1000`", default="1000", parse=parse_connections, field="worker_connections", type=int),
    Setting(name="KEEPALIVE",
            doc="production: seconds an idle kept-alive connection stays open; longer than the proxy's own "
                "idle timeout for the app (deploy/caddy/Caddyfile: 60 s), so the proxy closes first",
            default_doc="`75`", default="75", parse=parse_seconds, field="keepalive", type=float),
    Setting(name="SHUTDOWN_DELAY",
            doc="on SIGTERM, seconds the server keeps answering (its health check says 503 at once) before it "
                "drains within `GRACEFUL_TIMEOUT`: an orchestrator or load balancer still sends for a moment",
            default_doc="`5` in production, `0` in development",
            default=lambda v: "5" if production(v) else "0", parse=parse_seconds, field="shutdown_delay",
            type=float),
    Setting(name="TRUSTED_PROXIES",
            doc="addresses, networks or host names (comma-separated) whose X-Forwarded-For, -Proto and -Host "
                "the app believes (werkzeug's ProxyFix); anyone else's are dropped. The prod profile sets `proxy`",
            default_doc="none", parse=parse_names, field="trusted_proxies", type=tuple[str, ...],
            example="proxy,10.0.0.0/8"),
    Setting(name="LIMIT_REQUEST_LINE", doc="the longest request line, in bytes: longer gets 414; `0` no limit",
            default_doc="`4094` (gunicorn's)", default="4094", parse=parse_limit, field="limit_request_line",
            type=int),
    Setting(name="LIMIT_REQUEST_FIELDS", doc="the most header fields a request may have: more gets 431",
            default_doc="`100`", default="100", parse=parse_limit, field="limit_request_fields", type=int),
    Setting(name="LIMIT_REQUEST_FIELD_SIZE", doc="the longest header field, in bytes: longer gets 431",
            default_doc="`8190`", default="8190", parse=parse_limit, field="limit_request_field_size", type=int),
    Setting(name="TASK_WORKER",
            doc="run a task worker instead of the web server: Celery's or RQ's worker command, run and reloaded as "
                "the web workers are (a change: a new one consumes, the old one finishes its task); the compose "
                "`worker` service sets it",
            default_doc="unset (the web server)", parse=parse_task_worker, field="task_worker",
            type=tuple[str, ...], example=QUEUE_WORKERS["celery"]),
    Setting(name="TASK_GRACE",
            doc="seconds a running task gets to finish when its worker is replaced (a reload) or stopped; a task "
                "still running then is cut, and the log says so",
            default_doc="`30`", default="30", parse=parse_seconds, field="task_grace", type=float),
    Setting(name="WERKZEUG_DEBUG_PIN",
            doc="the debugger's PIN (`123-456-789`); `off` disables it, with a warning",
            default_doc="a new PIN each start, logged once", parse=parse_pin,
            field="debug_pin", type=str | None,  # None: a new one each start (entrypoint.with_debugger_pin)
            secret=True),  # not exported: the workers' debugger has it from the settings
    Setting(name="DEBUGGER_TRUSTED_HOSTS",
            doc="extra host names (besides `localhost`, `127.0.0.1`) the debugger console accepts, comma-separated",
            default_doc="none", parse=parse_names, field="trusted_hosts", type=tuple[str, ...], example="myapp.test"),
    Setting(name="PRELOAD",
            doc="fork workers from a process that has preloaded what the app imports (learned); `0` to spawn "
                "fresh ones; or the modules to preload instead (`sqlalchemy,pandas`)",
            default_doc="`1`", default="1", parse=parse_preload, field="preload", type=Preload),
    Setting(name="PROD_PORT", doc="compose: the host port of the `prod` service", default_doc="`8000`", default="8000"),
    Setting(name="PUBLIC_URL",
            doc="compose sets it (docker-compose.yml, each service its own): where the published port is on the "
                "host, for the start-up line \"open ... in your browser\"",
            default_doc="set by compose", field="public_url", set_by="compose"),
    Setting(name="LIVE_RELOAD",
            doc="the browser reloads by itself when new code serves or a template changes, and swaps an edited "
                "stylesheet in place (a script injected into HTML pages; never in production)",
            default_doc="follows `FLASK_DEBUG`", default=lambda v: flag(v["debug"]), parse=parse_bool,
            field="live_reload", type=bool, example="1", in_production="0"),
    Setting(name="BLOCKING_WARN_MS",
            doc="say when a call blocks gevent's event loop this long (every other request waits meanwhile), "
                "with the request and the line of your code; `0` turns it off",
            default_doc="`100` (`0` in production)", default=lambda v: "0" if production(v) else "100",
            parse=parse_millis, field="blocking_warn_ms", type=int, example="100"),
    Setting(name="DEBUGGER",
            doc="`debugpy`: the server runs under debugpy, listening on `DEBUGPY_PORT`, so an editor attaches "
                "and breakpoints hit in every worker, across reloads (compose.debug.yaml sets it)",
            default_doc="unset", parse=parse_debugger, field="debugger", type=str | None, example="debugpy",
            in_production=""),
    Setting(name="DEBUGPY_PORT",
            doc="where debugpy listens for your editor (with compose.debug.yaml, the host side; the container "
                "listens on 5678)",
            default_doc="`5678`", default="5678", parse=parse_port, field="debugpy_port", type=int),
    Setting(name="GEVENT_SUPPORT",
            doc="read by debugpy (pydevd) in each process: without `True` a gevent process hangs under it; "
                "whenever a debugger runs the server, the server sets it for the processes it starts",
            default_doc="unset (`True` under a debugger)", parse=parse_gevent_support, set_by="the server"),
    Setting(name="LIVE_INSTALL",
            doc="a saved change to a requirements file is installed into the running environment (uv, else pip), "
                "then the app reloads once; at start, what changed since the image was built is installed",
            default_doc="`1` (always `0` in production)", default="1", parse=parse_bool, field="live_install",
            type=bool, in_production="0"),
    Setting(name="RELEASE_COMMAND",
            doc="what runs once before a new version serves (`docker compose run --rm web release`, the tests' "
                "stack, a deploy's release job): your migrations; `none` for nothing",
            default_doc="`flask db upgrade` where `migrations/env.py` exists (Flask-Migrate's), else nothing",
            example="flask db upgrade"),
    Setting(name="ACCESS_LOG", doc="one log line per request (the health check is never logged)",
            default_doc="`1`", default="1", parse=parse_bool, field="access_log", type=bool),
    Setting(name="UID", doc="build arg: the user the container runs as (your `id -u`, so files it writes are yours)",
            default_doc="`1000`", default="1000"),
    Setting(name="GID", doc="build arg: the container user's group (your `id -g`)", default_doc="`1000`",
            default="1000"),
    Setting(name="PYTHON_IMAGE", doc="build arg: the base image (any Python 3.11+ image with venv)",
            default_doc="`python:3.13-slim`", default="python:3.13-slim"),
    # postgres:begin
    Setting(name="DATABASE_URL",
            doc="where the app finds PostgreSQL (the demo's `/db` route); compose gives the web service its own "
                "(`postgresql://app:app@db:5432/app`), so this one is for `make dev` and the tests on the host",
            default_doc="unset", example="postgresql://app:app@127.0.0.1:5432/app", service="postgres"),
    Setting(name="DB_PORT", doc="compose: the host port of the `db` service (on 127.0.0.1 only)",
            default_doc="`5432`", default="5432", service="postgres"),
    Setting(name="POSTGRES_IMAGE", doc="compose: the `db` service's image",
            default_doc="`postgres:17`", default="postgres:17", service="postgres"),
    # postgres:end
    # tasks:begin
    Setting(name="REDIS_URL",
            doc="where the task queue (app/tasks.py) finds Redis, for its tasks and their results; compose gives "
                "the web and worker services their own (`redis://redis:6379/0`), so this one is for `make dev` "
                "and the tests on the host",
            default_doc="`redis://127.0.0.1:6379/0` (app/tasks.py's)", example="redis://127.0.0.1:6379/0",
            service="tasks"),
    Setting(name="REDIS_PORT", doc="compose: the host port of the `redis` service (on 127.0.0.1 only)",
            default_doc="`6379`", default="6379", service="tasks"),
    Setting(name="REDIS_IMAGE", doc="compose: the `redis` service's image", default_doc="`redis:7`",
            default="redis:7", service="tasks"),
    # tasks:end
)
SETTING_NAMED = {s.name: s for s in SETTINGS}
VARIABLES = frozenset(SETTING_NAMED)

SETTINGS_ENV = "DEVSERVER_SETTINGS"  # the parsed settings, as JSON, for the workers
PIN_ENV = "WERKZEUG_DEBUG_PIN"  # the debugger's PIN, which a worker takes out of the app's environment


# -- the parsed values ---------------------------------------------------------------------------------

def from_json(kind: Any, value: object) -> object:
    """A value of type `kind` back from the JSON `dumps` wrote: JSON's own types as they are, a
    tuple (a NamedTuple too) from its list, a Path from its string, `X | None` as X or null."""
    if value is None:
        return None
    if typing.get_origin(kind) in (types.UnionType, typing.Union):
        (inner,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return from_json(inner, value)
    if typing.get_origin(kind) is tuple:
        (item, _) = typing.get_args(kind)  # tuple[X, ...]
        return tuple(from_json(item, v) for v in value)
    if isinstance(kind, type) and issubclass(kind, tuple):  # a NamedTuple
        hints = typing.get_type_hints(kind)
        return kind(*(from_json(hints[name], v) for name, v in zip(kind._fields, value, strict=True)))
    return kind(value)


class SettingsBase:
    """What Settings does; its fields are SETTINGS' (`Settings`, below)."""

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    def exported_env(self) -> dict[str, str]:
        """What the app sees, in a worker or under a command the image runs (`flask shell`): each exported
        setting in canonical form (Flask reads some of them itself: FLASK_APP, FLASK_DEBUG)."""
        return {s.name: s.to_env(getattr(self, s.field)) for s in SETTINGS
                if s.to_env is not None and getattr(self, s.field) is not None}

    def worker_env(self) -> dict[str, str]:
        """What a worker sees: the app's environment, and the whole of the settings, so it never parses
        them again."""
        return {**self.exported_env(), SETTINGS_ENV: self.dumps()}

    def dumps(self) -> str:
        return json.dumps(dataclasses.asdict(self), default=str)

    @classmethod
    def loads(cls, text: str):
        values = json.loads(text)
        return cls(**{f.name: from_json(f.type, values[f.name]) for f in dataclasses.fields(cls)})


Settings = dataclasses.make_dataclass(
    "Settings", [(s.field, s.type, dataclasses.field(repr=not s.secret)) for s in SETTINGS if s.field],
    bases=(SettingsBase,), frozen=True,
    namespace={"__module__": __name__,
               "__doc__": "The parsed values, one field per declared setting (SETTINGS), of the type it declares."})


def load_settings(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Read and check every variable; raise ConfigError listing each bad one, a line each."""
    env = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    errors: list[str] = []
    values: dict = {}
    texts: dict[str, str] = {}  # what each value was parsed from
    for setting in SETTINGS:
        if setting.field is None:
            continue
        try:
            raw = setting.raw_text(env, values)
            values[setting.field] = setting.parse(setting.name, raw)
        except ConfigError as exc:
            errors.append(str(exc))
            raw = setting.default_for(values)
            values[setting.field] = setting.parse(setting.name, raw)
        texts[setting.field] = raw
    errors += policy(values)
    paths, path_errors = reload_paths(values, texts["reload_paths"], cwd)
    errors += path_errors
    if errors:
        raise ConfigError("\n".join(errors))
    return Settings(**{**values, "reload_paths": paths})


def read_variable(name: str, environ: Mapping[str, str] | None = None) -> object:
    """One variable parsed by its row, apart from load_settings: for one another program reads, which
    the server checks when it matters (GEVENT_SUPPORT, pydevd's, in stepdebug)."""
    setting = SETTING_NAMED[name]
    return setting.parse(name, setting.raw_text(os.environ if environ is None else environ, {}))


def policy(values: dict) -> list[str]:
    """What production demands, whatever was set: no debugger, a secret key. (Reloading, live reload,
    live installs and the step debugger are off there by their rows' `in_production`.)"""
    if not production(values):
        return []
    errors = []
    if values["debug"]:
        errors.append("FLASK_DEBUG is on with APP_ENV=production: refusing to start, the debugger runs any code "
                      "for whoever reaches it. Set FLASK_DEBUG=0 (or APP_ENV=development on your own machine)")
    secret = values["secret_key"] or values["flask_secret_key"]
    if secret and not secret.strip():
        errors.append(f"SECRET_KEY is blank with APP_ENV=production: {SECRET_HINT}")
    elif not secret:
        errors.append(f"SECRET_KEY is not set with APP_ENV=production: {SECRET_HINT}")
    return errors


def reload_paths(values: dict, raw: str, cwd: Path) -> tuple[tuple[Path, ...], list[str]]:
    """RELOAD_PATHS (`raw`, its names parsed in `values`) resolved against the project, and a line for
    each that is wrong; by default the package FLASK_APP names (default_app_dir)."""
    if not values["reload"]:
        return (), []
    if not raw.strip():
        return (default_app_dir(values["flask_app"], cwd),), []
    paths, errors = [], []
    for item in values["reload_paths"]:
        path = (cwd / item).resolve()
        if not path.exists():
            errors.append(f"RELOAD_PATHS={raw.strip()!r} names {item!r}, which does not exist in {cwd}: "
                          "use existing paths, comma-separated, relative to the working directory")
        paths.append(path)
    if not paths:
        errors.append(f"RELOAD_PATHS={raw!r} names no path: use paths relative to the working directory, "
                      "comma-separated (e.g. RELOAD_PATHS=app,config), or leave it unset to watch FLASK_APP's package")
    return tuple(paths), errors
