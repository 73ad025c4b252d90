"""The supervisor's generation logic, in-process against fake workers: fast, beside the end-to-end tests.

What a reload is made of: a new generation loads while the old one serves; once all of it has
loaded, the old workers drain (with the hand-over channel) before the new ones serve; an error
waits for the files to settle; a crash restarts with a back-off; changes that queue up merge,
and any other event keeps its place in the order.
"""

import signal

import pytest

from devserver import protocol
from devserver.protocol import Event, WorkerWords
from devserver.supervisor.installer import Installed
from devserver.supervisor.watcher import site_packages
from devserver_fakes import APPS, KILL, FakeInstaller, handle, make_supervisor, run_queued


@pytest.fixture
def sup():
    supervisor = make_supervisor()
    supervisor.start_generation("start")
    yield supervisor
    supervisor.listener.close()


def serving(sup):
    """Load the first generation: it serves."""
    (worker,) = sup.pending
    handle(sup, worker.load())
    return worker


def test_the_first_generation_serves_once_loaded(sup, capsys):
    worker = serving(sup)
    assert sup.current == [worker] and sup.pending == []
    assert worker.words == [WorkerWords.SERVE] and worker.channels == [None]  # nothing to take over
    assert f"serving kiosk on http://127.0.0.1:{sup.settings.port} (1 worker, ready in" in capsys.readouterr().err


def test_a_change_overlaps_old_and_new_then_drains_before_serving(sup, capsys):
    old = serving(sup)
    handle(sup, (Event.CHANGE, {str(APPS / "kiosk" / "views.py")}))
    (new,) = sup.pending
    assert sup.current == [old] and old.words == [WorkerWords.SERVE]  # the old one serves meanwhile
    handle(sup, new.load())
    assert old.words[-1] == WorkerWords.DRAIN and new.words == [WorkerWords.SERVE]
    give, take = old.channels[-1], new.channels[-1]
    assert give is not None and take is not None  # one hand-over channel, one end each
    assert sup.current == [new] and old in sup.retiring
    assert "reloaded in" in capsys.readouterr().err.splitlines()[-1]
    handle(sup, old.exit(0))
    assert old not in sup.retiring and KILL in old.signals  # its group goes with it


def test_a_load_error_waits_for_the_files_to_settle(sup, capsys):
    old = serving(sup)
    handle(sup, (Event.CHANGE, {str(APPS / "kiosk" / "views.py")}))
    (new,) = sup.pending
    handle(sup, new.load(ok=False))
    assert sup.current == [old] and sup.promote_at is not None  # a file mid-save is not shown as an error
    sup.promote_at = sup.settling.last_change = 0.0  # ... the files have been quiet long enough
    sup.housekeeping()
    assert sup.current == [new]
    assert "the app failed to load: every request gets the error page" in capsys.readouterr().err


def test_a_generation_superseded_while_loading_is_killed_unserved(sup):
    serving(sup)
    handle(sup, (Event.CHANGE, {"a.py"}))
    (first,) = sup.pending
    handle(sup, (Event.CHANGE, {"b.py"}))
    assert KILL in first.signals and first.words == [] and first not in sup.pending


def test_a_crash_serves_a_503_page_then_restarts_with_a_doubling_back_off(sup, capsys):
    worker = serving(sup)
    handle(sup, worker.exit(-signal.SIGKILL))
    (page,) = sup.pending
    status, message = protocol.parse_error_page(page.error)
    assert status == protocol.CRASHED and "was killed by SIGKILL while serving" in message
    assert "starting a new one in 0.5s" in capsys.readouterr().err
    handle(sup, page.load())
    sup.restart_at = 0.0
    sup.housekeeping()
    (restarted,) = sup.pending
    assert restarted.error is None
    handle(sup, restarted.load())
    handle(sup, restarted.exit(3))
    assert "exited with status 3 while serving; starting a new one in 1s" in capsys.readouterr().err


