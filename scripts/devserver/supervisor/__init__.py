"""Runs in the supervisor process: never monkey-patched, never imports the user's app.

start.py builds it all and runs it: supervisor.py (the generations of workers, on loop.py's
event loop and its one error boundary) with what it works with, each playing a role of
roles.py: listener.py (the port, bound once), watcher.py (what changed), launcher.py (a new
worker: forked from the fork server, or spawned), installer.py (live installs), with
dependencies.py (what a requirements or site-packages change means) and settling.py (when
an error page may show). Its children: worker_handle.py and forkserver_handle.py (their
handles), children.py (starting one), reaper.py (reaping every one), preload_cache.py (what
the fork server preloads), debugpy_relay.py (debugpy's port, for this machine only).
"""
