"""The live installer with pip, for real, in an environment of its own (the tests' one is never touched).

What `make dev` on the host does when a requirements file is saved; in the dev container the same
code runs uv (docker/test_live_install.py). The environment is a fresh venv with this repository's
installer on its path and its record, installed-from/, as `make install` writes it.
"""

import json
import os
import signal
import subprocess
import venv
from pathlib import Path

import pytest

from devserver.processes import read_status
from devserver.supervisor.children import popen_reaped
from devserver.supervisor.installer import Installer
from devserver.supervisor.reaper import Reaper
from harness import ROOT

# Runs in the fresh venv: one install, its outcome as JSON.
INSTALL = """
import dataclasses, json, sys
from pathlib import Path
sys.path.insert(0, {scripts!r})
from devserver.supervisor.installer import install
from devserver.supervisor.reaper import Reaper
print(json.dumps(dataclasses.asdict(install(Path({project!r}), Reaper().start()))))
"""


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("env") / "venv"
    venv.create(prefix, with_pip=True)
    (prefix / "installed-from").mkdir()
    (prefix / "installed-from" / "requirements.txt").write_text("")
    return prefix


def install(environment: Path, project: Path, requirements: str) -> dict:
    (project / "requirements.txt").write_text(requirements)
    script = INSTALL.format(scripts=str(ROOT / "scripts"), project=str(project))
    result = subprocess.run([environment / "bin" / "python", "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_version_that_does_not_exist_is_one_line_of_pips_own_error(environment, tmp_path):
    outcome = install(environment, tmp_path, "humanize==99.0.0\n")
    assert not outcome["ok"] and outcome["tool"] == "pip" and outcome["files"] == ["requirements.txt"]
    assert "humanize==99.0.0" in outcome["error"] and "\n" not in outcome["error"]
    assert (environment / "installed-from" / "requirements.txt").read_text() == ""  # not recorded as installed


def test_a_new_package_is_installed_named_and_recorded(environment, tmp_path):
    outcome = install(environment, tmp_path, "humanize==4.17.0\n")
    assert outcome["ok"] and outcome["added"] == ["humanize==4.17.0"], outcome
    assert (environment / "installed-from" / "requirements.txt").read_text() == "humanize==4.17.0\n"
    version = subprocess.run([environment / "bin" / "python", "-c", "import humanize; print(humanize.__version__)"],
                             capture_output=True, text=True)
    assert version.stdout.strip() == "4.17.0"
    assert install(environment, tmp_path, "humanize==4.17.0\n")["files"] == []  # as installed: nothing to do



def test_a_removed_line_uninstalls_nothing_and_breaks_nothing(environment, tmp_path):
    install(environment, tmp_path, "humanize==4.17.0\n")
    outcome = install(environment, tmp_path, "")
    assert outcome["ok"] and outcome["added"] == [] and outcome["files"] == ["requirements.txt"], outcome
    still = subprocess.run([environment / "bin" / "python", "-c", "import humanize"], capture_output=True)
    assert still.returncode == 0


def test_after_stop_no_install_runs_and_none_starts(tmp_path):
    """A stop races an install starting (its pid not known yet) and a save queued behind it: neither may
    leave an installer running once the server has gone."""
    reaper = Reaper().start()
    try:
        installer = Installer(tmp_path, reaper, lambda result: None)
        installer.stop()
        installer.request()  # a save after the stop
        assert not installer.running
        starting, status = popen_reaped(reaper, ["sleep", "30"])  # an install whose Popen returns after the stop
        installer._started(starting.pid)
        assert read_status(status, 10) == -signal.SIGTERM  # ended as soon as its pid was known
        try:
            os.killpg(starting.pid, 0)
            raise AssertionError("the install outlived the stop")
        except ProcessLookupError:
            pass
    finally:
        reaper.stop()  # or it reaps every later test's children: their subprocess.run would say exit 0
        assert not reaper.thread.is_alive()


# -- lines that run or fetch more than packages from the index (issue 28): named before the install ------------
UNUSUAL = """\
# every kind, one a line
-e ../lib
--editable=./other
git+https://github.com/example/y.git#egg=y
name @ https://example.com/name-1.0.tar.gz
local @ file:///srv/local
./vendored
--index-url https://user:secret@pypi.example/simple
--extra-index-url=https://extra.example/simple
-f https://wheels.example/
--trusted-host pypi.example
-r more.txt
"""


def test_each_kind_of_line_that_runs_or_fetches_more_is_named(tmp_path):
    from devserver.supervisor.installer import unusual_lines

    (tmp_path / "requirements.txt").write_text(UNUSUAL)
    (tmp_path / "more.txt").write_text("hg+https://hg.example/x  # named from -r\n-r requirements.txt\n")
    found = unusual_lines([tmp_path / "requirements.txt"])
    kinds = {u.line: u.why for u in found}
    assert list(kinds) == ["-e ../lib", "--editable=./other", "git+https://github.com/example/y.git#egg=y",
                           "name @ https://example.com/name-1.0.tar.gz", "local @ file:///srv/local", "./vendored",
                           "--index-url https://***@pypi.example/simple",  # no password in the log
                           "--extra-index-url=https://extra.example/simple", "-f https://wheels.example/",
                           "--trusted-host pypi.example", "hg+https://hg.example/x"], found
    assert "editable" in kinds["-e ../lib"] and "VCS" in kinds["git+https://github.com/example/y.git#egg=y"]
    assert "direct URL" in kinds["name @ https://example.com/name-1.0.tar.gz"]
    assert "local path" in kinds["local @ file:///srv/local"] and "local path" in kinds["./vendored"]
    assert "index" in kinds["--index-url https://***@pypi.example/simple"]
    assert [u.file for u in found][-1] == "more.txt"  # the -r file's own line, under its name; no loop back


def test_plain_pins_are_not_named(tmp_path):
    from devserver.supervisor.installer import unusual_lines

    (tmp_path / "requirements.txt").write_text(
        '# pinned\n\nflask==3.1.0\nrequests>=2  # a comment\nfoo[bar]==1.0; python_version<"3.12"\n'
        "pkg==1.0 \\\n    --hash=sha256:0123abcd\n--pre\n-r other.txt\n")
    (tmp_path / "other.txt").write_text("Werkzeug==3.1.9\nzope.event~=6.0\n")
    assert unusual_lines([tmp_path / "requirements.txt"]) == []


def test_the_install_names_them_in_one_line_before_it_runs(tmp_path, monkeypatch):
    from devserver.supervisor import installer

    prefix, project = tmp_path / "env", tmp_path / "project"
    (prefix / "installed-from").mkdir(parents=True)
    (prefix / "installed-from" / "requirements.txt").write_text("")
    project.mkdir()
    (project / "requirements.txt").write_text("flask==3.1.0\n-e ../lib\ngit+https://example.com/y.git\n")
    order = []
    monkeypatch.setattr(installer, "run_command", lambda argv, *args: order.append("install") or (0, ""))
    outcome = installer.install(project, None, str(prefix), tell=lambda line: order.append(line))
    assert outcome.ok and order[-1] == "install" and len(order) == 2, order
    line = order[0]
    assert "\n" not in line and line.startswith("requirements.txt asks to run or fetch more than pinned packages")
    assert "-e ../lib (editable" in line and "git+https://example.com/y.git (VCS" in line and "flask" not in line
    order.clear()
    (project / "requirements.txt").write_text("flask==3.1.1\n")
    installer.install(project, None, str(prefix), tell=lambda line: order.append(line))
    assert order == ["install"]  # plain pins: not a word more
