"""A team's app as it was written before it moved in: Flask-SQLAlchemy and Flask-Migrate, a file log
under logs/ outside debug mode (as microblog does), a task worker (worker.py), a CLI command."""

import logging
import os
from logging.handlers import RotatingFileHandler

from flask import Flask, jsonify, request
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()


class Entry(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    memo = db.Column(db.String(200), nullable=False)


def create_app(database_uri=None):
    app = Flask(__name__)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_uri or os.environ.get("LEDGER_DATABASE_URI") \
        or "sqlite:///" + os.path.join(app.instance_path, "ledger.sqlite")
    db.init_app(app)
    migrate.init_app(app, db)

    @app.get("/entries")
    def entries():
        return jsonify(count=db.session.query(Entry).count())

    @app.post("/entries")
    def add_entry():
        db.session.add(Entry(memo=request.form["memo"]))
        db.session.commit()
        return jsonify(count=db.session.query(Entry).count()), 201

    @app.cli.command("debug-state")
    def debug_state():
        """Prints whether the app runs in debug mode: a command gets the workers' setting."""
        print(f"debug={app.debug}")

    if os.environ.get("LEDGER_LOG_TO_STDOUT"):  # microblog's LOG_TO_STDOUT: production's log is the container's
        handler = logging.StreamHandler()
        handler.setLevel(logging.INFO)
        app.logger.addHandler(handler)
    elif not app.debug and not app.testing:
        os.makedirs("logs", exist_ok=True)
        handler = RotatingFileHandler("logs/ledger.log", maxBytes=10240, backupCount=3)
        handler.setLevel(logging.INFO)
        app.logger.addHandler(handler)
        app.logger.info("ledger startup")
    return app
