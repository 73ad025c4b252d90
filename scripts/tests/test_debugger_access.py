"""Who gets Werkzeug's debugger, in-process: this machine under a trusted Host gets its console and
tracebacks; another container (any other address) and an untrusted Host get the app without them.
And the PIN is not in the environment of the app's processes (one real server)."""

from pathlib import Path

from flask import Flask
from werkzeug.debug import DebuggedApplication
from werkzeug.test import Client

from devserver.own_machine import default_gateway, is_own_machine
from devserver.settings import load_settings
from devserver.worker.debugger import OwnMachineOnly, bare_errors, debugged

GATEWAY = "172.18.0.1"  # where Docker delivers the published port's connections from


def app():
    flask_app = Flask("probe")
    flask_app.debug = True

    @flask_app.get("/boom")
    def boom():
        raise RuntimeError("secret-local-value")

    @flask_app.get("/")
    def index():
        return "ok"

    return flask_app


def client(others=frozenset({GATEWAY})) -> Client:
    settings = load_settings({"FLASK_APP": "probe", "WERKZEUG_DEBUG_PIN": "123-456-789"}, cwd=Path("/"))
    gate = debugged(app(), settings)
    assert isinstance(gate, OwnMachineOnly)
    gate.others = others
    return Client(gate)


def get(path: str, peer: str, host: str = "localhost"):
    return client().get(path, headers={"Host": host}, environ_overrides={"REMOTE_ADDR": peer})


def test_this_machine_gets_tracebacks_and_the_console():
    for peer in ("127.0.0.1", "::1", GATEWAY):
        page = get("/boom", peer)
        assert page.status_code == 500 and "secret-local-value" in page.text and "Traceback" in page.text
        assert get("/console", peer).status_code == 200


def test_another_container_gets_neither():
    for peer in ("172.18.0.5", "192.168.1.20", "10.0.0.1"):
        page = get("/boom", peer)
        assert page.status_code == 500 and "secret-local-value" not in page.text and "Traceback" not in page.text
        assert "SECRET" not in page.text  # the debugger's own secret is in its pages
        assert get("/console", peer).status_code == 404  # the app's own answer: there is no console
        assert get("/", peer).text == "ok"


def test_an_untrusted_host_gets_no_traceback_and_the_console_refused():
    page = get("/boom", "127.0.0.1", host="evil.example")
    assert page.status_code == 500 and "secret-local-value" not in page.text
    assert get("/console", "127.0.0.1", host="evil.example").status_code == 400


def test_with_a_werkzeug_that_checks_no_host_the_gate_does(monkeypatch):
    """Werkzeug before 3.0.3 (an app's old pins) checks no Host (CVE-2024-34069): the console still answers
    400 to an untrusted Host, and this machine under a trusted one still gets it."""
    monkeypatch.setattr(DebuggedApplication, "check_host_trust", lambda self, environ: True)  # as 3.0.1 was
    debugger = DebuggedApplication(app(), evalex=True, pin_logging=False)
    gate = Client(OwnMachineOnly(debugger, bare_errors(app()), frozenset(), [".localhost", "127.0.0.1"],
                                 debugger_checks_hosts=False))

    def get_(path, host):
        return gate.get(path, headers={"Host": host}, environ_overrides={"REMOTE_ADDR": "127.0.0.1"})

    assert get_("/console", "evil.example").status_code == 400
    assert get_("/console", "localhost").status_code == 200
    assert "secret-local-value" not in get_("/boom", "evil.example").text


def test_the_pin_is_the_supervisors():
    settings = load_settings({"FLASK_APP": "probe", "WERKZEUG_DEBUG_PIN": "123-456-789"}, cwd=Path("/"))
    assert debugged(app(), settings).debugger.pin == "123-456-789"
    off = load_settings({"FLASK_APP": "probe", "WERKZEUG_DEBUG_PIN": "off"}, cwd=Path("/"))
    assert debugged(app(), off).debugger.pin is None


def test_the_default_gateway_is_read_from_the_routing_table(tmp_path):
    routes = tmp_path / "route"
    routes.write_text("Iface\tDestination\tGateway \tFlags\n"
                      "eth0\t000012AC\t00000000\t0001\n"
                      "eth0\t00000000\t010012AC\t0003\n")
    assert default_gateway(str(routes)) == "172.18.0.1"
    assert default_gateway(str(tmp_path / "none")) is None
    assert is_own_machine("::ffff:172.18.0.1", frozenset({"172.18.0.1"}))
    assert not is_own_machine("172.18.0.2", frozenset({"172.18.0.1"}))


PROBE = '''\
import os, subprocess
from flask import Flask

app = Flask(__name__)


@app.get("/env")
def env():
    child = subprocess.run(["sh", "-c", "echo ${WERKZEUG_DEBUG_PIN:-none} ${DEVSERVER_SETTINGS:-none}"],
                           capture_output=True, text=True).stdout.split()
    return {"worker": [os.environ.get("WERKZEUG_DEBUG_PIN"), os.environ.get("DEVSERVER_SETTINGS")],
            "child": child}
'''


def test_the_pin_is_not_in_the_environment_of_the_apps_processes(project, devserver):
    (project / "probe.py").write_text(PROBE)
    server = devserver(FLASK_APP="probe", WERKZEUG_DEBUG_PIN="111-222-333")
    seen = server.get("/env").json()
    assert seen == {"worker": [None, None], "child": ["none", "none"]}, seen
