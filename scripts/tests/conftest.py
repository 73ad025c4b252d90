import pytest

from harness import DevServer, copy_project

# In-process tests, no server, container or browser: `pytest -m unit` runs them in seconds (README: Tests).
UNIT_MODULES = {
    "test_supervisor", "test_settings", "test_placement", "test_preload_learning", "test_debugger_access",
    "test_installer", "test_livereload_injection", "test_livereload_wsgi", "test_health_answer",
    "test_strict_http", "test_blocking_report",
}
# ... but not the tests of those modules that start a real one, or a real pip.
REAL_FIXTURES = {"devserver", "project", "environment", "shop", "forker"}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.stem in UNIT_MODULES and not REAL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.unit)


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
