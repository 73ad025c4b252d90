"""Runs in a worker process: monkey-patched by gevent, imports the user's app and serves it.

main.py (its life: load, serve, drain) uses appload.py (FLASK_APP to a WSGI app, or an error
page; with freshsource.py and loadwatch.py, and debugger.py: Werkzeug's debugger for this
machine only), server.py (gevent's pywsgi, taught to retire without dropping a connection;
strict_http.py: requests read one way only), health.py (the health check's answer),
livereload.py (with static/: the browser follows the code), blocking.py (what blocks the
event loop) and imports.py (what the app imported, for the fork server to preload).
`python -m devserver.worker` starts one.
"""
