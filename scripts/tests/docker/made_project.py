"""`make new` from a copy of this template, with what is on disk committed (`make new` takes committed
files only): a project as a user starts it. Template scaffolding, left out of the projects it makes."""

import os
import shutil
import subprocess
import uuid
from pathlib import Path

from harness import ROOT, free_port

# Commits made here need an author even on a machine whose git knows nobody.
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@localhost",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@localhost"}


def make_new(base: Path, database: str = "none", tasks: str = "celery") -> tuple[Path, str, int]:
    """(project, name, port) of a project made in `base`/made."""
    template = base / "template"
    shutil.copytree(ROOT, template, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    for step in (["add", "-A"], ["commit", "-q", "--allow-empty", "-m", "the template as it is on disk"]):
        subprocess.run(["git", "-C", str(template), *step], env=GIT_ENV, check=True, capture_output=True)
    name, port = f"shop-{uuid.uuid4().hex[:8]}", free_port()
    result = subprocess.run(["make", "-s", "new", f"VENV={ROOT / '.venv'}", f"NAME={name}",
                             f"DEST={base / 'made'}", f"PORT={port}", f"DATABASE={database}", f"TASKS={tasks}"],
                            cwd=template, env=GIT_ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return base / "made", name, port
