"""Bring your own app (issue 10): a user's app, written elsewhere, served by the template as is.

The app is scripts/tests/apps/blog: package `notes_blog` (a factory, an instance folder with a
SQLite database written at run time, templates, a static file) and its own tests. Each stack
gets it the way a user does it: the package copied to the project root beside `app/`, its tests
into the project's `tests/`, and `FLASK_APP=notes_blog` in `.env`; nothing else is configured.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from compose_stack import Stack, compiled
from harness import wait_for

BLOG = Path(__file__).resolve().parent.parent / "apps" / "blog"
HEALTH_CHECK_LINES = ("OPTIONS *", "/healthz")


def bring_blog(s: Stack, env: str) -> Stack:
    """Copy the blog into the project as a user would, write `env` as the project's .env."""
    shutil.copytree(BLOG / "notes_blog", s.dir / "notes_blog", ignore=shutil.ignore_patterns("__pycache__"))
    (s.dir / "tests").mkdir(exist_ok=True)
    shutil.copy(BLOG / "tests" / "test_notes.py", s.dir / "tests" / "test_notes.py")
    (s.dir / ".env").write_text(env)
    # Tests run as root: what we added must belong to the container user, as the rest of the copy does.
    subprocess.run(["chown", "-R", f"{s.uid}:{s.uid}", str(s.dir)], check=True)
    return s


def post_note(s: Stack, body: str) -> requests.Response:
    return requests.post(s.url + "/notes", data={"body": body}, allow_redirects=False, timeout=10)


# The stacks of their own come first, so they are down before the shared dev stack starts (2 cores),
# and the in-container test run comes last.


def test_env_example_copied_then_flask_app_added(new_stack):
    """`cp .env.example .env`, then `echo FLASK_APP=notes_blog >> .env`: the README's way."""
    s = new_stack()
    example = (s.dir / ".env.example").read_text()
    s = bring_blog(s, example)
    with open(s.dir / ".env", "a") as f:
        f.write("FLASK_APP=notes_blog\n")
    s.up()
    assert "All notes" in s.get("/").text
    log = s.logs()
    assert "watching notes_blog for changes" in log and "watching app for" not in log, log


