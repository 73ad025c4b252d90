"""The dev container, measured: image size, `docker compose up` to healthy, reload latency inside it.

    python bench/container.py [--edits 15]

Edits happen on the host, in the bind-mounted source (or, for the compose watch row, copied in
by `docker compose up --watch` with compose.watch.yaml); latency is from the write until the
container serves the new code. Every row runs in the same session, so compare them as ratios.
Uses the integration tests' Stack (a throwaway compose project on a copy of the repo); set
PYTHON_IMAGE where python:3.13-slim cannot be pulled.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reload import ROOT, VERSION_ROUTE, timed_edits  # bench/ is on sys.path when this runs as a script

sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "scripts" / "tests"), str(ROOT / "scripts" / "tests" / "docker")]

from compose_stack import Stack

WATCH = ["-f", "docker-compose.yml", "-f", "compose.watch.yaml"]


def run(preload: str, edits: int, watch: bool = False) -> dict[str, float]:
    stack = Stack(Path(tempfile.mkdtemp(prefix="bench-container-")))
    views = stack.dir / "kiosk" / "views.py"  # the tests' app (FLASK_APP=kiosk)
    base = views.read_text()
    views.write_text(base + VERSION_ROUTE.format(n=0))  # the tests' app has a /slow of its own
    stack.write_env(PRELOAD=preload, ACCESS_LOG="0")
    watcher = None
    try:
        stack.compose(*(WATCH if watch else []), "build", "web")
        start = time.monotonic()
        if watch:  # compose watches in the foreground, for as long as it runs
            watcher = subprocess.Popen(["docker", "compose", *WATCH, "up", "--watch", "web"], cwd=stack.dir,
                                       env=stack.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            stack.compose("up", "-d", "web")
        stack.wait_healthy()
        to_healthy = time.monotonic() - start
        size = int(subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", f"{stack.name}-web:dev"],
                                  capture_output=True, text=True, check=True).stdout)
        latencies = timed_edits(views, base, stack.url + "/version", edits, route=VERSION_ROUTE)
        return {"size_mb": size / 1e6, "to_healthy": to_healthy, "median": statistics.median(latencies),
                "p90": sorted(latencies)[int(0.9 * (len(latencies) - 1))]}
    finally:
        if watcher:
            watcher.terminate()
            watcher.wait(30)
        stack.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=15)
    args = parser.parse_args()
    rows = [("PRELOAD=1 (preloaded fork)", run("1", args.edits)), ("PRELOAD=0 (spawn)", run("0", args.edits)),
            ("compose watch, PRELOAD=1", run("1", args.edits, watch=True))]
    print(f"\n{'dev container':<30}{'image MB':>10}{'up->healthy s':>15}{'reload median ms':>18}{'p90 ms':>8}")
    for name, r in rows:
        print(f"{name:<30}{r['size_mb']:>10.0f}{r['to_healthy']:>15.1f}"
              f"{r['median'] * 1000:>18.0f}{r['p90'] * 1000:>8.0f}")
    print(f"\npreloaded / spawn reload latency: {rows[0][1]['median'] / rows[1][1]['median']:.2f}x")
    print(f"compose watch / bind mount reload latency: {rows[2][1]['median'] / rows[0][1]['median']:.2f}x")


if __name__ == "__main__":
    main()
