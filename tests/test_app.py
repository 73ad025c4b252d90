"""Examples of testing your app with Flask's test client. Edit them; add your own beside them.

These two hold for any app, so they stay green while you change or replace the demo. Your
own will name your pages: `client.get("/")`, `client.post("/login", data={...})`, and what
else the client does: https://flask.palletsprojects.com/en/stable/testing/
"""


def test_the_app_is_in_testing_mode(app):
    assert app.testing


def test_an_unknown_page_is_a_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