def test_prod_builds_and_serves_it_without_local_state(new_stack):
    """The prod image: the app baked in, its database in /tmp (the only writable place there)."""
    s = new_stack(SECRET_KEY="test-secret-" + "x" * 32)
    s.url = f"http://127.0.0.1:{s.env['PROD_PORT']}"
    # A read-only root filesystem: a real user points the database at the tmpfs through .env.
    bring_blog(s, "FLASK_APP=notes_blog\nNOTES_DB=/tmp/notes.sqlite\n")
    # The user's development database and instance config, which must stay out of the image.
    (s.dir / "instance").mkdir()
    (s.dir / "instance" / "notes.sqlite").write_bytes(b"SQLite format 3\0")
    (s.dir / "instance" / "config.py").write_text("SECRET_KEY = 'dev-only'\n")
    # What development wrote (a file log, rotated) and a brought-in app's top-level tests.py.
    (s.dir / "logs").mkdir()
    (s.dir / "logs" / "notes.log").write_text("dev log\n")
    (s.dir / "logs" / "notes.log.1").write_text("older dev log\n")
    (s.dir / "notes_blog" / "debug.log.2").write_text("a rotated log beside the code\n")
    (s.dir / "tests.py").write_text("def test_nothing():\n    pass\n")
    s.compose("--profile", "prod", "up", "-d", "--build", "prod")
    s.wait_healthy("prod")
    assert "All notes" in s.get("/").text and "No notes yet." in s.get("/").text
    assert s.get("/static/style.css").status_code == 200
    assert post_note(s, "written in prod").status_code == 303
    assert "written in prod" in s.get("/").text
    files = subprocess.run(["docker", "run", "--rm", "--entrypoint", "find", f"{s.name}-web:prod", "/app"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert "/app/notes_blog/views.py" in files and "/app/notes_blog/static/style.css" in files
    # The instance folder is there, empty (the volume's mount point, the container user's): nothing of yours.
    leaked = [f for f in files if f == "/app/.env" or f.startswith(("/app/instance/", "/app/tests", "/app/logs"))
              or f.endswith((".sqlite", "test_notes.py", ".log.1", ".log.2"))]
    assert not leaked, leaked
    # What only development reads: the README, the compose add-ons, the dev tools' requirements.
    dev_only = {"/app/README.md", "/app/compose.debug.yaml", "/app/compose.watch.yaml", "/app/requirements-dev.txt",
                "/app/requirements-test.txt", "/app/tests.py"}
    assert not dev_only & set(files), dev_only & set(files)
    assert "/app/requirements.txt" in files  # the app's own: what it runs on
    # The installed packages compiled in the build (PYTHONDONTWRITEBYTECODE: nothing would cache them
    # later); the app's own code source only.
    assert not [f for f in files if f.endswith(".pyc") or "__pycache__" in f]
    cached = subprocess.run(["docker", "run", "--rm", "--entrypoint", "python", f"{s.name}-web:prod", "-c",
                             compiled("flask", "gevent", "gunicorn")],
                            capture_output=True, text=True, check=True).stdout
    assert cached.strip() == "True", cached


@pytest.fixture(scope="module")
def blog(tmp_path_factory):
    """The dev stack serving notes_blog, with a .env that says only FLASK_APP=notes_blog."""
    s = bring_blog(Stack(tmp_path_factory.mktemp("own-app")), "FLASK_APP=notes_blog\n")
    try:
        s.up()
        yield s
    finally:
        s.down()


def test_serves_it_healthy_and_never_logs_the_health_check(blog):
    page = blog.get("/")
    assert page.status_code == 200 and "All notes" in page.text
    assert blog.get("/static/style.css").status_code == 200
    # Three health checks at least (every 5 s), each a success, before reading the log.
    checks = wait_for(lambda: len(blog.inspect()["State"]["Health"]["Log"]) >= 3
                      and blog.inspect()["State"]["Health"]["Log"], 40, 0.5, "three health checks")
    assert all(check["ExitCode"] == 0 for check in checks), json.dumps(checks, indent=1)
    log = blog.logs()
    assert '"GET / HTTP/1.1" 200' in log, log  # the access log is on: the absence below means something
    assert not [line for line in log.splitlines() if any(s in line for s in HEALTH_CHECK_LINES)], log
    assert "watching notes_blog for changes" in log, log


def test_a_view_edit_is_served_and_the_log_names_the_file(blog):
    blog.edit("notes_blog/views.py", "short notes, kept in SQLite.", "short notes, edited on the host.")
    wait_for(lambda: blog.get("/about").text.endswith("edited on the host."), 15, 0.1, "the edited view")
    assert "notes_blog/views.py changed" in blog.reloads()[-1], blog.reloads()


def test_a_template_edit_is_served(blog):
    blog.edit("notes_blog/templates/index.html", "<h1>All notes</h1>", "<h1>Every note</h1>")
    wait_for(lambda: "<h1>Every note</h1>" in blog.get("/").text, 15, 0.1, "the edited template")


def test_database_writes_in_the_instance_folder_reload_nothing(blog):
    before = blog.reloads()
    for n in range(5):
        response = post_note(blog, f"note {n}")
        assert response.status_code == 303, response.text
    assert [note["body"] for note in blog.get("/notes.json").json()] == [f"note {n}" for n in range(4, -1, -1)]
    database = blog.dir / "instance" / "notes.sqlite"
    assert database.is_file() and database.stat().st_uid == blog.uid
    # The watcher is still alive: a later edit reloads, and that reload is the only new one.
    blog.edit("notes_blog/views.py", "edited on the host.", "edited after the writes.")
    wait_for(lambda: blog.get("/about").text.endswith("edited after the writes."), 15, 0.1, "the later edit")
    wait_for(lambda: len(blog.reloads()) > len(before), 5, 0.1, "the reload line")
    new = blog.reloads()[len(before):]
    assert len(new) == 1 and "notes_blog/views.py changed" in new[0], new


def test_its_own_tests_pass_in_the_container(blog):
    """The README's command: the user's tests/ (the blog's, and the template's examples, on the blog),
    the integration tests skipped (no Docker engine inside)."""
    result = blog.compose("exec", "-T", "web", "pytest", "tests", "-q", check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 passed, 3 skipped" in result.stdout, result.stdout
