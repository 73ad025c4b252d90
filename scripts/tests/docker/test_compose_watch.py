"""Compose Watch instead of the bind mount (compose.watch.yaml): a saved file is copied into the
container and served. It works because the image's user is a number: compose looks a name up in
the image's passwd and refuses to copy ("unable to find entry").
"""

import subprocess

import pytest

from compose_stack import Stack
from harness import wait_for

WATCH = ["-f", "docker-compose.yml", "-f", "compose.watch.yaml"]
ROUTE = '''

@bp.get("/watched")
def watched():
    return "copied in by compose watch"
'''


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("watch"))
    log = open(s.dir.parent / "watch.log", "w+")
    s.compose(*WATCH, "build", "web")
    process = subprocess.Popen(["docker", "compose", *WATCH, "up", "--watch", "web"], cwd=s.dir, env=s.env,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        s.wait_healthy()
        yield s, log
    finally:
        process.terminate()
        process.wait(60)
        s.down()


def test_a_saved_file_is_copied_in_and_served_without_a_bind_mount(watched):
    s, log = watched
    assert not [m for m in s.inspect()["Mounts"] if m["Type"] == "bind"]
    assert s.inspect()["Config"]["User"] == str(s.uid)
    with open(s.dir / "kiosk" / "views.py", "a") as f:
        f.write(ROUTE)
    wait_for(lambda: s.get("/watched").text == "copied in by compose watch", 30, message="the synced route")
    log.seek(0)
    assert "unable to find entry" not in log.read()
    assert "reloaded in" in s.logs()
