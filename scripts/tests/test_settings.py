"""The settings, in-process: each parser, the defaults and policies, the entrypoint's refusals, and the
documents made from them.

Fast unit tests beside the end-to-end ones in test_config.py (which start the entrypoint's process).
"""

import dataclasses
import os
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import entrypoint
import pytest
from dotenv import dotenv_values

from devserver.protocol import ROOT_ENV
from devserver.settings import SETTINGS, VARIABLES, ConfigError, Preload, Settings, load_settings, read_variable
from devserver.stepdebug import with_gevent_support
from harness import CONFIG_VARIABLES, ROOT, TEST_APP

PROJECT = TEST_APP.parent  # has kiosk/


def settings(**env: str) -> Settings:
    return load_settings({"FLASK_APP": "kiosk", **env}, cwd=PROJECT)


def refusal(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        settings(**env)
    return str(caught.value)


def test_a_fresh_clone_develops_with_debugger_and_reload():
    s = settings()
    assert (s.app_env, s.debug, s.templates_auto_reload, s.reload, s.processes) == ("development", True, True, True, 1)
    assert s.reload_paths == (PROJECT / "kiosk",)  # the package FLASK_APP names
    assert s.preload == Preload(True, ())


def test_production_turns_debugger_and_reload_off_whatever_a_copied_env_says():
    s = settings(APP_ENV="production", SECRET_KEY="x" * 32, RELOAD="1", RELOAD_PATHS="not-there")
    assert (s.debug, s.reload, s.reload_paths) == (False, False, ())
    # not even read: a development setting production ignores cannot stop it
    s = settings(APP_ENV="production", SECRET_KEY="x", RELOAD="maybe", RELOAD_PATHS=",", WATCHFILES_FORCE_POLLING="?")
    assert (s.reload, s.force_polling) == (False, None)
    assert not settings(APP_ENV="production", SECRET_KEY="x", LIVE_RELOAD="1").live_reload  # never there
    assert s.processes >= 1


@pytest.mark.parametrize("env, line", [
    ({"FLASK_DEBUG": "maybe"}, "FLASK_DEBUG='maybe' is not a boolean: use 1/0, true/false, yes/no or on/off"),
    ({"PORT": "0"}, "PORT='0' is not a port: use a whole number from 1 to 65535"),
    ({"PORT": "http"}, "PORT='http' is not a port"),
    ({"GRACEFUL_TIMEOUT": "-1"}, "GRACEFUL_TIMEOUT='-1' is not a duration"),
    ({"WEB_CONCURRENCY": "many"}, "WEB_CONCURRENCY='many' is not a process count"),
    ({"APP_ENV": "staging"}, "APP_ENV='staging' is not known: use one of development, production"),
    ({"WERKZEUG_DEBUG_PIN": "12"}, "WERKZEUG_DEBUG_PIN='12' is not a PIN"),
    ({"PRELOAD": "sqlalchemy;pandas"}, "PRELOAD='sqlalchemy;pandas' is neither on/off nor a list of modules"),
    ({"RELOAD_PATHS": "kiosk,nowhere"}, "RELOAD_PATHS='kiosk,nowhere' names 'nowhere', which does not exist"),
    ({"RELOAD_PATHS": ","}, "RELOAD_PATHS=',' names no path"),
    ({"APP_ENV": "production"}, "SECRET_KEY is not set with APP_ENV=production"),
    ({"APP_ENV": "production", "SECRET_KEY": "  "}, "SECRET_KEY is blank with APP_ENV=production"),
    ({"APP_ENV": "production", "SECRET_KEY": "x", "FLASK_DEBUG": "1"}, "FLASK_DEBUG is on with APP_ENV=production"),
])
def test_a_bad_value_is_one_line_naming_it(env, line):
    assert line in refusal(**env)


def start_up(monkeypatch, capsys, project: Path, **env: str) -> tuple[int, str]:
    """The entrypoint's main() in this process, on `project`, with only `env` set: its exit status and stderr."""
    for name in [*CONFIG_VARIABLES, ROOT_ENV]:
        monkeypatch.delenv(name, raising=False)  # restored afterwards, as the directory is: main() sets both
    for name, value in {"FLASK_APP": "kiosk", **env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(project)
    monkeypatch.setattr(entrypoint, "SCRIPTS_DIR", project / "scripts")

    def accepted(host, port):
        raise AssertionError(f"the configuration was accepted: {capsys.readouterr().err}")

    monkeypatch.setattr(entrypoint, "bind", accepted)  # never serve from a test of refusals
    status = entrypoint.main([])
    return status, capsys.readouterr().err


@pytest.fixture
def kiosk_project(tmp_path: Path) -> Path:
    (tmp_path / "kiosk").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"PORT": "abc"}, "PORT='abc' is not a port: use a whole number from 1 to 65535"),
        ({"PORT": "70000"}, "PORT='70000' is not a port"),
        ({"FLASK_DEBUG": "maybe"}, "FLASK_DEBUG='maybe' is not a boolean: use 1/0, true/false, yes/no or on/off"),
        ({"RELOAD": "sometimes"}, "RELOAD='sometimes' is not a boolean"),
        ({"GRACEFUL_TIMEOUT": "soon"}, "GRACEFUL_TIMEOUT='soon' is not a duration"),
        ({"APP_ENV": "staging"}, "APP_ENV='staging' is not known: use one of development, production"),
        ({"RELOAD_PATHS": "kiosk,nowhere"}, "names 'nowhere', which does not exist"),
        ({"WERKZEUG_DEBUG_PIN": "12"}, "WERKZEUG_DEBUG_PIN='12' is not a PIN"),
        ({"APP_ENV": "production", "FLASK_DEBUG": "1", "SECRET_KEY": "x" * 32},
         "FLASK_DEBUG is on with APP_ENV=production: refusing to start"),
        ({"APP_ENV": "production"}, "SECRET_KEY is not set with APP_ENV=production"),
        ({"APP_ENV": "production", "SECRET_KEY": "  "}, "SECRET_KEY is blank with APP_ENV=production"),
        ({"RELOAD_PATHS": ","}, "RELOAD_PATHS=',' names no path"),
        ({"RELOAD_PATHS": " , "}, "RELOAD_PATHS=' , ' names no path"),
    ],
)
def test_bad_value_is_named_and_exits_2(monkeypatch, capsys, kiosk_project, env, expected):
    status, stderr = start_up(monkeypatch, capsys, kiosk_project, **env)
    assert status == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr  # one line, nothing else
    assert lines[0].startswith("[devserver] error: ")
    assert expected in lines[0]


