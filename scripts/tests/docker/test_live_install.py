"""Adding a package without leaving the flow (issue 11), against the real dev container.

A line added to requirements.txt while `docker compose up` runs is installed into the container's
environment (uv), and the app reloads once; a line that cannot be installed leaves the old code
serving and says why in one line; a plain `docker compose up` after the change (no --build)
installs it before serving. The package is a small pure-Python one from PyPI (humanize), which no
requirement of the template pulls in. `stack` (conftest.py): this module's own dev stack.
"""

import time

from compose_stack import Stack
from harness import wait_for

PACKAGE = "humanize==4.17.0"
VIEW = '''

@bp.get("/humanized")
def humanized():
    import humanize  # installed live: requirements.txt gets the line
    return humanize.intcomma(1234567)
'''


def add_requirement(s: Stack, line: str) -> None:
    with open(s.dir / "requirements.txt", "a") as f:
        f.write(f"{line}\n")


def test_a_package_added_to_requirements_is_installed_and_served_after_one_reload(stack):
    with open(stack.dir / "kiosk" / "views.py", "a") as f:
        f.write(VIEW)
    wait_for(lambda: stack.get("/humanized").status_code == 500, 20, message="the view, before its package")
    before = len(stack.reloads())
    saved = time.monotonic()
    add_requirement(stack, PACKAGE)
    wait_for(lambda: stack.get("/humanized").status_code == 200, 30, message="the view with its package")
    served_after = time.monotonic() - saved
    assert stack.get("/humanized").text == "1,234,567"
    log = stack.logs()
    assert "requirements.txt changed: installing (the app keeps serving meanwhile)" in log
    assert f"installed {PACKAGE} in " in log and "(uv)" in log, log[-3000:]
    time.sleep(2)  # anything a second reload would need to show up (the watcher batches for 0.2 s)
    assert len(stack.reloads()) == before + 1, stack.reloads()
    assert stack.reloads()[-1].endswith(f"installed {PACKAGE}")
    print(f"served {served_after:.1f} s after the requirements change")


def test_a_version_that_does_not_exist_leaves_the_old_code_serving_with_one_line(stack):
    pid = stack.get("/pid").json()["pid"]
    before = len(stack.reloads())
    text = (stack.dir / "requirements.txt").read_text()
    (stack.dir / "requirements.txt").write_text(text.replace(PACKAGE, "humanize==99.0.0"))
    wait_for(lambda: "error: could not install" in stack.logs(), 30, message="the install's error")
    errors = [line for line in stack.logs().splitlines() if "error: could not install" in line]
    assert len(errors) == 1, errors
    assert "humanize==99.0.0" in errors[0] and "The app keeps running on the packages it had" in errors[0]
    assert stack.get("/humanized").text == "1,234,567" and stack.get("/pid").json()["pid"] == pid
    assert len(stack.reloads()) == before
    (stack.dir / "requirements.txt").write_text(text)  # back to what is installed
    wait_for(lambda: "the requirements files are as installed: nothing to install" in stack.logs(), 30,
             message="the good line again")
    assert len(stack.reloads()) == before


def test_a_plain_compose_up_after_the_change_installs_it_before_serving(stack):
    """A new container from the image built before the change (no --build): it brings itself up to date."""
    stack.compose("down", "-t", "2")
    stack.compose("up", "-d", "web")
    stack.wait_healthy()
    assert stack.get("/humanized").text == "1,234,567"
    log = stack.logs()
    assert "requirements.txt changed since this environment was installed: installing before the app starts" in log
    assert f"installed {PACKAGE} in " in log


def test_the_apps_tests_and_the_dev_tools_run_in_the_dev_container(stack):
    """`docker compose exec web pytest tests`, as the README says; ruff, git and debugpy are there too."""
    tests = stack.compose("exec", "-T", "web", "pytest", "-q", "-p", "no:cacheprovider", "tests", check=False)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout
    tools = stack.compose("exec", "-T", "web", "sh", "-c",
                          "ruff --version && git --version && python -c 'import debugpy; print(debugpy.__version__)' "
                          "&& uv --version", check=False)
    assert tools.returncode == 0, tools.stdout + tools.stderr
    pip = stack.compose("exec", "-T", "web", "pip", "install", "-q", "--dry-run", "humanize", check=False)
    assert "Permission denied" not in pip.stdout + pip.stderr
    owner = stack.compose("exec", "-T", "web", "stat", "-c", "%u", "/opt/venv/bin/python").stdout.strip()
    assert owner == str(stack.uid)  # the container user's: installs by hand work too
