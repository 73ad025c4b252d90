"""The dev environment's test app: a package with a factory, as a user's app usually is."""

from flask import Flask

from kiosk.config import load_config
from kiosk.views import bp


def create_app() -> Flask:
    app = Flask(__name__)
    load_config(app)
    app.register_blueprint(bp)
    return app
