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
# The optional services' settings: a table and a section of .env.example of their own, inside the
# service's block, which a new project keeps or drops (scripts/template/generated.jinja) with the
# service's declarations in settings.py.
SERVICE_TITLES = {"postgres": "PostgreSQL (the `db` service)",
                  "tasks": "Background tasks (the `redis` and `worker` services)"}
SERVICES = [service for service in SERVICE_TITLES if any(s.service == service for s in SETTINGS)]
IN_TEMPLATE = (ROOT / "copier.yml").is_file()  # block markers are the template's; a project has none


def in_block(service: str, text: str, begin: str, end: str) -> str:
    return f"{begin}{service}:begin{end}\n{text}{begin}{service}:end{end}\n" if IN_TEMPLATE else text
ENV_HEADER = """\
# Copy to .env and uncomment what you change: `cp .env.example .env`. Every setting is commented
# out, so a copy changes nothing. docker compose reads .env by itself; on the host (`make dev`) the
# dev server reads it with python-dotenv. A fresh clone needs none.
# Written from scripts/devserver/settings.py by `make docs`: change the declarations there.
"""


def settings_of(service: str | None) -> list[Setting]:
    return [s for s in SETTINGS if s.service == service]


def table(settings: list[Setting]) -> str:
    rows = [f"| `{s.name}` | {s.default_doc} | {s.doc} |" for s in settings]
    return "\n".join(["| variable | default | what it does |", "|---|---|---|", *rows])


def readme_table() -> str:
    """The dev server's settings, then each optional service's under its title, inside its block."""
    parts = [table(settings_of(None))]
    for service in SERVICES:
        title = SERVICE_TITLES[service]
        parts.append(in_block(service, f"\n{title}:\n\n{table(settings_of(service))}\n", "<!-- ", " -->"))
    # Each block starts on the line after the one before: a block a project leaves out leaves no gap.
    return (parts[0] + "\n" + "".join(parts[1:])).rstrip("\n")


def shown_value(setting: Setting) -> str:
    """The value .env.example shows: the example where there is one, else the default."""
    return setting.development_default if setting.example is None else setting.example


def env_block(setting: Setting) -> str:
    example = "" if shown_value(setting) == setting.development_default else "; shown: an example"
    text = f"{setting.doc}. Default: {setting.default_doc}{example}"
    return "\n".join(textwrap.wrap(text, 100, initial_indent="# ", subsequent_indent="# ")
                     + [f"# {setting.name}={shown_value(setting)}"])


def in_env_example(settings: list[Setting]) -> list[Setting]:
    """What a user sets: a variable compose or the server sets (PUBLIC_URL) has no place in .env."""
    return [s for s in settings if s.set_by is None]


def env_example() -> str:
    sections = ["\n\n".join(env_block(s) for s in in_env_example(settings_of(None))) + "\n"]
    for service in SERVICES:
        title = SERVICE_TITLES[service]
        blocks = "\n\n".join(env_block(s) for s in in_env_example(settings_of(service)))
        sections.append(in_block(service, f"\n# -- {title} --\n\n{blocks}\n", "# ", ""))
    return ENV_HEADER + "\n" + "".join(sections)


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
