"""gunicorn's configuration, from the settings registry (devserver/settings.py): the one place where our
names meet gunicorn's, so a user learns one set of variables (the README's table) and no gunicorn.conf.py."""

from __future__ import annotations

import math

from devserver.production.worker import count_siblings
from devserver.settings import Settings

WORKER_CLASS = "devserver.production.worker.Worker"


def gunicorn_config(settings: Settings) -> dict[str, object]:
    """gunicorn setting -> value. Its graceful_timeout covers the shutdown delay and the drain after it:
    the arbiter waits that long for its workers before it kills them."""
    return {
        "bind": [f"[{settings.host}]:{settings.port}" if ":" in settings.host else f"{settings.host}:{settings.port}"],
        "workers": settings.processes,
        "worker_class": WORKER_CLASS,
        "post_fork": count_siblings,
        "worker_connections": settings.worker_connections,
        # Whole seconds, rounded up: gunicorn's own (the worker reads ours, exact, from the settings).
        "timeout": math.ceil(settings.worker_timeout),
        "graceful_timeout": math.ceil(settings.shutdown_delay + settings.graceful_timeout),
        "keepalive": math.ceil(settings.keepalive),
        "max_requests": settings.max_requests,
        "max_requests_jitter": settings.max_requests // 10,
        "limit_request_line": settings.limit_request_line,
        "limit_request_fields": settings.limit_request_fields,
        "limit_request_field_size": settings.limit_request_field_size,
        "accesslog": "-" if settings.access_log else None,
        "errorlog": "-",
        "preload_app": False,  # each worker imports the app after gevent's patching (and HUP loads new code)
        "proc_name": "web",
        "worker_tmp_dir": "/dev/shm",  # the heartbeat file: memory, writable under a read-only root
        "control_socket_disable": True,  # gunicorn 27's control socket would go in $HOME: read-only here
    }
