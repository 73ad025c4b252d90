"""Image build times: pip (the Dockerfile before uv, bench/Dockerfile.pip) against uv with BuildKit
cache mounts (../Dockerfile), in one run on this machine.

    python bench/build.py [--target dev|prod] [--runs 1]

For each Dockerfile, on a copy of the project:
  cold         the build cache emptied (`docker builder prune -af`: layers and cache mounts), a full build
  one line     then one pure-Python package added to requirements.txt, and the image built again
  no change    then built again with nothing changed (all layers cached)
The base image stays (PYTHON_IMAGE, as CI passes it). Empties this machine's whole build cache:
not for a machine whose cache you want to keep.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDED = "humanize==4.17.0"
DOCKERFILES = {"pip": ROOT / "bench" / "Dockerfile.pip", "uv": ROOT / "Dockerfile"}


def build(context: Path, target: str) -> float:
    """`docker compose build` (it brings its own BuildKit client; `docker build` would need buildx)."""
    service = "web" if target == "dev" else "prod"
    start = time.monotonic()
    result = subprocess.run(["docker", "compose", "--profile", "prod", "build", "-q", service], cwd=context,
                            capture_output=True, text=True,
                            env={**os.environ, "COMPOSE_PROJECT_NAME": f"bench-build-{context.name}"})
    if result.returncode != 0:
        sys.exit(f"docker compose build failed:\n{result.stderr[-3000:]}")
    return time.monotonic() - start


def one_run(name: str, target: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        context = Path(tmp) / name
        shutil.copytree(ROOT, context, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", ".*_cache"))
        shutil.copyfile(DOCKERFILES[name], context / "Dockerfile")
        subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True, check=True)
        times = {"cold": build(context, target)}
        with open(context / "requirements.txt", "a") as f:
            f.write(f"{ADDED}\n")
        times["one line"] = build(context, target)
        times["no change"] = build(context, target)
        subprocess.run(["docker", "rmi", "-f", f"bench-build-{name}-web:{target}"], capture_output=True)
        return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="dev", choices=["dev", "prod"])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in DOCKERFILES}
    for _ in range(args.runs):
        for name in DOCKERFILES:
            results[name].append(one_run(name, args.target))
    print(f"target {args.target}, {args.runs} run(s), median seconds")
    print(f"{'':10} {'cold':>8} {'one line':>9} {'no change':>10}")
    medians = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in results.items()}
    for name, m in medians.items():
        print(f"{name:10} {m['cold']:8.1f} {m['one line']:9.1f} {m['no change']:10.1f}")
    uv, pip = medians["uv"], medians["pip"]
    print(f"{'uv / pip':10} {uv['cold'] / pip['cold']:8.2f} {uv['one line'] / pip['one line']:9.2f} "
          f"{uv['no change'] / pip['no change']:10.2f}")


if __name__ == "__main__":
    main()
