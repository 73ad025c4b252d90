"""The real production stack (issue 22): `docker compose --profile prod up`: the release step, the prod image
under gunicorn, Caddy in front with TLS, serving an app that is not the demo.

- notes_blog (scripts/tests/apps/blog): its SQLite database in Flask's instance folder, served
  through the proxy over HTTPS, its data kept across `down` and `up`; forged X-Forwarded-For
  ignored, the proxy's believed; the smuggling suite refused direct and through the proxy; 1,000
  slow clients at the proxy holding nothing back; a real Chromium trusting the proxy's CA;
- the ledger (scripts/tests/apps/ledger) on PostgreSQL: the release step migrates before the new
  version serves, and `run --rm prod flask db current` runs that command.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from compose_stack import Stack
from harness import free_port
from proxy_tls import read_root_ca, ssl_context, trusting_browser, wait_https
from smuggling_cases import CASES, ECHO_ROUTE, final_answers, send_case

SECRET = "test-secret-" + "x" * 32
FORGED = "6.6.6.6"
SLOW_CLIENTS = 1000
WHOAMI = '''

@bp.get("/whoami")
def whoami():
    return jsonify(remote_addr=request.remote_addr, scheme=request.scheme, external=url_for("notes.index",
                                                                                         _external=True))
'''
APPS = Path(__file__).resolve().parent.parent / "apps"
BLOG, LEDGER = APPS / "blog", APPS / "ledger"


def caddy_image() -> str:
    return os.environ.get("CADDY_IMAGE") or "caddy:2"


def prod_stack(base, **env) -> Stack:
    s = Stack(base, SECRET_KEY=SECRET, CADDY_IMAGE=caddy_image(), HTTPS_PORT=str(free_port()),
              HTTP_PORT=str(free_port()), **env)
    s.https = f"https://localhost:{s.env['HTTPS_PORT']}"
    s.direct = f"http://127.0.0.1:{s.env['PROD_PORT']}"
    return s


def up(s: Stack, *services: str) -> None:
    profiles = [] if "COMPOSE_PROFILES" in s.env else ["--profile", "prod"]  # a --profile would replace them
    s.compose(*profiles, "up", "-d", "--build", *services, timeout=900)
    s.wait_healthy("prod", timeout=120)


@pytest.fixture(scope="module")
def blog(tmp_path_factory):
    """notes_blog in the prod profile with the proxy, as a user brings it (FLASK_APP in .env)."""
    s = prod_stack(tmp_path_factory.mktemp("production"))
    shutil.copytree(BLOG / "notes_blog", s.dir / "notes_blog", ignore=shutil.ignore_patterns("__pycache__"))
    with open(s.dir / "notes_blog" / "views.py", "a") as f:
        f.write(ECHO_ROUTE + WHOAMI)
    (s.dir / ".env").write_text("FLASK_APP=notes_blog\nSHUTDOWN_DELAY=0\n")
    subprocess.run(["chown", "-R", f"{s.uid}:{s.uid}", str(s.dir)], check=True)
    try:
        up(s, "proxy")
        s.ca = read_root_ca(s.container("proxy"), s.dir.parent)
        wait_https(s.https + "/", s.ca)
        yield s
    finally:
        s.down()


def test_it_is_served_through_the_proxy_over_https_and_http_redirects(blog):
    page = requests.get(blog.https + "/", verify=blog.ca, timeout=10)
    assert page.status_code == 200 and "All notes" in page.text
    redirect = requests.get(f"http://localhost:{blog.env['HTTP_PORT']}/about", allow_redirects=False, timeout=10)
    assert redirect.status_code in (301, 308) and redirect.headers["Location"] == blog.https + "/about"
    log = blog.logs("prod")
    assert "Using worker: devserver.production.worker.Worker" in log and "[devserver]" not in log, log
    assert "release: nothing to do" in blog.logs("release")


def test_the_app_believes_the_proxy_and_no_forged_header(blog):
    seen = requests.get(blog.https + "/whoami", headers={"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "http"},
                        verify=blog.ca, timeout=10).json()
    assert seen["remote_addr"] != FORGED and seen["scheme"] == "https", seen
    assert seen["external"] == blog.https + "/", seen  # url_for(_external=True) names the proxy's URL
    direct = requests.get(blog.direct + "/whoami", headers={"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "https"},
                          timeout=10).json()
    assert direct["remote_addr"] != FORGED and direct["scheme"] == "http", direct  # not from the proxy


@pytest.mark.parametrize("case", [c for c in CASES if c.refused], ids=lambda c: c.id)
def test_a_request_that_could_be_read_two_ways_is_refused_straight_at_the_app(blog, case):
    status, closed, raw = send_case("127.0.0.1", int(blog.env["PROD_PORT"]), case)
    assert status == case.status and closed and len(final_answers(raw)) == 1, raw[:600]


def test_through_the_proxy_no_request_is_read_two_ways(blog):
    """Caddy parses first and sends the app requests of its own framing, never the client's bytes: each
    case is refused (by Caddy: 4xx, 501 for an unknown coding, 502 for a body it cannot read, 505; or
    by the app, for what Go's parser lets through and ours does not), or normalized by Caddy (Go accepts
    identical Content-Lengths, trailers, chunked over Content-Length) and answered by the app as Caddy
    framed it: an echo of what Caddy read. Never another 5xx, and no answer only while Caddy waits for a
    body it was promised."""
    context = ssl_context(blog.ca)

    def through(case):
        status, _, raw = send_case("127.0.0.1", int(blog.env["HTTPS_PORT"]), case, server_hostname="localhost",
                                   ssl_context=context, timeout=6)
        return case.id, status, final_answers(raw), raw[:300]

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(through, [c for c in CASES if c.refused]))
    normalized = []
    for case_id, status, answers, raw in outcomes:
        if status is None:  # Caddy still waits for the body it was promised (a 2^63-byte chunk): nothing answered
            assert raw == b"", (case_id, raw)
            continue
        assert status < 500 or status in (501, 502, 505), (case_id, raw)  # Caddy refusing the coding, body, version
        if status < 400:
            normalized.append(case_id)
            # The app's echo of Caddy's reading (empty for a HEAD).
            assert answers[0].status == 200 and (b" /echo " in answers[0].body or not answers[0].body), (case_id, raw)
        # A `GET /smuggled` answered after a refusal is one Caddy parsed itself, as the next request on the
        # connection: Caddy sends the app its own serialization, never the client's bytes.
    refused_by_caddy = len(outcomes) - len(normalized)
    assert refused_by_caddy > len(outcomes) / 2, normalized
    print(f"through Caddy: {refused_by_caddy} refused by it, {len(normalized)} normalized: {sorted(normalized)}")


def test_a_thousand_slow_clients_at_the_proxy_hold_nothing_back(blog):
    """Slowloris: each sends a request's first line and then a header byte now and then. Caddy holds
    them (its read_header timeout ends them at 10 s); the app sees none, and `/` stays fast."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, SLOW_CLIENTS + 512)), hard))
    context = ssl_context(blog.ca)
    port = int(blog.env["HTTPS_PORT"])
    slow = []
    try:
        for _ in range(SLOW_CLIENTS):
            sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                       server_hostname="localhost")
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            slow.append(sock)
        session = requests.Session()
        times = []
        for _ in range(30):
            start = time.monotonic()
            assert session.get(blog.https + "/", verify=blog.ca, timeout=10).status_code == 200
            times.append(time.monotonic() - start)
            for sock in slow[:50]:
                try:
                    sock.sendall(b"a")
                except (OSError, ssl.SSLError):
                    pass
        # The failure guarded: `/` waiting behind them, for Caddy's 10 s read_header or gevent's pool (seconds).
        # The target, a median under 50 ms, is measured on a quiet machine (the closing note); here, 1 s.
        print(f"/ beside {SLOW_CLIENTS} slow clients: median {statistics.median(times) * 1000:.0f} ms")
        assert statistics.median(times) < 1.0, times
    finally:
        for sock in slow:
            sock.close()


