"""Every environment variable the dev server reads: declared once, parsed strictly, documented from here.

Each `Setting` carries its name, parser, default and the line that documents it, as
gunicorn's `config.py` does: parsing (`load_settings`), the workers' environment
(`Settings.worker_env`), the README's table and `.env.example` (`settings_docs.py`) and
the tests' list of variables all come from `SETTINGS`, and a test fails if the files
drift from it.

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

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


def parse_polling(name: str, raw: str) -> bool | None:
    """Unset (None) lets watchfiles decide: it detects WSL and qemu."""
    return parse_bool(name, raw) if raw.strip() else None


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


def default_app_dir(flask_app: str, cwd: Path) -> Path:
    """The directory to watch by default: the package FLASK_APP names, else the working directory.

    Worked out from the string alone: the supervisor never imports the user's code.
    """
    target = flask_app.split(":", 1)[0].strip()
    if target.endswith(".py") or "/" in target:
        path = (cwd / target).resolve()
        return path if path.is_dir() else path.parent
    package = cwd / target.split(".", 1)[0]
    return package if package.is_dir() else cwd


# -- the declarations ----------------------------------------------------------------------------------

Default = str | Callable[[dict], str]  # raw text, or raw text worked out from the values parsed so far


@dataclass(frozen=True)
class Setting:
    """One environment variable. `field` is its attribute of Settings (None: read by compose or
    watchfiles, declared here to be documented with the rest); `default` is raw text, parsed as a
    value would be; `shown` is the default as the README says it, `example` what .env.example shows
    when that is not the default; `to_env` how workers and the app see the parsed value (None: as set)."""

    name: str
    doc: str
    shown: str
    default: Default = ""
    parse: Callable[[str, str], object] = parse_text
    field: str | None = None
    example: str | None = None
    to_env: Callable[[object], str] | None = None  # for the settings Flask and Werkzeug read themselves
    development_only: bool = False  # production never reads it (a copied .env may hold anything)
    service: str | None = None  # an optional compose service's (documented apart, only in projects that have it)

    def default_for(self, values: dict) -> str:
        return self.default(values) if callable(self.default) else self.default

    @property
    def development_default(self) -> str:
        """The default as a fresh clone has it (development, debug on)."""
        return self.default_for({"app_env": "development", "debug": True})


def flag(value: object) -> str:
    return "1" if value else "0"


def production(values: dict) -> bool:
    return values.get("app_env") == "production"


SETTINGS: tuple[Setting, ...] = (
    Setting("FLASK_APP", "the app, in `flask run` syntax: `package`, `module:app`, `module:create_app()`, `wsgi.py`",
            "`app`", "app", field="flask_app", to_env=str),
    Setting("HOST", "address to bind (the container always binds 0.0.0.0 inside; compose publishes 127.0.0.1 only)",
            "`127.0.0.1` (`0.0.0.0` in the container)", "127.0.0.1", field="host"),
    Setting("PORT", "port; with compose, the host side of the mapping (the container listens on 5000)",
            f"`{DEFAULT_PORT}`", str(DEFAULT_PORT), parse_port, field="port"),
    Setting("APP_ENV", "`production` refuses `FLASK_DEBUG=1`, requires `SECRET_KEY`, never reloads",
            "`development`", "development", parse_app_env, field="app_env", to_env=str),
    Setting("FLASK_DEBUG", "debug mode and Werkzeug's interactive debugger (1/0, true/false, yes/no, on/off)",
            "`1` (`0` in production)", lambda v: flag(not production(v)), parse_bool, field="debug", example="1",
            to_env=flag),
    Setting("FLASK_TEMPLATES_AUTO_RELOAD", "Jinja re-reads edited templates; template edits then need no worker "
            "restart", "follows `FLASK_DEBUG`", lambda v: flag(v["debug"]), parse_bool,
            field="templates_auto_reload", example="1",
            # JSON literals: Flask's from_prefixed_env turns them into real booleans.
            to_env=lambda value: "true" if value else "false"),
    Setting("RELOAD", "restart the app when a watched file changes", "`1` (always `0` in production)", "1",
            parse_bool, field="reload", development_only=True),
    Setting("RELOAD_PATHS", "what to watch, comma-separated, relative to the project (ignored in production)",
            "the package `FLASK_APP` names", parse=parse_names, field="reload_paths", example="app",
            development_only=True),
    Setting("WATCHFILES_FORCE_POLLING", "`1`: poll instead of inotify, where bind mounts give no file events "
            "(Docker Desktop on Windows/WSL2, some VMs)", "unset (watchfiles decides)", parse=parse_polling,
            field="force_polling", example="1", development_only=True),
    Setting("WATCHFILES_POLL_DELAY_MS", "how often to poll, in milliseconds, when polling (read by watchfiles)",
            "`300`", "300"),
    Setting("GRACEFUL_TIMEOUT", "seconds in-flight requests get on a reload or a stop", "`5`", "5", parse_seconds,
            field="graceful_timeout"),
    Setting("SECRET_KEY", "Flask's secret key; required in production: "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`", "unset"),
    Setting("WEB_CONCURRENCY", "worker processes sharing the socket", "`1` (production: CPUs available)",
            lambda v: str(default_processes()) if production(v) else "1", parse_count, field="processes",
            example="1"),
    Setting("WERKZEUG_DEBUG_PIN", "the debugger's PIN (`123-456-789`); `off` disables it, with a warning",
            "a new PIN each start, logged once", parse=parse_pin, field="debug_pin", to_env=str),
    Setting("DEBUGGER_TRUSTED_HOSTS", "extra host names (besides `localhost`, `127.0.0.1`) the debugger console "
            "accepts, comma-separated", "none", parse=parse_names, field="trusted_hosts", example="myapp.test"),
    Setting("PRELOAD", "fork workers from a process that has preloaded what the app imports (learned); `0` to "
            "spawn fresh ones; or the modules to preload instead (`sqlalchemy,pandas`)", "`1`", "1", parse_preload,
            field="preload"),
    Setting("PROD_PORT", "compose: the host port of the `prod` service", "`8000`", "8000"),
    Setting("LIVE_RELOAD", "the browser reloads by itself when new code serves or a template changes, and swaps "
            "an edited stylesheet in place (a script injected into HTML pages; never in production)",
            "follows `FLASK_DEBUG`", lambda v: flag(v["debug"]), parse_bool, field="live_reload", example="1",
            development_only=True),
    Setting("BLOCKING_WARN_MS", "say when a call blocks gevent's event loop this long (every other request waits "
            "meanwhile), with the request and the line of your code; `0` turns it off", "`100` (`0` in production)",
            lambda v: "0" if production(v) else "100", parse_millis, field="blocking_warn_ms", example="100"),
    Setting("DEBUGGER", "`debugpy`: the server runs under debugpy, listening on `DEBUGPY_PORT`, so an editor "
            "attaches and breakpoints hit in every worker, across reloads (compose.debug.yaml sets it)", "unset",
            parse=parse_debugger, field="debugger", example="debugpy", development_only=True),
    Setting("DEBUGPY_PORT", "where debugpy listens for your editor (with compose.debug.yaml, the host side; the "
            "container listens on 5678)", "`5678`", "5678", parse_port, field="debugpy_port"),
    Setting("LIVE_INSTALL", "a saved change to a requirements file is installed into the running environment (uv, "
            "else pip), then the app reloads once; at start, what changed since the image was built is installed",
            "`1` (always `0` in production)", "1", parse_bool, field="live_install", development_only=True),
    Setting("ACCESS_LOG", "one log line per request (the health check is never logged)", "`1`", "1", parse_bool,
            field="access_log"),
    Setting("UID", "build arg: the user the container runs as (your `id -u`, so files it writes are yours)",
            "`1000`", "1000"),
    Setting("GID", "build arg: the container user's group (your `id -g`)", "`1000`", "1000"),
    Setting("PYTHON_IMAGE", "build arg: the base image (any Python 3.11+ image with venv)", "`python:3.13-slim`",
            "python:3.13-slim"),
    # postgres:begin
    Setting("DATABASE_URL", "where the app finds PostgreSQL (the demo's `/db` route); compose gives the web service "
            "its own (`postgresql://app:app@db:5432/app`), so this one is for `make dev` and the tests on the host",
            "unset", example="postgresql://app:app@127.0.0.1:5432/app", service="postgres"),
    Setting("DB_PORT", "compose: the host port of the `db` service (on 127.0.0.1 only)", "`5432`", "5432",
            service="postgres"),
    Setting("POSTGRES_IMAGE", "compose: the `db` service's image", "`postgres:17`", "postgres:17",
            service="postgres"),
    # postgres:end
)
VARIABLES = frozenset(s.name for s in SETTINGS)


@dataclass(frozen=True)
class Settings:
    """The parsed values, one field per declared setting (its defaults are the declarations')."""

    flask_app: str
    host: str
    port: int
    app_env: str
    debug: bool
    templates_auto_reload: bool
    reload: bool
    reload_paths: tuple[Path, ...]
    force_polling: bool | None
    graceful_timeout: float
    processes: int
    debug_pin: str | None  # None: a new one each start (entrypoint.with_debugger_pin)
    trusted_hosts: tuple[str, ...]
    live_reload: bool
    blocking_warn_ms: int
    debugger: str | None
    debugpy_port: int
    live_install: bool
    access_log: bool
    preload: Preload

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    def worker_env(self) -> dict[str, str]:
        """What a worker and the app see: each exported setting in canonical form (Flask reads some of
        them itself), and the whole of the settings for the worker, so it never parses them again."""
        env = {s.name: s.to_env(getattr(self, s.field)) for s in SETTINGS
               if s.to_env is not None and getattr(self, s.field) is not None}
        env[SETTINGS_ENV] = self.dumps()
        return env

    def dumps(self) -> str:
        return json.dumps(dataclasses.asdict(self), default=str)

    @classmethod
    def loads(cls, text: str) -> Settings:
        values = json.loads(text)
        values["reload_paths"] = tuple(Path(p) for p in values["reload_paths"])
        values["trusted_hosts"] = tuple(values["trusted_hosts"])
        values["preload"] = Preload(values["preload"][0], tuple(values["preload"][1]))
        return cls(**values)


SETTINGS_ENV = "DEVSERVER_SETTINGS"  # the parsed settings, as JSON, for the workers
PIN_ENV = "WERKZEUG_DEBUG_PIN"  # the debugger's PIN, which a worker takes out of the app's environment


def load_settings(environ: os._Environ[str] | dict[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Read and check every variable; raise ConfigError listing each bad one, a line each."""
    env = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    errors: list[str] = []
    values: dict = {}
    for setting in SETTINGS:
        if setting.field is None:
            continue
        default = setting.default_for(values)
        raw = env.get(setting.name)
        if raw is None or raw.strip() == "" or (setting.development_only and values["app_env"] == "production"):
            raw = default
        try:
            values[setting.field] = setting.parse(setting.name, raw)
        except ConfigError as exc:
            errors.append(str(exc))
            values[setting.field] = setting.parse(setting.name, default)
    errors += policy(values, env)
    values["reload_paths"] = reload_paths(values, env.get("RELOAD_PATHS", ""), cwd, errors)
    if errors:
        raise ConfigError("\n".join(errors))
    return Settings(**values)


def policy(values: dict, env) -> list[str]:
    """What production demands, whatever was set: no debugger, a secret key, no reload."""
    if values["app_env"] != "production":
        return []
    values["reload"] = values["live_reload"] = values["live_install"] = False  # whatever a copied .env says
    values["debugger"] = None
    errors = []
    if values["debug"]:
        errors.append("FLASK_DEBUG is on with APP_ENV=production: refusing to start, the debugger runs any code "
                      "for whoever reaches it. Set FLASK_DEBUG=0 (or APP_ENV=development on your own machine)")
    secret = env.get("SECRET_KEY") or env.get("FLASK_SECRET_KEY")
    if secret is not None and not secret.strip() and secret:
        errors.append(f"SECRET_KEY is blank with APP_ENV=production: {SECRET_HINT}")
    elif not secret:
        errors.append(f"SECRET_KEY is not set with APP_ENV=production: {SECRET_HINT}")
    return errors


def reload_paths(values: dict, raw: str, cwd: Path, errors: list[str]) -> tuple[Path, ...]:
    """RELOAD_PATHS resolved against the project, each checked; by default the package FLASK_APP names."""
    if not values["reload"]:
        return ()
    if not raw.strip():
        return (default_app_dir(values["flask_app"], cwd),)
    paths = []
    for item in values["reload_paths"]:
        path = (cwd / item).resolve()
        if not path.exists():
            errors.append(f"RELOAD_PATHS={raw.strip()!r} names {item!r}, which does not exist in {cwd}: "
                          "use existing paths, comma-separated, relative to the working directory")
        paths.append(path)
    if not paths:
        errors.append(f"RELOAD_PATHS={raw!r} names no path: use paths relative to the working directory, "
                      "comma-separated (e.g. RELOAD_PATHS=app,config), or leave it unset to watch FLASK_APP's package")
    return tuple(paths)
