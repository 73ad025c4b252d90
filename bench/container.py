"""The dev container, measured: image size, `docker compose up` to healthy, reload latency inside it.

    python bench/container.py [--edits 15]

Edits happen on the host, in the bind-mounted source; latency is from the write until the
container serves the new code. Both launch modes run in the same session, so compare them
as a ratio. Uses the integration tests' Stack (a throwaway compose project on a copy of
the repo); set PYTHON_IMAGE where python:3.13-slim cannot be pulled.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reload import ROOT, ROUTE, timed_edits  # bench/ is on sys.path when this runs as a script

sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "scripts" / "tests"), str(ROOT / "scripts" / "tests" / "docker")]

from compose_stack import Stack


def run(preload: str, edits: int) -> dict[str, float]:
    stack = Stack(Path(tempfile.mkdtemp(prefix="bench-container-")))
    views = stack.dir / "kiosk" / "views.py"  # the tests' app (FLASK_APP=kiosk)
    base = views.read_text()
    views.write_text(base + ROUTE.format(n=0))
    stack.write_env(PRELOAD=preload, ACCESS_LOG="0")
    try:
        stack.compose("build", "web")
        start = time.monotonic()
        stack.compose("up", "-d", "web")
        stack.wait_healthy()
        to_healthy = time.monotonic() - start
        size = int(subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", f"{stack.name}-web:dev"],
                                  capture_output=True, text=True, check=True).stdout)
        latencies = timed_edits(views, base, stack.url + "/version", edits)
        return {"size_mb": size / 1e6, "to_healthy": to_healthy, "median": statistics.median(latencies),
                "p90": sorted(latencies)[int(0.9 * (len(latencies) - 1))]}
    finally:
        stack.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=15)
    args = parser.parse_args()
    rows = [("PRELOAD=1 (preloaded fork)", run("1", args.edits)), ("PRELOAD=0 (spawn)", run("0", args.edits))]
    print(f"\n{'dev container':<30}{'image MB':>10}{'up->healthy s':>15}{'reload median ms':>18}{'p90 ms':>8}")
    for name, r in rows:
        print(f"{name:<30}{r['size_mb']:>10.0f}{r['to_healthy']:>15.1f}"
              f"{r['median'] * 1000:>18.0f}{r['p90'] * 1000:>8.0f}")
    print(f"\npreloaded / spawn reload latency: {rows[0][1]['median'] / rows[1][1]['median']:.2f}x")


if __name__ == "__main__":
    main()
