"""`make new`: projects made from this template, their refusals, and `copier update` afterwards.

Every project here is really made (make, copier, git), then read, tested and served. `make new`
takes committed files only, so it runs in a copy of this template with everything on disk
committed: the files under test are the ones being edited, and this repository is left alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import copier
import pytest

from harness import ROOT, DevServer

# Commits made here need an author even on a machine whose git knows nobody.
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@localhost",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@localhost"}


def twinned_files() -> list[str]:
    """The files copier renders from a `.jinja` twin (its rule: a file whose `.jinja` sibling exists)."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard",
                             "*.jinja"], capture_output=True, text=True, check=True).stdout.split()
    return sorted(name.removesuffix(".jinja") for name in listed if (ROOT / name.removesuffix(".jinja")).is_file())


TWINS = twinned_files()
LEFT_OUT = ["copier.yml", "scripts/template", "scripts/tests/template", "scripts/tests/docker/test_generated_stack.py",
            ".ci", "scripts/ci", "bench"]
TEMPLATE_ONLY = re.compile(r"(?ms)^[^\n]*template-only:begin.*?template-only:end[^\n]*\n")
POSTGRES_MARKERS = re.compile(r"(?m)^[^\n]*postgres:(begin|end)[^\n]*\n")
# The template's own answer for the task queue is Celery: its blocks stay, RQ's (commented out) go.
TASKS_MARKERS = re.compile(r"(?m)^[^\n]*(tasks|celery):(begin|end)[^\n]*\n")
RQ_BLOCKS = re.compile(r"(?ms)^[^\n]*rq:begin.*?rq:end[^\n]*\n")
MARKERS = re.compile(r"(template-only|postgres|tasks|celery|rq):(begin|end)")
# What each queue leaves in a project, and what it never does: the other queue's words.
QUEUE_WORDS = {"celery": ("celery", "Celery", "kombu"), "rq": ("rq==", "from rq", "rq worker", "RQ")}


def make_new(template: Path, *variables: str, env: dict = GIT_ENV) -> subprocess.CompletedProcess:
    """`make new VAR=value …` in a copy of this template, as a user types it (with this repository's .venv)."""
    return subprocess.run(["make", "-s", "new", f"VENV={ROOT / '.venv'}", *variables], cwd=template, env=env,
                          capture_output=True, text=True, timeout=120)


def copy_of_this_template(dest: Path, *, git_history: bool = True) -> Path:
    """This template as it is on disk, with or without its .git, for tests that change it."""
    ignored = [".venv", "__pycache__"] + ([] if git_history else [".git"])
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*ignored))
    return dest


def committed_copy_of_this_template(dest: Path) -> Path:
    """This template as it is on disk, all of it committed (ignored files aside): what `make new` copies."""
    template = copy_of_this_template(dest)
    git(template, "add", "-A")
    git(template, "commit", "-q", "--allow-empty", "-m", "the template as it is on disk")
    return template


def new_project(template: Path, *args: str, env: dict = GIT_ENV) -> subprocess.CompletedProcess:
    """What `make new` runs, run in a copy of the template."""
    return subprocess.run([sys.executable, "scripts/template/new_project.py", *args], cwd=template, env=env,
                          capture_output=True, text=True, timeout=120)


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(project), *args], env=GIT_ENV, capture_output=True, text=True,
                          check=True).stdout


