"""The demo's routes: a page, and a blocking route that shows off gevent. Yours to change."""

import time

from flask import Blueprint, abort, current_app, jsonify, render_template, request

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    """A page rendered from app/templates/, so template reload can be seen."""
    return render_template("index.html", app_env=current_app.config["APP_ENV"])


@bp.get("/testsleep")
def testsleep():
    """Block for ?seconds= (default 10). Under gevent, time.sleep yields: nothing else waits."""
    try:
        seconds = float(request.args.get("seconds", "10"))
    except ValueError:
        abort(400, "seconds must be a number")
    if not 0 <= seconds <= 300:
        abort(400, "seconds must be between 0 and 300")
    time.sleep(seconds)
    return jsonify(slept=seconds)
