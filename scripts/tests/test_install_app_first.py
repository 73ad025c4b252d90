"""The app's pins win over the dev tools': an app pinned in 2023 installs with the template's test tools
on the first try, and what the tools ask and do not get is named once, all of it (issue 27).

For real, with uv (the one `make install` puts in .venv) and the package index, in environments of
their own: the build's script, then the live installer running it for a saved file, as `make dev`
and the dev container do.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ROOT

UV = Path(sys.executable).parent / "uv"
SCRIPT = ROOT / "scripts" / "devserver" / "install_app_first.py"
# An app's old pins (2023), and tools pinned apart from them: requests directly, packaging through pytest.
APP_PINS = "requests==2.31.0\npackaging==23.2\n"
TOOL_PINS = "pytest==9.2.0\nrequests==2.34.2\n"

pytestmark = pytest.mark.skipif(not UV.exists(), reason="no uv in this environment: run `make install`")


def fresh_environment(where: Path) -> Path:
    subprocess.run([UV, "venv", "-q", "--seed", where / "venv"], check=True, timeout=120)
    return where / "venv"


def version(environment: Path, package: str) -> str:
    code = f"from importlib.metadata import version; print(version({package!r}))"
    return subprocess.run([environment / "bin" / "python", "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_conflicting_pins_build_on_the_first_try_and_every_unmet_requirement_is_named(tmp_path):
    (tmp_path / "requirements.txt").write_text(APP_PINS)
    (tmp_path / "requirements-test.txt").write_text(TOOL_PINS)
    environment = fresh_environment(tmp_path)
    result = subprocess.run([sys.executable, SCRIPT, "--uv", UV, "--python", environment / "bin" / "python",
                             "--app", tmp_path / "requirements.txt", "--tools", tmp_path / "requirements-test.txt"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert version(environment, "requests") == "2.31.0"  # the app's, not the tools' 2.34.2
    assert version(environment, "packaging") == "23.2"
    assert version(environment, "pytest") == "9.2.0"
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "`pytest` requires `packaging>=24`" in warnings[0], result.stdout
    assert "`pytest` requires `packaging>=24`" in (environment / "dev-tools-conflicts.txt").read_text()
    # The tool still runs with the app's older packaging.
    probe = tmp_path / "test_probe.py"
    probe.write_text("def test_runs():\n    assert True\n")
    run = subprocess.run([environment / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", probe],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


# Runs in the environment under test: one live install, its outcome as JSON.
LIVE_INSTALL = """
import dataclasses, json, sys
from pathlib import Path
sys.path.insert(0, {scripts!r})
from devserver.supervisor.installer import install
from devserver.supervisor.reaper import Reaper
said = []
outcome = install(Path({project!r}), Reaper().start(), tell=said.append)
print(json.dumps({{**dataclasses.asdict(outcome), "said": said}}))
"""


def test_a_saved_app_pin_is_installed_live_with_the_tools_around_it(tmp_path):
    """The live installer takes the same two steps: a pin saved in requirements.txt that a tool's pin
    contradicts is installed, the app's version wins, and the unmet requirement is told."""
    environment = fresh_environment(tmp_path)
    record = environment / "installed-from"
    record.mkdir()
    (record / "requirements.txt").write_text("")
    (record / "requirements-test.txt").write_text("")
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text(APP_PINS)
    (project / "requirements-test.txt").write_text(TOOL_PINS)
    env = {**os.environ, "PATH": f"{UV.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([environment / "bin" / "python", "-c",
                             LIVE_INSTALL.format(scripts=str(ROOT / "scripts"), project=str(project))],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["ok"] and outcome["tool"] == "uv", outcome
    assert "requests==2.31.0" in outcome["added"] and "pytest==9.2.0" in outcome["added"], outcome
    assert version(environment, "requests") == "2.31.0"
    assert any("`pytest` requires `packaging>=24`" in line for line in outcome["said"]), outcome
    assert (record / "requirements-test.txt").read_text() == TOOL_PINS  # recorded as installed
