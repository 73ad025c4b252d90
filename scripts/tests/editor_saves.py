"""The file operations of common editors' saves, replayed by the tests and the benchmarks."""

import os
from pathlib import Path


def write(path: Path, text: str, mode: str = "w") -> None:
    with open(path, mode) as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def in_place(path: Path, text: str) -> None:
    """nano, VS Code's default, most IDEs: truncate and rewrite the file."""
    write(path, text)


def temp_and_rename(path: Path, text: str) -> None:
    """Atomic save (Sublime's atomic_save, JetBrains' safe write, gedit): a temp file renamed over."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp, text)
    os.replace(tmp, path)


def vim_backup(path: Path, text: str) -> None:
    """vim (backupcopy=auto): probe file 4913, rename to a ~ backup, write anew, chmod, drop the backup."""
    probe = path.with_name("4913")
    write(probe, "")
    probe.unlink()
    backup = path.with_name(path.name + "~")
    os.replace(path, backup)
    write(path, text)
    os.chmod(path, 0o644)
    backup.unlink()


def write_then_chmod(path: Path, text: str) -> None:
    """Editors that restore permissions after writing."""
    write(path, text)
    os.chmod(path, 0o664 if os.stat(path).st_mode & 0o020 == 0 else 0o644)


STYLES = [in_place, temp_and_rename, vim_backup, write_then_chmod]
