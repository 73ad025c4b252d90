"""`docker compose up` as a developer runs it: reloads, errors, concurrency, ownership, exposure."""

import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from compose_stack import compiled
from harness import wait_for


def test_stack_is_healthy_and_serves_the_page(stack):
    page = stack.get("/")
    assert page.status_code == 200 and "It works." in page.text
    health = stack.inspect()["State"]["Health"]
    assert health["Log"][-1]["ExitCode"] == 0 and health["Log"][-1]["Output"].strip() == "serving kiosk"
    assert "OPTIONS" not in stack.logs()  # the health check is never logged
    assert f"open http://127.0.0.1:{stack.port} in your browser" in stack.logs()


def test_host_edit_is_served_from_the_container_with_no_failed_request(stack):
    """A keep-alive client polls until it sees the edit (bounded): every answer on the way is a 200."""
    failures, answers = [], []

    def poll():
        session = requests.Session()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "edited-on-the-host" not in answers[-1:]:
            try:
                response = session.get(stack.url + "/pid", timeout=10)
                if response.status_code == 200:
                    answers.append(response.json()["status"])
                else:
                    failures.append(response.status_code)
            except requests.RequestException as exc:
                failures.append(repr(exc))

    poller = threading.Thread(target=poll)
    poller.start()
    wait_for(lambda: answers, 10, message="the poller's first answer")
    stack.edit("kiosk/views.py", 'status="ok"', 'status="edited-on-the-host"')
    poller.join(30)
    assert answers[0] == "ok" and answers[-1] == "edited-on-the-host", answers[-3:]
    assert failures == []
    assert "reloaded in" in stack.logs()


def test_live_reload_streams_through_the_published_port(stack):
    assert "data-devserver-live-reload" in stack.get("/form").text
    with requests.get(stack.url + "/__devserver__/live", stream=True, timeout=10) as events:
        assert events.headers["Content-Type"] == "text/event-stream"
        assert next(events.iter_lines()) == b"retry: 1000"


def test_template_edit_is_served(stack):
    stack.edit("kiosk/templates/index.html", "It works.", "It works, edited.")
    wait_for(lambda: "It works, edited." in stack.get("/").text, 10, message="the edited template")


def test_raising_route_shows_the_debugger_in_dev(stack):
    page = stack.get("/boom")
    assert page.status_code == 500
    assert "Werkzeug Debugger" in page.text and "kaboom-from-the-app" in page.text


def test_blocking_routes_hold_nothing_back(stack):
    with ThreadPoolExecutor(max_workers=30) as pool:
        sleepers = [pool.submit(stack.get, "/testsleep?seconds=3") for _ in range(30)]
        start = time.monotonic()
        for _ in range(10):
            assert stack.get("/").status_code == 200
        fast = time.monotonic() - start
        asleep = sum(not f.done() for f in sleepers)
        assert all(f.result().status_code == 200 for f in sleepers)
    # Held back, a request to / is answered only once a sleeper's 3 s are over; the ten take ~0.05 s.
    assert asleep == 30, f"10 requests to / took {fast:.2f}s: {30 - asleep} of the 30 sleepers had finished first"


def test_runs_as_the_configured_user_and_owns_what_it_writes(stack):
    assert stack.get("/write").text == str(stack.uid)
    written = stack.dir / "written-by-app.txt"
    assert written.read_text() == "hello"
    assert written.stat().st_uid == stack.uid
    assert stack.inspect()["Config"]["User"] == str(stack.uid)  # by number: compose watch needs it


def test_port_is_published_on_loopback_only(stack):
    bindings = stack.inspect()["HostConfig"]["PortBindings"]["5000/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(stack.port)}]
    assert stack.compose("port", "web", "5000").stdout.strip() == f"127.0.0.1:{stack.port}"


def test_container_is_hardened(stack):
    host = stack.inspect()["HostConfig"]
    assert host["CapDrop"] == ["ALL"] or host["CapDrop"] == ["all"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["Init"] is True


def test_image_holds_nothing_private_from_the_build_context(new_stack):
    s = new_stack()
    s.write_env(SECRET_KEY="do-not-ship-me")
    (s.dir / ".git").mkdir()
    (s.dir / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (s.dir / ".venv" / "bin").mkdir(parents=True)
    s.compose("build", "web")
    listing = subprocess.run(["docker", "run", "--rm", "--entrypoint", "ls", f"{s.name}-web:dev", "-a", "/app"],
                             capture_output=True, text=True, check=True).stdout.split()
    assert "kiosk" in listing and "scripts" in listing
    assert not {".env", ".git", ".venv"} & set(listing), listing


def test_stop_returns_quickly_after_the_in_flight_request_finished(new_stack):
    s = new_stack()
    s.write_env(GRACEFUL_TIMEOUT="30")  # what a stop that waits it out would take: far from the good case
    s.up()
    result = {}
    request = threading.Thread(target=lambda: result.update(r=s.get("/slow?seconds=1.5", timeout=20)))
    request.start()
    wait_for(lambda: (s.dir / "slow-entered.txt").exists(), 10, message="the request inside the app")
    start = time.monotonic()
    s.compose("stop", "-t", "60", "web")  # Docker's SIGKILL, past GRACEFUL_TIMEOUT
    took = time.monotonic() - start
    request.join(10)
    assert result["r"].status_code == 200 and result["r"].text == "done"
    # ~2 s (the request's rest, the exit, compose's own time); waiting out GRACEFUL_TIMEOUT: 30 s.
    assert took < 15.0, f"docker compose stop took {took:.2f}s"
    assert s.inspect()["State"]["ExitCode"] == 0


def test_bad_configuration_in_env_fails_up_with_the_supervisors_message(new_stack):
    s = new_stack()
    s.write_env(FLASK_DEBUG="maybe")
    result = s.compose("up", "--build", "--abort-on-container-exit", "--exit-code-from", "web", "web",
                       check=False, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    # What the user sees: compose's attached output, or (if the container exited before compose
    # attached) the container's log.
    assert "FLASK_DEBUG='maybe' is not a boolean: use 1/0, true/false, yes/no or on/off" in s.logs("web")


def test_flask_commands_in_the_container_read_env_without_a_hint(stack):
    """The flask CLI finds the app from .env and prints no "Install python-dotenv" hint."""
    result = stack.compose("exec", "-T", "web", "flask", "routes")
    assert "/testsleep" in result.stdout and "kiosk." in result.stdout
    assert "python-dotenv" not in result.stdout + result.stderr


def test_installed_packages_are_compiled_and_the_projects_code_is_not(stack):
    """Bytecode for what is installed (built once, in the image), none written into the project."""
    result = stack.compose("exec", "-T", "web", "python", "-c", compiled("flask", "gevent", "werkzeug"))
    assert result.stdout.strip() == "True", result
    assert stack.get("/").status_code == 200  # the app's modules imported by a worker
    assert not list(stack.dir.rglob("__pycache__")), list(stack.dir.rglob("__pycache__"))
