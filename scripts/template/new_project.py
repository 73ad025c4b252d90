"""`make new NAME=… DEST=…`: a new project from this template, with a git history of its own.

copier does the work: it asks nothing here (every answer comes from make's variables), checks
the answers against copier.yml's validators, renders the twins and records the answers for
`copier update`. This script adds what copier leaves to its caller: the checks that are not
about answers (git is there, the template is a git clone with nothing uncommitted, DEST is new
or empty: copier would write into a full one, as `copier update` must), copier's errors in the
words of `make new`, and the first commit. Every check comes before anything is written.

A project is made from the template's HEAD commit only. Left to itself, copier copies a dirty
local template as it is on disk, untracked files included (a local database, a secret), and
records a commit it made in a throwaway clone, which `copier update` can never find again.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import copier

TEMPLATE = Path(__file__).resolve().parents[2]
# copier's question names, as make's variables spell them.
VARIABLES = {"project_name": "NAME", "python_version": "PYTHON_VERSION", "port": "PORT", "database": "DATABASE",
             "tasks": "TASKS"}
USAGE = ("make new NAME=my-shop DEST=../my-shop [PYTHON_VERSION=3.13] [PORT=5000] [DATABASE=none|postgres] "
         "[TASKS=celery|rq|none]")
QUEUES = {"celery": "Celery", "rq": "RQ"}
# Used only when git has no user.name/user.email: the commit is made anyway, and the user told.
FALLBACK_IDENTITY = ["-c", "user.name=make new", "-c", "user.email=make-new@localhost"]


class Refused(Exception):
    """Bad input: one line to show, nothing written."""


def check_template_is_a_clone() -> None:
    """copier reads the template through git: the commit it records is what `copier update` starts from."""
    top = subprocess.run(["git", "-C", str(TEMPLATE), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != TEMPLATE:
        raise Refused(f"the template at {TEMPLATE} is not a git clone (an unpacked archive?): projects made "
                      "from it could never take its updates. Use `git clone` of the template, or run "
                      "`git init && git add -A && git commit -m template` in it first")


def uncommitted_files() -> list[str]:
    """What `git status` shows in the template (untracked files included, ignored ones not)."""
    status = subprocess.run(["git", "-C", str(TEMPLATE), "status", "--porcelain", "-z", "--untracked-files=all"],
                            capture_output=True, text=True, check=True).stdout
    entries = iter(status.split("\0"))
    files = []
    for entry in entries:
        if not entry:
            continue
        code, path = entry[:2], entry[3:]
        if code[0] in "RC":  # a rename or copy: its source path follows as an entry of its own
            next(entries, None)
        files.append(f"{path} (untracked)" if code == "??" else path)
    return files


def check_template_is_committed() -> str:
    """The commit to copy: HEAD, and only when nothing is changed or untracked beside it."""
    files = uncommitted_files()
    if files:
        shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        raise Refused(f"the template at {TEMPLATE} has changes that are not committed: {shown}. A project is "
                      "made from committed files only: commit them (`git add -A && git commit`) or set them "
                      "aside (`git stash -u`), then run make new again")
    head = subprocess.run(["git", "-C", str(TEMPLATE), "rev-parse", "--verify", "-q", "HEAD^{commit}"],
                          capture_output=True, text=True)
    if head.returncode != 0:
        raise Refused(f"the template at {TEMPLATE} has no commit yet: commit it "
                      "(`git add -A && git commit -m template`), then run make new again")
    return head.stdout.strip()


def check_dest(raw: str) -> Path:
    """Where the project goes: a new or empty directory outside this template."""
    if not raw:
        raise Refused(f"DEST is empty: say where the project goes, e.g. {USAGE}")
    dest = Path(raw).expanduser().resolve()
    if dest == TEMPLATE or TEMPLATE in dest.parents:
        raise Refused(f"DEST {raw} is inside this template; choose a directory beside it, e.g. DEST=../{dest.name}")
    if dest.exists() and not dest.is_dir():
        raise Refused(f"DEST {raw} exists and is not a directory; choose a new directory")
    if dest.is_dir() and any(dest.iterdir()):
        raise Refused(f"DEST {raw} exists and is not empty; choose a new directory, or empty this one")
    return dest


def answers(name: str, python_version: str, port: str, database: str, tasks: str = "") -> dict:
    """make's variables as copier's data; copier.yml validates them, except the port's type."""
    data: dict = {"project_name": name}
    if python_version:
        data["python_version"] = python_version
    if database:
        data["database"] = database
    if tasks:
        data["tasks"] = tasks
    if port:
        if not port.isdigit():
            raise Refused(f"PORT {port!r} is not a number: use 1024-65535, e.g. PORT=8080")
        data["port"] = int(port)
    return data


def in_make_words(error: ValueError) -> str:
    """copier's answer errors, with make's variable names instead of its question names."""
    message = str(error)
    match = re.match(r"(?:Validation error for question|Invalid choice for) '(\w+)': (.*)", message, re.S)
    if match and match[1] in VARIABLES:
        return f"{VARIABLES[match[1]]}: {match[2]}"
    return message


def first_commit(dest: Path, name: str) -> str | None:
    """Commit the new tree; returns a note when git had no identity and a stand-in was used."""
    git = ["git", "-C", str(dest)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    message = f"Start {name} from the template at {TEMPLATE}"
    if subprocess.run([*git, "commit", "-q", "-m", message], capture_output=True).returncode == 0:
        return None
    subprocess.run([*git, *FALLBACK_IDENTITY, "commit", "-q", "-m", message], check=True)
    return ("git has no user.name/user.email here, so the first commit is by 'make new'; after "
            "`git config --global user.name …` and `user.email …`, run "
            f"`git -C {dest} commit --amend --reset-author --no-edit`")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], usage=USAGE)
    parser.add_argument("--name", default="")
    parser.add_argument("--dest", default="")
    parser.add_argument("--python-version", default="")
    parser.add_argument("--port", default="")
    parser.add_argument("--database", default="")
    parser.add_argument("--tasks", default="")
    args = parser.parse_args(argv)
    try:
        if not shutil.which("git"):
            raise Refused("git is not installed: install it (copier reads the template through it, "
                          "and the new project starts with a commit)")
        check_template_is_a_clone()
        commit = check_template_is_committed()
        dest = check_dest(args.dest)
        data = answers(args.name, args.python_version, args.port, args.database, args.tasks)
        # The commit itself, not "HEAD": copier would copy a working tree changed since the check.
        copier.run_copy(str(TEMPLATE), dest, data=data, defaults=True, quiet=True, vcs_ref=commit)
    except Refused as refused:
        print(f"make new: {refused}", file=sys.stderr)
        return 2
    except ValueError as error:  # copier checked an answer before writing anything
        print(f"make new: {in_make_words(error)}", file=sys.stderr)
        return 2
    note = first_commit(dest, args.name)
    queue = QUEUES.get(data.get("tasks", "celery"))  # copier.yml's default when TASKS is not given
    extras = (["PostgreSQL: the demo's /db route uses it"] if data.get("database") == "postgres" else []) + \
        ([f"{queue} tasks: a worker and Redis beside the app, the demo's /tasks/ routes"] if queue else [])
    with_extras = f" (with {'; with '.join(extras)})" if extras else ""
    print(f"Created {dest} ({args.name}){with_extras}. Start it: cd {dest} && docker compose up")
    if note:
        print(f"make new: {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
