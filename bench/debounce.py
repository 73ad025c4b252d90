"""How short can the watcher's quiet window be and still see one editor save as one change?

    python bench/debounce.py [--saves 20]

Replays the file operations of common editors' saves (with an fsync each, as editors do)
against watchfiles with the dev server's filter, for several quiet windows (watchfiles'
`step`), and counts the batches each save produced. One batch per save is right; more
means a save would restart the app twice. The dev server uses the shortest window with
one batch per save for every style, plus margin for slower disks (watcher.STEP_MS).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "scripts" / "tests")]

from watchfiles import watch

from devserver.supervisor.watcher import SourceFilter

from editor_saves import STYLES, write


def batches_per_save(step_ms: int, style, saves: int) -> list[int]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "views.py"
        write(path, "x = 0\n")
        stop = threading.Event()
        batches: list[float] = []

        def collect():
            for _ in watch(root, watch_filter=SourceFilter(False), step=step_ms, stop_event=stop,
                           rust_timeout=100, yield_on_timeout=False):
                batches.append(time.monotonic())

        watcher = threading.Thread(target=collect)
        watcher.start()
        time.sleep(0.3)  # let the watch register
        marks = []
        for n in range(1, saves + 1):
            marks.append(time.monotonic())
            style(path, f"x = {n}\n")
            time.sleep(max(0.25, step_ms * 4 / 1000))  # far apart: each save is its own event
        time.sleep(0.3)
        stop.set()
        watcher.join()
    marks.append(float("inf"))
    return [sum(1 for b in batches if marks[i] <= b < marks[i + 1]) for i in range(saves)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--steps", type=int, nargs="*", default=[2, 5, 10, 20, 50])
    args = parser.parse_args()
    print(f"{'quiet window':<14}" + "".join(f"{style.__name__:>18}" for style in STYLES))
    for step in args.steps:
        cells = []
        for style in STYLES:
            counts = batches_per_save(step, style, args.saves)
            extra = sum(c - 1 for c in counts if c > 1)
            missed = counts.count(0)
            cells.append(f"{'ok' if not extra and not missed else f'+{extra} / -{missed}'}")
        print(f"{step:>4} ms       " + "".join(f"{c:>18}" for c in cells))
    print("\nok: one reload per save; +N: N extra reloads; -N: N saves seen in no batch of their own")


if __name__ == "__main__":
    main()
