"""`breakpoint()` in a view, in the container: under `docker compose run --rm --service-ports web`
(the README's way) the pdb prompt is in the user's terminal, and `c` lets the request finish.

The terminal is a real pseudo-terminal, as a user's is: compose gives the container one only then.
"""

import os
import pty
import select
import subprocess
import time

import pytest

from compose_stack import Stack
from dap_client import request_in_background
from harness import wait_for

ROUTE = '''

@bp.get("/paused")
def paused():
    answer = "after pdb"
    breakpoint()
    return answer
'''


def read_until(fd: int, text: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while text not in seen:
        if time.monotonic() > deadline or not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            raise AssertionError(f"no {text!r} in the terminal within {timeout:g}s:\n{seen.decode(errors='replace')}")
        try:
            seen += os.read(fd, 4096)
        except OSError:  # the terminal closed
            raise AssertionError(f"the terminal closed before {text!r}:\n{seen.decode(errors='replace')}") from None
    return seen


@pytest.fixture
def terminal(tmp_path):
    s = Stack(tmp_path)
    with open(s.dir / "kiosk" / "views.py", "a") as f:
        f.write(ROUTE)
    s.compose("build", "web")
    controller, terminal_side = pty.openpty()
    process = subprocess.Popen(["docker", "compose", "run", "--rm", "--service-ports", "web"], cwd=s.dir, env=s.env,
                               stdin=terminal_side, stdout=terminal_side, stderr=terminal_side, start_new_session=True)
    os.close(terminal_side)
    try:
        yield s, controller
    finally:
        try:
            os.write(controller, b"\x03")  # Ctrl-C, as the user ends it: the server stops, --rm removes it
            process.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(30)
        finally:
            os.close(controller)
            s.down()


def test_breakpoint_in_a_view_prompts_in_the_terminal_of_compose_run(terminal):
    s, controller = terminal
    read_until(controller, b"serving kiosk on", 60)
    pending = request_in_background(s.url + "/paused")
    read_until(controller, b"(Pdb)", 20)
    assert "response" not in pending  # the request waits at the prompt
    os.write(controller, b"p answer\n")
    read_until(controller, b"'after pdb'", 10)
    os.write(controller, b"c\n")
    wait_for(lambda: "response" in pending, 10, message="the request to finish")
    assert pending["response"].status_code == 200 and pending["response"].text == "after pdb"
    os.write(controller, b"\x03")
    read_until(controller, b"SIGINT: stopping", 20)  # Ctrl-C in that terminal stops the server
