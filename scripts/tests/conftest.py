import pytest

from harness import DevServer, copy_project


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path / "project")


@pytest.fixture
def devserver(project):
    """Start a dev server with the given environment; stopped at the end, leftovers checked."""
    servers = []

    def start(wait: bool = True, prefix: tuple[str, ...] = (), **env):
        """`prefix`: a command the server runs under (unshare, setpriv)."""
        env.setdefault("FLASK_DEBUG", "1")
        server = DevServer(project, **env)
        server.process_prefix = list(prefix)
        servers.append(server)
        return server.start(wait=wait)

    yield start
    for server in servers:
        server.stop()
        leftovers = server.kill_leftovers()
        assert not leftovers, f"processes left behind: {leftovers}\n{server.log()}"
