"""The notes table in SQLite (stdlib sqlite3), one connection per request, created on first use."""

import sqlite3

from flask import current_app, g

SCHEMA = """
CREATE TABLE IF NOT EXISTS note (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    body TEXT NOT NULL
)
"""


def get_db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"])
        g.db.row_factory = sqlite3.Row
        g.db.execute(SCHEMA)
    return g.db


def close_db(exc=None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def add_note(body: str) -> int:
    db = get_db()
    cursor = db.execute("INSERT INTO note (body) VALUES (?)", (body,))
    db.commit()
    return cursor.lastrowid


def list_notes() -> list[sqlite3.Row]:
    return get_db().execute("SELECT id, created, body FROM note ORDER BY id DESC").fetchall()


def init_app(app) -> None:
    app.teardown_appcontext(close_db)
