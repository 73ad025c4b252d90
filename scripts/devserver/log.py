"""One prefix for everything the dev server itself says, so it stands out from the app's output.

Production's log is production's (gunicorn's lines, the app's, and ours): no prefix there
(`unprefixed()`, called once by the entrypoint; the workers inherit it at the fork).
"""

import sys

PREFIX = "[devserver] "


def unprefixed() -> None:
    global PREFIX
    PREFIX = ""


def say(message: str) -> None:
    """Write one line (or a block) to stderr, each line tagged, flushed at once."""
    for line in message.rstrip("\n").splitlines() or [""]:
        sys.stderr.write(f"{PREFIX}{line}\n")
    sys.stderr.flush()
