#!/usr/bin/env python3
"""Write the README's table of variables and .env.example from the declarations in devserver/settings.py.

    python scripts/settings_docs.py           # rewrite both (`make docs`)
    python scripts/settings_docs.py --check   # exit 1 and say what differs (the tests run this)

So a new setting is declared once, in `SETTINGS`, and its documentation follows.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

SCRIPTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS_DIR))

from devserver.settings import SETTINGS, Setting

ROOT = SCRIPTS_DIR.parent
README = ROOT / "README.md"
ENV_EXAMPLE = ROOT / ".env.example"
TABLE_BEGIN, TABLE_END = "<!-- settings:begin -->", "<!-- settings:end -->"
ENV_HEADER = """\
# Copy to .env and uncomment what you change: `cp .env.example .env`. Every setting is commented
# out, so a copy changes nothing. docker compose reads .env by itself; on the host (`make dev`) the
# dev server reads it with python-dotenv. A fresh clone needs none.
# Written from scripts/devserver/settings.py by `make docs`: change the declarations there.
"""


def readme_table() -> str:
    rows = [f"| `{s.name}` | {s.shown} | {s.doc} |" for s in SETTINGS]
    return "\n".join(["| variable | default | what it does |", "|---|---|---|", *rows])


def shown_value(setting: Setting) -> str:
    """The value .env.example shows: the example where there is one, else the default."""
    return setting.development_default if setting.example is None else setting.example


def env_example() -> str:
    blocks = []
    for s in SETTINGS:
        example = "" if shown_value(s) == s.development_default else "; shown: an example"
        text = f"{s.doc}. Default: {s.shown}{example}"
        blocks.append("\n".join(textwrap.wrap(text, 100, initial_indent="# ", subsequent_indent="# ")
                                + [f"# {s.name}={shown_value(s)}"]))
    return ENV_HEADER + "\n" + "\n\n".join(blocks) + "\n"


def with_table(readme: str) -> str:
    head, rest = readme.split(TABLE_BEGIN, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_BEGIN}\n{readme_table()}\n{TABLE_END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether the files are up to date")
    args = parser.parse_args()
    wanted = {README: with_table(README.read_text()), ENV_EXAMPLE: env_example()}
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.name} does not match the settings declared in scripts/devserver/settings.py: "
                  "run `make docs`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path])
        print(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
