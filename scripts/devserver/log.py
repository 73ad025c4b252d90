"""One prefix for everything the dev server itself says, so it stands out from the app's output."""

import sys


def say(message: str) -> None:
    """Write one line (or a block) to stderr, each line tagged, flushed at once."""
    for line in message.rstrip("\n").splitlines() or [""]:
        sys.stderr.write(f"[devserver] {line}\n")
    sys.stderr.flush()
