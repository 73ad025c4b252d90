"""Runs in a worker process: monkey-patched by gevent, imports the user's app and serves it.

main.py (its life: load, serve, drain) uses appload.py (FLASK_APP to a WSGI app, or an error
page; with freshsource.py and loadwatch.py) and server.py (gevent's pywsgi, taught to retire
without dropping a connection). `python -m devserver.worker` starts one.
"""
