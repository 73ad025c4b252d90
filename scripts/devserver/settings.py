"""Every environment variable the dev server reads, parsed strictly in one place.

Why by hand: Flask's own parsing is too lenient for a server that may run a
debugger (`FLASK_DEBUG=False` stays the truthy string "False" through
`from_prefixed_env`, and `flask.helpers.get_debug_flag` reads "off" as on).
A bad value stops start-up with one line naming the variable, the value and
what is accepted; the caller exits with status 2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

EXIT_CONFIG = 2

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
APP_ENVS = ("development", "production")


class ConfigError(Exception):
    """One bad variable; str() is the line shown to the user."""


def parse_bool(name: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off")


def parse_port(name: str, raw: str) -> int:
    try:
        port = int(raw.strip())
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name}={raw!r} is not a port: use a whole number from 1 to 65535")
    return port


def parse_seconds(name: str, raw: str) -> float:
    try:
        seconds = float(raw.strip())
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise ConfigError(f"{name}={raw!r} is not a duration: use seconds from 0 to 3600, e.g. 5 or 0.5")
    return seconds


def parse_count(name: str, raw: str) -> int:
    try:
        count = int(raw.strip())
    except ValueError:
        count = 0
    if not 1 <= count <= 256:
        raise ConfigError(f"{name}={raw!r} is not a process count: use a whole number from 1 to 256")
    return count


def parse_choice(name: str, raw: str, choices: tuple[str, ...]) -> str:
    value = raw.strip().lower()
    if value not in choices:
        raise ConfigError(f"{name}={raw!r} is not known: use one of {', '.join(choices)}")
    return value


def parse_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_pin(name: str, raw: str) -> str:
    """Werkzeug compares the PIN with dashes removed; 'off' disables it."""
    value = raw.strip()
    if value.lower() == "off":
        return "off"
    if len(value.replace("-", "")) < 6 or not value.replace("-", "").isdigit():
        raise ConfigError(
            f"{name}={raw!r} is not a PIN: use at least 6 digits (dashes allowed, e.g. 123-456-789), "
            "or 'off' to disable the PIN (unsafe)"
        )
    return value


def parse_preload(name: str, raw: str) -> tuple[bool, tuple[str, ...]]:
    """On/off, or a comma-separated list of extra modules to preload (which means on)."""
    try:
        return parse_bool(name, raw), ()
    except ConfigError:
        modules = tuple(parse_list(raw))
        if modules and all(all(part.isidentifier() for part in m.split(".")) for m in modules):
            return True, modules
        raise ConfigError(f"{name}={raw!r} is neither on/off nor a list of modules: use 1, 0, or module "
                          "names to import once for every worker, e.g. PRELOAD=sqlalchemy,requests") from None


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


def default_processes() -> int:
    """CPUs this process may run on (cgroup CPU quotas are not visible here: set WEB_CONCURRENCY)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Settings:
    flask_app: str = "app"
    host: str = "127.0.0.1"
    port: int = 5000
    app_env: str = "development"
    debug: bool = False
    templates_auto_reload: bool = False
    reload: bool = True
    reload_paths: tuple[Path, ...] = ()
    force_polling: bool | None = None  # None: watchfiles decides (it detects WSL and qemu)
    graceful_timeout: float = 5.0
    processes: int = 1
    debug_pin: str | None = None
    trusted_hosts: tuple[str, ...] = ()
    access_log: bool = True
    preload: bool = True
    preload_modules: tuple[str, ...] = field(default=())

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    def worker_env(self) -> dict[str, str]:
        """The variables a worker reads, in canonical form, so Flask and the worker agree."""
        env = {
            "FLASK_APP": self.flask_app,
            "APP_ENV": self.app_env,
            "FLASK_DEBUG": "1" if self.debug else "0",
            # JSON literals: Flask's from_prefixed_env turns them into real booleans.
            "FLASK_TEMPLATES_AUTO_RELOAD": "true" if self.templates_auto_reload else "false",
            "GRACEFUL_TIMEOUT": str(self.graceful_timeout),
            "ACCESS_LOG": "1" if self.access_log else "0",
            "DEBUGGER_TRUSTED_HOSTS": ",".join(self.trusted_hosts),
            "RELOAD": "1" if self.reload else "0",
        }
        if self.debug_pin:
            env["WERKZEUG_DEBUG_PIN"] = self.debug_pin
        return env


