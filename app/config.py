"""Configuration from the environment.

Every `FLASK_*` variable lands in `app.config` through Flask's own
`from_prefixed_env()` (FLASK_SECRET_KEY -> SECRET_KEY, values parsed as JSON).
"""

import os

from flask import Flask


def load_config(app: Flask) -> None:
    """Fill app.config before anything (the Jinja environment above all) is created."""
    app.config.from_prefixed_env()
    # A plain SECRET_KEY is what people (and the production compose service) set.
    if os.environ.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    app.config["APP_ENV"] = os.environ.get("APP_ENV", "development")
    # postgres:begin
    # Where PostgreSQL is: compose sets it for the web service; in .env for `make dev` and the tests.
    app.config["DATABASE_URL"] = os.environ.get("DATABASE_URL")
    # postgres:end
