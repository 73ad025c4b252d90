"""Fixtures for your app's tests: the app FLASK_APP names, and Flask's test client for it.

The app is found the way `flask run` finds it (FLASK_APP from the environment or .env,
default `app`), so these tests follow your app when you rename or replace `app/`.
Add fixtures of your own here (a test database, a logged-in client, ...).
"""

import os
from pathlib import Path

import pytest
from flask.cli import ScriptInfo, load_dotenv

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app():
    """A fresh app per test, in testing mode (exceptions reach the test instead of a 500 page)."""
    load_dotenv(PROJECT / ".env")  # the real environment wins over .env, as with docker compose
    app = ScriptInfo(app_import_path=os.environ.get("FLASK_APP") or "app").load_app()
    app.config.update(TESTING=True)
    yield app


@pytest.fixture
def client(app):
    """Flask's test client: requests without a server, e.g. client.get("/")."""
    return app.test_client()
