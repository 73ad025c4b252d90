"""Does the watcher scale? Start-up, reload latency and idle CPU, small tree against a big one.

    python bench/scale.py [--files 20000] [--node-modules 50000] [--edits 10]

The big tree adds FILES source files under app/ and an app/node_modules of NODE_MODULES
files (ignored by the filter, but on disk inside the watched tree). Targets: reload latency
within 1.5x of the small tree, start-up under 2 s, the idle supervisor under 1% of a core.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from reload import ROOT, ROUTE, timed_edits, wait  # bench/ is on sys.path when this runs as a script

CLOCK = os.sysconf("SC_CLK_TCK")


def populate(app: Path, count: int, subdir: str, ext: str) -> None:
    per_dir = 100
    for i in range(count):
        folder = app / subdir / f"d{i // per_dir:04d}"
        if i % per_dir == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i % per_dir:03d}{ext}").write_text("x = 1\n")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK  # utime + stime


def measure(files: int, node_modules: int, edits: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="scale-"))
    try:
        for part in ("app", "scripts"):
            shutil.copytree(ROOT / part, work / part, ignore=shutil.ignore_patterns("__pycache__"))
        if files:
            populate(work / "app", files, "generated", ".txt")
        if node_modules:
            populate(work / "app", node_modules, "node_modules", ".js")
        views = work / "app" / "views.py"
        base = views.read_text()
        views.write_text(base + ROUTE.format(n=0))
        port = 5000 + os.getpid() % 1000
        env = {**os.environ, "PORT": str(port), "ACCESS_LOG": "0", "FLASK_DEBUG": "1"}
        log = work / "server.log"
        start = time.monotonic()
        process = subprocess.Popen([sys.executable, "scripts/entrypoint.py"], cwd=work, env=env,
                                   stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}/version"
            wait(lambda: requests.get(url, timeout=1).text == "0", 60)
            startup = time.monotonic() - start
            latencies = timed_edits(views, base, url, edits)
            time.sleep(1.5)  # let the last old worker retire
            before, t0 = cpu_seconds(process.pid), time.monotonic()
            time.sleep(5)
            idle_cpu = (cpu_seconds(process.pid) - before) / (time.monotonic() - t0)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
        return {"startup": startup, "median": statistics.median(latencies), "idle_cpu": idle_cpu}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--node-modules", type=int, default=50000)
    parser.add_argument("--edits", type=int, default=10)
    args = parser.parse_args()
    small = measure(0, 0, args.edits)
    big = measure(args.files, args.node_modules, args.edits)
    print(f"{'tree':<44}{'start-up s':>11}{'reload median ms':>18}{'idle CPU %':>12}")
    for name, r in (("small (the template app)", small),
                    (f"+{args.files} files, node_modules of {args.node_modules}", big)):
        print(f"{name:<44}{r['startup']:>11.2f}{r['median'] * 1000:>18.0f}{r['idle_cpu'] * 100:>12.2f}")
    print(f"\nreload latency, big / small: {big['median'] / small['median']:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
