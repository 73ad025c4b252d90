"""The dev server: a supervisor that never imports the app, and gevent workers that serve it.

Read in this order: entrypoint.py (scripts/) -> supervisor.py -> worker.py -> the app.
"""
