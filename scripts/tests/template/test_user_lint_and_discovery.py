"""An existing app brought into a made project (issue 27): `make test` finds its tests where pytest would,
and `make lint` holds it to the project's own rules while the dev environment's code keeps the template's.

The app is written the way existing apps are: a microblog-style unittest file at the root (`tests.py`), a
test module inside its package, and a module whose imports are not sorted and which spells UTC the old way
(`timezone.utc`), both of which the template's rules (scripts/ruff.toml) refuse.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_new_project import GIT_ENV, ROOT, collected, committed_copy_of_this_template, make_new

RUFF = ROOT / ".venv" / "bin" / "ruff"

STAMPS = '''"""When a post was written."""
import sys
import os
from datetime import datetime, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)


def where() -> str:
    return os.path.join(sys.prefix, "posts")
'''

PACKAGE = '''from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def index():
        return "the blog"

    return app
'''

TESTS_PY = '''import unittest

from blog import create_app
from blog.stamps import now


class BlogCase(unittest.TestCase):
    def test_home_page(self):
        self.assertEqual(create_app().test_client().get("/").text, "the blog")

    def test_now_knows_its_zone(self):
        self.assertIsNotNone(now().tzinfo)
'''

PACKAGE_TEST = '''from blog import create_app


def test_home_page():
    assert create_app().test_client().get("/").status_code == 200
'''

# Where a project holds no tests of its own: what the app writes or generates, and what tools install.
DECOYS = ["instance/test_decoy.py", "logs/test_decoy.py", "migrations/test_decoy.py",
          "node_modules/some-package/test_decoy.py", ".venv/lib/test_decoy.py"]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A made project with an existing app copied in beside `app/`, as a user brings one."""
    template = committed_copy_of_this_template(tmp_path_factory.mktemp("template") / "template")
    dest = tmp_path_factory.mktemp("new") / "brought-in"
    result = make_new(template, "NAME=brought-in", f"DEST={dest}")
    assert result.returncode == 0, result.stderr
    (dest / "blog").mkdir()
    (dest / "blog" / "__init__.py").write_text(PACKAGE)
    (dest / "blog" / "stamps.py").write_text(STAMPS)
    (dest / "blog" / "test_something.py").write_text(PACKAGE_TEST)
    (dest / "tests.py").write_text(TESTS_PY)
    for decoy in DECOYS:
        (dest / decoy).parent.mkdir(parents=True, exist_ok=True)
        (dest / decoy).write_text("def test_decoy():\n    raise AssertionError('collected from where no test is')\n")
    return dest


def ruff(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([RUFF, *args], cwd=project, capture_output=True, text=True, timeout=60)


def test_make_test_finds_the_apps_tests_where_pytest_would_and_not_the_dev_environments(project):
    found = collected(project, "test")
    assert "tests.py::BlogCase::test_home_page" in found and "tests.py::BlogCase::test_now_knows_its_zone" in found
    assert "blog/test_something.py::test_home_page" in found, found
    assert any(test.startswith("tests/test_app.py::") for test in found), found  # the project's own tests stay
    assert any(test.startswith("tests/integration/") for test in found), found
    assert not [test for test in found if test.startswith(("scripts/", *(decoy.split("/")[0] for decoy in DECOYS)))]
    assert len(found) == len(set(found))
    # The dev environment's suite is still `make test-devserver`, and has none of the app's tests.
    dev = collected(project, "test-devserver")
    assert dev and all(test.startswith("scripts/tests/") for test in dev), [t for t in dev if "scripts/tests/" not in t]


def test_the_apps_tests_run_under_the_projects_pytest_settings(project):
    """Imported for real: the root tests.py as itself beside tests/, the package's test inside its package."""
    result = subprocess.run([ROOT / ".venv" / "bin" / "python", "-m", "pytest", "-q", "tests.py", "blog"], cwd=project,
                            env=GIT_ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout, result.stdout


def test_make_lint_holds_the_app_to_its_own_rules_and_scripts_to_the_templates(project):
    assert ruff(project, "--version").returncode == 0
    lint = ruff(project, "check", "--no-cache", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr

    # The same module under scripts/ fails: there the template's rules apply, import order and all.
    bad = project / "scripts" / "stamps_copy.py"
    bad.write_text(STAMPS)
    try:
        lint = ruff(project, "check", "--no-cache", "--output-format=concise", ".")
    finally:
        bad.unlink()
    assert lint.returncode == 1, lint.stdout + lint.stderr
    problems = [line for line in lint.stdout.splitlines() if ": " in line and line.split(":")[0].endswith(".py")]
    assert {line.split(":")[0] for line in problems} == {"scripts/stamps_copy.py"}, lint.stdout
    assert any(" I001 " in line for line in problems) and any(" UP017 " in line for line in problems), lint.stdout


def test_each_file_names_the_configuration_it_is_checked_with(project):
    def settings_path(path: str) -> str:
        shown = ruff(project, "check", "--show-settings", path)
        assert shown.returncode == 0, shown.stderr
        return next(line for line in shown.stdout.splitlines() if line.startswith("Settings path: "))

    assert settings_path("scripts/devserver/log.py") == f'Settings path: "{project / "scripts" / "ruff.toml"}"'
    assert settings_path("blog/stamps.py") == f'Settings path: "{project / "pyproject.toml"}"'
    assert settings_path("app/views.py") == f'Settings path: "{project / "pyproject.toml"}"'
    # The template's own way of collecting its two suites stays in the template.
    pyproject = (project / "pyproject.toml").read_text()
    assert "testpaths" not in pyproject and 'python_files = ["test_*.py", "*_test.py", "tests.py"]' in pyproject
