"""Runs in the supervisor process: never monkey-patched, never imports the user's app.

supervisor.py (the loop and the generations of workers) uses listener.py (the port, bound
once), watcher.py (what changed), launcher.py (a new worker: forked or spawned), and the
handles on its children: worker_handle.py and forkserver_handle.py.
"""
