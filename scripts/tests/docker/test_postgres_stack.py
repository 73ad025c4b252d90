"""PostgreSQL beside the dev server (issue 12): the compose profile's db service, a driver that
yields to gevent, and the blocking detector, proved against the real containers.

The stack runs the tests' own app (kiosk) with routes added here, and the template's compose file
with the postgres profile on, as a user turns it on (COMPOSE_PROFILES=postgres). CI passes a
stand-in for the official image (POSTGRES_IMAGE, scripts/ci/official-or-standin.sh).
"""

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from compose_stack import Stack
from harness import wait_for

DATABASE_ROUTES = '''

@bp.get("/pg-sleep")
def pg_sleep():
    import psycopg
    with psycopg.connect(os.environ["DATABASE_URL"]) as connection:
        connection.execute("SELECT pg_sleep(%s)", (float(request.args["seconds"]),))
    return "slept"


@bp.get("/c-sleep")
def c_sleep():
    import ctypes
    from pathlib import Path
    (Path(__file__).parent.parent / "c-sleep-entered.txt").write_text("in")
    ctypes.CDLL(None).sleep(1)  # libc's sleep: no Python call gevent could have patched
    return "slept in C"
'''
CONCURRENT = 50


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("postgres"), COMPOSE_PROFILES="postgres")
    with open(s.dir / "kiosk" / "views.py", "a") as f:
        f.write(DATABASE_ROUTES)
    try:
        s.up()  # the web service waits for the db's health check (depends_on)
        yield s
    finally:
        s.down()


def blocking_reports(s: Stack) -> list[str]:
    return [line for line in s.logs().splitlines() if "event loop was blocked" in line]


def test_the_web_service_started_after_the_database_was_healthy(pg_stack):
    db = pg_stack.inspect("db")
    assert db["State"]["Health"]["Status"] == "healthy"
    assert db["State"]["StartedAt"] < pg_stack.inspect("web")["State"]["StartedAt"]
    assert db["HostConfig"]["PortBindings"]["5432/tcp"] == [{"HostIp": "127.0.0.1",
                                                             "HostPort": pg_stack.env["DB_PORT"]}]
    mounts = {m["Destination"]: m for m in db["Mounts"]}
    assert mounts["/var/lib/postgresql/data"]["Type"] == "volume"
    assert mounts["/var/lib/postgresql/data"]["Name"] == f"{pg_stack.name}_db-data"


def test_the_database_is_reachable_from_the_host_as_env_example_says(pg_stack):
    """DATABASE_URL of .env.example, with the stack's port: what `make dev` and host tests use."""
    url = f"postgresql://app:app@127.0.0.1:{pg_stack.env['DB_PORT']}/app"
    with psycopg.connect(url, connect_timeout=10) as connection:
        assert connection.execute("SELECT current_user, current_database()").fetchone() == ("app", "app")


def test_fifty_queries_waiting_in_the_database_at_once_hold_nothing_back(pg_stack):
    """psycopg 3 under gevent, verified: 50 concurrent `SELECT pg_sleep(1)` take about one second."""
    assert pg_stack.get("/pg-sleep?seconds=0").text == "slept"  # a first connection, outside the timing
    reports_before = len(blocking_reports(pg_stack))

    def one(_):
        # A new connection per request, as a script or a browser without keep-alive sends them.
        return requests.get(pg_stack.url + "/pg-sleep?seconds=1", timeout=30)

    start = time.monotonic()
    with ThreadPoolExecutor(CONCURRENT) as pool:
        responses = list(pool.map(one, range(CONCURRENT)))
    elapsed = time.monotonic() - start
    assert [r.status_code for r in responses] == [200] * CONCURRENT
    # ~1 s; a blocking driver runs them one after another: 50 s (its requests time out at 30 s first).
    assert elapsed < 10, f"{CONCURRENT} concurrent pg_sleep(1) took {elapsed:.2f} s: the driver blocks the hub"
    assert len(blocking_reports(pg_stack)) == reports_before, blocking_reports(pg_stack)
    print(f"{CONCURRENT} concurrent pg_sleep(1): {elapsed:.2f} s")


def test_a_call_that_blocks_in_c_is_reported_with_the_views_line_and_delays_the_others(pg_stack):
    entered = pg_stack.dir / "c-sleep-entered.txt"
    with ThreadPoolExecutor(1) as pool:
        blocking = pool.submit(pg_stack.get, "/c-sleep")
        wait_for(entered.exists, 10, message="the view to start")
        started = time.monotonic()
        fast = pg_stack.get("/pid")  # sent while the hub is blocked: it waits for the C call to end
        delay = time.monotonic() - started
        assert blocking.result().text == "slept in C"
    # Held by the C call: up to its 1 s; a request the hub were free to answer would take ~0.01 s.
    assert fast.status_code == 200 and delay > 0.2, f"a concurrent request took {delay:.2f} s"
    line = next(n for n, text in enumerate((pg_stack.dir / "kiosk" / "views.py").read_text().splitlines(), 1)
                if "ctypes.CDLL(None).sleep(1)" in text)
    wait_for(lambda: any(f"while serving GET /c-sleep, at kiosk/views.py:{line}:" in report
                         for report in blocking_reports(pg_stack)),
             20, message="the blocking report")  # written during the block, which has ended
    log = pg_stack.logs()
    assert "ctypes.CDLL(None).sleep(1)" in log
    print(log[log.index("event loop was blocked") - 30:][:400])  # the report as a user sees it (README)


def test_the_data_outlives_the_containers(pg_stack):
    url = f"postgresql://app:app@127.0.0.1:{pg_stack.env['DB_PORT']}/app"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE kept (note text)")
        connection.execute("INSERT INTO kept VALUES ('still here')")
    pg_stack.compose("down", "-t", "2")  # no -v: the named volume stays, as with `docker compose down`
    pg_stack.up()
    with psycopg.connect(url, connect_timeout=10) as connection:
        assert connection.execute("SELECT note FROM kept").fetchone() == ("still here",)
