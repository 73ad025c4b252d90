"""What blocks gevent's event loop is said once, with the request and the user's own line of code."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from devserver.worker.blocking import BlockingReport
from harness import wait_for

BLOCKING = '''

@bp.get("/block")
def block():
    from gevent import monkey
    monkey.get_original("time", "sleep")(0.3)  # the real sleep: as a C driver's socket wait would
    return "blocked"
'''


def test_a_blocking_call_is_reported_once_with_the_request_and_the_line(devserver):
    server = devserver(ACCESS_LOG="0")
    server.append("kiosk/views.py", BLOCKING)
    wait_for(lambda: server.get("/block").text == "blocked", 10, message="the route")
    assert server.get("/testsleep?seconds=0.3").status_code == 200  # a cooperative wait: nothing to say
    wait_for(lambda: "the event loop was blocked for more than 100 ms while serving GET /block, at "
             "kiosk/views.py:" in server.log(), 5, message="the report")
    assert 'monkey.get_original("time", "sleep")(0.3)' in server.log()
    assert "testsleep" not in server.log()
    server.get("/block")
    wait_for(lambda: "blocked again at kiosk/views.py:" in server.log(), 5, message="the count")
    assert server.log().count("blocked for more than") == 1  # counted, not repeated


def test_off_with_blocking_warn_ms_0(devserver):
    server = devserver(BLOCKING_WARN_MS="0")
    server.append("kiosk/views.py", BLOCKING)
    wait_for(lambda: server.get("/block").text == "blocked", 10, message="the route")
    server.get("/block")
    assert "event loop was blocked" not in server.log()


# In-process: the report's methods with made-up frames, as gevent's monitor would call them.

VIEWS = '''from db import session


def orders():
    return session.execute("SELECT pg_sleep(2)")
'''


class Cursor:
    """Stands for psycopg2's cursor, written in C: no frame of its own."""


Cursor.__module__ = "psycopg2.extensions"


def frame(path, line: int, back=None, module: str = "app", **names):
    return SimpleNamespace(f_code=SimpleNamespace(co_filename=str(path)), f_lineno=line, f_back=back,
                           f_globals={"__name__": module}, f_locals=names)


@pytest.fixture
def shop(tmp_path: Path):
    """A project under a folder named devserver, and a stack blocked in psycopg2 under SQLAlchemy."""
    root = tmp_path / "devserver" / "shop"
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "views.py").write_text(VIEWS)
    engine = tmp_path / "venv/lib/python3.11/site-packages/sqlalchemy/engine/default.py"
    engine.parent.mkdir(parents=True)
    engine.write_text("def do_execute(self, cursor, statement, parameters, context=None):\n"
                      "    cursor.execute(statement, parameters)\n")
    greenlet = object()
    user = frame(root / "shop" / "views.py", 5)
    generated = frame("<string>", 2, back=user)  # SQLAlchemy's exec'd code: never the user's
    stack = frame(engine, 2, back=generated, module="sqlalchemy.engine.default", cursor=Cursor(), statement="")
    handler = SimpleNamespace(greenlet=greenlet, command="GET", path="/orders")
    report = BlockingReport(SimpleNamespace(handlers=[handler]), root, 200)
    return SimpleNamespace(report=report, greenlet=greenlet, stack=stack)


def block(shop, checks: int) -> None:
    """One block that lasts `checks` of the monitor's checks, then a check that finds the loop turning."""
    for _ in range(checks):
        shop.report.blocked(shop.greenlet, shop.stack)
        shop.report.on_check(None)
    shop.report.on_check(None)


def test_one_long_block_is_one_report_naming_the_driver(shop, capsys):
    block(shop, 10)  # 2 s at 200 ms: ten checks
    said = capsys.readouterr().err
    assert said.count("blocked for more than 200 ms while serving GET /orders, at shop/views.py:5:") == 1
    assert 'return session.execute("SELECT pg_sleep(2)")' in said
    assert "blocked again" not in said and "<string>" not in said
    assert "inside psycopg2" in said and "psycogreen" in said and "README.md#gevent-rules" in said


def test_separate_blocks_at_one_spot_are_counted_at_2_4_8(shop, capsys):
    for _ in range(8):
        block(shop, 3)
    said = capsys.readouterr().err
    assert said.count("blocked for more than") == 1
    assert [line.rsplit("(", 1)[1] for line in said.splitlines() if "blocked again" in line] == [
        "2 times so far)", "4 times so far)", "8 times so far)"]
    assert "blocked again at shop/views.py:5 (2 times so far)" in said


def test_a_cooperative_or_unknown_driver_is_not_named(shop, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg2.extensions", SimpleNamespace(get_wait_callback=lambda: print))
    block(shop, 1)  # psycogreen's wait callback is set: psycopg2 cooperates
    assert "inside psycopg2" not in capsys.readouterr().err
    monkeypatch.delitem(sys.modules, "psycopg2.extensions")
    shop.stack.f_locals = {"cursor": object()}
    shop.report.seen.clear()
    block(shop, 1)
    said = capsys.readouterr().err
    assert "blocked for more than" in said and "inside" not in said


def test_a_frame_of_mysqlclient_names_it(shop, capsys, tmp_path):
    cursors = frame(tmp_path / "venv/lib/python3.11/site-packages/MySQLdb/cursors.py", 319, back=shop.stack.f_back,
                    module="MySQLdb.cursors")
    shop.stack = cursors
    block(shop, 2)
    said = capsys.readouterr().err
    assert "at shop/views.py:5" in said and "inside mysqlclient (MySQLdb)" in said and "PyMySQL" in said


GEVENTS_MONITOR = '''
import sys, time
from types import SimpleNamespace
import gevent
from gevent import events
from devserver.worker.blocking import BlockingReport

def view(seconds):
    time.sleep(seconds)  # not patched here: blocks the loop, as a C driver would

BlockingReport(SimpleNamespace(handlers=[]), sys.argv[1], 100).start()
events.subscribers.insert(0, lambda event: time.sleep(0.1))  # a slow check, as gevent's own report on a big app
gevent.sleep(0.3)
gevent.spawn(view, 1.5).join()  # about fifteen of the monitor's checks
for _ in range(3):
    gevent.sleep(0.3)  # the loop turns between blocks
    gevent.spawn(view, 0.35).join()
gevent.sleep(0.3)
'''


def test_gevents_monitor_one_long_block_is_one_report_and_the_next_ones_are_counted(tmp_path: Path):
    """With gevent's own monitor thread (one short interpreter, no server)."""
    script = tmp_path / "shop.py"
    script.write_text(GEVENTS_MONITOR)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    said = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=60).stderr
    assert said.count("blocked for more than 100 ms, at shop.py:9:") == 1, said
    assert said.count("blocked again at shop.py:9") == 2 and "(4 times so far)" in said, said