def test_a_real_browser_trusts_the_proxys_ca_and_opens_the_app(blog):
    with trusting_browser(blog.ca) as browser:
        tab = browser.tab(blog.https + "/")
        tab.wait_text("All notes", timeout=20)


def test_its_data_survives_down_and_up(blog):
    """The last of the module: the instance folder is a named volume, kept by a plain `down`."""
    posted = requests.post(blog.https + "/notes", data={"body": "kept across down and up"}, verify=blog.ca,
                           allow_redirects=False, timeout=10)
    assert posted.status_code == 303
    blog.compose("--profile", "prod", "down", "-t", "20")
    up(blog, "proxy")
    wait_https(blog.https + "/", blog.ca)
    assert "kept across down and up" in requests.get(blog.https + "/", verify=blog.ca, timeout=10).text


def test_the_release_step_migrates_postgresql_before_the_new_version_serves(tmp_path):
    """The ledger on the postgres profile: `release` runs flask db upgrade, then prod serves the table."""
    s = prod_stack(tmp_path, COMPOSE_PROFILES="prod,postgres")
    for name in ("ledger", "migrations"):
        shutil.copytree(LEDGER / name, s.dir / name, ignore=shutil.ignore_patterns("__pycache__"))
    with open(s.dir / "requirements.txt", "a") as f:
        f.write((LEDGER / "requirements-app.txt").read_text())
    (s.dir / ".env").write_text("FLASK_APP=ledger\nSHUTDOWN_DELAY=0\nLEDGER_LOG_TO_STDOUT=1\n"
                                "LEDGER_DATABASE_URI=postgresql+psycopg://app:app@db:5432/app\n")
    subprocess.run(["chown", "-R", f"{s.uid}:{s.uid}", str(s.dir)], check=True)
    try:
        s.compose("build", "prod", timeout=900)
        # Logging to logs/ as written (its switch off): the read-only root, and one line says where to write.
        refused = s.compose("run", "--rm", "--no-deps", "-T", "-e", "LEDGER_LOG_TO_STDOUT=", "prod", check=False,
                            timeout=300)
        said = refused.stdout + refused.stderr
        assert refused.returncode != 0, said
        assert "the app wrote to logs while loading, and production's root filesystem is read-only" in said, said
        assert "and save" not in said and "[devserver]" not in said, said
        up(s, "prod")
        release = s.logs("release")
        assert "release: flask db upgrade" in release and "Running upgrade  -> 4b48a065e983" in release, release
        assert requests.post(s.direct + "/entries", data={"memo": "rent"}, timeout=10).status_code == 201
        current = s.compose("run", "--rm", "-T", "prod", "flask", "db", "current", timeout=300)
        assert "4b48a065e983 (head)" in current.stdout, current.stdout + current.stderr
    finally:
        s.down()
