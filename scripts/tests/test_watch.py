"""What the watcher reloads for, and how a reload names what changed (issue 10).

In-process: the filter and the naming called directly with watchfiles' change sets, then the
Watcher thread on a real directory. End to end: editors' saves and a Flask app's SQLite files
against a real dev server.
"""

from __future__ import annotations

import os
import queue
import shutil
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest
from watchfiles import Change

from devserver.supervisor.watcher import SourceFilter, Watcher, saved_files
from devserver_fakes import make_supervisor
from harness import wait_for

import editor_saves

A, M, D = Change.added, Change.modified, Change.deleted


# -- editors' saves these tests replay (beside editor_saves.STYLES) ------------------------------

def sed_in_place(path: Path, text: str) -> None:
    """sed -i: a temp file sedXXXXXX in the same directory, renamed over the file."""
    tmp = path.with_name("sedgKmPJm")
    editor_saves.write(tmp, text)
    os.replace(tmp, path)


def jetbrains_safe_write(path: Path, text: str) -> None:
    """JetBrains' safe write: name___jb_tmp___ written, the file moved to name___jb_old___,
    the tmp renamed to the file, the old one deleted."""
    tmp, old = path.with_name(path.name + "___jb_tmp___"), path.with_name(path.name + "___jb_old___")
    editor_saves.write(tmp, text)
    os.replace(path, old)
    os.replace(tmp, path)
    old.unlink()


def emacs_save(path: Path, text: str) -> None:
    """emacs: a lock symlink .#name and an auto-save #name# while editing; on save the file is
    moved to a name~ backup, written anew, and the auto-save and the lock are removed."""
    lock, autosave = path.with_name(".#" + path.name), path.with_name(f"#{path.name}#")
    os.symlink("user@host.1234:1700000000", lock)
    editor_saves.write(autosave, text)
    os.replace(path, path.with_name(path.name + "~"))
    editor_saves.write(path, text)
    autosave.unlink()
    lock.unlink()


