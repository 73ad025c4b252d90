"""Routes the tests use: template pages (one with a form and a stylesheet), the worker's pid, a route that
blocks. Tests append more."""

import os
import time

from flask import Blueprint, jsonify, render_template, request

bp = Blueprint("kiosk", __name__)


@bp.get("/")
def index():
    return render_template("index.html", app_env=os.environ.get("APP_ENV", "development"))


@bp.get("/form")
def form():
    return render_template("form.html")


@bp.get("/pid")
def pid():
    return jsonify(status="ok", pid=os.getpid())


@bp.get("/testsleep")
def testsleep():
    seconds = float(request.args.get("seconds", "10"))
    time.sleep(seconds)
    return jsonify(slept=seconds)
