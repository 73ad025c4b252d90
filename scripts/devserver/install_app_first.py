#!/usr/bin/env python3
"""Install the app's requirements, then the dev tools around them: the app's pins win.

    python install_app_first.py --python /opt/venv/bin/python --app requirements.txt --tools requirements-test.txt

The app (requirements.txt) is installed first, alone, so the development environment holds the very
versions the production image installs. The dev tools (requirements-test.txt: pytest, requests,
ruff, debugpy) come second, with every package the app already has fixed at its version: uv's
`--overrides` from the environment's own `uv pip freeze`. A tool pinned apart from the app (the
app's `requests==2.31.0`, the tools' `requests==2.34.2`) then takes the app's version instead of
failing the build, one conflict per build. What a tool asks and does not get is checked once after
(`uv pip check`), listed all at once, and kept in the environment (CONFLICTS_FILE) so the dev
server names it at every start: a build's output scrolls away.

Run by the dev image's build and `make install` (stdlib only: it is copied in alone, before the
source), and by the live installer (devserver/supervisor/installer.py) for a saved requirements
file. Why by hand: no installer layers one requirement set over another; uv's overrides and check
do the work, this only orders them.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TOOL_FILES = ("requirements-test.txt", "requirements-dev.txt")  # the dev tools'; any other file is the app's
CONFLICTS_FILE = "dev-tools-conflicts.txt"  # in the environment's prefix, beside installed-from/
PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\S+$")  # `name==version`: what --overrides can fix
INCOMPATIBLE = re.compile(r"^The package (`.+` requires `.+`.*)$", re.M)  # uv pip check's lines
BUILD_FAILED = re.compile(r"Failed to build|pg_config executable not found", re.I)  # uv, a source build
PYTHON_HINT = ("a pinned package has no wheel for this Python and needs building from source: pin a version "
               "that has a wheel for it, or build on an older Python (PYTHON_IMAGE=python:3.12-slim in .env)")


def is_tools_file(path: str | Path) -> bool:
    return Path(path).name in TOOL_FILES


def uv_pip(uv: str, python: str, *args: str) -> subprocess.CompletedProcess:
    """uv's output passes through (the live installer reads its `+ name==version` lines)."""
    result = subprocess.run([uv, "pip", *args, "--python", python], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    return result


def conflicts_path(python: str) -> Path:
    """The report's place: the environment's prefix (the venv's root, above bin/)."""
    return Path(python).absolute().parent.parent / CONFLICTS_FILE


def incompatibilities(uv: str, python: str) -> list[str]:
    """Every requirement an installed package asks and does not get, as uv pip check lists them."""
    result = subprocess.run([uv, "pip", "check", "--python", python], capture_output=True, text=True,
                            errors="replace")
    return INCOMPATIBLE.findall(result.stdout + result.stderr) if result.returncode else []


def conflicts_message(found: list[str]) -> str:
    unmet = f"{len(found)} of their requirements {'is' if len(found) == 1 else 'are'} not met"
    return (f"the dev tools run with your app's pins (requirements.txt wins over requirements-test.txt), "
            f"and {unmet}: {'; '.join(found)}. Most tools run anyway; if one fails, move its pin in "
            "requirements-test.txt, or the app's in requirements.txt (production installs requirements.txt alone)")


def requirements(files: list[str]) -> list[str]:
    return [arg for f in files for arg in ("-r", f)]


def install(uv: str, python: str, app: list[str], tools: list[str]) -> int:
    """0 once both are in; else uv's status, its error above (and a hint where a build failed)."""
    if app:
        result = uv_pip(uv, python, "install", *requirements(app))
        if result.returncode:
            if BUILD_FAILED.search(result.stdout):
                print(f"hint: {PYTHON_HINT}")
            return result.returncode
    if tools:
        frozen = subprocess.run([uv, "pip", "freeze", "--python", python], capture_output=True, text=True,
                                check=True).stdout
        pins = "\n".join(line for line in frozen.splitlines() if PINNED.match(line.strip()))
        with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="app-pins-") as overrides:
            overrides.write(pins + "\n")
            overrides.flush()
            result = uv_pip(uv, python, "install", *requirements(tools), "--overrides", overrides.name)
        if result.returncode:
            return result.returncode
    report = conflicts_path(python)
    found = incompatibilities(uv, python)
    if found:
        report.write_text(conflicts_message(found) + "\n")
        print(f"warning: {conflicts_message(found)}")
    else:
        report.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the environment's interpreter")
    parser.add_argument("--uv", default=shutil.which("uv"), help="uv (default: the one on PATH)")
    parser.add_argument("--app", action="append", default=[], help="the app's requirements file (repeatable)")
    parser.add_argument("--tools", action="append", default=[], help="the dev tools' requirements file (repeatable)")
    args = parser.parse_args(argv)
    if not args.uv:
        print("error: uv is not installed: `pip install uv`, or give --uv its path", file=sys.stderr)
        return 2
    return install(args.uv, args.python, args.app, args.tools)


if __name__ == "__main__":
    sys.exit(main())
