"""Examples of testing your app on the real stack: ask for `stack_url`, send real HTTP requests, run commands."""

import requests


def test_the_home_page_is_served_by_the_container(stack_url):
    response = requests.get(stack_url + "/", timeout=10)
    assert response.status_code < 500


def test_flask_commands_run_in_the_container(stack_url):
    """stack_url is also a handle on the stack: exec, logs, compose (tests/integration/conftest.py)."""
    routes = stack_url.exec("flask", "routes")
    assert routes.returncode == 0, routes.stderr + stack_url.logs()
    assert " /" in routes.stdout
