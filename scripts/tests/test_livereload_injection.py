"""The live-reload tag is no way into a page (issue 28): what the dev server writes into HTML is escaped.

In process: no server, the WSGI app called directly. SCRIPT_NAME comes from the request here, as
behind a proxy with werkzeug's ProxyFix(x_prefix=1): `X-Forwarded-Prefix` becomes SCRIPT_NAME, which
the tag's src and data-base are built from.
"""

import pytest
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import Client

from devserver.worker.livereload import LIVE_SCRIPT, LiveReload

PREFIX = '/x"><img src=x onerror=alert(document.domain)><i a="'


def flask_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def page():
        return "<!doctype html><title>t</title><p>hello</p></body>"

    return app


def app_level_proxyfix():
    """The user's own `app.wsgi_app = ProxyFix(app.wsgi_app, x_prefix=1)`: the worker serves LiveReload(app)
    (worker/main.py), so ProxyFix sets SCRIPT_NAME in the environ LiveReload reads the tag's base from."""
    app = flask_app()
    app.wsgi_app = ProxyFix(app.wsgi_app, x_prefix=1)
    return LiveReload(app)


def proxyfix_outside():
    """ProxyFix before LiveReload sees the request."""
    return ProxyFix(LiveReload(flask_app()), x_prefix=1)


@pytest.mark.parametrize("compose", [app_level_proxyfix, proxyfix_outside])
def test_a_forwarded_prefix_is_escaped_in_the_live_reload_tag(compose):
    response = Client(compose()).get("/", headers={"X-Forwarded-Prefix": PREFIX})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "data-devserver-live-reload" in page, page
    assert "<img" not in page and '"><' not in page, page
    escaped = "/x%22%3E%3Cimg%20src=x%20onerror=alert(document.domain)%3E%3Ci%20a=%22"  # as a browser would send it
    assert f'<script src="{escaped}{LIVE_SCRIPT}" data-generation="" data-base="{escaped}"' in page, page
    assert int(response.headers["Content-Length"]) == len(response.get_data())


def test_the_generation_is_escaped_too():
    live = LiveReload(flask_app())
    live.generation = '1"><b>'
    page = Client(live).get("/").get_data(as_text=True)
    assert "<b>" not in page and 'data-generation="1&quot;&gt;&lt;b&gt;"' in page, page


def test_a_plain_prefix_is_left_as_it_is():
    live = app_level_proxyfix()
    live.generation = "7"
    page = Client(live).get("/", headers={"X-Forwarded-Prefix": "/app/"}).get_data(as_text=True)
    assert f'<script src="/app{LIVE_SCRIPT}" data-generation="7" data-base="/app"' in page, page


def test_what_a_url_keeps_is_escaped_as_html():
    """`&` and `'` are a path's own characters, left in the URL: the attribute has them as entities."""
    page = Client(app_level_proxyfix()).get("/", headers={"X-Forwarded-Prefix": "/a&b'c"}).get_data(as_text=True)
    assert f'src="/a&amp;b&#x27;c{LIVE_SCRIPT}"' in page and 'data-base="/a&amp;b&#x27;c"' in page, page


@pytest.mark.parametrize("prefix", ["//evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example"])
def test_the_script_comes_from_this_server_whatever_the_prefix(prefix):
    """A base of `//host` (or `/\\host`, which browsers read the same) would load the script from another host."""
    page = Client(app_level_proxyfix()).get("/", headers={"X-Forwarded-Prefix": prefix}).get_data(as_text=True)
    src = page.split('<script src="', 1)[1].split('"', 1)[0]
    assert src.startswith("/") and not src.startswith("//") and "\\" not in src, src
    assert src.endswith(LIVE_SCRIPT), src