def python_atomic_write(path: Path, text: str) -> None:
    """An atomic writer built on tempfile: tmpXXXXXXXX in the same directory, renamed over."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as f:
        f.write(text)
    os.replace(f.name, path)


SAVES = [*editor_saves.STYLES, sed_in_place, jetbrains_safe_write, emacs_save, python_atomic_write]


# -- the filter, in-process ----------------------------------------------------------------------

ROOT_DIR = "/home/me/shop/app"


def kept(relative: str, root: str = ROOT_DIR, templates_reload_themselves: bool = True) -> bool:
    path = os.path.join(root, relative)
    return SourceFilter(templates_reload_themselves, [root])(Change.modified, path)


@pytest.mark.parametrize("relative", [
    # SQLite databases and their journals, written by the app at run time
    "app.db", "app.db-journal", "app.db-wal", "app.db-shm", "data.sqlite", "data.sqlite-journal",
    "data.sqlite3", "data.sqlite3-wal", "data.sqlite3-shm", "app.db-mj4F3A2B1C", "db/store.sqlite3",
    # Flask's instance folder, anywhere below the root
    "instance", "instance/config.py", "instance/app.db", "sub/instance/settings.py",
    # editors' temp and backup files
    "views.py___jb_tmp___", "views.py___jb_old___", "views.py___jb_bak___", "4913", ".views.py.swp",
    ".views.py.swx", "views.py~", ".#views.py", "#views.py#", ".views.py.kate-swp", ".goutputstream-ABC123",
    # and what DefaultFilter and the rest of SourceFilter already ignored
    "__pycache__/views.cpython-311.pyc", ".git/index", "static/site.css", "templates/index.html", "app.log",
    # requirements files: installed by the dependency watcher's side, then one reload (RELOAD_PATHS=.)
    "requirements.txt", "requirements-test.txt",
])
def test_filter_ignores_editor_temp_files_and_the_apps_local_state(relative):
    assert not kept(relative)


@pytest.mark.parametrize("relative", [
    "views.py", "db.py", "database.py", "models/db.py", "instance.py", "instances/views.py", "sedan.py",
    "sqlite_helpers.py", "dbt/config.yml", "templates.py", "jb_config.py", "issue#1.md",
])
def test_filter_keeps_source_files(relative):
    assert kept(relative)


@pytest.mark.parametrize("root", ["/srv/instance/app", "/home/me/templates/shop/app", "/home/me/venv-projects/app",
                                  "/home/me/env/app", "/data/db.sqlite/app"])
def test_filter_judges_the_path_below_the_watched_root(root):
    """A project inside a folder named instance, templates or env still reloads."""
    assert kept("views.py", root=root)
    assert not kept("instance/config.py", root=root) and not kept("app.db", root=root)


def test_filter_judges_a_watched_file_by_its_name_only():
    path = "/srv/instance/probe.py"
    assert SourceFilter(True, [path])(Change.modified, path)
    assert not SourceFilter(True, ["/srv/app.db"])(Change.modified, "/srv/app.db")


# -- the naming, in-process ----------------------------------------------------------------------

def named(changes: set[tuple[Change, str]], exist: set[str]) -> set[str]:
    return saved_files({(change, f"/p/app/{name}") for change, name in changes},
                       exists=lambda path: path.removeprefix("/p/app/") in exist)


@pytest.mark.parametrize("changes", [
    # what watchfiles reports for sed -i (seen on Linux: the temp's modify folds into its add)
    {(A, "sedgKmPJm"), (A, "views.py"), (D, "sedgKmPJm")},
    {(A, "sedgKmPJm"), (M, "sedgKmPJm"), (D, "sedgKmPJm"), (M, "views.py")},
    # JetBrains' safe write, unfiltered (seen on Linux)
    {(A, "views.py"), (A, "views.py___jb_old___"), (A, "views.py___jb_tmp___"), (D, "views.py"),
     (D, "views.py___jb_old___"), (D, "views.py___jb_tmp___")},
    # vim: the probe, the ~ backup
    {(A, "4913"), (D, "4913"), (D, "views.py"), (A, "views.py~"), (A, "views.py"), (M, "views.py"),
     (D, "views.py~")},
    # emacs: the auto-save and the lock existed before the save and are removed by it
    {(D, "#views.py#"), (D, ".#views.py"), (A, "views.py~"), (D, "views.py"), (A, "views.py")},
    # atomic writers
    {(A, ".views.py.tmp"), (M, ".views.py.tmp"), (D, ".views.py.tmp"), (A, "views.py")},
    {(A, "views.py.tmp.4711"), (D, "views.py.tmp.4711"), (A, "views.py")},
    {(A, "tmpk3j_x9ab"), (D, "tmpk3j_x9ab"), (A, "views.py")},
    # in place (nano, VS Code's default)
    {(M, "views.py")},
], ids=["sed", "sed-modify", "jetbrains", "vim", "emacs", "dot-tmp", "tmp-pid", "tempfile", "in-place"])
def test_an_editors_save_is_named_by_the_saved_file(changes):
    assert named(changes, exist={"views.py"}) == {"/p/app/views.py"}


def test_a_backup_or_temp_name_left_on_disk_is_not_named_beside_the_saved_file():
    """vim with `set backup` keeps views.py~; a crashed sed leaves its temp file."""
    assert named({(A, "views.py~"), (M, "views.py")}, exist={"views.py", "views.py~"}) == {"/p/app/views.py"}
    assert named({(A, "sedAb12Cd"), (M, "views.py")}, exist={"views.py", "sedAb12Cd"}) == {"/p/app/views.py"}


def test_several_saved_files_are_all_named():
    assert named({(M, "views.py"), (M, "models.py"), (A, "forms.py")}, exist={"views.py", "models.py", "forms.py"}) \
        == {"/p/app/views.py", "/p/app/models.py", "/p/app/forms.py"}


def test_a_deletion_names_the_deleted_file():
    assert named({(D, "old.py")}, exist=set()) == {"/p/app/old.py"}
    assert named({(D, "a.py"), (D, "b.py")}, exist=set()) == {"/p/app/a.py", "/p/app/b.py"}


def test_a_rename_names_both_files():
    assert named({(D, "old.py"), (A, "new.py")}, exist={"new.py"}) == {"/p/app/old.py", "/p/app/new.py"}


def test_a_deleted_file_is_named_beside_a_save_but_a_temp_created_and_gone_is_not():
    assert named({(D, "old.py"), (A, "sedX1y2Z3"), (D, "sedX1y2Z3"), (A, "views.py")}, exist={"views.py"}) \
        == {"/p/app/old.py", "/p/app/views.py"}


def test_a_batch_of_nothing_but_temp_files_still_names_something():
    """Not reached through SourceFilter for the names it ignores; for the others, better a name than none."""
    assert named({(A, "scratch"), (D, "scratch")}, exist=set()) == {"/p/app/scratch"}
    assert named({(M, "notes.tmp")}, exist={"notes.tmp"}) == {"/p/app/notes.tmp"}


def supervisor_cause(paths: set[str], root: Path) -> str:
    """What Supervisor.on_change says for a batch: only the naming, no worker started."""
    supervisor = make_supervisor(root, FLASK_APP="app", RELOAD="0")
    causes: list[str] = []
    supervisor.start_generation = lambda cause, error=None: causes.append(cause)
    supervisor.on_change(paths)
    supervisor.listener.close()
    return causes[0]


def test_the_message_for_several_files_keeps_its_format(tmp_path):
    names = ["a.py", "b.py", "c.py", "d.py", "e.py"]
    assert supervisor_cause({str(tmp_path / "app" / n) for n in names[:2]}, tmp_path) == "app/a.py, app/b.py changed"
    assert supervisor_cause({str(tmp_path / "app" / n) for n in names}, tmp_path) \
        == "app/a.py, app/b.py, app/c.py and 2 more changed"
    changes = {(A, str(tmp_path / "app" / "sedgKmPJm")), (D, str(tmp_path / "app" / "sedgKmPJm")),
               (A, str(tmp_path / "app" / "views.py"))}
    assert supervisor_cause(saved_files(changes, exists=lambda p: p.endswith("views.py")), tmp_path) \
        == "app/views.py changed"


# -- the Watcher thread on a real directory, in-process -----------------------------------------

@pytest.fixture
def watched(tmp_path):
    """A package directory watched by a real Watcher; yields (directory, the next batch reported)."""
    package = tmp_path / "instance" / "app"  # inside a folder named instance: must still be watched
    package.mkdir(parents=True)
    (package / "views.py").write_text("x = 1\n")
    batches: queue.Queue[set[str]] = queue.Queue()
    watcher = Watcher([package], batches.put, templates_reload_themselves=True, force_polling=None)
    watcher.start()

    def next_batch(timeout: float = 10) -> set[str]:
        try:
            return {str(Path(p).relative_to(package)) for p in batches.get(timeout=timeout)}
        except queue.Empty:
            raise AssertionError(f"no change reported within {timeout}s") from None

    # Ready once a probe write is reported (written again if the watch was not up yet).
    probe, deadline = package / "probe.py", time.monotonic() + 10
    while True:
        probe.write_text(str(time.monotonic()))
        try:
            if "probe.py" in next_batch(0.5):
                break
        except AssertionError:
            assert time.monotonic() < deadline, "the watcher never reported the probe write"

    def next_real_batch() -> set[str]:
        while (batch := next_batch()) == {"probe.py"}:
            pass  # a late report of a probe write
        return batch

    yield package, next_real_batch
    watcher.stop()
    watcher.join(5)
    assert not watcher.is_alive()


@pytest.mark.parametrize("save", SAVES, ids=lambda f: f.__name__)
def test_watcher_reports_an_editors_save_as_the_saved_file(watched, save):
    package, next_batch = watched
    save(package / "views.py", "x = 2\n")
    assert next_batch() == {"views.py"}


@pytest.mark.skipif(not shutil.which("sed"), reason="no sed")
def test_watcher_reports_a_real_sed_in_place_as_the_saved_file(watched):
    package, next_batch = watched
    subprocess.run(["sed", "-i", "s/x = 1/x = 3/", str(package / "views.py")], check=True)
    assert next_batch() == {"views.py"}
    assert (package / "views.py").read_text() == "x = 3\n"


def test_watcher_reports_nothing_for_ignored_files_alone(watched):
    """Temp files and the app's SQLite files, then a real save: the save is the first report."""
    package, next_batch = watched
    (package / "instance").mkdir()
    write_databases(package)
    for name in ("views.py___jb_tmp___", "#views.py#", "4913", ".views.py.swp", "views.py~"):
        (package / name).write_text("scratch")
        (package / name).unlink()
    (package / "config.py").write_text("DEBUG = True\n")
    assert next_batch() == {"config.py"}