def load_settings(environ: os._Environ[str] | dict[str, str] | None = None, cwd: Path | None = None,
                  check_paths: bool = True) -> Settings:
    """Read and check every variable; raise ConfigError listing each bad one, a line each."""
    env = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    errors: list[str] = []

    def get(name: str, default: str, parse, *args):
        raw = env.get(name)
        if raw is None or raw.strip() == "":
            raw = default
        try:
            return parse(name, raw, *args)
        except ConfigError as exc:
            errors.append(str(exc))
            return parse(name, default, *args)

    app_env = get("APP_ENV", "development", parse_choice, APP_ENVS)
    production = app_env == "production"
    debug = get("FLASK_DEBUG", "0" if production else "1", parse_bool)
    auto_reload = get("FLASK_TEMPLATES_AUTO_RELOAD", "1" if debug else "0", parse_bool)
    # Production never reloads, whatever a copied .env says: RELOAD and RELOAD_PATHS are ignored.
    reload = False if production else get("RELOAD", "1", parse_bool)
    flask_app = (env.get("FLASK_APP") or "app").strip()

    paths: list[Path] = []
    raw_paths = env.get("RELOAD_PATHS", "").strip() if reload else ""
    for item in parse_list(raw_paths):
        path = (cwd / item).resolve()
        if check_paths and not path.exists():
            errors.append(
                f"RELOAD_PATHS={raw_paths!r} names {item!r}, which does not exist in {cwd}: "
                "use existing paths, comma-separated, relative to the working directory"
            )
        paths.append(path)
    if raw_paths and not paths:
        errors.append(f"RELOAD_PATHS={env.get('RELOAD_PATHS')!r} names no path: use paths relative to the "
                      "working directory, comma-separated (e.g. RELOAD_PATHS=app,config), "
                      "or leave it unset to watch FLASK_APP's package")
    if not raw_paths:
        paths.append(default_app_dir(flask_app, cwd))

    preload, preload_modules = get("PRELOAD", "1", parse_preload)
    pin = env.get("WERKZEUG_DEBUG_PIN")
    debug_pin = get("WERKZEUG_DEBUG_PIN", "000000", parse_pin) if pin and pin.strip() else None

    settings = Settings(
        flask_app=flask_app,
        host=(env.get("HOST") or "127.0.0.1").strip(),
        port=get("PORT", "5000", parse_port),
        app_env=app_env,
        debug=debug,
        templates_auto_reload=auto_reload,
        reload=reload,
        reload_paths=tuple(paths),
        force_polling=get("WATCHFILES_FORCE_POLLING", "0", parse_bool) if env.get("WATCHFILES_FORCE_POLLING") else None,
        graceful_timeout=get("GRACEFUL_TIMEOUT", "5", parse_seconds),
        processes=get("WEB_CONCURRENCY", str(default_processes()) if production else "1", parse_count),
        debug_pin=debug_pin,
        trusted_hosts=tuple(parse_list(env.get("DEBUGGER_TRUSTED_HOSTS", ""))),
        access_log=get("ACCESS_LOG", "1", parse_bool),
        preload=preload,
        preload_modules=preload_modules,
    )
    if production and debug:
        errors.append(
            "FLASK_DEBUG is on with APP_ENV=production: refusing to start, the debugger runs any code "
            "for whoever reaches it. Set FLASK_DEBUG=0 (or APP_ENV=development on your own machine)"
        )
    secret = env.get("SECRET_KEY") or env.get("FLASK_SECRET_KEY")
    if production and secret and not secret.strip():
        errors.append("SECRET_KEY is blank with APP_ENV=production: set it to a long random value, e.g. "
                      "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))')")
    elif production and not secret:
        errors.append(
            "SECRET_KEY is not set with APP_ENV=production: set it to a long random value, e.g. "
            "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    if errors:
        raise ConfigError("\n".join(errors))
    return settings
