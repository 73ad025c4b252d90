"""Runs in the fork server process: gevent, Flask, Werkzeug and Jinja imported once; forks workers.

main.py is the process; the supervisor's handle on it is supervisor/forkserver_handle.py.
`python -m devserver.forkserver` starts one.
"""