def write_databases(package: Path) -> None:
    """What a Flask app's sqlite3 does at run time: create, journal (rollback and WAL), commit."""
    for path, wal in ((package / "app.sqlite3", False), (package / "data.db", True), (package / "cache.sqlite", False),
                      (package / "instance" / "app.db", True), (package / "instance" / "app.sqlite", False)):
        with closing(sqlite3.connect(path)) as conn:
            if wal:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS visits (n INTEGER)")
            conn.execute("INSERT INTO visits VALUES (1)")
            conn.commit()
    (package / "instance" / "config.py").write_text("SECRET_KEY = 'dev'\n")  # any file in the instance folder


# -- end to end: a real dev server -----------------------------------------------------------------

def reload_lines(server) -> list[str]:
    return [line for line in server.log().splitlines() if "reloaded in" in line]


def save_and_check_the_name(server, save, status: str) -> None:
    """`save(views, new_text)` sets the route's status; one reload follows, named by the saved file."""
    views = server.project / "kiosk" / "views.py"
    save(views, views.read_text().replace('status="ok"', f'status="{status}"'))
    wait_for(lambda: server.get("/pid").json()["status"] == status, 10, message="the saved route")
    lines = reload_lines(server)
    assert len(lines) == 1 and lines[0].endswith(": kiosk/views.py changed"), lines


