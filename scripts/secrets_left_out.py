"""Name, in one line, the secret-looking files of the project that .dockerignore keeps out of the images.

Docker says nothing about what .dockerignore leaves out, so `make up` and `make build` run this
first: a key or a dump lying in the tree is out of the images, but still lying there. The patterns
are .dockerignore's own, between its `# secret-files:begin` and `# secret-files:end` lines; a file
one of them catches and a later `!` line takes back is in the images, and not named. Matching is
Docker's: `**` spans any number of folders, `*` and `?` stay within one, and a pattern that catches
a folder catches all it holds (named once, as `.aws/`). Tracked or not, every file counts; git's
folder, virtualenvs and node_modules are not searched. Plain Python, no dependencies: it runs before
any install. Prints nothing when there is nothing to say, and never fails a build.

    python scripts/secrets_left_out.py [PROJECT]    # PROJECT: the build context, . by default
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
from pathlib import Path

BEGIN, END = "# secret-files:begin", "# secret-files:end"
# Not searched: git's own files, and folders of installed packages (whose CA bundles are *.pem).
SKIPPED_DIRS = {".git", "node_modules", "__pycache__"}


def translate(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression over a slash-separated relative path."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # `**/`: no folder or any number of them
                out += "(?:.*/)?"
                i += 1
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out += re.escape(c)
            else:
                body = pattern[i + 1:end]
                out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


class Rule:
    def __init__(self, line: str, secret: bool):
        self.exclusion = line.startswith("!")
        pattern = posixpath.normpath(line[1:].strip() if self.exclusion else line).lstrip("/")
        self.regex = translate(pattern)
        self.secret = secret

    def matches(self, path: str) -> bool:
        """Docker's rule: the path or one of the folders above it."""
        parts = path.split("/")
        return any(self.regex.match("/".join(parts[:n])) for n in range(len(parts), 0, -1))


def read_rules(dockerignore: Path) -> list[Rule]:
    rules, secret = [], False
    for raw in dockerignore.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if line == BEGIN:
            secret = True
        elif line == END:
            secret = False
        elif line and not line.startswith("#"):
            rules.append(Rule(line, secret))
    return rules


def left_out(path: str, rules: list[Rule]) -> bool:
    """Whether a secret-file pattern catches `path` and no later `!` line takes it back."""
    caught_by_secret = False
    for rule in rules:
        if rule.matches(path):
            caught_by_secret = not rule.exclusion and (rule.secret or caught_by_secret)
    return caught_by_secret


def secret_files(project: Path) -> list[str]:
    """The project's secret-looking files (and folders, ending in /) .dockerignore leaves out."""
    dockerignore = project / ".dockerignore"
    try:
        rules = read_rules(dockerignore)
    except OSError:
        return []
    if not any(rule.secret for rule in rules):
        return []
    found = []
    for top, dirs, files in os.walk(project):
        relative = Path(top).relative_to(project).as_posix()
        prefix = "" if relative == "." else relative + "/"
        kept = []
        for name in sorted(dirs):
            path = prefix + name
            if name in SKIPPED_DIRS or (Path(top, name) / "pyvenv.cfg").exists():
                continue
            if left_out(path, rules):
                found.append(path + "/")
            else:
                kept.append(name)
        dirs[:] = kept
        found.extend(prefix + name for name in sorted(files) if left_out(prefix + name, rules))
    return sorted(found)


def main() -> int:
    project = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    try:
        found = secret_files(project)
    except Exception as error:  # a notice, never the reason a build fails
        print(f"scripts/secrets_left_out.py: could not look for secret files: {error}", file=sys.stderr)
        return 0
    if found:
        print("left out of the images (secret-looking files, see .dockerignore): " + ", ".join(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
