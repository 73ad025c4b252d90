"""Editors' saves on a busy machine: a CPU hog beside the server stretches the gap between an editor's
truncate and its write, and every step of a reload; what the client sees must not change.

A shared CI runner is busier than a laptop. The hog is a bounded busy loop in a second process, for
the length of the test, ended afterwards.
"""

import subprocess
import sys

import pytest
from test_faults import rapid_truncate_then_write_saves, shop  # noqa: F401 - shop is a fixture

HOG = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


@pytest.fixture
def cpu_hog():
    """One core kept busy (at most 180 s, ended when the test is)."""
    hog = subprocess.Popen([sys.executable, "-c", HOG.format(seconds=180)])
    yield hog
    hog.kill()
    hog.wait()


def test_rapid_truncate_then_write_saves_never_show_an_error_page_beside_a_cpu_hog(cpu_hog, shop, project):  # noqa: F811
    server = shop()
    assert cpu_hog.poll() is None  # still busy as the saves begin
    rapid_truncate_then_write_saves(server, project)
    assert cpu_hog.poll() is None  # ... and through all of them
