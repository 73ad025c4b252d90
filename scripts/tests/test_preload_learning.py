"""Learning what to preload, in-process: which modules qualify, and what is kept across restarts."""

import json
import sys
import types
from pathlib import Path

from devserver.supervisor.preload_cache import PreloadCache, cache_file, summary
from devserver.worker.imports import in_project, outside_project


def fake_module(monkeypatch, name: str, path: str | None, package: bool = False) -> None:
    module = types.ModuleType(name)
    if path is not None:
        module.__file__ = path
    if package:
        module.__path__ = []
    monkeypatch.setitem(sys.modules, name, module)


def test_only_installed_and_standard_modules_are_learned(monkeypatch, tmp_path: Path):
    project, shared = tmp_path / "shop", tmp_path / "shared"
    (tmp_path / "linked").mkdir()
    project.mkdir()
    (project / "linked").symlink_to(tmp_path / "linked")  # a watched path whose real place is outside
    fake_module(monkeypatch, "shop_models", str(project / "shop_models.py"))  # the project's own
    fake_module(monkeypatch, "shop_ns", None, package=True)  # a namespace package: may be the project's
    fake_module(monkeypatch, "venv_pkg", str(project / ".venv/lib/python3.13/site-packages/venv_pkg/__init__.py"))
    fake_module(monkeypatch, "elsewhere", "/usr/lib/python3/dist-packages/elsewhere.py")
    fake_module(monkeypatch, "json_like", json.__file__)  # the standard library
    fake_module(monkeypatch, "builtin_like", None)
    fake_module(monkeypatch, "devserver.fake", "/opt/site-packages/devserver/fake.py")  # the dev server's own
    fake_module(monkeypatch, "sibling", str(shared / "sibling.py"))  # a sibling checkout or editable install
    fake_module(monkeypatch, "watched_lib", str(tmp_path / "linked" / "lib.py"))  # edited through the link
    names = {"shop_models", "shop_ns", "venv_pkg", "elsewhere", "json_like", "builtin_like", "devserver.fake",
             "sibling", "watched_lib", "gone"}
    assert outside_project(names, project, [project / "linked"]) == ["builtin_like", "elsewhere", "json_like",
                                                                      "venv_pkg"]
    assert in_project(names, project) == {"shop_models"}


def test_the_set_grows_and_what_failed_is_set_aside(tmp_path: Path):
    cache = PreloadCache(tmp_path / "preload.json")
    assert cache.learn({"sqlalchemy", "sqlalchemy.orm"})
    assert not cache.learn({"sqlalchemy"})  # nothing new
    cache.exclude("sqlalchemy.orm", "it started a thread")
    assert not cache.learn({"sqlalchemy.orm"})  # set aside, not learned again
    assert cache.preloaded() == ["sqlalchemy"]
    cache.forget_exclusions()  # dependencies changed
    assert cache.learn({"sqlalchemy.orm"}) and cache.preloaded() == ["sqlalchemy", "sqlalchemy.orm"]


def test_it_is_kept_across_restarts_and_a_crash_turns_it_off(tmp_path: Path):
    cache = PreloadCache(tmp_path / "preload.json")
    cache.learn({"pydantic"})
    cache.exclude("grpc", "it opened a socket")
    cache.save()
    again = PreloadCache(tmp_path / "preload.json").load()
    assert again.preloaded() == ["pydantic"] and again.excluded == {"grpc": "it opened a socket"}
    again.off = "a worker forked from it was killed by SIGSEGV while loading the app"
    again.save()
    off = PreloadCache(tmp_path / "preload.json").load()
    assert off.preloaded() == [] and not off.learn({"numpy"})
    (tmp_path / "preload.json").write_text("{not json")
    assert PreloadCache(tmp_path / "preload.json").load().preloaded() == []  # unreadable: learn again


def test_the_cache_lives_in_the_project_or_else_the_users_cache(tmp_path: Path, monkeypatch):
    place = cache_file(tmp_path)
    assert place.parent == tmp_path / ".cache" / "devserver" and place.name.startswith("preload-")
    assert not (tmp_path / ".cache").exists()  # made when something is learned, not before
    tasks = cache_file(tmp_path, "tasks")  # a task worker's own, beside the web's (one project, two services)
    assert tasks.parent == place.parent and tasks.name.startswith("preload-tasks-") and tasks != place
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    unwritable = tmp_path / "ro"
    (unwritable / ".cache").mkdir(parents=True)
    (unwritable / ".cache" / "devserver").write_text("a file where the folder would be")
    assert cache_file(unwritable).parent == tmp_path / "xdg" / "devserver"


def test_the_log_line_names_installed_packages_first_the_biggest_first():
    modules = ["json", "json.decoder", "json.encoder", "sqlalchemy", "sqlalchemy.orm", "pydantic", "_socket"]
    assert summary(modules) == "7 modules from 4 packages: sqlalchemy, pydantic, json, _socket"