def text_files(project: Path) -> dict[str, str]:
    files = {}
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.relative_to(project).parts:
            files[path.relative_to(project).as_posix()] = path.read_text()
    return files


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A committed copy of this template, for the tests that do not change it."""
    return committed_copy_of_this_template(tmp_path_factory.mktemp("template") / "template")


@pytest.fixture(scope="module")
def shop(tmp_path_factory, template) -> Path:
    """A project with an answer of its own for each question."""
    dest = tmp_path_factory.mktemp("new") / "my-shop"
    result = make_new(template, "NAME=my_shop-2", f"DEST={dest}", "PORT=8123", "PYTHON_VERSION=3.12")
    assert result.returncode == 0, result.stderr
    assert f"Created {dest}" in result.stdout
    return dest


def test_the_answers_go_everywhere_they_belong(shop):
    files = text_files(shop)
    compose = files["docker-compose.yml"]
    assert "name: ${COMPOSE_PROJECT_NAME:-my_shop-2}\n" in compose
    assert "image: ${COMPOSE_PROJECT_NAME:-my_shop-2}-web:dev\n" in compose
    assert '"127.0.0.1:${PORT:-8123}:5000"' in compose
    assert "PYTHON_IMAGE: ${PYTHON_IMAGE:-python:3.12-slim}" in compose
    assert 'name = "my_shop-2"\n' in files["pyproject.toml"]
    assert 'description = "my_shop-2: a Flask app served by gevent, ' in files["pyproject.toml"]
    assert "known-local-folder" not in files["pyproject.toml"]  # the user's rules; the template's are scripts/ruff.toml
    assert '"reload"' not in files["scripts/ruff.toml"] and "bench/ruff.toml" not in files  # bench's, left out
    assert "testpaths" not in files["pyproject.toml"]  # pytest's own discovery, not the template's two suites
    assert files["README.md"].startswith("# my_shop-2\n")
    assert "http://127.0.0.1:8123/testsleep" in files["README.md"]
    assert "\n# PORT=8123\n" in files[".env.example"]  # commented out, as every line there
    assert "ARG PYTHON_IMAGE=python:3.12-slim\n" in files["Dockerfile"]
    assert "ENV HOST=0.0.0.0 PORT=5000\n" in files["Dockerfile"]  # the container's own port stays
    assert 'python-version: "3.12"' in files[".github/workflows/ci.yml"]
    leftovers = {name: [word for word in ("flask-gevent", "template-only", "127.0.0.1:5000", "python:3.13",
                                          "make new", "bench/") if word in text]
                 for name, text in files.items()}
    assert not {name: words for name, words in leftovers.items() if words}
    # Without DATABASE=postgres, nothing of the database in what the user reads and runs.
    database = {name: [word for word in ("postgres", "psycopg[", "DATABASE_URL", "db-data", "`/db`") if word in text]
                for name, text in files.items() if not name.startswith(("scripts/", "tests/"))}
    assert not {name: words for name, words in database.items() if words}
    assert not (shop / "scripts" / "tests" / "docker" / "test_postgres_stack.py").exists()


def test_the_templates_scaffolding_is_left_out(shop, template):
    assert not [path for path in LEFT_OUT if (shop / path).exists()]
    assert not list(shop.rglob("*.jinja"))
    assert (shop / "app" / "__init__.py").is_file()  # the layout is the template's
    answers = (shop / ".copier-answers.yml").read_text()
    assert "project_name: my_shop-2\n" in answers and "port: 8123\n" in answers
    assert f"_src_path: {template}\n" in answers


def recorded_commit(project: Path) -> str:
    return re.search(r"(?m)^_commit: (\S+)$", (project / ".copier-answers.yml").read_text())[1]


def test_it_records_the_templates_head_commit(shop, template):
    """A commit in the template's own history, so `copier update` can start from it."""
    head = git(template, "rev-parse", "HEAD").strip()
    assert git(template, "rev-parse", "--verify", f"{recorded_commit(shop)}^{{commit}}").strip() == head


def test_it_has_a_git_history_of_its_own(shop):
    assert len(git(shop, "log", "--format=%H").split()) == 1
    assert git(shop, "status", "--porcelain") == ""