def test_every_bad_variable_gets_its_own_line(monkeypatch, capsys, kiosk_project):
    status, stderr = start_up(monkeypatch, capsys, kiosk_project, PORT="x", FLASK_DEBUG="perhaps")
    assert status == 2
    assert "PORT='x'" in stderr and "FLASK_DEBUG='perhaps'" in stderr
    assert len(stderr.strip().splitlines()) == 2


def test_every_bad_value_is_reported_at_once():
    assert len(refusal(PORT="x", FLASK_DEBUG="perhaps", ACCESS_LOG="loud").splitlines()) == 3


@pytest.mark.parametrize("raw, expected", [("TRUE", True), (" on ", True), ("No", False), ("0", False)])
def test_booleans_take_any_case_and_spaces(raw, expected):
    assert settings(ACCESS_LOG=raw).access_log is expected


def test_preload_takes_on_off_or_modules():
    assert settings(PRELOAD="0").preload == Preload(False, ())
    assert settings(PRELOAD="sqlalchemy, pandas.core").preload == Preload(True, ("sqlalchemy", "pandas.core"))


def test_workers_get_the_settings_whole_and_flask_its_own_variables_canonical():
    s = settings(FLASK_DEBUG="yes", DEBUGGER_TRUSTED_HOSTS="a.test, b.test", WERKZEUG_DEBUG_PIN="123-456-789")
    env = s.worker_env()
    assert Settings.loads(env["DEVSERVER_SETTINGS"]) == s
    assert env["FLASK_DEBUG"] == "1" and env["FLASK_TEMPLATES_AUTO_RELOAD"] == "true"
    # The PIN reaches the workers' debugger in the settings only, never as a variable the app would pass on.
    assert Settings.loads(env["DEVSERVER_SETTINGS"]).debug_pin == "123-456-789" and "WERKZEUG_DEBUG_PIN" not in env


