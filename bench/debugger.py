"""The dev server under debugpy (DEBUGGER=debugpy) with an editor attached, against without it:
start-up and reload times, workers forked from the preloaded fork server (PRELOAD=1) or spawned
(PRELOAD=0), in one run on this machine.

    python bench/debugger.py [--edits 5]

The editor is the tests' DAP client (scripts/tests/dap_client.py), which attaches to every
worker as VS Code does with `subProcess`; the times are the server's own ("ready in",
"reloaded in"), each edit a save of the tests' app.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "scripts" / "tests")]

from dap_client import DebugClient  # noqa: E402
from harness import DevServer, copy_project, free_port  # noqa: E402


def run(debugger: bool, preload: str, edits: int) -> tuple[float, float]:
    """(start-up ms, median reload ms)."""
    project = copy_project(Path(tempfile.mkdtemp(prefix="bench-debugger-")) / "project")
    port = free_port()
    env = {"DEBUGGER": "debugpy", "DEBUGPY_PORT": str(port)} if debugger else {}
    server = DevServer(project, PRELOAD=preload, ACCESS_LOG="0", FLASK_DEBUG="1", **env).start()
    client = DebugClient("127.0.0.1", port, {}).attach({}) if debugger else None
    try:
        for n in range(1, edits + 1):
            server.append("kiosk/views.py", f"\n# edit {n}\n")
            server.wait_reloads(n, timeout=60)
        log = server.log()
        start = float(re.search(r"ready in (\d+) ms", log)[1])
        reloads = [float(ms) for ms in re.findall(r"reloaded in (\d+) ms", log)]
        return start, statistics.median(reloads)
    finally:
        if client:
            client.close()
        server.stop()
        server.kill_leftovers()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=5)
    args = parser.parse_args()
    rows = [(f"{'debugpy' if debugger else 'no debugger'}, PRELOAD={preload}", run(debugger, preload, args.edits))
            for debugger in (False, True) for preload in ("1", "0")]
    print(f"{'':28}{'start-up ms':>12}{'reload ms (median)':>20}")
    for name, (start, reload) in rows:
        print(f"{name:28}{start:>12.0f}{reload:>20.0f}")


if __name__ == "__main__":
    main()