def test_sed_in_place_save_names_the_saved_file(devserver):
    server = devserver(ACCESS_LOG="0")
    save_and_check_the_name(server, sed_in_place, "sed")
    assert "sedgKmPJm" not in server.log()


@pytest.mark.skipif(not shutil.which("sed"), reason="no sed")
def test_real_sed_in_place_names_the_saved_file(devserver):
    def real_sed(views, _text):
        subprocess.run(["sed", "-i", 's/status="ok"/status="sed"/', str(views)], check=True)

    save_and_check_the_name(devserver(ACCESS_LOG="0"), real_sed, "sed")


def test_jetbrains_safe_write_names_the_saved_file(devserver):
    server = devserver(ACCESS_LOG="0")
    save_and_check_the_name(server, jetbrains_safe_write, "jb")
    assert "___jb_" not in server.log()


def test_sqlite_databases_and_the_instance_folder_never_reload(devserver):
    """The app's databases in its package and in an instance folder there; then a real edit, whose
    reload (within a deadline) proves the watcher saw everything written before it."""
    server = devserver(ACCESS_LOG="0")
    kiosk = server.project / "kiosk"
    (kiosk / "instance").mkdir()
    write_databases(kiosk)
    config = kiosk / "config.py"
    config.write_text(config.read_text() + "\n# edited\n")
    wait_for(lambda: "config.py" in "".join(reload_lines(server)), 10, message="the edit's reload")
    lines = reload_lines(server)
    assert len(lines) == 1 and lines[0].endswith(": kiosk/config.py changed"), lines
    assert server.get("/").status_code == 200


# -- rotated logs, a logs/ folder, and a module at the project root (issue 27) -------------------