def test_a_worker_dying_while_loading_gets_an_error_page_naming_how(sup):
    serving(sup)
    handle(sup, (Event.CHANGE, {"a.py"}))
    (loading,) = sup.pending
    handle(sup, loading.exit(7))
    (page,) = sup.pending
    assert protocol.parse_error_page(page.error) == (
        protocol.LOAD_FAILED, "The worker exited with status 7 while loading the app: see the server log.")
    assert loading not in sup.retiring  # gone and reaped: nothing to wait for or to kill later


def test_without_reload_a_load_error_stops_the_server(capsys):
    sup = make_supervisor(RELOAD="0")  # its listener is closed by the stop
    sup.start_generation("start")
    handle(sup, sup.pending[0].load(ok=False))
    run_queued(sup)  # the stopping phase: its worker told to stop, and gone
    assert sup.exit_code == 1
    assert "with RELOAD=0 nothing will reload it" in capsys.readouterr().err


def test_changes_that_queue_up_merge_and_other_events_keep_their_order(sup):
    serving(sup)
    sup.events.put((Event.CHANGE, {"b.py"}))
    sup.events.put((Event.SIGNAL, signal.SIGHUP))
    sup.events.put((Event.CHANGE, {"c.py"}))
    sup.events.put((Event.SIGNAL, signal.SIGTERM))
    handle(sup, (Event.CHANGE, {"a.py"}))
    assert sup.pending_cause == "a.py, b.py, c.py changed"  # one generation for all of them
    assert sup.next_event(0) == (Event.SIGNAL, signal.SIGHUP)  # then the others, in the order they came
    assert sup.next_event(0) == (Event.SIGNAL, signal.SIGTERM)
    assert sup.next_event(0) == (Event.TICK, None)


def test_several_workers_serve_only_once_all_have_loaded():
    sup = make_supervisor(WEB_CONCURRENCY="3")
    sup.listener.close()  # not needed here
    sup.start_generation("start")
    first, second, third = sup.pending
    handle(sup, first.load())
    handle(sup, second.load())
    assert sup.current == [] and first.words == []
    handle(sup, third.load())
    assert sup.current == [first, second, third] and all(w.words == [WorkerWords.SERVE] for w in sup.current)


def test_stopping_drains_every_worker_and_exits_0(sup):
    worker = serving(sup)
    handle(sup, (Event.SIGNAL, signal.SIGTERM))
    run_queued(sup)
    assert worker.words[-1] == WorkerWords.STOP and sup.exit_code == 0 and not sup.retiring


# -- requirements: installed live, then one reload ------------------------------------------------

@pytest.fixture
def installing():
    supervisor = make_supervisor(installer=FakeInstaller())
    supervisor.start_generation("start")
    yield supervisor
    supervisor.listener.close()


def test_a_requirements_change_is_installed_while_the_old_workers_serve(installing, capsys):
    worker = serving(installing)
    handle(installing, (Event.DEPS, {str(APPS / "requirements.txt")}))
    assert installing.installer.requests == 1
    assert installing.pending == [] and installing.current == [worker] and installing.launcher.rebuilt == []
    assert "requirements.txt changed: installing (the app keeps serving meanwhile)" in capsys.readouterr().err


def test_the_installs_own_changes_to_site_packages_reload_nothing(installing):
    serving(installing)
    handle(installing, (Event.DEPS, {str(APPS / "requirements.txt")}))
    new_package = str(site_packages()[0] / "humanize-4.17.0.dist-info")
    handle(installing, (Event.DEPS, {new_package}))  # during the install
    installing.installer.running = False
    installing.dependencies.site_packages = frozenset()  # what was installed before: the install changed it
    handle(installing, (Event.INSTALLED, Installed(["requirements.txt"], added=["humanize==4.17.0"], tool="uv")))
    handle(installing, (Event.DEPS, {new_package}))  # heard after its end: the listing is what INSTALLED saw
    assert installing.launcher.rebuilt == ["installed humanize==4.17.0"]
    assert len(installing.pending) == 1 and installing.pending_cause == "installed humanize==4.17.0"


def test_a_requirements_file_the_environment_was_not_installed_from_does_nothing(installing, capsys):
    worker = serving(installing)
    capsys.readouterr()
    handle(installing, (Event.DEPS, {str(APPS / "requirements-dev.txt")}))
    assert installing.installer.requests == 0 and installing.current == [worker] and installing.pending == []
    assert capsys.readouterr().err == ""


