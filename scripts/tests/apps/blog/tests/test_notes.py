"""notes_blog's own tests: Flask's test client, on a database of each test's own."""

import sqlite3

import pytest
from notes_blog import create_app


@pytest.fixture
def app(tmp_path):
    return create_app({"TESTING": True, "DATABASE": str(tmp_path / "notes.sqlite")})


@pytest.fixture
def client(app):
    return app.test_client()


def test_no_notes_yet(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "No notes yet." in page.text


def test_a_note_added_is_listed_and_stored(app, client):
    response = client.post("/notes", data={"body": "buy milk"})
    assert response.status_code == 303
    assert "buy milk" in client.get("/").text
    assert client.get("/notes.json").json[0]["body"] == "buy milk"
    with sqlite3.connect(app.config["DATABASE"]) as db:
        assert db.execute("SELECT body FROM note").fetchall() == [("buy milk",)]


def test_an_empty_note_is_refused(client):
    assert client.post("/notes", data={"body": "  "}).status_code == 400


def test_the_stylesheet_is_served(client):
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert "font-family" in response.text
