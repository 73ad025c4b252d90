"""The one rule for installed code against the user's, in-process: placement.py and the parts that use it."""

import builtins
import importlib.util
import json
import os
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from devserver import placement
from devserver.placement import as_seen, installed, placed, places, users_frame
from devserver.worker import freshsource
from devserver.worker.loadwatch import LoadWatch

DEVSERVER = Path(placement.__file__).resolve().parent


def project_module(project: Path, name: str, text: str):
    """A module of the project, imported from its file (so its frames carry the project's path)."""
    path = project / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"placement_test_{name}_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("folder", ["devserver", "site-packages", "dist-packages", "lib"])
def test_a_project_under_a_folder_of_any_name_is_the_users(tmp_path: Path, folder: str):
    project = tmp_path / folder / "shop"
    (project / "shop").mkdir(parents=True)
    edited = places(project)
    assert placed(str(project / "shop" / "views.py"), edited) is False
    assert placed(str(project / "app.py"), edited) is False
    assert placed(str(project / ".venv/lib/python3.11/site-packages/flask/app.py"), edited) is True
    assert not installed(str(project / "shop" / "views.py"), project)
    views = project_module(project, "views", "def view(probe):\n    return probe()\n")
    found = views.view(lambda: users_frame(sys._getframe(), edited))
    assert found is not None and found.f_code.co_filename == str(project / "views.py")


