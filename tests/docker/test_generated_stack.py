"""A project made with `make new` runs in Docker under its own name and port.

Template scaffolding (left out of the projects it makes, see copier.yml); the rest of the
check of `make new` is in tests/template/.
"""

import subprocess
import uuid

from helpers import ROOT, free_port
from stack import Stack


def test_a_new_project_comes_up_under_its_own_name_and_port(tmp_path):
    name, port = f"shop-{uuid.uuid4().hex[:8]}", free_port()
    made = subprocess.run(["make", "-s", "new", f"NAME={name}", f"DEST={tmp_path / 'made'}", f"PORT={port}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    stack = Stack(tmp_path, source=tmp_path / "made", name=name, port=port)
    try:
        stack.up()
        labels = stack.inspect()["Config"]["Labels"]
        assert labels["com.docker.compose.project"] == name
        assert stack.inspect()["Config"]["Image"] == f"{name}-web:dev"
        response = stack.get("/")
        assert response.status_code == 200 and "It works." in response.text
    finally:
        stack.down()