def collected(project: Path, target: str) -> list[str]:
    """The tests `make <target>` runs in a project, collected only (with this repository's .venv, as it is)."""
    result = subprocess.run(["make", "-s", "-o", "install", target, f"VENV={ROOT / '.venv'}"], cwd=project,
                            env={**GIT_ENV, "PYTEST_ADDOPTS": "--collect-only -q"}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_its_make_test_runs_its_own_tests_and_make_test_devserver_the_dev_environments(shop):
    """The user's CI (`make test`) runs tests/ only, unit and integration; the dev suite has a target of its own."""
    own = collected(shop, "test")
    assert own and all(test.startswith("tests/") for test in own), own
    assert any(test.startswith("tests/integration/") for test in own), own
    dev = collected(shop, "test-devserver")
    assert dev and all(test.startswith("scripts/tests/") for test in dev), dev[:20]
    for suite in ("scripts/tests/test_settings.py::", "scripts/tests/test_reload.py::",
                  "scripts/tests/docker/test_dev_stack.py::"):
        assert any(test.startswith(suite) for test in dev), suite
    assert not any(test.startswith("scripts/tests/template/") for test in dev)  # left out with the template
    helps = subprocess.run(["make", "help"], cwd=shop, capture_output=True, text=True, check=True).stdout
    assert "make test           run your tests: tests/" in helps and "make test-devserver run the dev" in helps


def test_in_this_template_make_test_runs_both_suites():
    """The template's CI (.ci/run) runs `make test`: the dev environment's suite must stay in it."""
    everything = collected(ROOT, "test")
    for suite in ("tests/test_app.py::", "tests/integration/", "scripts/tests/test_settings.py::",
                  "scripts/tests/docker/test_generated_stack.py::", "scripts/tests/template/"):
        assert any(test.startswith(suite) for test in everything), suite


def test_its_dev_server_serves_it(shop):
    server = DevServer(shop, FLASK_APP="app", FLASK_DEBUG="1").start()  # its own app, not the tests' kiosk
    try:
        response = server.get("/")
        assert response.status_code == 200 and "It works." in response.text
    finally:
        assert server.stop() == 0
        assert not server.kill_leftovers()


def test_rendering_with_this_templates_answers_gives_its_files_back(tmp_path):
    """The twins change only what they must: a drift between a file and its twin shows here."""
    copier.run_copy(str(ROOT), tmp_path / "same", data={"project_name": "flask-gevent", "database": "postgres"},
                    defaults=True, quiet=True, vcs_ref="HEAD")
    assert len(TWINS) == 26, TWINS
    for name in TWINS:
        text = TEMPLATE_ONLY.sub("", (ROOT / name).read_text())
        expected = TASKS_MARKERS.sub("", RQ_BLOCKS.sub("", POSTGRES_MARKERS.sub("", text)))
        # The one line a project never has as the template does: production's worker in the prod profile
        # (here the tasks profile's redis is opt-in, so it has a profile of its own).
        expected = expected.replace("profiles: [prod-tasks]", "profiles: [prod]")
        assert (tmp_path / "same" / name).read_text() == expected, name


def test_with_database_postgres_the_db_service_is_always_on_and_the_demo_uses_it(tmp_path, template):
    result = make_new(template, "NAME=shop", f"DEST={tmp_path / 'p'}", "DATABASE=postgres")
    assert result.returncode == 0, result.stderr
    assert "with PostgreSQL" in result.stdout
    files = text_files(tmp_path / "p")
    compose = files["docker-compose.yml"]
    assert "\n  db:\n" in compose and "profiles: [postgres]" not in compose and "required: false  # here" not in compose
    assert "condition: service_healthy" in compose and "DATABASE_URL: postgresql://app:app@db:5432/app" in compose
    assert "\nvolumes:\n" in compose and "\n  db-data:\n" in compose
    assert "psycopg[binary]==" in files["requirements.txt"] and "psycopg-binary==" in files["requirements.txt"]
    assert '@bp.get("/db")' in files["app/views.py"] and "DATABASE_URL" in files["app/config.py"]
    assert "# DATABASE_URL=postgresql://app:app@127.0.0.1:5432/app" in files[".env.example"]
    assert not {name for name, text in files.items() if "postgres:begin" in text or "postgres:end" in text}
    assert "scripts/tests/docker/test_postgres_stack.py" in files
    lint = subprocess.run([ROOT / ".venv" / "bin" / "ruff", "check", "."], cwd=tmp_path / "p", capture_output=True,
                          text=True)
    assert lint.returncode == 0, lint.stdout


def test_without_a_database_its_code_passes_lint(shop):
    """The demo without its database block: no import or name left dangling."""
    lint = subprocess.run([ROOT / ".venv" / "bin" / "ruff", "check", "."], cwd=shop, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def test_a_database_other_than_none_or_postgres_is_refused(tmp_path, template):
    result = make_new(template, "NAME=shop", f"DEST={tmp_path / 'p'}", "DATABASE=mysql")
    assert result.returncode == 2
    assert result.stderr.startswith("make new: DATABASE: 'mysql' is not in"), result.stderr
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("answers", ["shop", "queues"])
def test_left_out_blocks_leave_no_gap(answers, shop, queues):
    """A left-out block takes its own blank line with it (put it inside the markers)."""
    for project in [shop] if answers == "shop" else queues.values():
        gaps = {name: (project / name).read_text().count("\n\n\n") - (ROOT / name).read_text().count("\n\n\n")
                for name in TWINS if (project / name).exists()}
        assert not {name: more for name, more in gaps.items() if more > 0}, project


@pytest.mark.parametrize("name", ["a" * 63, "42", "shop_2"])
def test_unusual_names_that_compose_accepts_are_taken(tmp_path, template, name):
    result = make_new(template, f"NAME={name}", f"DEST={tmp_path / 'p'}")
    assert result.returncode == 0, result.stderr
    assert f"name: ${{COMPOSE_PROJECT_NAME:-{name}}}\n" in (tmp_path / "p" / "docker-compose.yml").read_text()


@pytest.mark.parametrize("variables, expected", [
    (["NAME="], "NAME: the name is empty"),
    (["NAME=My Shop"], 'NAME: "My Shop" cannot name the project: it becomes the compose project and image name, so use '
                       "lowercase letters and digits, separated by single dashes or underscores, e.g. my-shop"),
    (["NAME=MyShop"], "e.g. myshop"),
    (["NAME=-shop"], "cannot name the project"),
    (["NAME=shop_"], "cannot name the project"),
    (["NAME=a___b"], "e.g. a-b"),
    (["NAME=my--shop"], "e.g. my-shop"),
    (["NAME=shop.io"], "cannot name the project"),
    (["NAME=" + "a" * 64], "is 64 characters long; 63 at most"),
    (["NAME=shop", "PORT=80"], "PORT: 80 is out of range: use 1024-65535"),
    (["NAME=shop", "PORT=65536"], "PORT: 65536 is out of range"),
    (["NAME=shop", "PORT=http"], "PORT 'http' is not a number"),
    (["NAME=shop", "PYTHON_VERSION=2.7"], "PYTHON_VERSION: '2.7' is not in"),
])
def test_bad_answers_are_refused_before_anything_is_written(tmp_path, template, variables, expected):
    dest = tmp_path / "p"
    result = make_new(template, *variables, f"DEST={dest}")
    assert result.returncode == 2
    assert result.stderr.startswith("make new: ") and expected in result.stderr.splitlines()[0], result.stderr
    assert not dest.exists()


def test_a_dest_that_is_not_empty_is_refused_and_left_alone(tmp_path, template):
    (tmp_path / "notes.txt").write_text("mine")
    result = make_new(template, "NAME=shop", f"DEST={tmp_path}")
    assert result.returncode == 2
    assert f"make new: DEST {tmp_path} exists and is not empty" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"] and (tmp_path / "notes.txt").read_text() == "mine"


def test_a_dest_that_is_a_file_is_refused_and_left_alone(tmp_path, template):
    (tmp_path / "p").write_text("mine")
    result = make_new(template, "NAME=shop", f"DEST={tmp_path / 'p'}")
    assert result.returncode == 2 and "exists and is not a directory" in result.stderr
    assert (tmp_path / "p").read_text() == "mine"


@pytest.mark.parametrize("dest, expected", [("", "DEST is empty"), ("sub", "DEST sub is inside this template")])
def test_a_missing_or_misplaced_dest_is_refused(template, dest, expected):
    result = make_new(template, "NAME=shop", f"DEST={dest}")
    assert result.returncode == 2 and expected in result.stderr
    assert not (template / "sub").exists()


def test_without_git_it_says_so_and_writes_nothing(tmp_path):
    result = new_project(ROOT, "--name=shop", f"--dest={tmp_path / 'p'}",
                         env={**GIT_ENV, "PATH": str(tmp_path)})  # a PATH with no git on it
    assert result.returncode == 2 and result.stderr.startswith("make new: git is not installed")
    assert not (tmp_path / "p").exists()


def test_a_template_that_is_not_a_git_clone_is_refused(tmp_path):
    """Unpacked from an archive: copier could record no commit, so `copier update` could never work."""
    unpacked = copy_of_this_template(tmp_path / "unpacked", git_history=False)
    result = new_project(unpacked, "--name=shop", f"--dest={tmp_path / 'p'}")
    assert result.returncode == 2 and "is not a git clone" in result.stderr
    assert not (tmp_path / "p").exists()


def test_where_git_knows_nobody_it_commits_as_make_new_and_says_how_to_fix_it(tmp_path, template):
    (tmp_path / "home").mkdir()
    nobody = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    nobody.update(HOME=str(tmp_path / "home"), GIT_CONFIG_NOSYSTEM="1")
    result = new_project(template, "--name=shop", f"--dest={tmp_path / 'p'}", env=nobody)
    assert result.returncode == 0, result.stderr
    assert "git has no user.name/user.email here" in result.stderr and "--reset-author" in result.stderr
    assert git(tmp_path / "p", "log", "--format=%an").split() == ["make", "new"]


def assert_refused_as_uncommitted(result: subprocess.CompletedProcess, *names: str) -> None:
    """One line that names the files and says what to do (make may add a line of its own after it)."""
    assert result.returncode == 2, result.stderr
    line = result.stderr.splitlines()[0]
    assert line.startswith("make new: the template at ") and "has changes that are not committed: " in line, line
    assert all(name in line for name in names), line
    assert "commit them (`git add -A && git commit`)" in line and "(`git stash -u`)" in line, line
    assert line.endswith("then run make new again"), line


def test_a_changed_file_in_the_template_is_refused_and_nothing_is_written(tmp_path):
    template = committed_copy_of_this_template(tmp_path / "template")
    with open(template / "app" / "views.py", "a") as f:
        f.write("# not committed yet\n")
    dest = tmp_path / "p"
    dest.mkdir()  # an empty DEST is taken, and must stay empty
    result = make_new(template, "NAME=shop", f"DEST={dest}")
    assert_refused_as_uncommitted(result, "app/views.py")
    assert not list(dest.iterdir())


def test_an_untracked_file_in_the_template_is_refused_and_never_copied(tmp_path):
    """Local state with a password hash in it must not end in a new project's first commit; ignored files pass."""
    template = committed_copy_of_this_template(tmp_path / "template")
    secret = "ADMIN_PASSWORD_HASH = 'scrypt:32768:8:1$salt$hash'\n"
    (template / "app" / "local_settings.py").write_text(secret)
    exclude = template / git(template, "rev-parse", "--git-path", "info/exclude").strip()
    exclude.parent.mkdir(exist_ok=True)  # a clone made without git's templates has no .git/info
    with open(exclude, "a") as f:
        f.write("/instance/\n")
    (template / "instance").mkdir(exist_ok=True)
    (template / "instance" / "app.sqlite").write_bytes(b"SQLite format 3\0")
    assert git(template, "status", "--porcelain", "--untracked-files=all") == "?? app/local_settings.py\n"
    result = make_new(template, "NAME=shop", f"DEST={tmp_path / 'p'}")
    assert_refused_as_uncommitted(result, "app/local_settings.py (untracked)")
    assert "instance" not in result.stderr
    assert not (tmp_path / "p").exists()

    # What the message says to do works, and the file stays home.
    git(template, "stash", "-u", "-q")
    result = make_new(template, "NAME=shop", f"DEST={tmp_path / 'p'}")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "p" / "app" / "local_settings.py").exists() and not (tmp_path / "p" / "instance").exists()
    git(template, "stash", "pop", "-q")
    assert (template / "app" / "local_settings.py").read_text() == secret


def test_many_uncommitted_files_are_counted_not_listed(tmp_path):
    template = committed_copy_of_this_template(tmp_path / "template")
    for n in range(7):
        (template / f"note{n}.txt").write_text("draft")
    result = new_project(template, "--name=shop", f"--dest={tmp_path / 'p'}")
    assert_refused_as_uncommitted(result, "note0.txt (untracked)", " and 2 more. ")
    assert sum(f"note{n}.txt" in result.stderr for n in range(7)) == 5
    assert not (tmp_path / "p").exists()


def test_make_ignores_a_name_from_the_environment(tmp_path, template):
    """WSL exports NAME (the machine's name): only make's command line names a project."""
    result = make_new(template, f"DEST={tmp_path / 'p'}", env={**GIT_ENV, "NAME": "my-shop"})
    assert result.returncode == 2 and "NAME: the name is empty" in result.stderr


def copier_update(project: Path, *args: str) -> None:
    """`copier update --defaults` in a project, as the README has it."""
    update = subprocess.run([sys.executable, "-m", "copier", "update", *args, "--defaults"], cwd=project, env=GIT_ENV,
                            capture_output=True, text=True, timeout=300)
    assert update.returncode == 0, update.stderr


def test_copier_update_brings_template_changes_and_keeps_the_projects(tmp_path):
    # The template as it is now, committed (copier updates from commits).
    template = copy_of_this_template(tmp_path / "template")
    git(template, "add", "-A")
    git(template, "commit", "-q", "--allow-empty", "-m", "the template today")
    project = tmp_path / "shop"
    result = new_project(template, "--name=shop", f"--dest={project}", "--port=8123")
    assert result.returncode == 0, result.stderr

    improvement = "# a later improvement to the template\n"
    with open(template / "scripts" / "devserver" / "log.py", "a") as f:
        f.write(improvement)
    readme = (template / "README.md").read_text()
    (template / "README.md").write_text(readme.replace("\n## Why gevent\n", "\nA new paragraph.\n\n## Why gevent\n"))
    git(template, "commit", "-q", "-am", "improve the template")
    with open(project / "app" / "views.py", "a") as f:
        f.write("# the project's own change\n")
    git(project, "commit", "-q", "-am", "our change")

    copier_update(project)
    assert recorded_commit(project) and git(template, "rev-parse", f"{recorded_commit(project)}^{{commit}}") == \
        git(template, "rev-parse", "HEAD")
    assert (project / "scripts" / "devserver" / "log.py").read_text().endswith(improvement)
    readme = (project / "README.md").read_text()
    assert readme.startswith("# shop\n") and "\nA new paragraph.\n" in readme and "127.0.0.1:8123" in readme
    assert (project / "app" / "views.py").read_text().endswith("# the project's own change\n")
    assert "port: 8123\n" in (project / ".copier-answers.yml").read_text()

    # Changing an answer later, as the README says.
    git(project, "commit", "-q", "-am", "the update")
    copier_update(project, "--data", "port=8080")
    assert '"127.0.0.1:${PORT:-8080}:5000"' in (project / "docker-compose.yml").read_text()
    assert (project / "app" / "views.py").read_text().endswith("# the project's own change\n")


def test_it_names_its_app_in_a_committed_flaskenv(shop):
    """FLASK_APP travels with the project (issue 27): in .flaskenv, which git tracks, not in the ignored .env."""
    from dotenv import dotenv_values

    assert dotenv_values(shop / ".flaskenv") == {"FLASK_APP": "app"}
    assert ".flaskenv" in git(shop, "ls-files").split()
    assert "name it in `.flaskenv`" in (shop / "README.md").read_text()


# -- the task queue: TASKS=celery (the default), rq, none ------------------------------------------------

TASK_FILES = ["app/tasks.py", "tests/test_tasks.py", "tests/integration/test_queued_tasks.py",
              "scripts/tests/test_task_worker.py"]


@pytest.fixture(scope="module")
def queues(tmp_path_factory, template) -> dict[str, Path]:
    """A project for each other answer: RQ, and no task queue at all (with PostgreSQL, so both blocks mix)."""
    made = {}
    for tasks, database in (("rq", "none"), ("none", "postgres")):
        dest = tmp_path_factory.mktemp("tasks") / f"shop-{tasks}"
        result = make_new(template, f"NAME=shop-{tasks}", f"DEST={dest}", f"TASKS={tasks}", f"DATABASE={database}")
        assert result.returncode == 0, result.stderr
        made[tasks] = dest
    return made


def source_files(project: Path) -> dict[str, str]:
    """The project's text files as made (not what running its tests wrote since: caches, bytecode)."""
    listed = git(project, "ls-files", "-z").split("\0")
    return {name: (project / name).read_text() for name in listed if name}


def users_files(project: Path) -> dict[str, str]:
    """What the user reads and runs: everything but the dev environment's own code and tests."""
    return {name: text for name, text in source_files(project).items() if not name.startswith("scripts/")}


def pins(text: str) -> dict[str, str]:
    """A requirements file's `name==version` lines, by normalised name."""
    found = {}
    for line in text.splitlines():
        requirement = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in requirement:
            name, version = requirement.split("==", 1)
            found[re.sub(r"[-_.]+", "-", name.split("[", 1)[0]).lower()] = version.strip()
    return found


def tools_agree_with_the_apps_pins(project: Path) -> None:
    """What each dev tool (requirements-test.txt) asks of a package the app pins, the app's pin gives: else the
    dev server warns at every start that a tool runs with an unmet requirement (install_app_first.py). The
    tools' own requirements as this checkout's .venv has them installed, at the same pinned versions."""
    import importlib.metadata

    from packaging.requirements import Requirement

    app, tools = pins((project / "requirements.txt").read_text()), pins((project / "requirements-test.txt").read_text())
    unmet = []
    for tool, version in tools.items():
        if importlib.metadata.version(tool) != version:
            continue  # not this version here: nothing to read its requirements from
        for line in importlib.metadata.requires(tool) or []:
            requirement = Requirement(line)
            name = re.sub(r"[-_.]+", "-", requirement.name).lower()
            marker_applies = requirement.marker is None or requirement.marker.evaluate({"extra": ""})
            if marker_applies and name in app and not requirement.specifier.contains(app[name], prereleases=True):
                unmet.append(f"{tool} requires {requirement}, the project pins {name}=={app[name]}")
    assert not unmet, unmet


def compose_services(project: Path) -> dict:
    import yaml

    return yaml.safe_load((project / "docker-compose.yml").read_text())["services"]


def unit_tests_pass(project: Path) -> None:
    """Its own tests that need no Docker (the integration ones are docker/test_generated_stack.py's)."""
    result = subprocess.run([ROOT / ".venv" / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests", "--ignore=tests/integration"], cwd=project, env=GIT_ENV, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def lint_passes(project: Path) -> None:
    lint = subprocess.run([ROOT / ".venv" / "bin" / "ruff", "check", "--no-cache", "."], cwd=project,
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def compose_file_is_valid(project: Path) -> None:
    """docker compose reads it (where there is a compose: it needs no engine)."""
    if shutil.which("docker") is None:
        return
    check = subprocess.run(["docker", "compose", "config", "--quiet"], cwd=project, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_by_default_celery_runs_the_tasks_with_redis_and_a_worker_always_on(shop, template):
    files = source_files(shop)
    services = compose_services(shop)
    assert {"web", "worker", "redis", "prod", "prod-worker", "release", "proxy"} <= set(services)
    assert "profiles" not in services["worker"] and "profiles" not in services["redis"]  # always on, no profile
    assert services["prod-worker"]["profiles"] == ["prod"]
    assert services["worker"]["environment"]["TASK_WORKER"] == \
        "celery -A app.tasks worker -P gevent --without-mingle --without-gossip -l INFO"
    assert services["prod-worker"]["environment"]["TASK_WORKER"] == "celery -A app.tasks worker -P gevent -l INFO"
    assert services["worker"]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert "ports" not in services["worker"] and services["redis"]["ports"] == ["127.0.0.1:${REDIS_PORT:-6379}:6379"]
    assert services["web"]["environment"]["REDIS_URL"] == services["worker"]["environment"]["REDIS_URL"]
    assert int(services["worker"]["stop_grace_period"].rstrip("s")) > 30  # TASK_GRACE's default, and more
    assert all(name in files for name in TASK_FILES + ["scripts/tests/docker/test_tasks_stack.py"])
    assert "celery==5.7.0" in files["requirements.txt"] and "kombu==" in files["requirements.txt"]
    assert "rq==" not in files["requirements.txt"] and "from rq" not in files["app/views.py"]
    assert not {name for name, text in files.items() if MARKERS.search(text)}
    assert "tasks: celery\n" in files[".copier-answers.yml"]
    compose_file_is_valid(shop)


def test_with_tasks_rq_rq_runs_them_and_nothing_of_celery_is_left(queues):
    project = queues["rq"]
    files = users_files(project)
    services = compose_services(project)
    assert services["worker"]["environment"]["TASK_WORKER"] == "rq worker --url redis://redis:6379/0"
    assert services["prod-worker"]["environment"]["TASK_WORKER"] == "rq worker --url redis://redis:6379/1"
    assert "test" not in services["worker"]["healthcheck"]  # the image's check, which asks RQ (task_health.py)
    assert all((project / name).is_file() for name in TASK_FILES)
    assert not (project / "scripts" / "tests" / "docker" / "test_tasks_stack.py").exists()  # Celery's
    assert "rq==3.0.0" in files["requirements.txt"] and "redis==8.1.0" in files["requirements.txt"]
    assert "from rq.job import Job" in files["app/views.py"] and "Job.fetch(" in files["app/views.py"]
    assert "queue = Queue(" in files["app/tasks.py"] and "def echo(" in files["app/tasks.py"]
    assert "is_async=False" in files["tests/test_tasks.py"]
    tools_agree_with_the_apps_pins(project)
    # The engine's TASK_WORKER names both queues, and its tests (their tools, their marker) run both.
    engines = ("README.md", ".env.example", "requirements-test.txt", "pyproject.toml")
    leftovers = {name: [word for word in QUEUE_WORDS["celery"] if word in text] for name, text in files.items()
                 if name not in engines}
    assert not {name: words for name, words in leftovers.items() if words}
    assert not {name for name, text in source_files(project).items() if MARKERS.search(text)}
    lint_passes(project)
    unit_tests_pass(project)
    compose_file_is_valid(project)


def test_with_tasks_none_there_is_no_queue_no_redis_and_no_worker(queues):
    project = queues["none"]
    files = users_files(project)
    services = compose_services(project)
    tools_agree_with_the_apps_pins(project)
    assert set(services) == {"web", "prod", "release", "proxy", "db"}
    assert not [name for name in TASK_FILES + ["scripts/tests/docker/test_tasks_stack.py"] if (project / name).exists()]
    words = ("redis", "Redis", "REDIS", "celery", "Celery", "rq==", "/tasks/", "fakeredis")
    # The engine's settings (TASK_WORKER) are documented; the integration stack gets a free REDIS_PORT, as
    # it gets a DB_PORT, whatever the project runs.
    engines = ("README.md", ".env.example", "tests/integration/conftest.py")
    leftovers = {name: [word for word in words if word in text] for name, text in files.items() if name not in engines}
    assert not {name: words for name, words in leftovers.items() if words}
    assert "celery" not in (project / "requirements-test.txt").read_text()
    assert "@bp.get(\"/db\")" in files["app/views.py"]  # the database's block, beside the left-out tasks
    assert not {name for name, text in source_files(project).items() if MARKERS.search(text)}
    lint_passes(project)
    unit_tests_pass(project)
    compose_file_is_valid(project)


def test_a_task_queue_other_than_celery_rq_or_none_is_refused(tmp_path, template):
    result = make_new(template, "NAME=shop", f"DEST={tmp_path / 'p'}", "TASKS=kafka")
    assert result.returncode == 2
    assert result.stderr.startswith("make new: TASKS: 'kafka' is not in"), result.stderr
    assert not (tmp_path / "p").exists()