def test_pseudo_files_are_never_the_users(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # realpath("<string>") would land in the project
    edited = places(tmp_path)
    for pseudo in ("<string>", "<frozen importlib._bootstrap>", "<stdin>", ""):
        assert placed(pseudo, edited) is None, pseudo
    views = project_module(tmp_path, "views", "def view(probe):\n    return eval('probe()', {'probe': probe})\n")
    found = views.view(lambda: users_frame(sys._getframe(), edited))  # exec'd code between: skipped
    assert found.f_code.co_filename == str(tmp_path / "views.py") and found.f_lineno == 2


def test_a_symlinked_project_counts_by_its_real_place(tmp_path: Path):
    (tmp_path / "real" / "shop").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    for root in (tmp_path / "link", tmp_path / "real"):
        edited = places(root)
        assert placed(str(tmp_path / "link" / "shop" / "views.py"), edited) is False
        assert placed(str(tmp_path / "real" / "shop" / "views.py"), edited) is False
        assert as_seen(str(tmp_path / "link" / "shop" / "views.py"), root) == "shop/views.py"
        assert as_seen(str(tmp_path / "real" / "shop" / "views.py"), root) == "shop/views.py"
    # A watched path whose real place is outside the project: the user's through the link too.
    (tmp_path / "shared").mkdir()
    (tmp_path / "real" / "shared").symlink_to(tmp_path / "shared")
    assert placed(str(tmp_path / "shared" / "lib.py"), places(tmp_path / "real", [tmp_path / "real" / "shared"])) \
        is False
    assert placed(str(tmp_path / "shared" / "lib.py"), places(tmp_path / "real")) is None


def test_the_standard_library_and_site_packages_are_installed(tmp_path: Path):
    edited = places(tmp_path / "shop")
    assert placed(json.__file__, edited) is True
    assert placed(os.__file__, edited) is True
    assert placed("/usr/lib/python3/dist-packages/requests/api.py", edited) is True
    assert placed(str(tmp_path / "venv/lib/python3.11/site-packages/flask/app.py"), edited) is True
    assert installed(str(tmp_path / "venv/lib/python3.11/site-packages/flask-3.0.dist-info"), tmp_path / "shop")
    assert installed(str(tmp_path / "venv/lib/python3.11/site-packages/easy.pth"), tmp_path / "shop")
    assert not installed(str(tmp_path / "shop" / "requirements.txt"), tmp_path / "shop")
    assert placed(str(tmp_path / "sibling" / "lib.py"), edited) is None  # elsewhere on sys.path: neither


def test_the_dev_servers_own_code_is_never_the_users_even_inside_the_project():
    project = DEVSERVER.parent.parent  # this repository: scripts/devserver is inside it, as in the image's /app
    edited = places(project)
    assert placed(str(DEVSERVER / "worker" / "blocking.py"), edited) is None
    assert placed(str(project / "app" / "__init__.py"), edited) is False
    inner = SimpleNamespace(f_code=SimpleNamespace(co_filename=str(DEVSERVER / "worker" / "server.py")), f_back=None)
    outer = SimpleNamespace(f_code=SimpleNamespace(co_filename=str(project / "app" / "views.py")), f_back=None)
    inner.f_back = outer
    assert users_frame(inner, edited) is outer


def test_a_path_as_the_user_sees_it(tmp_path: Path):
    assert as_seen(tmp_path / "shop" / "views.py", tmp_path) == "shop/views.py"
    assert as_seen(str(tmp_path / "shop" / "views.py"), str(tmp_path) + "/") == "shop/views.py"
    assert as_seen("/usr/lib/python3.11/json/__init__.py", tmp_path) == "/usr/lib/python3.11/json/__init__.py"
    assert as_seen("<string>", tmp_path) == "<string>"
    assert as_seen(tmp_path, tmp_path) == "."


def test_the_load_watch_names_the_users_innermost_line(tmp_path: Path):
    (tmp_path / "devserver").mkdir()
    project = tmp_path / "devserver"  # a folder named like the dev server: still the user's
    views = project_module(project, "models", "def connect(probe):\n    return probe()  # waits here\n")
    watch = LoadWatch(str(project))

    def waiting():  # where the loading greenlet is: here, called by the project's module
        watch.loading = SimpleNamespace(gr_frame=sys._getframe())
        return watch.where()

    assert views.connect(waiting) == "models.py:2 (return probe()  # waits here)"
    watch.loading = SimpleNamespace(gr_frame=sys._getframe())  # only the tests' and pytest's frames
    assert watch.where() is None


def test_freshsource_takes_the_projects_directories_only(tmp_path: Path, monkeypatch):
    project = tmp_path / "site-packages" / "shop"  # under a folder named site-packages: still the user's
    venv = project / ".venv" / "lib" / "python3.11" / "site-packages"
    for directory in (project / "shop", venv, tmp_path / "other"):
        directory.mkdir(parents=True)
    monkeypatch.setattr(sys, "path_hooks", list(sys.path_hooks))
    monkeypatch.setattr(sys, "path_importer_cache", {})
    freshsource.install(str(project))
    hook = sys.path_hooks[0]
    assert hook(str(project)).path == str(project) and hook(str(project / "shop"))
    for not_ours in (venv, tmp_path / "other", DEVSERVER, Path(json.__file__).parent):
        with pytest.raises(ImportError):
            hook(str(not_ours))
    monkeypatch.chdir(project)
    assert hook("")  # sys.path's "" is the project when the worker runs there


def test_the_load_watch_says_importing_when_an_import_of_the_users_is_what_is_slow(tmp_path: Path, monkeypatch):
    project, libraries = tmp_path / "shop", tmp_path / "libraries"
    project.mkdir()
    libraries.mkdir()
    name = f"slowlib_{uuid.uuid4().hex}"  # a module no other test has imported
    (libraries / f"{name}.py").write_text("import builtins\nbuiltins.loadwatch_probe()  # slow at import\n")
    monkeypatch.syspath_prepend(str(libraries))
    watch = LoadWatch(str(project))
    reports = []

    def probe():  # where the loading greenlet is: here, in a library's import, or in the user's own code
        watch.loading = SimpleNamespace(gr_frame=sys._getframe())
        reports.append(watch.report(3))

    monkeypatch.setattr(builtins, "loadwatch_probe", probe, raising=False)
    project_module(project, "app", f"import {name}  # the user's line\n")
    project_module(project, "models", "import builtins\nbuiltins.loadwatch_probe()  # waits here\n")
    importing, waiting = reports
    assert importing == (f"still loading the app after 3s, at app.py:1 (import {name}  # the user's line), "
                         f"importing {name}: slow imports (many modules, one that waits for a service, a loop at "
                         "import) hold every request"), importing
    assert waiting == ("still loading the app after 3s, at models.py:2 (builtins.loadwatch_probe()  # waits here): "
                       "code that waits for a service (a database?) or loops holds every request"), waiting
