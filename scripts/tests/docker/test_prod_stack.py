"""The prod image as a production host runs it: no reload, no debugger, a secret required, read-only."""

import subprocess

import pytest

from compose_stack import Stack


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("prod"), SECRET_KEY="test-secret-" + "x" * 32)
    s.url = f"http://127.0.0.1:{s.env['PROD_PORT']}"
    # A development .env copied along: production ignores its reload settings.
    s.write_env(RELOAD="1", RELOAD_PATHS="no-such-dir")
    try:
        s.compose("--profile", "prod", "up", "-d", "--build", "prod")
        s.wait_healthy("prod")
        yield s
    finally:
        s.down()


def test_prod_serves_the_app_flask_app_names_under_gunicorn_without_reloading(prod):
    assert prod.get("/").status_code == 200
    log = prod.logs("prod")
    assert "Listening at: http://0.0.0.0:5000" in log and "Using worker: devserver.production.worker.Worker" in log
    assert "watching" not in log and "[devserver]" not in log and "in your browser" not in log, log


def test_prod_raising_route_is_a_plain_500_and_no_console(prod):
    page = prod.get("/boom")
    assert page.status_code == 500
    assert "kaboom" not in page.text and "Traceback" not in page.text and "Werkzeug" not in page.text
    assert prod.get("/console").status_code == 404


def test_prod_root_filesystem_is_read_only(prod):
    result = subprocess.run(["docker", "exec", prod.container("prod"), "touch", "/app/x"],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "Read-only file system" in result.stderr
    assert subprocess.run(["docker", "exec", prod.container("prod"), "touch", "/tmp/x"]).returncode == 0


def test_prod_holds_no_dev_tools(prod):
    """No tests, linter, debugger, installer or git in the production image, and nothing it may rewrite."""
    found = subprocess.run(["docker", "exec", prod.container("prod"), "sh", "-c",
                            "for tool in pytest ruff uv git; do command -v $tool; done; "
                            "python -c 'import debugpy' 2>/dev/null && echo debugpy; "
                            "test -w /opt/venv/bin && echo writable-venv; true"],
                           capture_output=True, text=True)
    assert found.returncode == 0 and found.stdout == "", found.stdout + found.stderr


def test_prod_refuses_to_start_without_a_secret_key(new_stack):
    s = new_stack(SECRET_KEY="")
    result = s.compose("--profile", "prod", "up", "--build", "--abort-on-container-exit", "--exit-code-from",
                       "prod", "prod", check=False, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "SECRET_KEY is not set with APP_ENV=production" in s.logs("prod")


def test_prod_refuses_the_debugger(new_stack):
    s = new_stack(SECRET_KEY="x" * 40)
    s.write_env(FLASK_DEBUG="1")
    result = s.compose("--profile", "prod", "run", "--rm", "-e", "FLASK_DEBUG=1", "prod", check=False, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "FLASK_DEBUG is on with APP_ENV=production: refusing to start" in result.stdout + result.stderr
