"""notes_blog: a small notes app, written outside this template and brought into it as is.

The Flask tutorial's shape: a factory, an instance folder beside the package (Flask's default
for a package: `<project>/instance`), a SQLite database in it, written at run time.
"""

import os

from flask import Flask


def create_app(test_config=None):
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("SECRET_KEY", "dev"),
        # NOTES_DB: where the database goes when the instance folder cannot be written (a
        # read-only production image); by default it lives in the instance folder.
        DATABASE=os.environ.get("NOTES_DB") or os.path.join(app.instance_path, "notes.sqlite"),
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)  # instance/config.py, if there is one
    else:
        app.config.from_mapping(test_config)

    # The tutorial's way: make the instance folder, and carry on where it cannot be made.
    try:
        os.makedirs(app.instance_path, exist_ok=True)
    except OSError:
        pass

    from . import db, views

    db.init_app(app)
    app.register_blueprint(views.bp)
    return app