@pytest.mark.parametrize("relative", [
    "app.log.1", "app.log.2026-12-01", "app.log.3.gz", "logs/app.log", "logs/app.log.1", "logs/notes.txt",
    "sub/logs/worker.log.2",
])
def test_filter_ignores_rotated_logs_and_a_logs_folder(relative):
    assert not kept(relative)


@pytest.mark.parametrize("relative", ["logging.py", "logs.py", "blog.py", "catalog/views.py", "changelog.md"])
def test_filter_keeps_sources_named_like_logs(relative):
    assert kept(relative)


def project_code_root(tmp_path: Path) -> Path:
    """A project with a module at the root (FLASK_APP=module.py) and a package beside it."""
    (tmp_path / "module.py").write_text("from app import app\n")
    (tmp_path / "app" / "templates").mkdir(parents=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "routes.py").write_text("")
    return tmp_path


@pytest.mark.parametrize("relative", [
    "module.py", "config.py", "app/routes.py", "app/translations/de/messages.mo", "app/templates/index.html",
    "templates/base.html", "migrations/versions/1_first.py",
])
def test_a_module_at_the_root_reloads_for_the_projects_code(tmp_path, relative):
    from devserver.settings import load_settings

    root = project_code_root(tmp_path)
    (paths,) = load_settings({"FLASK_APP": "module.py"}, cwd=root).reload_paths
    assert paths == root
    assert SourceFilter(False, [paths])(Change.modified, str(root / relative))


@pytest.mark.parametrize("relative", [
    "logs/app.log.1", "data.csv", "uploads/x.png", "notes.md", "exports/2026/report.pdf", ".flaskenv", "app.db",
])
def test_a_module_at_the_root_reloads_for_nothing_the_app_writes_beside_its_code(tmp_path, relative):
    from devserver.settings import load_settings

    root = project_code_root(tmp_path)
    (paths,) = load_settings({"FLASK_APP": "module:create_app()"}, cwd=root).reload_paths
    assert not SourceFilter(False, [paths])(Change.modified, str(root / relative))


def test_reload_paths_set_to_the_root_still_watch_everything_under_it(tmp_path):
    from devserver.settings import load_settings

    root = project_code_root(tmp_path)
    (paths,) = load_settings({"FLASK_APP": "module.py", "RELOAD_PATHS": "."}, cwd=root).reload_paths
    assert SourceFilter(False, [paths])(Change.modified, str(root / "data.csv"))


def test_watcher_on_a_module_at_the_root_reports_only_its_code(tmp_path):
    """A real Watcher on the default watch set of FLASK_APP=module.py: what the app writes at the
    root is not reported, an edit of module.py and of app/routes.py is."""
    from devserver.settings import load_settings

    root = project_code_root(tmp_path)
    (root / "logs").mkdir()
    (root / "uploads").mkdir()
    batches: queue.Queue[set[str]] = queue.Queue()
    watcher = Watcher(load_settings({"FLASK_APP": "module.py"}, cwd=root).reload_paths, batches.put,
                      templates_reload_themselves=True, force_polling=None)
    watcher.start()
    try:
        probe, deadline = root / "probe.py", time.monotonic() + 10
        while True:  # ready once a probe write is reported
            probe.write_text(str(time.monotonic()))
            try:
                if str(probe) in batches.get(timeout=0.5):
                    break
            except queue.Empty:
                assert time.monotonic() < deadline, "the watcher never reported the probe write"
        for edited in ("module.py", "app/routes.py"):
            (root / "logs" / "app.log.1").write_text("rotated\n")
            (root / "data.csv").write_text("a,b\n")
            (root / "uploads" / "x.png").write_bytes(b"\x89PNG")
            (root / edited).write_text("# edited\n")
            while (batch := {str(Path(p).relative_to(root)) for p in batches.get(timeout=10)}) == {"probe.py"}:
                pass  # a late report of a probe write
            assert batch == {edited}
    finally:
        watcher.stop()
        watcher.join(5)