def test_an_install_that_changed_nothing_reloads_nothing(installing, capsys):
    serving(installing)
    handle(installing, (Event.INSTALLED, Installed(["requirements.txt"], tool="uv", seconds=0.1)))
    assert installing.pending == [] and installing.launcher.rebuilt == []
    assert "requirements.txt: nothing new to install (uv, 0.1 s)" in capsys.readouterr().err


def test_a_failed_install_reloads_nothing_and_says_so_once(installing, capsys):
    worker = serving(installing)
    capsys.readouterr()
    handle(installing, (Event.INSTALLED, Installed(["requirements.txt"], ok=False, tool="uv", seconds=0.2,
                                                   error="No solution found when resolving dependencies")))
    assert installing.pending == [] and installing.current == [worker] and installing.launcher.rebuilt == []
    (line,) = capsys.readouterr().err.splitlines()
    assert line == ("[devserver] error: could not install requirements.txt (uv, 0.2 s): No solution found when "
                    "resolving dependencies. The app keeps running on the packages it had: fix requirements.txt "
                    "and save")


def test_without_live_installs_a_requirements_change_rebuilds_the_fork_server(sup):
    serving(sup)
    handle(sup, (Event.DEPS, {str(APPS / "requirements.txt")}))
    assert sup.launcher.rebuilt == ["requirements.txt changed"] and len(sup.pending) == 1


# -- what a hang or a paused worker looks like ----------------------------------------------------

def test_a_generation_that_has_not_loaded_after_10s_is_said_once(sup, capsys):
    sup.pending_since -= 11  # as if the worker had been loading for 11 s
    sup.housekeeping()
    sup.housekeeping()
    said = [line for line in capsys.readouterr().err.splitlines() if "has not loaded the app after 10s" in line]
    assert len(said) == 1 and "requests wait" in said[0] and "GEVENT_SUPPORT" not in said[0]  # no debugger here


def test_under_a_debugger_the_slow_load_names_gevent_support(capsys):
    sup = make_supervisor(DEBUGGER="debugpy")
    sup.start_generation("start")
    sup.pending_since -= 11
    sup.housekeeping()
    said = [line for line in capsys.readouterr().err.splitlines() if "has not loaded the app after 10s" in line]
    assert len(said) == 1 and "GEVENT_SUPPORT=True" in said[0]


def test_a_retired_worker_ended_by_sigkill_is_said_and_under_a_debugger_why(capsys):
    sup = make_supervisor(DEBUGGER="debugpy")
    sup.start_generation("start")
    old = serving(sup)
    handle(sup, (Event.CHANGE, {str(APPS / "kiosk" / "views.py")}))
    handle(sup, sup.pending[0].load())
    sup.retiring[old] = 0.0  # past its deadline: still busy (paused at a breakpoint)
    sup.housekeeping()
    assert KILL in old.signals
    assert (f"{old} still had requests after GRACEFUL_TIMEOUT=5s and more: ending it. Paused at a breakpoint? "
            "Its debug session ends with it.") in capsys.readouterr().err
    sup.listener.close()


# -- never hangs, never dies: one dispatch, events with deadlines, one error boundary -------------

def queued(sup) -> list[str]:
    """The events waiting on the queue (taken off it)."""
    found = []
    while (event := sup.next_event(0))[0] != Event.TICK:
        found.append(event[0])
    return found


@pytest.fixture
def installing_at_start(tmp_path, monkeypatch):
    """A supervisor whose environment is stale at start: it begins in its installing phase."""
    supervisor = make_supervisor(installer=FakeInstaller())
    monkeypatch.setattr("devserver.supervisor.dependencies.stale_files", lambda root: ["requirements.txt"])
    monkeypatch.setattr("devserver.supervisor.supervisor.orphans.become_subreaper", lambda: None)
    monkeypatch.setattr("devserver.supervisor.supervisor.signal.signal", lambda signum, handler: None)
    supervisor.begin()  # the loop's start: an install, and no worker yet
    assert supervisor.phase == "installing" and supervisor.launcher.launched == []
    yield supervisor
    supervisor.listener.close()


