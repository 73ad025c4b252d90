"""The pages: the list of notes, adding one, and an about page."""

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for

from .db import add_note, list_notes

bp = Blueprint("notes", __name__)


@bp.get("/")
def index():
    return render_template("index.html", notes=list_notes())


@bp.post("/notes")
def create():
    body = request.form.get("body", "").strip()
    if not body:
        abort(400, "a note needs some text")
    note_id = add_note(body)
    return redirect(url_for("notes.index", _anchor=f"note-{note_id}"), code=303)


@bp.get("/notes.json")
def notes_json():
    return jsonify([dict(row) for row in list_notes()])


@bp.get("/about")
def about():
    return "notes_blog: short notes, kept in SQLite."
