"""Configuration from the environment (a module of its own, so tests can edit a second file)."""

import os

from flask import Flask


def load_config(app: Flask) -> None:
    app.config.from_prefixed_env()
    app.config["APP_ENV"] = os.environ.get("APP_ENV", "development")
