"""The Flask application, built by a factory so every worker gets a fresh one.

`FLASK_APP=app:create_app()` (the default) is located by Flask's own code, the
same way `flask run` would find it.
"""

from flask import Flask

from app.config import load_config
from app.views import bp


def create_app() -> Flask:
    """Build the app: configuration from the environment, then the routes."""
    app = Flask(__name__)
    load_config(app)
    app.register_blueprint(bp)
    return app
