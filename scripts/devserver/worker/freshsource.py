"""The project's own modules are always compiled from their source, never taken from __pycache__.

Why: a .pyc is trusted when the source's mtime (in whole seconds) and size match what it
recorded. Two saves within one second that keep the size ("ok" -> "OK" -> "ok") leave a
.pyc that looks valid for the wrong text, and the worker would serve the previous code.
Compiling a project's modules costs milliseconds; installed packages keep their caches.
Python has no switch for this per directory, so the project's directories get a finder
whose source loader reports no source timestamp: importlib then neither reads nor writes
bytecode for them (SourceLoader.get_code).
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import (
    BYTECODE_SUFFIXES,
    EXTENSION_SUFFIXES,
    SOURCE_SUFFIXES,
    ExtensionFileLoader,
    FileFinder,
    SourceFileLoader,
    SourcelessFileLoader,
)

from devserver import placement


class SourceOnlyLoader(SourceFileLoader):
    def path_stats(self, path):
        raise OSError("the dev server compiles the project's modules from source")


def install(project_root: str) -> None:
    """From now on, imports from directories under `project_root` (but not a virtualenv in it) skip bytecode."""
    edited = placement.places(project_root)
    loaders = [(ExtensionFileLoader, EXTENSION_SUFFIXES), (SourceOnlyLoader, SOURCE_SUFFIXES),
               (SourcelessFileLoader, BYTECODE_SUFFIXES)]

    def ours(directory: str) -> bool:
        return placement.placed(os.path.join(directory, "__init__.py"), edited) is False  # a module found in it

    def hook(path):
        if not isinstance(path, str) or not os.path.isdir(path or ".") or not ours(path):
            raise ImportError("not the project's")  # the next hook (the usual FileFinder) takes it
        return FileFinder(path, *loaders)

    sys.path_hooks.insert(0, hook)
    for path in [p for p in sys.path_importer_cache if ours(p)]:
        del sys.path_importer_cache[path]  # found before the hook (e.g. by the fork server): find again
