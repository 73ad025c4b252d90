"""Examples of testing your app with Flask's test client. Edit them; add your own beside them.

They hold for any app, so they stay green while you change or replace the demo:
https://flask.palletsprojects.com/en/stable/testing/ shows what else the client can do.
"""

# Pages left out of the smoke test below: slow ones, or ones with side effects.
NOT_SMOKE_TESTED = {"/testsleep"}


def test_the_app_is_in_testing_mode(app):
    assert app.testing


def test_every_page_without_parameters_renders_without_a_server_error(app, client):
    pages = [rule.rule for rule in app.url_map.iter_rules()
             if "GET" in rule.methods and not rule.arguments and rule.rule not in NOT_SMOKE_TESTED]
    for page in pages:
        assert client.get(page).status_code < 500, page


def test_an_unknown_page_is_a_404(client):
    assert client.get("/no-such-page").status_code == 404