def test_the_start_up_install_with_other_events_queued_behind_it_reads_them_all(installing_at_start, capsys):
    sup = installing_at_start
    site_batch = {str(site_packages()[0] / "humanize-4.17.0.dist-info")}
    for event in [(Event.DEPS, site_batch), (Event.CHANGE, {str(APPS / "kiosk" / "views.py")}), (Event.TICK, None),
                  (Event.INSTALLED, Installed(["requirements.txt"], added=["humanize==4.17.0"], tool="uv"))]:
        sup.events.put(event)
    for _ in range(4):  # the old start-up loop spun here forever, pushing the DEPS batch back
        handle(sup, sup.next_event(0))
    assert sup.phase == "serving" and len(sup.pending) == 1 and sup.launcher.rebuilt == []
    assert "installed humanize==4.17.0" in capsys.readouterr().err
    assert queued(sup) == []


def test_sigterm_during_the_start_up_install_stops_it_and_exits_at_once(installing_at_start):
    sup = installing_at_start
    sup.events.put((Event.CHANGE, {"a.py"}))
    sup.events.put((Event.SIGNAL, signal.SIGTERM))
    handle(sup, sup.next_event(0))
    handle(sup, sup.next_event(0))
    assert sup.installer.stopped and sup.exit_code is None  # waits for the install to end...
    sup.installer.running = False
    handle(sup, (Event.TICK, None))
    assert sup.exit_code == 0 and sup.launcher.launched == []  # ... and no worker was ever started


def test_sigterm_while_the_fork_server_has_not_answered_exits_at_once(sup):
    (unforked,) = sup.pending  # asked of a fork server still preloading: never loads
    handle(sup, (Event.SIGNAL, signal.SIGTERM))
    run_queued(sup)
    assert sup.exit_code == 0 and KILL in unforked.signals and sup.launcher.stopped


def test_production_sighup_whose_code_does_not_load_keeps_the_old_workers(capsys):
    sup = make_supervisor(RELOAD="0")
    sup.start_generation("start")
    old = serving(sup)
    handle(sup, (Event.SIGNAL, signal.SIGHUP))
    (new,) = sup.pending
    handle(sup, new.load(ok=False))
    run_queued(sup)
    assert sup.exit_code is None and sup.current == [old] and old.words == [WorkerWords.SERVE]
    assert KILL in new.signals
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert "the new code could not be loaded (see above): the workers already running go on serving" in line
    sup.listener.close()


def test_a_bug_in_a_handler_is_said_once_and_the_server_goes_on(sup, capsys, monkeypatch):
    worker = serving(sup)

    def broken(paths):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sup, "on_assets", broken)
    for _ in range(3):
        sup.dispatch(Event.ASSETS, {"style.css"})
    said = capsys.readouterr().err
    assert said.count("error: the dev server failed handling assets") == 1 and "No space left on device" in said
    assert sup.exit_code is None and sup.current == [worker]


def test_a_failed_start_is_a_failed_generation_tried_again_later(sup, capsys):
    import errno

    worker = serving(sup)
    sup.launcher.refuse = OSError(errno.EAGAIN, "Resource temporarily unavailable")
    handle(sup, (Event.CHANGE, {str(APPS / "kiosk" / "views.py")}))
    assert sup.current == [worker] and sup.pending == [] and sup.restart_at is not None
    assert ("error: could not start a worker: Resource temporarily unavailable: too many processes"
            in capsys.readouterr().err)
    sup.launcher.refuse = None
    sup.restart_at = 0.0
    handle(sup, (Event.TICK, None))
    assert len(sup.pending) == 1 and sup.pending_cause == "kiosk/views.py changed"


def test_a_worker_the_fork_server_never_forked_is_started_the_plain_way(sup):
    serving(sup)
    handle(sup, (Event.CHANGE, {"a.py"}))
    (asked,) = sup.pending
    handle(sup, asked.never_forked("the fork server did not answer"))
    (again,) = sup.pending
    assert again is not asked and again.fresh


