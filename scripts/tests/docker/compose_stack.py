"""One compose project built from a copy of the repository, driven through the real docker CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import requests

from harness import ROOT, TEST_APP, free_port

# Test routes added to the project copy before it is built (so the prod image has them too).
TEST_ROUTES = '''

@bp.get("/boom")
def boom():
    raise RuntimeError("kaboom-from-the-app")


@bp.get("/write")
def write():
    from pathlib import Path
    path = Path(__file__).parent.parent / "written-by-app.txt"
    path.write_text("hello")
    return str(os.getuid())


@bp.get("/slow")
def slow():
    from pathlib import Path
    (Path(__file__).parent.parent / "slow-entered.txt").write_text("in")
    time.sleep(float(request.args["seconds"]))
    return "done"
'''


def docker_works() -> bool:
    try:
        return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0 \
            and subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def compiled(*modules: str) -> str:
    """Python code that prints True when each of `modules` has the .pyc its import would read (the build's:
    PYTHONDONTWRITEBYTECODE keeps the image from writing any later)."""
    return (f"import importlib.util, os, {', '.join(modules)}; print(all(os.path.exists("
            f"importlib.util.cache_from_source(m.__file__)) for m in ({', '.join(modules)},)))")


def container_uid() -> int:
    """Our own UID, so files the container writes are ours; root runs as 1000 (the image default)."""
    return os.getuid() or 1000


class Stack:
    """One compose project built from a copy of the repository (or of a project made from it).

    Its compose project name and host port are new ones, set through the environment; with
    `name` and `port`, they are the ones the copied compose file already defaults to.
    """

    def __init__(self, base: Path, source: Path = ROOT, name: str | None = None, port: int | None = None,
                 **env: str):
        self.dir = base / "project"
        shutil.copytree(source, self.dir, ignore=shutil.ignore_patterns(
            ".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".env"))
        # The test app beside the user's app/, named in .env as a user names their own.
        shutil.copytree(TEST_APP, self.dir / "kiosk", ignore=shutil.ignore_patterns("__pycache__"))
        with open(self.dir / "kiosk" / "views.py", "a") as f:
            f.write(TEST_ROUTES)
        self.write_env()
        self.name = name or f"devtest-{uuid.uuid4().hex[:10]}"
        self.port = port or free_port()
        self.uid = container_uid()
        inherited = {k: v for k, v in os.environ.items() if k not in ("COMPOSE_PROJECT_NAME", "PORT")}
        self.env = {**inherited, "PROD_PORT": str(free_port()), "DB_PORT": str(free_port()),
                    "REDIS_PORT": str(free_port()), "UID": str(self.uid), "GID": str(self.uid), **env}
        if not name:
            self.env["COMPOSE_PROJECT_NAME"] = self.name
        if not port:
            self.env["PORT"] = str(self.port)
        if os.getuid() == 0:  # let the container user write into its mount, as a developer's own files would
            subprocess.run(["chown", "-R", f"{self.uid}:{self.uid}", str(self.dir)], check=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def write_env(self, **variables: str) -> None:
        """The project's .env: FLASK_APP naming the test app, then `variables`."""
        lines = [f"{k}={v}" for k, v in {"FLASK_APP": "kiosk", **variables}.items()]
        (self.dir / ".env").write_text("\n".join(lines) + "\n")

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(["docker", "compose", *args], cwd=self.dir, env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def up(self, service: str = "web") -> None:
        self.compose("up", "-d", "--build", service)
        self.wait_healthy(service)

    def container(self, service: str = "web") -> str:
        return self.compose("ps", "-a", "-q", service).stdout.strip()

    def inspect(self, service: str = "web") -> dict:
        out = subprocess.run(["docker", "inspect", self.container(service)], capture_output=True, text=True,
                             check=True).stdout
        return json.loads(out)[0]

    def wait_healthy(self, service: str = "web", timeout: float = 90) -> float:
        """Seconds until Docker calls the container healthy; fails at once if it exits."""
        start = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline:
            container = self.container(service)
            state = self.inspect(service)["State"] if container else {}
            if state.get("Status") == "exited":
                raise AssertionError(f"{service} exited with {state['ExitCode']}:\n{self.logs(service)}")
            if state.get("Health", {}).get("Status") == "healthy":
                return time.monotonic() - start
            time.sleep(0.2)
        raise AssertionError(f"{service} not healthy after {timeout}s:\n{self.compose('ps', '-a').stdout}"
                             f"\n{self.logs(service)}")

    def logs(self, service: str = "web") -> str:
        return self.compose("logs", "--no-color", service, check=False).stdout

    def reloads(self, service: str = "web") -> list[str]:
        """The server's "reloaded in" lines so far."""
        return [line for line in self.logs(service).splitlines() if "reloaded in" in line]

    def get(self, path: str, url: str | None = None, **kwargs) -> requests.Response:
        return requests.get((url or self.url) + path, timeout=kwargs.pop("timeout", 10), **kwargs)

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.dir / relative
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))

    def down(self) -> None:
        self.compose("--profile", "*", "down", "-v", "--remove-orphans", "-t", "2", check=False)
        for tag in ("dev", "prod"):
            subprocess.run(["docker", "rmi", "-f", f"{self.name}-web:{tag}"], capture_output=True)
