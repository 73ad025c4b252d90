"""The ledger on its real stack: the release step ran its migrations before the tests (the table is
there), and `flask` commands in the container debug as the workers do."""

import requests


def test_the_release_step_migrated_the_database(stack_url):
    assert requests.post(stack_url + "/entries", data={"memo": "rent"}, timeout=10).status_code == 201
    assert requests.get(stack_url + "/entries", timeout=10).json()["count"] >= 1
    current = stack_url.exec("flask", "db", "current")
    assert current.returncode == 0 and "4b48a065e983 (head)" in current.stdout, current.stdout + current.stderr


def test_a_flask_command_gets_the_workers_debug_setting(stack_url):
    state = stack_url.exec("flask", "debug-state")
    assert state.returncode == 0 and state.stdout.strip() == "debug=True", state.stdout + state.stderr
