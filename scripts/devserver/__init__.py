"""The dev server. Each folder is one kind of process; the modules here are shared by all of them.

    supervisor/   the supervisor: owns the port, watches files, swaps workers (never imports the app)
    forkserver/   the preloaded process workers are forked from (PRELOAD=1)
    worker/       a worker: imports the app and serves it with gevent
    production/   production's: gunicorn's arbiter and its worker class, which runs worker/'s server
    protocol.py   every word on every channel between them, and the variables that carry descriptors
    settings.py   every environment variable, declared once
    placement.py  whose code a file is: installed, the user's, or neither (decided once)
    handover.py   passing a client connection from a retiring worker to its successor (SCM_RIGHTS)
    processes.py  reaping, following (pidfd), signalling and leaving child processes;
                  orphans.py: what the app left behind
    own_machine.py  who may use the debugger and debugpy: this machine only
    stepdebug.py  running the whole server under debugpy (DEBUGGER=debugpy)
    log.py        the [devserver] prefix (none in production)
    release.py    the release step (RELEASE_COMMAND: migrations), run by the entrypoint given `release`
    install_app_first.py  the app's requirements, then the dev tools around them (the build, live installs)

Read in this order: scripts/entrypoint.py -> supervisor/start.py -> supervisor/supervisor.py ->
worker/main.py -> the app; in production, scripts/entrypoint.py -> production/application.py ->
production/worker.py -> the app.
"""
