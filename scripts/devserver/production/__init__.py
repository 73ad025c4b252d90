"""Production: gunicorn's arbiter over this project's own gevent server.

    entrypoint.py -> production/application.py (gunicorn, configured from the settings registry)
        -> production/worker.py (gunicorn's worker class, running worker/'s strict pywsgi handler)
        -> production/proxies.py (X-Forwarded-* from the trusted proxy only) -> the Flask app

Why gunicorn: its arbiter is what production teams already trust (a worker timeout with a heartbeat,
max-requests recycling, graceful HUP, USR2, signals, statsd). Why our server inside it: the request
path is then the one the dev server and its tests exercise, strict parsing included. Development
stays on the supervisor (supervisor/), which reloads.
"""
