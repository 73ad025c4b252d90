"""Step-debugging on the host (DEBUGGER=debugpy, as `make dev` runs it), with a DAP client that
behaves as VS Code does: a breakpoint in a view hits in the first worker, and again in the new
worker after a save. The same in the container: docker/test_stepdebug_stack.py.
"""

from dap_client import (
    ROUTE,  # noqa: E402  (the view the tests debug)
    DebugClient,
    breakpoint_line,
    hit_and_continue,
)
from harness import free_port, processes_with_marker, wait_for


def test_a_breakpoint_hits_in_the_first_worker_and_after_a_reload(devserver, project):
    views = project / "kiosk" / "views.py"
    with open(views, "a") as f:
        f.write(ROUTE)
    port = free_port()
    server = devserver(DEBUGGER="debugpy", DEBUGPY_PORT=str(port), ACCESS_LOG="0")
    assert f"debugpy listens on 127.0.0.1:{port}" in server.log()
    client = DebugClient("127.0.0.1", port, {str(views): [breakpoint_line(views)]}).attach({})
    try:
        first = hit_and_continue(client, server.url + "/debugged", str(views), breakpoint_line(views))
        server.append("kiosk/views.py", "\n# saved\n")
        server.wait_reloads(1, timeout=30)
        second = hit_and_continue(client, server.url + "/debugged", str(views), breakpoint_line(views))
        assert second is not first  # the new worker: a debug session of its own
    finally:
        client.close()
    assert server.stop() == 0
    # debugpy's adapter, a process of debugpy's own, ends once the server and the editor are gone.
    wait_for(lambda: not processes_with_marker(server.marker), 20, message="every process of the server gone")
