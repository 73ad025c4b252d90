"""The entrypoint runs the command it is given instead of the server, and `release` runs the release step
(issue 27): `docker compose run --rm web flask shell`, a worker service's `command:`, a deploy's
migrations. The real entrypoint's process, on a copy of the project; the health check's view of such
a container is in-process, on a /proc of the test's making.
"""

import sys
from pathlib import Path

import pytest

from harness import run_entrypoint
from healthcheck import command_instead

SHOW_ENV = "import os; print(os.environ.get('FLASK_APP'), os.environ.get('FLASK_DEBUG'), os.getcwd())"


def test_a_command_gets_the_apps_environment_as_a_worker_has_it(project):
    """FLASK_APP as the settings read it, FLASK_DEBUG as the workers have it (on in development, where
    it was unset), the project as the working directory; no server, no PIN."""
    result = run_entrypoint(project, sys.executable, "-c", SHOW_ENV, FLASK_APP=" kiosk ")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["kiosk", "1", str(project)], result.stdout
    assert "debugger is on" not in result.stderr and "PIN" not in result.stderr


def test_the_commands_exit_status_is_the_containers(project):
    result = run_entrypoint(project, sys.executable, "-c", "raise SystemExit(7)")
    assert result.returncode == 7


def test_settings_the_server_would_refuse_are_said_and_the_command_still_runs(project):
    """A broken .env must not keep `docker compose run --rm web sh` from opening to fix it."""
    result = run_entrypoint(project, sys.executable, "-c", "print('ran')", PORT="abc")
    assert result.returncode == 0 and result.stdout.strip() == "ran"
    assert "warning: the server would not start: PORT='abc' is not a port" in result.stderr


def test_a_command_the_image_does_not_have_is_one_line_and_127(project):
    result = run_entrypoint(project, "no-such-command-here")
    assert result.returncode == 127
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot run 'no-such-command-here'" in lines[0], result.stderr


def test_release_with_nothing_to_release_says_so_and_succeeds(project):
    result = run_entrypoint(project, "release")
    assert result.returncode == 0, result.stderr
    assert "release: nothing to do (no RELEASE_COMMAND, no migrations/env.py)" in result.stderr


def test_release_runs_flask_db_upgrade_where_flask_migrate_migrations_are(project, tmp_path):
    """The default where migrations/env.py exists: `flask db upgrade`, found on PATH (a stand-in here
    that records its arguments, as the real one would run the migrations)."""
    (project / "migrations").mkdir()
    (project / "migrations" / "env.py").write_text("")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    flask = bin_dir / "flask"
    flask.write_text(f"#!{sys.executable}\nimport os, sys\nprint('flask', *sys.argv[1:], os.environ['FLASK_APP'])\n")
    flask.chmod(0o755)
    result = run_entrypoint(project, "release", PATH=f"{bin_dir}:/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    assert "release: flask db upgrade" in result.stderr
    assert result.stdout.strip() == "flask db upgrade kiosk"


@pytest.mark.parametrize(("setting", "shown"), [("python3 -c 'print(42)'", "42"), ("none", "")])
def test_release_command_names_the_step_or_none(project, setting, shown):
    (project / "migrations").mkdir()
    (project / "migrations" / "env.py").write_text("")
    result = run_entrypoint(project, "release", RELEASE_COMMAND=setting)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == shown


def test_a_failing_release_fails_with_its_status(project):
    result = run_entrypoint(project, "release", RELEASE_COMMAND="python3 -c 'raise SystemExit(3)'")
    assert result.returncode == 3


def fake_proc(root: Path, processes: dict[int, list[str]]) -> Path:
    for pid, argv in processes.items():
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    return root


@pytest.mark.unit
def test_the_health_check_sees_the_server_or_what_runs_in_its_place(tmp_path):
    server = fake_proc(tmp_path / "a", {1: ["/sbin/docker-init", "--", "python", "/app/scripts/entrypoint.py"],
                                        7: ["python", "/app/scripts/entrypoint.py"]})
    assert command_instead(server) is None
    given = fake_proc(tmp_path / "b", {1: ["/sbin/docker-init", "--", "python", "/app/scripts/entrypoint.py",
                                           "rq", "worker"],
                                       7: ["/opt/venv/bin/python", "/opt/venv/bin/rq", "worker"]})
    assert command_instead(given) == "rq worker"
    without_init = fake_proc(tmp_path / "c", {1: ["/opt/venv/bin/python", "-m", "ledger.worker"]})
    assert command_instead(without_init) == "/opt/venv/bin/python -m ledger.worker"
