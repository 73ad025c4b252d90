"""Fixtures for your app's tests: the app FLASK_APP names, and Flask's test client for it.

The app is found the way `flask run` finds it (FLASK_APP from the environment, else from this
project's .env, else from its .flaskenv, default `app`), so these tests follow your app when you rename or replace
`app/`. Add fixtures of your own here (a test database, a logged-in client, ...).
"""

import os
from pathlib import Path

import pytest
from dotenv import dotenv_values
from flask.cli import ScriptInfo

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app(monkeypatch):
    """The app in testing mode (exceptions reach the test instead of becoming a 500 page)."""
    # This project's .env and .flaskenv only (not a parent folder's), under the real environment, for
    # this test only; .env wins over .flaskenv, as in Flask.
    for name, value in {**dotenv_values(PROJECT / ".flaskenv"), **dotenv_values(PROJECT / ".env")}.items():
        if value is not None and name not in os.environ:
            monkeypatch.setenv(name, value)
    app = ScriptInfo(app_import_path=os.environ.get("FLASK_APP") or "app").load_app()
    app.config.update(TESTING=True)
    yield app


@pytest.fixture
def client(app):
    """Flask's test client: requests without a server, e.g. client.get("/")."""
    return app.test_client()