def conforms(kind, value) -> bool:
    """`value` is of the declared type `kind`, looking into `X | None`, `tuple[X, ...]` and NamedTuples."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        return any(conforms(arg, value) for arg in args)
    if origin is tuple:
        return isinstance(value, tuple) and all(conforms(args[0], item) for item in value)
    if kind is type(None):
        return value is None
    if isinstance(kind, type) and issubclass(kind, tuple):  # a NamedTuple
        hints = typing.get_type_hints(kind)
        return isinstance(value, kind) and all(conforms(hints[name], getattr(value, name)) for name in kind._fields)
    return isinstance(value, kind) and isinstance(value, bool) == (kind is bool)  # True is no int, 5 no float


@pytest.mark.parametrize("env", [
    {},
    {"APP_ENV": "production", "SECRET_KEY": "x" * 32, "FLASK_DEBUG": "0", "WEB_CONCURRENCY": "3"},
    {"PRELOAD": "sqlalchemy", "WERKZEUG_DEBUG_PIN": "123-456-789", "DEBUGGER_TRUSTED_HOSTS": "a.test, b.test",
     "WATCHFILES_FORCE_POLLING": "1", "RELOAD_PATHS": "kiosk", "DEBUGGER": "debugpy", "GRACEFUL_TIMEOUT": "2",
     "PUBLIC_URL": "http://127.0.0.1:8080", "FLASK_SECRET_KEY": "y" * 32},
])
def test_each_value_has_its_rows_type_and_comes_back_from_the_workers_json_the_same(env):
    """The rows' `type` makes the fields of Settings and reads them back from JSON: a row whose parser
    gives another type (a list for a tuple, an int for a float) fails here."""
    s = settings(**env)
    for field in dataclasses.fields(Settings):
        value = getattr(s, field.name)
        assert conforms(field.type, value), f"{field.name}={value!r} is not a {field.type}"
    assert Settings.loads(s.dumps()) == s
    assert len({s.name for s in SETTINGS}) == len(SETTINGS)


def test_every_variable_the_server_reads_is_declared():
    """Besides the server's own (DEVSERVER_*, between its processes) and the system's."""
    read = set()
    for path in [*(ROOT / "scripts" / "devserver").rglob("*.py"), ROOT / "scripts" / "entrypoint.py",
                 ROOT / "scripts" / "healthcheck.py"]:
        read |= set(re.findall(r"""os\.(?:environ(?:\.get\(|\.pop\(|\[)|getenv\()\s*["'](\w+)["']""",
                               path.read_text()))
    undeclared = {name for name in read - VARIABLES - {"PYTHONPATH", "XDG_CACHE_HOME"}
                  if not name.startswith("DEVSERVER_")}
    assert not undeclared, f"declare them in SETTINGS (scripts/devserver/settings.py): {sorted(undeclared)}"


def test_compose_tells_where_the_published_port_is():
    assert settings(PUBLIC_URL="http://127.0.0.1:8080").public_url == "http://127.0.0.1:8080"
    assert settings().public_url == ""  # `make dev`: no line to open it


def test_flasks_own_name_for_the_secret_key_satisfies_production_and_stays_out_of_the_repr():
    s = settings(APP_ENV="production", FLASK_SECRET_KEY="k" * 32)
    assert s.flask_secret_key == "k" * 32 and "k" * 32 not in repr(s)
    assert "SECRET_KEY is blank with APP_ENV=production" in refusal(APP_ENV="production", FLASK_SECRET_KEY="  ")


@pytest.mark.parametrize("raw, on", [(None, False), ("", False), ("0", False), ("False", False),
                                     ("True", True), ("true", True), ("1", True)])
def test_gevent_support_is_read_by_its_row(raw, on):
    assert read_variable("GEVENT_SUPPORT", {} if raw is None else {"GEVENT_SUPPORT": raw}) is on


def test_under_a_debugger_gevent_support_is_set_once_for_the_processes_the_server_starts(monkeypatch, capsys):
    monkeypatch.delenv("GEVENT_SUPPORT", raising=False)
    with_gevent_support()
    assert os.environ["GEVENT_SUPPORT"] == "True"
    assert capsys.readouterr().err.count("GEVENT_SUPPORT=True") == 1
    with_gevent_support()  # already on: nothing more said
    assert capsys.readouterr().err == ""


def test_readme_table_and_env_example_are_written_from_the_declarations():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "settings_docs.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_copying_env_example_changes_nothing():
    """Every setting in it is commented out, and each value not marked as an example is the default."""
    example = ROOT / ".env.example"
    assert dotenv_values(example) == {}
    text = example.read_text()
    shown = dict(re.findall(r"(?m)^# ([A-Z_]+)=(.*)$", text))
    assert set(shown) == {s.name for s in SETTINGS if s.set_by is None}  # PUBLIC_URL is compose's to set
    examples = set(re.findall(r"shown: an example\n# ([A-Z_]+)=", text))
    for name, value in shown.items():
        if name not in examples:
            assert load_settings({name: value}, cwd=ROOT) == load_settings({}, cwd=ROOT), f"# {name}={value}"


def test_a_project_without_the_package_watches_the_working_directory(tmp_path: Path):
    assert load_settings({"FLASK_APP": "nowhere:create_app()"}, cwd=tmp_path).reload_paths == (tmp_path,)


# -- .flaskenv, Flask's way (issue 27) ------------------------------------------------------------

def read_env_files(monkeypatch, project: Path, **environment: str) -> dict[str, str | None]:
    """What entrypoint.read_env_file leaves in the environment for FLASK_APP, PORT and ACCESS_LOG,
    run as `make dev` runs it (compose has read nothing)."""
    monkeypatch.delenv(entrypoint.ENV_FILE_READ_ENV, raising=False)
    for name in ("FLASK_APP", "PORT", "ACCESS_LOG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    entrypoint.read_env_file(project)
    return {name: os.environ.get(name) for name in ("FLASK_APP", "PORT", "ACCESS_LOG")}


def test_make_dev_reads_the_committed_flaskenv(monkeypatch, tmp_path):
    (tmp_path / ".flaskenv").write_text("FLASK_APP=blog.py\nACCESS_LOG=0\n")
    assert read_env_files(monkeypatch, tmp_path) == {"FLASK_APP": "blog.py", "PORT": None, "ACCESS_LOG": "0"}
    assert load_settings(cwd=tmp_path).flask_app == "blog.py"


def test_env_wins_over_flaskenv_and_the_environment_over_both(monkeypatch, tmp_path):
    (tmp_path / ".flaskenv").write_text("FLASK_APP=blog.py\nPORT=5001\nACCESS_LOG=0\n")
    (tmp_path / ".env").write_text("FLASK_APP=shop:create_app()\nPORT=5002\n")
    assert read_env_files(monkeypatch, tmp_path, PORT="5003") \
        == {"FLASK_APP": "shop:create_app()", "PORT": "5003", "ACCESS_LOG": "0"}


def test_under_compose_neither_file_is_read_again(monkeypatch, tmp_path):
    (tmp_path / ".flaskenv").write_text("FLASK_APP=blog.py\n")
    monkeypatch.delenv("FLASK_APP", raising=False)
    monkeypatch.setenv(entrypoint.ENV_FILE_READ_ENV, "1")
    entrypoint.read_env_file(tmp_path)
    assert "FLASK_APP" not in os.environ


def test_an_unreadable_flaskenv_is_one_line_naming_it(monkeypatch, tmp_path):
    (tmp_path / ".flaskenv").mkdir()
    with pytest.raises(ConfigError, match=r"cannot read .*\.flaskenv: is a directory"):
        read_env_files(monkeypatch, tmp_path)


def test_compose_reads_flaskenv_below_env():
    """docker-compose.yml's env_file: a later file overrides an earlier one, so .flaskenv comes first."""
    block = re.search(r"(?ms)^  env_file:\n(.*?)^  \w", (ROOT / "docker-compose.yml").read_text()).group(1)
    assert re.findall(r"- path: (\S+)\n\s+required: (\w+)", block) == [(".flaskenv", "false"), (".env", "false")]


def test_the_template_names_its_app_in_a_committed_flaskenv():
    assert dotenv_values(ROOT / ".flaskenv") == {"FLASK_APP": "app"}
    assert subprocess.run(["git", "check-ignore", "-q", ".flaskenv"], cwd=ROOT).returncode == 1, "git ignores it"


def test_a_secret_comes_from_the_file_its_FILE_variable_names(tmp_path):
    """Docker and Kubernetes secrets are files: SECRET_KEY_FILE, as the official images' *_FILE."""
    secret = tmp_path / "secret_key"
    secret.write_text("k" * 40 + "\n")
    loaded = load_settings({"APP_ENV": "production", "SECRET_KEY_FILE": str(secret)}, cwd=ROOT)
    assert loaded.secret_key == "k" * 40
    assert load_settings({"SECRET_KEY": "set", "SECRET_KEY_FILE": "/nowhere"}, cwd=ROOT).secret_key == "set"
    with pytest.raises(ConfigError, match=r"SECRET_KEY_FILE='/nowhere' cannot be read: No such file"):
        load_settings({"APP_ENV": "production", "SECRET_KEY_FILE": "/nowhere"}, cwd=ROOT)