def test_new_workers_serve_only_once_the_old_ones_stopped_accepting(sup):
    old = serving(sup)
    old.acknowledges = False
    handle(sup, (Event.CHANGE, {"a.py"}))
    (new,) = sup.pending
    handle(sup, new.load())
    assert old.words[-1] == WorkerWords.DRAIN and new.words == []  # not yet: the old one may still accept
    old.draining.set()
    handle(sup, (Event.DRAINING, old))
    assert new.words == [WorkerWords.SERVE]


def test_an_old_worker_that_never_acknowledges_holds_nothing_past_its_deadline(sup):
    old = serving(sup)
    old.acknowledges = False  # paused at a breakpoint, say
    handle(sup, (Event.CHANGE, {"a.py"}))
    (new,) = sup.pending
    handle(sup, new.load())
    assert new.words == [] and 0 < sup.wait() <= 1.0  # the loop wakes for the deadline
    sup.handover.deadline = 0.0  # ... which has passed
    handle(sup, (Event.TICK, None))
    assert new.words == [WorkerWords.SERVE]


def test_an_empty_file_is_an_editor_mid_save_not_an_error_to_show(tmp_path):
    """Truncate, then write: however long a loaded machine keeps the file empty, no error page, until
    it stays empty for EMPTY_SETTLE; a file written again since its event waits for that event."""
    source = tmp_path / "app.py"
    source.write_text("")
    sup = make_supervisor()
    sup.start_generation("start")
    serving(sup)
    handle(sup, (Event.CHANGE, {str(source)}))
    handle(sup, sup.pending[0].load(ok=False))
    sup.settling.first_unserved_change = sup.settling.last_change = sup.settling.last_change - 0.5  # past the cap
    sup.consider_promoting()
    assert sup.pending and sup.promote_at is not None  # ... but the file is empty: not shown
    source.write_text("app = None\n")  # the editor's write; its event not heard yet
    sup.consider_promoting()
    assert sup.pending  # still not: the new state's event is on its way
    sup.consider_promoting()
    assert not sup.pending  # no event came: this is the file as it is, and its error shows
    sup.listener.close()


def test_a_worker_whose_fork_failed_is_not_waited_for_at_the_stop(sup):
    import errno

    serving(sup)
    handle(sup, (Event.CHANGE, {"a.py"}))
    (asked,) = sup.pending
    handle(sup, asked.never_forked("fork() failed", refused=OSError(errno.EAGAIN, "Resource temporarily unavailable")))
    assert sup.pending == [] and asked not in sup.retiring and sup.restart_at is not None
    handle(sup, (Event.SIGNAL, signal.SIGTERM))
    run_queued(sup)
    assert sup.exit_code == 0  # at once, not at the stop's deadline


def test_the_fakes_and_the_real_collaborators_answer_to_the_same_roles():
    from devserver.supervisor import installer, launcher, roles, worker_handle
    from devserver_fakes import FakeLauncher, FakeWorker

    for role, real, fake in [(roles.Worker, worker_handle.WorkerHandle, FakeWorker),
                             (roles.Launcher, launcher.Launcher, FakeLauncher),
                             (roles.Installer, installer.Installer, FakeInstaller)]:
        assert roles.missing(role, real) == [], real
        assert roles.missing(role, fake) == [], fake


def test_a_requirements_save_during_the_start_up_install_is_installed_next(installing_at_start):
    sup = installing_at_start
    sup.installer.running = True
    handle(sup, (Event.DEPS, {str(APPS / "requirements.txt")}))
    assert sup.installer.requests == 2 and sup.phase == "installing"  # one more run, after this one


def test_a_crash_while_new_code_loads_restarts_nothing_once_it_serves(sup):
    first = serving(sup)
    handle(sup, (Event.CHANGE, {"a.py"}))
    (new,) = sup.pending
    handle(sup, first.exit(-signal.SIGKILL))  # the serving worker crashes while the new code loads
    assert sup.restart_at is not None
    handle(sup, new.load())
    assert sup.current == [new] and sup.restart_at is None  # the new code serves: no second generation
    sup.housekeeping()
    assert sup.pending == []
