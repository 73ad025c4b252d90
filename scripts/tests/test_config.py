"""Bad configuration stops start-up with one clear line and a known exit status."""

import socket

from harness import free_port, run_entrypoint


def test_bad_value_is_named_and_exits_2(project):
    """End to end, once: the real entrypoint's process. Each bad value is in test_settings.py, in-process."""
    result = run_entrypoint(project, PORT="abc")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr  # one line, nothing else
    assert lines[0].startswith("[devserver] error: ")
    assert "PORT='abc' is not a port: use a whole number from 1 to 65535" in lines[0]


def test_booleans_parse_strictly_in_any_case(project, devserver):
    server = devserver(FLASK_DEBUG="False")  # Flask alone would read this string as on
    assert "debugger is on" not in server.log()
    assert server.get("/console").status_code == 404


def test_port_in_use_is_one_clear_line(project):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_entrypoint(project, PORT=str(port))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"[devserver] error: port {port} on 127.0.0.1 is already in use: stop the other server "
        f"(find it with `ss -ltnp 'sport = :{port}'`) or set PORT to a free port")


def test_missing_app_module_with_reload_off_exits_1(project):
    result = run_entrypoint(project, PORT=str(free_port()), RELOAD="0", FLASK_APP="nosuchmodule")
    assert result.returncode == 1
    assert "Could not import 'nosuchmodule'" in result.stderr
    assert "with RELOAD=0 nothing will reload it" in result.stderr


def test_env_file_is_read_as_docker_compose_reads_it(project, devserver):
    """A BOM, CRLF line ends, `KEY = value`, `export`, comments and the shell's read-only UID."""
    (project / ".env").write_bytes("\ufeffWERKZEUG_DEBUG_PIN = 123-456-789\r\nUID=4321\r\n"
                                   "export ACCESS_LOG=0\r\nGRACEFUL_TIMEOUT=7 # seconds\r\n".encode())
    server = devserver()
    assert "its PIN is 123-456-789" in server.log()
    assert server.get("/").status_code == 200
    assert "GET /" not in server.log()  # ACCESS_LOG=0 from the export line


def test_the_environment_wins_over_the_env_file(project, devserver):
    (project / ".env").write_text("WERKZEUG_DEBUG_PIN=111-111-111\n")
    server = devserver(WERKZEUG_DEBUG_PIN="222-222-222")
    assert "its PIN is 222-222-222" in server.log()


def test_make_dev_serves_the_app_its_flaskenv_names_with_env_over_it(project):
    """The committed .flaskenv names the app (there is no app/ here: only kiosk/); .env wins over it."""
    from harness import DevServer

    (project / ".flaskenv").write_text("FLASK_APP=kiosk\nWERKZEUG_DEBUG_PIN=111-111-111\n")
    (project / ".env").write_text("WERKZEUG_DEBUG_PIN=222-222-222\n")
    server = DevServer(project, FLASK_DEBUG="1")
    del server.env["FLASK_APP"]  # as a user's shell has it: unset
    try:
        server.start()
        assert "its PIN is 222-222-222" in server.log()
        assert server.worker_pid() > 0  # kiosk's own route
    finally:
        server.stop()
        assert not server.kill_leftovers()
